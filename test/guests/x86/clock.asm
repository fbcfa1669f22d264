; Reads the TSC four times, 1000 loop iterations apart, into DATA (test/x86/iobus.test.ts: the
; deterministic clock gives the same values on every run). Then OUT to port 0x601.
bits 64
org 0x8000

DATA equ 0x20000

    mov rdi, DATA
    mov rbx, 4
.outer:
    mov rcx, 1000
.spin:
    dec rcx
    jnz .spin
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [rdi], rax
    add rdi, 8
    dec rbx
    jnz .outer
    mov dx, 0x601
    out dx, al
    jmp $
