/*
 * The arch timers: the virtual (CNTV, PPI 27) and physical (CNTP, PPI 30) EL1 timers each fire
 * once while the vCPU waits in WFI; a masked timer condition (IMASK) raises no interrupt and
 * one pending while PSTATE.I is set wakes WFI without being taken (ISR_EL1.I shows it).
 */
#include "irq.inc"
#define FLAG    (DATA + 0)
#define ISTAT   (DATA + 8)
#define TICKS   62500               /* 1 ms at 62.5 MHz */

main:
  mov x27, x30
  puts "timer\n"
  mov w0, #27
  bl irq_enable
  mov w0, #30
  bl irq_enable
  movq x20, FLAG
  msr daifclr, #2

  /* virtual timer in WFI */
  str xzr, [x20]
  mrs x19, cntvct_el0
  movq x0, TICKS
  msr cntv_tval_el0, x0
  mov x0, #1
  msr cntv_ctl_el0, x0
  isb
  mov x1, #1
  wait_at_least x20, 0, x1
  mrs x1, cntvct_el0
  sub x1, x1, x19
  puts "vtimer: irq "
  ldr x0, [x20]
  bl putdec
  puts " istatus "
  ldr x0, [x20, #8]
  bl putdec
  movq x2, TICKS
  cmp x1, x2
  b.lo 2f
  puts " after its deadline\n"
  b 3f
2:puts " too early\n"
3:
  /* physical timer in WFI */
  str xzr, [x20]
  mrs x19, cntpct_el0
  movq x0, TICKS
  msr cntp_tval_el0, x0
  mov x0, #1
  msr cntp_ctl_el0, x0
  isb
  mov x1, #1
  wait_at_least x20, 0, x1
  mrs x1, cntpct_el0
  sub x1, x1, x19
  puts "ptimer: irq "
  ldr x0, [x20]
  bl putdec
  puts " istatus "
  ldr x0, [x20, #8]
  bl putdec
  movq x2, TICKS
  cmp x1, x2
  b.lo 2f
  puts " after its deadline\n"
  b 3f
2:puts " too early\n"
3:
  /* IMASK: the condition holds (ISTATUS) but nothing is signalled */
  str xzr, [x20]
  mov x0, #3                      /* ENABLE | IMASK */
  msr cntv_ctl_el0, x0
  msr cntv_tval_el0, xzr
  isb
  mrs x19, cntvct_el0
1:mrs x0, cntvct_el0
  sub x0, x0, x19
  movq x2, TICKS
  cmp x0, x2
  b.lo 1b
  puts "masked: irq "
  ldr x0, [x20]
  bl putdec
  mrs x21, cntv_ctl_el0
  puts " ctl "
  mov x0, x21
  bl putdec
  putc '\n'
  /* PSTATE.I set: WFI wakes on the pending interrupt, which is taken only once unmasked */
  msr daifset, #2
  mov x0, #1                      /* unmask the timer: the interrupt becomes pending */
  msr cntv_ctl_el0, x0
  isb
  wfi
  mrs x21, isr_el1
  ldr x22, [x20]
  puts "wfi woke with isr "
  mov x0, x21
  bl putdec
  puts ", taken "
  mov x0, x22
  bl putdec
  msr daifclr, #2
  isb
  ldr x22, [x20]
  puts ", after unmasking "
  mov x0, x22
  bl putdec
  putc '\n'
  ret x27

/* Records the INTID and the timer's ISTATUS, then disables that timer. */
irq_handler:
  movq x9, FLAG
  str x0, [x9]
  cmp x0, #27
  b.ne 1f
  mrs x10, cntv_ctl_el0
  ubfx x10, x10, #2, #1
  str x10, [x9, #8]
  msr cntv_ctl_el0, xzr
  ret
1:mrs x10, cntp_ctl_el0
  ubfx x10, x10, #2, #1
  str x10, [x9, #8]
  msr cntp_ctl_el0, xzr
  ret

secondary_main:
  ret
