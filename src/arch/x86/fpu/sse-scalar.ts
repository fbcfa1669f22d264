/**
 * Scalar binary64 and binary32 arithmetic under MXCSR (ADD, SUB, MUL, DIV, MIN, MAX, SQRT): the
 * fast path on JS doubles with the exact rounding error (TwoSum, Dekker's TwoProduct, remainders)
 * deciding PE and directed rounding, and the slow path through the soft-float core of f80.ts for
 * denormals, tiny and huge results. Also the MXCSR bit names and the bit views of JS numbers the
 * rest of the SSE code shares.
 * @module
 */
import { cmpUnpacked, coreAdd, coreDiv, coreMul, coreSqrt, EMAX_D, EMAX_S, EMIN_D, EMIN_S, packD, packS, R, round, S_CLS, S_DEN, S_EXP, S_M0, S_M1, S_SGN, S_ZE, S_ZM0, S_ZM1, S_ZS, S_ZX, SA, SB, SW, unpackD, unpackS } from './f80.js';

// ---- MXCSR ----------------------------------------------------------------------------------

/** MXCSR bits. */
export const MX = {
  IE: 1, DE: 2, ZE: 4, OE: 8, UE: 0x10, PE: 0x20, DAZ: 0x40, IM: 0x80, DM: 0x100, ZM: 0x200, OM: 0x400, UM: 0x800, PM: 0x1000,
  RC: 0x6000, FTZ: 0x8000,
} as const;
/** Returned by an operation that must raise #XM (or #UD when CR4.OSXMMEXCPT = 0). */
export const XM = 1;

export const IE = 1, DE = 2, ZE = 4, OE = 8, UE = 0x10, PE = 0x20, PRE = IE | DE | ZE;
export const RN = 0, RD = 1, RU = 2, RZ = 3;

/** Floating-point operations. */
export const FOp = {
  ADD: 0,
  SUB: 1,
  MUL: 2,
  DIV: 3,
  MIN: 4,
  MAX: 5,
  SQRT: 6,
} as const;
export type FOp = (typeof FOp)[keyof typeof FOp];

export const Cls = {
  ZERO: 0,
  FIN: 1,
  INF: 2,
  QNAN: 3,
  SNAN: 4,
} as const;
export type Cls = (typeof Cls)[keyof typeof Cls];

// ---- bit views of JS numbers ---------------------------------------------------------------

const F64 = new Float64Array(1);
const F64I = new Int32Array(F64.buffer);
const F32 = new Float32Array(1);
const F32I = new Int32Array(F32.buffer);

export function d2bits(v: number): void {
  F64[0] = v;
  R[0] = F64I[0]!;
  R[1] = F64I[1]!;
}
export function bits2d(lo: number, hi: number): number {
  F64I[0] = lo;
  F64I[1] = hi;
  return F64[0]!;
}
export function s2bits(v: number): number {
  F32[0] = v;
  return F32I[0]!;
}
export function bits2s(v: number): number {
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
