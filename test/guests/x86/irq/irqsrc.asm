; Interrupt sources a VMM drives (test/x86/irq-sources.test.ts), handlers in the kernel half:
;   phase 1 -> IOAPIC pin 5, edge, vector 0x35: KVM_IRQ_LINE 1 then 0
;   phase 2 -> KVM_SIGNAL_MSI, vector 0x41 (fixed, physical APIC ID 0)
;   phase 3 -> an irqfd on GSI 10 (IOAPIC pin 10, edge, vector 0x42) the VMM signals
;   phase 4 -> IOAPIC pin 9, level, vector 0x39: the handler reports (OUT 0x601) before its EOI; the
;              line stays high the first time (remote IRR set; the EOI redelivers), the VMM lowers it
;              the second time
;   phase 5 -> a resampling irqfd on GSI 11 (pin 11, level, vector 0x43): the EOI lowers the line
;              and signals the resamplefd
;   phase 6 -> from CPL3: a store to the MMIO address of an ioeventfd (no exit), then the report;
;              the VMM sends an MSI (vector 0x41) that interrupts the CPL3 loop
;   phase 7 -> done (from CPL3)
; Per vector, a count at DATA + vector * 8; the CS each handler interrupted at DATA + 0x400 + vector * 8.
org 0x8000
%include "irq.inc"

CNT     equ DATA
LASTCS  equ DATA + 0x400
MMIO    equ 0x300000

; IOAPIC_SET pin, low, high: a redirection entry (high dword first, the unmasking low dword last)
%macro IOAPIC_SET 3
    mov rax, IOAPIC
    mov dword [rax], 0x11 + 2 * (%1)
    mov dword [rax + 0x10], %3
    mov dword [rax], 0x10 + 2 * (%1)
    mov dword [rax + 0x10], %2
%endmacro

start:
    call irq_setup
    SET_GATE 0x35, isr35
    SET_GATE 0x39, isr39
    SET_GATE 0x41, isr41
    SET_GATE 0x42, isr42
    SET_GATE 0x43, isr43
    mov al, 0xff                            ; mask both 8259s: GSIs 0-15 also reach their pins
    out 0x21, al
    out 0xa1, al
    mov rbx, APIC
    mov dword [rbx + 0xf0], 0x1ff
    IOAPIC_SET 5, 0x35, 0                   ; edge, fixed, physical APIC 0
    IOAPIC_SET 10, 0x42, 0
    IOAPIC_SET 9, 0x8039, 0                 ; level
    IOAPIC_SET 11, 0x8043, 0

    REPORT_PHASE 1
    WAITV 0x35, 1
    REPORT_PHASE 2
    WAITV 0x41, 1
    REPORT_PHASE 3
    WAITV 0x42, 1
    REPORT_PHASE 4
    WAITV 0x39, 2
    REPORT_PHASE 5
    WAITV 0x43, 1
    ENTER_USER user

user:
    mov rdx, MMIO + 0x40
    mov dword [rdx], 0x1234                 ; the ioeventfd
    mov eax, 6
    mov dx, REPORT
    out dx, eax
.spin:
    cmp qword [CNT + 0x41 * 8], 2
    jb .spin
    mov eax, 7
    mov dx, REPORT
    out dx, eax
    jmp $

; ISR vector: count, note the interrupted CS, optionally report, EOI
%macro ISR 2
isr%1:
    push rax
    push rdx
    inc qword [HIGH + CNT + 0x%1 * 8]
    mov rax, [rsp + 24]
    mov [HIGH + LASTCS + 0x%1 * 8], rax
%if %2
    mov eax, 0x%1
    mov dx, REPORT + 1
    out dx, eax
%endif
    mov rax, APIC
    mov dword [rax + 0xb0], 0
    pop rdx
    pop rax
    iretq
%endmacro

ISR 35, 0
ISR 39, 1
ISR 41, 0
ISR 42, 0
ISR 43, 0

%include "irqlib.inc"
