/*
 * The SMCCC services KVM serves in the kernel (test/arm64/hypercalls.test.ts): SMCCC_VERSION and
 * ARCH_FEATURES, TRNG, the KVM vendor calls (UID, features, PTP) and PV time. Each call's X0-X3
 * go to a 32-byte slot at OUT + 32 * n.
 *   1. EL1, MMU off: the calls below (slots 0-21, and 28 through SMC); CNTVCT/CNTPCT around the
 *      PTP calls (slot 30).
 *   2. If PV_TIME_ST gave an address: the structure's revision, attributes and stolen_time
 *      (slot 24), an MMIO write to MMIO_BASE (so the VMM sees an exit and enters KVM_RUN again),
 *      stolen_time again (slot 25).
 *   3. EL1, MMU on: stolen_time through the kernel half (TTBR1, HIGH + the structure's IPA) and
 *      PV_TIME_FEATURES / PV_TIME_ST again (slot 26).
 *   4. EL0: HVC is UNDEFINED there (vectors.inc logs the exception at LOG; X0 is left as it was,
 *      slot 27), then SVC #0xff back to EL1 and PSCI SYSTEM_OFF.
 * x19 counts the phases done.
 */
#include "common.inc"
#include "mmu.inc"
#define OUT     (RAM_BASE + 0x20000)
#define LOG     (RAM_BASE + 0x28000)
#define PT      (RAM_BASE + 0x100000)   /* L1 (TTBR0) */
#define PT_L2R  (PT + 0x1000)           /* L2 for 1-2 GiB: RAM */
#define PT1     (PT + 0x2000)           /* L1 (TTBR1) */
#define PT1_L2  (PT + 0x3000)

#define SMCCC_VERSION       0x80000000
#define SMCCC_ARCH_FEATURES 0x80000001
#define SMCCC_ARCH_WA_1     0x80008000
#define TRNG_VERSION        0x84000050
#define TRNG_FEATURES       0x84000051
#define TRNG_GET_UUID       0x84000052
#define TRNG_RND32          0x84000053
#define TRNG_RND64          0xc4000053
#define KVM_UID             0x8600ff01
#define KVM_FEATURES        0x86000000
#define KVM_PTP             0x86000001
#define PV_TIME_FEATURES    0xc5000020
#define PV_TIME_ST          0xc5000021

/* hvc #0 with x0 = \fn, x1 = \a1; X0-X3 to slot \slot. Clobbers x0-x3, x9. */
.macro call fn, a1=0, slot
  movq x0, \fn
  movq x1, \a1
  mov x2, xzr
  mov x3, xzr
  hvc #0
  movq x9, (OUT + 32 * \slot)
  stp x0, x1, [x9]
  stp x2, x3, [x9, #16]
.endm

/* The same through SMC #0 (the other SMCCC conduit). */
.macro call_smc fn, a1=0, slot
  movq x0, \fn
  movq x1, \a1
  mov x2, xzr
  mov x3, xzr
  smc #0
  movq x9, (OUT + 32 * \slot)
  stp x0, x1, [x9]
  stp x2, x3, [x9, #16]
.endm

.text
.global _start
_start:
  adr x0, vectors
  msr vbar_el1, x0
  movq x20, LOG
  mov x19, #0
  /* 1. the calls */
  call SMCCC_VERSION, slot=0
  call SMCCC_ARCH_FEATURES, PV_TIME_FEATURES, slot=1
  call SMCCC_ARCH_FEATURES, TRNG_RND64, slot=2
  call TRNG_VERSION, slot=3
  call TRNG_FEATURES, TRNG_RND64, slot=4
  call TRNG_FEATURES, KVM_PTP, slot=5
  call TRNG_GET_UUID, slot=6
  call TRNG_RND32, 96, slot=7
  call TRNG_RND32, 97, slot=8
  call TRNG_RND64, 192, slot=9
  call TRNG_RND64, 193, slot=10
  call TRNG_RND64, 8, slot=11
  call KVM_UID, slot=12
  call KVM_FEATURES, slot=13
  mrs x4, cntvct_el0
  mrs x5, cntpct_el0
  call KVM_PTP, 0, slot=14
  call KVM_PTP, 1, slot=15
  mrs x6, cntvct_el0
  mrs x7, cntpct_el0
  movq x9, (OUT + 32 * 30)
  stp x4, x5, [x9]
  stp x6, x7, [x9, #16]
  call KVM_PTP, 2, slot=16
  call PV_TIME_FEATURES, PV_TIME_ST, slot=17
  call PV_TIME_FEATURES, TRNG_RND64, slot=18
  call PV_TIME_ST, slot=19
  mov x21, x0                          /* the structure's IPA, or -1 */
  call 0xc6000005, slot=20             /* no such vendor call */
  call SMCCC_ARCH_WA_1, slot=21        /* not a call: the workarounds are only features */
  call_smc KVM_UID, slot=28
  add x19, x19, #1
  /* 2. the structure, before and after another KVM_RUN */
  cmn x21, #1
  b.eq 5f
  ldp w4, w5, [x21]
  ldr x6, [x21, #8]
  movq x9, (OUT + 32 * 24)
  stp x4, x5, [x9]
  str x6, [x9, #16]
  movq x1, MMIO_BASE
  str xzr, [x1]
  ldr x6, [x21, #8]
  movq x9, (OUT + 32 * 25)
  str x6, [x9]
5:add x19, x19, #1
  /* 3. the MMU on: RAM through TTBR0 (identity) and TTBR1 (the kernel half) */
  put_desc PT, 1, (PT_L2R | TABLE)
  put_desc PT_L2R, 0, (RAM_BASE | BLOCK | AF | SH_IS)
  put_desc PT1, 1, (PT1_L2 | TABLE)
  put_desc PT1_L2, 0, (RAM_BASE | BLOCK | AF | SH_IS)
  mmu_on PT, PT1
  call PV_TIME_FEATURES, PV_TIME_FEATURES, slot=22
  call PV_TIME_ST, slot=23
  cmn x21, #1
  b.eq 6f
  movq x3, HIGH
  add x3, x3, x21
  ldr x6, [x3, #8]
  movq x9, (OUT + 32 * 26)
  str x6, [x9]
6:add x19, x19, #1
  /* 4. EL0 */
  adr x18, 3f                          /* where SVC #0xff resumes at EL1 */
  movq x3, (RAM_BASE + 0x38000)
  msr sp_el0, x3
  msr spsr_el1, xzr
  adr x3, 4f
  msr elr_el1, x3
  eret
4:movq x0, SMCCC_VERSION
  hvc #0                               /* UNDEFINED at EL0: logged, skipped */
  svc #0xff
3:movq x9, (OUT + 32 * 27)
  str x0, [x9]                         /* still the function id: no call was made */
  add x19, x19, #1
  system_off

#include "vectors.inc"
