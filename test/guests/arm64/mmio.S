/*
 * MMIO through data aborts with a valid syndrome (ISV): loads of every size, signed and
 * unsigned, into W and X registers, and stores of every size. The VMM answers reads with
 * data; the loaded registers are checked at SYSTEM_OFF (x4-x27 are not touched by it).
 */
#include "common.inc"
.text
.global _start
_start:
  movq x1, MMIO_BASE
  ldrb w4, [x1]                 /* 1 byte */
  ldrh w5, [x1, #0x10]          /* 2 bytes */
  ldr w6, [x1, #0x20]           /* 4 bytes, zero-extended */
  ldr x7, [x1, #0x30]           /* 8 bytes */
  ldrsb w8, [x1, #0x40]         /* sign-extended to 32 bits (upper 32 zero) */
  ldrsb x9, [x1, #0x50]         /* sign-extended to 64 bits */
  ldrsh w10, [x1, #0x60]
  ldrsh x11, [x1, #0x70]
  ldrsw x12, [x1, #0x80]
  ldur x13, [x1, #-8]           /* unscaled offset */
  mov x2, #0x90
  ldr w14, [x1, x2]             /* register offset */
  ldar x15, [x1]                /* load-acquire: still a valid syndrome */
  ldtr w16, [x1, #0xa0]         /* unprivileged */
  movq x17, 0x1122334455667788
  strb w17, [x1, #0xb0]
  strh w17, [x1, #0xc0]
  str w17, [x1, #0xd0]
  str x17, [x1, #0xe0]
  stlr x17, [x1]
  str xzr, [x1, #0xf0]
  ldr xzr, [x1, #0x100]         /* Rt = XZR: the data is dropped */
  system_off
