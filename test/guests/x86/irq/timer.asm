; The local APIC timer in each mode, counted while halted (test/x86/irqchip.test.ts):
;   phase 1  one-shot (xAPIC MMIO through the kernel half): exactly one tick for TMICT = 100000
;            (100 us at the 1 GHz APIC bus, divide by 1), none after it;
;   phase 2  periodic, TMICT = 200000 (200 us, KVM's minimum): five ticks, then TMICT = 0 stops it;
;   phase 3  TSC deadline (IA32_TSC_DEADLINE = TSC + 120000): three ticks, each at or after its deadline;
;   phase 4  x2APIC mode (IA32_APIC_BASE.EXTD; LVTT/TDCR/TMICT/EOI as MSRs 0x832/0x83e/0x838/0x80b):
;            periodic, three ticks while halted;
;   phase 5  x2APIC periodic timer (500 us) while the guest spins at CPL3: the handler (kernel half,
;            entered through the TSS's kernel-half RSP0) records the interrupted CS; five ticks at CPL3.
; The handler logs each tick's TSC at DATA + 0x100 (64 entries).
org 0x8000
%include "irq.inc"

TICKS   equ DATA + 0x00
LASTCS  equ DATA + 0x08
ISRRIP  equ DATA + 0x10
ISRRSP  equ DATA + 0x18
X2      equ DATA + 0x20      ; 1 once in x2APIC mode (the handler EOIs by MSR)
T0      equ DATA + 0x28      ; TSC at a phase's start
DEADLN  equ DATA + 0x30      ; phase 3: the deadlines, 3 qwords
USERTK  equ DATA + 0x48      ; phase 5: ticks taken at CPL3
LOG     equ DATA + 0x100     ; TSC of each tick

start:
    call irq_setup
    SET_GATE 0x40, timer_isr
    mov rbx, APIC
    mov dword [rbx + 0xf0], 0x1ff           ; SVR: enabled, spurious vector 0xff
    mov dword [rbx + 0x3e0], 0xb            ; TDCR: divide by 1

    ; ---- phase 1: one-shot
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [T0], rax
    mov dword [rbx + 0x320], 0x40           ; LVTT: vector 0x40, one-shot
    mov dword [rbx + 0x380], 100000         ; TMICT
.w1:
    cmp qword [TICKS], 1
    jae .d1
    sti
    hlt
    cli
    jmp .w1
.d1:
    mov ecx, 20000                          ; no second tick comes
.s1:
    pause
    dec ecx
    jnz .s1
    REPORT_PHASE 1

    ; ---- phase 2: periodic
    mov qword [TICKS], 0
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [T0], rax
    mov dword [rbx + 0x320], 0x20040        ; LVTT: periodic
    mov dword [rbx + 0x380], 200000
.w2:
    cmp qword [TICKS], 5
    jae .d2
    sti
    hlt
    cli
    jmp .w2
.d2:
    mov dword [rbx + 0x380], 0              ; stops it
    REPORT_PHASE 2

    ; ---- phase 3: TSC deadline
    mov qword [TICKS], 0
    mov dword [rbx + 0x320], 0x40040        ; LVTT: TSC-deadline mode
    xor esi, esi
.w3:
    rdtsc
    shl rdx, 32
    or rax, rdx
    add rax, 120000
    mov [DEADLN + rsi * 8], rax
    mov rdx, rax
    shr rdx, 32
    mov ecx, 0x6e0
    wrmsr
    lea rdi, [rsi + 1]
.h3:
    cmp [TICKS], rdi
    jae .n3
    sti
    hlt
    cli
    jmp .h3
.n3:
    inc esi
    cmp esi, 3
    jb .w3
    REPORT_PHASE 3

    ; ---- phase 4: x2APIC, periodic, halted
    mov ecx, 0x1b
    rdmsr
    or eax, 0x400                           ; EXTD
    wrmsr
    mov qword [X2], 1
    mov qword [TICKS], 0
    mov ecx, 0x83e                          ; TDCR
    mov eax, 0xb
    xor edx, edx
    wrmsr
    mov ecx, 0x832                          ; LVTT: periodic, vector 0x40
    mov eax, 0x20040
    wrmsr
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [T0], rax
    mov ecx, 0x838                          ; TMICT
    mov eax, 300000
    xor edx, edx
    wrmsr
.w4:
    cmp qword [TICKS], 3
    jae .d4
    sti
    hlt
    cli
    jmp .w4
.d4:
    mov ecx, 0x838
    xor eax, eax
    wrmsr
    REPORT_PHASE 4

    ; ---- phase 5: the timer interrupts CPL3 code
    mov qword [TICKS], 0
    mov ecx, 0x838
    mov eax, 500000
    xor edx, edx
    wrmsr
    ENTER_USER user

user:
    cmp qword [USERTK], 5                   ; identity (user) address of the same counter
    jb user
    REPORT_PHASE 5
    jmp $

; The timer handler, run through its kernel-half address on the kernel-half stack.
timer_isr:
    push rax
    push rcx
    push rdx
    mov rcx, [HIGH + TICKS]
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [HIGH + LOG + rcx * 8], rax
    inc qword [HIGH + TICKS]
    mov rax, [rsp + 32]                     ; the interrupted CS
    mov [HIGH + LASTCS], rax
    cmp rax, SEL_UCODE
    jne .k
    inc qword [HIGH + USERTK]
.k:
    lea rax, [rel timer_isr]
    mov [HIGH + ISRRIP], rax
    mov [HIGH + ISRRSP], rsp
    cmp qword [HIGH + X2], 0
    jne .x2
    mov rax, APIC
    mov dword [rax + 0xb0], 0               ; EOI (xAPIC)
    jmp .out
.x2:
    mov ecx, 0x80b                          ; EOI (x2APIC)
    xor eax, eax
    xor edx, edx
    wrmsr
.out:
    pop rdx
    pop rcx
    pop rax
    iretq

%include "irqlib.inc"
