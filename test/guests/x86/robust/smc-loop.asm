; Issue 19 run time bound: a loop storing into its own code page. Real mode, at 0000:1000.
bits 16
org 0x1000
top:
  inc byte [0x1100]
  jmp top
