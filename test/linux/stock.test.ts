/**
 * Debian's stock kernels (linux-image-amd64 / linux-image-arm64, fetched with busybox-static by
 * test/linux/stock/fetch.sh into $VKVM_STOCK_DIR or /tmp/vkvm-stock) boot to a busybox shell from
 * an initramfs built here (stock/initramfs.ts), which runs the test's commands and powers off.
 * Skips with the reason when the files are not there (fetch.sh exits 0 without them when the
 * mirror does not answer); the boots take minutes of CPU, so they run with `npm run test:linux`
 * (VKVM_LINUX_LONG=1), which runs fetch.sh first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootLinux } from '../../src/vmm/linux/vm.js';
import { LONG, text } from './fixture.js';
import { STOCK_MARK, stockInitramfs } from './stock/initramfs.js';

const DIR = process.env.VKVM_STOCK_DIR ?? '/tmp/vkvm-stock';
const CMDS = ['uname -sr', 'echo "answer $((6 * 7))"', 'echo written > /tmp/f && cat /tmp/f', 'grep -c ^processor /proc/cpuinfo'].join('\n') + '\n';

describe.each([
  ['x86_64', 'amd64'],
  ['arm64', 'arm64'],
] as const)('Debian stock kernel, %s', (arch, deb) => {
  const dir = join(DIR, deb);
  const have = existsSync(join(dir, 'vmlinuz')) && existsSync(join(dir, 'busybox'));
  const skip = !have ? `no stock kernel/busybox in ${dir} (test/linux/stock/fetch.sh)` : LONG ? undefined : 'a stock-kernel boot takes minutes: npm run test:linux';
  it.skipIf(skip)(`boots to a busybox shell, runs the test's commands and powers off${skip ? ` [skipped: ${skip}]` : ''}`, () => {
    const version = readFileSync(join(dir, 'version'), 'utf8').trim();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const r = bootLinux({
      arch,
      kernel: new Uint8Array(readFileSync(join(dir, 'vmlinuz'))),
      initrd: stockInitramfs(new Uint8Array(readFileSync(join(dir, 'busybox'))), arch, CMDS),
      memSize: 256 << 20,
      irqchip: 'kernel',
      clock: 'deterministic',
      // Wall-clock guard only (the deterministic clock makes the guest's run independent of it):
      // ~140 s CPU for arm64, but the shared 2-core host gives it a fraction of a core.
      timeLimitMs: 3_000_000,
    });
    const t = text(r);
    console.log(`[stock] ${arch} ${version}: ${r.end} status ${r.status}, ${((performance.now() - t0) / 1000).toFixed(0)} s wall, ${(process.cpuUsage(cpu0).user / 1e6).toFixed(0)} s CPU`);
    expect(t).toContain(STOCK_MARK.ready);
    expect(t).toMatch(new RegExp(`Linux ${version.replace(/^linux-image-/, '').replace(/-(amd64|arm64)$/, '')}`));
    expect(t).toContain('answer 42');
    expect(t).toContain('written');
    expect(t).toMatch(/\n1\r?\n/); // one processor
    expect(t).toContain(`${STOCK_MARK.done} 0`);
    expect(['poweroff', 'reset']).toContain(r.end);
    expect(r.status).toBe(0);
  }, 3_300_000);
});
