/**
 * The BigInt-free 64-bit MUL/IMUL/DIV/IDIV (src/arch/arith64.ts and x86 exec/muldiv.ts) against
 * the BigInt formulation they replaced, on random and edge operands:
 *  - the word-level helpers directly (products, quotients, remainders, #DE conditions);
 *  - the instructions in a guest, every operand size, under every engine: RAX/RDX, CF/OF, and
 *    #DE (a triple fault here: the test guest has no IDT) with RIP left on the instruction.
 */
import { describe, expect, it } from 'vitest';
import { divs128, divu128, imul64, muls64, mulu64, W } from '../../src/arch/arith64.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { CODE, runProgram } from '../helpers/x86.js';
import { Rng } from '../fuzz/rng.js';
import { EDGE, M64, model, OPEXT, rand64, type Op } from '../helpers/muldiv.js';

const u64 = (x: bigint) => BigInt.asUintN(64, x);
const s64 = (x: bigint) => BigInt.asIntN(64, x);
const lo = (x: bigint) => Number(BigInt.asIntN(32, x));
const hi = (x: bigint) => Number(BigInt.asIntN(32, x >> 32n));
const words = (...xs: bigint[]) => xs.flatMap((x) => [lo(x), hi(x)]);

describe('x86 64-bit multiply/divide without BigInt: helpers vs BigInt', () => {
  it('mulu64 / muls64: the full 128-bit product', { timeout: 60_000 }, () => {
    const r = new Rng(0x64d1);
    const pairs: [bigint, bigint][] = [];
    for (const a of EDGE) for (const b of EDGE) pairs.push([a, b]);
    for (let n = 0; n < 20_000; n++) pairs.push([rand64(r), rand64(r)]);
    const bad: string[] = [];
    const same = (want: number[]) => want.every((w, k) => W[k] === w);
    for (const [a, b] of pairs) {
      const [a0, a1, b0, b1] = words(a, b);
      mulu64(a0!, a1!, b0!, b1!);
      const pu = a * b;
      if (!same(words(pu & M64, pu >> 64n))) bad.push(`mulu ${a} * ${b}: ${[...W]}`);
      muls64(a0!, a1!, b0!, b1!);
      const ps = BigInt.asUintN(128, s64(a) * s64(b));
      if (!same(words(ps & M64, ps >> 64n))) bad.push(`muls ${a} * ${b}: ${[...W]}`);
    }
    expect(pairs.length).toBeGreaterThan(20_000);
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('imul64: the low 64 bits and signed overflow, also for products at 2^63', () => {
    const r = new Rng(0x1a64);
    const pairs: [bigint, bigint][] = [];
    for (const a of EDGE) for (const b of EDGE) pairs.push([a, b]);
    // Products at and next to +-2^63, where the double product cannot decide.
    const near = [[1n << 31n, 1n << 32n], [3037000499n, 3037000499n], [3037000500n, 3037000500n], [3037000499n, 3037000500n], [(1n << 62n) + 1n, 2n], [1n << 62n, 2n], [(1n << 63n) - 1n, 1n]];
    for (const [a, b] of near) for (const [sa, sb] of [[1n, 1n], [1n, -1n], [-1n, 1n], [-1n, -1n]]) pairs.push([u64(a! * sa!), u64(b! * sb!)]);
    for (let n = 0; n < 20_000; n++) pairs.push([rand64(r), rand64(r)]);
    const bad: string[] = [];
    let ovf = 0;
    for (const [a, b] of pairs) {
      const [a0, a1, b0, b1] = words(a, b);
      const got = imul64(a0!, a1!, b0!, b1!);
      const p = s64(a) * s64(b);
      const want = p !== s64(p);
      if (want) ovf++;
      if (got !== want || W[0] !== lo(p) || W[1] !== hi(p)) bad.push(`imul64 ${s64(a)} * ${s64(b)}: ${got} ${W[0]} ${W[1]}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(ovf).toBeGreaterThan(1000);
  });

  it('divu128 / divs128: quotient, remainder and #DE', { timeout: 60_000 }, () => {
    const r = new Rng(0xd1f0);
    const cases: [bigint, bigint, bigint][] = [];
    for (const a of EDGE) for (const b of EDGE) for (const h of [0n, 1n, M64, 0x7fff_ffff_ffff_ffffn]) cases.push([h, a, b]);
    for (let n = 0; n < 20_000; n++) {
      const d = rand64(r);
      // High halves below the divisor mostly (no #DE), sometimes not; sign-extended ones for IDIV.
      const k = r.int(4);
      const h = k === 0 ? 0n : k === 1 && d > 0n ? rand64(r) % d : k === 2 ? M64 : rand64(r);
      cases.push([h, rand64(r), d]);
    }
    const bad: string[] = [];
    const same = (want: number[]) => want.every((w, k) => W[k] === w);
    let des = 0;
    for (const [h, l, d] of cases) {
      const n = (h << 64n) | l;
      const [n0, n1, n2, n3, d0, d1] = words(l, h, d);
      // Unsigned.
      const okU = divu128(n0!, n1!, n2!, n3!, d0!, d1!);
      const deU = d === 0n || n / d > M64;
      if (okU === deU) bad.push(`divu ${n} / ${d}: #DE ${!okU}, want ${deU}`);
      else if (okU && !same(words(n / d, n % d))) bad.push(`divu ${n} / ${d}: ${[...W]}`);
      // Signed.
      const ns = BigInt.asIntN(128, n);
      const ds = s64(d);
      const okS = divs128(n0!, n1!, n2!, n3!, d0!, d1!);
      const q = ds === 0n ? 0n : ns / ds;
      const deS = ds === 0n || q < -(1n << 63n) || q > (1n << 63n) - 1n;
      if (okS === deS) bad.push(`divs ${ns} / ${ds}: #DE ${!okS}, want ${deS}`);
      else if (okS && !same(words(u64(q), u64(ns % ds)))) bad.push(`divs ${ns} / ${ds}: ${[...W]}`);
      if (deU) des++;
    }
    expect(bad.slice(0, 5)).toEqual([]);
    // Both outcomes were exercised.
    expect(des).toBeGreaterThan(1000);
    expect(des).toBeLessThan(cases.length - 1000);
  });
});

// ---- the instructions in a guest -----------------------------------------------------------

/** Encodes `op` on RBX (BL/BX/EBX/RBX) as the source, RAX (and RDX) implied, then HLT. */
function encode(op: Op, size: number, imm: number): Uint8Array {
  const pre = size === 2 ? [0x66] : size === 8 ? [0x48] : [];
  let b: number[];
  if (op === 'imul2') b = [...pre, 0x0f, 0xaf, 0xc3]; // imul eax, ebx
  else if (op === 'imul3') b = [...pre, 0x69, 0xc3, ...(size === 2 ? [imm & 0xff, (imm >>> 8) & 0xff] : [imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, (imm >>> 24) & 0xff])];
  else b = [...pre, size === 1 ? 0xf6 : 0xf7, 0xc3 | (OPEXT[op]! << 3)];
  return new Uint8Array([...b, 0xf4]);
}

for (const engine of X86_ENGINES)
  describe(`x86 MUL/IMUL/DIV/IDIV in a guest vs the BigInt model, ${engine.name}`, () => {
    it('random and edge operands, every size', { timeout: 120_000 }, () => {
      const r = new Rng(engine.name === 'jit' ? 0x1a : 0x2b);
      const ops: Op[] = ['mul', 'imul', 'div', 'idiv', 'imul2', 'imul3'];
      const failures: string[] = [];
      let de = 0;
      for (let n = 0; n < 360; n++) {
        const op = ops[n % ops.length]!;
        const size = [1, 2, 4, 8][(n / ops.length) & 3]!;
        if ((op === 'imul2' || op === 'imul3') && size === 1) continue;
        const rax = rand64(r);
        let rdx = rand64(r);
        const rbx = r.int(8) === 0 ? 0n : rand64(r);
        // Mostly dividends whose high half is below the divisor (no #DE), some not.
        if ((op === 'div' || op === 'idiv') && r.int(3) !== 0 && rbx !== 0n) {
          const bits = BigInt(size * 8);
          const m = (1n << bits) - 1n;
          rdx = op === 'idiv' ? ((rax >> (bits - 1n)) & 1n ? M64 : 0n) : (rdx & m) % (rbx & m || 1n);
        }
        const imm = r.u32() | 0;
        const want = model(op, size, rax, rdx, rbx, imm);
        const t = runProgram(engineSys(engine), { mode: 'long64', code: encode(op, size, imm), regs: { rax, rdx, rbx }, maxExits: 2 });
        const last = t.exits[t.exits.length - 1]!;
        const got = last.regs;
        const tag = `${op}${size * 8} rax=${rax.toString(16)} rdx=${rdx.toString(16)} rbx=${rbx.toString(16)} imm=${imm}`;
        if (want === 'DE') {
          de++;
          if (t.end !== 'shutdown' || BigInt(got.rip!) !== BigInt(CODE)) failures.push(`${tag}: expected #DE, got ${t.end} rip ${got.rip}`);
          continue;
        }
        const flags = BigInt(got.rflags!);
        const cfof = [(flags & 1n) !== 0n, (flags & 0x800n) !== 0n];
        const ok = t.end === 'hlt' && BigInt(got.rax!) === want.rax && BigInt(got.rdx!) === want.rdx && (want.cfof === undefined || (cfof[0] === want.cfof && cfof[1] === want.cfof));
        if (!ok) failures.push(`${tag}: want rax=${want.rax.toString(16)} rdx=${want.rdx.toString(16)} cf=of=${want.cfof}, got ${t.end} rax=${got.rax} rdx=${got.rdx} rflags=${got.rflags}`);
      }
      expect(failures.slice(0, 5)).toEqual([]);
      expect(de).toBeGreaterThan(10);
    });

    it('#DE after other instructions of the block, register and memory divisors: RIP on the divide, what ran before retired', () => {
      // inc rcx; inc rcx; div rbx / div qword [rsi] / idiv ebx; hlt, with a zero divisor: the
      // test guest has no IDT, so #DE ends in a triple fault with RIP on the divide.
      for (const div of [[0x48, 0xf7, 0xf3], [0x48, 0xf7, 0x36], [0xf7, 0xfb]]) {
        const code = new Uint8Array([0x48, 0xff, 0xc1, 0x48, 0xff, 0xc1, ...div, 0xf4]);
        const t = runProgram(engineSys(engine), { mode: 'long64', code, regs: { rax: 5n, rdx: 0n, rbx: 0n, rcx: 0n, rsi: BigInt(CODE + 0x800) }, maxExits: 2 });
        const got = t.exits[t.exits.length - 1]!.regs;
        expect(t.end, div.join()).toBe('shutdown');
        expect(BigInt(got.rip!), div.join()).toBe(BigInt(CODE + 6));
        expect(BigInt(got.rcx!), div.join()).toBe(2n);
      }
    });
  });
