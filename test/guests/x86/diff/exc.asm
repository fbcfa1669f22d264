; Exceptions through the IVT (real mode) / IDT (protected, long mode): #DE, #UD, #GP with its error
; code, #PF with error code and CR2 (long mode); INT3 and INT n in real mode; then a triple fault (an
; IDT of limit 0 and a #UD) -> KVM_EXIT_SHUTDOWN. Handlers record the error code and the saved RIP in
; the data page, drop the frame and jump to the address the test site stored in D(0xf8) (no IRET:
; the oracle host's instruction emulator runs IRET and INT3 in real mode only, and never completes a
; real-mode INT n; exceptions.test.ts
; covers those in protected and long mode).
%include "common.inc"
%ifidn MODE,long64
%define GSZ 16
%elifidn MODE,prot32
%define GSZ 8
%else
%define GSZ 4
%endif
%define FRAME (3 * WSZ)
%define IDT 0x600

%macro GATE 2
%ifidn MODE,long64
    mov rax, %2
    mov word [IDT + %1*16], ax
    mov word [IDT + %1*16 + 2], 0x18
    mov word [IDT + %1*16 + 4], 0x8e00
    shr rax, 16
    mov word [IDT + %1*16 + 6], ax
    mov dword [IDT + %1*16 + 8], 0
    mov dword [IDT + %1*16 + 12], 0
%elifidn MODE,prot32
    mov eax, %2
    mov word [IDT + %1*8], ax
    mov word [IDT + %1*8 + 2], 0x08
    mov word [IDT + %1*8 + 4], 0x8e00
    shr eax, 16
    mov word [IDT + %1*8 + 6], ax
%else
    mov word [%1*4], %2
    mov word [%1*4 + 2], 0
%endif
%endmacro

; HANDLER vector, slot, has_error_code, resumes (0: a trap that returns to the next instruction)
%macro HANDLER 3
h%1:
    mov XBP, XSP
%ifidn MODE,real
%assign ERRCODE 0
%else
%assign ERRCODE %3
%endif
%if ERRCODE
    mov XAX, [XBP]
    mov [D(%2 + 8)], XAX
    add XSP, WSZ
    mov XBP, XSP
%endif
    mov XAX, [XBP]
    mov [D(%2)], XAX
    inc byte [D(0x70)]
%ifidn MODE,long64
    add rsp, 5 * 8
%else
    add XSP, FRAME
%endif
    jmp [D(0xf8)]
%endmacro

%ifidn MODE,real
    push ds
    xor ax, ax
    mov ds, ax
%endif
    GATE 0, h0
%ifidn MODE,real
    GATE 3, h3
%endif
    GATE 6, h6
    GATE 13, h13
    GATE 14, h14
%ifidn MODE,real
    pop ds
%else
    mov word [D(0xe0)], 256 * GSZ - 1
%ifidn MODE,long64
    mov qword [D(0xe2)], IDT
%else
    mov dword [D(0xe2)], IDT
%endif
    lidt [D(0xe0)]
%endif

    ; #DE
    mov dword [D(0xf8)], r1
    xor edx, edx
    mov eax, 1
    xor ecx, ecx
    div ecx
r1:
%ifidn MODE,real
    ; #BP: a trap, the saved IP is the next instruction
    mov word [D(0xf8)], r2
    int3
r2:
%endif
    ; #UD
    mov dword [D(0xf8)], r3
    ud2
r3: ; #GP
    mov dword [D(0xf8)], r4
%ifidn MODE,long64
    mov rbx, 0x8000000000000000
    mov eax, [rbx]
%elifidn MODE,prot32
    mov ax, 0x33            ; GDT index 6 is beyond the GDT limit: #GP(0x30)
    mov ds, ax
%else
    mov ax, [0xffff]        ; a word at offset 0xffff crosses the 64 KiB limit: #GP(0)
%endif
r4:
%ifidn MODE,long64
    ; #PF: read and write of an address with no PDPT entry (1 GiB): error codes 0 and 2, CR2
    mov dword [D(0xf8)], r5
    mov eax, [0x40000010]
r5:
    mov rax, cr2
    mov [D(0x60)], rax
    mov dword [D(0xf8)], r6
    mov dword [0x40001020], 7
r6:
    mov rax, cr2
    mov [D(0x68)], rax
%endif
%ifnidn MODE,real
    ; Triple fault: #UD with an empty IDT -> #GP -> #DF -> shutdown. (Not in real mode here: KVM's
    ; emulator does not check the IVT limit; exceptions.test.ts checks it there.)
    mov word [D(0xe0)], 0
    lidt [D(0xe0)]
    ud2
%endif
    hlt

    HANDLER 0, 0x00, 0
    HANDLER 3, 0x10, 0
    HANDLER 6, 0x20, 0
    HANDLER 13, 0x30, 1
    HANDLER 14, 0x40, 1
