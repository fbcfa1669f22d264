/**
 * The x86 JIT's regions are compiled once per process and shared by every VM whose region has the
 * same source (compile-js.ts `compileJs`): what a region reads of its VM (decoded instructions,
 * TLB, member blocks) comes in as arguments. Several VMs run the guest test/guests/x86/jit/
 * shared.asm in turns (KVM_RUNs interleaved at an instruction budget), at a low and a kernel-half
 * address, at CPL 0 and 3: the same bytes at the same address in two VMs (the region is shared),
 * other bytes at the same address (the leaf's immediate: another source), the guest rewriting
 * that immediate itself after each phase (self-modifying code in a region's member), and a phase
 * that loads from a supervisor page (read at CPL 0, a #PF at CPL 3 through the region CPL 0 ran
 * first; at CPL 0 the walk goes on to MMIO in phase 6). Every exit, with all registers, must be
 * what the interpreter gives for that VM alone.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { virtualSys, type Vcpu } from '../../src/index.js';
import { regionCache } from '../../src/arch/x86/compile-js.js';
import { TEST_RUN_TIMEOUT_MS } from '../helpers/run.js';
import { x86JitStats, type X86JitStats } from '../helpers/engines.js';
import { CODE, DATA, KBASE, longModeVcpu, mapUserAndKernelHalf, STACK } from '../helpers/x86.js';

const GUEST = new Uint8Array(readFileSync(join(resolve(__dirname, '../..'), 'test/guests/x86/jit/shared.bin')));
/** Offset of the leaf's `mov eax, imm32` immediate in the guest. */
const LEAF_IMM = 0x33;
const PDPT_HI = 0x5000;
/** Loop rounds per phase: a region forms in the first phase (hotness 40: after 20480 retired). */
const ROUNDS = 8000;
/** The load walks from DATA to the supervisor 2 MiB page at linear 0x200000 in two steps (phase 3). */
const STEP = (0x200000 - DATA) / 2;

interface Setup {
  readonly high: boolean;
  readonly cpl3: boolean;
  /** The leaf's immediate the VM starts with. */
  readonly imm: number;
  /** Seeds the data the loop loads (each VM's own: a region must read its VM's RAM). */
  readonly seed: number;
}

interface Guest {
  readonly vcpu: Vcpu;
  readonly exits: string[];
  readonly stats: () => (X86JitStats & { regionBlocks?: number; regionsAtOnce?: number }) | null;
  done: boolean;
  close(): void;
}

function boot(jit: boolean, g: Setup): Guest {
  const opts = jit ? { jit: true, jitHotness: 40, jitEngine: 'js' as const } : { jit: false };
  const sys = virtualSys({ arch: 'x86_64', runTimeoutMs: TEST_RUN_TIMEOUT_MS, runBudget: 5555, ...opts });
  const { vm, vcpu } = longModeVcpu(sys, (m, dv) => {
    // User-accessible identity map of the low 1 GiB, the kernel half (KBASE + x -> x) through it,
    // and linear 2 MiB-4 MiB mapped to RAM's first 2 MiB for the supervisor only.
    mapUserAndKernelHalf(dv, PDPT_HI);
    dv.setBigUint64(0x4000 + 8, 0x83n, true);
    m.set(GUEST, CODE);
    dv.setUint32(CODE + LEAF_IMM, g.imm, true);
    for (let i = 0; i < 0x200000; i += 4096) dv.setUint32(i + 0x800, Math.imul(i + 3, 7 + 2 * g.seed), true);
  });
  if (g.cpl3) {
    const s = vcpu.getSregs();
    const data = { ...s.ds, selector: 0x23, dpl: 3 };
    vcpu.setSregs({ ...s, cs: { ...s.cs, selector: 0x1b, dpl: 3 }, ss: data, ds: data, es: data });
  }
  const base = g.high ? KBASE : 0n;
  vcpu.setRegs({ ...vcpu.getRegs(), rip: base + BigInt(CODE), rsp: base + BigInt(STACK), rdi: BigInt(ROUNDS), rsi: base + BigInt(DATA + 0x800), r15: BigInt(STEP), rflags: g.cpl3 ? 0x3002n : 2n });
  return {
    vcpu,
    exits: [],
    stats: () => x86JitStats(sys, vcpu.fd) as ReturnType<Guest['stats']>,
    done: false,
    close() {
      vcpu.close();
      vm.close();
    },
  };
}

/** One KVM_RUN of `g`: a non-EINTR exit is recorded with all registers and CR2; any but OUT ends the run. */
function step(g: Guest): void {
  const e = g.vcpu.run();
  if (e.reason === 'intr') return;
  const regs = Object.entries(g.vcpu.getRegs()).map(([k, v]) => `${k}=${(v as bigint).toString(16)}`).join(' ');
  const detail = e.reason === 'io' ? ` port ${e.port.toString(16)}` : e.reason === 'mmio' ? ` ${e.isWrite ? 'write' : 'read'} ${e.physAddr.toString(16)}/${e.len}` : '';
  g.exits.push(`${e.reason}${detail} cr2=${g.vcpu.getSregs().cr2.toString(16)} ${regs}`);
  if (e.reason !== 'io' || g.exits.length > 10) g.done = true;
}

/**
 * Runs the setups' JIT VMs in turns, one KVM_RUN each (`inTurn` false: each to its end, one after
 * the other); each must agree with its interpreter run.
 */
function agree(setups: readonly Setup[], inTurn = true): { exits: string[]; stats: NonNullable<ReturnType<Guest['stats']>> }[] {
  const jits = setups.map((s) => boot(true, s));
  if (!inTurn) for (const g of jits) while (!g.done) step(g);
  for (let n = 0; n < 100_000 && jits.some((g) => !g.done); n++) for (const g of jits) if (!g.done) step(g);
  setups.forEach((s, i) => {
    const ref = boot(false, s);
    while (!ref.done) step(ref);
    const j = jits[i]!;
    expect(j.exits, `VM ${i}`).toEqual(ref.exits);
    expect(j.stats()!.failed, String(j.stats()!.lastError)).toBe(0);
    expect(j.stats()!.regionBlocks, `VM ${i} ran regions`).toBeGreaterThan(0);
    ref.close();
  });
  const out = jits.map((g) => ({ exits: g.exits, stats: g.stats()! }));
  for (const g of jits) g.close();
  return out;
}

describe('x86 JIT regions shared between VMs agree with the interpreter', () => {
  for (const high of [false, true])
    for (const cpl3 of [false, true])
      it(`${high ? 'kernel half' : 'low half'}, CPL ${cpl3 ? 3 : 0}`, () => {
        const hits = regionCache.hits;
        // VMs 0 and 1 run the same bytes (shared regions), VM 2 another immediate at the same
        // address, VM 3 starts where VM 0's own rewrites take it after one phase.
        const imm = 0x11111111;
        const gs = agree([imm, imm, 0x22222222, imm + 0x101].map((i, seed) => ({ high, cpl3, imm: i, seed })));
        expect(regionCache.hits, 'regions were shared').toBeGreaterThan(hits);
        const outs = gs.map((g) => g.exits.filter((x) => x.startsWith('io port 90 ')).length);
        // CPL 3 faults at phase 3's load (the supervisor page): a triple fault, no IDT. CPL 0
        // reads it, and phase 6's load is past RAM (MMIO).
        expect(outs).toEqual(cpl3 ? [2, 2, 2, 2] : [5, 5, 5, 5]);
        const end = cpl3 ? (high ? /^shutdown cr2=ffffffff80200800 / : /^shutdown cr2=200800 /) : /^mmio read 4d0800\/4 /;
        for (const g of gs) expect(g.exits[g.exits.length - 1]).toMatch(end);
      });

  it('a region run at CPL 0 and then, in another VM, at CPL 3 (same bytes and address) faults at the supervisor page', () => {
    agree([false, true].map((cpl3, seed) => ({ high: false, cpl3, imm: 0x11111111, seed })));
  });

  it('a VM after another that ran the same code translates its regions at once (blocks.ts regionEntries)', () => {
    for (const high of [false, true]) {
      const gs = agree([0, 1, 2].map((seed) => ({ high, cpl3: seed === 2, imm: 0x11111111, seed })), false);
      // (And VM 0 too when the tests above ran: the same code, and its own rewrites.)
      expect(gs[1]!.stats.regionsAtOnce).toBeGreaterThan(0);
      expect(gs[2]!.stats.regionsAtOnce).toBeGreaterThan(0);
    }
  });
});
