/*
 * SGIs between two vCPUs: vCPU 0 powers vCPU 1 on (PSCI CPU_ON), then they ping-pong: SGI 2 from
 * vCPU 0 to vCPU 1 (ICC_SGI1R_EL1 with a target list), SGI 1 back (with IRM: every other vCPU).
 * SGI 3 tells vCPU 1 to power itself off (PSCI CPU_OFF); vCPU 0 waits for AFFINITY_INFO to say so.
 * Both wait for interrupts in WFI.
 */
#include "irq.inc"
#define READY   (DATA + 0)
#define PONGS   (DATA + 8)
#define PINGS   (DATA + 16)
#define QUIT    (DATA + 24)
#define ROUNDS  50

main:
  mov x27, x30
  puts "sgi\n"
  mov w0, #1
  bl irq_enable
  msr daifclr, #2
  movq x20, READY
  mov x0, #1
  bl start_secondary
  mov x21, x0
  puts "cpu_on "
  mov x0, x21
  bl putdec
  putc '\n'
1:ldr x0, [x20]
  cbz x0, 1b
  mov x22, #0
ping:
  add x22, x22, #1
  movq x0, (2 << 24) | 2          /* SGI 2, Aff0 target list {1} */
  msr s3_0_c12_c11_5, x0          /* ICC_SGI1R_EL1 */
  wait_at_least x20, 8, x22
  cmp x22, #ROUNDS
  b.lo ping
  puts "pongs "
  ldr x0, [x20, #8]
  bl putdec
  puts ", pings seen by cpu1 "
  ldr x0, [x20, #16]
  bl putdec
  putc '\n'
  movq x0, (3 << 24) | 2
  msr s3_0_c12_c11_5, x0
1:movq x0, PSCI_AFF_INFO64
  mov x1, #1
  mov x2, #0
  hvc #0
  cmp x0, #1                      /* OFF */
  b.ne 1b
  puts "cpu1 off\n"
  ret x27

secondary_main:
  mov x26, x30
  mov w0, #2
  bl irq_enable
  mov w0, #3
  bl irq_enable
  movq x20, READY
  mov x0, #1
  str x0, [x20]
  mov x1, #1
  wait_at_least x20, 24, x1
  msr daifset, #2
  ret x26

irq_handler:
  movq x9, READY
  cmp x0, #1
  b.ne 1f
  ldr x10, [x9, #8]               /* vCPU 0: a pong */
  add x10, x10, #1
  str x10, [x9, #8]
  ret
1:cmp x0, #2
  b.ne 2f
  ldr x10, [x9, #16]              /* vCPU 1: a ping; pong to every other vCPU */
  add x10, x10, #1
  str x10, [x9, #16]
  movq x10, (1 << 24) | (1 << 40)
  msr s3_0_c12_c11_5, x10
  ret
2:mov x10, #1                     /* SGI 3: quit */
  str x10, [x9, #24]
  ret
