/*
 * The exception model: synchronous exceptions from EL1 and EL0 to the VBAR_EL1 vectors and back
 * with ERET. Every exception appends a 64-byte record to the log at RAM_BASE + 0x20000:
 *   [vector offset, ESR_EL1, ELR_EL1, FAR_EL1, SPSR_EL1, expected ELR (x21), expected FAR (x22), 0]
 * The handler skips the faulting instruction (ELR += 4), except SVC (ELR is already past it),
 * SVC #0xff from EL0 (back to EL1 at x18), and PC alignment / illegal state (resume at x18).
 * x0 at SYSTEM_OFF = number of records.
 */
#include "common.inc"
.text
.global _start
_start:
  adr x0, vectors
  msr vbar_el1, x0
  movq x20, (RAM_BASE + 0x20000)
  movq x23, (RAM_BASE + 0x20000)
  movq x2, (RAM_BASE + 0x30001)     /* an unaligned address in RAM */
  isb

  adr x21, 1f + 4
  mov x22, #0
1:svc #0x12                         /* EC 0x15, ISS 0x12, ELR = next */

  adr x21, 1f
1:.inst 0x00000000                  /* UDF #0: EC 0 */

  adr x21, 1f
1:brk #0x77                         /* EC 0x3c */

  adr x21, 1f
  mov x22, x2
1:ldr x1, [x2]                      /* MMU off: Device memory, unaligned: alignment fault */

  adr x21, 1f
1:str w1, [x2]                      /* the same for a store (WnR) */

  adr x21, 1f
  mov x22, #0
1:mrs x1, s3_0_c9_c9_0              /* no such register: UNDEF */

  adr x21, 1f
1:mrs x1, s3_1_c15_c2_0             /* IMPDEF, IDSR exits not enabled: UNDEF */

  movq x0, 0x12345678               /* unknown SMCCC function: X0 = -1, no exception */
  hvc #0                            /* (X1-X3 are zeroed too) */
  mov x24, x0
  movq x2, (RAM_BASE + 0x30001)

  adr x18, 2f                       /* PC alignment fault: resume at 2f */
  adr x1, 1f
  add x1, x1, #2
  mov x21, x1
  mov x22, x1
  br x1
1:nop
2:
  mrs x1, sctlr_el1                 /* SP alignment checking (SCTLR_EL1.SA, set at reset) */
  orr x3, x1, #(1 << 3)
  msr sctlr_el1, x3
  isb
  mov x4, sp
  sub x5, x4, #8
  mov sp, x5
  adr x21, 1f
  mov x22, #0
1:ldr x6, [sp]                      /* EC 0x26 */
  mov sp, x4
  msr sctlr_el1, x1
  isb

  /* Drop to EL0, with WFI trapped there (KVM resets SCTLR_EL1.nTWI to 1) */
  mrs x3, sctlr_el1
  bic x3, x3, #(1 << 16)
  msr sctlr_el1, x3
  isb
  adr x18, back_at_el1
  movq x3, (RAM_BASE + 0x38000)
  msr sp_el0, x3
  msr spsr_el1, xzr                 /* EL0t, DAIF clear */
  adr x3, el0_code
  msr elr_el1, x3
  eret

el0_code:
  adr x21, 1f + 4
1:svc #0x34                         /* from EL0: vector 0x400 */
  adr x21, 1f
1:hvc #0                            /* UNDEFINED at EL0 */
  adr x21, 1f
1:mrs x1, sctlr_el1                 /* EL1 register from EL0 */
  adr x21, 1f
1:wfi                               /* SCTLR_EL1.nTWI = 0: trapped to EL1, EC 0x01 */
  adr x21, 1f
1:msr daifset, #2                   /* SCTLR_EL1.UMA = 0 */
  adr x21, 1f
1:mrs x1, ctr_el0                   /* SCTLR_EL1.UCT = 0 */
  adr x21, 1f
  mov x22, x2
1:ldr x1, [x2]                      /* alignment fault from EL0: EC 0x24 */
  mov x22, #0
  mrs x25, tpidr_el0                /* EL0-accessible: no exception */
  mrs x26, nzcv
  adr x21, 1f + 4
1:svc #0xff                         /* back to EL1 */

back_at_el1:
  /* Illegal exception return: SPSR.M = EL2h */
  adr x18, 2f
  mov x3, #0x3c9
  msr spsr_el1, x3
  adr x3, 1f
  msr elr_el1, x3
  mov x21, x3
  eret
1:nop                               /* PSTATE.IL = 1: EC 0x0e here */
2:
  mrs x27, currentel
  sub x0, x20, x23
  lsr x0, x0, #6
  mov x19, x0
  system_off

#include "vectors.inc"
