/**
 * SSE conversions under MXCSR: binary32 <-> binary64, floating point <-> integer (CVT and CVTT,
 * with the integer indefinite), and rounding to an integral value (ROUNDSS/SD/PS/PD).
 * @module
 */
import { EMAX_D, EMAX_S, EMIN_D, EMIN_S, normalize64, packD, packS, R, round, S_DEN, S_EXP, S_M0, S_M1, S_NE, S_NM0, S_NM1, SA, SW, unpackD } from './f80.js';
import { bits2d, bits2s, Cls, d2bits, DE, IE, MX, PE, RD, RN, RU, s2bits } from './sse-scalar.js';

// ---- conversion helpers --------------------------------------------------------------------

/** binary32 -> binary64 (exact); SNaN: IE, quieted; denormal: DE (or zero with DAZ). */
export function f32to64(v: number, mx: number): number {
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
export function f64to32(lo: number, hi: number, mx: number): number {
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
export function bitsToNum64(lo: number, hi: number, mx: number): number {
  if (mx & MX.DAZ && ((hi >>> 20) & 0x7ff) === 0) return hi < 0 ? -0 : 0;
  return bits2d(lo, hi);
}
export function bitsToNum32(v: number, mx: number): number {
  if (mx & MX.DAZ && ((v >>> 23) & 0xff) === 0) return v < 0 ? -0 : 0;
  return bits2s(v);
}

/** Rounds a JS number to an integer by rc and range-checks it; result in R[0], R[1]. */
export function fToInt(v: number, bits: number, rc: number): number {
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
export function intToD(lo: number, hi: number, mx: number): number {
  if (hi === lo >> 31) {
    d2bits(lo);
    return 0;
  }
  return intRound(lo, hi, mx, 53);
}
/** Signed integer (hi:lo, a 32-bit one sign-extended) -> binary32 by MXCSR.RC. */
export function intToS(lo: number, hi: number, mx: number): number {
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
  normalize64(hi, lo, 63);
  const rc = (mx >>> 13) & 3;
  const f = round(s, SW[S_NE]!, SW[S_NM1]!, SW[S_NM0]!, 0, p, p === 53 ? EMIN_D : EMIN_S, p === 53 ? EMAX_D : EMAX_S, rc, 0x3f, 0, false);
  if (p === 53) packD();
  else packS();
  return f & PE;
}

/**
 * Finite v (|v| < 2^52) rounded to an integral value by rc (RN: ties to even), keeping the sign
 * of a zero result (ROUNDSD/SS of -0.3 is -0). Shared by the binary64 and binary32 lanes.
 */
function roundToIntegral(v: number, rc: number): number {
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
  return r === 0 ? (v < 0 ? -0 : 0) : r;
}

/** ROUNDSD lane: to an integral binary64 by rc; SNaN: IE, quieted. */
export function roundIntD(lo: number, hi: number, rc: number, daz: boolean): number {
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
  const r = roundToIntegral(v, rc);
  d2bits(r);
  return r !== v ? PE : 0;
}
export function roundIntS(v: number, rc: number, daz: boolean): number {
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
  const r = roundToIntegral(x, rc);
  R[0] = s2bits(r);
  return r !== x ? PE : 0;
}
