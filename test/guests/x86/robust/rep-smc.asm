; Issue 19 run time bound: REP STOSB over its own code page (64 KiB at a time). Real mode, at 0000:1000.
bits 16
org 0x1000
top:
  mov di, 0x1100
  mov cx, 0xffff
  rep stosb
  jmp top
