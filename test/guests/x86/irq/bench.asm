; Interrupt benchmarks (bench/irq.ts). RDI selects:
;   1  irqfd round trip: halts with IF = 1; the handler of vector 0x50 (an MSI route the VMM's
;      irqfd drives) writes the ioeventfd port 0x700 (no exit), EOIs and returns to the halt;
;   2  timer rate: the LAPIC timer periodic at 200 us (KVM's minimum period), vector 0x40; the
;      handler counts and EOIs; every 10000 ticks the guest reports (OUT 0x600, EAX = 2).
; Handlers in the kernel half (irq.inc); ticks counted at DATA.
org 0x8000
%include "irq.inc"

TICKS   equ DATA + 0x00

start:
    mov r15, rdi
    call irq_setup
    SET_GATE 0x50, irqfd_isr
    SET_GATE 0x40, timer_isr
    mov rbx, APIC
    mov dword [rbx + 0xf0], 0x1ff           ; SVR: enabled
    cmp r15, 2
    je timer
    REPORT_PHASE 1                          ; ready: the VMM assigns the irqfd and starts
.h:
    sti
    hlt
    jmp .h

timer:
    mov dword [rbx + 0x3e0], 0xb            ; TDCR: divide by 1
    mov dword [rbx + 0x320], 0x20040        ; LVTT: periodic, vector 0x40
    mov dword [rbx + 0x380], 200000         ; TMICT: 200 us
.t:
    sti
    hlt
    cli
    cmp qword [TICKS], 10000
    jb .t
    mov qword [TICKS], 0
    REPORT_PHASE 2
    jmp .t

irqfd_isr:
    push rax
    push rdx
    mov dx, 0x700
    out dx, al                              ; the ioeventfd: completes in the kernel, no exit
    mov rax, APIC
    mov dword [rax + 0xb0], 0               ; EOI
    pop rdx
    pop rax
    iretq

timer_isr:
    push rax
    inc qword [HIGH + TICKS]
    mov rax, APIC
    mov dword [rax + 0xb0], 0
    pop rax
    iretq

%include "irqlib.inc"
