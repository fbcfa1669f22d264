; Interrupt windows exact to the instruction (test/x86/irq-window.test.ts). RDI = 1: an in-kernel
; LAPIC (each case makes a self-IPI pending while IF = 0); RDI = 0: a userspace irqchip (each case
; reports with OUT 0x600 first, and the VMM sets request_interrupt_window). Then:
;   case 1  sti; nop; nop; cli          the window opens after the first NOP (STI shadow)
;   case 2  sti; mov ss, ax; nop; nop   after the first NOP (STI covers MOV SS, MOV SS the NOP)
;   case 3  popf setting IF; nop        right after POPF (no shadow)
;   case 4  at CPL3 (IOPL 3): sti; nop; nop; cli, taken through the kernel-half IDT
; The handler (vector 0x30, kernel half) logs the RIP and CS it interrupted; EXP holds where each
; case's window opens.
org 0x8000
%include "irq.inc"

COUNT   equ DATA + 0x00
EXP     equ DATA + 0x10      ; 4 qwords: the expected RIPs
LOG     equ DATA + 0x40      ; (RIP, CS) per interrupt

start:
    mov r15, rdi
    call irq_setup
    SET_GATE 0x30, isr
    SET_GATE 0x80, sys_trigger, 0xee        ; DPL 3: the user's way to make the IPI pending
    mov qword [EXP + 0], c1b
    mov qword [EXP + 8], c2b
    mov qword [EXP + 16], c3a
    mov qword [EXP + 24], u2
    test r15, r15
    jz .go
    mov rbx, APIC
    mov dword [rbx + 0xf0], 0x1ff
.go:
    ; case 1
    cli
    mov esi, 1
    call trigger
    sti
    nop
c1b:
    nop
    cli
    REPORT_PHASE 11

    ; case 2
    mov esi, 2
    call trigger
    mov ax, ss
    sti
    mov ss, ax
    nop
c2b:
    nop
    cli
    REPORT_PHASE 12

    ; case 3
    mov esi, 3
    call trigger
    pushfq
    or qword [rsp], 0x200
    popfq
c3a:
    nop
    cli
    REPORT_PHASE 13

    ; case 4: CPL3 with IF = 0
    push SEL_UDATA
    push USTACK
    push 0x3002
    push SEL_UCODE
    push user
    iretq
user:
    mov esi, 4
    int 0x80
    sti
    nop
u2:
    nop
    cli
    REPORT_PHASE 14
    jmp $

; Makes vector 0x30 pending: a self-IPI, or an OUT the VMM answers with request_interrupt_window.
trigger:
    test r15, r15
    jz .out
    mov rax, APIC
    mov dword [rax + 0x300], 0x40030        ; ICR: self, fixed, vector 0x30
    ret
.out:
    mov eax, esi
    mov dx, REPORT
    out dx, eax
    ret

sys_trigger:                                ; int 0x80 from CPL3: IF stays as the user had it
    call trigger
    iretq

isr:
    push rax
    push rcx
    mov rcx, [HIGH + COUNT]
    shl rcx, 4
    mov rax, [rsp + 16]
    mov [HIGH + LOG + rcx], rax
    mov rax, [rsp + 24]
    mov [HIGH + LOG + rcx + 8], rax
    inc qword [HIGH + COUNT]
    test r15, r15
    jz .done
    mov rax, APIC
    mov dword [rax + 0xb0], 0
.done:
    pop rcx
    pop rax
    iretq

%include "irqlib.inc"
