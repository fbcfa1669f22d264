/**
 * 64-bit integer helpers over lo/hi int32 pairs, allocation-free: results land in {@link R}.
 * Multiplication goes through 16-bit limbs so every partial product is exact in a double.
 * @module
 */
import { divs64, divu64, mulu64, muls64, W } from '../arith64.js';

/** Result registers of the pair helpers. */
export const R = { lo: 0, hi: 0 };


/** R = (lo,hi) << n, n in [0, 63]. */
export function lsl64(lo: number, hi: number, n: number): void {
  if (n === 0) {
    R.lo = lo;
    R.hi = hi;
  } else if (n < 32) {
    R.hi = (hi << n) | (lo >>> (32 - n));
    R.lo = lo << n;
  } else {
    R.hi = lo << (n - 32);
    R.lo = 0;
  }
}

/** R = (lo,hi) >>> n (logical), n in [0, 63]. */
export function lsr64(lo: number, hi: number, n: number): void {
  if (n === 0) {
    R.lo = lo;
    R.hi = hi;
  } else if (n < 32) {
    R.lo = (lo >>> n) | (hi << (32 - n));
    R.hi = hi >>> n;
  } else {
    R.lo = hi >>> (n - 32);
    R.hi = 0;
  }
}

/** R = (lo,hi) >> n (arithmetic), n in [0, 63]. */
export function asr64(lo: number, hi: number, n: number): void {
  if (n === 0) {
    R.lo = lo;
    R.hi = hi;
  } else if (n < 32) {
    R.lo = (lo >>> n) | (hi << (32 - n));
    R.hi = hi >> n;
  } else {
    R.lo = hi >> (n - 32);
    R.hi = hi >> 31;
  }
}

/** R = ROR((lo,hi), n), n in [0, 63]. */
export function ror64(lo: number, hi: number, n: number): void {
  if (n === 0) {
    R.lo = lo;
    R.hi = hi;
    return;
  }
  if (n >= 32) {
    const t = lo;
    lo = hi;
    hi = t;
    n -= 32;
    if (n === 0) {
      R.lo = lo;
      R.hi = hi;
      return;
    }
  }
  R.lo = (lo >>> n) | (hi << (32 - n));
  R.hi = (hi >>> n) | (lo << (32 - n));
}

/** 32-bit rotate right. */
export function ror32(v: number, n: number): number {
  n &= 31;
  return n === 0 ? v | 0 : (v >>> n) | (v << (32 - n));
}

/** R = shift(type, (lo,hi), n) for shifted-register operands: 0 LSL, 1 LSR, 2 ASR, 3 ROR. */
export function shift64(type: number, lo: number, hi: number, n: number): void {
  switch (type) {
    case 0:
      lsl64(lo, hi, n);
      break;
    case 1:
      lsr64(lo, hi, n);
      break;
    case 2:
      asr64(lo, hi, n);
      break;
    default:
      ror64(lo, hi, n);
  }
}

/** 32-bit shift(type, v, n). */
export function shift32(type: number, v: number, n: number): number {
  switch (type) {
    case 0:
      return v << n;
    case 1:
      return n === 0 ? v : v >>> n;
    case 2:
      return v >> n;
    default:
      return ror32(v, n);
  }
}

/** R = a * b, low 64 bits. */
export function mul64(alo: number, ahi: number, blo: number, bhi: number): void {
  // The low 64 bits of the product: alo * blo in full (16-bit halves, every partial sum exact
  // and below 2^53; integer ops only) plus the cross products' low words in the high word.
  const a0 = alo & 0xffff;
  const a1 = alo >>> 16;
  const b0 = blo & 0xffff;
  const b1 = blo >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const hiOfLoLo = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  R.lo = Math.imul(alo, blo);
  R.hi = (hiOfLoLo + Math.imul(alo, bhi) + Math.imul(ahi, blo)) | 0;
}

/** R = high 64 bits of the unsigned 128-bit product a * b. */
export function umulh64(alo: number, ahi: number, blo: number, bhi: number): void {
  mulu64(alo, ahi, blo, bhi);
  R.lo = W[2]!;
  R.hi = W[3]!;
}

/** R = high 64 bits of the signed 128-bit product a * b. */
export function smulh64(alo: number, ahi: number, blo: number, bhi: number): void {
  muls64(alo, ahi, blo, bhi);
  R.lo = W[2]!;
  R.hi = W[3]!;
}

/** R = a + b (64-bit, no flags). */
export function add64(alo: number, ahi: number, blo: number, bhi: number): void {
  const l = (alo >>> 0) + (blo >>> 0);
  R.lo = l | 0;
  R.hi = (ahi + bhi + (l > 0xffffffff ? 1 : 0)) | 0;
}

/** R = a - b (64-bit, no flags). */
export function sub64(alo: number, ahi: number, blo: number, bhi: number): void {
  const l = (alo >>> 0) - (blo >>> 0);
  R.lo = l | 0;
  R.hi = (ahi - bhi - (l < 0 ? 1 : 0)) | 0;
}

/** R = a / b unsigned (b != 0). */
export function udiv64(alo: number, ahi: number, blo: number, bhi: number): void {
  divu64(alo, ahi, blo, bhi);
  R.lo = W[0]!;
  R.hi = W[1]!;
}

/** R = a / b signed, rounding toward zero (b != 0; INT64_MIN / -1 = INT64_MIN). */
export function sdiv64(alo: number, ahi: number, blo: number, bhi: number): void {
  divs64(alo, ahi, blo, bhi);
  R.lo = W[0]!;
  R.hi = W[1]!;
}

/** Count leading zeros of a 64-bit pair. */
export function clz64(lo: number, hi: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
}

/** Reverse the bits of a 32-bit value. */
export function rbit32(v: number): number {
  v = ((v >>> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >>> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >>> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  return (v >>> 16) | (v << 16);
}

/** Byte-swap a 32-bit value. */
export function rev32(v: number): number {
  return ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24)) | 0;
}

/** Swap the bytes within each halfword. */
export function rev16(v: number): number {
  return (((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8)) | 0;
}

/** Mask of `width` low bits (1..64) into R. */
export function ones64(width: number): void {
  if (width >= 64) {
    R.lo = -1;
    R.hi = -1;
  } else if (width > 32) {
    R.lo = -1;
    R.hi = (2 ** (width - 32) - 1) | 0;
  } else {
    R.lo = width === 32 ? -1 : (2 ** width - 1) | 0;
    R.hi = 0;
  }
}

// ---- DecodeBitMasks for logical immediates, memoized by N:immr:imms ------------------------------

const bmState = new Uint8Array(1 << 13); // 0 unknown, 1 valid, 2 reserved
const bmLo = new Int32Array(1 << 13);
const bmHi = new Int32Array(1 << 13);

/**
 * DecodeBitMasks(N, imms, immr, immediate = TRUE) for a 64-bit datasize into R (the 32-bit form
 * uses R.lo). Returns false for reserved encodings.
 */
export function logicalImm(n: number, immr: number, imms: number): boolean {
  const k = (n << 12) | (immr << 6) | imms;
  const st = bmState[k]!;
  if (st === 1) {
    R.lo = bmLo[k]!;
    R.hi = bmHi[k]!;
    return true;
  }
  if (st === 2) return false;
  const combined = (n << 6) | (~imms & 0x3f);
  if (combined === 0) {
    bmState[k] = 2;
    return false;
  }
  const len = 31 - Math.clz32(combined);
  if (len < 1) {
    bmState[k] = 2;
    return false;
  }
  const levels = (1 << len) - 1;
  if ((imms & levels) === levels) {
    bmState[k] = 2;
    return false;
  }
  const s = imms & levels;
  const r = immr & levels;
  const esize = 1 << len;
  let lo: number;
  let hi: number;
  if (esize === 64) {
    ones64(s + 1);
    ror64(R.lo, R.hi, r);
    lo = R.lo;
    hi = R.hi;
  } else {
    const emask = esize === 32 ? -1 : (1 << esize) - 1;
    let e = (2 ** (s + 1) - 1) | 0;
    if (r !== 0) e = ((e >>> r) | (e << (esize - r))) & emask;
    let rep = e & emask;
    for (let w = esize; w < 32; w *= 2) rep = rep | (rep << w);
    lo = rep | 0;
    hi = rep | 0;
  }
  bmState[k] = 1;
  bmLo[k] = lo;
  bmHi[k] = hi;
  R.lo = lo;
  R.hi = hi;
  return true;
}

// ---- CRC32 / CRC32C (FEAT_CRC32) ------------------------------------------------------------------

function crcTable(poly: number): Int32Array {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[i] = c;
  }
  return t;
}
export const CRC32_TABLE = crcTable(0xedb88320);
export const CRC32C_TABLE = crcTable(0x82f63b78);

/** Updates a CRC (bit-reflected, as the A64 CRC32 instructions define it) with `bytes` bytes of (lo,hi). */
export function crc32Update(table: Int32Array, acc: number, lo: number, hi: number, bytes: number): number {
  let c = acc;
  for (let i = 0; i < bytes; i++) {
    const b = (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 0xff;
    c = table[(c ^ b) & 0xff]! ^ (c >>> 8);
  }
  return c | 0;
}
