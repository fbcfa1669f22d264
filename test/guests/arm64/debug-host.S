/*
 * Targets for host-side debugging (KVM_SET_GUEST_DEBUG). A table of label offsets sits right
 * after the first branch, so the VMM knows where to put breakpoints:
 *   [+8] bp_target, [+16] st_target, [+24] ld_target, [+32] step_start, [+40] brk_site,
 *   [+48] data (8-byte aligned, in RAM)
 */
#include "common.inc"
.text
.global _start
_start:
  b start
  .balign 8
  .quad bp_target - _start, st_target - _start, ld_target - _start, step_start - _start, brk_site - _start, data - _start
start:
  adr x2, data
  movq x1, 0x1234
bp_target:
  nop
  add x3, x1, #1
st_target:
  str x1, [x2]
ld_target:
  ldr x4, [x2, #8]
step_start:
  mov x5, #1
  add x5, x5, #2
  lsl x5, x5, #3
  mov x6, x5
  sub x6, x6, #7
brk_site:
  brk #0x42
  mov x7, #7
  system_off
.balign 16
data: .quad 0, 0x5555aaaa5555aaaa
