/**
 * arm64 vCPU architectural state: X registers as lo/hi int32 pairs (no BigInt in the hot path),
 * PSTATE kept as separate fields (the interpreter touches NZCV on most compares), the EL1 banked
 * registers and the system registers in a dense array indexed by their position in SYSREGS.
 *
 * Register file layout (`x`, Int32Array): X0-X30 at [2n, 2n+1] (lo, hi); [62, 63] the *current*
 * stack pointer (SP_EL0 or SP_EL1, whichever PSTATE selects; the other lives in `spBank`);
 * [64, 65] XZR (always 0); [66, 67] a write sink for XZR destinations. Encodings where register 31
 * means SP index 62 directly; encodings where it means XZR go through {@link ZR} / {@link WZ}.
 * @module
 */
import { array, s32, struct, u8 } from '../../uapi/layout.js';
import { SYSREGS, SYSREG_INDEX, SYSREG_BY_KEY } from './sysregs.js';

/** PSTATE bits (SPSR layout). */
export const PSTATE = {
  N: 1 << 31, Z: 1 << 30, C: 1 << 29, V: 1 << 28, SS: 1 << 21, IL: 1 << 20, D: 1 << 9, A: 1 << 8, I: 1 << 7, F: 1 << 6,
  /** M[3:0]: EL1h */
  EL1h: 0b0101,
  EL1t: 0b0100,
  EL0t: 0b0000,
} as const;

/** A system register key: op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2 (the ONE_REG sysreg index). */
export const sysreg = (op0: number, op1: number, crn: number, crm: number, op2: number): number =>
  ((op0 & 3) << 14) | ((op1 & 7) << 11) | ((crn & 15) << 7) | ((crm & 15) << 3) | (op2 & 7);

/** Index in `x` of the current SP (register 31 in SP-form encodings). */
export const SP_SLOT = 62;
/** Index in `x` of XZR (always zero). */
export const ZR_SLOT = 64;
/** Index in `x` where writes to XZR land. */
export const SINK_SLOT = 66;

/** Register number -> `x` index of its low half, reading register 31 as XZR. */
export const ZR = Int32Array.from({ length: 32 }, (_, r) => (r === 31 ? ZR_SLOT : r << 1));
/** Register number -> `x` index of its low half, writing register 31 as XZR (discarded). */
export const WZ = Int32Array.from({ length: 32 }, (_, r) => (r === 31 ? SINK_SLOT : r << 1));

const TWO32 = 4294967296;

/**
 * The register arrays of a vCPU, declared once with the uapi layout engine: they are views at
 * these offsets of one buffer (`Arm64State.hot`), so a backend that keeps CPU state in linear
 * memory (wasm) takes its offsets from this declaration, and moving a vCPU between threads copies
 * one block. PSTATE fields and the PC are JS properties (V8 keeps them unboxed); they join the
 * layout when a backend needs them in memory.
 */
export const ARM64_HOT = struct('vkvm_arm64_hot', {
  x: array(s32, 68),
  sp_bank: array(s32, 4),
  elr: array(s32, 2),
  sys_lo: array(s32, SYSREGS.length),
  sys_hi: array(s32, SYSREGS.length),
  vr: array(u8, 33 * 16),
});

export class Arm64State {
  /** The hot register arrays (ARM64_HOT), as one block of bytes. */
  readonly hot = new Uint8Array(ARM64_HOT.size);
  /** X0-X30, current SP, XZR, sink (see the module comment). */
  readonly x = new Int32Array(this.hot.buffer, ARM64_HOT.offsetOf('x'), ARM64_HOT.fields.x.count);
  /** The banked stack pointers not currently selected: [sp0lo, sp0hi, sp1lo, sp1hi]. */
  readonly spBank = new Int32Array(this.hot.buffer, ARM64_HOT.offsetOf('sp_bank'), ARM64_HOT.fields.sp_bank.count);
  /** PC as a signed 64-bit value (exact for every canonical 48-bit address). */
  pc = 0;
  /** Exception level: 0 or 1. */
  el = 1;
  /** PSTATE.SP: 1 selects SP_ELx at EL1. */
  spSel = 1;
  n = 0;
  z = 0;
  c = 0;
  v = 0;
  /** PSTATE.{D,A,I,F} as the SPSR bits [9:6]. */
  daif = 0b1111;
  /** PSTATE.SS (software step) */
  ss = 0;
  /** PSTATE.IL (illegal execution state) */
  il = 0;
  /** ELR_EL1 as lo/hi. */
  readonly elr = new Int32Array(this.hot.buffer, ARM64_HOT.offsetOf('elr'), ARM64_HOT.fields.elr.count);
  /** SPSR_EL1 (its 32 defined bits). */
  spsrEl1 = 0;
  /** SPSR_abt, _und, _irq, _fiq (KVM_NR_SPSR = 5 with SPSR_EL1 first): AArch32 leftovers, storage only. */
  readonly spsr32: bigint[] = [0n, 0n, 0n, 0n];
  /** V0-V31, 16 bytes each (little-endian lanes), plus one scratch register at [512, 528). */
  readonly vr = new Uint8Array(this.hot.buffer, ARM64_HOT.offsetOf('vr'), ARM64_HOT.fields.vr.size);
  readonly vdv = new DataView(this.hot.buffer, ARM64_HOT.offsetOf('vr'), ARM64_HOT.fields.vr.size);
  fpsr = 0;
  fpcr = 0;
  /** System registers by SYSREGS position, lo/hi. */
  readonly sysLo = new Int32Array(this.hot.buffer, ARM64_HOT.offsetOf('sys_lo'), ARM64_HOT.fields.sys_lo.count);
  readonly sysHi = new Int32Array(this.hot.buffer, ARM64_HOT.offsetOf('sys_hi'), ARM64_HOT.fields.sys_hi.count);
  /** Bumped whenever userspace changes state the interpreter caches (ONE_REG writes). */
  userGen = 0;
  /** KVM_REG_ARM_PSCI_VERSION: 0x1 (PSCI 0.1), 0x2 (0.2) or 0x10000 (1.0, KVM's default for PSCI_0_2). */
  psciVersion = 0x10000;

  constructor(mpidr = 0x80000000n) {
    SYSREGS.forEach((r, i) => {
      this.sysLo[i] = Number(r.reset & 0xffffffffn) | 0;
      this.sysHi[i] = Number((r.reset >> 32n) & 0xffffffffn) | 0;
    });
    this.setSysByKey(sysreg(3, 0, 0, 0, 5), mpidr);
  }

  /** Index of the selected SP in the bank: 1 for SP_EL1 (EL1 with SPSel), else 0. */
  get spBankIndex(): number {
    return this.el === 1 && this.spSel ? 1 : 0;
  }

  /** Switches EL / SPSel, moving the live SP in and out of the bank. */
  selectSp(el: number, spSel: number): void {
    const old = this.spBankIndex;
    this.el = el;
    this.spSel = spSel;
    const now = this.spBankIndex;
    if (old !== now) {
      const x = this.x;
      const b = this.spBank;
      b[2 * old] = x[SP_SLOT]!;
      b[2 * old + 1] = x[SP_SLOT + 1]!;
      x[SP_SLOT] = b[2 * now]!;
      x[SP_SLOT + 1] = b[2 * now + 1]!;
    }
  }

  /** PSTATE in SPSR format. */
  get pstate(): number {
    const mode = this.el === 0 ? PSTATE.EL0t : this.spSel ? PSTATE.EL1h : PSTATE.EL1t;
    return ((this.n << 31) | (this.z << 30) | (this.c << 29) | (this.v << 28) | (this.ss << 21) | (this.il << 20) | (this.daif << 6) | mode) >>> 0;
  }

  /** Sets PSTATE from SPSR format (the caller validated the mode). */
  set pstate(p: number) {
    this.n = (p >>> 31) & 1;
    this.z = (p >>> 30) & 1;
    this.c = (p >>> 29) & 1;
    this.v = (p >>> 28) & 1;
    this.ss = (p >>> 21) & 1;
    this.il = (p >>> 20) & 1;
    this.daif = (p >>> 6) & 15;
    const m = p & 0xf;
    this.selectSp(m >>> 2, m & 1);
  }

  getX(i: number): bigint {
    return (BigInt(this.x[2 * i + 1]! >>> 0) << 32n) | BigInt(this.x[2 * i]! >>> 0);
  }

  setX(i: number, v: bigint): void {
    this.x[2 * i] = Number(v & 0xffffffffn) | 0;
    this.x[2 * i + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
  }

  /** SP_EL0 or SP_EL1, wherever it currently lives. */
  getSp(el: 0 | 1): bigint {
    const live = this.spBankIndex === el;
    const lo = live ? this.x[SP_SLOT]! : this.spBank[2 * el]!;
    const hi = live ? this.x[SP_SLOT + 1]! : this.spBank[2 * el + 1]!;
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }

  setSp(el: 0 | 1, v: bigint): void {
    const lo = Number(v & 0xffffffffn) | 0;
    const hi = Number((v >> 32n) & 0xffffffffn) | 0;
    if (this.spBankIndex === el) {
      this.x[SP_SLOT] = lo;
      this.x[SP_SLOT + 1] = hi;
    } else {
      this.spBank[2 * el] = lo;
      this.spBank[2 * el + 1] = hi;
    }
  }

  get elrEl1(): bigint {
    return (BigInt(this.elr[1]! >>> 0) << 32n) | BigInt(this.elr[0]! >>> 0);
  }

  set elrEl1(v: bigint) {
    this.elr[0] = Number(v & 0xffffffffn) | 0;
    this.elr[1] = Number((v >> 32n) & 0xffffffffn) | 0;
  }

  /** PC as an unsigned 64-bit value. */
  get pc64(): bigint {
    return BigInt.asUintN(64, BigInt(this.pc));
  }

  set pc64(v: bigint) {
    this.pc = Number(BigInt.asIntN(64, v));
  }

  /** A system register by its ONE_REG key (undefined when not implemented). */
  getSysByKey(key: number): bigint | undefined {
    const i = SYSREG_INDEX.get(key);
    if (i === undefined) return undefined;
    return (BigInt(this.sysHi[i]! >>> 0) << 32n) | BigInt(this.sysLo[i]! >>> 0);
  }

  setSysByKey(key: number, v: bigint): void {
    const i = SYSREG_INDEX.get(key);
    if (i === undefined) throw new Error(`no sysreg ${key.toString(16)}`);
    this.sysLo[i] = Number(v & 0xffffffffn) | 0;
    this.sysHi[i] = Number((v >> 32n) & 0xffffffffn) | 0;
  }

  /** Reset value of a sysreg key (for ONE_REG checks of read-only registers). */
  static resetOf(key: number): bigint | undefined {
    return SYSREG_BY_KEY.get(key)?.reset;
  }
}

/** Combines a lo/hi pair into a double (exact while |value| < 2^53). */
export function pairToNum(lo: number, hi: number): number {
  return hi * TWO32 + (lo >>> 0);
}

/** Low 32 bits of a signed integer double. */
export function numLo(v: number): number {
  return v | 0;
}

/** High 32 bits (signed) of a signed integer double. */
export function numHi(v: number): number {
  return Math.floor(v / TWO32) | 0;
}
