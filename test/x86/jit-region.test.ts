/**
 * Translated regions of the x86 block JIT (blocks.ts `region`, emit-js.ts `JsEmitter`): a hot
 * block translated with the blocks of its page it reaches, moving between them without the run
 * loop (direct jumps, calls, fall-throughs, predicted returns). The guest (test/guests/x86/jit/
 * region.asm) runs at a low and a kernel-half address (negative as a JS number), at CPL 0 and
 * CPL 3, and a probe access leaves it at MMIO (a load that unwinds to an exit, a store that exits
 * after itself) or at a #PF (a triple fault here: no IDT) while the code around it runs translated,
 * or a push of the recursion runs into a page that is not present (the stack page kept in locals).
 * Every exit, with all registers, RFLAGS, CR2 and the data, must be the interpreter's.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { virtualSys, type VcpuExit } from '../../src/index.js';
import { TEST_RUN_TIMEOUT_MS, runToExit } from '../helpers/run.js';
import { x86JitStats, type X86JitStats } from '../helpers/engines.js';
import { CODE, DATA, KBASE, longModeVcpu, mapUserAndKernelHalf, RAM, STACK } from '../helpers/x86.js';

const GUEST = new Uint8Array(readFileSync(join(resolve(__dirname, '../..'), 'test/guests/x86/jit/region.bin')));
const PDPT_HI = 0x5000;
const ROUNDS = 200;
/** The round whose probe reaches MMIO / the unmapped page (of ROUNDS). */
const HIT = 150;

/** Offset in the guest of `getv`'s immediate (region.asm; the test rewrites it between runs). */
const GETV_IMM = 0x6f;
/**
 * Every KVM_RUN ends after this many instructions at most (EINTR at a block boundary): the
 * registers at each stop show that translated regions count retired instructions exactly.
 */
const BUDGET = 7777;

// The JS JIT's regions (jitEngine 'js' whatever VKVM_JIT_ENGINE says: the wasm engine's hot blocks
// are not made regions; test/x86/wasm-engine.test.ts checks that engine).
const ENGINES = [
  { name: 'interpreter', opts: { jit: false } },
  { name: 'jit', opts: { jit: true, jitHotness: 0, jitEngine: 'js' } },
  { name: 'jit, hotness 40', opts: { jit: true, jitHotness: 40, jitEngine: 'js' } },
] as const;

type Probe = 'ram' | 'mmio load' | 'mmio store' | '#PF' | 'stack #PF';

interface Outcome {
  exits: string[];
  data: string;
  stats: (X86JitStats & { regionBlocks?: number }) | null;
}

function run(engine: (typeof ENGINES)[number], high: boolean, cpl3: boolean, probe: Probe): Outcome {
  const sys = virtualSys({ arch: 'x86_64', runTimeoutMs: TEST_RUN_TIMEOUT_MS, runBudget: BUDGET, ...engine.opts });
  const { vm, vcpu, ram } = longModeVcpu(sys, (m, dv) => {
    // User-accessible identity map of the low 1 GiB, and the kernel half (KBASE + x -> x) through it.
    mapUserAndKernelHalf(dv, PDPT_HI);
    // Past RAM (2 MiB): MMIO, or for the #PF probe a 2 MiB page that is not present.
    if (probe === '#PF') dv.setBigUint64(0x4000 + 8, 0n, true);
    // The stack #PF: 4 KiB pages for the low 2 MiB, the page below STACK not present.
    if (probe === 'stack #PF') {
      for (let i = 0; i < 512; i++) dv.setBigUint64(0x6000 + 8 * i, i === (STACK >> 12) - 1 ? 0n : BigInt(i * 4096) | 7n, true);
      dv.setBigUint64(0x4000, 0x6000n | 7n, true);
    }
    m.set(GUEST, CODE);
    for (let i = 0; i < 64; i++) dv.setBigUint64(DATA + 8 * i, BigInt(i) * 0x0123456789abn, true);
  });
  const code = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, ram.bytes.length);
  if (cpl3) {
    const s = vcpu.getSregs();
    const data = { ...s.ds, selector: 0x23, dpl: 3 };
    vcpu.setSregs({ ...s, cs: { ...s.cs, selector: 0x1b, dpl: 3 }, ss: data, ds: data, es: data });
  }
  const base = high ? KBASE : 0n;
  // The probe walks 8 bytes a round; round HIT reaches its target, RAM's end (MMIO or not present).
  const target = probe === 'ram' || probe === 'stack #PF' ? 0x30000n + 8n * BigInt(HIT) : BigInt(RAM);
  vcpu.setRegs({
    ...vcpu.getRegs(),
    rip: base + BigInt(CODE),
    // The stack probe: RSP moves down 8 bytes a round, and round HIT's recursion (23 qwords deep)
    // is the first to push below STACK.
    rsp: base + BigInt(STACK) + (probe === 'stack #PF' ? 0xa8n + 8n * BigInt(HIT) : 0n),
    r9: probe === 'stack #PF' ? 8n : 0n,
    rbx: base + BigInt(DATA),
    rdi: BigInt(ROUNDS),
    r14: base + target - 8n * BigInt(HIT),
    r15: 8n,
    r11: probe === 'mmio store' ? 1n : 0n,
    rflags: cpl3 ? 0x3002n : 2n, // IOPL 3: the closing OUT runs at CPL 3 too
  });
  const exits: string[] = [];
  let rewrites = 0;
  for (let n = 0; n < 400; n++) {
    const e: VcpuExit = runToExit(vcpu);
    const r = vcpu.getRegs();
    const regs = Object.entries(r).map(([k, v]) => `${k}=${(v as bigint).toString(16)}`).join(' ');
    const detail = e.reason === 'mmio' ? ` ${e.isWrite ? 'write' : 'read'} ${e.physAddr.toString(16)}/${e.len}` : e.reason === 'io' ? ` port ${e.port.toString(16)}` : '';
    exits.push(`${e.reason}${detail} cr2=${vcpu.getSregs().cr2.toString(16)} ${regs}`);
    if (e.reason === 'intr') continue;
    if (e.reason === 'mmio') {
      if (!e.isWrite) e.data.fill(0x5a);
      continue;
    }
    if (e.reason !== 'io' || rewrites === 40) break;
    // Then the VMM rewrites getv's immediate before each run: the next OUT 0x84 must show it.
    if (e.port === 0x84) expect(r.rax, `rewrite ${rewrites}`).toBe(BigInt(0x1000 + rewrites));
    code.setUint32(CODE + GETV_IMM, 0x1000 + ++rewrites, true);
  }
  let h = 0;
  for (let i = DATA; i < DATA + 1024; i++) h = (Math.imul(h, 31) + ram.bytes[i]!) | 0;
  const out = { exits, data: h.toString(16), stats: x86JitStats(sys, vcpu.fd) as Outcome['stats'] };
  vcpu.close();
  vm.close();
  return out;
}

describe('x86 JIT regions agree with the interpreter', () => {
  for (const high of [false, true])
    for (const cpl3 of [false, true])
      for (const probe of ['ram', 'mmio load', 'mmio store', '#PF', 'stack #PF'] as Probe[]) {
        it(`${high ? 'kernel half' : 'low half'}, CPL ${cpl3 ? 3 : 0}, probe: ${probe}`, () => {
          const [ref, ...jits] = ENGINES.map((e) => run(e, high, cpl3, probe));
          const seen = (re: RegExp) => ref!.exits.some((x) => re.test(x));
          expect(seen(/^intr /)).toBe(true);
          if (probe === 'ram') expect(ref!.exits.filter((x) => /^io port 84 /.test(x)).length).toBe(40);
          else if (probe === '#PF') expect(ref!.exits[ref!.exits.length - 1]).toMatch(high ? /^shutdown cr2=ffffffff80200000 / : /^shutdown cr2=200000 /);
          else if (probe === 'stack #PF') expect(ref!.exits[ref!.exits.length - 1]).toMatch(high ? /^shutdown cr2=ffffffff8007eff8 / : /^shutdown cr2=7eff8 /);
          else expect(seen(probe === 'mmio load' ? /^mmio read 200000\/8 / : /^mmio write 200000\/8 /)).toBe(true);
          for (const j of jits) {
            expect(j.exits).toEqual(ref!.exits);
            expect(j.data).toBe(ref!.data);
            expect(j.stats!.failed, String(j.stats!.lastError)).toBe(0);
            // Blocks were translated into other blocks' regions.
            expect(j.stats!.regionBlocks).toBeGreaterThan(0);
          }
        });
      }
});
