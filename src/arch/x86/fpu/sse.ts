/**
 * SSE/SSE2/SSE3/SSSE3/SSE4.1/SSE4.2 numerics over the vCPU's FXSAVE image (MXCSR at byte 24,
 * XMM n at 160 + 16n), allocation-free.
 *
 * Floating point: scalar and packed binary32/binary64 arithmetic, MIN/MAX, compare predicates
 * (0-7, and the AVX 0-31), COMIS/UCOMIS, conversions (CVT and CVTT, with the integer indefinite),
 * ROUND (SSE4.1 imm8), DPPS/DPPD, ADDSUB, HADD/HSUB, honouring MXCSR: the four rounding modes,
 * DAZ, FTZ, and the six exception flags with their masks. JS arithmetic rounds to nearest only;
 * the common case (normal operands whose result is neither tiny nor near overflow) runs on JS
 * doubles with the exact rounding error from TwoSum / Dekker's TwoProduct (remainders for
 * division and square root) deciding PE and directed rounding; everything else goes through the
 * soft-float core of f80.ts with the binary32/64 precision and exponent range.
 *
 * Exceptions: an operation returns {@link XM} when an unmasked exception occurs; then nothing is
 * written but the MXCSR flags (the handler raises #XM, or #UD when CR4.OSXMMEXCPT = 0). For packed
 * operations, unmasked pre-computation exceptions (IE, DE, ZE) in any element stop the
 * operation with only those flags reported.
 *
 * Operands: the destination (and first source) is an XMM register; the second source is the
 * 16-byte scratch {@link Sse.src} which the handler fills from a register ({@link Sse.srcReg}) or
 * from memory ({@link Sse.srcMem}) first.
 *
 * Where the code is: this file has the {@link Sse} class (the MXCSR-honouring operations: scalar
 * and packed arithmetic, compares, conversions, ROUND, DP); xmm.ts the register file it extends
 * with the packed-integer and string operations; sse-scalar.ts the per-element binary64/binary32
 * arithmetic (fast and slow paths); sse-cvt.ts the conversions; scalar-int.ts CRC32, POPCNT,
 * LZCNT, TZCNT.
 * @module
 */
import { cmpUnpacked, R, S_DEN, SA, SB, SW, unpackD, unpackS } from './f80.js';
import { Cls, d2bits, DE, FOp, IE, MX, opD, opS, PE, PRE, RZ, XM } from './sse-scalar.js';
import { bitsToNum32, bitsToNum64, f32to64, f64to32, fToInt, intToD, intToS, roundIntD, roundIntS } from './sse-cvt.js';
import { XmmFile } from './xmm.js';

export { FOp, MX, opD, opS, XM } from './sse-scalar.js';
export { crc32c, lzcnt, popcnt32, tzcnt } from './scalar-int.js';

// ---- compares -----------------------------------------------------------------------------

/** Relation of a to b: 0 GT, 1 LT, 2 EQ, 3 unordered; flags in cmpFlags. */
let cmpFlags = 0;
function relD(a0: number, a1: number, b0: number, b1: number, daz: boolean): number {
  const ca = unpackD(a1, a0, SA, daz), cb = unpackD(b1, b0, SB, daz);
  return rel(ca, cb);
}
function relS(a: number, b: number, daz: boolean): number {
  const ca = unpackS(a, SA, daz), cb = unpackS(b, SB, daz);
  return rel(ca, cb);
}
function rel(ca: number, cb: number): number {
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) {
    cmpFlags = ca === Cls.SNAN || cb === Cls.SNAN ? IE | 0x100 : 0x100; // 0x100: a QNaN only
    if (cmpFlags & IE) cmpFlags = IE;
    return 3;
  }
  cmpFlags = SW[SA + S_DEN]! | SW[SB + S_DEN]! ? DE : 0;
  const c = cmpUnpacked(ca, cb);
  return c === 0 ? 0 : c === 0x100 ? 1 : 2;
}

// Predicate truth tables (bit per relation GT, LT, EQ, UN) for imm 0-15; 16-31 flip signalling.
const PRED_TRUE = [4, 2, 6, 8, 11, 13, 9, 7, 12, 10, 14, 0, 3, 5, 1, 15];
// Signalling (IE on QNaN) predicates among 0-15.
const PRED_SIG = [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0];

// ---- the register-file object ---------------------------------------------------------------

/** Lane formats. */
export const Fmt = {
  F32: 0,
  F64: 1,
} as const;
export type Fmt = (typeof Fmt)[keyof typeof Fmt];

/** The XMM register file with the floating-point operations, which honour and update MXCSR. */
export class Sse extends XmmFile {
  /** Staging for results (written to the destination only when no unmasked exception). */
  private readonly st = new Int32Array(4);

  /** Merges flags into MXCSR; true when an unmasked exception must fault. */
  private raise(f: number): boolean {
    const mx = this.w[6]!;
    const masks = (mx >>> 7) & 0x3f;
    if (f & PRE & ~masks) {
      // Unmasked pre-computation exceptions: only those are reported.
      this.w[6] = mx | (f & PRE);
      return true;
    }
    this.w[6] = mx | (f & 0x3f);
    return (f & 0x3f & ~masks) !== 0;
  }

  private commit(d: number, words: number): void {
    const o = 40 + 4 * d;
    for (let k = 0; k < words; k++) this.w[o + k] = this.st[k]!;
  }

  /**
   * ADD/SUB/MUL/DIV/MIN/MAX/SQRT, scalar (`packed` false: lane 0, the rest of the destination
   * kept) or packed, on XMM d and src. Returns 0 or XM.
   */
  arith(op: FOp, fmt: Fmt, packed: boolean, d: number): number {
    const mx = this.w[6]!, o = 40 + 4 * d, w = this.w, s = this.src, st = this.st;
    let f = 0;
    if (fmt === Fmt.F64) {
      const n = packed ? 2 : 1;
      for (let k = 0; k < n; k++) {
        f |= opD(op, w[o + 2 * k]!, w[o + 2 * k + 1]!, s[2 * k]!, s[2 * k + 1]!, mx);
        st[2 * k] = R[0]!;
        st[2 * k + 1] = R[1]!;
      }
      if (this.raise(f)) return XM;
      this.commit(d, 2 * n);
    } else {
      const n = packed ? 4 : 1;
      for (let k = 0; k < n; k++) {
        f |= opS(op, w[o + k]!, s[k]!, mx);
        st[k] = R[0]!;
      }
      if (this.raise(f)) return XM;
      this.commit(d, n);
    }
    return 0;
  }

  /** ADDSUBPS/PD: odd lanes add, even lanes subtract. */
  addsub(fmt: Fmt, d: number): number {
    const mx = this.w[6]!, o = 40 + 4 * d, w = this.w, s = this.src, st = this.st;
    let f = 0;
    if (fmt === Fmt.F64) {
      for (let k = 0; k < 2; k++) {
        f |= opD(k & 1 ? FOp.ADD : FOp.SUB, w[o + 2 * k]!, w[o + 2 * k + 1]!, s[2 * k]!, s[2 * k + 1]!, mx);
        st[2 * k] = R[0]!;
        st[2 * k + 1] = R[1]!;
      }
    } else {
      for (let k = 0; k < 4; k++) {
        f |= opS(k & 1 ? FOp.ADD : FOp.SUB, w[o + k]!, s[k]!, mx);
        st[k] = R[0]!;
      }
    }
    if (this.raise(f)) return XM;
    this.commit(d, 4);
    return 0;
  }

  /** HADDPS/PD (sub = false) and HSUBPS/PD: pairs of the destination, then pairs of src. */
  hadd(fmt: Fmt, sub: boolean, d: number): number {
    const mx = this.w[6]!, o = 40 + 4 * d, w = this.w, s = this.src, st = this.st;
    const op = sub ? FOp.SUB : FOp.ADD;
    let f = 0;
    if (fmt === Fmt.F64) {
      f |= opD(op, w[o]!, w[o + 1]!, w[o + 2]!, w[o + 3]!, mx);
      st[0] = R[0]!;
      st[1] = R[1]!;
      f |= opD(op, s[0]!, s[1]!, s[2]!, s[3]!, mx);
      st[2] = R[0]!;
      st[3] = R[1]!;
    } else {
      f |= opS(op, w[o]!, w[o + 1]!, mx);
      st[0] = R[0]!;
      f |= opS(op, w[o + 2]!, w[o + 3]!, mx);
      st[1] = R[0]!;
      f |= opS(op, s[0]!, s[1]!, mx);
      st[2] = R[0]!;
      f |= opS(op, s[2]!, s[3]!, mx);
      st[3] = R[0]!;
    }
    if (this.raise(f)) return XM;
    this.commit(d, 4);
    return 0;
  }

  /** CMPSS/SD/PS/PD and VCMP* with predicate imm (0-31): all-ones or zero lanes. */
  cmp(pred: number, fmt: Fmt, packed: boolean, d: number): number {
    const mx = this.w[6]!, o = 40 + 4 * d, w = this.w, s = this.src, st = this.st;
    const daz = (mx & MX.DAZ) !== 0;
    const p = pred & 15;
    const sig = PRED_SIG[p]! ^ (pred >>> 4 & 1);
    const truth = PRED_TRUE[p]!;
    let f = 0;
    const lanes = fmt === Fmt.F64 ? (packed ? 2 : 1) : packed ? 4 : 1;
    for (let k = 0; k < lanes; k++) {
      const r = fmt === Fmt.F64 ? relD(w[o + 2 * k]!, w[o + 2 * k + 1]!, s[2 * k]!, s[2 * k + 1]!, daz) : relS(w[o + k]!, s[k]!, daz);
      let cf = cmpFlags;
      if (cf & 0x100) cf = sig ? IE : 0;
      f |= cf;
      // truth bits: 1 = GT, 2 = LT, 4 = EQ, 8 = unordered (r is the bit number).
      const v = (truth >>> r) & 1 ? -1 : 0;
      if (fmt === Fmt.F64) {
        st[2 * k] = v;
        st[2 * k + 1] = v;
      } else st[k] = v;
    }
    if (this.raise(f)) return XM;
    this.commit(d, fmt === Fmt.F64 ? 2 * lanes : lanes);
    return 0;
  }

  /**
   * COMISS/COMISD (quiet = false: IE on QNaN too) and UCOMIS*: eflags = ZF PF CF of the relation
   * (OF SF AF cleared by the caller). Compares XMM d with src.
   */
  comi(fmt: Fmt, quiet: boolean, d: number): number {
    const mx = this.w[6]!, o = 40 + 4 * d, w = this.w, s = this.src;
    const daz = (mx & MX.DAZ) !== 0;
    const r = fmt === Fmt.F64 ? relD(w[o]!, w[o + 1]!, s[0]!, s[1]!, daz) : relS(w[o]!, s[0]!, daz);
    let f = cmpFlags;
    if (f & 0x100) f = quiet ? 0 : IE;
    if (this.raise(f)) return XM;
    this.eflags = r === 0 ? 0 : r === 1 ? 1 : r === 2 ? 0x40 : 0x45;
    return 0;
  }

  // ---- conversions -----------------------------------------------------------------------

  /** CVTSS2SD / CVTPS2PD (packed: 2 lanes from src's low half). */
  cvtF32toF64(packed: boolean, d: number): number {
    const mx = this.w[6]!, s = this.src, st = this.st;
    let f = 0;
    const n = packed ? 2 : 1;
    for (let k = 0; k < n; k++) {
      f |= f32to64(s[k]!, mx);
      st[2 * k] = R[0]!;
      st[2 * k + 1] = R[1]!;
    }
    if (this.raise(f)) return XM;
    this.commit(d, 2 * n);
    return 0;
  }
  /** CVTSD2SS / CVTPD2PS (packed: 2 results in the low half, the high half zeroed). */
  cvtF64toF32(packed: boolean, d: number): number {
    const mx = this.w[6]!, s = this.src, st = this.st;
    let f = 0;
    const n = packed ? 2 : 1;
    for (let k = 0; k < n; k++) {
      f |= f64to32(s[2 * k]!, s[2 * k + 1]!, mx);
      st[k] = R[0]!;
    }
    if (this.raise(f)) return XM;
    if (packed) {
      st[2] = 0;
      st[3] = 0;
      this.commit(d, 4);
    } else this.commit(d, 1);
    return 0;
  }
  /** CVTDQ2PS (4 lanes) / CVTDQ2PD (2 lanes from src's low half, exact). */
  cvtI32toF(fmt: Fmt, d: number): number {
    const mx = this.w[6]!, s = this.src, st = this.st;
    let f = 0;
    if (fmt === Fmt.F64) {
      for (let k = 0; k < 2; k++) {
        d2bits(s[k]!);
        st[2 * k] = R[0]!;
        st[2 * k + 1] = R[1]!;
      }
    } else {
      for (let k = 0; k < 4; k++) {
        f |= intToS(s[k]!, s[k]! >> 31, mx);
        st[k] = R[0]!;
      }
    }
    if (this.raise(f)) return XM;
    this.commit(d, 4);
    return 0;
  }
  /**
   * CVTPS2DQ / CVTTPS2DQ (4 lanes) and CVTPD2DQ / CVTTPD2DQ (2 lanes, the high half zeroed).
   */
  cvtFtoI32(fmt: Fmt, truncate: boolean, d: number): number {
    const mx = this.w[6]!, s = this.src, st = this.st;
    const rc = truncate ? RZ : (mx >>> 13) & 3;
    let f = 0;
    if (fmt === Fmt.F64) {
      for (let k = 0; k < 2; k++) {
        f |= fToInt(bitsToNum64(s[2 * k]!, s[2 * k + 1]!, mx), 32, rc);
        st[k] = R[0]!;
      }
      st[2] = 0;
      st[3] = 0;
    } else {
      for (let k = 0; k < 4; k++) {
        f |= fToInt(bitsToNum32(s[k]!, mx), 32, rc);
        st[k] = R[0]!;
      }
    }
    if (this.raise(f)) return XM;
    this.commit(d, 4);
    return 0;
  }
  /**
   * CVTSI2SS / CVTSI2SD from a 32-bit (hi = sign extension) or 64-bit integer into lane 0 of d.
   */
  cvtIntToScalar(fmt: Fmt, lo: number, hi: number, d: number): number {
    const mx = this.w[6]!, st = this.st;
    let f: number;
    if (fmt === Fmt.F64) {
      f = intToD(lo, hi, mx);
      st[0] = R[0]!;
      st[1] = R[1]!;
    } else {
      f = intToS(lo, hi, mx);
      st[0] = R[0]!;
    }
    if (this.raise(f)) return XM;
    this.commit(d, fmt === Fmt.F64 ? 2 : 1);
    return 0;
  }
  /**
   * CVTSS2SI / CVTSD2SI / CVTTSS2SI / CVTTSD2SI of src lane 0 to a 32- or 64-bit integer: on
   * success (0) the result is in R[0] (low), R[1] (high).
   */
  cvtScalarToInt(fmt: Fmt, bits: 32 | 64, truncate: boolean): number {
    const mx = this.w[6]!, s = this.src;
    const rc = truncate ? RZ : (mx >>> 13) & 3;
    const v = fmt === Fmt.F64 ? bitsToNum64(s[0]!, s[1]!, mx) : bitsToNum32(s[0]!, mx);
    const f = fToInt(v, bits, rc);
    const lo = R[0]!, hi = R[1]!;
    if (this.raise(f)) return XM;
    R[0] = lo;
    R[1] = hi;
    return 0;
  }

  /** ROUNDSS/SD/PS/PD: imm8 bits 1:0 rounding, bit 2 use MXCSR.RC, bit 3 suppress PE. */
  roundTo(fmt: Fmt, packed: boolean, imm: number, d: number): number {
    const mx = this.w[6]!, s = this.src, st = this.st;
    const rc = imm & 4 ? (mx >>> 13) & 3 : imm & 3;
    const daz = (mx & MX.DAZ) !== 0;
    let f = 0;
    if (fmt === Fmt.F64) {
      const n = packed ? 2 : 1;
      for (let k = 0; k < n; k++) {
        f |= roundIntD(s[2 * k]!, s[2 * k + 1]!, rc, daz);
        st[2 * k] = R[0]!;
        st[2 * k + 1] = R[1]!;
      }
      if (imm & 8) f &= ~PE;
      if (this.raise(f)) return XM;
      this.commit(d, 2 * n);
    } else {
      const n = packed ? 4 : 1;
      for (let k = 0; k < n; k++) {
        f |= roundIntS(s[k]!, rc, daz);
        st[k] = R[0]!;
      }
      if (imm & 8) f &= ~PE;
      if (this.raise(f)) return XM;
      this.commit(d, n);
    }
    return 0;
  }

  /**
   * DPPS/DPPD: products selected by imm[7:4] (imm[5:4] for PD; the others are +0.0), summed
   * pairwise, broadcast to the lanes selected by imm[3:0]. Each stage (the products, then each
   * level of sums) is one packed operation with the usual reporting (an unmasked pre-computation
   * exception in any element hides the stage's other flags); a later stage runs only when the
   * earlier ones raised no unmasked exception, and a fault keeps the earlier stages' flags.
   */
  dp(fmt: Fmt, imm: number, d: number): number {
    const mx = this.w[6]!, o = 40 + 4 * d, w = this.w, s = this.src, st = this.st;
    this.dpFlags = 0;
    if (fmt === Fmt.F32) {
      const t = this.dpTmp;
      let sf = 0;
      for (let k = 0; k < 4; k++) {
        if ((imm >>> (4 + k)) & 1) {
          sf |= opS(FOp.MUL, w[o + k]!, s[k]!, mx);
          t[k] = R[0]!;
        } else t[k] = 0;
      }
      if (this.dpStage(sf, mx)) return XM;
      sf = opS(FOp.ADD, t[0]!, t[1]!, mx);
      const t2 = R[0]!;
      sf |= opS(FOp.ADD, t[2]!, t[3]!, mx);
      const t3 = R[0]!;
      if (this.dpStage(sf, mx)) return XM;
      if (this.dpStage(opS(FOp.ADD, t2, t3, mx), mx)) return XM;
      const r = R[0]!;
      for (let k = 0; k < 4; k++) st[k] = (imm >>> k) & 1 ? r : 0;
    } else {
      let p0 = 0, p1 = 0, q0 = 0, q1 = 0, sf = 0;
      if (imm & 0x10) {
        sf |= opD(FOp.MUL, w[o]!, w[o + 1]!, s[0]!, s[1]!, mx);
        p0 = R[0]!;
        p1 = R[1]!;
      }
      if (imm & 0x20) {
        sf |= opD(FOp.MUL, w[o + 2]!, w[o + 3]!, s[2]!, s[3]!, mx);
        q0 = R[0]!;
        q1 = R[1]!;
      }
      if (this.dpStage(sf, mx)) return XM;
      if (this.dpStage(opD(FOp.ADD, p0, p1, q0, q1, mx), mx)) return XM;
      st[0] = imm & 1 ? R[0]! : 0;
      st[1] = imm & 1 ? R[1]! : 0;
      st[2] = imm & 2 ? R[0]! : 0;
      st[3] = imm & 2 ? R[1]! : 0;
    }
    this.w[6] = mx | this.dpFlags;
    this.commit(d, 4);
    return 0;
  }
  private dpFlags = 0;
  /** Ends a DPPS/DPPD stage with flags sf; true (MXCSR updated) when it faults. */
  private dpStage(sf: number, mx: number): boolean {
    const masks = (mx >>> 7) & 0x3f;
    if (sf & PRE & ~masks) sf &= PRE;
    const f = (this.dpFlags |= sf & 0x3f);
    if (!(f & ~masks)) return false;
    this.w[6] = mx | f;
    return true;
  }
  private readonly dpTmp = new Int32Array(4);
}
