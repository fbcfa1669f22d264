/*
 * Reads CNTVCT_EL0 and CNTPCT_EL0 four times, 1000 loop iterations apart, into RAM_BASE + 0x30000
 * (test/arm64/iobus.test.ts: the deterministic clock gives the same values on every run), then
 * PSCI SYSTEM_OFF.
 */
#include "common.inc"
.text
.global _start
_start:
  movq x1, (RAM_BASE + 0x30000)
  mov x3, #4
1:mov x2, #1000
2:subs x2, x2, #1
  b.ne 2b
  mrs x0, cntvct_el0
  mrs x4, cntpct_el0
  stp x0, x4, [x1], #16
  subs x3, x3, #1
  b.ne 1b
  system_off
