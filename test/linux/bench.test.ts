/**
 * `npm run bench` section (i), Linux boot to init per arch (bench/linux.ts): without the fixture it
 * skips with a note and still writes its report; with it (`npm run test:linux`) each arch has a
 * row whose init time is inside its run and whose run reached the init's power-off, and, where
 * qemu-system-* is installed, QEMU TCG's time for the same files and the ratio.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasCommand } from '../../bench/host.js';
import type { BenchResult } from '../../bench/report.js';

const ROOT = resolve(__dirname, '../..');
const LONG = process.env.VKVM_LINUX_LONG === '1';
const dir = mkdtempSync(join(tmpdir(), 'vkvm-bench-linux-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bench(args: string[], name: string): { json: BenchResult; md: string } {
  const out = join(dir, `${name}.json`);
  const r = spawnSync(process.execPath, [join(ROOT, 'bench/run.mjs'), '--only', 'i', '--out', out, ...args], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { json: JSON.parse(readFileSync(out, 'utf8')) as BenchResult, md: readFileSync(out.replace(/\.json$/, '.md'), 'utf8') };
}

describe('npm run bench: (i) Linux boot to init', () => {
  it('skips cleanly, with a note per arch, when the fixture kernels are not there', { timeout: 120_000 }, () => {
    const { json, md } = bench(['--linux-bin', join(dir, 'nothing-here')], 'skip');
    expect(json.linux ?? []).toEqual([]);
    for (const arch of ['x86_64', 'arm64']) expect(json.notes.join('\n')).toMatch(new RegExp(`Linux boot \\(${arch}\\) not measured: no fixture kernel`));
    expect(md).not.toContain('(i) Linux boot to init');
  });

  it.runIf(LONG)('boots both fixtures and reports the time to "Run /init" and to power-off per arch', { timeout: 1_800_000 }, () => {
    const { json, md } = bench([], 'boot');
    expect(json.linux!.map((x) => x.arch)).toEqual(['x86_64', 'arm64']);
    for (const x of json.linux!) {
      expect(x.initMs).toBeGreaterThan(0);
      expect(x.initMs).toBeLessThan(x.endMs);
      expect(['poweroff', 'reset']).toContain(x.end);
      expect(x.guestInitS).toBeGreaterThan(0);
      // QEMU TCG boots the same files next to it where installed (the ratio the performance issue asks for).
      if (hasCommand(x.arch === 'x86_64' ? 'qemu-system-x86_64' : 'qemu-system-aarch64')) {
        expect(x.qemu!.initMs).toBeGreaterThan(0);
        expect(x.qemu!.initMs).toBeLessThan(x.qemu!.endMs);
        expect(md).toMatch(new RegExp(`\\| ${x.arch} \\|.*\\| [\\d.]+x \\|`));
      } else expect(json.notes.join('\n')).toContain('not installed: no QEMU TCG boot time');
    }
    expect(md).toContain('(i) Linux boot to init');
  });
});
