/**
 * The lanes of the AdvSIMD integer forms (insn-simd-int.ts): scratch lanes and element access
 * with every element a 64-bit value in two int32 halves, and the 64-bit arithmetic on them,
 * results in {@link R}. Nothing allocates.
 * @module
 */
import type { Cpu } from './cpu.js';

const TWO32 = 4294967296;

// Scratch lanes: up to 16 elements of three operands (n, m, d) as lo/hi halves.
export const NL = new Int32Array(32);
export const NH = new Int32Array(32);
export const ML = new Int32Array(16);
export const MH = new Int32Array(16);
export const RL = new Int32Array(16);
export const RH = new Int32Array(16);
/** Result pair of the 64-bit helpers. */
export const R = { lo: 0, hi: 0 };

/** Element `idx` of size `size` of V`reg`, sign- or zero-extended to 64 bits, into (L[k], H[k]). */
export function ld(c: Cpu, reg: number, size: number, idx: number, signed: boolean, L: Int32Array, H: Int32Array, k: number): void {
  const dv = c.vdv;
  const o = reg * 16 + (idx << size);
  let lo: number;
  if (size === 3) {
    L[k] = dv.getInt32(o, true);
    H[k] = dv.getInt32(o + 4, true);
    return;
  }
  if (size === 2) lo = dv.getInt32(o, true);
  else if (size === 1) lo = signed ? dv.getInt16(o, true) : dv.getUint16(o, true);
  else lo = signed ? dv.getInt8(o) : dv.getUint8(o);
  L[k] = lo;
  H[k] = signed ? lo >> 31 : 0;
}

/** Loads `count` elements of V`reg` starting at element `first`. */
export function ldv(c: Cpu, reg: number, size: number, count: number, signed: boolean, L: Int32Array, H: Int32Array, first = 0): void {
  for (let k = 0; k < count; k++) ld(c, reg, size, first + k, signed, L, H, k);
}

/** Writes the low `8 << size` bits of (lo, hi) to element `idx` of V`reg`. */
export function st(c: Cpu, reg: number, size: number, idx: number, lo: number, hi: number): void {
  const dv = c.vdv;
  const o = reg * 16 + (idx << size);
  if (size === 3) {
    dv.setInt32(o, lo, true);
    dv.setInt32(o + 4, hi, true);
  } else if (size === 2) dv.setInt32(o, lo, true);
  else if (size === 1) dv.setInt16(o, lo, true);
  else dv.setInt8(o, lo);
}

/** Clears the upper 64 bits of Vd when Q = 0. */
export function clearHigh(c: Cpu, d: number, q: number): void {
  if (!q) c.vr.fill(0, d * 16 + 8, d * 16 + 16);
}

/** Signed or unsigned comparison of two 64-bit values: -1, 0, 1. */
export function cmp64(al: number, ah: number, bl: number, bh: number, signed: boolean): number {
  if (ah !== bh) return signed ? (ah < bh ? -1 : 1) : (ah >>> 0) < (bh >>> 0) ? -1 : 1;
  if (al === bl) return 0;
  return (al >>> 0) < (bl >>> 0) ? -1 : 1;
}

export function add64(al: number, ah: number, bl: number, bh: number): void {
  const l = (al >>> 0) + (bl >>> 0);
  R.lo = l | 0;
  R.hi = (ah + bh + (l > 0xffffffff ? 1 : 0)) | 0;
}

export function sub64(al: number, ah: number, bl: number, bh: number): void {
  const l = (al >>> 0) - (bl >>> 0);
  R.lo = l | 0;
  R.hi = (ah - bh - (l < 0 ? 1 : 0)) | 0;
}

/** The full 64-bit product of two 32-bit values (signed or unsigned). */
export function mul32(a: number, b: number, signed: boolean): void {
  const ua = a >>> 0;
  const ub = b >>> 0;
  const al = ua & 0xffff;
  const ah = ua >>> 16;
  const bl = ub & 0xffff;
  const bh = ub >>> 16;
  const ll = al * bl;
  const mid = ah * bl + al * bh; // < 2^33
  const lo = ll + (mid % 65536) * 65536; // < 2^49
  const hi = ah * bh + Math.floor(mid / 65536) + Math.floor(lo / TWO32);
  R.lo = lo % TWO32 | 0;
  let h = hi | 0;
  if (signed) {
    if (a < 0) h = (h - ub) | 0;
    if (b < 0) h = (h - ua) | 0;
  }
  R.hi = h;
}

/** The low 64 bits of a 64 x 64 product. */
export function mul64lo(al: number, ah: number, bl: number, bh: number): void {
  mul32(al, bl, false);
  R.hi = (R.hi + Math.imul(al, bh) + Math.imul(ah, bl)) | 0;
}

/** (lo, hi) shifted by `sh` (negative: right; arithmetic when `signed`), 64-bit. */
export function shl64(lo: number, hi: number, sh: number, signed: boolean): void {
  if (sh >= 64) {
    R.lo = 0;
    R.hi = 0;
  } else if (sh >= 32) {
    R.hi = lo << (sh - 32);
    R.lo = 0;
  } else if (sh > 0) {
    R.hi = (hi << sh) | (lo >>> (32 - sh));
    R.lo = lo << sh;
  } else if (sh === 0) {
    R.lo = lo;
    R.hi = hi;
  } else {
    const r = -sh;
    if (r >= 64) {
      R.hi = signed ? hi >> 31 : 0;
      R.lo = R.hi;
    } else if (r >= 32) {
      R.lo = signed ? hi >> (r - 32) : hi >>> (r - 32);
      R.hi = signed ? hi >> 31 : 0;
    } else {
      R.lo = (lo >>> r) | (r === 0 ? 0 : hi << (32 - r));
      R.hi = signed ? hi >> r : hi >>> r;
    }
  }
}

/** Extends the low `8 << size` bits of (lo, hi) to 64 bits, into (R.lo, R.hi). */
export function ext(lo: number, hi: number, size: number, signed: boolean): void {
  if (size === 3) {
    R.lo = lo;
    R.hi = hi;
  } else if (size === 2) {
    R.lo = lo;
    R.hi = signed ? lo >> 31 : 0;
  } else {
    const b = 32 - (8 << size);
    R.lo = signed ? (lo << b) >> b : (lo << b) >>> b;
    R.hi = signed ? R.lo >> 31 : 0;
  }
}
