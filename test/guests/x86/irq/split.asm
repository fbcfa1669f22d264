; A split irqchip (test/x86/irq-split.test.ts): the LAPIC in the kernel, the PIC and IOAPIC in
; userspace. The VMM routes GSIs to MSIs and drives them:
;   phase 1 -> GSI 5 (an edge MSI, vector 0x60)
;   phase 2 -> GSI 6 (a level MSI, vector 0x61): its EOI exits with KVM_EXIT_IOAPIC_EOI
;   phase 3 -> KVM_INTERRUPT 0x62, taken as ExtINT through LINT0
;   phase 4 -> done
org 0x8000
%include "irq.inc"

CNT     equ DATA

start:
    call irq_setup
    SET_GATE 0x60, isr60
    SET_GATE 0x61, isr61
    SET_GATE 0x62, isr62
    mov rbx, APIC
    mov dword [rbx + 0xf0], 0x1ff
    REPORT_PHASE 1
    WAITV 0x60, 1
    REPORT_PHASE 2
    WAITV 0x61, 1
    REPORT_PHASE 3
    WAITV 0x62, 1
    REPORT_PHASE 4
    jmp $

%macro ISR 2
isr%1:
    push rax
    inc qword [HIGH + CNT + 0x%1 * 8]
%if %2
    mov rax, APIC
    mov dword [rax + 0xb0], 0
%endif
    pop rax
    iretq
%endmacro

ISR 60, 1
ISR 61, 1
ISR 62, 0

%include "irqlib.inc"
