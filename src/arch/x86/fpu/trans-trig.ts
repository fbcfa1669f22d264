/**
 * FSIN, FCOS, FSINCOS, FPTAN (reduction modulo pi/2 against the x87's 66-bit pi, as the hardware
 * does) and FPATAN, in double-double (trans-dd.ts).
 * @module
 */
import { C1, Cls, DE, nanOrInvalid2, NOSTORE, R, R2, unpackInto } from './f80.js';
import { add, copy, ddToX, denormal, div, inexact, INV_FACT, mul, mulD, norm, one, ONE, PI, PI_2, S0, set, sigToDD, sqrt, sub, T, U, unary } from './trans-dd.js';

// ---- sine, cosine, tangent ---------------------------------------------------------------

// The 66-bit pi of the x87 reduction as the 66-bit integer P with pi/2 = P × 2^-65:
// P = 0xC90FDAA22168C234 << 2 | 3, held as P2 (2 bits), P1, P0.
// 0xC90FDAA22168C234 << 2 | 3 = 0x3_243F6A88_85A308D3, split 2/32/32 bits.
const P2 = 3, P1 = 0x243f6a88, P0 = 0x85a308d3;

/**
 * Reduces x (unpacked at U[0..]) modulo pi/2 (66-bit pi): register 0 = r (|r| <= pi/4 roughly),
 * returns the quadrant k mod 4. x finite, non-zero, |x| < 2^63.
 */
function reduce(): number {
  const e = U[2]!;
  const sgn = U[1]!;
  if (e < -1 || (e === -1 && (U[3]! >>> 0) < 0xc90fdaa2)) {
    // |x| < pi/4: no reduction.
    sigToDD(0, 0);
    set(0, T[0]! * Math.pow(2, e) * (sgn ? -1 : 1), T[1]! * Math.pow(2, e) * (sgn ? -1 : 1));
    return 0;
  }
  // x' = m × 2^(e+2) (an integer of 66 + e bits); long division by P, bit by bit.
  const m1 = U[3]! >>> 0, m0 = U[4]! >>> 0;
  const nbits = 64 + e + 2; // bits of x'
  let r2 = 0, r1 = 0, r0 = 0; // remainder < 2P < 2^67
  let q = 0;
  for (let i = 0; i < nbits; i++) {
    const bit = i < 32 ? (m1 >>> (31 - i)) & 1 : i < 64 ? (m0 >>> (63 - i)) & 1 : 0;
    // r = 2r + bit
    r2 = (r2 * 2 + (r1 >= 2147483648 ? 1 : 0)) >>> 0;
    r1 = ((r1 * 2) % 4294967296) + (r0 >= 2147483648 ? 1 : 0);
    r0 = ((r0 * 2) % 4294967296) + bit;
    q = (q * 2) & 7;
    if (r2 > P2 || (r2 === P2 && (r1 > P1 || (r1 === P1 && r0 >= P0)))) {
      let t = r0 - P0;
      let br = 0;
      if (t < 0) {
        t += 4294967296;
        br = 1;
      }
      r0 = t;
      t = r1 - P1 - br;
      br = 0;
      if (t < 0) {
        t += 4294967296;
        br = 1;
      }
      r1 = t;
      r2 = r2 - P2 - br;
      q |= 1;
    }
  }
  // r = R × 2^-65 with 0 <= R < P; round to nearest multiple: if 2R > P, r -= pi/2, q++.
  // 2R vs P
  const t2 = r2 * 2 + (r1 >= 2147483648 ? 1 : 0), t1 = ((r1 * 2) % 4294967296) + (r0 >= 2147483648 ? 1 : 0), t0 = (r0 * 2) % 4294967296;
  let neg = false;
  if (t2 > P2 || (t2 === P2 && (t1 > P1 || (t1 === P1 && t0 > P0)))) {
    // R = P - R
    let t = P0 - r0;
    let br = 0;
    if (t < 0) {
      t += 4294967296;
      br = 1;
    }
    r0 = t;
    t = P1 - r1 - br;
    br = 0;
    if (t < 0) {
      t += 4294967296;
      br = 1;
    }
    r1 = t;
    r2 = P2 - r2 - br;
    q = (q + 1) & 7;
    neg = true;
  }
  // R (<= 66 bits) as double-double: high 34 bits + low 32 bits are each exact.
  const hiPart = (r2 * 4294967296 + r1) * 4294967296;
  norm(0, hiPart * Math.pow(2, -65), r0 * Math.pow(2, -65));
  if (neg !== (sgn === 1)) {
    T[0] = -T[0]!;
    T[1] = -T[1]!;
  }
  // The quadrant counts for x's sign.
  return sgn ? (4 - (q & 3)) & 3 : q & 3;
}

/** Register d = sin(r), register d+2 = cos(r) for |r| <= ~pi/4 in register 0. */
function sincosR(d: number): void {
  const R2_ = 10, P = 12, C = 14;
  mul(R2_, 0, 0);
  // sin: r × sum (-1)^k r^2k / (2k+1)!  (k up to 13)
  set(P, INV_FACT[2 * 27]!, INV_FACT[2 * 27 + 1]!);
  for (let n = 25; n >= 1; n -= 2) {
    mul(P, P, R2_);
    T[P] = -T[P]!;
    T[P + 1] = -T[P + 1]!;
    set(C, INV_FACT[2 * n]!, INV_FACT[2 * n + 1]!);
    add(P, P, C);
  }
  mul(d, P, 0);
  // cos: sum (-1)^k r^2k / (2k)!  (k up to 14)
  set(P, INV_FACT[2 * 28]!, INV_FACT[2 * 28 + 1]!);
  for (let n = 26; n >= 0; n -= 2) {
    mul(P, P, R2_);
    T[P] = -T[P]!;
    T[P + 1] = -T[P + 1]!;
    set(C, INV_FACT[2 * n]!, INV_FACT[2 * n + 1]!);
    add(P, P, C);
  }
  copy(d + 2, P);
}

/**
 * |x| < 2^-60: sin x = x(1 - x^2/6), tan x = x(1 + x^2/3), cos x = 1 - x^2/2, each a sliver
 * below/above a value the double-double holds exactly; `bias` (-1/+1) records the direction so
 * that directed rounding and PE come out right. Register d = x's significand (or 1), exponent
 * returned.
 */
function tiny(d: number, bias: number, cosine: boolean): number {
  if (cosine) {
    set(d, 1, -Math.pow(2, -110));
    return 0;
  }
  sigToDD(d, 0);
  T[d + 1] = T[d + 1]! + bias * Math.pow(2, -100);
  if (U[1]) {
    T[d] = -T[d]!;
    T[d + 1] = -T[d + 1]!;
  }
  return U[2]!;
}

/** Shared by FSIN/FCOS/FSINCOS/FPTAN: -1 = go on (x finite non-zero in range), else the result. */
function trigEntry(se: number, hi: number, lo: number, cw: number, zeroResult: number): number {
  const f = unary(se, hi, lo, cw);
  if (f >= 0) return f;
  if (U[0] === Cls.ZERO) return zeroResult;
  if (U[2]! >= 63) {
    R[3] = 1;
    return 0;
  }
  return -1;
}

/** FSIN. */
export function fsinX(se: number, hi: number, lo: number, cw: number): number {
  const z = trigEntry(se, hi, lo, cw, -2);
  if (z === -2) {
    R[0] = lo;
    R[1] = hi;
    R[2] = se;
    return 0;
  }
  if (z >= 0) return z;
  const f = denormal(0, cw);
  if (f & NOSTORE) return f;
  if (U[2]! < -60) return f | inexact(ddToX(20, tiny(20, -1, false), cw));
  const q = reduce();
  sincosR(20);
  const src = q & 1 ? 22 : 20;
  if (q & 2) {
    T[src] = -T[src]!;
    T[src + 1] = -T[src + 1]!;
  }
  return f | inexact(ddToX(src, 0, cw));
}

/** FCOS. */
export function fcosX(se: number, hi: number, lo: number, cw: number): number {
  const z = trigEntry(se, hi, lo, cw, -2);
  if (z === -2) {
    one(R);
    return 0;
  }
  if (z >= 0) return z;
  const f = denormal(0, cw);
  if (f & NOSTORE) return f;
  if (U[2]! < -60) return f | inexact(ddToX(20, tiny(20, -1, true), cw));
  const q = reduce();
  sincosR(20);
  // cos(r + k pi/2) = cos r, -sin r, -cos r, sin r
  const src = q & 1 ? 20 : 22;
  if (q === 1 || q === 2) {
    T[src] = -T[src]!;
    T[src + 1] = -T[src + 1]!;
  }
  return f | inexact(ddToX(src, 0, cw));
}

/** FSINCOS: R = sin (stays in ST(1) after the push), R2 = cos (the new ST(0)). */
export function fsincosX(se: number, hi: number, lo: number, cw: number): number {
  const z = trigEntry(se, hi, lo, cw, -2);
  if (z === -2) {
    one(R2);
    R[0] = lo;
    R[1] = hi;
    R[2] = se;
    return 0;
  }
  if (z >= 0) {
    R2[0] = R[0]!;
    R2[1] = R[1]!;
    R2[2] = R[2]!;
    return z;
  }
  const f = denormal(0, cw);
  if (f & NOSTORE) return f;
  let q = 0, s = 20, c = 22;
  if (U[2]! < -60) {
    const e = tiny(20, -1, false);
    tiny(22, -1, true);
    let fl = inexact(ddToX(22, 0, cw));
    R2[0] = R[0]!;
    R2[1] = R[1]!;
    R2[2] = R[2]!;
    const fc = fl;
    fl = inexact(ddToX(20, e, cw));
    return f | (fl & ~C1) | fc;
  }
  q = reduce();
  sincosR(20);
  s = q & 1 ? 22 : 20;
  c = q & 1 ? 20 : 22;
  if (q & 2) {
    T[s] = -T[s]!;
    T[s + 1] = -T[s + 1]!;
  }
  if (q === 1 || q === 2) {
    T[c] = -T[c]!;
    T[c + 1] = -T[c + 1]!;
  }
  let fl = inexact(ddToX(c, 0, cw));
  R2[0] = R[0]!;
  R2[1] = R[1]!;
  R2[2] = R[2]!;
  const fc = fl;
  fl = inexact(ddToX(s, 0, cw));
  // C1 reflects the last result rounded (the cosine, pushed last).
  return f | (fl & ~C1) | fc;
}

/** FPTAN: R = tan(x), R2 = 1.0. */
export function fptanX(se: number, hi: number, lo: number, cw: number): number {
  const z = trigEntry(se, hi, lo, cw, -2);
  one(R2);
  if (z === -2) {
    R[0] = lo;
    R[1] = hi;
    R[2] = se;
    return 0;
  }
  if (z >= 0) {
    // NaN or invalid: the pushed value is the same NaN / indefinite.
    R2[0] = R[0]!;
    R2[1] = R[1]!;
    R2[2] = R[2]!;
    return z;
  }
  const f = denormal(0, cw);
  if (f & NOSTORE) return f;
  if (U[2]! < -60) {
    const fl = inexact(ddToX(24, tiny(24, 1, false), cw));
    one(R2);
    return f | fl;
  }
  const q = reduce();
  sincosR(20);
  if (q & 1) {
    div(24, 22, 20);
    T[24] = -T[24]!;
    T[25] = -T[25]!;
  } else div(24, 20, 22);
  const fl = inexact(ddToX(24, 0, cw));
  one(R2);
  return f | fl;
}

// ---- arctangent --------------------------------------------------------------------------

/** Register d = atan(t) for 0 <= t <= 1 in register a. */
function atanR(d: number, a: number): void {
  // Three halvings: atan(t) = 2 atan(t / (1 + sqrt(1 + t^2))).
  copy(80, a);
  for (let k = 0; k < 3; k++) {
    mul(82, 80, 80);
    add(82, 82, ONE);
    sqrt(82, 82);
    add(82, 82, ONE);
    div(80, 80, 82);
  }
  // Series t - t^3/3 + t^5/5 ... (|t| < 0.1: 17 terms)
  const S2_ = 84, P = 86, C = 88;
  mul(S2_, 80, 80);
  set(P, 1 / 35, 0);
  for (let n = 33; n >= 1; n -= 2) {
    mul(P, P, S2_);
    T[P] = -T[P]!;
    T[P + 1] = -T[P + 1]!;
    set(C, 1, 0);
    set(82, n, 0);
    div(C, C, 82);
    add(P, P, C);
  }
  mul(d, P, 80);
  mulD(d, d, 8);
}

/** FPATAN: atan(y / x) with y = ST(1), x = ST(0), in (-pi, pi] by the signs. */
export function fpatanX(ySe: number, yHi: number, yLo: number, xSe: number, xHi: number, xLo: number, cw: number): number {
  R[3] = 0;
  const n = nanOrInvalid2(ySe, yHi, yLo, xSe, xHi, xLo, cw);
  if (n) return n & ~0x20000;
  const cy = unpackInto(ySe, yHi, yLo, U, 8), cx = unpackInto(xSe, xHi, xLo, U, 0);
  const sy = U[9]!, sx = U[1]!;
  const f = U[5]! | U[13]! ? (cw & DE ? DE : DE | NOSTORE) : 0;
  if (f & NOSTORE) return f;
  // Special operands (IEEE atan2 rules): results are multiples of pi/4 or signed zeros.
  if (cy === Cls.ZERO || cx === Cls.INF || cy === Cls.INF) {
    let k: number; // result = k × pi/4 (k in 0..4), then y's sign
    if (cy === Cls.INF) k = cx === Cls.INF ? (sx ? 3 : 1) : 2;
    else if (cy === Cls.ZERO) k = sx ? 4 : 0;
    else k = sx ? 4 : 0; // finite y, infinite x
    if (k === 0) {
      R[0] = 0;
      R[1] = 0;
      R[2] = sy << 15;
      return f;
    }
    set(20, T[PI]! * (k / 4), T[PI + 1]! * (k / 4));
    if (sy) {
      T[20] = -T[20]!;
      T[21] = -T[21]!;
    }
    return f | inexact(ddToX(20, 0, cw));
  }
  if (cx === Cls.ZERO) {
    set(20, T[PI_2]!, T[PI_2 + 1]!);
    if (sy) {
      T[20] = -T[20]!;
      T[21] = -T[21]!;
    }
    return f | inexact(ddToX(20, 0, cw));
  }
  // Both finite non-zero: t = |y| / |x| = (my / mx) × 2^d.
  const d = U[10]! - U[2]!;
  sigToDD(20, 8);
  sigToDD(22, 0);
  div(24, 20, 22); // in (1/2, 2)
  if (d < -120) {
    // atan(t) = t (1 - t^2/3 ...): t alone is exact to far below an ulp.
    if (!sx) {
      // atan t = t (1 - t^2/3): a sliver below t (for directed rounding, PE and UE).
      T[25] = T[25]! - T[24]! * Math.pow(2, -100);
      if (sy) {
        T[24] = -T[24]!;
        T[25] = -T[25]!;
      }
      return f | inexact(ddToX(24, d, cw));
    }
    // pi - t rounds like pi minus a sliver.
    set(26, T[24]! * Math.pow(2, Math.max(d, -1000)), 0);
    sub(24, PI, 26);
  } else if (d > 120) {
    // pi/2 - 1/t (or pi/2 + ... for x < 0).
    div(26, ONE, 24);
    set(26, T[26]! * Math.pow(2, Math.max(-d, -1000)), T[27]! * Math.pow(2, Math.max(-d, -1000)));
    if (sx) add(24, PI_2, 26);
    else sub(24, PI_2, 26);
  } else {
    const sc = Math.pow(2, d);
    set(24, T[24]! * sc, T[25]! * sc);
    if (T[24]! > 1) {
      div(26, ONE, 24);
      atanR(28, 26);
      sub(24, PI_2, 28);
    } else {
      atanR(28, 24);
      copy(24, 28);
    }
    if (sx) sub(24, PI, 24);
  }
  if (sy) {
    T[24] = -T[24]!;
    T[25] = -T[25]!;
  }
  return f | inexact(ddToX(24, 0, cw));
}

void S0;
