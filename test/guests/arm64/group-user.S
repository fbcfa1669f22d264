/* Linux user-mode wrapper of the same body, for qemu-aarch64: writes the dump to stdout. */
#include "common.inc"
.text
.global _start
_start:
  adrp x28, scratch
  add x28, x28, :lo12:scratch
  mov x29, sp
#include "group-init.inc"
#include GROUP_BODY
  adrp x28, dump
  add x28, x28, :lo12:dump
#include "group-dump.inc"
  mov x0, #1                  /* write(1, dump, 5120) */
  adrp x1, dump
  add x1, x1, :lo12:dump
  mov x2, #5120
  mov x8, #64
  svc #0
  mov x0, #0                  /* exit(0) */
  mov x8, #93
  svc #0
.bss
.balign 4096
dump: .skip 1024
scratch: .skip 4096
