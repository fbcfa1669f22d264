/*
 * Bare-metal wrapper of an instruction-group body (GROUP_BODY): EL1, MMU off, FP enabled.
 * Result dump at RAM_BASE + 0x10000: x0-x27, NZCV, V0-V31 (1 KiB), then the 4 KiB scratch buffer
 * (x28 points at it), exactly what group-user.S writes under qemu-aarch64.
 */
#include "common.inc"
.text
.global _start
_start:
  mov x0, #(3 << 20)
  msr cpacr_el1, x0           /* FP/SIMD on at EL1 and EL0 */
  isb
  movq x28, (RAM_BASE + 0x10400)
  movq x29, (RAM_BASE + 0x30000)
  mov sp, x29
#include "group-init.inc"
#include GROUP_BODY
  movq x28, (RAM_BASE + 0x10000)
#include "group-dump.inc"
  system_off
