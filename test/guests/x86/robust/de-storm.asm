; Issue 19 run time bound: a real-mode #DE storm. Loaded at 0000:1000 with IVT[0] pointing at
; 0000:1000 itself, so the handler divides by zero again, forever (the stack wraps inside SS).
bits 16
org 0x1000
  xor cx, cx
  div cx
