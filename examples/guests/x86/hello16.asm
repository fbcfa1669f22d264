; The x86 real-mode demo guest: a flat binary the VMM loads at 0000:7c00 (a boot sector's place)
; and enters in 16-bit real mode. Prints on COM1 (16550 at port 0x3f8, polling LSR.THRE), then HLT.
bits 16
org 0x7c00
start:
    cld
    mov si, msg
.next:
    lodsb
    test al, al
    jz .done
    mov bl, al
    mov dx, 0x3fd               ; LSR
.wait:
    in al, dx
    test al, 0x20               ; THRE
    jz .wait
    mov dx, 0x3f8               ; THR
    mov al, bl
    out dx, al
    jmp .next
.done:
    hlt
    jmp .done
msg: db "hello from x86 real mode", 10, 0
