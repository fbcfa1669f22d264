/*
 * LPIs between two vCPUs through the ITS: vCPU 0 powers vCPU 1 on (PSCI CPU_ON); each enables
 * LPIs in its own redistributor (one configuration table, a pending table each); vCPU 0 maps
 * device 0 with collection 0 on itself and collection 1 on vCPU 1, event 0 -> LPI 8192 in
 * collection 1 and event 1 -> LPI 8193 in collection 0, and raises them with INT: event 0 lands
 * on vCPU 1; after MOVI to collection 0 it lands on vCPU 0; after collection 0 is remapped to
 * vCPU 1 (MAPC) both events land there. Both vCPUs wait in WFI; vCPU 1 is told to power off by a
 * last LPI.
 */
#include "irq.inc"
#include "its.inc"
#define PROP            (RAM_BASE + 0x200000)
#define PEND            (RAM_BASE + 0x210000)   /* vCPU n: PEND + n * 64 KiB */
#define DEVT            (RAM_BASE + 0x230000)
#define COLLT           (RAM_BASE + 0x240000)
#define CMDQ            (RAM_BASE + 0x250000)
#define ITT             (RAM_BASE + 0x300000)
#define READY           (DATA + 0)
#define CNT0            (DATA + 8)      /* LPIs taken by vCPU 0 */
#define CNT1            (DATA + 16)     /* LPIs taken by vCPU 1 */
#define QUIT            (DATA + 24)
#define CWR             (DATA + 32)
#define SUM0            (DATA + 40)     /* sums of their INTIDs */
#define SUM1            (DATA + 48)
#define ROUNDS          5

/* Spins (no WFI: the interrupt goes to the other vCPU) until [\base, #\off] >= \reg. */
.macro spin_at_least base, off, reg
9993:
  ldr x0, [\base, #\off]
  cmp x0, \reg
  b.lo 9993b
.endm

main:
  mov x27, x30
  puts "its-smp\n"
  movq x9, PROP
  mov w10, #0xa1
  strb w10, [x9, #0]
  strb w10, [x9, #1]
  dsb sy
  bl lpi_on
  /* ITS tables and command queue, enabled */
  its_setup DEVT, COLLT, CMDQ
  msr daifclr, #2
  movq x20, DATA
  mov x0, #1
  bl start_secondary
  mov x21, x0
  puts "cpu_on "
  mov x0, x21
  bl putdec
  putc '\n'
1:ldr x0, [x20]
  cbz x0, 1b
  cmd (0x08), (3), ((1 << 63) | ITT), 0                        /* MAPD dev 0, 4 event bits */
  cmd (0x09), 0, ((1 << 63) | (0 << 16) | 0), 0               /* MAPC 0 -> vCPU 0 */
  cmd (0x09), 0, ((1 << 63) | (1 << 16) | 1), 0               /* MAPC 1 -> vCPU 1 */
  cmd (0x0a), (0 | (8192 << 32)), 1, 0                        /* MAPTI ev 0 -> 8192, coll 1 */
  cmd (0x0a), (1 | (8193 << 32)), 0, 0                        /* MAPTI ev 1 -> 8193, coll 0 */
  cmd (0x05), 0, 0, 0                                         /* SYNC */
  /* INT ev 0, ROUNDS times, each awaited on vCPU 1 */
  mov x22, #0
2:add x22, x22, #1
  cmd (0x03), 0, 0, 0
  spin_at_least x20, 16, x22
  cmp x22, #ROUNDS
  b.lo 2b
  puts "INT ev 0 x5 -> cpu1 "
  bl counts
  /* MOVI ev 0 to collection 0 (vCPU 0) */
  cmd (0x01), 0, 0, 0
  cmd (0x03), 0, 0, 0
  mov x1, #1
  wait_at_least x20, 8, x1
  puts "after MOVI -> "
  bl counts
  /* collection 0 remapped to vCPU 1: both events go there */
  cmd (0x09), 0, ((1 << 63) | (1 << 16) | 0), 0
  cmd (0x03), 0, 0, 0
  cmd (0x03), 1, 0, 0
  mov x1, #(ROUNDS + 2)
  spin_at_least x20, 16, x1
  puts "after MAPC 0 -> cpu1: "
  bl counts
  /* vCPU 1 powers off after one more LPI */
  mov x0, #1
  str x0, [x20, #24]
  dsb sy
  cmd (0x03), 1, 0, 0
3:movq x0, PSCI_AFF_INFO64
  mov x1, #1
  mov x2, #0
  hvc #0
  cmp x0, #1
  b.ne 3b
  puts "cpu1 off; "
  bl counts
  ret x27

/* Prints "cpu0 N (sum S), cpu1 N (sum S)\n". */
counts:
  mov x26, x30
  puts "cpu0 "
  ldr x0, [x20, #8]
  bl putdec
  puts " (sum "
  ldr x0, [x20, #40]
  bl putdec
  puts "), cpu1 "
  ldr x0, [x20, #16]
  bl putdec
  puts " (sum "
  ldr x0, [x20, #48]
  bl putdec
  puts ")\n"
  ret x26

/* This CPU's redistributor: PROPBASER (16 INTID bits), its PENDBASER, EnableLPIs. */
lpi_on:
  mrs x9, mpidr_el1
  and x9, x9, #0xff
  movq x10, GICR
  mov x11, #GICR_STRIDE
  madd x10, x9, x11, x10
  movq x11, (PROP | (1 << 10) | (3 << 7) | 15)
  str x11, [x10, #0x70]
  movq x11, (PEND | (1 << 10) | (3 << 7))
  add x11, x11, x9, lsl #16
  str x11, [x10, #0x78]
  mov w11, #1
  str w11, [x10]
  ret

its_cmd_fn CMDQ, CWR

secondary_main:
  mov x25, x30
  bl lpi_on
  movq x20, DATA
  msr daifclr, #2
  mov x0, #1
  str x0, [x20]
  mov x1, #1
  wait_at_least x20, 24, x1
  /* the last LPI (after QUIT) may still be on its way: wait for it */
  mov x1, #(ROUNDS + 3)
  wait_at_least x20, 16, x1
  msr daifset, #2
  ret x25

/* Counts the LPI (raw INTID at [sp, #160]) for this CPU: the sum first, then the count with
 * release semantics, so a CPU that sees the count (its spin) sees that LPI's sum too. */
irq_handler:
  movq x9, DATA
  ldr x0, [sp, #160]
  mrs x10, mpidr_el1
  and x10, x10, #0xff
  add x9, x9, x10, lsl #3
  ldr x11, [x9, #40]
  add x11, x11, x0
  str x11, [x9, #40]
  ldr x11, [x9, #8]
  add x11, x11, #1
  add x12, x9, #8
  stlr x11, [x12]
  ret
