/**
 * Double-double arithmetic for the x87 transcendentals: a Float64Array register file of
 * (high, low) pairs, exact TwoSum/TwoProduct steps, the constants, exact conversion of an
 * extended operand to double-double and the single rounding back (by the FCW's RC), and the
 * special-operand entry shared by the one-operand functions.
 * @module
 */
import { Cls, DE, IE, invalidX, NOSTORE, PE, R, roundToX, UE, unpackInto } from './f80.js';

// ---- double-double register file --------------------------------------------------------
// Register k is T[k] (high) and T[k + 1] (low); registers are even indices.
export const T = new Float64Array(96);
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

export function set(d: number, hi: number, lo: number): void {
  T[d] = hi;
  T[d + 1] = lo;
}
export function copy(d: number, a: number): void {
  T[d] = T[a]!;
  T[d + 1] = T[a + 1]!;
}
/** Renormalizes (hi, lo) into register d. */
export function norm(d: number, hi: number, lo: number): void {
  const s = hi + lo;
  T[d] = s;
  T[d + 1] = lo - (s - hi);
}

export const S0 = 90, S1 = 92, S2 = 94; // scratch registers used inside the primitives

/** d = a + b. */
export function add(d: number, a: number, b: number): void {
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
export function sub(d: number, a: number, b: number): void {
  T[S2] = -T[b]!;
  T[S2 + 1] = -T[b + 1]!;
  add(d, a, S2);
}
/** d = a × b. */
export function mul(d: number, a: number, b: number): void {
  twoProd(S0, T[a]!, T[b]!);
  norm(d, T[S0]!, T[S0 + 1]! + (T[a]! * T[b + 1]! + T[a + 1]! * T[b]!));
}
/** d = a × x (x a double). */
export function mulD(d: number, a: number, x: number): void {
  twoProd(S0, T[a]!, x);
  norm(d, T[S0]!, T[S0 + 1]! + T[a + 1]! * x);
}
/** d = a / b. */
export function div(d: number, a: number, b: number): void {
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
export function sqrt(d: number, a: number): void {
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
export const PI = 64, PI_2 = 66, LN2 = 68, LOG2E = 70, ONE = 72, SQRT1_2 = 74;
hexConst(PI, 3, '243F6A8885A308D313198A2E03707344A4093822299F31D0');
set(PI_2, T[PI]! / 2, T[PI + 1]! / 2);
hexConst(LN2, 0, 'B17217F7D1CF79ABC9E3B39803F2F6AF40F343267298B62D');
hexConst(LOG2E, 1, '71547652B82FE1777D0FFDA0D23A7D11D6AEF551BAD2B4B1');
set(ONE, 1, 0);
hexConst(SQRT1_2, 0, 'B504F333F9DE6484597D89B3754ABE9F1D6F60BA893BA84C');

// 1/n! for n = 0..30, computed once.
export const INV_FACT = new Float64Array(62);
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

export const U = new Int32Array(16); // unpacked operands: [0..5] x, [8..13] y
export const F64 = new Float64Array(1);
export const I32 = new Int32Array(F64.buffer);

/** Register d = significand of unpacked slot o as a value in [1, 2) (exact). */
export function sigToDD(d: number, o: number): void {
  const m1 = U[o + 3]! >>> 0, m0 = U[o + 4]! >>> 0;
  const lo11 = m0 & 0x7ff;
  // m1 × 2^32 + (m0 - lo11) has 53 significant bits: exact.
  const hi = (m1 * 4294967296 + (m0 - lo11)) / 9223372036854775808;
  norm(d, hi, lo11 / 9223372036854775808);
}

/**
 * Rounds register d × 2^e2 into R (extended, by RC) and returns the exception bits.
 */
export function ddToX(d: number, e2: number, cw: number): number {
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
export function inexact(f: number): number {
  if ((R[2]! & 0x7fff) === 0 && (R[1]! | R[0]!) !== 0) f |= UE;
  return f | PE;
}

// ---- argument classification ------------------------------------------------------------

/** Common entry of the one-operand functions: returns -1 to go on with a finite non-zero x. */
export function unary(se: number, hi: number, lo: number, cw: number): number {
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

export function denormal(o: number, cw: number): number {
  return U[o + 5] ? (cw & DE ? DE : DE | NOSTORE) : 0;
}

/** 1.0 in extended format into dst (lo, hi, se). */
export function one(dst: Int32Array): void {
  dst[0] = 0;
  dst[1] = 0x80000000 | 0;
  dst[2] = 0x3fff;
}
