; BT/BTS/BTR/BTC (register and memory bit offsets), BSF/BSR, BSWAP, SETcc, CMOVcc (POPCNT/LZCNT: bitsx.asm).
%include "common.inc"
    mov eax, 0x00f0a500
    bt eax, 8
    setc [D(0x0)]
    bts eax, 0
    setc [D(0x1)]
    btr eax, 10
    setc [D(0x2)]
    btc eax, 31
    setc [D(0x3)]
    mov ecx, 35
    mov dword [D(0x10)], 0
    mov dword [D(0x14)], 0x8
    bt dword [D(0x10)], ecx
    setc [D(0x4)]
    bts dword [D(0x10)], ecx
    mov ecx, 3
    btc word [D(0x10)], cx
    mov [D(0x8)], eax
    bsf ebx, eax
    bsr edx, eax
    mov [D(0x18)], ebx
    mov [D(0x1c)], edx
    bswap eax
    mov [D(0x20)], eax
    mov ecx, 0x12
    cmp ecx, 0x13
    seta [D(0x24)]
    setb [D(0x25)]
    setl [D(0x26)]
    setg [D(0x27)]
    setz [D(0x28)]
    setnz [D(0x29)]
    sets [D(0x2a)]
    setp [D(0x2b)]
    seto [D(0x2c)]
    setbe [D(0x2d)]
    setge [D(0x2e)]
    setle [D(0x2f)]
    mov edx, 7
    cmovb edx, ecx
    cmova ebx, ecx
    mov [D(0x30)], edx
    mov [D(0x34)], ebx
%ifidn MODE,long64
    mov r8, 0x8000000000000010
    bsf r9, r8
    bsr r10, r8
    bswap r8
    bt r8, 60
    setc [D(0x40)]
    btr r8, 61
    mov [D(0x48)], r8
    mov [D(0x50)], r9
    mov [D(0x58)], r10
%endif
    cmp eax, eax
    hlt
