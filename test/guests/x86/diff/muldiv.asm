; MUL IMUL DIV IDIV at every size (no #DE); CF/OF only are defined after multiplies.
%include "common.inc"
    mov eax, 0x12345
    mov ebx, 0x6789a
    mul ebx
    mov [D(0x0)], eax
    mov [D(0x4)], edx
    mov eax, -7
    mov ecx, 3
    imul ecx
    mov [D(0x8)], eax
    mov [D(0xc)], edx
    mov ax, 0x1234
    mov bl, 0x56
    mul bl
    mov [D(0x10)], ax
    mov al, -5
    mov bl, 7
    imul bl
    mov [D(0x12)], ax
    mov ax, 0xfedc
    mov bx, 0x1234
    mul bx
    mov [D(0x14)], ax
    mov [D(0x16)], dx
    imul ecx, ebx, 1000
    imul edx, ecx, -3
    imul esi, edx
    imul si, bx, 7
    mov [D(0x18)], ecx
    mov [D(0x1c)], edx
    mov [D(0x20)], esi
    mov edx, 0
    mov eax, 1000007
    mov ebx, 13
    div ebx
    mov [D(0x24)], eax
    mov [D(0x28)], edx
    mov edx, -1
    mov eax, -1000007
    mov ebx, 13
    idiv ebx
    mov [D(0x2c)], eax
    mov [D(0x30)], edx
    mov ax, 1000
    mov bl, 7
    div bl
    mov [D(0x34)], ax
    mov ax, -100
    mov bl, 7
    idiv bl
    mov [D(0x36)], ax
    mov dx, 3
    mov ax, 0x1234
    mov bx, 0x100
    div bx
    mov [D(0x38)], ax
    mov [D(0x3a)], dx
%ifidn MODE,long64
    mov rax, 0x123456789abcdef
    mov rbx, 0xfedcba987654321
    mul rbx
    mov [D(0x40)], rax
    mov [D(0x48)], rdx
    mov rax, -123456789123
    mov rcx, 987654321
    imul rcx
    mov [D(0x50)], rax
    mov [D(0x58)], rdx
    imul r8, rcx, -77
    imul r9, r8
    mov [D(0x60)], r9
    mov rdx, 5
    mov rax, 0x123456789abcdef
    mov rbx, 0x1000000
    div rbx
    mov [D(0x68)], rax
    mov [D(0x70)], rdx
    mov rdx, -1
    mov rax, -1234567890123
    mov rbx, 12345
    idiv rbx
    mov [D(0x78)], rax
    mov [D(0x80)], rdx
%endif
    cmp eax, eax
    hlt
