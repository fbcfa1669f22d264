/*
 * Data aborts outside the memslots without a valid syndrome (ISV = 0): a pair, a writeback
 * form, an exclusive, an atomic and a SIMD&FP load. With KVM_CAP_ARM_NISV_TO_USER each exits
 * with KVM_EXIT_ARM_NISV (the VMM skips it by advancing PC); without it KVM_RUN fails (ENOSYS).
 */
#include "common.inc"
.text
.global _start
_start:
  mov x0, #(3 << 20)
  msr cpacr_el1, x0
  isb
  movq x1, MMIO_BASE
  ldp x2, x3, [x1]
  stp x2, x3, [x1, #0x10]
  ldr x4, [x1, #0x20]!
  ldxr x5, [x1]
  ldadd x5, x6, [x1]
  ldr q0, [x1]
  movq x7, RAM_BASE
  str x7, [x7, #0x800]          /* RAM: no exit */
  system_off
