/*
 * Guest memory behaviour: self-modifying code (with the architected cache maintenance), dirty
 * logging across KVM_RUNs, a read-only memslot (writes become MMIO exits, reads work).
 * x3 = the patched instruction's result, x5 = the word read from the read-only slot.
 */
#include "common.inc"
#define DATA (RAM_BASE + 0x100000)
#define ROM  0x80000000
.text
.global _start
_start:
  adr x1, patch
  ldr w2, newinsn
  str w2, [x1]
  dc cvau, x1
  dsb ish
  ic ivau, x1
  dsb ish
  isb
patch:
  mov x0, #1                    /* becomes mov x0, #2 */
  mov x3, x0
  movq x1, DATA
  movq x6, MMIO_BASE
  str x3, [x1]                  /* dirties DATA */
  str xzr, [x6]                 /* exit: the VMM harvests the dirty log */
  str x3, [x1, #8]              /* dirties DATA again */
  str xzr, [x6, #8]             /* exit */
  movq x4, ROM
  ldr x5, [x4]
  str x5, [x4, #16]             /* read-only slot: MMIO exit */
  system_off
newinsn:
  mov x0, #2
