/**
 * Extended precision to and from the memory formats: binary64 and binary32 (FLD/FST m64/m32)
 * and the 18-digit packed BCD of FBLD/FBSTP.
 * @module
 */
import { A, C1, Cls, DE, DEN, EMAX_D, EMAX_S, EMIN_D, EMIN_S, EXC, EXP, IE, M0, M1, NOSTORE, packD, packS, PE, R, round, setX, SGN, unpackD, unpackS, unpackX, W } from './f80-core.js';
import { intToX, roundToInt } from './f80-int.js';

/**
 * FLD m64: binary64 (hi:lo) to extended (exact). SNaN: IE, quieted; denormal: DE (the load still
 * happens). raw: an SNaN stays signalling and no exception is reported (arithmetic operands).
 */
export function fromF64X(hi: number, lo: number, cw: number, raw = false): number {
  const c = unpackD(hi, lo, A, false);
  const s = (hi >>> 31) << 15;
  if (c === Cls.ZERO) {
    setX(s, 0, 0);
    return 0;
  }
  if (c === Cls.INF) {
    setX(s | 0x7fff, 0x80000000 | 0, 0);
    return 0;
  }
  if (c === Cls.QNAN || c === Cls.SNAN) {
    if (raw) {
      setX(s | 0x7fff, W[A + M1]!, W[A + M0]!);
      return 0;
    }
    setX(s | 0x7fff, W[A + M1]! | 0x40000000, W[A + M0]!);
    return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  setX(s | (W[A + EXP]! + 16383), W[A + M1]!, W[A + M0]!);
  return W[A + DEN] ? DE : 0;
}

/** FLD m32. */
export function fromF32X(v: number, cw: number, raw = false): number {
  const c = unpackS(v, A, false);
  const s = (v >>> 31) << 15;
  if (c === Cls.ZERO) {
    setX(s, 0, 0);
    return 0;
  }
  if (c === Cls.INF) {
    setX(s | 0x7fff, 0x80000000 | 0, 0);
    return 0;
  }
  if (c === Cls.QNAN || c === Cls.SNAN) {
    if (raw) {
      setX(s | 0x7fff, W[A + M1]!, 0);
      return 0;
    }
    setX(s | 0x7fff, W[A + M1]! | 0x40000000, 0);
    return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  setX(s | (W[A + EXP]! + 16383), W[A + M1]!, W[A + M0]!);
  return W[A + DEN] ? DE : 0;
}

/** FST m64: extended to binary64 with rc; unmasked OE/UE leave memory alone (NOSTORE). */
export function toF64X(se: number, hi: number, lo: number, cw: number): number {
  const c = unpackX(se, hi, lo, A);
  const s = (se >>> 15) << 31;
  switch (c) {
    case Cls.ZERO:
      R[0] = 0;
      R[1] = s;
      return 0;
    case Cls.INF:
      R[0] = 0;
      R[1] = s | 0x7ff00000;
      return 0;
    case Cls.QNAN:
    case Cls.SNAN:
      R[0] = (hi << 21) | (lo >>> 11);
      R[1] = s | 0x7ff80000 | ((hi >>> 11) & 0xfffff);
      return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
    case Cls.BAD:
      R[0] = 0;
      R[1] = 0xfff80000 | 0;
      return cw & IE ? IE : IE | NOSTORE;
  }
  const fl = round(W[A + SGN]!, W[A + EXP]!, W[A + M1]!, W[A + M0]!, 0, 53, EMIN_D, EMAX_D, (cw >>> 10) & 3, cw & EXC, 0, false);
  if (fl & NOSTORE) return fl & ~PE;
  packD();
  return fl;
}

/** FST m32. */
export function toF32X(se: number, hi: number, lo: number, cw: number): number {
  const c = unpackX(se, hi, lo, A);
  const s = (se >>> 15) << 31;
  switch (c) {
    case Cls.ZERO:
      R[0] = s;
      return 0;
    case Cls.INF:
      R[0] = s | 0x7f800000;
      return 0;
    case Cls.QNAN:
    case Cls.SNAN:
      R[0] = s | 0x7fc00000 | ((hi >>> 8) & 0x3fffff);
      return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
    case Cls.BAD:
      R[0] = 0xffc00000 | 0;
      return cw & IE ? IE : IE | NOSTORE;
  }
  const fl = round(W[A + SGN]!, W[A + EXP]!, W[A + M1]!, W[A + M0]!, 0, 24, EMIN_S, EMAX_S, (cw >>> 10) & 3, cw & EXC, 0, false);
  if (fl & NOSTORE) return fl & ~PE;
  packS();
  return fl;
}

// ---- packed BCD ----------------------------------------------------------------------------

/**
 * FBLD: 10-byte packed BCD (bytes b[o..o+9], digit pairs little-endian, sign in bit 7 of byte 9)
 * to extended (exact). Invalid digits give an undefined result on hardware; here they are
 * taken at face value (digit values 10-15 weigh as such).
 */
export function fromBcdX(b: Uint8Array, o: number): void {
  // Digits 17..9 and 8..0 as two 9-digit numbers (exact in doubles).
  let lo9 = 0, hi9 = 0;
  for (let d = 17; d >= 0; d--) {
    const v = b[o + (d >> 1)]!;
    const digit = d & 1 ? v >>> 4 : v & 15;
    if (d >= 9) hi9 = hi9 * 10 + digit;
    else lo9 = lo9 * 10 + digit;
  }
  // value = hi9 × 10^9 + lo9 < 2^64: compute in 32-bit words.
  // hi9 × 10^9 = hi9 × 1e9 as 64-bit: split hi9 into 16-bit halves.
  const h = hi9 % 65536, g = (hi9 - h) / 65536; // hi9 = g × 2^16 + h
  // p = hi9 × 1e9 = g×1e9×2^16 + h×1e9
  const p1 = h * 1e9 + lo9; // < 2^46
  const p2 = g * 1e9; // × 2^16, < 2^50
  // total = p2 × 2^16 + p1
  const p1l = p1 % 4294967296, p1h = (p1 - p1l) / 4294967296;
  const p2l = (p2 % 65536) * 65536, p2h = Math.floor(p2 / 65536);
  let lo = p1l + p2l;
  let cy = 0;
  if (lo >= 4294967296) {
    lo -= 4294967296;
    cy = 1;
  }
  const hi = p1h + p2h + cy;
  intToX(b[o + 9]! >>> 7, hi | 0, lo | 0);
}

/**
 * FBSTP: extended to packed BCD in bytes out[o..o+9], rounding by RC. NaN, infinity or
 * |value| >= 10^18 (after rounding): IE and the BCD indefinite (masked) or NOSTORE.
 */
export function toBcdX(se: number, hi: number, lo: number, cw: number, out: Uint8Array, o: number): number {
  const c = unpackX(se, hi, lo, A);
  let f = 0;
  let m1 = 0, m0 = 0;
  const s = W[A + SGN]!;
  if (c === Cls.FIN) {
    if (W[A + EXP]! < 63) {
      roundToInt((cw >>> 10) & 3);
      m1 = W[24]!;
      m0 = W[25]!;
      if (W[26]) f |= PE | (W[27] ? C1 : 0);
    } else m1 = -1; // out of range
  } else if (c !== Cls.ZERO) m1 = -1;
  // 10^18 = 0x0DE0B6B3_A7640000
  const ok = m1 >= 0 && (m1 < 0x0de0b6b3 || (m1 === 0x0de0b6b3 && m0 >>> 0 < 0xa7640000));
  if (!ok) {
    f = (f & ~(PE | C1)) | IE;
    if (!(cw & IE)) return f | NOSTORE;
    for (let i = 0; i < 7; i++) out[o + i] = 0;
    out[o + 7] = 0xc0;
    out[o + 8] = 0xff;
    out[o + 9] = 0xff;
    return f;
  }
  // Split into 9-digit halves v = q × 1e9 + r by long division over 16-bit limbs (v < 2^60).
  const l3 = m1 >>> 16, l2 = m1 & 0xffff, l1 = m0 >>> 16, l0 = m0 & 0xffff;
  let r = l3;
  const q3 = Math.floor(r / 1e9);
  r = (r - q3 * 1e9) * 65536 + l2;
  const q2 = Math.floor(r / 1e9);
  r = (r - q2 * 1e9) * 65536 + l1;
  const q1 = Math.floor(r / 1e9);
  r = (r - q1 * 1e9) * 65536 + l0;
  const q0 = Math.floor(r / 1e9);
  r -= q0 * 1e9;
  let hiPart = ((q3 * 65536 + q2) * 65536 + q1) * 65536 + q0; // < 1e9
  let loPart = r;
  for (let d = 0; d < 18; d += 2) {
    let a: number, b: number;
    if (d < 9) {
      a = loPart % 10;
      loPart = (loPart - a) / 10;
    } else {
      a = hiPart % 10;
      hiPart = (hiPart - a) / 10;
    }
    if (d + 1 < 9) {
      b = loPart % 10;
      loPart = (loPart - b) / 10;
    } else {
      b = hiPart % 10;
      hiPart = (hiPart - b) / 10;
    }
    out[o + (d >> 1)] = a | (b << 4);
  }
  out[o + 9] = s ? 0x80 : 0;
  return f;
}
