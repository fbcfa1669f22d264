/**
 * The busybox initramfs for Debian's stock kernels (test/linux/stock/fetch.sh gets the kernels and
 * busybox-static): /bin/busybox with its applets linked in by `busybox --install`, an /init shell
 * script that mounts /proc and /sys and runs the commands it is given as /cmds, then powers off
 * (arm64: PSCI SYSTEM_OFF through `poweroff -f`; x86: `reboot -f`, which `reboot=k` turns into the
 * i8042 reset the VMM ends on). `tsx initramfs.ts BUSYBOX ARCH OUT [CMDS]` writes one.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpioNewc } from '../cpio.js';

/** What /init prints around the commands (the test looks for these lines). */
export const STOCK_MARK = { ready: 'vkvm-stock: busybox shell up', done: 'vkvm-stock: commands done, status' } as const;

export function stockInitramfs(busybox: Uint8Array, arch: 'x86_64' | 'arm64', cmds: string): Uint8Array {
  const off = arch === 'arm64' ? 'poweroff -f' : 'reboot -f';
  const init = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "${STOCK_MARK.ready} ($(busybox | head -n 1))"
sh /cmds
echo "${STOCK_MARK.done} $?"
${off}
`;
  return cpioNewc([
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', data: busybox, mode: 0o755 },
    { path: 'dev', type: 'dir' },
    { path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { path: 'proc', type: 'dir' },
    { path: 'sys', type: 'dir' },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'cmds', type: 'file', data: Buffer.from(cmds) },
    { path: 'init', type: 'file', data: Buffer.from(init), mode: 0o755 },
  ]);
}

if (process.argv[1]?.endsWith('initramfs.ts') && process.argv.length >= 5) {
  const [busybox, arch, out, cmds] = process.argv.slice(2);
  writeFileSync(out!, stockInitramfs(new Uint8Array(readFileSync(busybox!)), arch as 'x86_64' | 'arm64', cmds ? readFileSync(cmds, 'utf8') : 'uname -a\n'));
}
