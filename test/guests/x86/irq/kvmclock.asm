; kvmclock (test/x86/kvmclock.test.ts): CPUID 0x40000000/0x40000001, MSR_KVM_WALL_CLOCK_NEW and
; MSR_KVM_SYSTEM_TIME_NEW, the pvclock page read as Linux's pvclock_clocksource_read does
; (system_time + ((rdtsc - tsc_timestamp) << shift) * mul >> 32, retried while the version is odd
; or changes):
;   phase 1  two reads at CPL0 some 100000 instructions apart (and their TSCs);
;   phase 2  after the VMM moved kvmclock with KVM_SET_CLOCK and called KVM_KVMCLOCK_CTRL: a read
;            at CPL3 (as the vDSO reads it) and the page's flags.
org 0x8000
%include "irq.inc"

PVTI    equ DATA + 0x100     ; struct pvclock_vcpu_time_info
WALL    equ DATA + 0x180     ; struct pvclock_wall_clock
SIG     equ DATA + 0x00      ; CPUID 0x40000000 EAX, EBX, ECX, EDX (dwords)
FEAT    equ DATA + 0x10      ; CPUID 0x40000001 EAX
R1      equ DATA + 0x20      ; phase 1: ns, tsc, ns, tsc
R3      equ DATA + 0x40      ; phase 2: ns, tsc, flags

start:
    call irq_setup
    mov eax, 0x40000000
    cpuid
    mov [SIG], eax
    mov [SIG + 4], ebx
    mov [SIG + 8], ecx
    mov [SIG + 12], edx
    mov eax, 0x40000001
    cpuid
    mov [FEAT], eax
    mov ecx, 0x4b564d00                     ; MSR_KVM_WALL_CLOCK_NEW
    mov eax, WALL
    xor edx, edx
    wrmsr
    mov ecx, 0x4b564d01                     ; MSR_KVM_SYSTEM_TIME_NEW, enabled
    mov eax, PVTI | 1
    xor edx, edx
    wrmsr
    call pvclock_read
    mov [R1], rax
    mov [R1 + 8], rdx
    mov ecx, 50000
.spin:
    dec ecx
    jnz .spin
    call pvclock_read
    mov [R1 + 16], rax
    mov [R1 + 24], rdx
    REPORT_PHASE 1
    ENTER_USER user

user:
    call pvclock_read
    mov [R3], rax
    mov [R3 + 8], rdx
    movzx eax, byte [PVTI + 29]
    mov [R3 + 16], rax
    mov eax, 2
    mov dx, REPORT
    out dx, eax
    jmp $

; rax = kvmclock ns, rdx = the TSC it was computed from
pvclock_read:
    push rbx
    push rcx
    push rsi
.retry:
    mov esi, [PVTI]                         ; version
    test esi, 1
    jnz .retry
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov rbx, rax                            ; the TSC
    sub rax, [PVTI + 8]                     ; - tsc_timestamp
    movsx ecx, byte [PVTI + 28]             ; tsc_shift
    test ecx, ecx
    js .right
    shl rax, cl
    jmp .scaled
.right:
    neg ecx
    shr rax, cl
.scaled:
    mov ecx, [PVTI + 24]                    ; tsc_to_system_mul
    mul rcx
    shrd rax, rdx, 32
    add rax, [PVTI + 16]                    ; + system_time
    cmp esi, [PVTI]
    jne .retry
    mov rdx, rbx
    pop rsi
    pop rcx
    pop rbx
    ret

%include "irqlib.inc"
