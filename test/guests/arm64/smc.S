/*
 * Self-modifying code with no cache maintenance at all (the block JIT must still see every new
 * instruction at once, as the interpreter does):
 *   1. a subroutine called 20 times (so it is translated), then rewritten, then called again;
 *   2. a store rewriting the very next instruction of its own block;
 *   3. a loop rewriting its own body (the ADD immediate grows by one per iteration);
 *   4. a 64-bit store replacing two instructions at once.
 * Results: x19 = 42, x20 = 140, x21 = 99, x22 = 15, x23 = 5, x24 = 6.
 */
#include "common.inc"
.text
.global _start
_start:
  /* 1 */
  mov x20, #0
  mov x5, #20
1:
  bl sub
  add x20, x20, x0
  subs x5, x5, #1
  b.ne 1b
  adr x1, sub
  ldr w2, sub_new
  str w2, [x1]
  bl sub
  mov x19, x0
  /* 2 */
  adr x1, 2f
  ldr w2, next_new
  str w2, [x1]
2:
  movz x21, #1
  /* 3 */
  mov x22, #0
  mov x5, #5
  adr x1, 3f
3:
  add x22, x22, #1
  ldr w2, [x1]
  add w2, w2, #0x400
  str w2, [x1]
  subs x5, x5, #1
  b.ne 3b
  /* 4 */
  adr x1, 4f
  ldr x2, pair_new
  str x2, [x1]
.balign 8
4:
  movz x23, #1
  movz x24, #2
  system_off

sub:
  movz x0, #7
  ret
sub_new:
  movz x0, #42
next_new:
  movz x21, #99
.balign 8
pair_new:
  movz x23, #5
  movz x24, #6
