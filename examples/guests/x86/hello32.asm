; The x86 protected-mode demo guest: a flat binary the VMM loads at 1 MiB and enters in 32-bit
; protected mode (flat segments, paging off). Prints on COM1 with a REP OUTSB (one exit for the
; whole string), then reports status 0 to the exit device (port 0xf4).
bits 32
org 0x100000
start:
    mov esi, msg
    mov ecx, msg_len
    mov dx, 0x3f8
    cld
    rep outsb
    xor eax, eax
    out 0xf4, eax
    hlt
msg: db "hello from x86 protected mode", 10
msg_len equ $ - msg
