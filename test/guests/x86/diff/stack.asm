; Stack: PUSH/POP of registers, memory, immediates and segment registers, PUSHF/POPF, ENTER/LEAVE (level 0; nested: stackx.asm), CALL/RET.
%include "common.inc"
    mov eax, 0xa1b2c3d4
    push XAX
    push word 0x1234
    push 0x7f
%ifidn MODE,long64
    push qword [D(0x0)]
%else
    push dword [D(0x0)]
%endif
%ifnidn MODE,long64
    push ds
    push es
    pop es
    pop ds
%endif
    pop word [D(0x8)]
    pop XBX
    pop cx
    pop XDX
    mov [D(0x10)], ebx
    mov [D(0x14)], ecx
    mov [D(0x18)], edx
    pushf
    pop XSI
    stc
    std
    pushf
    cld
    popf
    pushf
    pop XDI
    cld
    mov [D(0x1c)], edi
    call sub1
    mov [D(0x20)], eax
    enter 16, 0
    mov [XBP-4], eax
    leave
    call sub2
    mov [D(0x24)], XSP
%ifidn MODE,real
    pusha
    xor ax, ax
    popa
%elifidn MODE,prot32
    pushad
    xor eax, eax
    popad
%else
    push r8
    push r15
    pop r9
    pop r10
%endif
    cmp eax, eax
    hlt
sub1:
    mov eax, 0x55aa
    ret
sub2:
    ret 0
