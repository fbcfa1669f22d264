; The 8254 PIT through the 8259 PIC (test/x86/irq-pit.test.ts), with the in-kernel PIC, PIT
; (KVM_CREATE_PIT2 with KVM_PIT_SPEAKER_DUMMY) and the BSP's LINT0 in ExtINT mode:
;   phase 1  PIC initialized (IRQ 0-7 at vectors 0x20-0x27, 8-15 at 0x28), only IRQ0 unmasked;
;            PIT channel 0 in mode 2 (rate generator) every 597 PIT ticks (~0.5 ms): five IRQ0s
;            taken while halted, each EOI'd at the PIC (non-specific EOI);
;   phase 2  TSC calibration as Linux does it: gate channel 2 on through port 0x61, mode 0 with
;            2386 ticks (2 ms), poll OUT2 (port 0x61 bit 5), TSCs before and after;
;   phase 3  three more IRQ0s while spinning at CPL3 (the handler runs in the kernel half).
org 0x8000
%include "irq.inc"

TICKS   equ DATA + 0x00
LASTCS  equ DATA + 0x08
VEC     equ DATA + 0x10      ; the vector the handler was entered for (0x20)
T_CAL   equ DATA + 0x18      ; phase 2: TSC before, after, and the polls
LOG     equ DATA + 0x100     ; TSC of each tick

start:
    call irq_setup
    SET_GATE 0x20, isr_irq0
    ; 8259s: ICW1 edge/cascade/ICW4, ICW2 vector base, ICW3 cascade on IRQ2, ICW4 8086 mode
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, 0xfe                            ; only IRQ0
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    mov rbx, APIC
    mov dword [rbx + 0xf0], 0x1ff           ; LVT0 stays ExtINT (the BSP's after RESET)
    ; PIT channel 0: lobyte/hibyte, mode 2, 597 ticks
    mov al, 0x34
    out 0x43, al
    mov al, 597 & 0xff
    out 0x40, al
    mov al, 597 >> 8
    out 0x40, al
.w1:
    cmp qword [TICKS], 5
    jae .d1
    sti
    hlt
    cli
    jmp .w1
.d1:
    REPORT_PHASE 1

    ; phase 2: channel 2 through the speaker port
    in al, 0x61
    and al, ~0x02
    or al, 0x01
    out 0x61, al
    mov al, 0xb0                            ; channel 2, lobyte/hibyte, mode 0
    out 0x43, al
    rdtsc                                   ; before the count starts: a host-thread stall
    shl rdx, 32                             ; between here and the poll only lengthens
    or rax, rdx                             ; what the guest measures
    mov [T_CAL], rax
    mov al, 2386 & 0xff
    out 0x42, al
    mov al, 2386 >> 8
    out 0x42, al
    xor ecx, ecx
.poll:
    inc rcx
    in al, 0x61
    test al, 0x20
    jz .poll
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [T_CAL + 8], rax
    mov [T_CAL + 16], rcx
    REPORT_PHASE 2

    ; phase 3: ticks at CPL3
    mov qword [TICKS], 0
    ENTER_USER user
user:
    cmp qword [TICKS], 3
    jb user
    mov eax, 3
    mov dx, REPORT
    out dx, eax
    jmp $

isr_irq0:
    push rax
    push rcx
    push rdx
    mov rcx, [HIGH + TICKS]
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [HIGH + LOG + rcx * 8], rax
    inc qword [HIGH + TICKS]
    mov rax, [rsp + 32]
    mov [HIGH + LASTCS], rax
    mov al, 0x20                            ; non-specific EOI
    out 0x20, al
    pop rdx
    pop rcx
    pop rax
    iretq

%include "irqlib.inc"
