/**
 * The GICv3 CPU interface as the guest's system registers (ICC_*_EL1), which KVM gives a guest
 * through the hardware's virtual interface (ICV_*) and the SGI registers it traps
 * (vgic_v3_dispatch_sgi), and as userspace saves and restores them
 * (KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, arch/arm64/kvm/vgic-sys-reg-v3.c).
 *
 * 5 priority bits (so AP0R0/AP1R0 only), 16-bit INTIDs, no SEI, Aff3 valid in SGI targets
 * (ICC_CTLR_EL1: PRIbits 4, IDbits 0, SEIS 0, A3V 1); ICC_SRE_EL1 reads SRE|DFB|DIB, writes ignored.
 * @module
 */
import { BPR0_MIN, BPR1_MIN, CPU, NR_SGIS, PRI_BITS, PRI_MASK, SPURIOUS, type VgicState } from './vgic.js';

/** A system register key: op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2. */
const key = (op0: number, op1: number, crn: number, crm: number, op2: number) => (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2;

/** The ICC_*_EL1 registers by key. */
export const ICC = {
  PMR: key(3, 0, 4, 6, 0),
  IAR0: key(3, 0, 12, 8, 0),
  EOIR0: key(3, 0, 12, 8, 1),
  HPPIR0: key(3, 0, 12, 8, 2),
  BPR0: key(3, 0, 12, 8, 3),
  AP0R0: key(3, 0, 12, 8, 4),
  AP0R1: key(3, 0, 12, 8, 5),
  AP0R2: key(3, 0, 12, 8, 6),
  AP0R3: key(3, 0, 12, 8, 7),
  AP1R0: key(3, 0, 12, 9, 0),
  AP1R1: key(3, 0, 12, 9, 1),
  AP1R2: key(3, 0, 12, 9, 2),
  AP1R3: key(3, 0, 12, 9, 3),
  DIR: key(3, 0, 12, 11, 1),
  RPR: key(3, 0, 12, 11, 3),
  SGI1R: key(3, 0, 12, 11, 5),
  ASGI1R: key(3, 0, 12, 11, 6),
  SGI0R: key(3, 0, 12, 11, 7),
  IAR1: key(3, 0, 12, 12, 0),
  EOIR1: key(3, 0, 12, 12, 1),
  HPPIR1: key(3, 0, 12, 12, 2),
  BPR1: key(3, 0, 12, 12, 3),
  CTLR: key(3, 0, 12, 12, 4),
  SRE: key(3, 0, 12, 12, 5),
  IGRPEN0: key(3, 0, 12, 12, 6),
  IGRPEN1: key(3, 0, 12, 12, 7),
} as const;

/** ICC_SRE_EL1: SRE | DFB | DIB (vgic_v3_enable). */
export const SRE_VALUE = 7;
const CTLR_CBPR = 1;
const CTLR_EOIMODE = 2;
/** ICC_CTLR_EL1's read-only fields: PRIbits (5 bits: 4), IDbits 0, SEIS 0, A3V 1. */
const CTLR_RO = ((PRI_BITS - 1) << 8) | (1 << 15);

/** What a guest access did: a value read, or UNDEF (the caller injects it). */
export const UNDEF = -1;

/** Result of a read: the value in `lo`/`hi` (hi 0 for these 32-bit registers). */
export const RES = { lo: 0, hi: 0 };

/**
 * A guest MRS (read) or MSR of ICC register `k` by vCPU `v`. Returns 0 (done; a read's value in
 * RES) or UNDEF. Changing what the vCPU may take recomputes its output (and may kick it).
 */
export function iccAccess(g: VgicState, v: number, k: number, read: boolean, lo: number, hi: number): number {
  RES.lo = 0;
  RES.hi = 0;
  switch (k) {
    case ICC.IAR0:
    case ICC.IAR1:
    case ICC.HPPIR0:
    case ICC.HPPIR1:
    case ICC.RPR:
      if (!read) return UNDEF;
      if (k === ICC.RPR) RES.lo = g.runningPrio(v);
      else if (k === ICC.IAR0 || k === ICC.IAR1) RES.lo = g.ack(v, k === ICC.IAR1 ? 1 : 0);
      else RES.lo = g.highestPending(v, k === ICC.HPPIR1 ? 1 : 0);
      return 0;
    case ICC.EOIR0:
    case ICC.EOIR1:
      if (read) return UNDEF;
      g.eoi(v, k === ICC.EOIR1 ? 1 : 0, lo & 0xffffff, (g.cpuWord(v, CPU.CTLR) & CTLR_EOIMODE) === 0);
      return 0;
    case ICC.DIR:
      if (read) return UNDEF;
      g.deactivate(v, lo & 0xffffff);
      return 0;
    case ICC.SGI1R:
    case ICC.ASGI1R:
    case ICC.SGI0R:
      if (read) return UNDEF;
      dispatchSgi(g, v, lo, hi, k === ICC.SGI1R);
      return 0;
    case ICC.SRE:
      if (read) RES.lo = SRE_VALUE;
      return 0;
    default:
      break;
  }
  const r = sysregsAccess(g, v, k, read, lo);
  return r === 'ENOENT' || r === 'EINVAL' ? UNDEF : 0;
}

/**
 * The state registers both the guest and userspace reach (PMR, BPRs, CTLR, IGRPENs, APRs):
 * reads leave the value in RES. Userspace's writes are checked as set_gic_*; the guest's keep
 * the architecture's write rules (priorities masked to the implemented bits, binary points
 * clamped to their minimum).
 */
function sysregsAccess(g: VgicState, v: number, k: number, read: boolean, val: number, user = false): 'ENOENT' | 'EINVAL' | void {
  const word = (w: number) => g.cpuWord(v, w);
  const set = (w: number, x: number) => {
    g.lock();
    try {
      g.setCpuWord(v, w, x);
      g.update(v);
    } finally {
      g.unlock();
    }
  };
  switch (k) {
    case ICC.PMR:
      if (read) RES.lo = word(CPU.PMR);
      else set(CPU.PMR, val & PRI_MASK);
      return;
    case ICC.BPR0:
      if (read) RES.lo = word(CPU.BPR0);
      else set(CPU.BPR0, Math.max(BPR0_MIN, val & 7));
      return;
    case ICC.BPR1: {
      const cbpr = (word(CPU.CTLR) & CTLR_CBPR) !== 0;
      if (read) RES.lo = cbpr ? Math.min(word(CPU.BPR0) + 1, 7) : word(CPU.BPR1);
      else if (!cbpr) set(CPU.BPR1, Math.max(BPR1_MIN, val & 7));
      return;
    }
    case ICC.CTLR:
      if (read) {
        RES.lo = CTLR_RO | (word(CPU.CTLR) & (CTLR_CBPR | CTLR_EOIMODE));
        return;
      }
      if (user) {
        // set_gic_ctlr: a restore must fit this host's interface.
        if (((val >>> 8) & 7) + 1 > PRI_BITS || ((val >>> 11) & 7) > 0) return 'EINVAL';
        if (((val >>> 14) & 1) !== 0 || ((val >>> 15) & 1) !== 1) return 'EINVAL';
      }
      set(CPU.CTLR, val & (CTLR_CBPR | CTLR_EOIMODE));
      return;
    case ICC.IGRPEN0:
    case ICC.IGRPEN1: {
      const w = k === ICC.IGRPEN0 ? CPU.GRPEN0 : CPU.GRPEN1;
      if (read) RES.lo = word(w);
      else set(w, val & 1);
      return;
    }
    case ICC.AP0R0:
    case ICC.AP1R0: {
      const w = k === ICC.AP0R0 ? CPU.AP0R : CPU.AP1R;
      if (read) RES.lo = word(w) >>> 0;
      else set(w, val | 0);
      return;
    }
    case ICC.AP0R1:
    case ICC.AP0R2:
    case ICC.AP0R3:
    case ICC.AP1R1:
    case ICC.AP1R2:
    case ICC.AP1R3:
      // Beyond the APRs 5 priority bits need (vgic_v3_max_apr_idx).
      return 'EINVAL';
    case ICC.SRE:
      if (read) RES.lo = SRE_VALUE;
      else if ((val & 1) === 0) return 'EINVAL';
      return;
    default:
      return 'ENOENT';
  }
}

/** KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS get/set: the value in RES (get), or an errno name. */
export function iccUserAccess(g: VgicState, v: number, k: number, read: boolean, val: number): 'ENOENT' | 'EINVAL' | void {
  RES.lo = 0;
  RES.hi = 0;
  return sysregsAccess(g, v, k, read, val, true);
}

/** Whether userspace may access ICC register `k` (vgic_v3_has_cpu_sysregs_attr). */
export function iccUserHas(k: number): boolean {
  return [ICC.PMR, ICC.BPR0, ICC.AP0R0, ICC.AP0R1, ICC.AP0R2, ICC.AP0R3, ICC.AP1R0, ICC.AP1R1, ICC.AP1R2, ICC.AP1R3, ICC.BPR1, ICC.CTLR, ICC.SRE, ICC.IGRPEN0, ICC.IGRPEN1].includes(k as never);
}

/**
 * ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 / ICC_SGI0R_EL1 (vgic_v3_dispatch_sgi): TargetList [15:0] at
 * Aff3.Aff2.Aff1 with RS selecting the block of 16 Aff0 values, or every other vCPU (IRM).
 * ICC_SGI0R and ICC_ASGI1R generate Group 0 SGIs only.
 */
export function dispatchSgi(g: VgicState, self: number, lo: number, hi: number, allowGroup1: boolean): void {
  const sgi = (lo >>> 24) & 0xf;
  const irm = (hi >>> 8) & 1;
  const targets = lo & 0xffff;
  const aff1 = (lo >>> 16) & 0xff;
  const aff2 = hi & 0xff;
  const rs = (hi >>> 12) & 0xf;
  const aff3 = (hi >>> 16) & 0xff;
  for (let t = 0; t < g.nVcpus; t++) {
    if (irm) {
      if (t !== self) g.raiseSgi(t, sgi, self, allowGroup1);
      continue;
    }
    const mpidr = g.cpuWord(t, CPU.MPIDR);
    if (aff3 !== 0 || ((mpidr >>> 8) & 0xff) !== aff1 || ((mpidr >>> 16) & 0xff) !== aff2) continue;
    const aff0 = mpidr & 0xff;
    if (aff0 >>> 4 !== rs) continue;
    if ((targets >>> (aff0 & 0xf)) & 1) g.raiseSgi(t, sgi, self, allowGroup1);
  }
}

/** For tests and the JIT: the SGI INTID range. */
export { NR_SGIS, SPURIOUS };
