; Issue 19 worker races: stores an ever-increasing counter into 64 pages, round robin, forever.
; Long mode. In: rbx = base of the 64 pages (a memslot of its own), rcx = start value.
; Each page's first quadword ends up holding the last counter value stored there, so a copy of the
; pages taken through the dirty log can be checked against the memory itself.
bits 64
top:
  inc rcx
  mov rax, rcx
  and rax, 63
  shl rax, 12
  mov [rbx + rax], rcx
  jmp top
