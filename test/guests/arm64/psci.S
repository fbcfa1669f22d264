/*
 * PSCI over HVC. vCPU 0 (x0 = 0 at entry) queries the interface, powers vCPU 1 on (entry
 * `secondary`, context 0x5ec0), makes an MMIO write to 0x09000000 so the VMM can run vCPU 1,
 * then checks vCPU 1 went off again and calls SYSTEM_OFF. With x0 = 1 at entry it calls
 * SYSTEM_RESET right away. Results: 8-byte slots at RAM_BASE + 0x20000.
 */
#include "common.inc"
#define OUT (RAM_BASE + 0x20000)

.macro mov_or_movq reg, val
  .ifc \val, x10
  mov \reg, x10
  .else
  movq \reg, \val
  .endif
.endm

.macro psci fn, a1=0, a2=0, a3=0, slot
  movq x0, \fn
  mov_or_movq x1, \a1
  mov_or_movq x2, \a2
  mov_or_movq x3, \a3
  hvc #0
  movq x9, (OUT + 8 * \slot)
  str x0, [x9]
.endm

.text
.global _start
_start:
  cbz x0, 1f
  movq x0, PSCI_SYSTEM_RESET
  hvc #0
1:
  psci PSCI_VERSION, slot=0
  psci PSCI_FEATURES, PSCI_CPU_ON64, slot=1
  psci PSCI_FEATURES, 0x8400000e, slot=2          /* SYSTEM_SUSPEND: not supported */
  psci 0x80000000, slot=3                         /* SMCCC_VERSION */
  psci PSCI_AFF_INFO64, 1, 0, slot=4              /* vCPU 1 is off */
  adr x10, secondary
  psci PSCI_CPU_ON64, 1, x10, 0x5ec0, slot=5
  psci PSCI_AFF_INFO64, 1, 0, slot=6              /* on */
  adr x10, secondary
  psci PSCI_CPU_ON64, 1, x10, 0, slot=7           /* already on */
  psci PSCI_CPU_ON64, 7, x10, 0, slot=8           /* no such vCPU: invalid parameters */
  psci 0x84000005, slot=9                         /* MIGRATE: not supported */
  psci 0x84000006, slot=10                        /* MIGRATE_INFO_TYPE: 2 (no migration) */
  movq x11, MMIO_BASE
  str xzr, [x11]                                  /* let the VMM run vCPU 1 */
  psci PSCI_AFF_INFO64, 1, 0, slot=11             /* off again */
  movq x9, (OUT + 8 * 16)
  ldr x19, [x9]                                   /* what vCPU 1 saw */
  system_off

secondary:
  mrs x1, currentel
  mrs x2, sctlr_el1
  movq x9, (OUT + 8 * 16)
  stp x0, x1, [x9]
  str x2, [x9, #16]
  movq x0, PSCI_CPU_OFF
  hvc #0
  b .                                             /* not reached */
