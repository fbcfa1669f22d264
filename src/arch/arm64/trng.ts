/**
 * The Arm True Random Number Generator firmware interface 1.0 (ARM DEN0098) as KVM serves it
 * (arch/arm64/kvm/trng.c): VERSION, FEATURES, GET_UUID, RND32 (up to 96 bits) and RND64 (up to
 * 192), the entropy from the host's CSPRNG. Its status codes are TRNG's own (NOT_SUPPORTED -1,
 * INVALID_PARAMETER -2).
 * @module
 */
import { randomFillSync } from 'node:crypto';
import { ARM_SMCCC } from '../../uapi/arm64.js';
import type { Cpu } from './cpu.js';
import { setRet } from './psci.js';

const TRNG_VERSION_1_0 = 0x10000;
const TRNG_SUCCESS = 0;
const TRNG_NOT_SUPPORTED = -1;
const TRNG_INVALID_PARAMETER = -2;
/**
 * The TRNG service's UUID 0d21e000-4384-11eb-8070-5244554e5a4c as the four little-endian words
 * of its byte form (uuid_t: the first three fields big-endian), returned in X0-X3.
 */
const UUID_WORDS = (() => {
  const b = new Uint8Array([0x0d, 0x21, 0xe0, 0x00, 0x43, 0x84, 0x11, 0xeb, 0x80, 0x70, 0x52, 0x44, 0x55, 0x4e, 0x5a, 0x4c]);
  const dv = new DataView(b.buffer);
  return [0, 4, 8, 12].map((o) => dv.getUint32(o, true));
})();

const bits = new Uint32Array(6); // 192 bits: words 0-1 are bits[0], 2-3 bits[1], 4-5 bits[2]

/** Sets X0-X3 to 64-bit values given as (lo, hi) u32 pairs. */
function setRet64(c: Cpu, words: readonly number[]): void {
  for (let r = 0; r < 4; r++) {
    c.x[2 * r] = words[2 * r]! | 0;
    c.x[2 * r + 1] = words[2 * r + 1]! | 0;
  }
}

/** Keeps the low `n` bits of the 192 (bitmap_clear of the rest). */
function keepLow(n: number): void {
  for (let w = 0; w < 6; w++) {
    const from = w * 32;
    if (n <= from) bits[w] = 0;
    else if (n < from + 32) bits[w] = bits[w]! & ((1 << (n - from)) - 1);
  }
}

/** kvm_trng_call: the function in X0 is one of the five TRNG calls. */
export function trngCall(c: Cpu, fn: number): void {
  const arg1 = c.x[2]! >>> 0; // smccc_get_arg1, as a u32
  switch (fn) {
    case ARM_SMCCC.TRNG_VERSION:
      setRet(c, TRNG_VERSION_1_0);
      return;
    case ARM_SMCCC.TRNG_FEATURES:
      switch (arg1) {
        case ARM_SMCCC.TRNG_VERSION:
        case ARM_SMCCC.TRNG_FEATURES:
        case ARM_SMCCC.TRNG_GET_UUID:
        case ARM_SMCCC.TRNG_RND32:
        case ARM_SMCCC.TRNG_RND64:
          setRet(c, TRNG_SUCCESS);
          return;
      }
      setRet(c, TRNG_NOT_SUPPORTED);
      return;
    case ARM_SMCCC.TRNG_GET_UUID:
      setRet(c, UUID_WORDS[0]!, UUID_WORDS[1]!, UUID_WORDS[2]!, UUID_WORDS[3]!);
      return;
    case ARM_SMCCC.TRNG_RND32:
    case ARM_SMCCC.TRNG_RND64: {
      const size = fn === ARM_SMCCC.TRNG_RND32 ? 32 : 64;
      if (arg1 > 3 * size) {
        setRet(c, TRNG_INVALID_PARAMETER);
        return;
      }
      randomFillSync(bits);
      keepLow(arg1);
      // RND32: X1 = bits 95:64, X2 = 63:32, X3 = 31:0; RND64: X1 = 191:128, X2 = 127:64, X3 = 63:0.
      if (size === 32) setRet64(c, [TRNG_SUCCESS, 0, bits[2]!, 0, bits[1]!, 0, bits[0]!, 0]);
      else setRet64(c, [TRNG_SUCCESS, 0, bits[4]!, bits[5]!, bits[2]!, bits[3]!, bits[0]!, bits[1]!]);
      bits.fill(0);
      return;
    }
  }
}
