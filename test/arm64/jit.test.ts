/**
 * The arm64 block JIT against the interpreter:
 * - self-modifying code (smc.S, no cache maintenance) and code userspace rewrites between runs
 *   give the new instructions' results on both engines and with a small hotness (cold, cached, translated);
 * - seeded random programs mixing data processing, every general-register load/store form,
 *   forward branches and counted loops end in the same registers, flags, memory, PC and retired
 *   count under both engines, also when the run budget cuts them anywhere;
 * - the translation actually happens (white-box counters), lazily under that hotness.
 */
import { describe, expect, it } from 'vitest';
import { KVM_GUESTDBG } from '../../src/uapi/constants.js';
import { KVM_GUESTDBG_ARM64 } from '../../src/uapi/arm64.js';
import { Rng } from './a64gen.js';
import { BRK0, CODE, DATA, RAM, randomProgram, type Program } from './random-programs.js';
import { armGuest, armMachine, ENGINES, jitStats, RAM_BASE, reg, useEngine, withEngine, type ArmMachine, type Engine } from './helpers.js';


/** Instructions retired by the vCPU (white-box). */
function retired(m: ArmMachine): number {
  const k = (m.sys as unknown as { kernel: { file(fd: number): { vcpu?: { archState: { cpu: { retired: number } } } } | undefined } }).kernel;
  return k.file(m.vcpu.fd)!.vcpu!.archState.cpu.retired;
}

function writeWords(m: ArmMachine, gpa: number, words: readonly number[]): void {
  const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
  words.forEach((w, i) => dv.setUint32(gpa - RAM_BASE + 4 * i, w >>> 0, true));
}

describe.each([...ENGINES, { name: 'jit (hotness 16: cold, cached, then translated)', jit: true, hotness: 16 }] as Engine[])('$name', (engine) => {
  useEngine(engine);

  it('self-modifying code without cache maintenance runs the new instructions at once', () => {
    const m = armMachine(armGuest('smc'));
    const e = m.vcpu.run();
    expect(e.reason).toBe('system_event');
    expect([19, 20, 21, 22, 23, 24].map((r) => m.x(r))).toEqual([42n, 140n, 99n, 15n, 5n, 6n]);
    const st = jitStats(m.sys, m.vcpu.fd);
    if (!engine.jit) expect(st).toBeNull();
    else {
      expect(st!.compiled).toBeGreaterThan(0);
      expect(st!.failed).toBe(0);
      // The subroutine, the same-block patch, three loop passes and the pair store each dropped translated code.
      expect(st!.invalidated).toBeGreaterThanOrEqual(engine.hotness === 0 ? 6 : 1);
    }
  });

  it('code userspace rewrites between runs is seen by the next KVM_RUN (also inside a hot loop)', () => {
    // loop: add x0, x0, #1; subs x1, x1, #1; b.ne loop; brk #0
    const code = [0x91000400, 0xf1000421, 0x54ffffc1, BRK0];
    const m = armMachine(new Uint8Array(0), { ramSize: 0x10000 });
    m.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
    const CODE = RAM_BASE + 0x1000;
    writeWords(m, CODE, code);
    const runLoop = (n: number): bigint => {
      m.setX(0, 0);
      m.setX(1, n);
      m.vcpu.setOneReg(reg.pc, CODE);
      const e = m.vcpu.run();
      expect(e.reason).toBe('debug');
      expect(m.pc()).toBe(BigInt(CODE + 12));
      return m.x(0);
    };
    expect(runLoop(100)).toBe(100n);
    expect(runLoop(100)).toBe(100n);
    writeWords(m, CODE, [0x91000c00]); // add x0, x0, #3
    expect(runLoop(100)).toBe(300n);
    // The loop's last word too: b.ne -> b.eq falls straight through after one pass.
    writeWords(m, CODE + 8, [0x54ffffc0]);
    expect(runLoop(100)).toBe(3n);
    // A block entered in its middle keeps its own identity: start at the SUBS.
    writeWords(m, CODE + 8, [0x54ffffc1]);
    m.setX(0, 0);
    m.setX(1, 5);
    m.vcpu.setOneReg(reg.pc, CODE + 4);
    expect(m.vcpu.run().reason).toBe('debug');
    expect(m.x(0)).toBe(12n); // first pass skips the add
  });

  it('a call inside a hot loop (one translated region: BL, RET predicted) sees its callee rewritten between runs and by the loop itself', () => {
    // loop: bl f; subs x1, x1, #1; b.ne loop; brk #0   ...   f (+0x20): add x0, x0, #1; ret
    const m = armMachine(new Uint8Array(0), { ramSize: 0x10000 });
    m.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
    const CODE = RAM_BASE + 0x1000;
    writeWords(m, CODE, [0x94000008, 0xf1000421, 0x54ffffc1, BRK0]);
    writeWords(m, CODE + 0x20, [0x91000400, 0xd65f03c0]);
    const run = (entry: number, n: number): bigint => {
      m.setX(0, 0);
      m.setX(1, n);
      m.setX(2, 0x91000800); // add x0, x0, #2
      m.setX(3, CODE + 0x20);
      m.vcpu.setOneReg(reg.pc, entry);
      expect(m.vcpu.run().reason).toBe('debug');
      return m.x(0);
    };
    expect(run(CODE, 300)).toBe(300n);
    expect(run(CODE, 300)).toBe(300n);
    if (engine.jit && engine.hotness !== 0) expect(jitStats(m.sys, m.vcpu.fd)!.regionBlocks).toBeGreaterThan(0);
    writeWords(m, CODE + 0x20, [0x91000c00]); // add x0, x0, #3
    expect(run(CODE, 300)).toBe(900n);
    // The loop stores `add x0, x0, #2` over the callee's first word before each call.
    const LOOP2 = CODE + 0x40;
    writeWords(m, LOOP2, [0xb9000062, 0x94000000 | (((CODE + 0x20 - (LOOP2 + 4)) >> 2) & 0x3ffffff), 0xf1000421, 0x54ffffa1, BRK0]);
    expect(run(LOOP2, 300)).toBe(600n);
    expect(run(CODE, 300)).toBe(600n);
  });

  it('a budget that ends inside a translated loop stops at the same instruction as the interpreter', () => {
    // loop: add x0, x0, #1; subs x1, x1, #1; b.ne loop; brk #0
    for (const budget of [1, 2, 3, 4, 5, 299, 300, 301, 1000]) {
      const m = armMachine(new Uint8Array(0), { ramSize: 0x10000, runBudget: budget });
      const CODE = RAM_BASE + 0x1000;
      writeWords(m, CODE, [0x91000400, 0xf1000421, 0x54ffffc1, BRK0]);
      m.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
      m.setX(1, 200);
      m.vcpu.setOneReg(reg.pc, CODE);
      const eintr = m.vcpu.run().reason === 'intr'; // EINTR at the budget, else the BRK
      expect(eintr).toBe(budget < 601);
      const done = Math.min(budget, 600);
      expect(retired(m)).toBe(done);
      // Each pass is 3 instructions: pc and x0 follow from the count alone.
      expect(m.x(0)).toBe(BigInt(Math.ceil(done / 3)));
      expect(m.pc()).toBe(BigInt(CODE + 4 * (done % 3)) + (done === 600 ? 12n : 0n));
    }
  });
});

// ---- random programs: JIT and interpreter must agree on everything ----------------------------

interface Outcome {
  exit: string;
  regs: bigint[];
  retired: number;
  data: Uint8Array;
  /** Blocks the JIT translated, and failed to. */
  compiled: number;
  failed: number;
  error: unknown;
}

function runProgram(p: Program, budget?: number): Outcome {
  const m = armMachine(new Uint8Array(0), { ramSize: RAM, ...(budget ? { runBudget: budget } : {}) });
  m.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
  writeWords(m, CODE, p.words);
  m.ram.bytes.set(p.data, DATA - RAM_BASE - 0x2000);
  for (let i = 0; i < 31; i++) m.vcpu.setOneReg(reg.x(i), p.x[i]!);
  m.vcpu.setOneReg(reg.spEl1, DATA + 0x100);
  m.vcpu.setOneReg(reg.pstate, BigInt((p.nzcv | 0x3c5) >>> 0));
  m.vcpu.setOneReg(reg.pc, CODE);
  let exit: string;
  try {
    const e = m.vcpu.run();
    exit = e.reason === 'debug' && e.arch.arch === 'arm64' ? `debug ${(e.arch.hsr >>> 26).toString(16)}` : e.reason === 'intr' ? 'EINTR' : e.reason;
  } catch (err) {
    exit = (err as { code?: string }).code ?? String(err);
  }
  const regs = Array.from({ length: 31 }, (_, i) => m.vcpu.getOneReg(reg.x(i)));
  regs.push(m.vcpu.getOneReg(reg.pstate), m.pc(), m.vcpu.getOneReg(reg.spEl1));
  return { exit, regs, retired: retired(m), data: m.ram.bytes.slice(DATA - RAM_BASE - 0x2000, DATA - RAM_BASE + 0x2000), compiled: jitStats(m.sys, m.vcpu.fd)?.compiled ?? 0, failed: jitStats(m.sys, m.vcpu.fd)?.failed ?? 0, error: jitStats(m.sys, m.vcpu.fd)?.lastError ?? null };
}

describe('random programs: the block JIT agrees with the interpreter', () => {
  const N = Number(process.env.VKVM_A64_JIT_N ?? 400);
  const [interp, jit] = ENGINES as [Engine, Engine];

  describe.each([false, true])('cut by the run budget: %s', (cut) => {
    it(`${N} programs (loads, stores, branches, loops) end in the same state`, { timeout: 120_000 }, () => {
      const rng = new Rng(0x5eed_1217 + (cut ? 1 : 0));
      const bad: string[] = [];
      let translated = 0;
      const exits: Record<string, number> = {};
      let instructions = 0;
      for (let k = 0; k < N && bad.length < 5; k++) {
        const p = randomProgram(rng);
        const budget = cut ? 1 + rng.below(60) : undefined;
        const a = withEngine(interp, () => runProgram(p, budget));
        const b = withEngine(jit, () => runProgram(p, budget));
        translated += b.compiled;
        if (b.failed) bad.push(`program ${k}: translation failed: ${String(b.error)}`);
        exits[a.exit] = (exits[a.exit] ?? 0) + 1;
        instructions += a.retired;
        const diffs: string[] = [];
        if (a.exit !== b.exit) diffs.push(`exit ${a.exit} vs ${b.exit}`);
        if (a.retired !== b.retired) diffs.push(`retired ${a.retired} vs ${b.retired}`);
        a.regs.forEach((v, i) => {
          if (v !== b.regs[i]) diffs.push(`${i < 31 ? `x${i}` : ['pstate', 'pc', 'sp'][i - 31]}: ${v.toString(16)} vs ${b.regs[i]!.toString(16)}`);
        });
        const memDiff = a.data.findIndex((v, i) => v !== b.data[i]);
        if (memDiff >= 0) diffs.push(`memory at data${memDiff - 0x2000}`);
        if (diffs.length) bad.push(`program ${k} (${p.words.map((w) => (w >>> 0).toString(16).padStart(8, '0')).join(' ')}): ${diffs.join('; ')}`);
      }
      expect(bad).toEqual([]);
      // Uncut, every program ends at its BRK (none faults); cut, the budget stops many of them.
      if (!cut) expect(exits).toEqual({ 'debug 3c': N });
      else expect(exits.EINTR).toBeGreaterThan(N / 4);
      expect(translated).toBeGreaterThan(N); // the JIT side really ran translated blocks
      expect(instructions).toBeGreaterThan(N * 5);
    });
  });
});
