/*
 * Host-driven single step over emulated system-register writes, after Part B of KVM's
 * arm64/debug-exceptions.c selftest: for i = 0..N-1 an MMIO write of i hands over to the VMM
 * (which turns single-step on), then iter_ss_begin..iter_ss_end writes i << 2 to DBGBVR0_EL1
 * and DBGWVR0_EL1 and reads both back; a mismatch is reported by an MMIO write to +8.
 * x20/x21 = iter_ss_begin/iter_ss_end; N in x22 (set by the VMM).
 */
#include "common.inc"
.text
.global _start
_start:
  adr x20, iter_ss_begin
  adr x21, iter_ss_end
  movq x3, MMIO_BASE
  mov x10, #0
1:str x10, [x3]
iter_ss_begin:
  nop
  lsl x11, x10, #2
  msr dbgbvr0_el1, x11
  msr dbgwvr0_el1, x11
  mrs x12, dbgbvr0_el1
  mrs x13, dbgwvr0_el1
iter_ss_end:
  cmp x12, x11
  b.ne 2f
  cmp x13, x11
  b.ne 2f
  add x10, x10, #1
  cmp x10, x22
  b.ne 1b
  system_off
2:str x10, [x3, #8]
  system_off
