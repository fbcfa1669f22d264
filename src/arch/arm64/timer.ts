/**
 * The generic timer (arch/arm64/kvm/arch_timer.c): the counters and the EL1 virtual and physical
 * timers of one vCPU.
 *
 * - Time is the VM clock (src/kernel/timer.ts: the host's monotonic clock, or the deterministic
 *   one that advances with retired instructions), counted at CNTFRQ = 62.5 MHz: one tick per
 *   16 ns. CNTVCT and CNTPCT subtract the VM's counter offsets (kvm->arch.timer_data voffset and
 *   poffset), which KVM_REG_ARM_TIMER_CNT / PTIMER_CNT writes or KVM_ARM_SET_COUNTER_OFFSET set.
 * - A timer's output is a level: ENABLE and not IMASK and the count has reached CVAL. With a vGIC
 *   the level drives the timer's PPI (27 and 30 unless KVM_ARM_VCPU_TIMER_IRQ_* moved them), which
 *   the timer owns (KVM_IRQ_LINE cannot drive it). While a timer is armed and not yet due, a
 *   deadline on the vCPU's VcpuTimer raises the level when it comes (waking a vCPU in WFI).
 * @module
 */
import type { Cpu } from './cpu.js';
import { SR } from './sysregs.js';
import { OWNER } from './vgic/vgic.js';

/** Nanoseconds per counter tick at CNTFRQ (62.5 MHz). */
export const NS_PER_TICK = 16;
/** CNTx_CTL bits. */
export const CTL_ENABLE = 1;
export const CTL_IMASK = 2;
export const CTL_ISTATUS = 4;

export const VTIMER = 0;
export const PTIMER = 1;
const KEYS = ['arch-vtimer', 'arch-ptimer'] as const;

/** The default timer PPIs (kvm->arch.timer_data.ppi): vtimer, ptimer, hvtimer, hptimer. */
export const DEFAULT_TIMER_PPIS = [27, 30, 28, 26] as const;

const TWO32 = 4294967296;

/** The VM clock as counter ticks (before offsets). */
export function ticksNow(c: Cpu): number {
  return Math.floor(c.vcpu.timer.now(c.retired) / NS_PER_TICK);
}

/** The last `counter()` result: its u64 value as two u32 halves (no allocation on the hot path). */
export const cnt = { lo: 0, hi: 0 };

/**
 * CNTVCT_EL0 (t = VTIMER) or CNTPCT_EL0 into `cnt`: the VM clock's ticks minus the offset,
 * modulo 2^64, exact (an offset near 2^64 puts the counter anywhere, e.g. near 2^63).
 */
export function counter(c: Cpu, t: number): void {
  counterAt(c, t, ticksNow(c));
}

/** `counter` at VM clock `ticks` (< 2^53), for a reading paired with another clock's. */
export function counterAt(c: Cpu, t: number, ticks: number): void {
  const sh = c.shared;
  let lo = (ticks % TWO32) - sh.offLo(t);
  let borrow = 0;
  if (lo < 0) {
    lo += TWO32;
    borrow = 1;
  }
  cnt.lo = lo;
  cnt.hi = (Math.floor(ticks / TWO32) - sh.offHi(t) - borrow) >>> 0;
}

/** CNTx_CTL as stored (ENABLE, IMASK). */
export function ctlOf(c: Cpu, t: number): number {
  return c.sysLo[t === VTIMER ? SR.TIMER_CTL : SR.PTIMER_CTL]! & 3;
}

/**
 * CVAL - count as a 64-bit unsigned difference, as a number (inexact above 2^53, which is
 * centuries of ticks); 0 once the count has reached CVAL (u64 comparison of the halves).
 */
export function ticksToCval(c: Cpu, t: number): number {
  counter(c, t);
  const nLo = cnt.lo;
  const nHi = cnt.hi;
  const i = t === VTIMER ? SR.TIMER_CVAL : SR.PTIMER_CVAL;
  const cHi = c.sysHi[i]! >>> 0;
  const cLo = c.sysLo[i]! >>> 0;
  if (nHi > cHi || (nHi === cHi && nLo >= cLo)) return 0;
  return (cHi - nHi) * TWO32 + (cLo - nLo);
}

/** Whether the count has reached CVAL (ISTATUS, whatever ENABLE says; u64 comparison). */
export function expired(c: Cpu, t: number): boolean {
  return ticksToCval(c, t) === 0;
}

/** The timer's output level (kvm_timer_should_fire). */
export function shouldFire(c: Cpu, t: number): boolean {
  return (ctlOf(c, t) & (CTL_ENABLE | CTL_IMASK)) === CTL_ENABLE && expired(c, t);
}

/** Writes CTL (ENABLE, IMASK; ISTATUS is read-only) and re-evaluates the timer. */
export function setCtl(c: Cpu, t: number, v: number): void {
  c.sysLo[t === VTIMER ? SR.TIMER_CTL : SR.PTIMER_CTL] = v & 3;
  update(c, t);
}

/** Writes CVAL (a lo/hi pair) and re-evaluates the timer. */
export function setCval(c: Cpu, t: number, lo: number, hi: number): void {
  const i = t === VTIMER ? SR.TIMER_CVAL : SR.PTIMER_CVAL;
  c.sysLo[i] = lo;
  c.sysHi[i] = hi;
  update(c, t);
}

/** TVAL write: CVAL = count + sign-extended value. */
export function setTval(c: Cpu, t: number, v: number): void {
  counter(c, t);
  const sum = cnt.lo + (v | 0); // in (-2^31, 2^33): carry or borrow into the high half
  const carry = Math.floor(sum / TWO32);
  setCval(c, t, (sum - carry * TWO32) | 0, (cnt.hi + carry) | 0);
}

/** TVAL read: the low 32 bits of CVAL - count. */
export function tval(c: Cpu, t: number): number {
  const i = t === VTIMER ? SR.TIMER_CVAL : SR.PTIMER_CVAL;
  counter(c, t);
  return (c.sysLo[i]! - cnt.lo) | 0;
}

/**
 * kvm_timer_update_irq and the soft timer: drives the PPI to the timer's level, and arms the
 * deadline at which an enabled, unmasked timer becomes due (or cancels it).
 */
export function update(c: Cpu, t: number): void {
  const ctl = ctlOf(c, t);
  const armed = (ctl & (CTL_ENABLE | CTL_IMASK)) === CTL_ENABLE;
  const vt = c.vcpu.timer;
  let level = false;
  if (armed) {
    const delta = ticksToCval(c, t);
    const due = (ticksNow(c) + delta) * NS_PER_TICK;
    if (delta === 0) {
      level = true;
      vt.cancel(KEYS[t]);
    } else if (due < 2 ** 53) vt.arm(KEYS[t], due, () => update(c, t));
    else vt.cancel(KEYS[t]);
  } else vt.cancel(KEYS[t]);
  if (level !== c.timerLevel[t]) {
    c.timerLevel[t] = level;
    const g = c.gic;
    if (g !== null) g.inject(c.vcpuIdx, c.timerPpis[t]!, level, OWNER.TIMER);
  }
}

/** Re-evaluates both timers (KVM_RUN entry, a vCPU that moved threads, restored registers). */
export function updateTimers(c: Cpu): void {
  update(c, VTIMER);
  update(c, PTIMER);
}

/** Whether either timer's output is high (the vCPU has a timer interrupt to take, vGIC or not). */
export function timerPending(c: Cpu): boolean {
  return shouldFire(c, VTIMER) || shouldFire(c, PTIMER);
}
