; Port I/O exits: OUT/IN with immediate and DX ports at 8/16/32 bits, string OUTS/INS with REP.
%include "common.inc"
    mov eax, 0x11223344
    out 0x80, al
    out 0x82, ax
    out 0x84, eax
    mov dx, 0x3f8
    out dx, al
    mov dx, 0x1234
    out dx, ax
    out dx, eax
    in al, 0x60
    mov [D(0x0)], al
    in ax, 0x62
    mov [D(0x2)], ax
    in eax, 0x64
    mov [D(0x4)], eax
    mov dx, 0xcf8
    in eax, dx
    mov [D(0x8)], eax
    in ax, dx
    mov [D(0xc)], ax
    mov dword [D(0x10)], 0x64636261
    mov XSI, D(0x10)
    mov dx, 0xe9
    mov XCX, 4
    rep outsb
    mov [D(0x14)], XSI
    mov XDI, D(0x20)
    mov dx, 0x71
    mov XCX, 3
    rep insw
    mov [D(0x18)], XDI
    mov XSI, D(0x10)
    outsd
    cmp eax, eax
    hlt
