/*
 * Entry of the benchmark image: x0 = rounds (set by the VMM). The result goes to x4 before PSCI
 * SYSTEM_OFF (KVM returns X0-X3 from the SMCCC call, so x1 would read back as 0).
 */
.section .text.start, "ax"
.global _start
_start:
  ldr x1, =stack_top
  mov sp, x1
  bl workload
  mov w4, w0
  ldr x0, =0x84000008
  hvc #0
  b .
.ltorg
