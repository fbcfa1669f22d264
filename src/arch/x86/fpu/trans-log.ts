/**
 * FYL2X, FYL2XP1 and F2XM1 in double-double (trans-dd.ts): log2 by an atanh series, 2^x by
 * reduction against ln 2.
 * @module
 */
import { Cls, DE, IE, invalidX, nanOrInvalid2, NOSTORE, PE, R, roundToX, unpackInto, ZE } from './f80.js';
import { add, ddToX, denormal, div, F64, I32, inexact, INV_FACT, LN2, LOG2E, mul, mulD, one, ONE, set, sigToDD, sub, T, U } from './trans-dd.js';

// ---- logarithms and exponentials --------------------------------------------------------

/** Register d = ln((1 + s) / (1 - s)) / 2 = atanh(s) for |s| <= 0.18 in register a. */
function atanhSeries(d: number, a: number): void {
  const S2_ = 30, P = 32, C = 34;
  mul(S2_, a, a);
  set(P, 1 / 45, 0);
  for (let n = 43; n >= 1; n -= 2) {
    mul(P, P, S2_);
    set(C, 1, 0);
    set(36, n, 0);
    div(C, C, 36);
    add(P, P, C);
  }
  mul(d, P, a);
}

/**
 * log2 of a positive double-double a as an integer plus a fraction: register d = log2(m) for
 * the reduced m in [sqrt(1/2), sqrt(2)), the integer is returned (the caller adds it, so that the
 * integers cancel exactly before meeting the fraction). Registers 40..48 are used.
 */
function log2DD(d: number, a: number): number {
  F64[0] = T[a]!;
  let e = ((I32[1]! >>> 20) & 0x7ff) - 1023;
  const sc = Math.pow(2, -e);
  set(40, T[a]! * sc, T[a + 1]! * sc); // [1, 2)
  if (T[40]! + T[41]! > Math.SQRT2) {
    T[40] = T[40]! / 2;
    T[41] = T[41]! / 2;
    e++;
  }
  // s = (m - 1) / (m + 1), |s| <= 0.1716: ln m = 2 atanh(s)
  sub(42, 40, ONE);
  add(44, 40, ONE);
  div(42, 42, 44);
  atanhSeries(46, 42);
  mulD(46, 46, 2);
  mul(d, 46, LOG2E);
  return e;
}

/** Register d = log2 of the unpacked finite positive value at slot o. */
function log2Of(d: number, o: number): void {
  sigToDD(38, o);
  const e = log2DD(d, 38) + U[o + 2]!;
  if (e) {
    set(48, e, 0);
    add(d, d, 48);
  }
}

/** FYL2X: y × log2(x) with x = ST(0), y = ST(1); arguments (y, x) in the ST(1), ST(0) order of binary ops. */
export function fyl2xX(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number, cw: number): number {
  R[3] = 0;
  const n = nanOrInvalid2(ySe, yHi, yLo, xSe, xHi, xLo, cw);
  if (n) return n & ~0x20000;
  const cy = unpackInto(ySe, yHi, yLo, U, 8), cx = unpackInto(xSe, xHi, xLo, U, 0);
  const sy = U[9]!, sx = U[1]!;
  if (sx && cx !== Cls.ZERO) return invalidX(cw);
  const f = U[5]! | U[13]! ? (cw & DE ? DE : DE | NOSTORE) : 0;
  if (cx === Cls.ZERO) {
    // log2(0) = -inf: y finite non-zero gives a zero divide, y = 0 is invalid.
    if (cy === Cls.ZERO) return invalidX(cw);
    if (cy === Cls.FIN) {
      if (!(cw & ZE)) return ZE | NOSTORE;
      return ZE | setInf(sy ^ 1);
    }
    return setInf(sy ^ 1);
  }
  if (f & NOSTORE) return f;
  const isOne = cx === Cls.FIN && U[2] === 0 && U[3] === (0x80000000 | 0) && U[4] === 0;
  if (cx === Cls.INF) {
    if (cy === Cls.ZERO) return invalidX(cw);
    return f | setInf(sy);
  }
  if (cy === Cls.INF) {
    if (isOne) return invalidX(cw);
    // log2(x) < 0 for x < 1 flips the sign.
    return f | setInf(sy ^ (U[2]! < 0 ? 1 : 0));
  }
  if (cy === Cls.ZERO || isOne) {
    // ±0 × log2(x) or y × 0: a zero with the product's sign.
    const neg = (cy === Cls.ZERO ? sy ^ (U[2]! < 0 ? 1 : 0) : sy) === 1;
    R[0] = 0;
    R[1] = 0;
    R[2] = neg ? 0x8000 : 0;
    return f;
  }
  log2Of(50, 0);
  sigToDD(52, 8);
  if (sy) {
    T[52] = -T[52]!;
    T[53] = -T[53]!;
  }
  mul(50, 50, 52);
  // The hardware reports PE even when the product happens to be exact.
  return f | inexact(ddToX(50, U[10]!, cw));
}

/** FYL2XP1: y × log2(x + 1). */
export function fyl2xp1X(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number, cw: number): number {
  R[3] = 0;
  const n = nanOrInvalid2(ySe, yHi, yLo, xSe, xHi, xLo, cw);
  if (n) return n & ~0x20000;
  const cy = unpackInto(ySe, yHi, yLo, U, 8), cx = unpackInto(xSe, xHi, xLo, U, 0);
  const sy = U[9]!, sx = U[1]!;
  const f = U[5]! | U[13]! ? (cw & DE ? DE : DE | NOSTORE) : 0;
  if (cx === Cls.INF) {
    if (sx || cy === Cls.ZERO) return invalidX(cw);
    return f | setInf(sy);
  }
  if (cx === Cls.ZERO) {
    if (cy === Cls.INF) return invalidX(cw);
    if (f & NOSTORE) return f;
    R[0] = 0;
    R[1] = 0;
    R[2] = (sx ^ sy) << 15;
    return f;
  }
  if (f & NOSTORE) return f;
  const ex = U[2]!;
  if (sx && ex >= 0) {
    // x <= -1: outside the domain (undefined on hardware); this follows the measured hardware:
    // ST(0) is returned (y infinite: -y; y zero: -y).
    if (cy === Cls.INF) return f | setInf(sy ^ 1);
    if (cy === Cls.ZERO) {
      R[0] = 0;
      R[1] = 0;
      R[2] = (sy ^ 1) << 15;
      return f;
    }
    R[0] = xLo;
    R[1] = xHi;
    R[2] = xSe;
    return f | PE;
  }
  if (cy === Cls.INF) return f | setInf(sy ^ sx);
  if (cy === Cls.ZERO) {
    R[0] = 0;
    R[1] = 0;
    R[2] = (sx ^ sy) << 15;
    return f;
  }
  sigToDD(54, 0);
  if (sx) {
    T[54] = -T[54]!;
    T[55] = -T[55]!;
  }
  sigToDD(52, 8);
  if (sy) {
    T[52] = -T[52]!;
    T[53] = -T[53]!;
  }
  if (ex < -200) {
    // log2(1 + x) = x × log2(e) (1 - x/2 + ...): the correction is far below an ulp.
    mul(50, 54, LOG2E);
    mul(50, 50, 52);
    return f | inexact(ddToX(50, ex + U[10]!, cw));
  }
  if (ex > 100) {
    // log2(1 + x) = log2(x) + log2(1 + 1/x): the second term is far below an ulp.
    log2Of(50, 0);
  } else {
    const sc = Math.pow(2, ex);
    set(54, T[54]! * sc, T[55]! * sc);
    if (ex < -1 || (sx && ex === -2)) {
      // |x| < 1/4 (documented range is |x| < 0.29): ln(1 + x) = 2 atanh(x / (2 + x)), |s| < 0.15.
      set(56, 2, 0);
      add(56, 56, 54);
      div(58, 54, 56);
      atanhSeries(50, 58);
      mulD(50, 50, 2);
      mul(50, 50, LOG2E);
    } else {
      add(56, 54, ONE);
      const e = log2DD(50, 56);
      if (e) {
        set(48, e, 0);
        add(50, 50, 48);
      }
    }
  }
  mul(50, 50, 52);
  return f | inexact(ddToX(50, U[10]!, cw));
}

function setInf(sign: number): number {
  R[0] = 0;
  R[1] = 0x80000000 | 0;
  R[2] = (sign << 15) | 0x7fff;
  return 0;
}

/** F2XM1: 2^x - 1. */
export function f2xm1X(se: number, hi: number, lo: number, cw: number): number {
  R[3] = 0;
  const c = unpackInto(se, hi, lo, U, 0);
  if (c === Cls.BAD) return invalidX(cw);
  if (c === Cls.QNAN || c === Cls.SNAN) {
    R[0] = lo;
    R[1] = hi | 0x40000000;
    R[2] = se;
    return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  if (c === Cls.ZERO) {
    R[0] = lo;
    R[1] = hi;
    R[2] = se;
    return 0;
  }
  if (c === Cls.INF) {
    // 2^+inf - 1 = +inf, 2^-inf - 1 = -1.
    if (U[1]) {
      one(R);
      R[2] = 0xbfff;
    } else setInf(0);
    return 0;
  }
  const f = denormal(0, cw);
  if (f & NOSTORE) return f;
  const ex = U[2]!;
  if (ex > 0 || (ex === 0 && (U[3] !== (0x80000000 | 0) || U[4] !== 0))) {
    // |x| > 1: outside the documented range (undefined); the hardware measured returns x.
    R[0] = lo;
    R[1] = hi;
    R[2] = se;
    return f | PE;
  }
  if (ex === 0) {
    // 2^1 - 1 = 1, 2^-1 - 1 = -1/2: exact.
    one(R);
    if (U[1]) R[2] = 0xbffe;
    return f;
  }
  sigToDD(60, 0);
  if (U[1]) {
    T[60] = -T[60]!;
    T[61] = -T[61]!;
  }
  if (ex < -200) {
    // 2^x - 1 = x ln2 (1 + x ln2 / 2 + ...).
    mul(60, 60, LN2);
    return f | inexact(ddToX(60, ex, cw));
  }
  if (ex > 10) {
    // Far outside the documented range: 2^x - 1 overflows or is -1.
    if (U[1]) {
      set(60, -1, 0);
      return f | inexact(ddToX(60, 0, cw));
    }
    return f | roundToX(0, 20000, 0x80000000 | 0, 0, 0, cw);
  }
  const sc = Math.pow(2, ex);
  set(60, T[60]! * sc, T[61]! * sc);
  // t = x ln2 = n + g with |g| <= 1/2 ... for |x| <= 1 a direct expm1 series on t (|t| <= 0.7).
  mul(62, 60, LN2);
  let n = 0;
  if (Math.abs(T[62]!) > 0.75) {
    // Out of the documented range: 2^x = 2^n × 2^(x-n).
    n = Math.round(T[60]!);
    set(64 + 16, -n, 0);
    add(60, 60, 64 + 16);
    mul(62, 60, LN2);
  }
  // expm1(t) = t + t^2/2! + ... (Horner)
  set(76, INV_FACT[2 * 28]!, INV_FACT[2 * 28 + 1]!);
  for (let k = 27; k >= 1; k--) {
    mul(76, 76, 62);
    set(78, INV_FACT[2 * k]!, INV_FACT[2 * k + 1]!);
    add(76, 76, 78);
  }
  mul(76, 76, 62);
  if (n) {
    // 2^n (1 + expm1) - 1
    add(76, 76, ONE);
    mulD(76, 76, Math.pow(2, n));
    sub(76, 76, ONE);
  }
  return f | inexact(ddToX(76, 0, cw));
}
