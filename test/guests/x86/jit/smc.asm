; Self-modifying and VMM-modified code, for the x86 block-JIT tests (64-bit mode, loaded at 0x8000).
bits 64
org 0x8000
        ; 1) a store rewrites the immediate of the very next instruction (same block)
        mov byte [rel p1 + 1], 0x42
p1:     mov al, 0x11
        out 0x80, al                    ; exit: 0x42
        ; 2) a hot loop rewrites an instruction of its own block every iteration
        xor ebx, ebx
        mov ecx, 200
l2:     mov byte [rel p2 + 2], cl
p2:     add ebx, strict byte 0          ; 83 C3 ib: the immediate is sign-extended
        dec ecx
        jnz l2
        mov eax, ebx
        out 0x81, eax                   ; exit: sum of sx8(200..1)
        ; 3) a hot loop whose code the VMM rewrites between runs
l3:     mov al, 0x01
        out 0x82, al
        jmp l3
