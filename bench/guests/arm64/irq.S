/*
 * The arm64 interrupt benchmark guest (bench/irq.ts), flat at 0x40000000, entered at EL1 with the
 * MMU off on the "virt" board's GICv3 (distributor 0x08000000, redistributor 0x080a0000).
 *   x0 = 0: irqfd round trip. SPI 32 (GSI 0, edge) is enabled, a store to 0x09000000 tells the
 *           host (an irqfd pulse is lost on a level SPI); the vCPU then waits in WFI. Each
 *           interrupt: acknowledge, a store to the doorbell 0x0a000000 (an ioeventfd), EOI, then
 *           a store to 0x09000000 (an MMIO exit: the host's turn), back to WFI.
 *   x0 = 1: timer interrupt rate. The virtual timer (PPI 27) is re-armed by its handler with
 *           TVAL = 1, so it is due again at once; every x1 interrupts, a store to 0x09000000.
 */
#define GICD     0x08000000
#define GICR     0x080a0000
#define DOORBELL 0x0a000000
#define EXIT     0x09000000

.macro movq reg, val
  movz \reg, #((\val) & 0xffff)
  movk \reg, #(((\val) >> 16) & 0xffff), lsl #16
.endm

.text
.global _start
_start:
  adr x9, vectors
  msr vbar_el1, x9
  adr x9, stack_top
  mov sp, x9
  mov x19, x0                     /* mode */
  mov x20, x1                     /* interrupts per exit (mode 1) */
  mov x21, #0                     /* count */
  movq x22, DOORBELL
  movq x23, EXIT
  /* Distributor: ARE_NS | EnableGrp1A; SPIs 32-63 Group 1, SPI 32 edge, priority 0x80, enabled. */
  movq x10, GICD
  mov w11, #0x12
  str w11, [x10]
  mov w11, #-1
  str w11, [x10, #0x84]           /* IGROUPR1 */
  mov w11, #2
  str w11, [x10, #0xc08]          /* ICFGR2: INTID 32 edge */
  mov w11, #0x80
  strb w11, [x10, #0x420]         /* IPRIORITYR: INTID 32 */
  mov w11, #1
  str w11, [x10, #0x104]          /* ISENABLER1: INTID 32 */
  /* Redistributor 0: awake, SGIs/PPIs Group 1, PPI 27 at priority 0x80 and enabled. */
  movq x10, GICR
  ldr w11, [x10, #0x14]
  bic w11, w11, #2
  str w11, [x10, #0x14]           /* GICR_WAKER */
  add x10, x10, #0x10000
  mov w11, #-1
  str w11, [x10, #0x80]           /* GICR_IGROUPR0 */
  mov w11, #0x80
  strb w11, [x10, #0x41b]         /* GICR_IPRIORITYR: INTID 27 */
  mov w11, #(1 << 27)
  str w11, [x10, #0x100]          /* GICR_ISENABLER0 */
  /* CPU interface */
  mov x11, #7
  msr s3_0_c12_c12_5, x11         /* ICC_SRE_EL1 */
  isb
  mov x11, #0xf0
  msr s3_0_c4_c6_0, x11           /* ICC_PMR_EL1 */
  mov x11, #1
  msr s3_0_c12_c12_7, x11         /* ICC_IGRPEN1_EL1 */
  isb
  cbnz x19, 0f
  str wzr, [x23]                  /* set up: the host's turn */
  b 1f
0:mov x11, #1
  msr cntv_tval_el0, x11
  msr cntv_ctl_el0, x11
1:msr daifclr, #2
2:wfi
  b 2b

irq:
  mrs x0, s3_0_c12_c12_0          /* ICC_IAR1_EL1 */
  cbnz x19, 3f
  str wzr, [x22]                  /* the doorbell: an ioeventfd */
  msr s3_0_c12_c12_1, x0          /* ICC_EOIR1_EL1 */
  str wzr, [x23]                  /* the host's turn */
  eret
3:mov x1, #1
  msr cntv_tval_el0, x1           /* due again at once */
  msr s3_0_c12_c12_1, x0
  add x21, x21, #1
  cmp x21, x20
  b.lo 4f
  mov x21, #0
  str wzr, [x23]
4:eret

bad:
  mrs x0, esr_el1
  str w0, [x23, #4]
  b bad

.balign 0x800
vectors:
  .rept 5
  b bad
  .balign 0x80
  .endr
  b irq                           /* current EL, SP_ELx: IRQ */
  .balign 0x80
  .rept 10
  b bad
  .balign 0x80
  .endr

.balign 16
  .space 0x1000
stack_top:
