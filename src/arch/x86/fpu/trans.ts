/**
 * x87 transcendental instructions (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1).
 *
 * Arguments (64-bit significands) convert exactly to double-double (a pair of doubles, about 106
 * significant bits); the functions are evaluated in double-double by argument reduction and
 * Taylor/atanh series whose truncation error is below 2^-100, and the result is rounded once into
 * the extended format by the control word's RC. The results are therefore within 1 ulp of the
 * exact value (almost always correctly rounded); the hardware itself is documented to be within
 * 1 ulp, so the two may differ in the last bit (the differential test allows 2 ulps).
 *
 * FSIN/FCOS/FSINCOS/FPTAN reduce |x| >= pi/4 modulo pi/2 exactly against the 66-bit value of pi
 * that the x87 uses for its reduction (SDM "Transcendental instruction accuracy"), as the
 * hardware does, so large arguments give the hardware's (not the mathematically exact) results.
 * Operands with |x| >= 2^63 are out of range (C2 = 1, ST(0) unchanged). F2XM1 outside [-1, 1]
 * and FYL2XP1 outside |x| < 1 - sqrt(2)/2 have undefined results on hardware; here they are
 * still computed (2^x - 1 and log2(1 + x)).
 *
 * Every function takes the operand(s) as (se, hi, lo), the FCW, and returns the exception bits
 * with the result in R (and the second result of FSINCOS/FPTAN in R2); R[3] = 1 reports an
 * out-of-range operand. Nothing allocates: double-double values live in a Float64Array register
 * file.
 * @module
 */
import { C1, DE, IE, invalidX, nanOrInvalid2, NOSTORE, PE, R, R2, roundToX, UE, unpackInto, ZE } from './f80.js';

const enum Cls {
  ZERO = 0,
  FIN = 1,
  INF = 2,
  QNAN = 3,
  SNAN = 4,
  BAD = 5,
}

// ---- double-double register file --------------------------------------------------------
// Register k is T[k] (high) and T[k + 1] (low); registers are even indices.
const T = new Float64Array(96);
const SPLIT = 134217729; // 2^27 + 1

/** T[d] = a + b exactly as (sum, error). */
function twoSum(d: number, a: number, b: number): void {
  const s = a + b;
  const bb = s - a;
  T[d] = s;
  T[d + 1] = a - (s - bb) + (b - bb);
}

/** T[d] = a × b exactly as (product, error) (Dekker). */
function twoProd(d: number, a: number, b: number): void {
  const p = a * b;
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  T[d] = p;
  T[d + 1] = ah * bh - p + ah * bl + al * bh + al * bl;
}

function set(d: number, hi: number, lo: number): void {
  T[d] = hi;
  T[d + 1] = lo;
}
function copy(d: number, a: number): void {
  T[d] = T[a]!;
  T[d + 1] = T[a + 1]!;
}
/** Renormalizes (hi, lo) into register d. */
function norm(d: number, hi: number, lo: number): void {
  const s = hi + lo;
  T[d] = s;
  T[d + 1] = lo - (s - hi);
}

const S0 = 90, S1 = 92, S2 = 94; // scratch registers used inside the primitives

/** d = a + b. */
function add(d: number, a: number, b: number): void {
  twoSum(S0, T[a]!, T[b]!);
  twoSum(S1, T[a + 1]!, T[b + 1]!);
  let hi = T[S0]!, lo = T[S0 + 1]! + T[S1]!;
  let s = hi + lo;
  lo = lo - (s - hi);
  hi = s;
  lo += T[S1 + 1]!;
  s = hi + lo;
  T[d + 1] = lo - (s - hi);
  T[d] = s;
}
/** d = a - b. */
function sub(d: number, a: number, b: number): void {
  T[S2] = -T[b]!;
  T[S2 + 1] = -T[b + 1]!;
  add(d, a, S2);
}
/** d = a × b. */
function mul(d: number, a: number, b: number): void {
  twoProd(S0, T[a]!, T[b]!);
  norm(d, T[S0]!, T[S0 + 1]! + (T[a]! * T[b + 1]! + T[a + 1]! * T[b]!));
}
/** d = a × x (x a double). */
function mulD(d: number, a: number, x: number): void {
  twoProd(S0, T[a]!, x);
  norm(d, T[S0]!, T[S0 + 1]! + T[a + 1]! * x);
}
/** d = a / b. */
function div(d: number, a: number, b: number): void {
  const bh = T[b]!;
  const q1 = T[a]! / bh;
  // r = a - q1 b
  mulD(S1, b, q1);
  sub(S1, a, S1);
  const q2 = T[S1]! / bh;
  mulD(S2, b, q2);
  sub(S1, S1, S2);
  const q3 = T[S1]! / bh;
  norm(S0, q1, q2);
  const hi = T[S0]!, lo = T[S0 + 1]!;
  twoSum(S0, hi, q3);
  norm(d, T[S0]!, T[S0 + 1]! + lo);
}
/** d = sqrt(a) (a > 0). */
function sqrt(d: number, a: number): void {
  const x = 1 / Math.sqrt(T[a]!);
  const ax = T[a]! * x;
  twoProd(S0, ax, ax);
  // a - ax^2
  const r = T[a]! - T[S0]! - T[S0 + 1]! + T[a + 1]!;
  twoSum(d, ax, r * x * 0.5);
}

/** A double-double constant from hex digits (integer part, fraction). */
function hexConst(d: number, int: number, frac: string): void {
  let hi = int, lo = 0, scale = 1 / 16;
  // First 13 hex digits (52 bits) go to hi exactly; the rest to lo.
  for (let i = 0; i < frac.length; i++, scale /= 16) {
    const v = parseInt(frac[i]!, 16) * scale;
    if (i < 13) hi += v;
    else lo += v;
  }
  norm(d, hi, lo);
}

// Constants (registers 64-88).
const PI = 64, PI_2 = 66, LN2 = 68, LOG2E = 70, ONE = 72, SQRT1_2 = 74;
hexConst(PI, 3, '243F6A8885A308D313198A2E03707344A4093822299F31D0');
set(PI_2, T[PI]! / 2, T[PI + 1]! / 2);
hexConst(LN2, 0, 'B17217F7D1CF79ABC9E3B39803F2F6AF40F343267298B62D');
hexConst(LOG2E, 1, '71547652B82FE1777D0FFDA0D23A7D11D6AEF551BAD2B4B1');
set(ONE, 1, 0);
hexConst(SQRT1_2, 0, 'B504F333F9DE6484597D89B3754ABE9F1D6F60BA893BA84C');

// 1/n! for n = 0..30, computed once.
const INV_FACT = new Float64Array(62);
{
  INV_FACT[0] = 1;
  INV_FACT[1] = 0;
  set(0, 1, 0);
  for (let n = 1; n <= 30; n++) {
    set(2, n, 0);
    div(0, 0, 2);
    INV_FACT[2 * n] = T[0]!;
    INV_FACT[2 * n + 1] = T[1]!;
  }
}

// ---- conversions ------------------------------------------------------------------------

const U = new Int32Array(16); // unpacked operands: [0..5] x, [8..13] y
const F64 = new Float64Array(1);
const I32 = new Int32Array(F64.buffer);

/** Register d = significand of unpacked slot o as a value in [1, 2) (exact). */
function sigToDD(d: number, o: number): void {
  const m1 = U[o + 3]! >>> 0, m0 = U[o + 4]! >>> 0;
  const lo11 = m0 & 0x7ff;
  // m1 × 2^32 + (m0 - lo11) has 53 significant bits: exact.
  const hi = (m1 * 4294967296 + (m0 - lo11)) / 9223372036854775808;
  norm(d, hi, lo11 / 9223372036854775808);
}

/**
 * Rounds register d × 2^e2 into R (extended, by RC) and returns the exception bits.
 */
function ddToX(d: number, e2: number, cw: number): number {
  let hi = T[d]!, lo = T[d + 1]!;
  if (hi === 0) {
    R[0] = 0;
    R[1] = 0;
    R[2] = 0;
    return 0;
  }
  const sign = hi < 0 ? 1 : 0;
  if (sign) {
    hi = -hi;
    lo = -lo;
  }
  F64[0] = hi;
  const E = ((I32[1]! >>> 20) & 0x7ff) - 1023;
  const mh = hi * Math.pow(2, 52 - E); // integer in [2^52, 2^53)
  // The low part in units of 2^-32 of the significand's last bit: |X| <= 2^42, exact.
  const X = lo * Math.pow(2, 52 - E) * 8796093022208;
  const Xi = Math.floor(X);
  const sticky = X !== Xi ? 1 : 0;
  const q = Math.floor(Xi / 4294967296);
  let x = Xi - q * 4294967296;
  const mhHi = Math.floor(mh / 2097152);
  let m1 = mhHi, m0 = (mh - mhHi * 2097152) * 2048 + q;
  if (m0 < 0) {
    m0 += 4294967296;
    m1 -= 1;
  }
  let e = E + e2;
  if (m1 < 2147483648) {
    // The low part pulled the value below 2^63: one more bit from the extension.
    m1 = m1 * 2 + (m0 >= 2147483648 ? 1 : 0);
    m0 = ((m0 * 2) % 4294967296) + (x >= 2147483648 ? 1 : 0);
    x = (x * 2) % 4294967296;
    e--;
  }
  return roundToX(sign, e, m1 | 0, m0 | 0, (x | sticky) | 0, cw);
}

/**
 * The hardware reports every transcendental result as inexact (PE), and so a tiny one (a
 * denormal, with UE masked) as underflowed too.
 */
function inexact(f: number): number {
  if ((R[2]! & 0x7fff) === 0 && (R[1]! | R[0]!) !== 0) f |= UE;
  return f | PE;
}

// ---- argument classification ------------------------------------------------------------

/** Common entry of the one-operand functions: returns -1 to go on with a finite non-zero x. */
function unary(se: number, hi: number, lo: number, cw: number): number {
  R[3] = 0;
  const c = unpackInto(se, hi, lo, U, 0);
  if (c === Cls.BAD || c === Cls.INF) return invalidX(cw);
  if (c === Cls.QNAN || c === Cls.SNAN) {
    R[0] = lo;
    R[1] = hi | 0x40000000;
    R[2] = se;
    return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  return -1;
}

function denormal(o: number, cw: number): number {
  return U[o + 5] ? (cw & DE ? DE : DE | NOSTORE) : 0;
}

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

function one(dst: Int32Array): void {
  dst[0] = 0;
  dst[1] = 0x80000000 | 0;
  dst[2] = 0x3fff;
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
