/**
 * Debug: hardware breakpoints and watchpoints (DBGBCR/BVR, DBGWCR/WVR with E, PMC/PAC, BAS,
 * LSC, MASK, BT and linked context-ID matching), software step (MDSCR_EL1.SS with PSTATE.SS),
 * and the host's KVM_SET_GUEST_DEBUG on top of them, as KVM/arm64 builds it
 * ("KVM: arm64: guest debug, HW assisted debug support", 2015, and its successors):
 *
 * - While guest debugging is enabled (KVM_GUESTDBG_ENABLE) every debug exception of the guest
 *   is routed to the hypervisor (MDCR_EL2.TDE) and becomes KVM_EXIT_DEBUG with
 *   debug.arch.{hsr, hsr_high, far} = the ESR_EL2 and, for watchpoints, the data address.
 *   The ECs are the "lower EL" ones: BREAKPT_LOW 0x30, SOFTSTP_LOW 0x32, WATCHPT_LOW 0x34, BRK64.
 * - KVM_GUESTDBG_USE_HW: the host's dbg_{b,w}{c,v}r are the ones the hardware compares
 *   (external_debug_state); MDSCR_EL1.MDE is forced on. The guest's own debug registers are kept
 *   as a saved copy: its MRS/MSR (trapped, MDCR_EL2.TDA) read and write that copy, which takes
 *   effect again when the host stops debugging.
 * - KVM_GUESTDBG_SINGLESTEP: one instruction (or one exception entry) per exit; the guest's own
 *   MDSCR_EL1.SS is overridden meanwhile.
 * - Without host debugging the guest's debug exceptions go to its EL1 vectors (the "current EL"
 *   ECs when taken from EL1), enabled as the Arm ARM says: OS lock and double lock clear, and
 *   at EL1 MDSCR_EL1.KDE = 1 with PSTATE.D = 0.
 * @module
 */
import { RUN, setExitReason } from '../../kernel/exits.js';
import { KVM_EXIT, KVM_GUESTDBG } from '../../uapi/constants.js';
import { arm64 } from '../../uapi/index.js';
import { KVM_GUESTDBG_ARM64 } from '../../uapi/arm64.js';
import { EC, ESR_IL, EXIT, ISS_WNR, type Cpu } from './cpu.js';
import { FSC } from './mmu.js';
import { pairToNum } from './state.js';
import { NUM_BRPS, NUM_CTX_CMPS, NUM_WRPS, SR } from './sysregs.js';

const MDSCR_SS = 1;
const MDSCR_KDE = 1 << 13;
const MDSCR_MDE = 1 << 15;
const OSLSR_OSLK = 2;

/** `stepping` values. */
export const STEP_NONE = 0;
export const STEP_HOST = 1;
export const STEP_GUEST = 2;

const KR = arm64.structs.kvm_run;
const HSR = KR.offsetOf('debug.arch.hsr');
const HSR_HIGH = KR.offsetOf('debug.arch.hsr_high');
const FAR = KR.offsetOf('debug.arch.far');
/** KVM_DEBUG_ARCH_HSR_HIGH_VALID in kvm_run.flags. */
const HSR_HIGH_VALID = 1;

const hostOn = (c: Cpu) => (c.host.control & KVM_GUESTDBG.ENABLE) !== 0;
const useHw = (c: Cpu) => (c.host.control & (KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_HW)) === (KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_HW);
const osLocked = (c: Cpu) => (c.sysLo[SR.OSLSR]! & OSLSR_OSLK) !== 0;

/** Debug exceptions targeting EL1 are enabled from the current EL (no host debugging; the OS double lock is RAZ/WI as in KVM). */
function guestDebugEnabled(c: Cpu): boolean {
  if (osLocked(c)) return false;
  if (c.el === 0) return true;
  return (c.mdscrEff & MDSCR_KDE) !== 0 && (c.daif & 8) === 0;
}

// The registers the "hardware" compares: the host's under USE_HW, else the guest's, which live
// interleaved in the sysreg array (BVRn at DBGBVR0 + 2n, BCRn at + 2n + 1; same for WVR/WCR).
function bcrOf(c: Cpu, n: number): number {
  return useHw(c) ? c.host.bcr[2 * n]! : c.sysLo[SR.DBGBVR0 + 2 * n + 1]!;
}
function bvrOf(c: Cpu, n: number): number {
  return useHw(c) ? pairToNum(c.host.bvr[2 * n]!, c.host.bvr[2 * n + 1]!) : pairToNum(c.sysLo[SR.DBGBVR0 + 2 * n]!, c.sysHi[SR.DBGBVR0 + 2 * n]!);
}
function wcrOf(c: Cpu, n: number): number {
  return useHw(c) ? c.host.wcr[2 * n]! : c.sysLo[SR.DBGWVR0 + 2 * n + 1]!;
}
function wvrOf(c: Cpu, n: number): number {
  return useHw(c) ? pairToNum(c.host.wvr[2 * n]!, c.host.wvr[2 * n + 1]!) : pairToNum(c.sysLo[SR.DBGWVR0 + 2 * n]!, c.sysHi[SR.DBGWVR0 + 2 * n]!);
}

/** MDSCR_EL1.MDE as the hardware sees it (forced by USE_HW; cleared by a guest OS lock otherwise). */
function mdeEffective(c: Cpu): boolean {
  if (useHw(c)) return true;
  return (c.mdscrEff & MDSCR_MDE) !== 0 && !osLocked(c);
}

function anyEnabled(c: Cpu, ofs: (c: Cpu, n: number) => number, count: number): boolean {
  for (let n = 0; n < count; n++) if (ofs(c, n) & 1) return true;
  return false;
}

/** Whether the run loop must do per-instruction debug checks. */
/** The debug part of Cpu.attn: nonzero while any debug event needs per-instruction checks. */
export function debugAttn(c: Cpu): number {
  if (hostOn(c)) {
    if (c.host.control & KVM_GUESTDBG.SINGLESTEP) return 2;
    return mdeEffective(c) && anyEnabled(c, bcrOf, NUM_BRPS) ? 2 : 0;
  }
  const mdscr = c.mdscrEff;
  if (mdscr & MDSCR_SS) return 2;
  return mdscr & MDSCR_MDE && anyEnabled(c, bcrOf, NUM_BRPS) ? 2 : 0;
}

export function watchpointsMayFire(c: Cpu): boolean {
  return mdeEffective(c) && anyEnabled(c, wcrOf, NUM_WRPS);
}

/** Debug registers, MDSCR, OS lock or CONTEXTIDR changed. */
export function debugRegsChanged(c: Cpu): void {
  c.updateAttn();
}

const TWO49 = 2 ** 49;
/** Bits [48:0] of an address (value registers hold a sign-extended 49-bit VA). */
const low49 = (v: number) => {
  const m = v % TWO49;
  return m < 0 ? m + TWO49 : m;
};
/** Bits [48:2]: what DBGBVR/DBGWVR compare (bits [1:0] are RES0). */
const cmpBits = (v: number) => {
  const m = low49(v);
  return m - (m % 4);
};

/** A context-ID breakpoint `lbn` matches CONTEXTIDR_EL1 (for linked breakpoints/watchpoints). */
function contextMatches(c: Cpu, lbn: number): boolean {
  if (lbn < NUM_BRPS - NUM_CTX_CMPS || lbn >= NUM_BRPS) return false;
  const ctl = bcrOf(c, lbn);
  if ((ctl & 1) === 0 || ((ctl >>> 20) & 15) !== 0b0011) return false;
  const v = useHw(c) ? c.host.bvr[2 * lbn]! : c.sysLo[SR.DBGBVR0 + 2 * lbn]!;
  return (c.sysLo[SR.CONTEXTIDR]! | 0) === (v | 0);
}

/** Privilege check of PMC/PAC (HMC = 0, SSC = 0b00): bit 0 EL1, bit 1 EL0. */
const privOk = (ctl: number, el: number) => (((ctl >>> 1) & 3) & (el ? 1 : 2)) !== 0;

/** The first breakpoint that matches an instruction at `pc`, or -1. */
function breakpointHit(c: Cpu, pc: number): number {
  if (!mdeEffective(c)) return -1;
  const el = c.el;
  const ctxId = c.sysLo[SR.CONTEXTIDR]! | 0;
  for (let n = 0; n < NUM_BRPS; n++) {
    const ctl = bcrOf(c, n);
    if ((ctl & 1) === 0 || !privOk(ctl, el)) continue;
    const bt = (ctl >>> 20) & 15;
    if (bt === 0b0000 || bt === 0b0001) {
      if (((ctl >>> 5) & 15) !== 15) continue; // A64 instructions match only BAS = 0b1111
      if (cmpBits(bvrOf(c, n)) !== cmpBits(pc)) continue;
      if (bt === 0b0001 && !contextMatches(c, (ctl >>> 16) & 15)) continue;
      return n;
    }
    if (bt === 0b0010 && n >= NUM_BRPS - NUM_CTX_CMPS) {
      const v = useHw(c) ? c.host.bvr[2 * n]! : c.sysLo[SR.DBGBVR0 + 2 * n]!;
      if ((v | 0) === ctxId) return n;
    }
  }
  return -1;
}

/** Watchpoint check for a data access; raises the exception or the exit. */
export function checkWatchpoints(c: Cpu, va: number, size: number, write: boolean): void {
  if (!mdeEffective(c)) return;
  const host = hostOn(c);
  if (!host && !guestDebugEnabled(c)) return;
  const el = c.tlbBase ? 1 : 0;
  for (let n = 0; n < NUM_WRPS; n++) {
    const ctl = wcrOf(c, n);
    if ((ctl & 1) === 0 || !privOk(ctl, el)) continue;
    const lsc = (ctl >>> 3) & 3;
    if ((lsc & (write ? 2 : 1)) === 0) continue;
    if ((ctl >>> 20) & 1 && !contextMatches(c, (ctl >>> 16) & 15)) continue;
    const wvr = wvrOf(c, n);
    const mask = (ctl >>> 24) & 31;
    let hit = false;
    if (mask >= 3) {
      const range = 2 ** mask;
      const lo = Math.floor(cmpBits(wvr) / range) * range;
      const a = low49(va);
      hit = a < lo + range && a + size > lo;
    } else {
      let bas = (ctl >>> 5) & 0xff;
      const w = cmpBits(wvr);
      let base = w - (w % 8);
      if (w % 8 >= 4) {
        base += 4;
        bas &= 0xf;
      }
      const a = low49(va);
      for (let k = 0; k < 8 && !hit; k++) if (bas & (1 << k) && base + k >= a && base + k < a + size) hit = true;
    }
    if (!hit) continue;
    const iss = (write ? ISS_WNR : 0) | FSC.DEBUG;
    if (host) {
      c.pc = c.insnPc;
      debugExit(c, EC.WATCHPT_LOW, iss, va);
    }
    c.exception(c.el ? EC.WATCHPT_CUR : EC.WATCHPT_LOW, iss, va);
  }
}

/** Fills KVM_EXIT_DEBUG (kvm_handle_guest_debug) and throws EXIT. */
export function debugExit(c: Cpu, ec: number, iss: number, far: number): never {
  fillDebugExit(c, ec, iss, far);
  throw EXIT;
}

/** Fills KVM_EXIT_DEBUG: hsr/hsr_high = ESR_EL2, far for watchpoints, HSR_HIGH_VALID in flags. */
export function fillDebugExit(c: Cpu, ec: number, iss: number, far: number): void {
  const v = c.vcpu;
  v.run.fill(0, RUN['hw.hardware_exit_reason'], RUN['hw.hardware_exit_reason'] + 256);
  setExitReason(v, KVM_EXIT.DEBUG);
  const hsr = ((ec << 26) | ESR_IL | iss) >>> 0;
  v.runDv.setUint32(HSR, hsr, true);
  v.runDv.setUint32(HSR_HIGH, 0, true);
  v.runDv.setBigUint64(FAR, BigInt.asUintN(64, BigInt(far)), true);
  v.runDv.setUint16(RUN.flags, HSR_HIGH_VALID, true);
}

/**
 * Checks before executing the instruction at PC (called while `attn` is set): a pending software
 * step, the fetch itself (its faults rank above breakpoints), breakpoints, PSTATE.IL.
 */
export function preInsn(c: Cpu): void {
  c.stepping = STEP_NONE;
  c.eretDone = false;
  c.emulated = false;
  c.loadExclusive = false;
  const host = hostOn(c);
  const pc = c.pc;
  c.insnPc = pc;
  if (host) {
    if (c.host.control & KVM_GUESTDBG.SINGLESTEP) c.stepping = STEP_HOST;
  } else if (c.mdscrEff & MDSCR_SS && guestDebugEnabled(c)) {
    if (c.ss === 0) {
      // Active-pending: the step exception comes before anything else.
      const iss = (c.ssIsv ? (1 << 24) | (c.ssEx << 6) : 0) | FSC.DEBUG;
      c.ssIsv = 0;
      c.exception(c.el ? EC.SOFTSTP_CUR : EC.SOFTSTP_LOW, iss, null, pc);
    }
    c.stepping = STEP_GUEST;
  }
  const off = pc - c.fetchVa;
  if (!(off >= 0 && off < 4096)) c.fetchSlow();
  const bp = breakpointHit(c, pc);
  if (bp >= 0) {
    if (host) debugExit(c, EC.BREAKPT_LOW, FSC.DEBUG, 0);
    if (guestDebugEnabled(c)) c.exception(c.el ? EC.BREAKPT_CUR : EC.BREAKPT_LOW, FSC.DEBUG, null, pc);
  }
  if (c.il) c.exception(EC.ILLEGAL, 0, null, pc);
}

/** After an instruction completed normally. */
export function postInsn(c: Cpu): void {
  if (c.stepping === STEP_HOST) {
    const iss = (c.emulated ? 0 : (1 << 24) | (c.loadExclusive ? 1 << 6 : 0)) | FSC.DEBUG;
    debugExit(c, EC.SOFTSTP_LOW, iss, 0);
  }
  if (c.stepping === STEP_GUEST && !c.eretDone) {
    c.ss = 0;
    c.ssIsv = 1;
    c.ssEx = c.loadExclusive ? 1 : 0;
  } else if (c.eretDone) c.ssIsv = 0;
}

/**
 * After the guest took an exception while an instruction was being stepped (it did not complete,
 * or was SVC/HVC/SMC): a host step exits at the vector (ISV = 0). Returns true when it filled
 * the exit.
 */
export function postException(c: Cpu, stepping: number): boolean {
  c.ssIsv = 0;
  if (stepping !== STEP_HOST) return false;
  fillDebugExit(c, EC.SOFTSTP_LOW, FSC.DEBUG, 0);
  return true;
}


