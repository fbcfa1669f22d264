/**
 * SMP on x86: two vCPUs of one VM on two worker threads run a spinlock + counters guest
 * (test/guests/x86/smp/counter.asm) and every count is exact; without the lock the plain counter
 * loses increments (the negative control showing the threads really interleave).
 */
import { describe, expect, it } from 'vitest';
import { isNativeAvailable, nativeSys, virtualSys } from '../../src/index.js';
import { guest } from '../helpers/guests.js';
import { runX86, X86_CODE, X86_MODES as MODES, type X86Run } from './machines.js';

function expectExact(r: X86Run, n: number, nv = 2, split = true): void {
  const total = BigInt(n * nv);
  expect(r.reports.map((x) => x.exits.at(-1))).toEqual(Array(nv).fill('hlt'));
  expect(r.counts.PLAIN).toBe(total);
  expect(r.counts.XADD64).toBe(total);
  expect(r.counts.INC32).toBe(total);
  expect(r.counts.ADD16).toBe(total & 0xffffn);
  expect(r.counts.SUB64).toBe(BigInt.asUintN(64, -total));
  expect(r.counts.CAS64).toBe(total);
  expect(r.counts.C8B).toBe(total);
  expect(r.counts.UNALIGN).toBe(total);
  expect(r.counts.SPLIT).toBe(split ? total : 0n);
  expect(r.counts.LOCKW).toBe(0n);
}

/**
 * Lock-loop iterations per vCPU: 50,000 in `npm test`, which still finds the lock taken and the
 * unlocked counter losing increments (the same assertions); `npm run test:long` runs 200,000 (SMP_N).
 */
const N = Number(process.env.SMP_N ?? 50_000);

/** The engines: the JS JIT, the interpreter, and the wasm engine writing every block at first sight (its lock loops only). */
const ENGINES = [
  { name: 'JIT', opts: { jit: true, jitEngine: 'js' }, control: true },
  { name: 'interpreter', opts: { jit: false }, control: true },
  { name: 'JIT, wasm engine', opts: { jit: true, jitEngine: 'wasm', jitHotness: 0 }, control: false },
] as const;

for (const { name: engine, opts, control } of ENGINES) {
  describe(`x86 SMP on worker threads, virtual (${engine})`, () => {
    for (const [name, mode] of [['XCHG spinlock', MODES.xchg], ['LOCK CMPXCHG spinlock', MODES.cmpxchg], ['LOCK BTS/BTR bit lock', MODES.bts]] as const) {
      it(`2 vCPUs, ${name}: every count exact, the lock contended`, async () => {
        const r = await runX86(virtualSys({ arch: 'x86_64', ...opts }), mode, N);
        expectExact(r, N);
        // Both threads ran at once: the lock was found taken at least once.
        expect(r.fails[0]! + r.fails[1]!).toBeGreaterThan(0n);
        // The vCPUs came back to the owner with their final state.
        for (const v of r.vcpus) {
          const regs = v.getRegs();
          expect(regs.rdi).toBe(0n);
          expect(regs.rip).toBe(BigInt(X86_CODE + guest('x86/smp/counter.bin').length));
        }
      }, 120_000);
    }

    if (control) it('negative control: without the lock the plain counter loses increments (the atomic ones do not)', async () => {
      let lost = 0n;
      for (let attempt = 0; attempt < 5 && lost === 0n; attempt++) {
        const r = await runX86(virtualSys({ arch: 'x86_64', ...opts }), MODES.none, N);
        expect(r.counts.XADD64).toBe(BigInt(2 * N));
        expect(r.counts.CAS64).toBe(BigInt(2 * N));
        lost = BigInt(2 * N) - r.counts.PLAIN;
      }
      expect(lost).toBeGreaterThan(0n);
    }, 300_000);
  });
}

describe.skipIf(!isNativeAvailable())('x86 SMP on worker threads, native /dev/kvm', () => {
  it('2 vCPUs, XCHG, LOCK CMPXCHG and LOCK BTS locks: every count exact (no split lock on a real CPU)', async () => {
    for (const mode of [MODES.xchg, MODES.cmpxchg, MODES.bts]) expectExact(await runX86(nativeSys(), mode, N), N, 2, false);
  }, 120_000);
});
