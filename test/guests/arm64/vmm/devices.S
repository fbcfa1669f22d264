/*
 * The mini-VMM's interrupt-driven devices on arm64 (test/mini-vmm/devices.test.ts), loaded at
 * 0x40000000 and entered at EL1 (`vkvm run --irqchip kernel --virtio-rng`), with the vGICv3 of
 * irq.inc:
 *   - the PL011 on SPI 1 (INTID 33, level): FIFOs on, input by the RX and receive-timeout
 *     interrupts (UARTIMSC.RXIM|RTIM) into a line buffer -- at a newline the handler masks them,
 *     so the next line waits in the FIFO --, output through a ring the TX interrupt drains (the
 *     first byte of a burst is written directly, which sets TXRIS, then TXIM is unmasked, as
 *     Linux's driver does); the handler reads UARTMIS, clears with UARTICR, and records every
 *     UARTMIS it sees;
 *   - a virtio-rng on virtio-mmio (modern, version 2) at 0x0a000000 on SPI 16 (INTID 48, set
 *     edge-triggered: the VMM signals it through an irqfd): VIRTIO_F_VERSION_1 negotiated, one
 *     8-entry split virtqueue, one device-writable buffer per request, QueueNotify (the VMM's
 *     ioeventfd: no exit); the handler reads InterruptStatus and writes it to InterruptACK; the
 *     main code waits in WFI for each used buffer. After each notify it prints a line: the exit
 *     where a single-threaded VMM on /dev/kvm (a vCPU in WFI stays in KVM_RUN) serves the
 *     ioeventfd.
 *   - then, as Linux runs: the MMU on, the kernel (code, vectors, stack, data, and the devices
 *     too) in the upper VA half (TTBR1, 0xffffff8000000000 + pa), RAM and the UART and virtio
 *     windows EL0-accessible in the lower half (TTBR0); EL0 (DAIF and WFI allowed) unmasks the
 *     receive interrupts (the second line waits in the FIFO), posts and notifies a last request
 *     (the ioeventfd, from EL0), reads UARTFR (an exit), and waits in WFI until both interrupts
 *     -- taken to the kernel-half handlers, which return to EL0 -- are counted; SVC back to EL1.
 *     The handlers find their data and devices through the half they run in.
 * Results (32-bit writes to the result device 0x09101000): magic, version, device id, device
 * features 63:32, status after FEATURES_OK, QueueNumMax; per request its used id, used length,
 * its bytes as little-endian words; then the UART interrupt count, the rng interrupt count, the OR
 * of the UARTMIS values seen, the OR of InterruptStatus seen, the input bytes, the UART and rng
 * interrupts taken from EL0, whether every such IRQ's ELR was in the lower half and its handler in
 * the upper one.
 */
#include "../irq/irq.inc"
#include "../irq/el0.inc"
#define RESULTDEV   0x09101000
#define VIRTIO      0x0a000000
#define UART_FR     0x018
#define UART_LCRH   0x02c
#define UART_RXI    (1 << 4)
#define UART_RTI    (1 << 6)
#define QSIZE       8
#define NREQ        5               /* at EL1; one more from EL0 */
#define V_DESC      (RAM_BASE + 0x90000)
#define V_AVAIL     (RAM_BASE + 0x90800)
#define V_USED      (RAM_BASE + 0x91000)
#define V_BUF       (RAM_BASE + 0x92000)
#define TXRING      (RAM_BASE + 0xa0000)
#define RXBUF       (RAM_BASE + 0xa1000)
/* DATA (irq.inc) offsets */
#define UART_IRQS   0x00
#define RNG_IRQS    0x08
#define MIS_SEEN    0x10
#define ISR_SEEN    0x18
#define RX_COUNT    0x20
#define RX_LINES    0x28
#define TX_HEAD     0x30
#define TX_TAIL     0x38
#define TX_ON       0x40
#define RX_SHOWN    0x48
#define UART_UIRQS  0x50
#define RNG_UIRQS   0x58
#define ELR_LOW     0x60            /* AND over EL0's IRQs: ELR_EL1 in the lower half */
#define HANDLER_HI  0x68            /* AND over EL0's IRQs: the handler ran in the upper half */

/* \reg = \val (a physical address below 4 GiB) in the VA half the code runs in. */
.macro kaddr reg, val
  adr \reg, .
  and \reg, \reg, #HIGH
  movk \reg, #((\val) & 0xffff)
  movk \reg, #(((\val) >> 16) & 0xffff), lsl #16
.endm

/* Writes w\reg to the result device. Clobbers x16. */
.macro result reg
  kaddr x16, RESULTDEV
  str \reg, [x16]
.endm

/* Queues a string literal on the interrupt-driven console. Clobbers x0-x2, x16, x17. */
.macro kputs str
  adr x0, 9997f
  bl kputs_fn
  b 9998f
9997: .asciz "\str"
  .balign 4
9998:
.endm

main:
  mov x27, x30
  puts "vmm devices: arm64\n"
  movq x20, DATA
  /* PL011: FIFOs on, 8 bits; clear everything; RX and receive-timeout interrupts on. */
  movq x21, UART
  mov w1, #0x70
  str w1, [x21, #UART_LCRH]
  mov w1, #0x7ff
  str w1, [x21, #UART_ICR]
  mov w1, #(UART_RXI | UART_RTI)
  str w1, [x21, #UART_IMSC]
  /* INTID 48 edge-triggered (GICD_ICFGR3 bit 1), then both enabled. */
  movq x10, GICD
  mov w11, #2
  str w11, [x10, #0xc0c]
  mov w0, #33
  bl irq_enable
  mov w0, #48
  bl irq_enable
  msr daifclr, #2

  kputs "interrupt-driven console\n"
  mov x1, #1
  wait_at_least x20, RX_LINES, x1
  bl show_rx

  /* virtio-rng: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, the queue, DRIVER_OK. */
  movq x22, VIRTIO
  ldr w1, [x22, #0x00]
  result w1
  ldr w1, [x22, #0x04]
  result w1
  ldr w1, [x22, #0x08]
  result w1
  str wzr, [x22, #0x70]
  mov w1, #1
  str w1, [x22, #0x70]
  mov w1, #3
  str w1, [x22, #0x70]
  mov w1, #1
  str w1, [x22, #0x14]            /* DeviceFeaturesSel 1 */
  ldr w2, [x22, #0x10]
  result w2
  str w1, [x22, #0x24]            /* DriverFeaturesSel 1: VIRTIO_F_VERSION_1 */
  and w2, w2, #1
  str w2, [x22, #0x20]
  str wzr, [x22, #0x24]
  str wzr, [x22, #0x20]
  mov w1, #0xb
  str w1, [x22, #0x70]            /* FEATURES_OK */
  ldr w1, [x22, #0x70]
  result w1
  str wzr, [x22, #0x30]           /* QueueSel 0 */
  ldr w1, [x22, #0x34]
  result w1
  mov w1, #QSIZE
  str w1, [x22, #0x38]
  movq x1, V_DESC
  str w1, [x22, #0x80]
  str wzr, [x22, #0x84]
  movq x1, V_AVAIL
  str w1, [x22, #0x90]
  str wzr, [x22, #0x94]
  movq x1, V_USED
  str w1, [x22, #0xa0]
  str wzr, [x22, #0xa4]
  mov w1, #1
  str w1, [x22, #0x44]            /* QueueReady */
  mov w1, #0xf
  str w1, [x22, #0x70]            /* DRIVER_OK */
  kputs "virtio-rng ready\n"

  mov x23, #0                     /* request number */
1:mov x0, x23
  bl post_request
  str wzr, [x22, #0x50]           /* QueueNotify: the ioeventfd */
  kputs "rng request\n"
  add x1, x23, #1
  wait_at_least x20, RNG_IRQS, x1
  mov x0, x23
  bl report_request
  add x23, x23, #1
  cmp x23, #NREQ
  b.lo 1b
  bl flush
  bl el0_phase                    /* does not return: el0_done reports and powers off */

/* The MMU on, the kernel into the upper half, then EL0. */
el0_phase:
  put_desc PT, 0, (PT_L2M | TABLE)
  put_desc PT, 1, (RAM_BASE | BLOCK | AF | SH_IS)
  put_desc PT_L2M, (GICD >> 21), (GICD | BLOCK | AF | ATTR_DEV | XN)
  put_desc PT_L2M, (UART >> 21), (UART | BLOCK | AF | ATTR_DEV | AP_EL0 | XN)
  put_desc PT_L2M, (VIRTIO >> 21), (VIRTIO | BLOCK | AF | ATTR_DEV | AP_EL0 | XN)
  put_desc PT1, 0, (PT_L2M | TABLE)
  put_desc PT1, 1, (RAM_BASE | BLOCK | AF | SH_IS)
  mmu_on PT, PT1, 1
  to_kernel_half
  add x20, x20, x1                /* DATA, the UART, the virtio window: upper-half addresses */
  add x21, x21, x1
  add x22, x22, x1
  mov x0, #1
  str x0, [x20, #ELR_LOW]
  str x0, [x20, #HANDLER_HI]
  ram_to_el0
  kputs "kernel half, MMU on\n"
  bl flush
  eret_to_el0 el0_code        /* EL0t, DAIF clear */

/* EL0, at lower-half addresses. */
el0_code:
  movq x21, UART
  mov w1, #(UART_RXI | UART_RTI)
  str w1, [x21, #UART_IMSC]       /* input again */
  mov x0, #NREQ
  bl post_request
  movq x22, VIRTIO
  str wzr, [x22, #0x50]           /* QueueNotify from EL0: the ioeventfd */
  ldr w1, [x21, #UART_FR]         /* an exit: a VMM on /dev/kvm serves the ioeventfd here */
  movq x20, DATA
  mov x1, #(NREQ + 1)
  wait_at_least x20, RNG_IRQS, x1
  mov x1, #2
  wait_at_least x20, RX_LINES, x1
  svc #0

/* EL1 (upper half) again, after EL0's SVC. */
el0_done:
  movq x9, HIGH
  movq x20, DATA
  add x20, x20, x9
  mov x0, #NREQ
  bl report_request
  bl show_rx
  ldr x1, [x20, #UART_IRQS]
  result w1
  ldr x1, [x20, #RNG_IRQS]
  result w1
  ldr x1, [x20, #MIS_SEEN]
  result w1
  ldr x1, [x20, #ISR_SEEN]
  result w1
  ldr x1, [x20, #RX_COUNT]
  result w1
  ldr x1, [x20, #UART_UIRQS]
  result w1
  ldr x1, [x20, #RNG_UIRQS]
  result w1
  ldr x1, [x20, #ELR_LOW]
  result w1
  ldr x1, [x20, #HANDLER_HI]
  result w1
  kputs "interrupts taken from EL0: uart "
  ldr x0, [x20, #UART_UIRQS]
  bl kputdec
  kputs ", rng "
  ldr x0, [x20, #RNG_UIRQS]
  bl kputdec
  kputs "\ndone\n"
  bl flush
  system_off

el0_svc_entry

/* kputdec: x0 in decimal (up to 20 digits). */
kputdec:
  mov x26, x30
  sub sp, sp, #32
  mov x1, sp
  add x1, x1, #31
  strb wzr, [x1]
  mov x2, #10
1:udiv x3, x0, x2
  msub x4, x3, x2, x0
  add w4, w4, #'0'
  sub x1, x1, #1
  strb w4, [x1]
  mov x0, x3
  cbnz x0, 1b
  mov x0, x1
  bl kputs_fn
  add sp, sp, #32
  ret x26

/* post_request: request x0 in descriptor x0 (4 * (x0 + 1) bytes at V_BUF + 64 * x0). */
post_request:
  kaddr x9, V_DESC
  add x9, x9, x0, lsl #4
  movq x10, V_BUF
  add x10, x10, x0, lsl #6
  str x10, [x9]                   /* addr */
  lsl w11, w0, #2
  add w11, w11, #4
  str w11, [x9, #8]               /* len */
  mov w11, #2                     /* VIRTQ_DESC_F_WRITE, next 0 */
  str w11, [x9, #12]
  kaddr x9, V_AVAIL
  ldrh w10, [x9, #2]
  and w11, w10, #(QSIZE - 1)
  add x12, x9, #4
  strh w0, [x12, w11, uxtw #1]
  add w10, w10, #1
  dmb ishst                       /* the entry before the index */
  strh w10, [x9, #2]
  dsb st                          /* the index before the notify */
  ret

/* report_request: used.ring[x0] (id, len) and the bytes of buffer x0. */
report_request:
  mov x25, x30
  kaddr x9, V_USED
  ldrh w10, [x9, #2]
  add w11, w0, #1
  cmp w10, w11
  b.ne 9f
  add x12, x9, x0, lsl #3
  ldr w13, [x12, #4]              /* id */
  result w13
  ldr w14, [x12, #8]              /* len */
  result w14
  kaddr x12, V_BUF
  add x12, x12, x0, lsl #6
  lsr w14, w14, #2
1:cbz w14, 2f
  ldr w13, [x12], #4
  result w13
  sub w14, w14, #1
  b 1b
2:ret x25
9:movq x13, 0xbad0000
  orr w13, w13, w11
  result w13
  ret x25

/* show_rx: prints the input received since the last call as "rx: <text>". */
show_rx:
  mov x26, x30
  kputs "rx: "
1:ldr x1, [x20, #RX_SHOWN]
  ldr x2, [x20, #RX_COUNT]
  cmp x1, x2
  b.hs 2f
  kaddr x3, RXBUF
  ldrb w0, [x3, x1]
  add x1, x1, #1
  str x1, [x20, #RX_SHOWN]
  bl kputc
  b 1b
2:ret x26

/* flush: waits until the TX interrupt has sent the whole ring. */
flush:
1:msr daifset, #2
  ldr x1, [x20, #TX_HEAD]
  ldr x2, [x20, #TX_TAIL]
  cmp x1, x2
  b.eq 2f
  wfi
  msr daifclr, #2
  isb
  b 1b
2:msr daifclr, #2
  ret

/* kputs_fn: the string at x0, queued with IRQs masked. Clobbers x0-x2, x16, x17. */
kputs_fn:
  mov x17, x30
  mrs x2, daif
  msr daifset, #2
  mov x1, x0
1:ldrb w0, [x1], #1
  cbz w0, 2f
  bl kputc
  b 1b
2:msr daif, x2
  ret x17

/* kputc: w0 into the ring; when idle, the byte goes to DR directly and TXIM is unmasked. */
kputc:
  mrs x9, daif
  msr daifset, #2
  kaddr x10, DATA
  ldr x11, [x10, #TX_ON]
  cbnz x11, 1f
  mov x11, #1
  str x11, [x10, #TX_ON]
  kaddr x12, UART
  str w0, [x12, #UART_DR]         /* sets TXRIS */
  ldr w11, [x12, #UART_IMSC]
  orr w11, w11, #UART_TXI
  str w11, [x12, #UART_IMSC]
  b 2f
1:ldr x11, [x10, #TX_TAIL]
  and x12, x11, #0xfff
  kaddr x13, TXRING
  strb w0, [x13, x12]
  add x11, x11, #1
  str x11, [x10, #TX_TAIL]
2:msr daif, x9
  ret

/* IRQs: INTID 33 the PL011, 48 the virtio-rng. */
irq_handler:
  kaddr x9, DATA
  mrs x10, spsr_el1
  tst x10, #0xf
  b.ne 8f                         /* from EL1 */
  mrs x10, elr_el1                /* from EL0: note where it was and where this runs */
  lsr x10, x10, #39
  cmp x10, #0
  cset x10, eq
  ldr x11, [x9, #ELR_LOW]
  and x11, x11, x10
  str x11, [x9, #ELR_LOW]
  adr x10, irq_handler
  lsr x10, x10, #63
  ldr x11, [x9, #HANDLER_HI]
  and x11, x11, x10
  str x11, [x9, #HANDLER_HI]
  cmp x0, #48
  mov x10, #UART_UIRQS
  mov x11, #RNG_UIRQS
  csel x10, x11, x10, eq
  ldr x11, [x9, x10]
  add x11, x11, #1
  str x11, [x9, x10]
8:cmp x0, #48
  b.eq rng_irq
  cmp x0, #33
  b.ne 9f
  ldr x10, [x9, #UART_IRQS]
  add x10, x10, #1
  str x10, [x9, #UART_IRQS]
  kaddr x10, UART
  ldr w11, [x10, #UART_MIS]
  ldr x12, [x9, #MIS_SEEN]
  orr x12, x12, x11
  str x12, [x9, #MIS_SEEN]
  mov w13, #(UART_RXI | UART_RTI)
  tst w11, w13
  b.eq 3f
  /* receive: read DR until the FIFO is empty or a newline */
1:ldr w12, [x10, #UART_FR]
  tbnz w12, #4, 3f                /* RXFE */
  ldr w12, [x10, #UART_DR]
  ldr x13, [x9, #RX_COUNT]
  and x14, x13, #0xfff
  kaddr x15, RXBUF
  strb w12, [x15, x14]
  add x13, x13, #1
  str x13, [x9, #RX_COUNT]
  cmp w12, #'\n'
  b.ne 1b
  ldr x13, [x9, #RX_LINES]
  add x13, x13, #1
  str x13, [x9, #RX_LINES]
  ldr w13, [x10, #UART_IMSC]      /* a whole line: take no more input for now */
  mov w14, #(UART_RXI | UART_RTI)
  bic w13, w13, w14
  str w13, [x10, #UART_IMSC]
3:tst w11, #UART_TXI
  b.eq 9f
  /* transmit: up to 16 bytes from the ring, or stop */
  mov w15, #16
4:ldr x13, [x9, #TX_HEAD]
  ldr x14, [x9, #TX_TAIL]
  cmp x13, x14
  b.eq 5f
  and x14, x13, #0xfff
  kaddr x12, TXRING
  ldrb w12, [x12, x14]
  str w12, [x10, #UART_DR]
  add x13, x13, #1
  str x13, [x9, #TX_HEAD]
  subs w15, w15, #1
  b.ne 4b
  b 9f
5:mov w12, #UART_TXI
  str w12, [x10, #UART_ICR]
  ldr w13, [x10, #UART_IMSC]
  bic w13, w13, #UART_TXI
  str w13, [x10, #UART_IMSC]
  str xzr, [x9, #TX_ON]
9:ret

rng_irq:
  ldr x10, [x9, #RNG_IRQS]
  add x10, x10, #1
  str x10, [x9, #RNG_IRQS]
  kaddr x10, VIRTIO
  ldr w11, [x10, #0x60]           /* InterruptStatus */
  ldr x12, [x9, #ISR_SEEN]
  orr x12, x12, x11
  str x12, [x9, #ISR_SEEN]
  str w11, [x10, #0x64]           /* InterruptACK */
  ret

secondary_main:
  ret

el0_vector_table
