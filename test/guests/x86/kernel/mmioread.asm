; MMIO loads that leave a block without unwinding (X86Mmu.readLinSoft): MOV/MOVZX/MOVSX/MOVSXD
; to a register (1/2/4/8 bytes, a byte register, the address register as destination), CMP and
; TEST with a memory operand; results and flags stored at R8, three rounds (R15). RBX = the MMIO
; base (low or kernel-half linear address), R10 = CMP operand. test/x86/mmio-read.test.ts runs it.
bits 64
top:
  mov eax, [rbx]
  mov rcx, [rbx+8]
  movzx edx, byte [rbx+1]
  movsx rsi, word [rbx+2]
  movsxd rdi, dword [rbx+4]
  mov r12b, [rbx+5]
  mov [r8], rax
  mov [r8+8], rcx
  mov [r8+16], rdx
  mov [r8+24], rsi
  mov [r8+32], rdi
  mov [r8+40], r12
  cmp dword [rbx+12], 0x2d
  pushfq
  pop r9
  mov [r8+48], r9
  test byte [rbx+13], 0x80
  pushfq
  pop r9
  mov [r8+56], r9
  cmp r10, [rbx+16]
  pushfq
  pop r9
  mov [r8+64], r9
  mov r11, rbx
  mov rbx, [rbx]
  mov [r8+72], rbx
  mov rbx, r11
  add r8, 80
  dec r15
  jnz top
  hlt
