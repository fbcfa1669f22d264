; Issue 19 worker races with an owner-side device: writer.asm's loop plus an OUT to port 0x80 per
; store (a device on the owner's PIO bus answers it: the worker's access is forwarded to the owner).
; Long mode. In: rbx = base of the 64 pages, rcx = start value.
bits 64
top:
  inc rcx
  mov rax, rcx
  and rax, 63
  shl rax, 12
  mov [rbx + rax], rcx
  out 0x80, al
  jmp top
