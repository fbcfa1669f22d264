/*
 * The guest's own breakpoint around a host debug session. The guest arms DBGBVR0/DBGBCR0 on
 * own_fn and enables monitor debug; an MMIO write hands over to the VMM, which starts
 * debugging with USE_HW (its own breakpoint on host_bp). Meanwhile the guest reads back its
 * registers (x25 = DBGBVR0, x26 = DBGBCR0), calls own_fn (no exception: the hardware holds the
 * host's registers), and writes DBGBVR1. The VMM stops debugging at host_bp; then DBGBVR1 reads
 * back (x27) and the guest's breakpoint fires on own_fn (logged by vectors.inc).
 * Label offsets at +8: [own_fn, host_bp].
 */
#include "common.inc"
.text
.global _start
_start:
  b start
  .balign 8
  .quad own_fn - _start, host_bp - _start
start:
  adr x0, vectors
  msr vbar_el1, x0
  movq x20, (RAM_BASE + 0x20000)
  movq x23, (RAM_BASE + 0x20000)
  adr x1, own_fn
  msr dbgbvr0_el1, x1
  ldr x1, =((0xf << 5) | (1 << 1) | 1)
  msr dbgbcr0_el1, x1
  mrs x1, mdscr_el1
  mov x2, #((1 << 13) | (1 << 15))
  orr x1, x1, x2
  msr mdscr_el1, x1
  msr daifclr, #8
  isb
  movq x3, MMIO_BASE
  str xzr, [x3]                 /* the VMM starts debugging here */
  mrs x25, dbgbvr0_el1
  mrs x26, dbgbcr0_el1
  adr x21, own_fn
  bl own_fn                     /* must not trap while the host owns the hardware */
  movq x4, 0x40001230
  msr dbgbvr1_el1, x4
  isb
host_bp:
  nop
  mrs x27, dbgbvr1_el1
  bl own_fn                     /* the guest's breakpoint is back */
  sub x19, x20, x23
  lsr x19, x19, #6
  system_off

own_fn:
  nop
  ret
.ltorg
#include "vectors.inc"
