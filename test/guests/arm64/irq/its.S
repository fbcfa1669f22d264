/*
 * LPIs through the GICv3 ITS of the "virt" board (0x08080000): the guest sets up the LPI
 * configuration table (GICR_PROPBASER, 16 INTID bits) and its pending table (GICR_PENDBASER),
 * enables LPIs in its redistributor, gives the ITS a device table, a collection table and a
 * command queue, and maps device 0: events 0 and 1 to LPIs 8192 and 8193 (MAPTI), event 8200
 * to LPI 8200 (MAPI), all in collection 0 on this CPU (MAPC). Then LPIs arrive:
 *   - from the ITS's INT command;
 *   - from "the device": the guest asks for an MSI (device 0, an event) by writing GITS_TRANSLATER
 *     and then a virtio-mmio doorbell (0x0a000050) with the request. Under QEMU (TCG) the
 *     TRANSLATER write is the MSI (a CPU's writes carry requester ID 0) and the doorbell is an
 *     unbacked virtio-mmio register; under KVM a guest's TRANSLATER write is ignored (the ITS
 *     frame has no register there) and the VMM answers the doorbell's MMIO exit with
 *     KVM_SIGNAL_MSI (request 1) or by signalling an irqfd routed as an MSI (request 2). Either
 *     way each request is one MSI.
 * It checks what the ITS does to them: priorities from the configuration table (the lower value
 * taken first), an LPI disabled in the table stays pending until enabled and INV'd, CLEAR drops
 * the pending state, DISCARD unmaps an event (its MSIs are dropped), MOVI/INVALL keep it working.
 * Finally the MMU goes on, the kernel moves to the upper VA half and EL0 asks for MSIs and waits
 * for the LPIs, which are taken from EL0 by the kernel-half handler.
 */
#include "irq.inc"
#include "its.inc"
#include "el0.inc"
#define PROP            (RAM_BASE + 0x200000)
#define PEND            (RAM_BASE + 0x210000)
#define DEVT            (RAM_BASE + 0x220000)
#define COLLT           (RAM_BASE + 0x230000)
#define CMDQ            (RAM_BASE + 0x240000)
#define ITT             (RAM_BASE + 0x300000)
#define COUNT           (DATA + 0)      /* LPIs taken */
#define LOGN            (DATA + 8)      /* entries in LOG */
#define CWR             (DATA + 16)     /* the command queue's write offset */
#define SPSRS           (DATA + 24)     /* OR of the SPSR mode bits of the LPIs */
#define ELRS            (DATA + 32)     /* AND of (ELR_EL1 >> 30 == 1) for the EL0 phase */
#define HVA             (DATA + 40)     /* the handler's own address */
                                        /* DATA + 48: LPIs printed, DATA + 56: LPIs awaited */
#define LOG             (DATA + 64)     /* INTIDs taken, in order */

/* Asks for an MSI of device 0, event \ev, by request \how (1: KVM_SIGNAL_MSI, 2: irqfd). */
.macro msi ev, how
  mov w0, #\ev
  mov w1, #\how
  bl ask_msi
.endm

main:
  mov x27, x30
  puts "its\n"
  movq x20, DATA
  str xzr, [x20]
  str xzr, [x20, #8]
  str xzr, [x20, #16]
  str xzr, [x20, #24]
  str xzr, [x20, #48]
  str xzr, [x20, #56]
  /* The configuration table: LPIs 8192.. at priority 0xa0, enabled (8192 + n at PROP + n). */
  movq x9, PROP
  mov w10, #0xa1
  strb w10, [x9, #0]
  strb w10, [x9, #1]
  strb w10, [x9, #8]
  movq x10, GICR
  movq x11, (PROP | (1 << 10) | (3 << 7) | 15)   /* inner shareable, RaWb, 16 INTID bits */
  str x11, [x10, #0x70]           /* GICR_PROPBASER */
  movq x11, (PEND | (1 << 10) | (3 << 7))
  str x11, [x10, #0x78]           /* GICR_PENDBASER */
  mov w11, #1
  str w11, [x10]                  /* GICR_CTLR.EnableLPIs */
  ldr w11, [x10]
  and w19, w11, #1
  puts "EnableLPIs "
  mov x0, x19
  bl putdec
  putc '\n'
  /* The ITS: device and collection tables (64 KiB pages, one page), a 4 KiB command queue. */
  its_setup DEVT, COLLT, CMDQ
  ldr w11, [x10, #GITS_CTLR]
  and w19, w11, #1
  puts "ITS enabled "
  mov x0, x19
  bl putdec
  putc '\n'
  /* Device 0 with 14 event ID bits; collection 0 on this CPU (processor number 0). */
  cmd (0x08), (13), ((1 << 63) | ITT), 0                      /* MAPD */
  cmd (0x09), 0, ((1 << 63) | (0 << 16) | 0), 0              /* MAPC */
  cmd (0x0a), (0 | (8192 << 32)), 0, 0                       /* MAPTI ev 0 -> 8192 */
  cmd (0x0a), (1 | (8193 << 32)), 0, 0                       /* MAPTI ev 1 -> 8193 */
  cmd (0x0b), (8200), 0, 0                                   /* MAPI ev 8200 */
  cmd (0x05), 0, 0, 0                                        /* SYNC */
  msr daifclr, #2

  puts "INT ev 0: "
  cmd (0x03), 0, 0, 0
  bl await_one
  puts "INT ev 8200: "
  cmd (0x03), 8200, 0, 0
  bl await_one
  puts "MSI ev 1: "
  msi 1, 1
  bl await_one
  puts "irqfd MSI ev 0: "
  msi 0, 2
  bl await_one

  /* Priorities: with IRQs masked, 8192 at 0xc0 and 8193 at 0x40 both pending; 8193 comes first. */
  movq x9, PROP
  mov w10, #0xc1
  strb w10, [x9, #0]
  mov w10, #0x41
  strb w10, [x9, #1]
  dsb sy
  cmd (0x0d), 0, 0, 0                                        /* INVALL collection 0 */
  msr daifset, #2
  cmd (0x03), 0, 0, 0
  cmd (0x03), 1, 0, 0
  puts "two pending: "
  msr daifclr, #2
  mov x0, #2
  bl await_n

  /* A disabled LPI stays pending: ev 1 masked in the table (INV), raised, then re-enabled. */
  movq x9, PROP
  mov w10, #0x40
  strb w10, [x9, #1]
  dsb sy
  cmd (0x0c), 1, 0, 0                                        /* INV ev 1 */
  msi 1, 1
  cmd (0x05), 0, 0, 0
  bl settle
  puts "disabled: "
  bl show
  mov w10, #0x41
  movq x9, PROP
  strb w10, [x9, #1]
  dsb sy
  cmd (0x0c), 1, 0, 0                                        /* INV ev 1 */
  puts "enabled + INV: "
  bl await_one

  /* CLEAR: raised with IRQs masked, cleared, nothing taken; then a fresh INT is. */
  msr daifset, #2
  cmd (0x03), 0, 0, 0
  cmd (0x04), 0, 0, 0                                        /* CLEAR ev 0 */
  msr daifclr, #2
  bl settle
  puts "cleared: "
  bl show
  puts "INT after CLEAR: "
  cmd (0x03), 0, 0, 0
  bl await_one

  /* MOVI to collection 1 (also this CPU): still delivered. */
  cmd (0x09), 0, ((1 << 63) | (0 << 16) | 1), 0              /* MAPC 1 */
  cmd (0x01), 0, 1, 0                                        /* MOVI ev 0 -> collection 1 */
  cmd (0x05), 0, 0, 0
  puts "after MOVI: "
  msi 0, 1
  bl await_one

  /* DISCARD ev 1: its MSI and INT are dropped; ev 0 still works. */
  cmd (0x0f), 1, 0, 0
  msi 1, 1
  cmd (0x03), 1, 0, 0
  cmd (0x05), 0, 0, 0
  bl settle
  puts "after DISCARD: "
  bl show
  puts "ev 0 still: "
  msi 0, 2
  bl await_one

  /* EL0, interrupted: MMU on, kernel in the upper half, EL0 asks for MSIs and waits. */
  bl to_el0
  ret x27

/* Waits for one more LPI and prints it. */
await_one:
  mov x0, #1
await_n:
  mov x26, x30
  movq x20, DATA
  ldr x1, [x20, #56]              /* LPIs expected so far (not the count: one may be in already) */
  add x1, x1, x0
  str x1, [x20, #56]
  wait_at_least x20, 8, x1
  bl show
  ret x26

/* Lets anything in flight arrive: a few hundred instructions with IRQs open. */
settle:
  mov x9, #400
1:sub x9, x9, #1
  cbnz x9, 1b
  ret

/* Prints the LPIs logged since the last call ("none" if none), and a newline. */
show:
  mov x25, x30
  movq x20, DATA
  ldr x21, [x20, #8]
  ldr x22, [x20, #48]             /* printed so far */
  cmp x21, x22
  b.ne 1f
  puts "none"
  b 3f
1:cmp x22, x21
  b.hs 3f
  add x9, x20, #64
  ldr x0, [x9, x22, lsl #3]
  bl putdec
  add x22, x22, #1
  cmp x22, x21
  b.hs 3f
  putc ' '
  b 1b
3:str x21, [x20, #48]
  putc '\n'
  ret x25

/* An MSI request: GITS_TRANSLATER <- event (QEMU's MSI), doorbell <- how << 16 | event (the VMM's). */
ask_msi:
  movq x9, ITS
  movq x10, GITS_TRANSLATER
  add x9, x9, x10
  str w0, [x9]
  dsb sy
  movq x9, DOORBELL
  orr w10, w0, w1, lsl #16
  str w10, [x9]
  ret

its_cmd_fn CMDQ, CWR

/* The LPI handler: logs the INTID as ICC_IAR1_EL1 gave it (irq_entry keeps it at [sp, #160]). */
irq_handler:
  movq x9, DATA
  ldr x0, [sp, #160]
  ldr x10, [x9, #8]
  add x11, x9, #64
  str x0, [x11, x10, lsl #3]
  add x10, x10, #1
  str x10, [x9, #8]
  note_el0_irq (SPSRS - DATA), (ELRS - DATA), (HVA - DATA), irq_handler
  ret

/* MMU on (RAM in both halves, devices in the lower half), kernel in the upper half, then EL0. */
to_el0:
  movq x20, DATA
  str xzr, [x20, #24]
  mov x0, #1
  str x0, [x20, #32]
  put_desc PT, 0, (PT_L2M | TABLE)
  put_desc PT, 1, (RAM_BASE | BLOCK | AF | SH_IS)
  put_desc PT_L2M, (GICD >> 21), (GICD | BLOCK | AF | ATTR_DEV | AP_EL0 | XN)  /* EL0: GITS_TRANSLATER */
  put_desc PT_L2M, (UART >> 21), (UART | BLOCK | AF | ATTR_DEV | AP_EL0 | XN)
  put_desc PT_L2M, (DOORBELL >> 21), ((DOORBELL & ~0x1fffff) | BLOCK | AF | ATTR_DEV | AP_EL0 | XN)
  put_desc PT1, 1, (RAM_BASE | BLOCK | AF | SH_IS)
  mmu_on PT, PT1
  to_kernel_half
  ram_to_el0
  puts "kernel half, MMU on\n"
  eret_to_el0 el0_code        /* EL0t, DAIF clear */

/* EL0: two MSIs (KVM_SIGNAL_MSI, irqfd) awaited by spinning; then back by SVC. */
el0_code:
  movq x20, DATA
  ldr x1, [x20, #56]
  add x1, x1, #1
  mov w0, #0
  mov w2, #1
  bl el0_ask
1:ldr x0, [x20, #8]
  cmp x0, x1
  b.lo 1b
  add x1, x1, #1
  mov w0, #8200
  mov w2, #2
  bl el0_ask
2:ldr x0, [x20, #8]
  cmp x0, x1
  b.lo 2b
  svc #0

/* ask_msi at EL0 (event w0, request w2). */
el0_ask:
  movq x9, (ITS + GITS_TRANSLATER)
  str w0, [x9]
  dsb sy
  movq x9, DOORBELL
  orr w10, w0, w2, lsl #16
  str w10, [x9]
  ret

el0_done:
  puts "from EL0: "
  bl show
  puts "SPSR modes "
  movq x20, DATA
  ldr x0, [x20, #24]
  bl putdec
  puts ", ELR in the lower half "
  ldr x0, [x20, #32]
  bl putdec
  puts ", handler in the kernel half "
  ldr x0, [x20, #40]
  lsr x0, x0, #63
  bl putdec
  putc '\n'
  system_off

el0_svc_entry

secondary_main:
  ret

el0_vector_table
