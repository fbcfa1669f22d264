; ENTER with a nesting level (KVM's emulator handles level 0 only, so the oracle is the host CPU).
; modes: long64
%include "common.inc"
    mov rbp, 0x7e000
    mov qword [rbp-8], 0x1111
    mov qword [rbp-16], 0x2222
    mov qword [rbp-24], 0x3333
    enter 0x20, 3
    mov [D(0x0)], rsp
    mov [D(0x8)], rbp
    mov rax, [rsp+0x20]
    mov rbx, [rsp+0x28]
    mov rcx, [rsp+0x30]
    mov rdx, [rsp+0x38]
    mov [D(0x10)], rax
    mov [D(0x18)], rbx
    mov [D(0x20)], rcx
    mov [D(0x28)], rdx
    enter 8, 1
    mov [D(0x30)], rsp
    mov [D(0x38)], rbp
    leave
    leave
    mov [D(0x40)], rsp
    mov [D(0x48)], rbp
    mov rsp, 0x7f000
    cmp eax, eax
    hlt
