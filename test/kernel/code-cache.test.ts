/**
 * The code cache bound (VirtualSysOptions.codeCacheLimit): a guest running far more distinct code
 * than the bound (bench/cold.ts's straight-line guests, run three times so blocks are seen again
 * and cached) never holds more decoded instructions than the bound, the cache is flushed when it
 * would pass it, and the guest computes the same registers as with the default bound, on x86 and
 * arm64, interpreter and block JIT. Cold code seen once is not cached at all on x86.
 */
import { describe, expect, it } from 'vitest';
import { boot, coldArm, coldX86, runToEnd } from '../../bench/cold.js';
import { coreRegId } from '../../src/uapi/arm64.js';

const N = 40_000;
const LIMIT = 4096;

interface Stats {
  cachedInsns: number;
  flushes: number;
  compiled: number;
}

function run(arch: 'x86_64' | 'arm64', loops: number, opts: { jit: boolean; jitHotness?: number; codeCacheLimit?: number }): { regs: string; stats: Stats; peak: number } {
  const code = arch === 'x86_64' ? coldX86(N, loops) : coldArm(N, loops);
  const g = boot(arch, code, 8 << 20, opts);
  try {
    const st = (g.sys as unknown as { kernel: { file(fd: number): { vcpu: { archState: Record<string, unknown> } } } }).kernel.file(g.vcpu.fd).vcpu.archState;
    const stats = (): Stats => {
      if (arch === 'x86_64') {
        const j = st.jitStats as Stats;
        return { cachedInsns: j.cachedInsns, flushes: j.flushes, compiled: j.compiled };
      }
      const j = (st.cpu as { jit: Stats | null }).jit;
      return j ? { cachedInsns: j.cachedInsns, flushes: j.flushes, compiled: j.compiled } : { cachedInsns: 0, flushes: 0, compiled: 0 };
    };
    // Sample the cache size at every exit-free slice too: run with a small budget.
    let peak = 0;
    const origRun = g.vcpu.run.bind(g.vcpu);
    g.vcpu.run = () => {
      try {
        return origRun();
      } finally {
        peak = Math.max(peak, stats().cachedInsns);
      }
    };
    runToEnd(arch, g.vcpu);
    const regs =
      arch === 'x86_64'
        ? JSON.stringify(g.vcpu.getRegs(), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))
        : [0, 1, 2, 3, 4].map((r) => g.vcpu.getOneReg(coreRegId('regs.regs') + BigInt(2 * r)).toString(16)).join(' ');
    return { regs, stats: stats(), peak };
  } finally {
    g.close();
  }
}

for (const arch of ['x86_64', 'arm64'] as const)
  describe(`code cache bound (${arch})`, () => {
    for (const jit of [false, true])
      it(`${N} distinct instructions run 3 times stay within codeCacheLimit ${LIMIT} (${jit ? 'block JIT' : 'interpreter'})`, { timeout: 120_000 }, () => {
        const ref = run(arch, 3, { jit, runBudget: 5000 } as never);
        const small = run(arch, 3, { jit, codeCacheLimit: LIMIT, runBudget: 5000 } as never);
        expect(small.regs).toBe(ref.regs);
        if (arch === 'arm64' && !jit) {
          // The arm64 interpreter decodes every instruction as it runs: it caches nothing.
          expect(small.peak).toBe(0);
          return;
        }
        expect(small.peak).toBeLessThanOrEqual(LIMIT);
        expect(small.peak).toBeGreaterThan(LIMIT / 2);
        expect(small.stats.flushes).toBeGreaterThan(0);
        // The default bound holds this guest whole (no flush) once its code repeats.
        expect(ref.stats.flushes).toBe(0);
        expect(ref.peak).toBeGreaterThan(LIMIT);
      });
  });

describe('x86 cold code is not cached', () => {
  it('code run once leaves no decoded block behind; code run twice is cached', () => {
    expect(run('x86_64', 1, { jit: true }).stats.cachedInsns).toBeLessThan(64);
    expect(run('x86_64', 2, { jit: true }).stats.cachedInsns).toBeGreaterThan(N * 0.9);
  });
});

describe('x86 block crossing a page boundary', () => {
  // A hot loop whose third instruction (mov edx, imm32) starts 2 bytes before a page end, as a
  // loop of the x86 kernel's XZ decompressor does. Entry 0x100000; the loop at 0x100ff8.
  const ENTRY = 0x100000;
  const LOOP = 0x100ff8;
  function loopGuest(): Uint8Array {
    const code = new Uint8Array(0x1020).fill(0x90); // nop
    code.set([0xb9, 0xa0, 0x86, 0x01, 0x00, 0x31, 0xc0, 0x31, 0xdb, 0xe9], 0); // mov ecx, 100000; xor eax, eax; xor ebx, ebx; jmp rel32 LOOP
    new DataView(code.buffer).setInt32(10, LOOP - (ENTRY + 14), true);
    const body = [0x83, 0xc0, 0x03, 0x01, 0xc3, 0x01, 0xc3, 0xba, 0x78, 0x56, 0x34, 0x12, 0x01, 0xd3, 0xff, 0xc9, 0x75, 0xee, 0xf4];
    // add eax, 3; add ebx, eax; add ebx, eax; mov edx, 0x12345678 (crosses); add ebx, edx; dec ecx; jnz LOOP; hlt
    code.set(body, LOOP - ENTRY);
    return code;
  }
  for (const jit of [false, true])
    it(`the instructions before the crossing one are cached (${jit ? 'block JIT' : 'interpreter'}); the loop computes the same`, { timeout: 60_000 }, () => {
      const g = boot('x86_64', loopGuest(), 4 << 20, { jit });
      try {
        runToEnd('x86_64', g.vcpu);
        const r = g.vcpu.getRegs();
        // eax = 3n, ebx = sum over k of 2*3k + 0x12345678 (mod 2^32), n = 100000.
        const n = 100000n;
        expect(r.rax).toBe(3n * n);
        expect(r.rbx).toBe((3n * n * (n + 1n) + 0x12345678n * n) & 0xffffffffn);
        expect(r.rcx).toBe(0n);
        const st = (g.sys as unknown as { kernel: { file(fd: number): { vcpu: { archState: { blocks: { blocks: Map<number, { insns: unknown[] }> } } } } } }).kernel.file(g.vcpu.fd).vcpu.archState;
        // Before: the block at LOOP crossed the page, was decoded at every iteration and never cached.
        expect(st.blocks.blocks.get(LOOP)?.insns.length).toBe(3);
      } finally {
        g.close();
      }
    });
});
