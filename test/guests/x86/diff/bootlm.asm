; Mode-switch boot code, second half: 32-bit protected mode -> CR4.PAE, CR3, EFER.LME (WRMSR),
; CR0.PG -> far JMP -> 64-bit long mode. Page tables (0x2000, identity, 2 MiB pages) are the harness's.
; modes: prot32
bits 32
org 0x8000
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov eax, 0x2000
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp 0x18:lm
bits 64
lm:
    mov rax, 0x2222222222222222
    mov [0x20008], rax
    mov ecx, 0xc0000080
    rdmsr
    mov [0x20010], eax
    push 0x1234
    pop rbx
    mov al, 3
    out 0x80, al
    hlt
