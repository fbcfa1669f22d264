/**
 * The arm64 JIT's wasm engine (src/arch/arm64/wasm-engine.ts, emit-wasm.ts, wasm-module.ts) must
 * compute what the interpreter computes: the arm64 benchmark guest (CRC-32, sieve, fib, memcpy)
 * ends with the same checksum, X0-X30/SP, NZCV, PC and guest RAM under the interpreter, the JS
 * engine and the wasm engine, with most instructions retired in wasm; then random programs (data
 * processing with corner-case operands, loads and stores of every form the JIT inlines, loops,
 * branches) translated at first sight end in the same state, exit and retired count as the
 * interpreter's. Guest RAM outside the process's wasm memory takes the TLB-miss path and the
 * region goes back to the JS translation, with the same results.
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { virtualSys } from '../../src/index.js';
import { KVM_GUESTDBG } from '../../src/uapi/constants.js';
import { KVM_GUESTDBG_ARM64 } from '../../src/uapi/arm64.js';
import { wasmRam } from '../../src/kernel/hva.js';
import { Rng } from './a64gen.js';
import { ALL_FORMS, BRK0, CODE, DATA, RAM, randomProgram, type Program, type ProgramForms } from './random-programs.js';
import { RAM_BASE, reg } from './helpers.js';
import { TEST_RUN_TIMEOUT_MS } from '../helpers/run.js';
import { image, MIX, runGuest } from '../../bench/guests.js';
import { board, irqExpect, irqGuest } from './gic-board.js';
import { WasmVcpu, type WasmRegion } from '../../src/arch/arm64/wasm-engine.js';
import { armVm, bootArm, finalState, wasmMemory, wasmStats, PROBE_PAGES, type FinalState } from '../../bench/wasm-probe.js';

const root = resolve(__dirname, '../..');
const img = image(root, 'arm64');
/** Translate after a few executions, so a short run spends most of its time in wasm. */
const HOT = 4;
const ROUNDS = 2;
const hasWasm = wasmRam() !== null;

describe.skipIf(!hasWasm)('arm64 wasm engine on the bench guest', () => {
  let ref: FinalState;
  let refSum: number;

  beforeAll(() => {
    const g = bootArm(virtualSys({ arch: 'arm64', jit: false }), img, ROUNDS, MIX);
    refSum = runGuest(g).checksum;
    ref = finalState(g);
    g.close();
  });

  it('the interpreter run is the known checksum (bench/guests/work.expect)', () => {
    expect(refSum).toBe(0x8ae05c6f);
  });

  for (const engine of ['js', 'wasm'] as const) {
    it(`the ${engine} engine computes what the interpreter does`, () => {
      const g = bootArm(virtualSys({ arch: 'arm64', jitHotness: HOT, jitEngine: engine }), img, ROUNDS, MIX);
      const r = runGuest(g);
      const st = finalState(g);
      const retired = g.cpu().retired;
      const wv = wasmStats(g.cpu());
      g.close();
      expect(r.checksum).toBe(refSum);
      expect(st).toEqual(ref);
      if (engine === 'js') {
        expect(wv).toBeNull();
        return;
      }
      // It really ran there: most instructions, and the TLB misses through the interpreter.
      expect(wv!.insns / retired).toBeGreaterThan(0.8);
      expect(wv!.slow).toBeGreaterThan(0);
      expect(wv!.regions).toBeGreaterThan(3);
      expect(wv!.demoted).toBe(0);
    });
  }

  it('guest RAM outside the wasm memory: the same results, the regions go back to JS', () => {
    // A memslot over another shared memory's buffer: the wasm TLB never maps it.
    const other = wasmMemory(PROBE_PAGES);
    const g = bootArm(virtualSys({ arch: 'arm64', jitHotness: HOT, jitEngine: 'wasm' }), img, ROUNDS, MIX, other);
    const r = runGuest(g);
    const st = finalState(g);
    const wv = wasmStats(g.cpu());
    g.close();
    expect(r.checksum).toBe(refSum);
    expect(st).toEqual(ref);
    expect(wv!.demoted).toBeGreaterThan(0);
  });
});

describe.skipIf(!hasWasm)('kernel-half addresses and EL0 in wasm', () => {
  it('el0 guest (MMU on, EL0 code, kernel-half handlers, timer and SPI interrupts): the same output, both halves ran in wasm', () => {
    const regions: WasmRegion[] = [];
    WasmVcpu.trace = (r) => regions.push(r);
    try {
      const b = board(irqGuest('el0'), { sys: virtualSys({ arch: 'arm64', jitEngine: 'wasm', jitHotness: 0 }), uartIrq: 'irqfd' });
      b.runToEnd();
      expect(b.uart.out).toBe(irqExpect('el0'));
    } finally {
      WasmVcpu.trace = null;
    }
    const ran = (f: (r: WasmRegion) => boolean) => regions.filter(f).reduce((s, r) => s + r.insns, 0);
    // Block mode bit 0 is the EL; kernel-half addresses are negative numbers.
    expect(ran((r) => (r.code.blocks[0]!.mode & 1) === 0)).toBeGreaterThan(0);
    expect(ran((r) => (r.code.blocks[0]!.mode & 1) === 1 && r.code.blocks[0]!.va < 0)).toBeGreaterThan(0);
  });
});

// ---- random programs ------------------------------------------------------------------------------

interface Outcome {
  exit: string;
  regs: bigint[];
  retired: number;
  data: Uint8Array;
  wasm: number;
  /** Instructions the wasm engine left to the interpreter (TLB misses, faults). */
  slow: number;
}

/** An identity map of RAM (one level-1 block, 39-bit VAs) and the TCR_EL1.TBI bits `tbi`, with tagged data bases. */
interface Mmu {
  readonly tbi: number;
  /** The top byte given to x25, x28 and SP. */
  readonly tag: number;
}
const L1 = RAM_BASE + 0x18000;
const VECTORS = RAM_BASE + 0x19000;

/** Runs `p` to its BRK: interpreted, or translated at first sight by `engine`; `mmu`: with the MMU on and tagged bases. */
function runProgram(p: Program, engine: 'interp' | 'js' | 'wasm', mmu?: Mmu): Outcome {
  const g = armVm(virtualSys({ arch: 'arm64', runTimeoutMs: TEST_RUN_TIMEOUT_MS, jit: engine !== 'interp', jitHotness: 0, jitEngine: engine === 'js' ? 'js' : 'wasm' }), RAM);
  const v = g.vcpu;
  v.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
  p.words.forEach((w, i) => new DataView(g.ram.buffer, g.ram.byteOffset).setInt32(CODE - RAM_BASE + 4 * i, w, true));
  g.ram.set(p.data, DATA - RAM_BASE - 0x2000);
  for (let i = 0; i < 31; i++) v.setOneReg(reg.x(i), p.x[i]!);
  v.setOneReg(reg.spEl1, DATA + 0x100);
  v.setOneReg(reg.pstate, BigInt((p.nzcv | 0x3c5) >>> 0));
  v.setOneReg(reg.pc, CODE);
  if (mmu) {
    // L1[1]: a 1 GiB block at 0x40000000 (AF, inner shareable, MAIR attribute 0), EL1 read/write.
    new DataView(g.ram.buffer, g.ram.byteOffset).setBigUint64(L1 - RAM_BASE + 8, BigInt(RAM_BASE | 0x701), true);
    v.setOneReg(reg.sys(3, 0, 10, 2, 0), 0xffn); // MAIR_EL1
    v.setOneReg(reg.sys(3, 0, 2, 0, 0), BigInt(L1)); // TTBR0_EL1
    // T0SZ 25, IRGN0/ORGN0 write-back, SH0 inner, EPD1, IPS 48 bits, TBI0/TBI1.
    v.setOneReg(reg.sys(3, 0, 2, 0, 2), 25n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 23n) | (5n << 32n) | (BigInt(mmu.tbi) << 37n));
    v.setOneReg(reg.SCTLR_EL1, v.getOneReg(reg.SCTLR_EL1) | 1n);
    // Exception vectors of BRKs: a fault (a tag where TBI does not apply) ends the run too.
    for (let o = 0; o < 0x800; o += 4) new DataView(g.ram.buffer, g.ram.byteOffset).setInt32(VECTORS - RAM_BASE + o, BRK0, true);
    v.setOneReg(reg.VBAR_EL1, BigInt(VECTORS));
    const tagged = (a: bigint) => a | (BigInt(mmu.tag) << 56n);
    v.setOneReg(reg.x(25), tagged(p.x[25]!));
    v.setOneReg(reg.x(28), tagged(p.x[28]!));
    v.setOneReg(reg.spEl1, tagged(BigInt(DATA + 0x100)));
  }
  g.prime();
  let e = v.run();
  for (let n = 0; e.reason === 'intr'; n++) {
    if (n > 100) throw new Error('the program did not reach its BRK');
    e = v.run();
  }
  const exit = e.reason === 'debug' && e.arch.arch === 'arm64' ? `debug ${(e.arch.hsr >>> 26).toString(16)}` : e.reason;
  const regs = Array.from({ length: 31 }, (_, i) => v.getOneReg(reg.x(i)));
  regs.push(v.getOneReg(reg.pstate), v.getOneReg(reg.pc), v.getOneReg(reg.spEl1), v.getOneReg(reg.ESR_EL1), v.getOneReg(reg.FAR_EL1));
  const out = { exit, regs, retired: g.cpu().retired, data: g.ram.slice(DATA - RAM_BASE - 0x2000, DATA - RAM_BASE + 0x2000), wasm: wasmStats(g.cpu())?.insns ?? 0, slow: wasmStats(g.cpu())?.slow ?? 0 };
  g.close();
  return out;
}

describe.skipIf(!hasWasm)('random programs: the wasm engine agrees with the interpreter', () => {
  const N = Number(process.env.VKVM_A64_WASM_N ?? 150);
  for (const [name, forms] of [
    ['the flag corners', { literal: false, writebackPairs: false, flagCorners: true }],
    ['every form (LDR literal, writeback pairs)', ALL_FORMS],
  ] as [string, ProgramForms][]) {
    it(`${N} programs with ${name} end in the same state`, { timeout: 120_000 }, () => {
      const rng = new Rng(name === 'the flag corners' ? 0x3a5d_0618 : 0x5eed_0a64);
      const bad: string[] = [];
      let inWasm = 0;
      for (let k = 0; k < N && bad.length < 5; k++) {
        const p = randomProgram(rng, forms);
        const a = runProgram(p, 'interp');
        const b = runProgram(p, 'wasm');
        inWasm += b.wasm;
        const diffs: string[] = [];
        if (a.exit !== b.exit) diffs.push(`exit ${a.exit} vs ${b.exit}`);
        if (a.retired !== b.retired) diffs.push(`retired ${a.retired} vs ${b.retired}`);
        a.regs.forEach((v, i) => {
          if (v !== b.regs[i]) diffs.push(`${i < 31 ? `x${i}` : ['pstate', 'pc', 'sp', 'esr', 'far'][i - 31]}: ${v.toString(16)} vs ${b.regs[i]!.toString(16)}`);
        });
        const at = a.data.findIndex((v, i) => v !== b.data[i]);
        if (at >= 0) diffs.push(`memory at data${at - 0x2000}`);
        if (diffs.length) bad.push(`program ${k} (${p.words.map((w) => (w >>> 0).toString(16).padStart(8, '0')).join(' ')}): ${diffs.join('; ')}`);
      }
      expect(bad).toEqual([]);
      // The wasm side really ran most of the work.
      expect(inWasm).toBeGreaterThan(N * 10);
    });
  }

  // TBI0, TBI1, both (top byte ignored where the tag's bit 55 selects a TBI half; else the
  // tagged address faults): every engine must agree on results, faults and retired counts.
  for (const [tbi, tag] of [[1, 0x5a], [3, 0x5a], [2, 0x5a], [1, 0xa5], [3, 0xff]] as const) {
    it(`MMU on, TCR_EL1.TBI ${tbi}, tag 0x${tag.toString(16)}: 40 programs end in the same state`, { timeout: 120_000 }, () => {
      const rng = new Rng(0x7b10_0000 + tbi * 256 + tag);
      const bad: string[] = [];
      let inWasm = 0;
      let slow = 0;
      for (let k = 0; k < 40 && bad.length < 5; k++) {
        const p = randomProgram(rng, ALL_FORMS);
        const a = runProgram(p, 'interp', { tbi, tag });
        const b = runProgram(p, 'wasm', { tbi, tag });
        const c = runProgram(p, 'js', { tbi, tag });
        inWasm += b.wasm;
        slow += b.slow;
        for (const [name, o] of [['wasm', b], ['js', c]] as const) {
          const diffs: string[] = [];
          if (a.exit !== o.exit) diffs.push(`exit ${a.exit} vs ${o.exit}`);
          if (a.retired !== o.retired) diffs.push(`retired ${a.retired} vs ${o.retired}`);
          a.regs.forEach((v, i) => {
            if (v !== o.regs[i]) diffs.push(`${i < 31 ? `x${i}` : ['pstate', 'pc', 'sp', 'esr', 'far'][i - 31]}: ${v.toString(16)} vs ${o.regs[i]!.toString(16)}`);
          });
          if (a.data.findIndex((v, i) => v !== o.data[i]) >= 0) diffs.push('memory');
          if (diffs.length) bad.push(`${name}, program ${k}: ${diffs.join('; ')}`);
        }
      }
      expect(bad).toEqual([]);
      // Tagged addresses hit the wasm TLB (a missed tag strip would send every access to the
      // interpreter, with the same results).
      if (tbi !== 2) {
        expect(inWasm).toBeGreaterThan(100);
        expect(slow * 4).toBeLessThan(inWasm);
      }
    });
  }
});
