; 16-bit real mode: print AL+BL as a digit and a newline on COM1 (port 0x3f8), then halt.
; Entry with CS:IP = 0:0x1000, AL = BL = 2, DX = 0x3f8 (the LWN "Using the KVM API" guest).
bits 16
org 0x1000
    add al, bl
    add al, '0'
    out dx, al
    mov al, 10
    out dx, al
    hlt
