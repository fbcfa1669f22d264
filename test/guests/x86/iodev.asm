; An in-kernel device answers (test/x86/iobus.test.ts): IN from port 0x70 and an 8-byte MMIO load
; complete without an exit; the values go to DATA; then OUT to port 0x600 ends the test.
; 64-bit, entered by the test harness in long mode (code at 0x8000).
bits 64
org 0x8000

DATA equ 0x20000
MMIO equ 0x300000

    in eax, 0x70
    mov [DATA], eax
    mov rax, [MMIO + 0x40]
    mov [DATA + 8], rax
    mov dx, 0x600
    out dx, al
    jmp $
