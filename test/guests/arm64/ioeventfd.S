/*
 * Ioeventfds hit by guest stores (see test/arm64/ioeventfd.test.ts): MMIO writes the VMM has an
 * ioeventfd for complete without an exit; the rest exit as usual.
 *   1. EL1, MMU off:  STR w (0x1234) to MMIO_BASE        -> datamatch hit, no exit
 *                     STR w (0x99)   to MMIO_BASE        -> no match: KVM_EXIT_MMIO
 *   2. EL1, MMU on, through the kernel half (TTBR1, VA 0xffffff8009000010):
 *                     STR x (0x1122334455667788)         -> 8-byte datamatch hit, no exit
 *   3. EL0 (TTBR0, the MMIO block EL0-writable): STRH (0xbeef) to MMIO_BASE + 0x20 -> wildcard hit
 *      then SVC #0xff back to EL1 (vectors.inc), and PSCI SYSTEM_OFF.
 * x19 counts the stores done, so the test can tell the guest went through all of them.
 */
#include "common.inc"
#include "mmu.inc"
#define PT      (RAM_BASE + 0x100000)   /* L1 (TTBR0) */
#define PT_L2M  (PT + 0x1000)           /* L2 for 0-1 GiB: the MMIO block */
#define PT_L2R  (PT + 0x2000)           /* L2 for 1-2 GiB: RAM */
#define PT1     (PT + 0x3000)           /* L1 (TTBR1) */
#define PT1_L2  (PT + 0x4000)
#define XN      ((1 << 54) | (1 << 53))
#define MMIO_L2 (MMIO_BASE >> 21)

.text
.global _start
_start:
  adr x0, vectors
  msr vbar_el1, x0
  movq x20, (RAM_BASE + 0x20000)      /* exception log (vectors.inc) */
  mov x19, #0
  movq x1, MMIO_BASE
  /* 1. physical addresses */
  mov w2, #0x1234
  str w2, [x1]
  add x19, x19, #1
  mov w2, #0x99
  str w2, [x1]
  add x19, x19, #1
  /* 2. the MMU on; the MMIO block through TTBR1 (kernel half) and TTBR0 (EL0 RW) */
  put_desc PT, 0, (PT_L2M | TABLE)
  put_desc PT, 1, (PT_L2R | TABLE)
  put_desc PT_L2M, MMIO_L2, (MMIO_BASE | BLOCK | AF | ATTR_DEV | AP_EL0 | XN)
  put_desc PT_L2R, 0, (RAM_BASE | BLOCK | AF | SH_IS)
  put_desc PT1, 0, (PT1_L2 | TABLE)
  put_desc PT1_L2, MMIO_L2, (MMIO_BASE | BLOCK | AF | ATTR_DEV | XN)
  mmu_on PT, PT1
  movq x3, (HIGH + MMIO_BASE + 0x10)
  movq x4, 0x1122334455667788
  str x4, [x3]
  add x19, x19, #1
  /* 3. EL0 */
  adr x18, 3f                         /* where SVC #0xff resumes at EL1 */
  movq x3, (RAM_BASE + 0x38000)
  msr sp_el0, x3
  msr spsr_el1, xzr
  adr x3, 4f
  msr elr_el1, x3
  eret
4:movq x5, (MMIO_BASE + 0x20)
  mov w6, #0xbeef
  strh w6, [x5]
  add x19, x19, #1
  svc #0xff
3:system_off

#include "vectors.inc"
