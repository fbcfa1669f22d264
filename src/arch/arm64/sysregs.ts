/**
 * The AArch64 system registers this vCPU implements, as data: name, encoding, reset value and
 * whether ONE_REG exposes them. The interpreter's MRS/MSR and KVM_GET_REG_LIST come from here.
 * @module
 */
import { sysreg } from './state.js';

export interface SysRegDef {
  readonly name: string;
  readonly key: number;
  readonly reset: bigint;
  /** Read-only from the guest (ID registers): MSR is UNDEFINED. */
  readonly ro?: boolean;
}

const R = (name: string, op0: number, op1: number, crn: number, crm: number, op2: number, reset = 0n, ro = false): SysRegDef => ({
  name,
  key: sysreg(op0, op1, crn, crm, op2),
  reset,
  ...(ro ? { ro } : {}),
});

/** Implemented system registers (EL1 view of an Armv8.0 core with 6 BRPs and 4 WRPs). */
export const SYSREGS: readonly SysRegDef[] = [
  // Identification (read-only)
  R('MIDR_EL1', 3, 0, 0, 0, 0, 0x410fd034n, true), // Cortex-A53 r0p4
  R('MPIDR_EL1', 3, 0, 0, 0, 5, 0x80000000n, true),
  R('REVIDR_EL1', 3, 0, 0, 0, 6, 0n, true),
  R('ID_AA64PFR0_EL1', 3, 0, 0, 4, 0, 0x0000000000000011n, true), // EL0/EL1 AArch64 only
  R('ID_AA64PFR1_EL1', 3, 0, 0, 4, 1, 0n, true),
  // DebugVer 6 (v8.0), TraceVer 0, PMUVer 0, BRPs 5 (6), WRPs 3 (4), CTX_CMPs 1 (2)
  R('ID_AA64DFR0_EL1', 3, 0, 0, 5, 0, 0x0000000000135006n, true),
  R('ID_AA64DFR1_EL1', 3, 0, 0, 5, 1, 0n, true),
  R('ID_AA64ISAR0_EL1', 3, 0, 0, 6, 0, 0x0000000000200000n, true), // Atomic (LSE) = 2
  R('ID_AA64ISAR1_EL1', 3, 0, 0, 6, 1, 0n, true),
  R('ID_AA64MMFR0_EL1', 3, 0, 0, 7, 0, 0x0000000000000005n, true), // PARange 48 bits, 4K granule
  R('ID_AA64MMFR1_EL1', 3, 0, 0, 7, 1, 0n, true),
  R('ID_AA64MMFR2_EL1', 3, 0, 0, 7, 2, 0n, true),
  R('CTR_EL0', 3, 3, 0, 0, 1, 0x84448004n, true),
  R('DCZID_EL0', 3, 3, 0, 0, 7, 0x4n, true),
  // System control
  R('SCTLR_EL1', 3, 0, 1, 0, 0, 0x30d00800n),
  R('ACTLR_EL1', 3, 0, 1, 0, 1),
  R('CPACR_EL1', 3, 0, 1, 0, 2),
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
  R('VBAR_EL1', 3, 0, 12, 0, 0),
  R('CONTEXTIDR_EL1', 3, 0, 13, 0, 1),
  R('TPIDR_EL1', 3, 0, 13, 0, 4),
  R('TPIDR_EL0', 3, 3, 13, 0, 2),
  R('TPIDRRO_EL0', 3, 3, 13, 0, 3),
  R('CNTKCTL_EL1', 3, 0, 14, 1, 0),
  // Debug
  R('MDSCR_EL1', 2, 0, 0, 2, 2),
  R('OSLAR_EL1', 2, 0, 1, 0, 4),
  R('OSLSR_EL1', 2, 0, 1, 1, 4, 0x8n),
  R('OSDLR_EL1', 2, 0, 1, 3, 4),
  ...Array.from({ length: 6 }, (_, n) => [R(`DBGBVR${n}_EL1`, 2, 0, 0, n, 4), R(`DBGBCR${n}_EL1`, 2, 0, 0, n, 5)]).flat(),
  ...Array.from({ length: 4 }, (_, n) => [R(`DBGWVR${n}_EL1`, 2, 0, 0, n, 6), R(`DBGWCR${n}_EL1`, 2, 0, 0, n, 7)]).flat(),
];

export const SYSREG_BY_KEY: ReadonlyMap<number, SysRegDef> = new Map(SYSREGS.map((r) => [r.key, r]));
export const SYSREG_BY_NAME: ReadonlyMap<string, SysRegDef> = new Map(SYSREGS.map((r) => [r.name, r]));
