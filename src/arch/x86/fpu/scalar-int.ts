/**
 * Scalar integer helpers of the SSE4.2/ABM instructions on JS numbers: CRC32 (CRC-32C), POPCNT,
 * LZCNT, TZCNT.
 * @module
 */


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
