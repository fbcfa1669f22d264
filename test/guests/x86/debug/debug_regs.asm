; Guest of the KVM_SET_GUEST_DEBUG scenarios (test/x86/debug.test.ts), mirroring the guest of the
; kernel selftest x86/debug_regs.c: a software breakpoint, an instruction for hardware execute
; breakpoints, a data write and a data read for data breakpoints, a single-step run through plain
; and intercepted (CPUID, RDMSR) instructions, and a MOV to DR0 for DR7.GD. Long mode, org 0x8000.
bits 64
org 0x8000
sw_bp:
    int3
hw_bp:
    nop
    mov rax, 0xdeadbeef
write_data:
    mov [0x20000], rax
read_data:
    mov rbx, [0x20000]
ss_start:
    xor eax, eax
    cpuid
    mov ecx, 0x1a0
    rdmsr
    nop
bd_start:
    mov dr0, rax
    hlt
