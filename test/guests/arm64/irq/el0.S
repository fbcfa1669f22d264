/*
 * Interrupts taken from EL0 by a kernel running in the upper VA half, the way Linux runs: the
 * MMU on, the kernel's code, vectors and stack at 0xffffff8040000000 (TTBR1), the devices and an
 * EL0-accessible view of RAM in the lower half (TTBR0). EL0 (allowed the virtual timer by
 * CNTKCTL_EL1, DAIF by SCTLR_EL1.UMA, WFI by nTWI) arms the virtual timer three times and waits
 * in WFI for each interrupt; then it writes a byte to the PL011 (mapped for EL0) with TXIM set,
 * and waits for the level-triggered SPI 33 the VMM raises. Each IRQ is taken from EL0 to the
 * kernel-half handler (SPSR mode EL0t, ELR in the lower half); SVC brings EL0 back to EL1.
 */
#include "irq.inc"
#include "el0.inc"
#define COUNT   (DATA + 0)
#define SPSRS   (DATA + 8)      /* OR of the SPSR_EL1 mode bits of the IRQs */
#define ELRS    (DATA + 16)     /* AND of (ELR_EL1 >> 30 == 1) */
#define HVA     (DATA + 24)     /* the handler's own address */
#define INTIDS  (DATA + 32)     /* sum of the INTIDs taken */

main:
  puts "el0\n"
  mov w0, #27
  bl irq_enable
  mov w0, #33
  bl irq_enable
  movq x20, DATA
  str xzr, [x20]
  str xzr, [x20, #8]
  mov x0, #1
  str x0, [x20, #16]
  str xzr, [x20, #32]
  /* Page tables: RAM through TTBR1 (EL1 only) and TTBR0 (EL1 only for now), the GIC (EL1), the
     PL011 (EL0 too) and the doorbell in the lower half. */
  put_desc PT, 0, (PT_L2M | TABLE)
  put_desc PT, 1, (RAM_BASE | BLOCK | AF | SH_IS)
  put_desc PT_L2M, (GICD >> 21), (GICD | BLOCK | AF | ATTR_DEV | XN)
  put_desc PT_L2M, (UART >> 21), (UART | BLOCK | AF | ATTR_DEV | AP_EL0 | XN)
  put_desc PT_L2M, (DOORBELL >> 21), ((DOORBELL & ~0x1fffff) | BLOCK | AF | ATTR_DEV | XN)
  put_desc PT1, 1, (RAM_BASE | BLOCK | AF | SH_IS)
  mmu_on PT, PT1, 1                            /* UMA, nTWI: EL0 may mask IRQs and WFI */
  to_kernel_half
  ram_to_el0
  mov x0, #((1 << 1) | (1 << 8))      /* CNTKCTL_EL1: EL0VCTEN, EL0VTEN */
  msr cntkctl_el1, x0
  puts "kernel half, MMU on\n"
  /* The PL011's TX interrupt: clear what the prints left, then unmask it for EL0's byte. */
  movq x21, UART
  mov w1, #UART_TXI
  str w1, [x21, #UART_ICR]
  str w1, [x21, #UART_IMSC]
  eret_to_el0 el0_code        /* EL0t, DAIF clear */

/* EL1 again, after EL0's SVC. */
el0_done:
  mrs x19, esr_el1
  puts "back at EL1 by SVC, EC "
  lsr x0, x19, #26
  bl putdec
  puts "\nirqs from EL0 "
  ldr x0, [x20]
  bl putdec
  puts ", SPSR modes "
  ldr x0, [x20, #8]
  bl putdec
  puts ", ELR in the lower half "
  ldr x0, [x20, #16]
  bl putdec
  puts ", handler in the kernel half "
  ldr x0, [x20, #24]
  lsr x0, x0, #63
  bl putdec
  puts ", INTID sum "
  ldr x0, [x20, #32]
  bl putdec
  putc '\n'
  system_off

/* EL0: three virtual-timer interrupts, each awaited in WFI; then the PL011's SPI. */
el0_code:
  movq x20, COUNT
  mov x22, #0
1:movq x0, 6250                       /* 100 us */
  msr cntv_tval_el0, x0
  mov x0, #1
  msr cntv_ctl_el0, x0
  add x1, x22, #1
  wait_at_least x20, 0, x1
  add x22, x22, #1
  cmp x22, #3
  b.lo 1b
  movq x21, UART
  mov w1, #'!'
  str w1, [x21, #UART_DR]             /* asserts SPI 33 until the handler clears it */
  mov x1, #4
  wait_at_least x20, 0, x1
  mov w1, #'\n'
  str w1, [x21, #UART_DR]
  svc #0

/* Runs at EL1 in the kernel half, for IRQs taken from EL0. */
irq_handler:
  movq x9, DATA
  note_el0_irq (SPSRS - DATA), (ELRS - DATA), (HVA - DATA), irq_handler
  ldr x11, [x9, #32]
  add x11, x11, x0
  str x11, [x9, #32]
  cmp x0, #27
  b.ne 2f
  msr cntv_ctl_el0, xzr               /* the timer's level drops */
  b 3f
2:cmp x0, #33
  b.ne 3f
  movq x10, UART
  mov w11, #UART_TXI
  str w11, [x10, #UART_ICR]           /* the line drops */
  str wzr, [x10, #UART_IMSC]
3:ldr x11, [x9]
  add x11, x11, #1
  str x11, [x9]
  ret

el0_svc_entry

secondary_main:
  ret

el0_vector_table
