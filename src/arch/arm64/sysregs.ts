/**
 * The AArch64 system registers this vCPU implements, as data: name, encoding, reset value, how
 * the guest may reach them and whether ONE_REG exposes them. MRS/MSR (sysaccess.ts),
 * KVM_GET/SET_ONE_REG and KVM_GET_REG_LIST all come from here.
 * @module
 */

export interface SysRegDef {
  readonly name: string;
  /** op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2 */
  readonly key: number;
  readonly reset: bigint;
  /** Read-only (ID registers): MSR is UNDEFINED; ONE_REG may only write the current value. */
  readonly ro?: boolean;
  /** Accessible from EL0 (further conditions, like SCTLR_EL1.UCT, live in sysaccess.ts). */
  readonly el0?: 'r' | 'rw';
  /** Bits a guest MSR may change (default: all). */
  readonly wmask?: bigint;
  /** Not in KVM_GET_REG_LIST / ONE_REG (write-only or computed registers). */
  readonly hidden?: boolean;
  /** A GICv3 CPU-interface register (ICC_*): the guest reaches the vGIC (vgic/cpuif.ts), UNDEF without one. */
  readonly gic?: boolean;
  /**
   * An AArch32 ID register on this AArch64-only vCPU: RAZ, and KVM_SET_ONE_REG succeeds without
   * effect (sys_regs.c aa32_id_visibility: REG_RAZ | REG_USER_WI).
   */
  readonly userWi?: boolean;
  /** ONE_REG only: the guest's MRS/MSR is UNDEFINED (KVM's undef_access, or no trap at all without the feature). */
  readonly noGuest?: boolean;
}

const key = (op0: number, op1: number, crn: number, crm: number, op2: number): number =>
  ((op0 & 3) << 14) | ((op1 & 7) << 11) | ((crn & 15) << 7) | ((crm & 15) << 3) | (op2 & 7);

const R = (name: string, op0: number, op1: number, crn: number, crm: number, op2: number, reset = 0n, extra: Partial<SysRegDef> = {}): SysRegDef => ({
  name,
  key: key(op0, op1, crn, crm, op2),
  reset,
  ...extra,
});
const ID = (name: string, crm: number, op2: number, reset = 0n): SysRegDef => R(name, 3, 0, 0, crm, op2, reset, { ro: true });
/** AArch32 ID registers (AA32_ID_WRITABLE in sys_regs.c): RAZ / user WI here. */
const AA32 = (name: string, crm: number, op2: number): SysRegDef => R(name, 3, 0, 0, crm, op2, 0n, { ro: true, userWi: true });
/** KVM's ID_HIDDEN and ID_UNALLOCATED(crm, op2): RAZ; ONE_REG takes 0 only (set_id_reg -> arm64_check_features). */
const RAZ = (name: string, crm: number, op2: number): SysRegDef => ID(name, crm, op2);

/** Breakpoints (ID_AA64DFR0_EL1.BRPs + 1), watchpoints (WRPs + 1), context-aware breakpoints (CTX_CMPs + 1). */
export const NUM_BRPS = 6;
export const NUM_WRPS = 4;
export const NUM_CTX_CMPS = 2;

/**
 * ID_AA64DFR0_EL1: DebugVer 6 (Armv8.0 debug) [3:0], TraceVer 0, PMUVer 0 (no PMU), BRPs 5 [15:12],
 * WRPs 3 [23:20], CTX_CMPs 1 [31:28].
 */
export const ID_AA64DFR0 = 0x6n | (BigInt(NUM_BRPS - 1) << 12n) | (BigInt(NUM_WRPS - 1) << 20n) | (BigInt(NUM_CTX_CMPS - 1) << 28n);

/** CNTFRQ_EL0: the generic timer frequency (62.5 MHz, as QEMU's virt board). */
export const CNTFRQ = 62_500_000;

/** Implemented system registers (EL1 view of an Armv8.0 core with 6 BRPs and 4 WRPs). */
export const SYSREGS: readonly SysRegDef[] = [
  // Identification (read-only)
  ID('MIDR_EL1', 0, 0, 0x410fd034n), // Cortex-A53 r0p4
  ID('MPIDR_EL1', 0, 5, 0x80000000n), // per vCPU, set from the vcpu id
  ID('REVIDR_EL1', 0, 6),
  // The AArch32 ID registers (CRm 1-3) and KVM's hidden/unallocated ones: the whole ID space is
  // listed by KVM_GET_REG_LIST (sys_regs.c sys_reg_descs, CRm=1..7).
  AA32('ID_PFR0_EL1', 1, 0),
  AA32('ID_PFR1_EL1', 1, 1),
  AA32('ID_DFR0_EL1', 1, 2),
  RAZ('ID_AFR0_EL1', 1, 3),
  AA32('ID_MMFR0_EL1', 1, 4),
  AA32('ID_MMFR1_EL1', 1, 5),
  AA32('ID_MMFR2_EL1', 1, 6),
  AA32('ID_MMFR3_EL1', 1, 7),
  AA32('ID_ISAR0_EL1', 2, 0),
  AA32('ID_ISAR1_EL1', 2, 1),
  AA32('ID_ISAR2_EL1', 2, 2),
  AA32('ID_ISAR3_EL1', 2, 3),
  AA32('ID_ISAR4_EL1', 2, 4),
  AA32('ID_ISAR5_EL1', 2, 5),
  AA32('ID_MMFR4_EL1', 2, 6),
  AA32('ID_ISAR6_EL1', 2, 7),
  AA32('MVFR0_EL1', 3, 0),
  AA32('MVFR1_EL1', 3, 1),
  AA32('MVFR2_EL1', 3, 2),
  RAZ('ID_UNALLOCATED_3_3', 3, 3),
  AA32('ID_PFR2_EL1', 3, 4),
  RAZ('ID_DFR1_EL1', 3, 5),
  AA32('ID_MMFR5_EL1', 3, 6),
  RAZ('ID_UNALLOCATED_3_7', 3, 7),
  // EL0/EL1 AArch64 only, FP and AdvSIMD implemented, GIC system registers (a host GICv3; KVM
  // clears the field at the first KVM_RUN unless the VM has a vGICv3).
  ID('ID_AA64PFR0_EL1', 4, 0, 0x01000011n), // GIC cleared at the first KVM_RUN without a vGICv3 (run.ts)
  ID('ID_AA64PFR1_EL1', 4, 1),
  ID('ID_AA64PFR2_EL1', 4, 2),
  RAZ('ID_UNALLOCATED_4_3', 4, 3),
  ID('ID_AA64ZFR0_EL1', 4, 4),
  RAZ('ID_AA64SMFR0_EL1', 4, 5),
  RAZ('ID_UNALLOCATED_4_6', 4, 6),
  ID('ID_AA64FPFR0_EL1', 4, 7),
  ID('ID_AA64DFR0_EL1', 5, 0, ID_AA64DFR0),
  ID('ID_AA64DFR1_EL1', 5, 1),
  RAZ('ID_UNALLOCATED_5_2', 5, 2),
  RAZ('ID_UNALLOCATED_5_3', 5, 3),
  ID('ID_AA64AFR0_EL1', 5, 4),
  ID('ID_AA64AFR1_EL1', 5, 5),
  RAZ('ID_UNALLOCATED_5_6', 5, 6),
  RAZ('ID_UNALLOCATED_5_7', 5, 7),
  ID('ID_AA64ISAR0_EL1', 6, 0, 0x0000000000210000n), // Atomic (LSE) = 2, CRC32 = 1
  ID('ID_AA64ISAR1_EL1', 6, 1),
  ID('ID_AA64ISAR2_EL1', 6, 2),
  ID('ID_AA64ISAR3_EL1', 6, 3),
  RAZ('ID_UNALLOCATED_6_4', 6, 4),
  RAZ('ID_UNALLOCATED_6_5', 6, 5),
  RAZ('ID_UNALLOCATED_6_6', 6, 6),
  RAZ('ID_UNALLOCATED_6_7', 6, 7),
  ID('ID_AA64MMFR0_EL1', 7, 0, 0x000000000f000005n), // PARange 48 bits, 8-bit ASID, 4K granule only
  ID('ID_AA64MMFR1_EL1', 7, 1),
  ID('ID_AA64MMFR2_EL1', 7, 2),
  ID('ID_AA64MMFR3_EL1', 7, 3),
  ID('ID_AA64MMFR4_EL1', 7, 4),
  RAZ('ID_UNALLOCATED_7_5', 7, 5),
  RAZ('ID_UNALLOCATED_7_6', 7, 6),
  RAZ('ID_UNALLOCATED_7_7', 7, 7),
  R('AIDR_EL1', 3, 1, 0, 0, 7, 0n, { ro: true }), // invariant_sys_regs: the host's (none here)
  R('CTR_EL0', 3, 3, 0, 0, 1, 0x84448004n, { ro: true, el0: 'r' }),
  // DC ZVA block: 2^4 words. Not a ONE_REG: KVM only traps it (access_dczid, no reg or get_user).
  R('DCZID_EL0', 3, 3, 0, 0, 7, 0x4n, { ro: true, el0: 'r', hidden: true }),
  R('CLIDR_EL1', 3, 1, 0, 0, 1, 0x0a200023n, { ro: true }),
  R('CSSELR_EL1', 3, 2, 0, 0, 0, 0n, { wmask: 0xfn }),
  // System control
  // KVM's reset value (sys_regs.c): SA, SA0, CP15BEN, nTWI, nTWE, EIS, SPAN; MMU and caches off.
  R('SCTLR_EL1', 3, 0, 1, 0, 0, 0x00c50078n),
  R('ACTLR_EL1', 3, 0, 1, 0, 1),
  R('CPACR_EL1', 3, 0, 1, 0, 2, 0n, { wmask: 0x3n << 20n }),
  R('TTBR0_EL1', 3, 0, 2, 0, 0),
  R('TTBR1_EL1', 3, 0, 2, 0, 1),
  R('TCR_EL1', 3, 0, 2, 0, 2),
  R('AFSR0_EL1', 3, 0, 5, 1, 0),
  R('AFSR1_EL1', 3, 0, 5, 1, 1),
  R('ESR_EL1', 3, 0, 5, 2, 0),
  R('FAR_EL1', 3, 0, 6, 0, 0),
  R('PAR_EL1', 3, 0, 7, 4, 0),
  R('MAIR_EL1', 3, 0, 10, 2, 0),
  R('AMAIR_EL1', 3, 0, 10, 3, 0),
  R('VBAR_EL1', 3, 0, 12, 0, 0, 0n, { wmask: ~0x7ffn & 0xffffffffffffffffn }),
  R('CONTEXTIDR_EL1', 3, 0, 13, 0, 1, 0n, { wmask: 0xffffffffn }),
  R('TPIDR_EL1', 3, 0, 13, 0, 4),
  R('TPIDR_EL0', 3, 3, 13, 0, 2, 0n, { el0: 'rw' }),
  R('TPIDRRO_EL0', 3, 3, 13, 0, 3, 0n, { el0: 'r' }),
  R('CNTKCTL_EL1', 3, 0, 14, 1, 0),
  // KVM lists these with no guest access here: DISR_EL1 needs FEAT_RAS (not in ID_AA64PFR0), the
  // AArch32 EL2 views are undef_access (and EL2 encodings anyway).
  R('DISR_EL1', 3, 0, 12, 1, 1, 0n, { noGuest: true }),
  R('DACR32_EL2', 3, 4, 3, 0, 0, 0n, { noGuest: true }),
  R('IFSR32_EL2', 3, 4, 5, 0, 1, 0n, { noGuest: true }),
  R('FPEXC32_EL2', 3, 4, 5, 3, 0, 0x700n, { noGuest: true }),
  R('DBGVCR32_EL2', 2, 4, 0, 7, 0, 0n, { noGuest: true }),
  // Generic timer, as KVM exposes it to ONE_REG. KVM_REG_ARM_TIMER_CNT and _CVAL famously carry
  // each other's encodings (CNT is op2=2 of CRm=3, CVAL is CNTVCT's encoding); the guest's view
  // goes through sysaccess.ts, which keeps them apart.
  R('KVM_REG_ARM_TIMER_CTL', 3, 3, 14, 3, 1, 0n, { wmask: 0x3n }),
  R('KVM_REG_ARM_TIMER_CNT', 3, 3, 14, 3, 2),
  R('KVM_REG_ARM_TIMER_CVAL', 3, 3, 14, 0, 2),
  // The physical timer's ONE_REGs carry their own encodings (CNTP_CTL, CNTPCT, CNTP_CVAL).
  R('KVM_REG_ARM_PTIMER_CTL', 3, 3, 14, 2, 1, 0n, { wmask: 0x3n }),
  R('KVM_REG_ARM_PTIMER_CNT', 3, 3, 14, 0, 1),
  R('KVM_REG_ARM_PTIMER_CVAL', 3, 3, 14, 2, 2),
  // Interrupt status (ISR_EL1: the vCPU's pending IRQ/FIQ), computed.
  R('ISR_EL1', 3, 0, 12, 1, 0, 0n, { hidden: true, ro: true }),
  // The GICv3 CPU interface: state in the vGIC, saved through KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS.
  ...(
    [
      ['ICC_PMR_EL1', 4, 6, 0],
      ['ICC_IAR0_EL1', 12, 8, 0],
      ['ICC_EOIR0_EL1', 12, 8, 1],
      ['ICC_HPPIR0_EL1', 12, 8, 2],
      ['ICC_BPR0_EL1', 12, 8, 3],
      ['ICC_AP0R0_EL1', 12, 8, 4],
      ['ICC_AP0R1_EL1', 12, 8, 5],
      ['ICC_AP0R2_EL1', 12, 8, 6],
      ['ICC_AP0R3_EL1', 12, 8, 7],
      ['ICC_AP1R0_EL1', 12, 9, 0],
      ['ICC_AP1R1_EL1', 12, 9, 1],
      ['ICC_AP1R2_EL1', 12, 9, 2],
      ['ICC_AP1R3_EL1', 12, 9, 3],
      ['ICC_DIR_EL1', 12, 11, 1],
      ['ICC_RPR_EL1', 12, 11, 3],
      ['ICC_SGI1R_EL1', 12, 11, 5],
      ['ICC_ASGI1R_EL1', 12, 11, 6],
      ['ICC_SGI0R_EL1', 12, 11, 7],
      ['ICC_IAR1_EL1', 12, 12, 0],
      ['ICC_EOIR1_EL1', 12, 12, 1],
      ['ICC_HPPIR1_EL1', 12, 12, 2],
      ['ICC_BPR1_EL1', 12, 12, 3],
      ['ICC_CTLR_EL1', 12, 12, 4],
      ['ICC_SRE_EL1', 12, 12, 5],
      ['ICC_IGRPEN0_EL1', 12, 12, 6],
      ['ICC_IGRPEN1_EL1', 12, 12, 7],
    ] as const
  ).map(([name, crn, crm, op2]) => R(name, 3, 0, crn, crm, op2, 0n, { hidden: true, gic: true })),
  // Debug
  R('MDCCINT_EL1', 2, 0, 0, 2, 0),
  R('MDSCR_EL1', 2, 0, 0, 2, 2),
  R('OSLAR_EL1', 2, 0, 1, 0, 4, 0n, { hidden: true }),
  // OSLM = 0b10 (OS lock implemented); the guest changes OSLK through OSLAR_EL1 only.
  R('OSLSR_EL1', 2, 0, 1, 1, 4, 0x8n, { ro: true }),
  // KVM treats the OS double lock as RAZ/WI (trap_raz_wi), and lists no ONE_REG for it.
  R('OSDLR_EL1', 2, 0, 1, 3, 4, 0n, { hidden: true, ro: true }),
  R('DBGCLAIMSET_EL1', 2, 0, 7, 8, 6, 0n, { hidden: true }),
  R('DBGCLAIMCLR_EL1', 2, 0, 7, 9, 6, 0n, { hidden: true }),
  R('DBGAUTHSTATUS_EL1', 2, 0, 7, 14, 6, 0xaan, { hidden: true, ro: true }),
  R('MDRAR_EL1', 2, 0, 1, 0, 0, 0n, { hidden: true, ro: true }),
  ...Array.from({ length: NUM_BRPS }, (_, n) => [
    R(`DBGBVR${n}_EL1`, 2, 0, 0, n, 4),
    R(`DBGBCR${n}_EL1`, 2, 0, 0, n, 5),
  ]).flat(),
  ...Array.from({ length: NUM_WRPS }, (_, n) => [
    R(`DBGWVR${n}_EL1`, 2, 0, 0, n, 6),
    R(`DBGWCR${n}_EL1`, 2, 0, 0, n, 7),
  ]).flat(),
  // KVM (6.12) lists and stores all 16 of each (DBG_BCR_BVR_WCR_WVR_EL1(0..15)) whatever BRPs/WRPs
  // say; those past the implemented ones are plain storage that arms nothing.
  ...Array.from({ length: 16 - NUM_BRPS }, (_, k) => [
    R(`DBGBVR${NUM_BRPS + k}_EL1`, 2, 0, 0, NUM_BRPS + k, 4),
    R(`DBGBCR${NUM_BRPS + k}_EL1`, 2, 0, 0, NUM_BRPS + k, 5),
  ]).flat(),
  ...Array.from({ length: 16 - NUM_WRPS }, (_, k) => [
    R(`DBGWVR${NUM_WRPS + k}_EL1`, 2, 0, 0, NUM_WRPS + k, 6),
    R(`DBGWCR${NUM_WRPS + k}_EL1`, 2, 0, 0, NUM_WRPS + k, 7),
  ]).flat(),
];

export const SYSREG_BY_KEY: ReadonlyMap<number, SysRegDef> = new Map(SYSREGS.map((r) => [r.key, r]));
export const SYSREG_BY_NAME: ReadonlyMap<string, SysRegDef> = new Map(SYSREGS.map((r) => [r.name, r]));
/** Position in SYSREGS (the index of the dense register array) by key. */
export const SYSREG_INDEX: ReadonlyMap<number, number> = new Map(SYSREGS.map((r, i) => [r.key, i]));

/** Position in SYSREGS of a register by name (throws on a typo: the table is the single truth). */
export function sysIndex(name: string): number {
  const i = SYSREGS.findIndex((r) => r.name === name);
  if (i < 0) throw new Error(`unknown sysreg ${name}`);
  return i;
}

/** Dense indexes of the registers the interpreter touches directly. */
export const SR = {
  MIDR: sysIndex('MIDR_EL1'),
  MPIDR: sysIndex('MPIDR_EL1'),
  SCTLR: sysIndex('SCTLR_EL1'),
  CPACR: sysIndex('CPACR_EL1'),
  TTBR0: sysIndex('TTBR0_EL1'),
  TTBR1: sysIndex('TTBR1_EL1'),
  TCR: sysIndex('TCR_EL1'),
  ESR: sysIndex('ESR_EL1'),
  FAR: sysIndex('FAR_EL1'),
  PAR: sysIndex('PAR_EL1'),
  MAIR: sysIndex('MAIR_EL1'),
  VBAR: sysIndex('VBAR_EL1'),
  CONTEXTIDR: sysIndex('CONTEXTIDR_EL1'),
  CNTKCTL: sysIndex('CNTKCTL_EL1'),
  CSSELR: sysIndex('CSSELR_EL1'),
  TIMER_CTL: sysIndex('KVM_REG_ARM_TIMER_CTL'),
  TIMER_CNT: sysIndex('KVM_REG_ARM_TIMER_CNT'),
  TIMER_CVAL: sysIndex('KVM_REG_ARM_TIMER_CVAL'),
  PTIMER_CTL: sysIndex('KVM_REG_ARM_PTIMER_CTL'),
  PTIMER_CNT: sysIndex('KVM_REG_ARM_PTIMER_CNT'),
  PTIMER_CVAL: sysIndex('KVM_REG_ARM_PTIMER_CVAL'),
  ISR: sysIndex('ISR_EL1'),
  ID_AA64PFR0: sysIndex('ID_AA64PFR0_EL1'),
  MDSCR: sysIndex('MDSCR_EL1'),
  OSLSR: sysIndex('OSLSR_EL1'),
  OSDLR: sysIndex('OSDLR_EL1'),
  DBGBVR0: sysIndex('DBGBVR0_EL1'),
  DBGWVR0: sysIndex('DBGWVR0_EL1'),
} as const;

/** MPIDR_EL1 for a vcpu id, as KVM's reset_mpidr builds it (Aff0 gets 4 bits for GICv3 SGIs). */
export function mpidrFor(vcpuId: number): bigint {
  const aff0 = vcpuId & 0x0f;
  const aff1 = (vcpuId >> 4) & 0xff;
  const aff2 = (vcpuId >> 12) & 0xff;
  return (1n << 31n) | BigInt(aff0 | (aff1 << 8) | (aff2 << 16));
}
