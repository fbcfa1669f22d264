; Issue 19 lock recovery: `lock inc dword [rbx]` with rbx two bytes before a page end, so every
; increment is split across pages and runs under the VM's lock. Long mode.
; In: rbx = the address, rdi = iterations (0: 2^64 of them, i.e. forever). Ends with HLT.
bits 64
top:
  lock inc dword [rbx]
  dec rdi
  jnz top
  hlt
