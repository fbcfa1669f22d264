/*
 * Stage-1 MMU: 4K granule, 39-bit VAs (T0SZ = T1SZ = 25, walks start at level 1). TTBR0 maps
 * RAM flat (2 MiB blocks) except 0x40200000-0x403fffff, which is 4K pages with assorted
 * attributes; TTBR1 maps 0xffffff8040200000 onto the same pages. Faults are logged by
 * vectors.inc (log at RAM_BASE + 0x20000); results in x19.. and the page-table area.
 */
#include "common.inc"
#include "mmu.inc"
#define PT      (RAM_BASE + 0x100000)   /* L1 (TTBR0) */
#define PT_L2   (PT + 0x1000)
#define PT_L3   (PT + 0x2000)
#define PT1     (PT + 0x3000)           /* L1 (TTBR1) */
#define PT1_L2  (PT + 0x4000)
#define PAGES   (RAM_BASE + 0x200000)
/* descriptor bits */
#define VALID   1
#define PAGE    3
#define AP_RO   (2 << 6)
#define PXN     (1 << 53)
#define GP      (1 << 50)               /* BTI guarded page: not an address bit */
#define DBM     (1 << 51)               /* dirty bit modifier (Linux's PTE_WRITE): not an address bit */
#define OA48    (1 << 48)               /* an output-address bit beyond a 48-bit PA */

.text
.global _start
_start:
  adr x0, vectors
  msr vbar_el1, x0
  movq x20, (RAM_BASE + 0x20000)
  movq x23, (RAM_BASE + 0x20000)
  /* tables (RAM is zero: every other entry is invalid) */
  put_desc PT, 1, (PT_L2 | TABLE)
  put_desc PT_L2, 0, (RAM_BASE | BLOCK | AF | SH_IS)               /* code, data, log */
  put_desc PT_L2, 1, (PT_L3 | TABLE)
  put_desc PT_L3, 0, ((PAGES + 0x0000) | PAGE | AF | SH_IS)         /* A: RW */
  put_desc PT_L3, 1, ((PAGES + 0x1000) | PAGE | AF | SH_IS | AP_RO) /* B: read-only */
  put_desc PT_L3, 2, ((PAGES + 0x2000) | PAGE | SH_IS)              /* C: AF = 0 */
  /* D (index 3) invalid */
  put_desc PT_L3, 4, ((PAGES + 0x4000) | PAGE | AF | SH_IS | AP_EL0) /* E: EL0 RW (so PXN) */
  put_desc PT_L3, 5, ((PAGES + 0x5000) | PAGE | AF | ATTR_DEV)      /* F: Device-nGnRnE */
  put_desc PT_L3, 6, ((PAGES + 0x6000) | PAGE | AF | SH_IS | GP | DBM) /* G: RW, GP and DBM set */
  put_desc PT_L3, 7, ((PAGES + 0x7000) | PAGE | AF | SH_IS | OA48)  /* H: address size fault */
  put_desc PT1, 0, (PT1_L2 | TABLE)
  put_desc PT1_L2, 1, (PAGES | BLOCK | AF | SH_IS | GP | DBM)      /* HIGH + 2 MiB -> PAGES */
  mmu_on PT, PT1

  movq x2, PAGES
  movq x3, 0x1122334455667788
  str x3, [x2]                        /* A through TTBR0 */
  movq x4, (HIGH + 0x200000)
  ldr x19, [x4]                       /* the same bytes through TTBR1 */
  movq x5, 0x0badc0de
  str x5, [x4, #8]
  ldr x24, [x2, #8]
  ldr x25, [x2, #3]                   /* unaligned, Normal memory: fine */

  add x6, x2, #0x1000                 /* B: read-only */
  ldr x26, [x6]
  adr x21, 1f
  mov x22, x6
1:str x3, [x6]                        /* permission fault, level 3 */

  add x6, x2, #0x2000                 /* C: access flag fault */
  adr x21, 1f
  mov x22, x6
1:ldr x1, [x6]

  add x6, x2, #0x3000                 /* D: translation fault, level 3 */
  adr x21, 1f
  mov x22, x6
1:ldr x1, [x6]

  movq x6, (RAM_BASE + 0x600000)      /* no L2 entry: translation fault, level 2 */
  adr x21, 1f
  mov x22, x6
1:ldr x1, [x6]

  movq x6, 0x0000008000000000         /* beyond T0SZ: translation fault, level 0 */
  adr x21, 1f
  mov x22, x6
1:ldr x1, [x6]

  movq x6, (PAGES + 0x5001)           /* F: Device memory, unaligned: alignment fault */
  adr x21, 1f
  mov x22, x6
1:ldr x1, [x6]

  add x6, x2, #0x6000                 /* G: GP and DBM are no address bits */
  movq x7, 0x6666
  str x7, [x6]
  ldr x28, [x6]
  add x6, x2, #0x7000                 /* H: OA bit 48 set: AT reports an address size fault */
  at s1e1r, x6
  isb
  mrs x29, par_el1

  at s1e1r, x2                        /* AT: PAR_EL1 */
  isb
  mrs x27, par_el1
  add x6, x2, #0x1000
  at s1e1w, x6
  isb
  mrs x17, par_el1

  add x6, x2, #0x4000                 /* E: EL0-writable, so PXN at EL1 */
  movq x7, 0xd65f03c0                 /* ret */
  str w7, [x6]
  adr x18, 2f
  mov x21, x6
  mov x22, x6
  blr x6                              /* instruction abort, permission fault */
2:
  /* map D, TLBI, then it reads */
  put_desc PT_L3, 3, ((PAGES + 0x3000) | PAGE | AF | SH_IS)
  add x6, x2, #0x3000
  dsb ishst
  lsr x7, x6, #12
  tlbi vae1, x7
  dsb ish
  isb
  mov w8, #0x77
  strb w8, [x6]
  ldrb w16, [x6]

  /* EL0: reads EL0-accessible E, faults on EL1-only A */
  adr x18, 3f
  movq x3, (RAM_BASE + 0x38000)
  msr sp_el0, x3
  msr spsr_el1, xzr
  adr x3, 4f
  msr elr_el1, x3
  eret
4:add x6, x2, #0x4000
  ldr w4, [x6]
  adr x21, 5f
  mov x22, x2
5:ldr x1, [x2]                        /* permission fault from EL0 */
  adr x21, 6f + 4
6:svc #0xff
3:
  sub x0, x20, x23
  lsr x0, x0, #6
  mov x13, x0
  system_off

#include "vectors.inc"
