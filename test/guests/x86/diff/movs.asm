; Data movement: MOV forms, moffs, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMPXCHG, XADD, CBW family, XLAT.
%include "common.inc"
    mov dword [D(0x0)], 0x89abcdef
    mov al, [D(0x0)]
    mov bx, [D(0x1)]
    mov ecx, [D(0x0)]
    mov [D(0x8)], cl
    mov [D(0xa)], bx
    mov byte [D(0xc)], 0x7f
    mov word [D(0xe)], 0x8001
    movzx edx, byte [D(0x3)]
    movzx esi, word [D(0x2)]
    movsx edi, byte [D(0x3)]
    movsx ebp, word [D(0xe)]
    movsx ax, cl
    movzx bx, ch
    mov [D(0x10)], edx
    mov [D(0x14)], esi
    mov [D(0x18)], edi
    mov [D(0x1c)], ebp
%ifidn MODE,long64
    lea eax, [rbx+rcx*2+0x100]
    lea dx, [rbx+rsi+5]
%else
    lea eax, [ebx+ecx*2+0x100]
    lea dx, [bx+si+5]
%endif
    mov [D(0x20)], eax
    mov [D(0x24)], dx
    xchg eax, ebx
    xchg cl, ch
    xchg [D(0x10)], edx
    mov eax, 0x11111111
    mov dword [D(0x28)], 0x11111111
    mov ebx, 0x22222222
    cmpxchg [D(0x28)], ebx
    pushf
    cmpxchg [D(0x28)], ebx
    pushf
    mov ecx, 5
    xadd [D(0x28)], ecx
    pushf
    mov [D(0x2c)], ecx
    mov al, 0x80
    cbw
    cwd
    mov [D(0x30)], ax
    mov [D(0x32)], dx
    mov ax, 0x8000
    cwde
    cdq
    mov [D(0x34)], eax
    mov [D(0x38)], edx
    mov byte [D(0x47)], 0x5e
    mov ebx, D(0x40)
    mov al, 7
%ifidn MODE,real
    mov bx, 0x40
%endif
    xlatb
    mov [D(0x3c)], al
%ifidn MODE,long64
    mov rax, 0x1122334455667788
    mov [D(0x50)], rax
    movsxd r8, dword [D(0x0)]
    mov r9d, 0xffffffff
    mov r10w, 0x1234
    mov r11b, 0x56
    mov sil, 0x9a
    mov [D(0x58)], r8
    mov [D(0x60)], r9
    mov [D(0x68)], r10
    mov [D(0x70)], r11
    mov [D(0x78)], rsi
    mov rax, [abs D(0x50)]
    mov rcx, 0x99
    xchg rcx, [D(0x50)]
    cdqe
    cqo
    lea r12, [rel $]
    mov r13, [rel dataq]
    jmp .over
dataq: dq 0xfeedfacecafebeef
.over:
%endif
    cmp eax, eax
    hlt
