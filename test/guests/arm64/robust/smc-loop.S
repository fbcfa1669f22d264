// Issue 19 run time bound: a loop storing into its own code page. In: x0 = an address in it.
.global _start
_start:
top:
  str w1, [x0]
  b top
