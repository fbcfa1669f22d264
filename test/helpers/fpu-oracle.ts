/**
 * The host-CPU oracle for the x87/SSE numerics (test/helpers/fpu-oracle.c): compiled once per
 * source version into the temp directory when gcc exists on an x86-64 Linux host, else null (the
 * tests that need it skip). Also the shared random value generators of the fpu tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), 'fpu-oracle.c');
export const IN_SIZE = 64, OUT_SIZE = 128;

export interface Oracle {
  /** Operation id by name. */
  readonly ops: Map<string, number>;
  /** Runs the records (n × 64 bytes) and returns n × 128 result bytes. */
  run(input: Uint8Array): Uint8Array;
}

let cached: Oracle | null | undefined;

/** The oracle, or null (with the reason in `oracleSkipReason`) where it cannot run. */
export function fpuOracle(): Oracle | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.arch !== 'x64' || process.platform !== 'linux') {
    oracleSkipReason = 'not an x86-64 Linux host';
    return null;
  }
  const src = readFileSync(SRC);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'vkvm-fpu-oracle');
  const bin = join(dir, `fpu-oracle-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}`;
    const r = spawnSync('gcc', ['-O1', '-mno-red-zone', '-msse4.2', '-o', tmp, SRC], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      oracleSkipReason = r.error ? 'gcc is not installed' : `gcc failed: ${r.stderr}`;
      return null;
    }
    renameSync(tmp, bin);
  }
  const names = execFileSync(bin, ['--list'], { encoding: 'utf8' }).trim().split('\n');
  const ops = new Map(names.map((n, i) => [n, i]));
  cached = {
    ops,
    run(input: Uint8Array): Uint8Array {
      const r = spawnSync(bin, [], { input, maxBuffer: (input.length / IN_SIZE) * OUT_SIZE + 4096 });
      if (r.status !== 0) throw new Error(`fpu-oracle exited with ${r.status} ${r.signal ?? ''}`);
      return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length);
    },
  };
  return cached;
}
export let oracleSkipReason = '';

// ---- deterministic random values -----------------------------------------------------------

/** xorshift32-based generator (seeded, reproducible). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed | 0 || 1;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x;
    return x >>> 0;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  bit(p = 0.5): boolean {
    return this.u32() / 4294967296 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

/** A random significand word pattern: random, sparse, dense, or zero. */
function word(r: Rng): number {
  switch (r.int(8)) {
    case 0: return 0;
    case 1: return 0xffffffff;
    case 2: return (1 << r.int(32)) >>> 0;
    case 3: return (0xffffffff << r.int(32)) >>> 0;
    case 4: return 0xffffffff >>> r.int(32);
    default: return r.u32();
  }
}

/** Random extended value (se, hi, lo) biased to edge cases. */
export function randX(r: Rng): [number, number, number] {
  const s = r.bit() ? 0x8000 : 0;
  let hi = word(r), lo = word(r);
  if (r.bit(0.04)) {
    // All-ones significands just below the smallest normal of f80/f64/f32 (tininess boundary).
    const e = r.pick([0x0000, 0x0001, 0x3c00, 0x3c01, 0x3f80, 0x3f81]);
    return [s | e, (0xffffffff - (r.bit() ? r.int(0x800) : 0)) >>> 0, (0xffffffff - r.int(4)) >>> 0];
  }
  const k = r.int(100);
  if (k < 4) return [s, 0, 0];
  if (k < 7) return [s | 0x7fff, 0x80000000, 0];
  if (k < 10) {
    // QNaN / SNaN with payload (SNaN needs a non-zero fraction).
    hi = (hi & 0x3fffffff) | 0x80000000 | (r.bit() ? 0x40000000 : 0);
    if ((hi & 0x7fffffff) === 0 && lo === 0) lo = 1;
    return [s | 0x7fff, hi >>> 0, lo >>> 0];
  }
  if (k < 11) return [0xffff, 0xc0000000, 0];
  if (k < 16) return [s, hi & 0x7fffffff, lo]; // denormal (or zero)
  if (k < 18) return [s, (hi | 0x80000000) >>> 0, lo]; // pseudo-denormal
  if (k < 20) return [s | (1 + r.int(0x7ffe)), hi & 0x7fffffff, lo]; // unnormal / pseudo-zero
  if (k < 21) return [s | 0x7fff, hi & 0x7fffffff, lo]; // pseudo-inf / pseudo-NaN
  hi = (hi | 0x80000000) >>> 0;
  if (r.bit(0.3)) lo = r.bit() ? lo & 0xfffff800 : 0; // f64/f32-representable significands
  if (r.bit(0.1)) hi = (hi & 0xffffff00) >>> 0;
  let e: number;
  const m = r.int(10);
  if (m < 4) e = 0x3fff + r.int(140) - 70;
  else if (m < 5) e = 1 + r.int(80);
  else if (m < 6) e = 0x7ffe - r.int(80);
  else if (m < 7) e = 0x3fff - 0x3ff + r.int(120) - 60; // near the f64 range ends
  else if (m < 8) e = 0x3fff + 0x3ff + r.int(120) - 60;
  else if (m < 9) e = 0x3fff - 126 - r.int(40) + 20; // near the f32 underflow
  else e = 1 + r.int(0x7ffe);
  return [s | e, hi, lo];
}

/** A second operand related to the first (equal, near, same exponent...) or independent. */
export function relatedX(r: Rng, a: [number, number, number]): [number, number, number] {
  const k = r.int(10);
  if (k < 5) return randX(r);
  const [se, hi, lo] = a;
  if (k === 5) return [se ^ (r.bit() ? 0x8000 : 0), hi, lo];
  if (k === 6) return [se ^ (r.bit() ? 0x8000 : 0), hi, (lo + r.int(5) - 2) >>> 0];
  if (k === 7) {
    const e = Math.max(0, Math.min(0x7ffe, (se & 0x7fff) + r.int(130) - 65));
    return [(se & 0x8000) ^ (r.bit() ? 0x8000 : 0) | e, (hi | 0x80000000) >>> 0, word(r)];
  }
  if (k === 8) {
    // 1, or just below / above it: products that land next to a rounding boundary.
    const v = r.int(3);
    if (v === 0) return [(se & 0x8000) | 0x3fff, 0x80000000, 0];
    if (v === 1) return [(se & 0x8000) | 0x3ffe, 0xffffffff, (0xffffffff - r.int(0x1000)) >>> 0];
    return [(se & 0x8000) | 0x3fff, 0x80000000, r.int(0x1000)];
  }
  const e = Math.max(1, Math.min(0x7ffe, (se & 0x7fff) - r.int(64)));
  return [r.bit() ? 0x8000 | e : e, (word(r) | 0x80000000) >>> 0, word(r)];
}

/** Random binary64 bits [lo, hi] biased to edge cases. */
export function randF64(r: Rng): [number, number] {
  const s = r.bit() ? 0x80000000 : 0;
  if (r.bit(0.06)) {
    // Next to 1, or next to the smallest normal: products/quotients at the tininess boundary.
    const v = r.int(4);
    if (v === 0) return [(0xffffffff - r.int(16)) >>> 0, (s | 0x3fefffff) >>> 0];
    if (v === 1) return [r.int(16), (s | 0x3ff00000) >>> 0];
    if (v === 2) return [r.int(16), (s | 0x00100000) >>> 0];
    return [(0xffffffff - r.int(16)) >>> 0, (s | 0x000fffff) >>> 0];
  }
  const k = r.int(100);
  let fh = word(r) & 0xfffff, fl = word(r);
  if (k < 4) return [0, s];
  if (k < 7) return [0, (s | 0x7ff00000) >>> 0];
  if (k < 11) {
    fh = (fh & 0x7ffff) | (r.bit() ? 0x80000 : 0);
    if (fh === 0 && fl === 0) fl = 1;
    return [fl >>> 0, (s | 0x7ff00000 | fh) >>> 0];
  }
  if (k < 12) return [0, 0xfff80000];
  if (k < 20) return [fl >>> 0, (s | fh) >>> 0]; // denormal
  let e: number;
  const m = r.int(8);
  if (m < 3) e = 1023 + r.int(120) - 60;
  else if (m < 4) e = 1 + r.int(60);
  else if (m < 5) e = 2046 - r.int(60);
  else if (m < 6) e = 1023 + r.int(130) - 65 + (r.bit() ? 128 : -126); // f32 range ends
  else e = 1 + r.int(2046);
  if (r.bit(0.2)) fl = (fl & 0xe0000000) >>> 0; // f32-representable
  return [fl >>> 0, (s | (e << 20) | fh) >>> 0];
}

/** Random binary32 bits biased to edge cases. */
export function randF32(r: Rng): number {
  const s = r.bit() ? 0x80000000 : 0;
  if (r.bit(0.06)) {
    const v = r.int(4);
    return (s | [0x3f7ffff0 + r.int(16), 0x3f800000 + r.int(16), 0x00800000 + r.int(16), 0x007ffff0 + r.int(16)][v]!) >>> 0;
  }
  const k = r.int(100);
  let f = word(r) & 0x7fffff;
  if (k < 4) return s;
  if (k < 7) return (s | 0x7f800000) >>> 0;
  if (k < 11) {
    f = (f & 0x3fffff) | (r.bit() ? 0x400000 : 0);
    if (f === 0) f = 1;
    return (s | 0x7f800000 | f) >>> 0;
  }
  if (k < 12) return 0xffc00000;
  if (k < 20) return (s | f) >>> 0;
  let e: number;
  const m = r.int(6);
  if (m < 3) e = 127 + r.int(60) - 30;
  else if (m < 4) e = 1 + r.int(30);
  else if (m < 5) e = 254 - r.int(30);
  else e = 1 + r.int(254);
  return (s | (e << 23) | f) >>> 0;
}

/** Hex of bytes (for messages). */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
