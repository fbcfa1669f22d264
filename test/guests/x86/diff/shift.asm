; Shifts and rotates with defined flags: count 1 (OF defined), CF after each; SHLD/SHRD.
%include "common.inc"
    mov eax, 0x81234567
    mov ebx, 0x7654321f
    shl eax, 1
    pushf
    shr ebx, 1
    pushf
    sar eax, 1
    pushf
    rol ebx, 1
    pushf
    ror eax, 1
    pushf
    stc
    rcl bx, 1
    pushf
    clc
    rcr ax, 1
    pushf
    mov cl, 13
    shl ebx, cl
    shr eax, 7
    sar edx, 31
    rol ecx, 4
    ror bl, 3
    rcl dx, 5
    rcr ah, 2
    mov cl, 40
    shl esi, cl
    mov cl, 0
    shl edi, cl
    shld eax, ebx, 12
    shrd ebx, eax, 20
    mov cl, 7
    shld dx, ax, cl
    shrd si, bx, cl
    mov byte [D(0x40)], 0x96
    rol byte [D(0x40)], 3
    shl word [D(0x42)], 1
%ifidn MODE,long64
    mov r8, 0x8000000000000001
    shl r8, 1
    pushf
    mov r9, 0x123456789abcdef
    rol r9, 17
    mov cl, 63
    sar r8, cl
    shrd r9, r8, 5
    rcr r9, 1
    pushf
%endif
    cmp eax, eax
    mov [D(0x20)], eax
    mov [D(0x24)], ebx
    hlt
