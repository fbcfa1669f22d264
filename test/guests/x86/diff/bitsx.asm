; POPCNT and LZCNT (CPUID 0x80000001 ECX.LZCNT is advertised) at 16/32/64 bits. KVM's instruction
; emulator has neither, so the oracle is the host CPU (test/helpers/hostexec.c).
; modes: long64
%include "common.inc"
    mov eax, 0x00f0a501
    popcnt esi, eax
    popcnt di, ax
    mov ecx, 0x12
    lzcnt r8d, ecx
    lzcnt r9w, cx
    xor edx, edx
    lzcnt r10d, edx
    pushf
    popcnt r11d, edx
    pushf
    mov r12, 0x8000000000000010
    popcnt r13, r12
    lzcnt r14, r12
    mov r15, 0x0000000100000000
    lzcnt rbx, r15
    pushf
    mov [D(0x0)], esi
    mov [D(0x4)], edi
    mov [D(0x8)], r8
    mov [D(0x10)], r9
    mov [D(0x18)], r10
    mov [D(0x20)], r11
    mov [D(0x28)], r13
    mov [D(0x30)], r14
    mov [D(0x38)], rbx
    pop rax
    pop rcx
    pop rdx
    and eax, 0x41     ; LZCNT defines only CF and ZF
    and ecx, 0x8d5    ; POPCNT defines all six
    and edx, 0x41
    cmp eax, eax
    hlt
