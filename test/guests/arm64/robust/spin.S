// Issue 19 run time bound: the plain case, `b .`.
.global _start
_start:
  b .
