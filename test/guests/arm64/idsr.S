/*
 * Implementation-defined system registers (op0 = 3, CRn = 11 or 15): with
 * KVM_CAP_ARM_IDSR_TO_USER each EL1 access exits (KVM_EXIT_ARM_IDSR); the VMM handles the first
 * read and the write and refuses the second read (UNDEF at the vector, logged by vectors.inc).
 * From EL0 the access is UNDEFINED without an exit. x1 = value read, x5 = a value read at EL1
 * after the EL0 part, x19 = log records.
 */
#include "common.inc"
.text
.global _start
_start:
  adr x0, vectors
  msr vbar_el1, x0
  movq x20, (RAM_BASE + 0x20000)
  movq x23, (RAM_BASE + 0x20000)
  isb
  mrs x1, s3_0_c15_c0_0         /* handled read: x1 = regval */
  movq x2, 0xdeadbeefcafef00d
  msr s3_1_c11_c2_3, x2         /* handled write */
  adr x21, 1f
1:mrs x3, s3_2_c15_c1_1         /* refused: UNDEF */
  /* EL0 */
  adr x18, 2f
  movq x4, (RAM_BASE + 0x38000)
  msr sp_el0, x4
  msr spsr_el1, xzr
  adr x4, 3f
  msr elr_el1, x4
  eret
3:adr x21, 4f
4:mrs x4, s3_0_c15_c0_0         /* EL0: UNDEF, no exit */
  adr x21, 5f + 4
5:svc #0xff
2:mrs x5, s3_7_c15_c15_7        /* one more handled read */
  sub x19, x20, x23
  lsr x19, x19, #6
  system_off
#include "vectors.inc"
