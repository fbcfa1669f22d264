/**
 * The wasm probe (src/arch/arm64/emit-wasm.ts, `npm run bench:wasm`) must compute what the
 * interpreter computes: the arm64 benchmark guest (CRC-32, sieve, fib, memcpy) runs with its
 * translated blocks replaced by the module's code, and its checksum, X0-X30/SP, NZCV, PC and
 * guest RAM must equal an interpreter-only run's, with the module chained and unchained. Then
 * random programs (data processing from the decoder's table with corner-case operands, loads and
 * stores of every form the JIT inlines, loops, forward branches): the interpreter and the wasm
 * module written from the same program's translated blocks end in the same state.
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { virtualSys } from '../../src/index.js';
import { KVM_GUESTDBG } from '../../src/uapi/constants.js';
import { KVM_GUESTDBG_ARM64 } from '../../src/uapi/arm64.js';
import { WASM_LAYOUT } from '../../src/arch/arm64/wasm-module.js';
import { Rng, randomInsn } from './a64gen.js';
import { RAM_BASE, reg } from './helpers.js';
import { TEST_RUN_TIMEOUT_MS } from '../helpers/run.js';
import { image, MIX, runGuest } from '../../bench/guests.js';
import { armVm, bootArm, finalState, hotBlocks, installWasm, probeModule, PROBE_PAGES, wasmMemory, type FinalState } from '../../bench/wasm-probe.js';
import type { Block } from '../../src/arch/arm64/blocks.js';

const root = resolve(__dirname, '../..');
const img = image(root, 'arm64');
/** Translate after a few executions, so a short run spends most of its time in wasm. */
const HOT = 4;
const ROUNDS = 2;

describe('arm64 wasm probe', () => {
  let ref: FinalState;
  let refSum: number;
  let blocks: Block[];

  beforeAll(() => {
    const g = bootArm(virtualSys({ arch: 'arm64', jit: false }), img, ROUNDS, MIX);
    refSum = runGuest(g).checksum;
    ref = finalState(g);
    g.close();
    const w = bootArm(virtualSys({ arch: 'arm64', jitHotness: HOT }), img, ROUNDS, MIX);
    runGuest(w);
    blocks = hotBlocks(w.cpu());
    w.close();
  });

  it('the interpreter run is the known checksum (bench/guests/work.expect)', () => {
    expect(refSum).toBe(0x8ae05c6f);
  });

  for (const [chain, shared] of [[true, false], [false, false], [true, true]] as const) {
    it(`the wasm blocks (${chain ? 'chained' : 'one per entry'}${shared ? ', register file in wasm memory' : ''}) compute what the interpreter does`, () => {
      const code = probeModule(blocks, chain);
      // The hot loops of the mix are in the module (crc32, sieve, fib, memcpy: well over ten blocks).
      expect(code.blocks.length).toBeGreaterThan(10);
      const memory = wasmMemory(PROBE_PAGES);
      const g = bootArm(virtualSys({ arch: 'arm64', jitHotness: HOT }), img, ROUNDS, MIX, memory);
      const wb = installWasm(g, code, memory, shared);
      const r = runGuest(g);
      const st = finalState(g);
      const retired = g.cpu().retired;
      g.close();
      expect(r.checksum).toBe(refSum);
      expect(st).toEqual(ref);
      // It really ran there: most instructions, and the TLB misses through the interpreter.
      expect(wb.insns / retired).toBeGreaterThan(0.8);
      expect(wb.slow).toBeGreaterThan(0);
      if (!chain) expect(wb.entries).toBeGreaterThan(1e5);
    });
  }

  it('leaves out blocks it cannot write (they stay JS) and says why', () => {
    const code = probeModule(blocks, true);
    for (const r of code.rejected) expect(r.why).toMatch(/\S/);
    expect(code.blocks.length + code.rejected.length).toBe(blocks.length);
  });
});

// ---- random programs ------------------------------------------------------------------------------

const BRK0 = 0xd4200000 | 0;
const CODE = RAM_BASE + 0x1000;
const DATA = RAM_BASE + 0x10000; // x25, x28 and SP point here; accesses stay within +-8 KiB
const RAM = 0x20000;
const PAGES = (WASM_LAYOUT.ram + RAM) / 65536;
const u = (v: number) => v | 0;

/** A load or store (unsigned offset, unscaled, pre/post-index, register offset, pair) inside the data area. */
function randomLdst(rng: Rng): number {
  const dst = () => (rng.below(8) === 0 ? 31 : rng.below(25));
  const src = () => rng.below(32);
  let size: number;
  let opc: number;
  do {
    size = rng.below(4);
    opc = rng.below(4);
  } while ((size === 3 && opc >= 2) || (size === 2 && opc === 3));
  const rt = opc === 0 ? src() : dst();
  const base = rng.below(3) === 0 ? 31 : 28;
  switch (rng.below(5)) {
    case 0:
      return u((size << 30) | (0b111001 << 24) | (opc << 22) | (rng.below(64) << 10) | (base << 5) | rt);
    case 1:
      return u((size << 30) | (0b111000 << 24) | (opc << 22) | ((((rng.below(32) - 16) << size) & 0x1ff) << 12) | (base << 5) | rt);
    case 2: // pre/post-index on x25 by multiples of 16
      return u((size << 30) | (0b111000 << 24) | (opc << 22) | ((((rng.below(17) - 8) * 16) & 0x1ff) << 12) | ((rng.below(2) ? 1 : 3) << 10) | (25 << 5) | rt);
    case 3: // register offset x27 (UXTW, LSL, SXTW, SXTX), scaled or not
      return u((size << 30) | (0b111000 << 24) | (opc << 22) | (1 << 21) | (27 << 16) | ([2, 3, 6, 7][rng.below(4)]! << 13) | (rng.below(2) << 12) | (0b10 << 10) | (28 << 5) | rt);
    default: {
      const popc = [0, 1, 2][rng.below(3)]!;
      const load = popc === 1 ? 1 : rng.below(2);
      const p1 = load ? rng.below(25) : src();
      let p2 = load ? rng.below(25) : src();
      if (load && p2 === p1) p2 = (p1 + 1) % 25;
      return u((popc << 30) | (0b101 << 27) | (2 << 23) | (load << 22) | (((rng.below(32) - 16) & 0x7f) << 15) | (p2 << 10) | (base << 5) | p1);
    }
  }
}

function randomDp(rng: Rng): number {
  for (;;) {
    const { word } = randomInsn(rng);
    const rd = word & 31;
    if (rd < 25 || rd > 28) return word;
  }
}

/** SUBS/ADDS with #0 and CMN #0 (64 and 32 bits): the carry and overflow corners of flag setting. */
function flagCorner(rng: Rng): number {
  const d = rng.below(2) ? 31 : rng.below(25);
  const n = rng.below(31);
  return u([0xf1000000, 0x71000000, 0xb1000000, 0x31000000][rng.below(4)]! | (n << 5) | d);
}

const straight = (rng: Rng) => (rng.below(8) === 0 ? flagCorner(rng) : rng.below(3) === 0 ? randomLdst(rng) : randomDp(rng));

interface Program {
  words: number[];
  x: bigint[];
  nzcv: number;
  data: Uint8Array;
}

function randomProgram(rng: Rng): Program {
  const words: number[] = [];
  for (let s = 1 + rng.below(5); s > 0; s--) {
    switch (rng.below(3)) {
      case 0: {
        // movz x26, #n; body; subs x26, x26, #1; b.ne body (or sub + cbnz): a self-loop block
        words.push(u(0xd2800000 | ((1 + rng.below(6)) << 5) | 26));
        const top = words.length;
        for (let i = 1 + rng.below(8); i > 0; i--) words.push(straight(rng));
        if (rng.below(2)) {
          words.push(u(0xf1000400 | (26 << 5) | 26));
          words.push(u(0x54000001 | (((top - words.length) & 0x7ffff) << 5)));
        } else {
          words.push(u(0xd1000400 | (26 << 5) | 26));
          words.push(u(0xb5000000 | (((top - words.length) & 0x7ffff) << 5) | 26));
        }
        break;
      }
      case 1: {
        // b.cond / cbz / tbz over 1-3 instructions: chained blocks
        const skip = 1 + rng.below(3);
        const off = ((skip + 1) & 0x7ffff) << 5;
        const r = rng.below(31);
        const kind = rng.below(3);
        if (kind === 0) words.push(u(0x54000000 | off | rng.below(16)));
        else if (kind === 1) words.push(u((rng.below(2) << 31) | 0x34000000 | (rng.below(2) << 24) | off | r));
        else {
          const bit = rng.below(64);
          words.push(u(((bit >> 5) << 31) | 0x36000000 | (rng.below(2) << 24) | ((bit & 31) << 19) | (((skip + 1) & 0x3fff) << 5) | r));
        }
        for (let i = 0; i < skip; i++) words.push(straight(rng));
        break;
      }
      default:
        for (let i = 1 + rng.below(10); i > 0; i--) words.push(straight(rng));
    }
  }
  words.push(BRK0);
  const x = Array.from({ length: 31 }, () => rng.value());
  x[25] = BigInt(DATA);
  x[26] = 0n;
  x[27] = BigInt(8 * rng.below(32));
  x[28] = BigInt(DATA);
  const data = new Uint8Array(0x4000);
  for (let i = 0; i < data.length; i += 4) new DataView(data.buffer).setUint32(i, rng.u32(), true);
  return { words, x, nzcv: rng.below(16) << 28, data };
}

interface Outcome {
  exit: string;
  regs: bigint[];
  retired: number;
  data: Uint8Array;
  blocks: Block[];
  wasm: number;
}

/** Runs `p` to its BRK: interpreted, JS-translated (hotness 0), or with `code` in place of the translations. */
function runProgram(p: Program, engine: 'interp' | 'js' | 'wasm', code?: ReturnType<typeof probeModule>, shared = false): Outcome {
  const memory = wasmMemory(PAGES);
  const g = armVm(virtualSys({ arch: 'arm64', runTimeoutMs: TEST_RUN_TIMEOUT_MS, jit: engine !== 'interp', jitHotness: 0 }), RAM, memory);
  const v = g.vcpu;
  v.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
  p.words.forEach((w, i) => new DataView(g.ram.buffer, g.ram.byteOffset).setInt32(CODE - RAM_BASE + 4 * i, w, true));
  g.ram.set(p.data, DATA - RAM_BASE - 0x2000);
  for (let i = 0; i < 31; i++) v.setOneReg(reg.x(i), p.x[i]!);
  v.setOneReg(reg.spEl1, DATA + 0x100);
  v.setOneReg(reg.pstate, BigInt((p.nzcv | 0x3c5) >>> 0));
  v.setOneReg(reg.pc, CODE);
  g.prime();
  const wb = engine === 'wasm' ? installWasm(g, code!, memory, shared) : undefined;
  let e = v.run();
  while (e.reason === 'intr') e = v.run();
  const exit = e.reason === 'debug' && e.arch.arch === 'arm64' ? `debug ${(e.arch.hsr >>> 26).toString(16)}` : e.reason;
  const regs = Array.from({ length: 31 }, (_, i) => v.getOneReg(reg.x(i)));
  regs.push(v.getOneReg(reg.pstate), v.getOneReg(reg.pc), v.getOneReg(reg.spEl1));
  const out = { exit, regs, retired: g.cpu().retired, data: g.ram.slice(DATA - RAM_BASE - 0x2000, DATA - RAM_BASE + 0x2000), blocks: engine === 'js' ? hotBlocks(g.cpu()) : [], wasm: wb?.insns ?? 0 };
  g.close();
  return out;
}

describe('random programs: the wasm module agrees with the interpreter', () => {
  const N = Number(process.env.VKVM_A64_WASM_N ?? 150);
  it(`${N} programs end in the same state`, { timeout: 120_000 }, () => {
    const rng = new Rng(0x3a5d_0618);
    const bad: string[] = [];
    let inWasm = 0;
    let rejected = 0;
    let total = 0;
    const why = new Map<string, number>();
    for (let k = 0; k < N && bad.length < 5; k++) {
      const p = randomProgram(rng);
      const a = runProgram(p, 'interp');
      const blocks = runProgram(p, 'js').blocks;
      const code = probeModule(blocks, true, PAGES);
      rejected += code.rejected.length;
      for (const r of code.rejected) why.set(r.why, (why.get(r.why) ?? 0) + 1);
      const b = runProgram(p, 'wasm', code, k % 2 === 1);
      inWasm += b.wasm;
      total += a.retired;
      const diffs: string[] = [];
      if (a.exit !== b.exit) diffs.push(`exit ${a.exit} vs ${b.exit}`);
      if (a.retired !== b.retired) diffs.push(`retired ${a.retired} vs ${b.retired}`);
      a.regs.forEach((v, i) => {
        if (v !== b.regs[i]) diffs.push(`${i < 31 ? `x${i}` : ['pstate', 'pc', 'sp'][i - 31]}: ${v.toString(16)} vs ${b.regs[i]!.toString(16)}`);
      });
      const at = a.data.findIndex((v, i) => v !== b.data[i]);
      if (at >= 0) diffs.push(`memory at data${at - 0x2000}`);
      if (diffs.length) bad.push(`program ${k} (${p.words.map((w) => (w >>> 0).toString(16).padStart(8, '0')).join(' ')}): ${diffs.join('; ')}`);
    }
    expect(bad).toEqual([]);
    // The wasm side really ran most of the work (blocks with handler calls stay JS).
    expect(inWasm).toBeGreaterThan(N * 10);
    expect(rejected).toBeLessThan(N);
  });
});
