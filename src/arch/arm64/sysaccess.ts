/**
 * MRS/MSR (register): the guest's view of the system registers. Plain registers are storage
 * from SYSREGS (with their write masks and side effects); special registers (PSTATE fields,
 * banked registers, counters, debug registers) are handled here. An encoding nobody implements
 * is UNDEFINED, injected as KVM injects it for an unknown trapped register (EC 0, unknown
 * reason) — except implementation-defined registers (op0 = 3, CRn = 11 or 15) accessed from EL1
 * when KVM_CAP_ARM_IDSR_TO_USER is enabled: those exit to userspace (KVM_EXIT_ARM_IDSR).
 * @module
 */
import { RUN, setExitReason } from '../../kernel/exits.js';
import { arm64 } from '../../uapi/index.js';
import { KVM_ARM_IDSR } from '../../uapi/arm64.js';
import { EXIT, LINE_FIQ, LINE_IRQ, Pending, type Cpu } from './cpu.js';
import { sysreg } from './state.js';
import { cnt, counter, ctlOf, CTL_ENABLE, CTL_ISTATUS, expired, PTIMER, setCtl, setCval, setTval, tval, VTIMER } from './timer.js';
import { iccAccess, RES, UNDEF } from './vgic/cpuif.js';
import { GIC_V3 } from './vgic/vgic.js';
import { NUM_BRPS, NUM_WRPS, SR, SYSREGS } from './sysregs.js';
import { debugRegsChanged } from './debug.js';

/** Special registers handled in code, by key. */
const Sp = {
  NZCV: 1,
  DAIF: 2,
  FPCR: 3,
  FPSR: 4,
  CURRENT_EL: 5,
  SPSEL: 6,
  SP_EL0: 7,
  ELR_EL1: 8,
  SPSR_EL1: 9,
  CNTFRQ: 10,
  CNTVCT: 11,
  CNTPCT: 12,
  CNTV_CTL: 13,
  CNTV_CVAL: 14,
  CNTV_TVAL: 15,
  CNTP_CTL: 16,
  CNTP_CVAL: 17,
  CNTP_TVAL: 18,
  CCSIDR: 19,
  OSLAR: 20,
  MDCCSR: 21,
  DBG: 22,
  MMU: 23,
  CPACR: 24,
  MDSCR: 25,
  CONTEXTIDR: 26,
  OSDLR: 27,
  CLAIMSET: 28,
  CLAIMCLR: 29,
  OSLSR: 30,
  ISR: 31,
  GIC: 32,
} as const;
type Sp = (typeof Sp)[keyof typeof Sp];

/** key -> (kind << 16 | index). kind 1: plain SYSREGS index; kind 2: special. */
const ACCESS = new Int32Array(1 << 16);
const PLAIN = 1 << 16;
const SPECIAL = 2 << 16;

SYSREGS.forEach((r, i) => {
  if (!r.noGuest) ACCESS[r.key] = PLAIN | i;
});
const special = (k: number, sp: Sp) => {
  ACCESS[k] = SPECIAL | sp;
};
special(sysreg(3, 3, 4, 2, 0), Sp.NZCV);
special(sysreg(3, 3, 4, 2, 1), Sp.DAIF);
special(sysreg(3, 3, 4, 4, 0), Sp.FPCR);
special(sysreg(3, 3, 4, 4, 1), Sp.FPSR);
special(sysreg(3, 0, 4, 2, 2), Sp.CURRENT_EL);
special(sysreg(3, 0, 4, 2, 0), Sp.SPSEL);
special(sysreg(3, 0, 4, 1, 0), Sp.SP_EL0);
special(sysreg(3, 0, 4, 0, 1), Sp.ELR_EL1);
special(sysreg(3, 0, 4, 0, 0), Sp.SPSR_EL1);
special(sysreg(3, 3, 14, 0, 0), Sp.CNTFRQ);
special(sysreg(3, 3, 14, 0, 2), Sp.CNTVCT);
special(sysreg(3, 3, 14, 0, 1), Sp.CNTPCT);
special(sysreg(3, 3, 14, 3, 1), Sp.CNTV_CTL);
special(sysreg(3, 3, 14, 3, 2), Sp.CNTV_CVAL);
special(sysreg(3, 3, 14, 3, 0), Sp.CNTV_TVAL);
special(sysreg(3, 3, 14, 2, 1), Sp.CNTP_CTL);
special(sysreg(3, 3, 14, 2, 2), Sp.CNTP_CVAL);
special(sysreg(3, 3, 14, 2, 0), Sp.CNTP_TVAL);
special(sysreg(3, 1, 0, 0, 0), Sp.CCSIDR);
special(sysreg(2, 0, 1, 0, 4), Sp.OSLAR);
special(sysreg(2, 3, 0, 1, 0), Sp.MDCCSR);
special(sysreg(2, 0, 7, 8, 6), Sp.CLAIMSET);
special(sysreg(2, 0, 7, 9, 6), Sp.CLAIMCLR);
for (let n = 0; n < NUM_BRPS; n++) {
  special(sysreg(2, 0, 0, n, 4), Sp.DBG);
  special(sysreg(2, 0, 0, n, 5), Sp.DBG);
}
for (let n = 0; n < NUM_WRPS; n++) {
  special(sysreg(2, 0, 0, n, 6), Sp.DBG);
  special(sysreg(2, 0, 0, n, 7), Sp.DBG);
}
for (const k of [SR.SCTLR, SR.TTBR0, SR.TTBR1, SR.TCR, SR.MAIR]) special(SYSREGS[k]!.key, Sp.MMU);
special(SYSREGS[SR.CPACR]!.key, Sp.CPACR);
special(SYSREGS[SR.MDSCR]!.key, Sp.MDSCR);
special(SYSREGS[SR.CONTEXTIDR]!.key, Sp.CONTEXTIDR);
special(SYSREGS[SR.OSDLR]!.key, Sp.OSDLR);
special(SYSREGS[SR.OSLSR]!.key, Sp.OSLSR);
special(SYSREGS[SR.ISR]!.key, Sp.ISR);
for (const r of SYSREGS) if (r.gic) special(r.key, Sp.GIC);

/** Write masks as lo/hi by SYSREGS index. */
const WMASK_LO = Int32Array.from(SYSREGS, (r) => Number((r.wmask ?? 0xffffffffffffffffn) & 0xffffffffn) | 0);
const WMASK_HI = Int32Array.from(SYSREGS, (r) => Number(((r.wmask ?? 0xffffffffffffffffn) >> 32n) & 0xffffffffn) | 0);
const RO = Uint8Array.from(SYSREGS, (r) => (r.ro ? 1 : 0));
const EL0 = Uint8Array.from(SYSREGS, (r) => (r.el0 === 'rw' ? 2 : r.el0 === 'r' ? 1 : 0));
const CTR_IDX = SYSREGS.findIndex((r) => r.name === 'CTR_EL0');

const KR = arm64.structs.kvm_run;
const IDSR = {
  op0: KR.offsetOf('arm_idsr.Op0'),
  op1: KR.offsetOf('arm_idsr.Op1'),
  crn: KR.offsetOf('arm_idsr.CRn'),
  crm: KR.offsetOf('arm_idsr.CRm'),
  op2: KR.offsetOf('arm_idsr.Op2'),
  regval: KR.offsetOf('arm_idsr.regval'),
  isWrite: KR.offsetOf('arm_idsr.is_write'),
  isNeeded: KR.offsetOf('arm_idsr.is_needed'),
  isHandled: KR.offsetOf('arm_idsr.is_handled'),
};
export { IDSR as IDSR_OFFSETS };

/** MRS (L = 1) / MSR (L = 0) with op0 = 2 or 3. */
export function mrsMsr(c: Cpu, i: number): void {
  const read = (i & (1 << 21)) !== 0;
  const key = (i >>> 5) & 0xffff;
  const rt = i & 31;
  const a = ACCESS[key]!;
  const kind = a & ~0xffff;
  const idx = a & 0xffff;
  const x = c.x;
  const el0 = c.el === 0;
  if (kind === PLAIN) {
    if (el0) {
      const acc = EL0[idx]!;
      if (acc === 0 || (!read && acc !== 2)) c.undef();
      if (idx === CTR_IDX && (c.sctlrLo & (1 << 15)) === 0) c.undef(); // SCTLR_EL1.UCT
    }
    if (read) {
      if (rt !== 31) {
        x[2 * rt] = c.sysLo[idx]!;
        x[2 * rt + 1] = c.sysHi[idx]!;
      }
    } else {
      if (RO[idx]) c.undef();
      c.sysLo[idx] = (c.sysLo[idx]! & ~WMASK_LO[idx]!) | (xlo(c, rt) & WMASK_LO[idx]!);
      c.sysHi[idx] = (c.sysHi[idx]! & ~WMASK_HI[idx]!) | (xhi(c, rt) & WMASK_HI[idx]!);
    }
    return;
  }
  if (kind === SPECIAL) {
    specialAccess(c, idx as Sp, key, read, rt);
    return;
  }
  const op0 = key >>> 14;
  const op1 = (key >>> 11) & 7;
  const crn = (key >>> 7) & 15;
  const crm = (key >>> 3) & 15;
  // Implementation-defined registers: the IDSR seed extension.
  if (op0 === 3 && (crn === 11 || crn === 15)) {
    if (el0 || !c.vmState.idsrToUser) c.undef();
    idsrExit(c, key, read, rt);
  }
  // The reserved ID register space (op0=3, op1=0, CRn=0, CRm=1..7) reads as zero at EL1.
  if (op0 === 3 && op1 === 0 && crn === 0 && crm >= 1 && read && !el0) {
    if (rt !== 31) {
      x[2 * rt] = 0;
      x[2 * rt + 1] = 0;
    }
    return;
  }
  c.undef();
}

const xlo = (c: Cpu, rt: number) => (rt === 31 ? 0 : c.x[2 * rt]!);
const xhi = (c: Cpu, rt: number) => (rt === 31 ? 0 : c.x[2 * rt + 1]!);

function setRt(c: Cpu, rt: number, lo: number, hi: number): void {
  if (rt === 31) return;
  c.x[2 * rt] = lo;
  c.x[2 * rt + 1] = hi;
}

function specialAccess(c: Cpu, sp: Sp, key: number, read: boolean, rt: number): void {
  const el0 = c.el === 0;
  const lo = c.sysLo;
  const hi = c.sysHi;
  switch (sp) {
    case Sp.NZCV:
      if (read) setRt(c, rt, (c.n << 31) | (c.z << 30) | (c.c << 29) | (c.v << 28), 0);
      else {
        const v = xlo(c, rt);
        c.n = (v >>> 31) & 1;
        c.z = (v >>> 30) & 1;
        c.c = (v >>> 29) & 1;
        c.v = (v >>> 28) & 1;
      }
      return;
    case Sp.DAIF:
      if (el0 && (c.sctlrLo & (1 << 9)) === 0) c.undef(); // SCTLR_EL1.UMA
      if (read) setRt(c, rt, c.daif << 6, 0);
      else {
        c.daif = (xlo(c, rt) >>> 6) & 15;
        c.modeChanged();
      }
      return;
    case Sp.FPCR:
    case Sp.FPSR:
      if (!c.fpOk) c.fpTrap();
      if (sp === Sp.FPCR) {
        if (read) setRt(c, rt, c.fpcr, 0);
        else c.fpcr = xlo(c, rt) & 0x07ff9f00;
      } else if (read) setRt(c, rt, c.fpsr, 0);
      else c.fpsr = xlo(c, rt) & 0xf800009f;
      return;
    case Sp.CURRENT_EL:
      if (el0 || !read) c.undef();
      setRt(c, rt, c.el << 2, 0);
      return;
    case Sp.SPSEL:
      if (el0) c.undef();
      if (read) setRt(c, rt, c.spSel, 0);
      else {
        c.selectSp(c.el, xlo(c, rt) & 1);
        c.modeChanged();
      }
      return;
    case Sp.SP_EL0:
      // UNDEFINED while SP_EL0 is the current stack pointer.
      if (el0 || c.spSel === 0) c.undef();
      if (read) setRt(c, rt, c.spBank[0]!, c.spBank[1]!);
      else {
        c.spBank[0] = xlo(c, rt);
        c.spBank[1] = xhi(c, rt);
      }
      return;
    case Sp.ELR_EL1:
      if (el0) c.undef();
      if (read) setRt(c, rt, c.elr[0]!, c.elr[1]!);
      else {
        c.elr[0] = xlo(c, rt);
        c.elr[1] = xhi(c, rt);
      }
      return;
    case Sp.SPSR_EL1:
      if (el0) c.undef();
      if (read) setRt(c, rt, c.spsrEl1 | 0, 0);
      else c.spsrEl1 = xlo(c, rt) >>> 0;
      return;
    case Sp.CNTFRQ:
      if (!read) c.undef(); // writable only at the highest EL
      if (el0 && (lo[SR.CNTKCTL]! & 3) === 0) c.undef();
      setRt(c, rt, 62_500_000, 0);
      return;
    case Sp.CNTVCT:
    case Sp.CNTPCT:
      if (!read) c.undef();
      if (el0 && (lo[SR.CNTKCTL]! & (sp === Sp.CNTVCT ? 2 : 1)) === 0) c.undef();
      counter(c, sp === Sp.CNTVCT ? VTIMER : PTIMER);
      setRt(c, rt, cnt.lo | 0, cnt.hi | 0);
      return;
    case Sp.CNTV_CTL:
    case Sp.CNTV_CVAL:
    case Sp.CNTV_TVAL:
    case Sp.CNTP_CTL:
    case Sp.CNTP_CVAL:
    case Sp.CNTP_TVAL: {
      const t = sp === Sp.CNTV_CTL || sp === Sp.CNTV_CVAL || sp === Sp.CNTV_TVAL ? VTIMER : PTIMER;
      if (el0 && (lo[SR.CNTKCTL]! & (t === VTIMER ? 1 << 8 : 1 << 9)) === 0) c.undef(); // EL0VTEN / EL0PTEN
      if (sp === Sp.CNTV_CTL || sp === Sp.CNTP_CTL) {
        // ISTATUS while enabled and due (ENABLE clear: reads 0, as QEMU's).
        if (read) {
          const ctl = ctlOf(c, t);
          setRt(c, rt, ctl | (ctl & CTL_ENABLE && expired(c, t) ? CTL_ISTATUS : 0), 0);
        } else setCtl(c, t, xlo(c, rt));
      } else if (sp === Sp.CNTV_CVAL || sp === Sp.CNTP_CVAL) {
        const i = t === VTIMER ? SR.TIMER_CVAL : SR.PTIMER_CVAL;
        if (read) setRt(c, rt, lo[i]!, hi[i]!);
        else setCval(c, t, xlo(c, rt), xhi(c, rt));
      } else if (read) setRt(c, rt, tval(c, t), 0);
      else setTval(c, t, xlo(c, rt));
      return;
    }
    case Sp.ISR:
      // ISR_EL1: the pending interrupts (I bit 7: IRQ, F bit 6: FIQ), whatever PSTATE masks.
      if (el0 || !read) c.undef();
      setRt(c, rt, ((c.lines[0]! & LINE_IRQ) << 7) | ((c.lines[0]! & LINE_FIQ) << 5), 0);
      return;
    case Sp.GIC: {
      // The GICv3 CPU interface: a vGICv3's, else UNDEF (as KVM traps it without one).
      const g = c.gic;
      if (el0 || g === null || g.model !== GIC_V3) c.undef();
      if (iccAccess(g!, c.vcpuIdx, key, read, xlo(c, rt), xhi(c, rt)) === UNDEF) c.undef();
      if (read) setRt(c, rt, RES.lo, RES.hi);
      // An interrupt may have become deliverable (PMR, EOI, IGRPEN) or gone (IAR): re-derive.
      c.linesChanged();
      return;
    }
    case Sp.CCSIDR:
      if (el0 || !read) c.undef();
      // 64-byte lines, 4 ways, 256 sets (L1) / 16 ways, 1024 sets (L2)
      setRt(c, rt, (lo[SR.CSSELR]! >>> 1) & 7 ? (1023 << 13) | (15 << 3) | 2 : (255 << 13) | (3 << 3) | 2, 0);
      return;
    case Sp.OSLAR:
      if (el0 || read) c.undef();
      lo[SR.OSLSR] = (lo[SR.OSLSR]! & ~2) | ((xlo(c, rt) & 1) << 1);
      debugRegsChanged(c);
      return;
    case Sp.MDCCSR:
      if (!read || (el0 && (lo[SR.MDSCR]! & (1 << 12)) !== 0)) c.undef();
      setRt(c, rt, 0, 0);
      return;
    case Sp.CLAIMSET:
    case Sp.CLAIMCLR:
    case Sp.OSDLR:
      // RAZ/WI, as KVM's trap_raz_wi
      if (el0) c.undef();
      if (read) setRt(c, rt, 0, 0);
      return;
    case Sp.OSLSR:
      if (el0 || !read) c.undef(); // writes UNDEF (KVM since 2021)
      setRt(c, rt, lo[SR.OSLSR]!, 0);
      return;
    default:
      break;
  }
  // Registers with storage in SYSREGS and a side effect.
  if (el0) c.undef();
  const idx = sysIndexOfKey(key);
  if (read) {
    setRt(c, rt, lo[idx]!, hi[idx]!);
    return;
  }
  lo[idx] = (lo[idx]! & ~WMASK_LO[idx]!) | (xlo(c, rt) & WMASK_LO[idx]!);
  hi[idx] = (hi[idx]! & ~WMASK_HI[idx]!) | (xhi(c, rt) & WMASK_HI[idx]!);
  switch (sp) {
    case Sp.MMU:
      c.syncMmu();
      break;
    case Sp.CPACR:
      c.modeChanged();
      break;
    default:
      debugRegsChanged(c);
  }
}

const KEY_TO_INDEX = new Map(SYSREGS.map((r, i) => [r.key, i]));
function sysIndexOfKey(key: number): number {
  return KEY_TO_INDEX.get(key)!;
}

/** KVM_EXIT_ARM_IDSR: forwards the access to userspace; completed on the next KVM_RUN. */
function idsrExit(c: Cpu, key: number, read: boolean, rt: number): never {
  const v = c.vcpu;
  const run = v.run;
  const dv = v.runDv;
  run.fill(0, RUN['hw.hardware_exit_reason'], RUN['hw.hardware_exit_reason'] + 256);
  setExitReason(v, KVM_ARM_IDSR.KVM_EXIT_ARM_IDSR);
  run[IDSR.op0] = key >>> 14;
  run[IDSR.op1] = (key >>> 11) & 7;
  run[IDSR.crn] = (key >>> 7) & 15;
  run[IDSR.crm] = (key >>> 3) & 15;
  run[IDSR.op2] = key & 7;
  dv.setInt32(IDSR.regval, read ? 0 : xlo(c, rt), true);
  dv.setInt32(IDSR.regval + 4, read ? 0 : xhi(c, rt), true);
  run[IDSR.isWrite] = read ? 0 : 1;
  run[IDSR.isNeeded] = 1;
  run[IDSR.isHandled] = 0;
  c.pending = Pending.IDSR;
  c.pendingRt = rt;
  c.pendingSf = read;
  c.pc = c.insnPc;
  throw EXIT;
}

/**
 * kvm_handle_idsr_return: runs at KVM_RUN entry when the last exit was KVM_EXIT_ARM_IDSR and
 * is_needed is still set. is_handled = 1: a read loads regval into Rt, and the MRS/MSR is
 * skipped; is_handled = 0: UNDEF is injected at the MRS/MSR. is_needed is cleared either way.
 */
export function completeIdsr(c: Cpu): void {
  const v = c.vcpu;
  const run = v.run;
  if (run[IDSR.isNeeded] === 0) return;
  run[IDSR.isNeeded] = 0;
  c.insnPc = c.pc;
  if (run[IDSR.isHandled] !== 0) {
    if (c.pendingSf) setRt(c, c.pendingRt, v.runDv.getInt32(IDSR.regval, true), v.runDv.getInt32(IDSR.regval + 4, true));
    c.pc += 4;
  } else {
    c.takeException(0, 0, null, c.pc, 0, false);
  }
}
