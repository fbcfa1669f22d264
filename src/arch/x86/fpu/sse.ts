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
 * @module
 */
import {
  cmpUnpacked, coreAdd, coreDiv, coreMul, coreSqrt, EMAX_D, EMAX_S, EMIN_D, EMIN_S, packD, packS, R, round, S_CLS, S_DEN, S_EXP,
  S_M0, S_M1, S_RCLS, S_SGN, S_ZE, S_ZM0, S_ZM1, S_ZS, S_ZX, SA, SB, SW, unpackD, unpackS,
} from './f80.js';

// ---- MXCSR ----------------------------------------------------------------------------------

/** MXCSR bits. */
export const MX = {
  IE: 1, DE: 2, ZE: 4, OE: 8, UE: 0x10, PE: 0x20, DAZ: 0x40, IM: 0x80, DM: 0x100, ZM: 0x200, OM: 0x400, UM: 0x800, PM: 0x1000,
  RC: 0x6000, FTZ: 0x8000,
} as const;
/** Returned by an operation that must raise #XM (or #UD when CR4.OSXMMEXCPT = 0). */
export const XM = 1;

const IE = 1, DE = 2, ZE = 4, OE = 8, UE = 0x10, PE = 0x20, PRE = IE | DE | ZE;
const RN = 0, RD = 1, RU = 2, RZ = 3;

/** Floating-point operations. */
export const enum FOp {
  ADD = 0,
  SUB = 1,
  MUL = 2,
  DIV = 3,
  MIN = 4,
  MAX = 5,
  SQRT = 6,
}

const enum Cls {
  ZERO = 0,
  FIN = 1,
  INF = 2,
  QNAN = 3,
  SNAN = 4,
}

// ---- bit views of JS numbers ---------------------------------------------------------------

const F64 = new Float64Array(1);
const F64I = new Int32Array(F64.buffer);
const F32 = new Float32Array(1);
const F32I = new Int32Array(F32.buffer);

function d2bits(v: number): void {
  F64[0] = v;
  R[0] = F64I[0]!;
  R[1] = F64I[1]!;
}
function bits2d(lo: number, hi: number): number {
  F64I[0] = lo;
  F64I[1] = hi;
  return F64[0]!;
}
function s2bits(v: number): number {
  F32[0] = v;
  return F32I[0]!;
}
function bits2s(v: number): number {
  F32I[0] = v;
  return F32[0]!;
}

/** Steps the binary64 result in R one ulp toward +inf (up) or -inf (!up); R finite, non-zero. */
function stepD(up: boolean): void {
  const away = (R[1]! < 0) !== up; // magnitude grows
  const lo = (R[0]! >>> 0) + (away ? 1 : -1);
  R[0] = lo | 0;
  if (lo > 0xffffffff) R[1] = (R[1]! + 1) | 0;
  else if (lo < 0) R[1] = (R[1]! - 1) | 0;
}

// ---- scalar binary64 -----------------------------------------------------------------------

const SPLIT = 134217729;

/** Exact a × b - p for p = fl(a × b) (Dekker), with |a|, |b| < 2^996 and no underflow. */
function mulErr(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/**
 * The common case on doubles: returns the flags, or -1 for the slow path. Both operands normal;
 * the result (before directed rounding) must be normal with margin.
 */
function fastD(op: number, a0: number, a1: number, b0: number, b1: number, rc: number): number {
  const eb = (b1 >>> 20) & 0x7ff;
  const ea = (a1 >>> 20) & 0x7ff;
  const b = bits2d(b0, b1);
  let r: number, err: number;
  switch (op) {
    case FOp.ADD:
    case FOp.SUB: {
      if ((ea - 1) >>> 0 >= 2045 || (eb - 1) >>> 0 >= 2045) return -1;
      const a = bits2d(a0, a1);
      const bb = op === FOp.SUB ? -b : b;
      r = a + bb;
      const z = r - a;
      err = a - (r - z) + (bb - z);
      if (r === 0) {
        // Exact cancellation: +0, or -0 when rounding down.
        R[0] = 0;
        R[1] = rc === RD ? 0x80000000 | 0 : 0;
        return 0;
      }
      break;
    }
    case FOp.MUL: {
      if ((ea - 1) >>> 0 >= 2018 || (eb - 1) >>> 0 >= 2018) return -1;
      const a = bits2d(a0, a1);
      r = a * b;
      d2bits(r);
      const ef = (R[1]! >>> 20) & 0x7ff;
      if (ef < 60 || ef > 2045) return -1;
      err = mulErr(a, b, r);
      if (err === 0) return 0;
      return adjustD(rc, err > 0);
    }
    case FOp.DIV: {
      if (ea < 60 || ea > 2018 || (eb - 1) >>> 0 >= 2018) return -1;
      const a = bits2d(a0, a1);
      r = a / b;
      d2bits(r);
      const ef = (R[1]! >>> 20) & 0x7ff;
      if (ef < 2 || ef > 2018) return -1;
      // Remainder a - r b (exact): its sign and b's give the direction of the true quotient.
      const p = r * b;
      const rem = a - p - mulErr(r, b, p);
      if (rem === 0) return 0;
      return adjustD(rc, rem > 0 === b > 0);
    }
    case FOp.SQRT: {
      if (b1 < 0 || eb < 60 || eb > 2018) return -1;
      r = Math.sqrt(b);
      d2bits(r);
      const p = r * r;
      const rem = b - p - mulErr(r, r, p);
      if (rem === 0) return 0;
      return adjustD(rc, rem > 0);
    }
    default:
      return -1;
  }
  // ADD/SUB: range of the sum.
  d2bits(r);
  const ef = (R[1]! >>> 20) & 0x7ff;
  if (ef < 2 || ef > 2045) return -1;
  if (err === 0) return 0;
  return adjustD(rc, err > 0);
}

/** R holds the round-to-nearest result of an inexact operation; trueAbove: exact > R. */
function adjustD(rc: number, trueAbove: boolean): number {
  if (rc !== RN) {
    const neg = R[1]! < 0;
    if (rc === RU) {
      if (trueAbove) stepD(true);
    } else if (rc === RD) {
      if (!trueAbove) stepD(false);
    } else if (trueAbove === neg) stepD(neg); // toward zero
  }
  return PE;
}

/** SSE NaN result for two operands: the first NaN operand (a before b), quieted. */
function nanD(a0: number, a1: number, b0: number, b1: number, ca: number, cb: number): number {
  if (ca >= Cls.QNAN) {
    R[0] = a0;
    R[1] = a1 | 0x80000;
  } else {
    R[0] = b0;
    R[1] = b1 | 0x80000;
  }
  return ca === Cls.SNAN || cb === Cls.SNAN ? IE : 0;
}

const DEF_NAN_D_HI = 0xfff80000 | 0;

/** The default NaN (QNaN indefinite) with IE. */
function invalidD(): number {
  R[0] = 0;
  R[1] = DEF_NAN_D_HI;
  return IE;
}

/** The soft path: any operands. */
function slowD(op: number, a0: number, a1: number, b0: number, b1: number, mx: number): number {
  const daz = (mx & MX.DAZ) !== 0;
  const masks = (mx >>> 7) & 0x3f;
  const rc = (mx >>> 13) & 3;
  const ca = op === FOp.SQRT ? Cls.ZERO : unpackD(a1, a0, SA, daz);
  const cb = unpackD(b1, b0, SB, daz);
  if (op === FOp.MIN || op === FOp.MAX) return minmax(op, ca, cb, a0, a1, b0, b1, masks, true);
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) return nanD(a0, a1, b0, b1, op === FOp.SQRT ? Cls.ZERO : ca, cb);
  let f = (op !== FOp.SQRT && SW[SA + S_DEN]) || SW[SB + S_DEN] ? DE : 0;
  const sa = SW[SA + S_SGN]!;
  let sb = SW[SB + S_SGN]!;
  if (op === FOp.SUB) {
    sb ^= 1;
    SW[SB + S_SGN] = sb;
  }
  switch (op) {
    case FOp.ADD:
    case FOp.SUB:
      if (ca === Cls.INF || cb === Cls.INF) {
        if (ca === Cls.INF && cb === Cls.INF && sa !== sb) return invalidD();
        R[0] = 0;
        R[1] = ((ca === Cls.INF ? sa : sb) << 31) | 0x7ff00000;
        return f;
      }
      if (ca === Cls.ZERO && cb === Cls.ZERO) {
        R[0] = 0;
        R[1] = (sa === sb ? sa : rc === RD ? 1 : 0) << 31;
        return f;
      }
      if (ca === Cls.ZERO || cb === Cls.ZERO) {
        const o = ca === Cls.ZERO ? SB : SA;
        SW[S_ZS] = SW[o + S_SGN]!;
        SW[S_ZE] = SW[o + S_EXP]!;
        SW[S_ZM1] = SW[o + S_M1]!;
        SW[S_ZM0] = SW[o + S_M0]!;
        SW[S_ZX] = 0;
      } else if (coreAdd(rc)) {
        R[0] = 0;
        R[1] = SW[S_ZS]! << 31;
        return f;
      }
      break;
    case FOp.MUL:
      if ((ca === Cls.INF && cb === Cls.ZERO) || (ca === Cls.ZERO && cb === Cls.INF)) return invalidD();
      if (ca === Cls.INF || cb === Cls.INF || ca === Cls.ZERO || cb === Cls.ZERO) {
        R[0] = 0;
        R[1] = ((sa ^ sb) << 31) | (ca === Cls.INF || cb === Cls.INF ? 0x7ff00000 : 0);
        return f;
      }
      coreMul();
      break;
    case FOp.DIV:
      if ((ca === Cls.INF && cb === Cls.INF) || (ca === Cls.ZERO && cb === Cls.ZERO)) return invalidD();
      if (cb === Cls.ZERO && ca !== Cls.INF) {
        // Zero divide (a denormal dividend is not reported).
        R[0] = 0;
        R[1] = ((sa ^ sb) << 31) | 0x7ff00000;
        return ZE;
      }
      if (ca === Cls.INF || ca === Cls.ZERO || cb === Cls.INF) {
        R[0] = 0;
        R[1] = ((sa ^ sb) << 31) | (ca === Cls.INF ? 0x7ff00000 : 0);
        return f;
      }
      coreDiv();
      break;
    default: // SQRT
      if (cb === Cls.ZERO) {
        R[0] = 0;
        R[1] = sb << 31;
        return f;
      }
      if (sb) return invalidD(); // (a denormal operand is not reported)
      if (cb === Cls.INF) {
        R[0] = 0;
        R[1] = 0x7ff00000;
        return f;
      }
      SW[SA + S_EXP] = SW[SB + S_EXP]!;
      SW[SA + S_M1] = SW[SB + S_M1]!;
      SW[SA + S_M0] = SW[SB + S_M0]!;
      coreSqrt();
  }
  if (f & ~masks) return f;
  f |= round(SW[S_ZS]!, SW[S_ZE]!, SW[S_ZM1]!, SW[S_ZM0]!, SW[S_ZX]!, 53, EMIN_D, EMAX_D, rc, masks, 0, (mx & MX.FTZ) !== 0, true);
  packD();
  return f & 0x3f;
}

/**
 * MINSD/MAXSD (and single): a NaN in either operand or two zeros give the second operand
 * unchanged (IE for any NaN); otherwise the smaller/larger. Unpacked operands in SA/SB.
 */
function minmax(op: number, ca: number, cb: number, a0: number, a1: number, b0: number, b1: number, masks: number, dbl: boolean): number {
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) {
    // The second operand, as is (a NaN stays signalling) or flushed to zero by DAZ.
    if (cb === Cls.ZERO) {
      R[0] = dbl ? 0 : SW[SB + S_SGN]! << 31;
      R[1] = dbl ? SW[SB + S_SGN]! << 31 : 0;
    } else {
      R[0] = b0;
      R[1] = b1;
    }
    return IE;
  }
  const f = SW[SA + S_DEN]! | SW[SB + S_DEN]! ? DE : 0;
  void masks;
  void dbl;
  const c = cmpUnpacked(ca, cb); // 0 GT, 0x100 LT, 0x4000 EQ
  const pickA = op === FOp.MIN ? c === 0x100 : c === 0;
  const o = pickA ? SA : SB;
  if (SW[o + S_CLS] === Cls.ZERO) {
    // A zero (possibly a denormal flushed by DAZ: the flushed value is returned).
    R[0] = dbl ? 0 : SW[o + S_SGN]! << 31;
    R[1] = dbl ? SW[o + S_SGN]! << 31 : 0;
  } else if (pickA) {
    R[0] = a0;
    R[1] = a1;
  } else {
    R[0] = b0;
    R[1] = b1;
  }
  return f;
}

/**
 * Scalar binary64 operation a op b (SQRT: sqrt(b)) under MXCSR mx: result in R[0] (low word),
 * R[1] (high word); returns the exception flags (IE..PE).
 */
export function opD(op: FOp, a0: number, a1: number, b0: number, b1: number, mx: number): number {
  if (op < FOp.MIN || op === FOp.SQRT) {
    const f = fastD(op, a0, a1, b0, b1, (mx >>> 13) & 3);
    if (f >= 0) return f;
  }
  return slowD(op, a0, a1, b0, b1, mx);
}

// ---- scalar binary32 -----------------------------------------------------------------------

function stepS(v: number, up: boolean): number {
  return (v < 0) !== up ? (v + 1) | 0 : (v - 1) | 0;
}

/** Common case of binary32 on doubles; returns flags or -1. Result in R[0]. */
function fastS(op: number, a: number, b: number, rc: number): number {
  const ea = (a >>> 23) & 0xff, eb = (b >>> 23) & 0xff;
  if ((eb - 1) >>> 0 >= 253 || (op !== FOp.SQRT && (ea - 1) >>> 0 >= 253)) return -1;
  const y = bits2s(b);
  let d: number, dir: number; // dir: sign of (exact - d)
  switch (op) {
    case FOp.ADD:
    case FOp.SUB: {
      const x = bits2s(a);
      const yy = op === FOp.SUB ? -y : y;
      d = x + yy;
      if (d === 0) {
        R[0] = rc === RD ? 0x80000000 | 0 : 0;
        return 0;
      }
      const z = d - x;
      dir = x - (d - z) + (yy - z);
      break;
    }
    case FOp.MUL:
      d = bits2s(a) * y; // exact (48 bits)
      dir = 0;
      break;
    case FOp.DIV: {
      const x = bits2s(a);
      d = x / y;
      const p = d * y;
      const rem = x - p - mulErr(d, y, p);
      dir = rem === 0 ? 0 : rem > 0 === y > 0 ? 1 : -1;
      break;
    }
    case FOp.SQRT: {
      if (b < 0) return -1;
      d = Math.sqrt(y);
      const p = d * d;
      const rem = y - p - mulErr(d, d, p);
      dir = rem;
      break;
    }
    default:
      return -1;
  }
  const r = Math.fround(d);
  let v = s2bits(r);
  const ef = (v >>> 23) & 0xff;
  if (ef < 2 || ef > 253) return -1;
  const diff = d - r; // exact
  const above = diff !== 0 ? diff > 0 : dir > 0; // exact > r
  if (diff === 0 && dir === 0) {
    R[0] = v;
    return 0;
  }
  if (rc !== RN) {
    const neg = v < 0;
    if (rc === RU) {
      if (above) v = stepS(v, true);
    } else if (rc === RD) {
      if (!above) v = stepS(v, false);
    } else if (above === neg) v = stepS(v, neg);
  }
  R[0] = v;
  return PE;
}

const DEF_NAN_S = 0xffc00000 | 0;

function slowS(op: number, a: number, b: number, mx: number): number {
  const daz = (mx & MX.DAZ) !== 0;
  const masks = (mx >>> 7) & 0x3f;
  const rc = (mx >>> 13) & 3;
  const ca = op === FOp.SQRT ? Cls.ZERO : unpackS(a, SA, daz);
  const cb = unpackS(b, SB, daz);
  if (op === FOp.MIN || op === FOp.MAX) {
    const f = minmax(op, ca, cb, a, 0, b, 0, masks, false);
    return f;
  }
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) {
    const ca2 = op === FOp.SQRT ? Cls.ZERO : ca;
    R[0] = (ca2 >= Cls.QNAN ? a : b) | 0x400000;
    return ca2 === Cls.SNAN || cb === Cls.SNAN ? IE : 0;
  }
  let f = (op !== FOp.SQRT && SW[SA + S_DEN]) || SW[SB + S_DEN] ? DE : 0;
  const sa = SW[SA + S_SGN]!;
  let sb = SW[SB + S_SGN]!;
  if (op === FOp.SUB) {
    sb ^= 1;
    SW[SB + S_SGN] = sb;
  }
  switch (op) {
    case FOp.ADD:
    case FOp.SUB:
      if (ca === Cls.INF || cb === Cls.INF) {
        if (ca === Cls.INF && cb === Cls.INF && sa !== sb) {
          R[0] = DEF_NAN_S;
          return IE;
        }
        R[0] = ((ca === Cls.INF ? sa : sb) << 31) | 0x7f800000;
        return f;
      }
      if (ca === Cls.ZERO && cb === Cls.ZERO) {
        R[0] = (sa === sb ? sa : rc === RD ? 1 : 0) << 31;
        return f;
      }
      if (ca === Cls.ZERO || cb === Cls.ZERO) {
        const o = ca === Cls.ZERO ? SB : SA;
        SW[S_ZS] = SW[o + S_SGN]!;
        SW[S_ZE] = SW[o + S_EXP]!;
        SW[S_ZM1] = SW[o + S_M1]!;
        SW[S_ZM0] = SW[o + S_M0]!;
        SW[S_ZX] = 0;
      } else if (coreAdd(rc)) {
        R[0] = SW[S_ZS]! << 31;
        return f;
      }
      break;
    case FOp.MUL:
      if ((ca === Cls.INF && cb === Cls.ZERO) || (ca === Cls.ZERO && cb === Cls.INF)) {
        R[0] = DEF_NAN_S;
        return IE;
      }
      if (ca === Cls.INF || cb === Cls.INF || ca === Cls.ZERO || cb === Cls.ZERO) {
        R[0] = ((sa ^ sb) << 31) | (ca === Cls.INF || cb === Cls.INF ? 0x7f800000 : 0);
        return f;
      }
      coreMul();
      break;
    case FOp.DIV:
      if ((ca === Cls.INF && cb === Cls.INF) || (ca === Cls.ZERO && cb === Cls.ZERO)) {
        R[0] = DEF_NAN_S;
        return IE;
      }
      if (cb === Cls.ZERO && ca !== Cls.INF) {
        R[0] = ((sa ^ sb) << 31) | 0x7f800000;
        return ZE;
      }
      if (ca === Cls.INF || ca === Cls.ZERO || cb === Cls.INF) {
        R[0] = ((sa ^ sb) << 31) | (ca === Cls.INF ? 0x7f800000 : 0);
        return f;
      }
      coreDiv();
      break;
    default:
      if (cb === Cls.ZERO) {
        R[0] = sb << 31;
        return f;
      }
      if (sb) {
        R[0] = DEF_NAN_S;
        return IE;
      }
      if (cb === Cls.INF) {
        R[0] = 0x7f800000;
        return f;
      }
      SW[SA + S_EXP] = SW[SB + S_EXP]!;
      SW[SA + S_M1] = SW[SB + S_M1]!;
      SW[SA + S_M0] = SW[SB + S_M0]!;
      coreSqrt();
  }
  if (f & ~masks) return f;
  f |= round(SW[S_ZS]!, SW[S_ZE]!, SW[S_ZM1]!, SW[S_ZM0]!, SW[S_ZX]!, 24, EMIN_S, EMAX_S, rc, masks, 0, (mx & MX.FTZ) !== 0, true);
  packS();
  return f & 0x3f;
}

/** Scalar binary32 operation a op b (SQRT: sqrt(b)); result in R[0]. */
export function opS(op: FOp, a: number, b: number, mx: number): number {
  if (op < FOp.MIN || op === FOp.SQRT) {
    const f = fastS(op, a, b, (mx >>> 13) & 3);
    if (f >= 0) return f;
  }
  return slowS(op, a, b, mx);
}

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
export const enum Fmt {
  F32 = 0,
  F64 = 1,
}

export class Sse {
  readonly fx: Uint8Array;
  /** The FXSAVE image as int32 words: MXCSR = w[6], XMM n = w[40 + 4n .. 43 + 4n]. */
  readonly w: Int32Array;
  readonly b: Uint8Array;
  readonly h: Uint16Array;
  /** The second source operand (fill with srcReg/srcMem before an operation). */
  readonly src = new Int32Array(4);
  readonly srcB: Uint8Array;
  readonly srcH: Uint16Array;
  /** Staging for results (written to the destination only when no unmasked exception). */
  private readonly st = new Int32Array(4);
  private readonly stB: Uint8Array;
  private readonly stH: Uint16Array;
  /** RFLAGS bits (ZF PF CF OF SF AF subset) produced by the last COMIS/PTEST/PCMPxSTRx. */
  eflags = 0;

  constructor(fx: Uint8Array) {
    if (fx.byteOffset & 3 || fx.length < 512) throw new Error('sse: the FXSAVE image must be 512 bytes, 4-byte aligned');
    this.fx = fx;
    this.w = new Int32Array(fx.buffer, fx.byteOffset, 128);
    this.b = fx;
    this.h = new Uint16Array(fx.buffer, fx.byteOffset, 256);
    this.srcB = new Uint8Array(this.src.buffer);
    this.srcH = new Uint16Array(this.src.buffer);
    this.stB = new Uint8Array(this.st.buffer);
    this.stH = new Uint16Array(this.st.buffer);
  }

  get mxcsr(): number {
    return this.w[6]!;
  }
  set mxcsr(v: number) {
    this.w[6] = v;
  }

  /** src = XMM n. */
  srcReg(n: number): void {
    const o = 40 + 4 * n, w = this.w, s = this.src;
    s[0] = w[o]!;
    s[1] = w[o + 1]!;
    s[2] = w[o + 2]!;
    s[3] = w[o + 3]!;
  }
  /** src = four little-endian words read from memory (unused ones 0). */
  srcMem(w0: number, w1: number, w2: number, w3: number): void {
    const s = this.src;
    s[0] = w0;
    s[1] = w1;
    s[2] = w2;
    s[3] = w3;
  }

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

  // ---- packed integer helpers ------------------------------------------------------------
  // Each works on the register at byte offset `o` of the image (XMM n: 160 + 16n; MMX n: the
  // low 8 bytes of ST slot n, 32 + 16n) with `n` bytes (16 or 8) and the source scratch.

  private readonly sb8 = new Int8Array(this.src.buffer);
  private readonly sh16 = new Int16Array(this.src.buffer);
  private get i8(): Int8Array {
    return (this._i8 ??= new Int8Array(this.fx.buffer, this.fx.byteOffset, 512));
  }
  private get i16(): Int16Array {
    return (this._i16 ??= new Int16Array(this.fx.buffer, this.fx.byteOffset, 256));
  }
  private _i8: Int8Array | undefined;
  private _i16: Int16Array | undefined;
  private readonly tb = new Uint8Array(16);
  private readonly tw = new Int32Array(this.tb.buffer);
  private readonly th = new Int16Array(this.tb.buffer);
  private readonly tuh = new Uint16Array(this.tb.buffer);

  /** The elements of the string operands: ea (the register), eb (the source). */
  private readonly ea = new Int32Array(16);
  private readonly eb = new Int32Array(16);

  /** PMADDWD: signed word products, adjacent pairs summed into dwords. */
  pmaddwd(o: number, n: number): void {
    const d = this.i16, s = this.sh16, w = this.w;
    for (let k = 0; k < n / 4; k++) {
      const i = (o >> 1) + 2 * k;
      w[(o >> 2) + k] = (d[i]! * s[2 * k]! + d[i + 1]! * s[2 * k + 1]!) | 0;
    }
  }
  /** PSADBW: per 8-byte group, the sum of absolute byte differences in the low word. */
  psadbw(o: number, n: number): void {
    const d = this.b, s = this.srcB, w = this.w;
    for (let g = 0; g < n / 8; g++) {
      let sum = 0;
      for (let k = 0; k < 8; k++) sum += Math.abs(d[o + 8 * g + k]! - s[8 * g + k]!);
      w[(o >> 2) + 2 * g] = sum;
      w[(o >> 2) + 2 * g + 1] = 0;
    }
  }
  /** PMULHUW (signed = false) / PMULHW: high word of the word products. */
  pmulhw(o: number, n: number, signed: boolean): void {
    const h = this.h, sh = this.srcH, d = this.i16, ss = this.sh16;
    for (let k = 0; k < n / 2; k++) {
      const i = (o >> 1) + k;
      h[i] = signed ? (d[i]! * ss[k]!) >> 16 : (h[i]! * sh[k]!) / 65536;
    }
  }
  /** PMULHRSW: rounded, scaled signed word products. */
  pmulhrsw(o: number, n: number): void {
    const d = this.i16, s = this.sh16;
    for (let k = 0; k < n / 2; k++) {
      const i = (o >> 1) + k;
      d[i] = ((d[i]! * s[k]!) >> 14) + 1 >> 1;
    }
  }
  /** PMULUDQ: unsigned dword 0 (and 2) products as quadwords. */
  pmuludq(o: number, n: number): void {
    const w = this.w, s = this.src;
    for (let k = 0; k < n / 8; k++) {
      const i = (o >> 2) + 2 * k;
      const a = w[i]! >>> 0, b = s[2 * k]! >>> 0;
      const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
      const ll = al * bl, mid = ah * bl + al * bh, hh = ah * bh;
      // a*b = hh*2^32 + mid*2^16 + ll, mid < 2^33
      const lo = ll + (mid % 65536) * 65536;
      const carry = Math.floor(lo / 4294967296);
      w[i] = lo | 0;
      w[i + 1] = (hh + Math.floor(mid / 65536) + carry) | 0;
    }
  }
  /** PMULLD: low dwords of signed products. */
  pmulld(o: number, n: number): void {
    const w = this.w, s = this.src;
    for (let k = 0; k < n / 4; k++) w[(o >> 2) + k] = Math.imul(w[(o >> 2) + k]!, s[k]!);
  }
  /** PMADDUBSW: unsigned bytes of the destination × signed bytes of the source, pairs summed with signed saturation. */
  pmaddubsw(o: number, n: number): void {
    const d = this.b, s = this.sb8, h = this.i16;
    for (let k = 0; k < n / 2; k++) {
      const v = d[o + 2 * k]! * s[2 * k]! + d[o + 2 * k + 1]! * s[2 * k + 1]!;
      h[(o >> 1) + k] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
  }
  /**
   * PACKSSWB / PACKUSWB (words to bytes) and PACKSSDW / PACKUSDW (dwords to words): the
   * destination's elements then the source's, each saturated (signed or unsigned).
   */
  pack(o: number, n: number, fromWords: boolean, unsigned: boolean): void {
    const tb = this.tb;
    const lo = unsigned ? 0 : fromWords ? -128 : -32768;
    const hi = unsigned ? (fromWords ? 255 : 65535) : fromWords ? 127 : 32767;
    const d16 = this.i16, s16 = this.sh16, w = this.w, s32 = this.src;
    const per = fromWords ? n / 2 : n / 4; // elements per operand
    for (let k = 0; k < 2 * per; k++) {
      const src = k < per;
      const j = src ? k : k - per;
      let v = fromWords ? (src ? d16[(o >> 1) + j]! : s16[j]!) : src ? w[(o >> 2) + j]! : s32[j]!;
      v = v < lo ? lo : v > hi ? hi : v;
      if (fromWords) tb[k] = v & 0xff;
      else {
        tb[2 * k] = v & 0xff;
        tb[2 * k + 1] = (v >> 8) & 0xff;
      }
    }
    this.fx.set(tb.subarray(0, n), o);
  }
  /** PSHUFB: bytes selected by the source's indices (bit 7 set: zero). */
  pshufb(o: number, n: number): void {
    const tb = this.tb, d = this.b, s = this.srcB;
    for (let k = 0; k < n; k++) {
      const x = s[k]!;
      tb[k] = x & 0x80 ? 0 : d[o + (x & (n - 1))]!;
    }
    this.fx.set(tb.subarray(0, n), o);
  }
  /** PADDSB/PSUBSB (signed bytes), PADDUSB/PSUBUSB (unsigned), and the word forms: saturating add/sub. */
  addSat(o: number, n: number, words: boolean, unsigned: boolean, sub: boolean): void {
    const lo = unsigned ? 0 : words ? -32768 : -128;
    const hi = unsigned ? (words ? 65535 : 255) : words ? 32767 : 127;
    if (words) {
      const d = unsigned ? this.h : this.i16, s = unsigned ? this.srcH : this.sh16;
      for (let k = 0; k < n / 2; k++) {
        const i = (o >> 1) + k;
        const v = sub ? d[i]! - s[k]! : d[i]! + s[k]!;
        d[i] = v < lo ? lo : v > hi ? hi : v;
      }
    } else {
      const d = unsigned ? this.b : this.i8, s = unsigned ? this.srcB : this.sb8;
      for (let k = 0; k < n; k++) {
        const v = sub ? d[o + k]! - s[k]! : d[o + k]! + s[k]!;
        d[o + k] = v < lo ? lo : v > hi ? hi : v;
      }
    }
  }
  /** PAVGB / PAVGW: rounded unsigned averages. */
  pavg(o: number, n: number, words: boolean): void {
    if (words) for (let k = 0; k < n / 2; k++) this.h[(o >> 1) + k] = (this.h[(o >> 1) + k]! + this.srcH[k]! + 1) >> 1;
    else for (let k = 0; k < n; k++) this.b[o + k] = (this.b[o + k]! + this.srcB[k]! + 1) >> 1;
  }
  /** PHADDW/PHADDSW/PHSUBW/PHSUBSW (words) and PHADDD/PHSUBD (dwords): horizontal pairs, destination then source. */
  hint(o: number, n: number, dwords: boolean, sub: boolean, sat: boolean): void {
    const tb = this.tb, tw = this.tw, th = this.th;
    const per = dwords ? n / 8 : n / 4; // results per operand
    for (let k = 0; k < 2 * per; k++) {
      const fromDst = k < per, j = fromDst ? k : k - per;
      if (dwords) {
        const a = fromDst ? this.w[(o >> 2) + 2 * j]! : this.src[2 * j]!, b = fromDst ? this.w[(o >> 2) + 2 * j + 1]! : this.src[2 * j + 1]!;
        tw[k] = (sub ? a - b : a + b) | 0;
      } else {
        const a = fromDst ? this.i16[(o >> 1) + 2 * j]! : this.sh16[2 * j]!, b = fromDst ? this.i16[(o >> 1) + 2 * j + 1]! : this.sh16[2 * j + 1]!;
        let v = sub ? a - b : a + b;
        if (sat) v = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
        th[k] = v;
      }
    }
    this.fx.set(tb.subarray(0, n), o);
  }
  /** PMINSB/PMINSW/PMINSD/PMINUB/PMINUW/PMINUD and the MAX forms (size 1, 2, 4 bytes). */
  minmaxInt(o: number, n: number, size: number, unsigned: boolean, max: boolean): void {
    for (let k = 0; k < n / size; k++) {
      let a: number, b: number;
      if (size === 1) {
        a = unsigned ? this.b[o + k]! : this.i8[o + k]!;
        b = unsigned ? this.srcB[k]! : this.sb8[k]!;
      } else if (size === 2) {
        a = unsigned ? this.h[(o >> 1) + k]! : this.i16[(o >> 1) + k]!;
        b = unsigned ? this.srcH[k]! : this.sh16[k]!;
      } else {
        a = unsigned ? this.w[(o >> 2) + k]! >>> 0 : this.w[(o >> 2) + k]!;
        b = unsigned ? this.src[k]! >>> 0 : this.src[k]!;
      }
      const r = max ? (a > b ? a : b) : a < b ? a : b;
      if (size === 1) this.b[o + k] = r;
      else if (size === 2) this.h[(o >> 1) + k] = r;
      else this.w[(o >> 2) + k] = r | 0;
    }
  }
  /** PHMINPOSUW: the smallest unsigned word of the source and its (lowest) index; the rest zero. */
  phminposuw(o: number): void {
    let m = 65536, idx = 0;
    for (let k = 0; k < 8; k++) {
      const v = this.srcH[k]!;
      if (v < m) {
        m = v;
        idx = k;
      }
    }
    const w = this.w;
    w[o >> 2] = m | (idx << 16);
    w[(o >> 2) + 1] = 0;
    w[(o >> 2) + 2] = 0;
    w[(o >> 2) + 3] = 0;
  }
  /** MPSADBW imm: eight sums of absolute differences of 4-byte blocks. */
  mpsadbw(o: number, imm: number): void {
    const d = this.b, s = this.srcB, tb = this.tb, th = this.tuh;
    const so = (imm & 3) * 4, dO = o + (imm & 4);
    for (let i = 0; i < 8; i++) {
      let sum = 0;
      for (let j = 0; j < 4; j++) sum += Math.abs(d[dO + i + j]! - s[so + j]!);
      th[i] = sum;
    }
    this.fx.set(tb, o);
  }
  /** PMOVMSKB: the bytes' sign bits. */
  pmovmskb(n: number): number {
    let m = 0;
    for (let k = 0; k < n; k++) m |= (this.srcB[k]! >>> 7) << k;
    return m;
  }
  /** PTEST: eflags = ZF ((dst AND src) = 0) | CF ((NOT dst AND src) = 0). */
  ptest(o: number): void {
    let z = 0, c = 0;
    for (let k = 0; k < 4; k++) {
      const d = this.w[(o >> 2) + k]!, s = this.src[k]!;
      z |= d & s;
      c |= ~d & s;
    }
    this.eflags = (z === 0 ? 0x40 : 0) | (c === 0 ? 1 : 0);
  }

  /**
   * PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM: compares XMM a (at byte offset o) with src per imm.
   * Explicit forms: lenA/lenB are EAX/EDX (RAX/RDX) as signed values; implicit forms end each
   * operand at its first zero element. Returns the index (the I forms: ECX); the M forms (`mask`)
   * write the mask to XMM0. eflags = CF ZF SF OF (AF = PF = 0).
   */
  pcmpstr(o: number, imm: number, lenA: number, lenB: number, implicit: boolean, mask: boolean): number {
    const words = (imm & 1) !== 0, signed = (imm & 2) !== 0;
    const cnt = words ? 8 : 16;
    const A = this.ea, B = this.eb;
    for (let i = 0; i < cnt; i++) {
      if (words) {
        A[i] = signed ? this.i16[(o >> 1) + i]! : this.h[(o >> 1) + i]!;
        B[i] = signed ? this.sh16[i]! : this.srcH[i]!;
      } else {
        A[i] = signed ? this.i8[o + i]! : this.b[o + i]!;
        B[i] = signed ? this.sb8[i]! : this.srcB[i]!;
      }
    }
    let la: number, lb: number;
    if (implicit) {
      la = cnt;
      lb = cnt;
      for (let i = cnt - 1; i >= 0; i--) {
        if (A[i] === 0) la = i;
        if (B[i] === 0) lb = i;
      }
    } else {
      la = Math.min(Math.abs(lenA), cnt);
      lb = Math.min(Math.abs(lenB), cnt);
    }
    const agg = (imm >>> 2) & 3;
    let res = 0;
    for (let i = 0; i < cnt; i++) {
      // i indexes the source (B, the string), j the register (A, the set / pattern).
      let r = 0;
      if (agg === 0) {
        if (i < lb) {
          const b = B[i]!;
          for (let j = 0; j < la; j++) {
            if (A[j] === b) {
              r = 1;
              break;
            }
          }
        }
      } else if (agg === 1) {
        if (i < lb) {
          const b = B[i]!;
          for (let j = 0; j + 1 < la; j += 2) {
            if (b >= A[j]! && b <= A[j + 1]!) {
              r = 1;
              break;
            }
          }
        }
      } else if (agg === 2) {
        r = i < la && i < lb ? (A[i] === B[i] ? 1 : 0) : i >= la && i >= lb ? 1 : 0;
      } else {
        r = 1;
        for (let j = 0; j < cnt - i && j < la; j++) {
          // The pattern's element j against the string's i + j (past the string's end: no match).
          if (i + j >= lb || A[j] !== B[i + j]) {
            r = 0;
            break;
          }
        }
      }
      res |= r << i;
    }
    const pol = (imm >>> 4) & 3;
    const all = words ? 0xff : 0xffff;
    if (pol === 1) res ^= all;
    else if (pol === 3) res ^= (1 << lb) - 1;
    this.eflags = (res ? 1 : 0) | (lb < cnt ? 0x40 : 0) | (la < cnt ? 0x80 : 0) | (res & 1 ? 0x800 : 0);
    if (mask) {
      const w = this.w;
      if (imm & 0x40) {
        for (let i = 0; i < cnt; i++) {
          const v = (res >>> i) & 1 ? -1 : 0;
          if (words) this.h[80 + i] = v & 0xffff;
          else this.b[160 + i] = v & 0xff;
        }
      } else {
        w[40] = res;
        w[41] = 0;
        w[42] = 0;
        w[43] = 0;
      }
      return 0;
    }
    if (!res) return cnt;
    return imm & 0x40 ? 31 - Math.clz32(res) : 31 - Math.clz32(res & -res);
  }
}

// ---- scalar integer helpers -------------------------------------------------------------------

const CRC32C = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC32C[i] = c;
}

/** CRC32 (the instruction: CRC-32C, no inversions): crc updated with the low `bytes` bytes of lo:hi. */
export function crc32c(crc: number, lo: number, hi: number, bytes: number): number {
  for (let k = 0; k < bytes; k++) {
    const v = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
    crc = CRC32C[(crc ^ v) & 0xff]! ^ (crc >>> 8);
  }
  return crc | 0;
}

/** POPCNT of a 32-bit value. */
export function popcnt32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}
/** LZCNT of a value of `bits` (16, 32, 64; 64 as hi:lo). */
export function lzcnt(lo: number, hi: number, bits: number): number {
  if (bits === 64) return hi ? Math.clz32(hi) : 32 + Math.clz32(lo);
  if (bits === 32) return Math.clz32(lo);
  return Math.clz32(lo & 0xffff) - 16;
}
/** TZCNT of a value of `bits` (16, 32, 64; 64 as hi:lo); `bits` when zero. */
export function tzcnt(lo: number, hi: number, bits: number): number {
  if (bits === 16) lo &= 0xffff;
  if (lo) return 31 - Math.clz32(lo & -lo);
  if (bits === 64 && hi) return 63 - Math.clz32(hi & -hi);
  return bits;
}

// ---- conversion helpers --------------------------------------------------------------------

/** binary32 -> binary64 (exact); SNaN: IE, quieted; denormal: DE (or zero with DAZ). */
function f32to64(v: number, mx: number): number {
  const ex = (v >>> 23) & 0xff, fr = v & 0x7fffff;
  const s = v & (0x80000000 | 0);
  if (ex === 0xff) {
    if (fr === 0) {
      R[0] = 0;
      R[1] = s | 0x7ff00000;
      return 0;
    }
    R[0] = fr << 29;
    R[1] = s | 0x7ff80000 | (fr >>> 3);
    return fr & 0x400000 ? 0 : IE;
  }
  if (ex === 0 && fr !== 0) {
    if (mx & MX.DAZ) {
      R[0] = 0;
      R[1] = s;
      return 0;
    }
    d2bits(bits2s(v));
    return DE;
  }
  d2bits(bits2s(v));
  return 0;
}

/** binary64 -> binary32 with MXCSR rounding. */
function f64to32(lo: number, hi: number, mx: number): number {
  const ex = (hi >>> 20) & 0x7ff;
  if (ex === 0x7ff) {
    const s = hi & (0x80000000 | 0);
    if ((hi & 0xfffff) === 0 && lo === 0) R[0] = s | 0x7f800000;
    else R[0] = s | 0x7fc00000 | ((hi & 0x7ffff) << 3) | (lo >>> 29);
    return (hi & 0xfffff) === 0 && lo === 0 ? 0 : hi & 0x80000 ? 0 : IE;
  }
  const daz = (mx & MX.DAZ) !== 0;
  const c = unpackD(hi, lo, SA, daz);
  const s = hi >>> 31;
  if (c === Cls.ZERO) {
    R[0] = s << 31;
    return 0;
  }
  const masks = (mx >>> 7) & 0x3f;
  const f = SW[SA + S_DEN] ? DE : 0;
  if (f & ~masks) return f;
  const fl = round(s, SW[SA + S_EXP]!, SW[SA + S_M1]!, SW[SA + S_M0]!, 0, 24, EMIN_S, EMAX_S, (mx >>> 13) & 3, masks, 0, (mx & MX.FTZ) !== 0, true);
  packS();
  return f | (fl & 0x3f);
}

/** A finite binary64/32 as a JS number, NaN for NaNs, +-Infinity; DAZ flushes denormals. */
function bitsToNum64(lo: number, hi: number, mx: number): number {
  if (mx & MX.DAZ && ((hi >>> 20) & 0x7ff) === 0) return hi < 0 ? -0 : 0;
  return bits2d(lo, hi);
}
function bitsToNum32(v: number, mx: number): number {
  if (mx & MX.DAZ && ((v >>> 23) & 0xff) === 0) return v < 0 ? -0 : 0;
  return bits2s(v);
}

/** Rounds a JS number to an integer by rc and range-checks it; result in R[0], R[1]. */
function fToInt(v: number, bits: number, rc: number): number {
  if (v !== v || v === Infinity || v === -Infinity) return intIndef(bits);
  const t = Math.trunc(v);
  const fr = v - t;
  let r = t;
  if (fr !== 0) {
    if (rc === RN) {
      const a = Math.abs(fr);
      if (a > 0.5 || (a === 0.5 && t % 2 !== 0)) r = t + (v < 0 ? -1 : 1);
    } else if (rc === RD) {
      if (fr < 0) r = t - 1;
    } else if (rc === RU) {
      if (fr > 0) r = t + 1;
    }
  }
  if (bits === 32) {
    if (r < -2147483648 || r > 2147483647) return intIndef(32);
    R[0] = r | 0;
    R[1] = r < 0 ? -1 : 0;
  } else {
    if (r < -9223372036854775808 || r >= 9223372036854775808) return intIndef(64);
    const hi = Math.floor(r / 4294967296);
    R[0] = (r - hi * 4294967296) | 0;
    R[1] = hi | 0;
  }
  return fr !== 0 ? PE : 0;
}
function intIndef(bits: number): number {
  R[0] = bits === 32 ? 0x80000000 | 0 : 0;
  R[1] = 0x80000000 | 0;
  return IE;
}

/** Signed 64-bit integer (hi:lo) -> binary64 by MXCSR.RC. */
function intToD(lo: number, hi: number, mx: number): number {
  if (hi === lo >> 31) {
    d2bits(lo);
    return 0;
  }
  return intRound(lo, hi, mx, 53);
}
/** Signed integer (hi:lo, a 32-bit one sign-extended) -> binary32 by MXCSR.RC. */
function intToS(lo: number, hi: number, mx: number): number {
  if (hi === lo >> 31 && lo >= -16777216 && lo <= 16777216) {
    R[0] = s2bits(lo);
    return 0;
  }
  return intRound(lo, hi, mx, 24);
}
function intRound(lo: number, hi: number, mx: number, p: number): number {
  let s = 0;
  if (hi < 0) {
    s = 1;
    const nl = (~lo + 1) | 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
    lo = nl;
  }
  let e = 63, m1 = hi, m0 = lo;
  if (m1 === 0) {
    m1 = m0;
    m0 = 0;
    e -= 32;
  }
  const n = Math.clz32(m1);
  if (n) {
    m1 = (m1 << n) | (m0 >>> (32 - n));
    m0 <<= n;
    e -= n;
  }
  const rc = (mx >>> 13) & 3;
  const f = round(s, e, m1, m0, 0, p, p === 53 ? EMIN_D : EMIN_S, p === 53 ? EMAX_D : EMAX_S, rc, 0x3f, 0, false);
  if (p === 53) packD();
  else packS();
  return f & PE;
}

/** ROUNDSD lane: to an integral binary64 by rc; SNaN: IE, quieted. */
function roundIntD(lo: number, hi: number, rc: number, daz: boolean): number {
  const ex = (hi >>> 20) & 0x7ff;
  if (ex === 0x7ff) {
    R[0] = lo;
    R[1] = (hi & 0xfffff) | lo ? hi | 0x80000 : hi;
    return (hi & 0xfffff) | lo && !(hi & 0x80000) ? IE : 0;
  }
  if (ex >= 1075 || (ex === 0 && ((hi & 0xfffff) === 0 && lo === 0 || daz))) {
    R[0] = ex === 0 ? 0 : lo;
    R[1] = ex === 0 ? hi & (0x80000000 | 0) : hi;
    return 0;
  }
  const v = bits2d(lo, hi);
  const t = Math.trunc(v);
  const fr = v - t;
  let r = t;
  if (rc === RN) {
    const a = Math.abs(fr);
    if (a > 0.5 || (a === 0.5 && t % 2 !== 0)) r = t + (v < 0 ? -1 : 1);
  } else if (rc === RD) {
    if (fr < 0) r = t - 1;
  } else if (rc === RU) {
    if (fr > 0) r = t + 1;
  }
  // Keep the sign of a zero result.
  if (r === 0) r = v < 0 ? -0 : 0;
  d2bits(r);
  return fr !== 0 ? PE : 0;
}
function roundIntS(v: number, rc: number, daz: boolean): number {
  const ex = (v >>> 23) & 0xff;
  if (ex === 0xff) {
    const nan = (v & 0x7fffff) !== 0;
    R[0] = nan ? v | 0x400000 : v;
    return nan && !(v & 0x400000) ? IE : 0;
  }
  if (ex >= 150 || (ex === 0 && ((v & 0x7fffff) === 0 || daz))) {
    R[0] = ex === 0 ? v & (0x80000000 | 0) : v;
    return 0;
  }
  const x = bits2s(v);
  const t = Math.trunc(x);
  const fr = x - t;
  let r = t;
  if (rc === RN) {
    const a = Math.abs(fr);
    if (a > 0.5 || (a === 0.5 && t % 2 !== 0)) r = t + (x < 0 ? -1 : 1);
  } else if (rc === RD) {
    if (fr < 0) r = t - 1;
  } else if (rc === RU) {
    if (fr > 0) r = t + 1;
  }
  if (r === 0) r = x < 0 ? -0 : 0;
  R[0] = s2bits(r);
  return fr !== 0 ? PE : 0;
}
