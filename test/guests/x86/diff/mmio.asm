; MMIO exits (gpa 0x300000, no memslot): reads of each size complete from kvm_run.mmio.data on the
; modes: prot32 long64
; next KVM_RUN (sign/zero extension by the instruction), writes carry the data; RMW on MMIO.
%include "common.inc"
%define M 0x300000
    mov al, [M]
    mov bx, [M+0x10]
    mov ecx, [M+0x20]
    movsx edx, byte [M+0x31]
    movzx esi, word [M+0x42]
    mov [D(0x0)], al
    mov [D(0x2)], bx
    mov [D(0x4)], ecx
    mov [D(0x8)], edx
    mov [D(0xc)], esi
    mov byte [M+0x50], 0x5a
    mov word [M+0x52], 0x1234
    mov dword [M+0x54], 0xdeadbeef
    mov [M+0x58], ecx
    add dword [M+0x60], 0x10
    or byte [M+0x64], 0x80
%ifidn MODE,long64
    mov r8, [M+0x70]
    mov [D(0x10)], r8
    mov rax, 0x0102030405060708
    mov [M+0x78], rax
    movsxd r9, dword [M+0x80]
    mov [D(0x18)], r9
%endif
    cmp eax, eax
    hlt
