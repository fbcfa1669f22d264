; System state: control registers, descriptor tables, MSRs a kernel programs, segment loads.
%include "common.inc"
%ifnidn MODE,real
    mov XAX, cr0
    mov [D(0x0)], eax
    mov XAX, cr4
    mov [D(0x4)], eax
    sgdt [D(0x10)]
    sidt [D(0x20)]
    smsw [D(0x30)]
    mov ecx, 0xc0000081
    mov eax, 0x12345678
    mov edx, 0x00230010
    wrmsr
    rdmsr
    mov [D(0x40)], eax
    mov [D(0x44)], edx
    mov ecx, 0x277
    rdmsr
    mov [D(0x48)], eax
    mov [D(0x4c)], edx
    mov ecx, 0x174
    mov eax, 0x8
    xor edx, edx
    wrmsr
    rdmsr
    mov [D(0x50)], eax
    mov eax, 0x10
    mov ds, ax
    mov fs, ax
    mov ax, ds
    mov [D(0x54)], ax
    mov XAX, dr7
    mov [D(0x58)], eax
    mov eax, 0x11
    mov dr0, XAX
    mov XBX, dr0
    mov [D(0x5c)], ebx
%ifidn MODE,long64
    mov ecx, 0xc0000080
    rdmsr
    mov [D(0x60)], eax
    mov ecx, 0xc0000100
    mov eax, 0x1000
    mov edx, 0
    wrmsr
    mov rax, [fs:0x20000]
    mov [D(0x68)], rax
    mov rax, cr3
    mov [D(0x70)], rax
    mov rax, cr8
    mov [D(0x78)], rax
%endif
%else
    smsw ax
    mov [D(0x30)], ax
    mov ax, 0x3000
    mov fs, ax
    mov word [fs:0x10], 0x4321
    mov ax, [fs:0x10]
    mov [D(0x34)], ax
%endif
    cmp eax, eax
    hlt
