; IPIs between two vCPUs (test/x86/irq-smp.test.ts, each vCPU on its own worker thread):
; vCPU 0 (the BSP, long mode from the harness) starts vCPU 1 with INIT and a STARTUP IPI (vector
; 9: real mode at 0x9000), which goes to long mode itself and then waits at CPL3. Then:
;   - 100 ping-pongs: a fixed IPI 0x50 to APIC 1 (taken at CPL3 through the kernel-half IDT and the
;     second TSS), whose handler answers with IPI 0x51 to APIC 0; the BSP waits halted for each;
;   - a broadcast to all but self (vector 0x52);
;   - an NMI IPI to APIC 1.
; Each vCPU ends with a store to an unbacked address (an MMIO exit its worker stops at).
org 0x8000
%include "irq.inc"

N       equ 100
APREADY equ DATA + 0x00
DONE    equ DATA + 0x08
PINGS   equ DATA + 0x10      ; taken by vCPU 1
PONGS   equ DATA + 0x18      ; taken by vCPU 0
BCAST   equ DATA + 0x20      ; per APIC ID (2 qwords)
NMIS    equ DATA + 0x30      ; per APIC ID
PINGCS  equ DATA + 0x40      ; the CS vCPU 1 was interrupted at by the last ping
T_PING  equ DATA + 0x48      ; TSC before and after the ping-pongs
AP_USTACK equ 0x7d000

start:
    call irq_setup
    SET_GATE 0x50, isr_ping
    SET_GATE 0x51, isr_pong
    SET_GATE 0x52, isr_bcast
    SET_GATE 2, isr_nmi
    mov al, 0xff
    out 0x21, al
    out 0xa1, al
    mov rbx, APIC
    mov dword [rbx + 0xf0], 0x1ff
    ; INIT, then STARTUP at vector 9 (0x9000), to APIC 1
    mov dword [rbx + 0x310], 1 << 24
    mov dword [rbx + 0x300], 0x4500
    mov dword [rbx + 0x310], 1 << 24
    mov dword [rbx + 0x300], 0x4609
.ap:
    pause
    cmp qword [APREADY], 1
    jne .ap
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [T_PING], rax
    xor r12d, r12d
.ping:
    inc r12
    mov dword [rbx + 0x310], 1 << 24
    mov dword [rbx + 0x300], 0x50
.wp:
    cmp [PONGS], r12
    jae .next
    sti
    hlt
    cli
    jmp .wp
.next:
    cmp r12, N
    jb .ping
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [T_PING + 8], rax
    mov dword [rbx + 0x300], 0xc0052        ; all excluding self, vector 0x52
.wb:
    pause
    cmp qword [BCAST + 8], 1
    jb .wb
    mov dword [rbx + 0x310], 1 << 24
    mov dword [rbx + 0x300], 0x400          ; NMI to APIC 1
.wn:
    pause
    cmp qword [NMIS + 8], 1
    jb .wn
    mov qword [DONE], 1
    mov dword [0x380000], 1
    jmp $

; A handler's own APIC ID (xAPIC ID register) in rcx.
%macro MY_ID 0
    mov rcx, APIC
    mov ecx, [rcx + 0x20]
    shr ecx, 24
%endmacro

isr_ping:                                   ; on vCPU 1: answer vCPU 0
    push rax
    push rcx
    inc qword [HIGH + PINGS]
    mov rax, [rsp + 24]
    mov [HIGH + PINGCS], rax
    mov rax, APIC
    mov dword [rax + 0x310], 0
    mov dword [rax + 0x300], 0x51
    mov dword [rax + 0xb0], 0
    pop rcx
    pop rax
    iretq

isr_pong:
    push rax
    inc qword [HIGH + PONGS]
    mov rax, APIC
    mov dword [rax + 0xb0], 0
    pop rax
    iretq

isr_bcast:
    push rax
    push rcx
    MY_ID
    inc qword [HIGH + BCAST + rcx * 8]
    mov rax, APIC
    mov dword [rax + 0xb0], 0
    pop rcx
    pop rax
    iretq

isr_nmi:
    push rcx
    MY_ID
    inc qword [HIGH + NMIS + rcx * 8]
    pop rcx
    iretq

; ---- vCPU 1 from its STARTUP IPI: real mode at 0x9000 (CS 0x900, IP 0)
    times 0x1000 - ($ - $$) db 0
bits 16
ap16:
    cli
    mov ax, 0x900
    mov ds, ax
    o32 lgdt [ap_gdtr - ap16]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp dword 0x08:ap32
bits 32
ap32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr4
    or eax, 0x20                            ; PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100                           ; LME
    wrmsr
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp 0x18:ap64
bits 64
ap64:
    lgdt [irq_gdtr]
    lidt [irq_idtr]
    mov rsp, HIGH + KSTACK2
    mov ax, SEL_TSS2
    ltr ax
    mov rax, APIC
    mov dword [rax + 0xf0], 0x1ff
    mov qword [APREADY], 1
    push SEL_UDATA
    push AP_USTACK
    push 0x3202
    push SEL_UCODE
    push ap_user
    iretq
ap_user:
    cmp qword [DONE], 1
    jne ap_user
    mov dword [0x381000], 1
    jmp $

ap_gdtr:
    dw 12 * 8 - 1
    dd GDT

%include "irqlib.inc"
