; Issue 19 run time bound: the plain case, `jmp $`.
bits 16
  jmp $
