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
import { Rng } from './a64gen.js';
import { CODE, DATA, RAM, randomProgram, type Program, type ProgramForms } from './random-programs.js';
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

const PAGES = (WASM_LAYOUT.ram + RAM) / 65536;
/** The wasm probe's programs: the flag corners too; no LDR (literal) or writeback pairs (the forms it was written for). */
const FORMS: ProgramForms = { literal: false, writebackPairs: false, flagCorners: true };

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
      const p = randomProgram(rng, FORMS);
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
