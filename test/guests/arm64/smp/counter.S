/*
 * SMP spinlock + counters guest (MMU off; see test/smp/). Every vCPU runs this with:
 *   x0 = iterations, x1 = base of the shared data, x2 = mode (0: LDAXR/STXR spinlock,
 *   1: LSE SWPA lock, 2: no lock, 3: LSE CASA lock), x3 = this vCPU's index,
 *   x4 = number of vCPUs (the start barrier waits for all), x5 = where to write when done (MMIO).
 * Per iteration: take the lock (counting failed attempts), increment a plain counter with an
 * ordinary load/add/store, release with STLR; then bump atomic counters with exclusives and LSE.
 */
#include "common.inc"

#define LOCKW   0x000   /* the lock (word) */
#define ARRIVED 0x008   /* start barrier (doubleword) */
#define PLAIN   0x040   /* plain counter, under the lock */
#define EXCL64  0x080   /* LDXR/STXR increment loop */
#define LDADD64 0x0c0   /* LDADDAL */
#define STADD32 0x100   /* STADD (word) */
#define CAS64   0x140   /* CASAL increment loop */
#define PAIR128 0x180   /* LDXP/STXP of two doublewords: +1, +2 */
#define CASP32  0x1c0   /* CASP of two words: +1, +3 */
#define EXCL16  0x200   /* LDXRH/STXRH increment loop */
#define CASP64  0x240   /* CASP of two doublewords: +1, +5 */
#define FAILS   0x400   /* failed lock attempts, one doubleword per vCPU */

.text
.global _start
_start:
  add x15, x1, #FAILS
  add x15, x15, x3, lsl #3        /* x15: this vCPU's failure counter */
  add x11, x1, #ARRIVED
  mov x9, #1
  ldaddal x9, x10, [x11]
barrier:
  ldar x10, [x11]
  cmp x10, x4
  b.lo barrier

loop:
  cmp x2, #2
  b.eq locked
  cmp x2, #1
  b.eq spin_swp
  cmp x2, #3
  b.eq spin_cas
spin_ex:
  ldaxr w10, [x1]
  cbnz w10, busy_ex
  mov w12, #1
  stxr w13, w12, [x1]
  cbnz w13, spin_ex               /* lost the reservation: try again */
  b locked
busy_ex:
  clrex
  bl failed
  b spin_ex
spin_swp:
  mov w12, #1
  swpa w12, w10, [x1]
  cbz w10, locked
  bl failed
  b spin_swp
spin_cas:
  mov w10, #0
  mov w12, #1
  casa w10, w12, [x1]
  cbz w10, locked
  bl failed
  b spin_cas

locked:
  ldr x10, [x1, #PLAIN]           /* the critical section: a plain, non-atomic increment */
  add x10, x10, #1
  str x10, [x1, #PLAIN]
  cmp x2, #2
  b.eq atomics
  stlr wzr, [x1]                  /* release */
atomics:
  add x11, x1, #EXCL64
1: ldxr x10, [x11]
  add x10, x10, #1
  stxr w13, x10, [x11]
  cbnz w13, 1b

  add x11, x1, #LDADD64
  mov x12, #1
  ldaddal x12, x10, [x11]

  add x11, x1, #STADD32
  mov w12, #1
  stadd w12, [x11]

  add x11, x1, #CAS64
2: ldr x10, [x11]
  add x12, x10, #1
  mov x13, x10
  casal x13, x12, [x11]
  cmp x13, x10
  b.ne 2b

  add x11, x1, #PAIR128
3: ldxp x10, x12, [x11]
  add x10, x10, #1
  add x12, x12, #2
  stxp w13, x10, x12, [x11]
  cbnz w13, 3b

  add x11, x1, #CASP32
4: ldp w16, w17, [x11]
  mov w6, w16
  mov w7, w17
  add w20, w16, #1
  add w21, w17, #3
  casp w6, w7, w20, w21, [x11]
  cmp w6, w16
  b.ne 4b
  cmp w7, w17
  b.ne 4b

  add x11, x1, #EXCL16
5: ldxrh w10, [x11]
  add w10, w10, #1
  stxrh w13, w10, [x11]
  cbnz w13, 5b

  add x11, x1, #CASP64
6: ldp x16, x17, [x11]
  mov x6, x16
  mov x7, x17
  add x20, x16, #1
  add x21, x17, #5
  casp x6, x7, x20, x21, [x11]
  cmp x6, x16
  b.ne 6b
  cmp x7, x17
  b.ne 6b

  subs x0, x0, #1
  b.ne loop
  str w3, [x5]                    /* done: an MMIO write exit */
  b .

failed:
  ldr x14, [x15]
  add x14, x14, #1
  str x14, [x15]
  ret
