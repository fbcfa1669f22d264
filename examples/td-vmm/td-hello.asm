; td-hello: a tiny TD guest for examples/td-vmm.ts (nasm -f bin). 64 KiB firmware at 0xFFFF0000,
; entered at the reset vector in 32-bit protected mode like every TD vCPU. It switches to long
; mode, accepts the memory it uses (TDG.MEM.PAGE.ACCEPT), prints on the serial port with
; TDG.VP.VMCALL<Instruction.IO>, prints once more with plain OUT instructions (each one a #VE its
; handler turns into a TDVMCALL), reads a device register by MMIO (#VE -> TDVMCALL<MMIO>), shares
; a page with the VMM (TDVMCALL<MapGPA>) and writes a message into it, then powers off through the
; ACPI PM port 0x604.
bits 32
org 0xffff0000

%define SHARED (1 << 47)
%define COM1 0x3f8

%macro TDCALL 0
  db 0x66, 0x0f, 0x01, 0xcc
%endmacro

; page tables: identity RAM (2 MiB), shared alias of RAM at 1 GiB, MMIO at 1 GiB + 2 MiB, this image
pml4:   dq 0xffff1000 + 3
        times 511 dq 0
pdpt:   dq 0xffff2000 + 3
        dq 0xffff3000 + 3
        dq 0
        dq 0xffff4000 + 3
        times 508 dq 0
pd0:    dq 0x00000000 + 0x83
        times 511 dq 0
pd1:    dq SHARED + 0x00000000 + 0x83
        dq SHARED + 0xfec00000 + 0x83       ; MMIO window 0xfec00000-0xfedfffff
        times 510 dq 0
pd3:    times 511 dq 0
        dq 0xffe00000 + 0x83
gdt:    dq 0
        dq 0x00af9b000000ffff
        dq 0x00cf93000000ffff
gdt_desc:
        dw 23
        dq gdt
idt_desc:
        dw 21 * 16 - 1
        dq idt
idt:
%assign v 0
%rep 21
        dw ((ve - $$ + 0xffff0000) & 0xffff), 0x08, 0x8e00, ((ve - $$ + 0xffff0000) >> 16)
        dd 0, 0
  %assign v v + 1
%endrep
msg1:   db "Hello from a trust domain: TDVMCALL<Instruction.IO> on COM1", 10, 0
msg2:   db "and again with OUT instructions, each one a #VE", 10, 0
msg3:   db "a message for the VMM, in a page converted to shared", 0

start32:
        lgdt [gdt_desc]
        mov eax, cr4
        or eax, 0x20
        mov cr4, eax
        mov eax, pml4
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        jmp dword 0x08:start64

bits 64
default rel

; TDG.VP.VMCALL with R11 = leaf (R12..R15 set by the caller), R10..R15 exposed
%macro VMCALL 1
        mov r11, %1
        xor r10, r10
        mov ecx, 0xfc00
        xor eax, eax
        TDCALL
%endmacro

start64:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        lidt [idt_desc]
        mov rcx, 0x1ff000                   ; accept the stack page (KVM AUGs it on the way)
        mov eax, 6
        TDCALL
        mov rsp, 0x200000
        lea rsi, [msg1]
.tdvmcall:
        lodsb
        test al, al
        jz .ve
        movzx r15, al
        mov r14, COM1
        mov r13, 1
        mov r12, 1
        VMCALL 30
        jmp .tdvmcall
.ve:
        lea rsi, [msg2]
        mov dx, COM1
.ve_loop:
        lodsb
        test al, al
        jz .mmio
        out dx, al                          ; #VE(IO) -> the handler's TDVMCALL
        jmp .ve_loop
.mmio:
        mov rbx, 0x40300000                 ; the VMM's device at 0xfed00000 (shared, no memslot)
        mov eax, [rbx]                      ; #VE(EPT violation) -> TDVMCALL<MMIO>
        mov r15, rax
        mov r14, 0x80
        mov r13, 1
        mov r12, 4
        VMCALL 30                           ; report the register on port 0x80
        ; share the page at 0x100000 with the VMM and leave it a message
        mov r12, SHARED + 0x100000
        mov r13, 0x1000
        VMCALL 0x10001
        lea rsi, [msg3]
        mov rdi, 0x40100000
.copy:
        lodsb
        stosb
        test al, al
        jnz .copy
        ; power off: ACPI PM1a control, SLP_EN | SLP_TYP 5
        mov r15, 0x2000 | (5 << 10)
        mov r14, 0x604
        mov r13, 1
        mov r12, 2
        VMCALL 30
        jmp $

; #VE: TDG.VP.VEINFO.GET, then IO (OUT only) or MMIO read of 4 bytes into EAX
ve:
        push rax
        push rcx
        push rdx
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        mov eax, 3
        TDCALL
        mov r8, r10                         ; instruction length (low half)
        cmp ecx, 30
        jne .ept
        mov r14, rdx
        shr r14, 16
        mov r15, [rsp + 10 * 8]             ; the guest's AL
        and r15, 0xff
        mov r13, 1
        mov r12, 1
        VMCALL 30
        jmp .skip
.ept:
        mov r14, r9                         ; the shared GPA
        xor r13, r13
        mov r12, 4
        VMCALL 48
        mov [rsp + 10 * 8], r11             ; EAX (mov eax, [rbx] is 2 bytes)
        mov r8, 2
.skip:
        and r8d, 0xffffffff
        add [rsp + 11 * 8], r8
        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rdx
        pop rcx
        pop rax
        iretq

bits 32
times 0xfff0 - ($ - $$) db 0
        jmp start32
times 0x10000 - ($ - $$) db 0xf4
