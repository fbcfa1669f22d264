/*
 * A level-triggered SPI: the PL011's transmit interrupt (SPI 1, INTID 33) asserts its line when
 * a byte is written with UARTIMSC.TXIM set and holds it until the guest writes UARTICR. In each
 * round the handler leaves the line asserted the first time (the EOI makes the still-high line
 * pending again, so it is delivered again) and clears it the second time. Then three writes to a
 * virtio-mmio doorbell (QueueNotify of slot 0), which a VMM may serve with an ioeventfd.
 */
#include "irq.inc"
#define COUNT   (DATA + 0)
#define MISSUM  (DATA + 8)
#define ROUNDS  3

main:
  mov x27, x30
  puts "uart\n"
  mov w0, #33
  bl irq_enable
  movq x20, COUNT
  movq x21, UART
  msr daifclr, #2
  mov w1, #UART_TXI
  str w1, [x21, #UART_ICR]        /* the bytes printed so far left TXRIS set: clear it first */
  str w1, [x21, #UART_IMSC]
  mov x22, #0                     /* round */
round:
  str xzr, [x20]
  add w1, w22, #'a'
  str w1, [x21, #UART_DR]         /* asserts the line */
  mov x1, #2
  wait_at_least x20, 0, x1
  add x22, x22, #1
  cmp x22, #ROUNDS
  b.lo round
  str wzr, [x21, #UART_IMSC]
  ldr w23, [x21, #UART_RIS]
  puts "\ndeliveries per round 2, raw status after the last clear "
  mov x0, x23
  bl putdec
  puts ", MIS seen by the handler "
  ldr x0, [x20, #8]
  bl putdec
  putc '\n'
  movq x9, DOORBELL
  mov w10, #0
  str w10, [x9]
  str w10, [x9]
  str w10, [x9]
  puts "doorbell rung 3 times\n"
  ret x27

/* INTID 33: count; clear the TX interrupt on the second delivery of a round. */
irq_handler:
  movq x9, COUNT
  movq x10, UART
  ldr w11, [x10, #UART_MIS]
  ldr x12, [x9, #8]
  add x12, x12, x11
  str x12, [x9, #8]
  ldr x12, [x9]
  add x12, x12, #1
  str x12, [x9]
  cmp x12, #2
  b.lo 1f
  mov w11, #UART_TXI
  str w11, [x10, #UART_ICR]
1:ret

secondary_main:
  ret
