// Issue 19 worker races with an owner-side device: writer.S's loop plus a store to an MMIO
// register per iteration (a device on the owner's MMIO bus answers it: the access is forwarded).
// In: x1 = base of the 64 pages, x2 = start value, x4 = the device's address. MMU off.
.global _start
_start:
top:
  add x2, x2, #1
  and x3, x2, #63
  lsl x3, x3, #12
  str x2, [x1, x3]
  str w2, [x4]
  b top
