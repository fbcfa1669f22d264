/*
 * qemu-aarch64 side of the differential test (built at test time, static, run in user mode).
 * A block runs between a prologue that loads X0-X30 and NZCV from the state array at SP and an
 * epilogue that stores them back and returns through state[32]. State layout (u64):
 *   [0..30] X0-X30, [31] NZCV, [32] return address.
 */
.text
.global pro_start, pro_end, epi_start, epi_end, run_block

pro_start:
  ldr x0, [sp, #248]
  msr nzcv, x0
  ldp x0, x1, [sp, #0]
  ldp x2, x3, [sp, #16]
  ldp x4, x5, [sp, #32]
  ldp x6, x7, [sp, #48]
  ldp x8, x9, [sp, #64]
  ldp x10, x11, [sp, #80]
  ldp x12, x13, [sp, #96]
  ldp x14, x15, [sp, #112]
  ldp x16, x17, [sp, #128]
  ldp x18, x19, [sp, #144]
  ldp x20, x21, [sp, #160]
  ldp x22, x23, [sp, #176]
  ldp x24, x25, [sp, #192]
  ldp x26, x27, [sp, #208]
  ldp x28, x29, [sp, #224]
  ldr x30, [sp, #240]
pro_end:

epi_start:
  stp x0, x1, [sp, #0]
  stp x2, x3, [sp, #16]
  stp x4, x5, [sp, #32]
  stp x6, x7, [sp, #48]
  stp x8, x9, [sp, #64]
  stp x10, x11, [sp, #80]
  stp x12, x13, [sp, #96]
  stp x14, x15, [sp, #112]
  stp x16, x17, [sp, #128]
  stp x18, x19, [sp, #144]
  stp x20, x21, [sp, #160]
  stp x22, x23, [sp, #176]
  stp x24, x25, [sp, #192]
  stp x26, x27, [sp, #208]
  stp x28, x29, [sp, #224]
  str x30, [sp, #240]
  mrs x0, nzcv
  str x0, [sp, #248]
  ldr x30, [sp, #256]
  ret
epi_end:

/* void run_block(uint64_t *state, void *code) */
run_block:
  stp x29, x30, [sp, #-112]!
  stp x19, x20, [sp, #16]
  stp x21, x22, [sp, #32]
  stp x23, x24, [sp, #48]
  stp x25, x26, [sp, #64]
  stp x27, x28, [sp, #80]
  mov x9, sp
  adrp x10, saved_sp
  str x9, [x10, :lo12:saved_sp]
  adr x10, 1f
  str x10, [x0, #256]
  mov sp, x0
  br x1
1:adrp x10, saved_sp
  ldr x9, [x10, :lo12:saved_sp]
  mov sp, x9
  ldp x19, x20, [sp, #16]
  ldp x21, x22, [sp, #32]
  ldp x23, x24, [sp, #48]
  ldp x25, x26, [sp, #64]
  ldp x27, x28, [sp, #80]
  ldp x29, x30, [sp], #112
  ret

.bss
.balign 8
saved_sp: .skip 8
