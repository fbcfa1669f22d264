/**
 * A small seeded PRNG for the fuzzers (xoshiro128**, seeded through splitmix32), so every run is
 * reproducible from `(seed, stream)`: a failing case is replayed from its seed and index alone.
 * @module
 */

/** splitmix32 step: a well-mixed 32-bit value from a 32-bit state. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Mixes a seed and a stream index (case number) into one 32-bit seed. */
export function mixSeed(seed: number, stream: number): number {
  return splitmix32(splitmix32(seed >>> 0) ^ Math.imul(stream >>> 0, 0x27d4eb2d) ^ splitmix32((stream / 2 ** 32) >>> 0));
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    this.a = s = splitmix32(s);
    this.b = s = splitmix32(s);
    this.c = s = splitmix32(s);
    this.d = splitmix32(s) | 1;
  }

  /** A uniformly random u32. */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0x1_0000_0000 ? Math.floor((this.u32() / 0x1_0000_0000) * n) : Math.floor((this.u32() * 0x1_0000_0000 + this.u32()) / 2 ** 64 * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() < p * 0x1_0000_0000;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of items) total += w;
    let r = this.u32() / 0x1_0000_0000 * total;
    for (const [w, v] of items) {
      if ((r -= w) < 0) return v;
    }
    return items[items.length - 1]![1];
  }

  /** A random u64. */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  /** Fills `out` with random bytes. */
  fill(out: Uint8Array, from = 0, to = out.length): Uint8Array {
    // Whole aligned words at a time (byte stores into shared memory are slow); same bytes as below.
    const start = out.byteOffset + from;
    if ((start & 3) === 0 && to - from >= 64) {
      const words = (to - from) >>> 2;
      const w = new Uint32Array(out.buffer, start, words);
      for (let i = 0; i < words; i++) w[i] = this.u32();
      from += words * 4;
    }
    for (let i = from; i < to; i += 4) {
      const r = this.u32();
      out[i] = r;
      if (i + 1 < to) out[i + 1] = r >>> 8;
      if (i + 2 < to) out[i + 2] = r >>> 16;
      if (i + 3 < to) out[i + 3] = r >>> 24;
    }
    return out;
  }

  bytes(n: number): Uint8Array {
    return this.fill(new Uint8Array(n));
  }

  /** A value with few set bits, a boundary, or random: what finds edge cases in integer fields. */
  interesting(bits: 8 | 16 | 32 | 64): bigint {
    const max = (1n << BigInt(bits)) - 1n;
    switch (this.int(8)) {
      case 0:
        return 0n;
      case 1:
        return this.pick([1n, 2n, 3n, 4n, 7n, 8n, 15n, 16n, 0x40n, 0x7fn, 0x80n, 0xffn]) & max;
      case 2:
        return max - BigInt(this.int(3)); // -1, -2, -3
      case 3:
        return (1n << BigInt(this.int(bits))) & max;
      case 4:
        return ((1n << BigInt(bits - 1)) - BigInt(this.int(2))) & max; // INT_MAX, INT_MAX - 1
      case 5:
        return (1n << BigInt(bits - 1)) & max; // INT_MIN
      case 6:
        return BigInt(this.int(4096)) & max;
      default:
        return this.u64() & max;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
