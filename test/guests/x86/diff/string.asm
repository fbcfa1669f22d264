; String instructions: MOVS STOS LODS CMPS SCAS, with REP/REPE/REPNE, byte to qword, DF=0 and DF=1.
%include "common.inc"
    cld
    mov XDI, D(0x0)
    mov eax, 0x41424344
    mov XCX, 4
    rep stosd
    mov XSI, D(0x0)
    mov XDI, D(0x20)
    mov XCX, 16
    rep movsb
    mov XSI, D(0x0)
    lodsw
    mov [D(0x40)], ax
    mov XSI, D(0x0)
    mov XDI, D(0x20)
    mov XCX, 16
    repe cmpsb
    pushf
    mov [D(0x44)], ecx
    mov byte [D(0x25)], 0
    mov XSI, D(0x0)
    mov XDI, D(0x20)
    mov XCX, 16
    repe cmpsb
    pushf
    mov [D(0x48)], ecx
    mov al, 0x42
    mov XDI, D(0x20)
    mov XCX, 16
    repne scasb
    pushf
    mov [D(0x4c)], ecx
    std
    mov XSI, D(0xf)
    mov XDI, D(0x6f)
    mov XCX, 16
    rep movsb
    cld
    mov XCX, 0
    rep stosb
    mov XSI, D(0x0)
    mov XDI, D(0x90)
    movsw
    stosw
%ifidn MODE,long64
    mov rdi, D(0x80)
    mov rax, 0x0102030405060708
    mov rcx, 3
    rep stosq
    mov rsi, D(0x80)
    lodsq
    mov [D(0xb0)], rax
%endif
    cmp eax, eax
    hlt
