/**
 * The benchmark harness (bench/): its guests compute the host's checksums on vkvm (x86-64, arm64
 * with and without the block JIT), their exit loops make the exits the round-trip measurement
 * counts, and one `npm run bench` run (reduced: --quick, the mix only) writes a JSON file with
 * all five measurements and the Markdown table.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { virtualSys } from '../../src/index.js';
import { bootGuest, EXIT_LOOP, image, KERNELS, MIX, runGuest, type GuestArch } from '../../bench/guests.js';
import type { BenchResult } from '../../bench/report.js';

const ROOT = resolve(__dirname, '../..');

/** work.expect: checksum of 8 rounds per mask, from the host build of the same work.c. */
const EXPECT = new Map(
  readFileSync(join(ROOT, 'bench/guests/work.expect'), 'utf8')
    .trim()
    .split('\n')
    .flatMap((l) => {
      const m = /rounds=8 mask=(\d+) checksum=0x([0-9a-f]+)/.exec(l);
      return m ? [[Number(m[1]), parseInt(m[2]!, 16)] as const] : [];
    }),
);

describe('bench guests on vkvm', () => {
  const engines: [GuestArch, boolean][] = [
    ['x86_64', true],
    ['arm64', true],
    ['arm64', false],
  ];
  it.each(engines)('%s (jit %s): the mix (and on arm64 every kernel alone) matches the host checksum', { timeout: 60_000 }, (arch, jit) => {
    // The x86 interpreter is the slow one: the mix covers every kernel there.
    for (const mask of arch === 'x86_64' ? [MIX] : [MIX, ...Object.values(KERNELS)]) {
      const g = bootGuest(virtualSys({ arch, jit }), arch, image(ROOT, arch), 8, mask);
      const r = runGuest(g);
      g.close();
      expect(r.checksum >>> 0, `mask ${mask}`).toBe(EXPECT.get(mask === MIX ? 0 : mask));
      expect(r.instructions).toBeGreaterThan(100_000);
      if (arch === 'x86_64') expect(r.console).toBe(`checksum=0x${EXPECT.get(mask === MIX ? 0 : mask)!.toString(16).padStart(8, '0')}\n`);
    }
  });

  it.each(['x86_64', 'arm64'] as GuestArch[])('%s exit loop: one exit per KVM_RUN, the same each time', (arch) => {
    const g = bootGuest(virtualSys({ arch }), arch, image(ROOT, arch), 0, EXIT_LOOP);
    for (let i = 0; i < 50; i++) {
      const e = g.vcpu.run();
      if (arch === 'x86_64') expect(e).toMatchObject({ reason: 'io', direction: 'out', port: 0x80, size: 1 });
      else expect(e).toMatchObject({ reason: 'mmio', physAddr: 0x0900_0000n, len: 4, isWrite: true });
    }
    g.close();
  });
});

describe('npm run bench', () => {
  it('one run writes all five measurements to JSON and the table', { timeout: 240_000 }, () => {
    const out = join(mkdtempSync(join(tmpdir(), 'vkvm-bench-test-')), 'r.json');
    const r = spawnSync(process.execPath, [join(ROOT, 'bench/run.mjs'), '--quick', '--workloads', 'mix', '--no-qemu', '--out', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
    // (a) both virtual exits, and /dev/kvm where the harness could open it
    expect(j.roundTrip.filter((x) => x.backend === 'vkvm').map((x) => x.arch)).toEqual(['x86_64', 'arm64']);
    for (const x of j.roundTrip) expect(x.ns).toBeGreaterThan(0);
    // (b) the mix on both archs, with instruction counts and checksums (checked by the harness against the host)
    const mix = j.mips.find((m) => m.workload === 'mix')!;
    for (const k of ['vkvm x86_64', 'vkvm x86_64 (interpreter)', 'vkvm arm64', 'vkvm arm64 (interpreter)']) {
      expect(mix.cells[k]!.mips).toBeGreaterThan(0);
      expect(mix.cells[k]!.instructions).toBeGreaterThan(1e6);
    }
    // (c) creation for both archs, (d) RSS of the big slot
    expect(j.creation.filter((c) => c.backend === 'vkvm').map((c) => c.arch)).toEqual(['x86_64', 'arm64']);
    const rss = j.rss.find((x) => x.backend === 'vkvm')!;
    expect(rss.touchMiB).toBeGreaterThan(0.9); // the touched MiB is really resident
    expect(rss.addedMiB).toBeLessThan(64);
    // (e) the arm64 irqfd round trip and timer interrupt rate (the harness checks each doorbell)
    expect(j.irq!.map((x) => x.unit)).toEqual(['ns / round trip', 'interrupts / s']);
    for (const x of j.irq!) expect(x.value).toBeGreaterThan(0);
    expect(j.targets.length).toBeGreaterThanOrEqual(5);
    const md = readFileSync(out.replace(/\.json$/, '.md'), 'utf8');
    for (const h of ['(a) KVM_RUN', '(b) guest MIPS', '(c) VM + vCPU creation', '(d) RSS', '(e) interrupts', 'Targets']) expect(md).toContain(h);
    expect(r.stdout).toContain('| mix |');
  });
});

