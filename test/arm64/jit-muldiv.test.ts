/**
 * arm64 64-bit multiplies and divides in translated code (the Emitter's mul64 / mulHigh64 /
 * div64 forms: MUL/MADD/MSUB, SMADDL/UMSUBL, SMULH/UMULH, UDIV/SDIV and their 32-bit forms)
 * against the BigInt formulation, under the interpreter and the block JIT: one loop block reads
 * operand triples and stores every result, over operands of every magnitude around the helpers'
 * path boundaries (2^21, 2^32, 2^51, 2^53, 2^63, negative ones, a zero divisor, INT64_MIN / -1).
 */
import { describe, expect, it } from 'vitest';
import { KVM_GUESTDBG } from '../../src/uapi/constants.js';
import { KVM_GUESTDBG_ARM64 } from '../../src/uapi/arm64.js';
import { runToExit } from '../helpers/run.js';
import { armMachine, ENGINES, jitStats, RAM_BASE, reg, useEngine, type Engine } from './helpers.js';

const M64 = (1n << 64n) - 1n;
const u64 = (v: bigint) => BigInt.asUintN(64, v);
const s64 = (v: bigint) => BigInt.asIntN(64, v);
const u32 = (v: bigint) => BigInt.asUintN(32, v);
const s32 = (v: bigint) => BigInt.asIntN(32, v);

const IN = 0x10_0000; // operand triples (offset in RAM), then 12 results per triple

const madd = (base: number, d: number, n: number, m: number, a: number, sub = 0) => (base | (m << 16) | (sub << 15) | (a << 10) | (n << 5) | d) >>> 0;
const dp2 = (base: number, d: number, n: number, m: number) => (base | (m << 16) | (n << 5) | d) >>> 0;
const stpPost = (t: number, t2: number, n: number) => (0xa8800000 | (2 << 15) | (t2 << 10) | (n << 5) | t) >>> 0;

/** The loop: x25 walks the operands, x28 the results, x26 counts. */
const LOOP = [
  (0xa8c00000 | (2 << 15) | (2 << 10) | (25 << 5) | 1) >>> 0, // ldp x1, x2, [x25], #16
  (0xf8400400 | (8 << 12) | (25 << 5) | 3) >>> 0, // ldr x3, [x25], #8
  madd(0x9b000000, 4, 1, 2, 31), // mul x4, x1, x2
  madd(0x9b000000, 5, 1, 2, 3), // madd x5, x1, x2, x3
  madd(0x9b000000, 6, 1, 2, 3, 1), // msub x6, x1, x2, x3
  madd(0x9b200000, 7, 1, 2, 3), // smaddl x7, w1, w2, x3
  madd(0x9ba00000, 8, 1, 2, 3, 1), // umsubl x8, w1, w2, x3
  madd(0x9b400000, 9, 1, 2, 31), // smulh x9, x1, x2
  madd(0x9bc00000, 10, 1, 2, 31), // umulh x10, x1, x2
  dp2(0x9ac00800, 11, 1, 2), // udiv x11, x1, x2
  dp2(0x9ac00c00, 12, 1, 2), // sdiv x12, x1, x2
  dp2(0x1ac00800, 13, 1, 2), // udiv w13, w1, w2
  dp2(0x1ac00c00, 14, 1, 2), // sdiv w14, w1, w2
  madd(0x1b000000, 15, 1, 2, 3), // madd w15, w1, w2, w3
  stpPost(4, 5, 28),
  stpPost(6, 7, 28),
  stpPost(8, 9, 28),
  stpPost(10, 11, 28),
  stpPost(12, 13, 28),
  stpPost(14, 15, 28),
  0xf1000400 | (26 << 5) | 26, // subs x26, x26, #1
  (0x54000001 | ((-21 & 0x7ffff) << 5)) >>> 0, // b.ne loop
  0xd4200000, // brk #0
];

function model(a: bigint, b: bigint, c: bigint): bigint[] {
  const [as, bs] = [s64(a), s64(b)];
  const [wa, wb] = [u32(a), u32(b)];
  const sdiv = (x: bigint, y: bigint) => (y === 0n ? 0n : x / y);
  return [
    u64(a * b),
    u64(c + a * b),
    u64(c - a * b),
    u64(c + s32(wa) * s32(wb)),
    u64(c - wa * wb),
    u64((as * bs) >> 64n),
    (a * b) >> 64n,
    b === 0n ? 0n : a / b,
    u64(sdiv(as, bs)), // INT64_MIN / -1 wraps to INT64_MIN
    wb === 0n ? 0n : wa / wb,
    u32(sdiv(s32(wa), s32(wb))),
    u32(c + wa * wb),
  ];
}

/** Operands of every magnitude around the helpers' path boundaries, both signs, and random widths. */
function operands(): bigint[] {
  const out: bigint[] = [0n, 1n, 2n, 3n, 7n, 0xffff0001n, 0x9e3779b97f4a7c15n, 0x0123456789abcdefn, 1n << 63n, (1n << 63n) - 1n, M64];
  for (const k of [12, 20, 21, 22, 31, 32, 33, 50, 51, 52, 53, 54, 62, 63]) {
    for (const d of [-3n, -1n, 0n, 1n, 5n]) {
      const v = (1n << BigInt(k)) + d;
      out.push(u64(v), u64(-v));
    }
  }
  let x = 0x243f6a8885a308d3n;
  for (let i = 0; i < 200; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & M64;
    const v = x >> BigInt(Number(x >> 58n));
    out.push(v, u64(-v));
  }
  return out;
}

describe.each(ENGINES as Engine[])('$name', (engine) => {
  useEngine(engine);

  it('MUL/MADD/MSUB/SMADDL/UMSUBL/SMULH/UMULH/UDIV/SDIV (64 and 32-bit) equal the BigInt results', { timeout: 60_000 }, () => {
    const ops = operands();
    const triples: [bigint, bigint, bigint][] = [[1n << 63n, M64, 5n]];
    // One-word divisors whose rounded double quotient is one too low (found by search; the
    // translated UDIV/SDIV corrects it from the exact remainder): unsigned, and as the magnitude
    // of a negative dividend.
    for (const [n, d] of [[0x40831efac872adadn, 0x206a83n], [0x85dec6efae04331fn, 0x22f03en], [0x8d2046f25eebe394n, 0x2b2551n]] as const) {
      triples.push([n, d, 0n], [u64(-n), d, 0n], [n, u64(-d), 1n]);
    }
    for (let i = 0; i < ops.length; i++) for (let j = i % 5; j < ops.length; j += 5) triples.push([ops[i]!, ops[j]!, ops[(i + j) % ops.length]!]);
    const OUT = IN + triples.length * 24;
    const m = armMachine(new Uint8Array(0), { ramSize: Math.ceil((OUT + triples.length * 96) / 0x10_0000) * 0x10_0000 });
    const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
    LOOP.forEach((w, i) => dv.setUint32(0x1000 + 4 * i, w, true));
    triples.forEach(([a, b, c], i) => {
      dv.setBigUint64(IN + 24 * i, a, true);
      dv.setBigUint64(IN + 24 * i + 8, b, true);
      dv.setBigUint64(IN + 24 * i + 16, c, true);
    });
    m.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
    m.setX(25, RAM_BASE + IN);
    m.setX(28, RAM_BASE + OUT);
    m.setX(26, triples.length);
    m.vcpu.setOneReg(reg.pc, RAM_BASE + 0x1000);
    expect(runToExit(m.vcpu).reason).toBe('debug');
    const names = ['mul', 'madd', 'msub', 'smaddl', 'umsubl', 'smulh', 'umulh', 'udiv', 'sdiv', 'udiv32', 'sdiv32', 'madd32'];
    const bad: string[] = [];
    triples.forEach(([a, b, c], i) => {
      model(a, b, c).forEach((want, k) => {
        const got = dv.getBigUint64(OUT + 96 * i + 8 * k, true);
        if (got !== want) bad.push(`${names[k]} ${a.toString(16)} ${b.toString(16)} ${c.toString(16)}: ${got.toString(16)}, want ${want.toString(16)}`);
      });
    });
    expect(bad.slice(0, 8)).toEqual([]);
    expect(triples.length).toBeGreaterThan(10_000);
    const st = jitStats(m.sys, m.vcpu.fd);
    if (engine.jit) expect(st!.compiled).toBeGreaterThan(0);
  });
});
