; ALU group with exact flags: ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT at 8/16/32(/64) bits.
%include "common.inc"
    mov eax, 0x12345678
    mov ebx, 0x87654321
    mov ecx, 0xffffffff
    mov edx, 0x80000000
    add eax, ebx
    pushf
    adc ecx, eax
    pushf
    sub edx, eax
    pushf
    sbb esi, ebx
    pushf
    and edi, eax
    or ebp, ebx
    xor eax, 0x5a5a
    cmp eax, ebx
    pushf
    test ecx, edx
    inc eax
    pushf
    dec ebx
    pushf
    neg ecx
    pushf
    not edx
    add al, 0x7f
    pushf
    add ah, 0x80
    pushf
    sub bx, 0x7fff
    pushf
    adc cl, dl
    pushf
    sbb dh, 0xff
    pushf
    cmp byte [D(0x10)], 0x80
    pushf
    add dword [D(0x14)], 0x12345
    pushf
    sub word [D(0x18)], 1
    pushf
    inc byte [D(0x1c)]
    pushf
    neg word [D(0x1e)]
    pushf
%ifidn MODE,long64
    mov r8, 0x7fffffffffffffff
    add r8, 1
    pushf
    mov r9, -1
    adc r9, 0
    pushf
    mov r10, 0x8000000000000000
    sub r10, 1
    pushf
    neg r10
    pushf
    mov r11, 0x123456789abcdef0
    xor r11, r8
    cmp r11, r9
    pushf
    sbb r12, r11
    pushf
    inc r13
    dec r14
    pushf
%endif
    mov [D(0x20)], eax
    mov [D(0x24)], ebx
    mov [D(0x28)], ecx
    mov [D(0x2c)], edx
    hlt
