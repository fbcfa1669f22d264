; Mode-switch boot code, first half, as a boot loader does it: real mode -> LGDT, CR0.PE, far JMP ->
; 32-bit protected mode (bootlm.asm goes on to long mode). An OUT in each mode exits with the state of
; that mode. The GDT (0x500) is the harness's.
; modes: real
bits 16
org 0x8000
    cli
    lgdt [gdtr]
    mov al, 1
    out 0x80, al
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp 0x08:pm
gdtr:
    dw 6 * 8 - 1
    dd 0x500
bits 32
pm:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7f000
    mov dword [0x20000], 0x11111111
    mov al, 2
    out 0x80, al
    hlt
