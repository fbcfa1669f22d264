/**
 * The x87 FPU state and the semantics of every x87 instruction, over the vCPU's 512-byte FXSAVE
 * image (X86State.fx) so that KVM_GET/SET_FPU, FXSAVE and XSAVE see the live state with no
 * conversion:
 *
 * - FCW at 0, FSW at 2 (TOP in bits 11-13), abridged tag byte at 4 (bit i = physical register i
 *   valid), FOP at 6, FIP at 8 and FDP at 16 (64-bit forms, as KVM's fxregs_state holds them;
 *   FCS/FDS are not kept: they read as 0, CPUID.(7,0):EBX[13] "FCS/FDS deprecated"),
 * - ST(0)..ST(7) at 32 + 16i, in stack order as FXSAVE stores them: a push or pop rotates the
 *   eight 10-byte slots (the registers' bits survive a pop, as in hardware, in ST(7)).
 *
 * Instruction handlers call the methods here after their own checks (#NM for CR0.TS/EM, #UD) and
 * memory accesses. Every method that the SDM calls a "waiting" instruction must be preceded by
 * {@link X87.pendingMF}: an unmasked exception left pending by an earlier instruction (FSW.ES)
 * raises #MF before the next one runs. (With CR0.NE = 0 real hardware signals FERR#/IRQ13 instead;
 * that legacy path is not modelled: the handler raises #MF.) Exceptions raised by an instruction
 * itself are never delivered by it: unmasked ones set ES/B and suppress the result as the SDM
 * says, and the next waiting instruction faults.
 *
 * Memory operands travel as numbers (f32 bits, f64/int64 as two int32 words) or through a
 * caller-provided byte buffer (BCD, m80, environment images). Results of stores are in
 * {@link R} (f80.ts) and a method returns false when the store must not happen. Nothing allocates.
 * @module
 */
import {
  addX, C1, classX, Cls, CMP_EQ, CMP_GT, CMP_LT, CMP_UN, compareX, DE, divX, setMemDenormal, fromBcdX, fromF32X, fromF64X, fromIntX, IE,
  INDEF_HI, INDEF_SE, mulX, R, R2, remX, rndintX, scaleX, sqrtX, toBcdX, toF32X, toF64X, toIntX, xtractX,
} from './f80.js';
import { f2xm1X, fpatanX, fptanX, fsinX, fcosX, fsincosX, fyl2xX, fyl2xp1X } from './trans.js';
import { CC, FSW, X87State } from './x87-state.js';

export { EnvFormat, FSW, mmOff } from './x87-state.js';

/** Arithmetic operations of {@link X87.arith}. */
export const Op = {
  ADD: 0,
  MUL: 1,
  SUB: 4,
  SUBR: 5,
  DIV: 6,
  DIVR: 7,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

/** FLD constants (D9 E8..EE order). */
export const Const = {
  ONE: 0,
  L2T: 1,
  L2E: 2,
  PI: 3,
  LG2: 4,
  LN2: 5,
  ZERO: 6,
} as const;
export type Const = (typeof Const)[keyof typeof Const];

// Constants (se, hi, lo) rounded to nearest; `down` lists those whose last bit drops when the
// rounding mode is down or toward zero (the hardware rounds its internal wider value by RC).
const K_SE = [0x3fff, 0x4000, 0x3fff, 0x4000, 0x3ffd, 0x3ffe, 0];
const K_HI = [0x80000000 | 0, 0xd49a784b | 0, 0xb8aa3b29 | 0, 0xc90fdaa2 | 0, 0x9a209a84 | 0, 0xb17217f7 | 0, 0];
const K_LO = [0, 0xcd1b8afe | 0, 0x5c17f0bc | 0, 0x2168c235, 0xfbcff799 | 0, 0xd1cf79ac | 0, 0];
// Rounded value vs the true one: +1 = rounded up (RD/RZ take one ulp less), -1 = rounded down
// (RU takes one more), 0 = exact.
const K_DIR = [0, -1, 1, 1, 1, 1, 0];

/** The x87 FPU: {@link X87State} with every x87 instruction that computes (loads, stores, arithmetic, compares, moves). */
export class X87 extends X87State {
  /** Scratch for instructions with a second result (FXTRACT, FSINCOS, FPTAN). */
  private readonly t = new Int32Array(4);


  // ---- loads -------------------------------------------------------------------------------

  /** FLD ST(i). */
  fld(i: number): void {
    if (this.isEmpty(i)) {
      // Source empty: stack underflow (even when the stack is also full: C1 = 0, as measured);
      // masked, the indefinite is pushed.
      if (!this.underflow()) return;
      this.pushIndef();
      return;
    }
    this.getST(i);
    this.pushR(0);
  }
  private overflowPushIndef(): void {
    if (!this.overflow()) return;
    this.pushIndef();
  }
  /**
   * Stack overflow in an instruction with two results (FXTRACT, FPTAN, FSINCOS): masked, the
   * operand's register gets the indefinite too, then the indefinite is pushed (as measured).
   */
  private overflowTwoIndef(): void {
    if (!this.overflow()) return;
    this.setIndef(0);
    this.pushIndef();
  }
  /** FLD m80 (no exceptions but stack overflow). */
  fldX(se: number, hi: number, lo: number): void {
    R[0] = lo;
    R[1] = hi;
    R[2] = se & 0xffff;
    this.pushR(0);
  }
  /** FLD m32. */
  fldF32(bits: number): void {
    if (!this.isEmpty(7)) return this.overflowPushIndef();
    this.pushR(fromF32X(bits, this.fcw));
  }
  /** FLD m64 (lo, hi words). */
  fldF64(lo: number, hi: number): void {
    if (!this.isEmpty(7)) return this.overflowPushIndef();
    this.pushR(fromF64X(hi, lo, this.fcw));
  }
  /** FILD m16/m32/m64. */
  fild(lo: number, hi: number, bits: number): void {
    if (!this.isEmpty(7)) return this.overflowPushIndef();
    fromIntX(lo, hi, bits);
    this.pushR(0);
  }
  /** FBLD m80 from buf[o..o+9]. */
  fbld(buf: Uint8Array, o: number): void {
    if (!this.isEmpty(7)) return this.overflowPushIndef();
    fromBcdX(buf, o);
    this.pushR(0);
  }
  /** FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ (rounded by RC as the hardware does). */
  fldConst(k: Const): void {
    if (!this.isEmpty(7)) return this.overflowPushIndef();
    const rc = (this.fcw >>> 10) & 3;
    let lo = K_LO[k]!;
    const d = K_DIR[k]!;
    if (d > 0 && (rc === 1 || rc === 3)) lo = (lo - 1) | 0;
    else if (d < 0 && rc === 2) lo = (lo + 1) | 0;
    R[0] = lo;
    R[1] = K_HI[k]!;
    R[2] = K_SE[k]!;
    this.pushR(0);
  }

  // ---- stores ------------------------------------------------------------------------------

  /** FST/FSTP ST(i). */
  fst(i: number, pop: boolean): void {
    if (this.isEmpty(0)) {
      if (!this.underflowTo(i)) return;
    } else {
      this.getST(0);
      this.setSTR(i);
      this.h[1] = this.h[1]! & ~FSW.C1;
    }
    if (pop) this.pop();
  }

  /** Common store-to-memory path: false means "do not write memory" (and no pop). */
  private storeMem(f: number, pop: boolean): boolean {
    if (!this.commit(f)) return false;
    if (pop) this.pop();
    return true;
  }

  /** FST/FSTP m32: true when R[0] is to be stored. */
  fstF32(pop: boolean): boolean {
    if (this.isEmpty(0)) {
      if (!this.underflow()) return false;
      R[0] = 0xffc00000 | 0;
      if (pop) this.pop();
      return true;
    }
    return this.storeMem(toF32X(this.se(0), this.hi(0), this.lo(0), this.fcw), pop);
  }
  /** FST/FSTP m64: true when R[0] (low) and R[1] (high) are to be stored. */
  fstF64(pop: boolean): boolean {
    if (this.isEmpty(0)) {
      if (!this.underflow()) return false;
      R[0] = 0;
      R[1] = 0xfff80000 | 0;
      if (pop) this.pop();
      return true;
    }
    return this.storeMem(toF64X(this.se(0), this.hi(0), this.lo(0), this.fcw), pop);
  }
  /** FSTP m80: R[0] lo, R[1] hi, R[2] se. */
  fstX(pop: boolean): boolean {
    if (this.isEmpty(0)) {
      if (!this.underflow()) return false;
      R[0] = 0;
      R[1] = INDEF_HI;
      R[2] = INDEF_SE;
    } else {
      this.getST(0);
      this.h[1] = this.h[1]! & ~FSW.C1;
    }
    if (pop) this.pop();
    return true;
  }
  /** FIST/FISTP (truncate = false) and FISTTP (truncate = true) to 16/32/64-bit integers. */
  fist(bits: number, pop: boolean, truncate: boolean): boolean {
    if (this.isEmpty(0)) {
      if (!this.underflow()) return false;
      R[0] = bits === 16 ? -32768 : bits === 32 ? 0x80000000 | 0 : 0;
      R[1] = bits === 64 ? 0x80000000 | 0 : -1;
      if (pop) this.pop();
      return true;
    }
    const cw = this.fcw;
    return this.storeMem(toIntX(this.se(0), this.hi(0), this.lo(0), cw, bits, truncate ? 3 : (cw >>> 10) & 3), pop);
  }
  /** FBSTP into out[o..o+9]. */
  fbstp(out: Uint8Array, o: number): boolean {
    if (this.isEmpty(0)) {
      if (!this.underflow()) return false;
      for (let k = 0; k < 7; k++) out[o + k] = 0;
      out[o + 7] = 0xc0;
      out[o + 8] = 0xff;
      out[o + 9] = 0xff;
      this.pop();
      return true;
    }
    return this.storeMem(toBcdX(this.se(0), this.hi(0), this.lo(0), this.fcw, out, o), true);
  }

  // ---- arithmetic --------------------------------------------------------------------------

  /** Computes a op b into R (a, b as se/hi/lo). */
  private calc(op: Op, aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number): number {
    const cw = this.fcw;
    switch (op) {
      case Op.ADD: return addX(aSe, aHi, aLo, bSe, bHi, bLo, cw, false);
      case Op.MUL: return mulX(aSe, aHi, aLo, bSe, bHi, bLo, cw);
      case Op.SUB: return addX(aSe, aHi, aLo, bSe, bHi, bLo, cw, true);
      case Op.SUBR: return addX(bSe, bHi, bLo, aSe, aHi, aLo, cw, true);
      case Op.DIV: return divX(aSe, aHi, aLo, bSe, bHi, bLo, cw);
      default: return divX(bSe, bHi, bLo, aSe, aHi, aLo, cw);
    }
  }

  /**
   * Register forms: ST(dst) = ST(dst) op ST(src) (FADD ST(0),ST(i); FADD ST(i),ST(0); FADDP ...),
   * then pop when `pop`. For SUBR/DIVR the operands swap (ST(dst) = ST(src) op ST(dst)).
   */
  arith(op: Op, dst: number, src: number, pop: boolean): void {
    if (this.isEmpty(dst) || this.isEmpty(src)) {
      if (!this.underflowTo(dst)) return;
    } else {
      const f = this.calc(op, this.se(dst), this.hi(dst), this.lo(dst), this.se(src), this.hi(src), this.lo(src));
      if (!this.commit(f)) return;
      this.setSTR(dst);
    }
    if (pop) this.pop();
  }

  /** Memory forms: ST(0) = ST(0) op m (m32 / m64 reals, m16 / m32 integers). kind: 'f32' | 'f64' | 'i16' | 'i32'. */
  arithMem(op: Op, kind: 0 | 1 | 2 | 3, lo: number, hi: number): void {
    if (this.isEmpty(0)) {
      this.underflowTo(0);
      return;
    }
    const den = this.loadOperand(kind, lo, hi);
    // The memory operand is b of calc (a for the reversed forms).
    setMemDenormal(den ? (op === Op.SUBR || op === Op.DIVR ? 1 : 2) : 0);
    const f = this.calc(op, this.se(0), this.hi(0), this.lo(0), this.t[2]!, this.t[1]!, this.t[0]!);
    if (!this.commit(f)) return;
    this.setSTR(0);
  }

  /** Converts a memory operand (kind as in arithMem) into t[0..2]; returns 1 if it was a denormal. */
  private loadOperand(kind: number, lo: number, hi: number): number {
    let f = 0;
    if (kind === 0) f = fromF32X(lo, 0, true);
    else if (kind === 1) f = fromF64X(hi, lo, 0, true);
    else fromIntX(lo, 0, kind === 2 ? 16 : 32);
    const t = this.t;
    t[0] = R[0]!;
    t[1] = R[1]!;
    t[2] = R[2]!;
    return f & DE ? 1 : 0;
  }

  /** FCHS. */
  fchs(): void {
    if (this.isEmpty(0)) {
      this.underflowTo(0);
      return;
    }
    this.h[2 * 8 + 4] = this.se(0) ^ 0x8000;
    this.h[1] = this.h[1]! & ~FSW.C1;
  }
  /** FABS. */
  fabs(): void {
    if (this.isEmpty(0)) {
      this.underflowTo(0);
      return;
    }
    this.h[2 * 8 + 4] = this.se(0) & 0x7fff;
    this.h[1] = this.h[1]! & ~FSW.C1;
  }

  /** One-operand ST(0) = f(ST(0)) (FSQRT, FRNDINT). */
  private unary(f: (se: number, hi: number, lo: number, cw: number) => number): void {
    if (this.isEmpty(0)) {
      this.underflowTo(0);
      return;
    }
    if (this.commit(f(this.se(0), this.hi(0), this.lo(0), this.fcw))) this.setSTR(0);
  }
  fsqrt(): void {
    this.unary(sqrtX);
  }
  frndint(): void {
    this.unary(rndintX);
  }
  f2xm1(): void {
    this.unary(f2xm1X);
  }

  /** Two-operand ST(1) = f(ST(1), ST(0)) then pop (FYL2X, FYL2XP1, FPATAN); FSCALE keeps both. */
  private binary1(f: (aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number) => number): void {
    if (this.isEmpty(0) || this.isEmpty(1)) {
      if (!this.underflowTo(1)) return;
    } else {
      if (!this.commit(f(this.se(1), this.hi(1), this.lo(1), this.se(0), this.hi(0), this.lo(0), this.fcw))) return;
      this.setSTR(1);
    }
    this.pop();
  }
  /** FYL2X: ST(1) = ST(1) × log2(ST(0)), pop. */
  fyl2x(): void {
    this.binary1(fyl2xX);
  }
  /** FYL2XP1: ST(1) = ST(1) × log2(ST(0) + 1), pop. */
  fyl2xp1(): void {
    this.binary1(fyl2xp1X);
  }
  /** FPATAN: ST(1) = atan(ST(1) / ST(0)), pop. */
  fpatan(): void {
    this.binary1(fpatanX);
  }
  /** FSCALE: ST(0) = ST(0) × 2^trunc(ST(1)). */
  fscale(): void {
    if (this.isEmpty(0) || this.isEmpty(1)) {
      this.underflowTo(0);
      return;
    }
    if (this.commit(scaleX(this.se(0), this.hi(0), this.lo(0), this.se(1), this.hi(1), this.lo(1), this.fcw))) this.setSTR(0);
  }

  /** FPREM (ieee = false) / FPREM1 (ieee = true): C2 = incomplete, else C0 C3 C1 = quotient bits. */
  fprem(ieee: boolean): void {
    if (this.isEmpty(0) || this.isEmpty(1)) {
      // Stack underflow: C1 = C2 = 0, C0 and C3 unchanged (as measured).
      this.underflowTo(0);
      this.h[1] = this.h[1]! & ~(FSW.C1 | FSW.C2);
      return;
    }
    const nan = classX(this.se(0), this.hi(0), this.lo(0)) >= Cls.QNAN || classX(this.se(1), this.hi(1), this.lo(1)) >= Cls.QNAN;
    const f = remX(this.se(0), this.hi(0), this.lo(0), this.se(1), this.hi(1), this.lo(1), this.fcw, ieee);
    const cc = R[3]!;
    if (nan || f & IE) {
      // A NaN or an invalid operation: C1 = C2 = 0, C0 and C3 unchanged (as measured).
      if (this.commit(f & ~C1)) this.setSTR(0);
      this.h[1] = this.h[1]! & ~(FSW.C1 | FSW.C2);
      return;
    }
    if (!this.commit(f & ~C1)) {
      // An unmasked exception (no result): C1 = C2 = 0 as well.
      this.h[1] = this.h[1]! & ~(FSW.C1 | FSW.C2);
      return;
    }
    this.setSTR(0);
    this.h[1] = (this.h[1]! & ~CC) | cc;
  }

  /** FXTRACT: ST(0) = significand, then push the exponent... (exponent ends in ST(1)). */
  fxtract(): void {
    if (this.isEmpty(0)) {
      // Underflow wins over a full stack (C1 = 0, as measured): both results are the indefinite.
      if (!this.underflowTo(0)) return;
      this.pushIndef();
      return;
    }
    if (!this.isEmpty(7)) return this.overflowTwoIndef();
    const f = xtractX(this.se(0), this.hi(0), this.lo(0), this.fcw);
    if (!this.commit(f)) return;
    this.setST(0, R2[2]!, R2[1]!, R2[0]!);
    this.rotPush();
    this.setSTR(0);
  }

  /** FSIN / FCOS: out of range (|x| >= 2^63) sets C2 and leaves ST(0). */
  fsin(): void {
    this.trig(fsinX);
  }
  fcos(): void {
    this.trig(fcosX);
  }
  private trig(f: (se: number, hi: number, lo: number, cw: number) => number): void {
    if (this.isEmpty(0)) {
      this.underflowTo(0);
      this.h[1] = this.h[1]! & ~FSW.C2;
      return;
    }
    const fl = f(this.se(0), this.hi(0), this.lo(0), this.fcw);
    if (R[3]) {
      // Out of range: C2 = 1, operand unchanged.
      this.h[1] = this.h[1]! | FSW.C2;
      return;
    }
    this.h[1] = this.h[1]! & ~FSW.C2;
    if (this.commit(fl)) this.setSTR(0);
  }
  /** FPTAN: ST(0) = tan(ST(0)), push 1.0. */
  fptan(): void {
    this.twoResults(fptanX);
  }
  /** FSINCOS: ST(0) = sin, push cos. */
  fsincos(): void {
    this.twoResults(fsincosX);
  }
  private twoResults(f: (se: number, hi: number, lo: number, cw: number) => number): void {
    if (this.isEmpty(0)) {
      // Underflow wins over a full stack (C1 = 0, as measured): both results are the indefinite.
      if (!this.underflow()) return;
      this.h[1] = this.h[1]! & ~FSW.C2;
      this.setIndef(0);
      this.pushIndef();
      return;
    }
    if (!this.isEmpty(7)) {
      this.h[1] = this.h[1]! & ~FSW.C2;
      return this.overflowTwoIndef();
    }
    const fl = f(this.se(0), this.hi(0), this.lo(0), this.fcw);
    if (R[3]) {
      this.h[1] = this.h[1]! | FSW.C2;
      return;
    }
    this.h[1] = this.h[1]! & ~FSW.C2;
    if (!this.commit(fl)) return;
    // R = first result (stays in the old ST(0)), R2 = the pushed one.
    this.setSTR(0);
    this.rotPush();
    this.setST(0, R2[2]!, R2[1]!, R2[0]!);
  }

  // ---- comparisons and classification ------------------------------------------------------

  /** Compares always deliver their outcome; an unmasked exception only prevents the pops. */
  private cmpCC(f: number, outcome: number): boolean {
    const ok = this.commit(f & ~C1);
    this.h[1] = (this.h[1]! & ~CC) | outcome;
    return ok;
  }

  /** FCOM/FCOMP/FCOMPP/FUCOM* ST(0) with ST(i): C3 C2 C0; pops 0, 1 or 2. */
  fcom(i: number, pops: number, quiet: boolean): void {
    if (this.isEmpty(0) || this.isEmpty(i)) {
      if (!this.cmpCC(this.stackFault(), CMP_UN)) return;
    } else if (!this.cmpCC(compareX(this.se(0), this.hi(0), this.lo(0), this.se(i), this.hi(i), this.lo(i), this.fcw, quiet), R[0]!)) return;
    for (let k = 0; k < pops; k++) this.pop();
  }
  /** FCOM/FCOMP m32/m64, FICOM/FICOMP m16/m32 (kind as in arithMem). */
  fcomMem(kind: 0 | 1 | 2 | 3, lo: number, hi: number, pop: boolean): void {
    if (this.isEmpty(0)) {
      if (!this.cmpCC(this.stackFault(), CMP_UN)) return;
    } else {
      setMemDenormal(this.loadOperand(kind, lo, hi) ? 2 : 0);
      const f = compareX(this.se(0), this.hi(0), this.lo(0), this.t[2]!, this.t[1]!, this.t[0]!, this.fcw, false);
      if (!this.cmpCC(f, R[0]!)) return;
    }
    if (pop) this.pop();
  }
  /** FTST: compare ST(0) with +0.0. */
  ftst(): void {
    if (this.isEmpty(0)) {
      this.cmpCC(this.stackFault(), CMP_UN);
      return;
    }
    this.cmpCC(compareX(this.se(0), this.hi(0), this.lo(0), 0, 0, 0, this.fcw, false), R[0]!);
  }
  /**
   * FCOMI/FCOMIP/FUCOMI/FUCOMIP: returns the new ZF|PF|CF bits of RFLAGS (OF, SF, AF are cleared
   * by the caller). The flags are written even when an unmasked exception prevents the pop.
   */
  fcomi(i: number, pop: boolean, quiet: boolean): number {
    let o: number, f: number;
    if (this.isEmpty(0) || this.isEmpty(i)) {
      f = this.stackFault();
      o = CMP_UN;
    } else {
      f = compareX(this.se(0), this.hi(0), this.lo(0), this.se(i), this.hi(i), this.lo(i), this.fcw, quiet);
      o = R[0]!;
    }
    if (this.commit(f & ~C1) && pop) this.pop();
    return o === CMP_GT ? 0 : o === CMP_LT ? 1 : o === CMP_EQ ? 0x40 : 0x45;
  }
  /** FXAM: C3 C2 C0 the class, C1 the sign. */
  fxam(): void {
    const sign = this.se(0) & 0x8000 ? FSW.C1 : 0;
    let cc: number;
    if (this.isEmpty(0)) cc = 0x4100;
    else {
      const c = classX(this.se(0), this.hi(0), this.lo(0));
      const ex = this.se(0) & 0x7fff;
      if (c === Cls.BAD) cc = 0;
      else if (c === Cls.QNAN || c === Cls.SNAN) cc = 0x100;
      else if (c === Cls.INF) cc = 0x500;
      else if (c === Cls.ZERO) cc = 0x4000;
      else if (ex === 0) cc = 0x4400;
      else cc = 0x400;
    }
    this.h[1] = (this.h[1]! & ~CC) | cc | sign;
  }

  // ---- register moves ----------------------------------------------------------------------

  /** FXCH ST(i). */
  fxch(i: number): void {
    const e0 = this.isEmpty(0), ei = this.isEmpty(i);
    if (e0 || ei) {
      if (!this.underflow()) return;
      // Masked: an empty operand is taken as the indefinite.
      if (e0) this.setIndef(0);
      if (ei) this.setIndef(i);
    }
    const w = this.w;
    const a = 8, b = 8 + 4 * i;
    for (let k = 0; k < 3; k++) {
      const t = w[a + k]!;
      w[a + k] = w[b + k]!;
      w[b + k] = t;
    }
    this.h[1] = this.h[1]! & ~FSW.C1;
  }
  /** FCMOVcc ST(0), ST(i) (cond evaluated by the caller from RFLAGS). */
  fcmov(i: number, cond: boolean): void {
    if (this.isEmpty(0) || this.isEmpty(i)) {
      // Masked: the indefinite goes to ST(0) whether or not the condition holds (as measured).
      this.underflowTo(0);
      return;
    }
    // C1 is left alone (only a stack underflow clears it), as measured.
    if (cond) {
      this.getST(i);
      this.setSTR(0);
    }
  }
}
