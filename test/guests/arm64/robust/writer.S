// Issue 19 worker races: stores an ever-increasing counter into 64 pages, round robin, forever.
// In: x1 = base of the 64 pages (a memslot of its own), x2 = start value. MMU off.
.global _start
_start:
top:
  add x2, x2, #1
  and x3, x2, #63
  lsl x3, x3, #12
  str x2, [x1, x3]
  b top
