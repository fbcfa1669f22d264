/*
 * Entry of the arm64 benchmark guest, linked at 0x40000000 and entered at EL1 with the MMU off:
 * x0 = rounds, x1 = kernel mask (work.h). The checksum goes to x4, then PSCI SYSTEM_OFF (KVM
 * returns X0-X3 from the SMCCC call). x1 = 0xffffffff instead loops on a 32-bit store to
 * 0x09000000 (outside RAM): one KVM_EXIT_MMIO per iteration, for the exit round trip.
 */
.section .text.start, "ax"
.global _start
_start:
  ldr x2, =stack_top
  mov sp, x2
  mov w2, #-1
  cmp w1, w2
  b.eq 2f
  bl workload
  mov w4, w0
  ldr x0, =0x84000008
  hvc #0
  b .
2:
  ldr x3, =0x09000000
3:
  str wzr, [x3]
  b 3b
.ltorg
