; Control flow: every Jcc taken and not taken, JMP short/near/indirect, LOOP family, JCXZ, CALL indirect.
%include "common.inc"
    xor esi, esi
    mov eax, 5
    cmp eax, 7
    jb .l1
    inc esi
.l1: ja .l2
    add esi, 2
.l2: jl .l3
    add esi, 4
.l3: jg .l4
    add esi, 8
.l4: je .l5
    add esi, 16
.l5: jne .l6
    add esi, 32
.l6: js .l7
    add esi, 64
.l7: jns .l8
    add esi, 128
.l8: jo .l9
    add esi, 256
.l9: jno .l10
    add esi, 512
.l10: jp .l11
    add esi, 1024
.l11: jnp .l12
    add esi, 2048
.l12: jbe .l13
    add esi, 4096
.l13: jae .l14
    add esi, 8192
.l14: jle .l15
    add esi, 16384
.l15: jge .l16
    add esi, 32768
.l16:
    mov [D(0x0)], esi
    mov ecx, 10
    xor edx, edx
.loop:
    add edx, ecx
    loop .loop
    mov [D(0x4)], edx
    mov ecx, 5
    xor eax, eax
.loope:
    inc eax
    cmp eax, 2
    loopne .loope
    mov [D(0x8)], ecx
    xor ecx, ecx
    jecxz .jcz
    mov dword [D(0xc)], 1
.jcz:
    mov XBX, .target
    jmp XBX
    mov dword [D(0x10)], 1
.target:
    mov XAX, .callee
    call XAX
    mov [D(0x14)], edi
    jmp near .far_ahead
    times 200 nop
.far_ahead:
    cmp eax, eax
    hlt
.callee:
    mov edi, 0x777
    ret
