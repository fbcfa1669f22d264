; SSE moves a compiled guest uses for memcpy (long mode, CR4.OSFXSR set by the harness).
; modes: long64
%include "common.inc"
%ifidn MODE,long64
    mov rax, 0x0011223344556677
    mov [D(0x0)], rax
    mov rax, 0x8899aabbccddeeff
    mov [D(0x8)], rax
    movdqu xmm0, [D(0x0)]
    movdqa xmm1, [D(0x0)]
    movups [D(0x11)], xmm0
    movaps [D(0x20)], xmm1
    pxor xmm2, xmm2
    movdqu [D(0x30)], xmm2
    movq xmm3, [D(0x4)]
    movq [D(0x40)], xmm3
    movd xmm4, eax
    movd ecx, xmm4
    movq xmm5, rax
    movq rdx, xmm5
    xorps xmm0, xmm1
    movups [D(0x50)], xmm0
    movss xmm6, [D(0x8)]
    movsd xmm7, [D(0x8)]
    movss [D(0x60)], xmm6
    movsd [D(0x68)], xmm7
    movlps xmm1, [D(0x20)]
    movhps xmm1, [D(0x28)]
    movups [D(0x70)], xmm1
    stmxcsr [D(0x80)]
%endif
    cmp eax, eax
    hlt
