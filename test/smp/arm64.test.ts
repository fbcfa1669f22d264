/**
 * SMP on arm64: two vCPUs of one VM on two worker threads run a spinlock + counters guest
 * (test/guests/arm64/smp/counter.S: LDAXR/STXR, SWPA and CASA locks; exclusive, LSE and pair
 * atomics) under the interpreter and the block JIT; every count is exact. Without the lock the
 * plain counter loses increments (the negative control).
 */
import { describe, expect, it } from 'vitest';
import { virtualSys } from '../../src/index.js';
import { ARM_DATA_OFF as D, ARM_DONE, ARM_MODES as MODES, runArm64, type ArmRun } from './machines.js';

/**
 * Lock-loop iterations per vCPU: 50,000 in `npm test`, which still finds the lock taken and the
 * unlocked counter losing increments (the same assertions); `npm run test:long` runs 200,000 (SMP_N).
 */
const N = Number(process.env.SMP_N ?? 50_000);

function expectExact(r: ArmRun, n: number, nv = 2): void {
  const t = BigInt(n * nv);
  expect(r.reports.map((x) => x.exits.at(-1))).toEqual(Array.from({ length: nv }, (_, i) => `mmio:w:0x${(ARM_DONE + 8 * i).toString(16)}`));
  expect(r.mem(D.PLAIN)).toBe(t);
  expect(r.mem(D.EXCL64)).toBe(t);
  expect(r.mem(D.LDADD64)).toBe(t);
  expect(r.mem(D.STADD32, 4)).toBe(t);
  expect(r.mem(D.CAS64)).toBe(t);
  expect([r.mem(D.PAIR128), r.mem(D.PAIR128 + 8)]).toEqual([t, 2n * t]);
  expect([r.mem(D.CASP32, 4), r.mem(D.CASP32 + 4, 4)]).toEqual([t, 3n * t]);
  expect(r.mem(D.EXCL16, 2)).toBe(t & 0xffffn);
  expect([r.mem(D.CASP64), r.mem(D.CASP64 + 8)]).toEqual([t, 5n * t]);
  expect(r.mem(D.LOCKW, 4)).toBe(0n);
}

const ENGINES = [
  { name: 'interpreter', opts: { jit: false } },
  { name: 'JIT', opts: { jit: true, jitHotness: 0 } },
] as const;

for (const e of ENGINES) {
  describe(`arm64 SMP on worker threads, virtual (${e.name})`, () => {
    const sys = () => virtualSys({ arch: 'arm64', ...e.opts });
    for (const [name, mode] of [['LDAXR/STXR spinlock', MODES.exclusive], ['LSE SWPA lock', MODES.swp], ['LSE CASA lock', MODES.cas]] as const) {
      it(`2 vCPUs, ${name}: every count exact, the lock contended`, async () => {
        const r = await runArm64(sys(), mode, N);
        expectExact(r, N);
        expect(r.fails[0]! + r.fails[1]!).toBeGreaterThan(0n);
      }, 120_000);
    }

    it('negative control: without the lock the plain counter loses increments (the atomic ones do not)', async () => {
      let lost = 0n;
      for (let attempt = 0; attempt < 5 && lost === 0n; attempt++) {
        const r = await runArm64(sys(), MODES.none, N);
        expect(r.mem(D.LDADD64)).toBe(BigInt(2 * N));
        expect(r.mem(D.EXCL64)).toBe(BigInt(2 * N));
        lost = BigInt(2 * N) - r.mem(D.PLAIN);
      }
      expect(lost).toBeGreaterThan(0n);
    }, 300_000);
  });
}
