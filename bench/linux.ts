/**
 * (i) Linux boot to init (bench/index.ts): the fixture kernels and initramfs of test/linux/bin
 * (test/linux/kernel/build.sh, test/linux/init/build.sh) booted by the Linux VMM on the virtual
 * backend, 1 vCPU, with the boot test's settings (x86: the VMM's i8259/i8254; arm64: the vGICv3;
 * both on the deterministic clock). Measured: wall time from building the VM to the kernel's
 * "Run /init as init process" line, and to the power-off the init asks for; the process's CPU
 * time over the boot. Skips (with a note) when a fixture is not there.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARM64_DEFAULT_CMDLINE } from '../src/vmm/linux/machine-arm64.js';
import { X86_DEFAULT_CMDLINE } from '../src/vmm/linux/machine-x86.js';
import { bootLinux, type LinuxVmOptions } from '../src/vmm/linux/vm.js';
import type { GuestArch } from './guests.js';
import { hasCommand } from './host.js';

export interface LinuxBootRow {
  readonly arch: GuestArch;
  readonly config: string;
  /** ms from the start to "Run /init as init process" on the console. */
  readonly initMs: number;
  /** ms from the start to the end of the run (the init's power-off). */
  readonly endMs: number;
  /** CPU seconds of this process over the boot. */
  readonly cpuS: number;
  /** How the run ended (poweroff / reset when the init got to the end). */
  readonly end: string;
  /** The guest's own clock at "Run /init" (seconds, from the printk stamp). */
  readonly guestInitS?: number;
  /** qemu-system-* TCG booting the same files and command line in the same run (wall ms). */
  readonly qemu?: { readonly initMs: number; readonly endMs: number; readonly config: string };
}

const FILES: Record<GuestArch, { kernel: string; initrd: string }> = {
  x86_64: { kernel: 'x86_64/bzImage', initrd: 'x86_64/initramfs.cpio' },
  arm64: { kernel: 'arm64/Image.gz', initrd: 'arm64/initramfs.cpio' },
};

const SETTINGS: Record<GuestArch, { opts: Partial<LinuxVmOptions>; config: string }> = {
  x86_64: { opts: { irqchip: 'userspace', clock: 'deterministic' }, config: '1 vCPU, VMM i8259/i8254, deterministic clock, 128 MiB' },
  arm64: { opts: { irqchip: 'kernel', clock: 'deterministic' }, config: '1 vCPU, vGICv3, deterministic clock, 128 MiB' },
};

const MARK = 'Run /init as init process';

/** The QEMU machine for each arch: the same devices the VMM's machine has, TCG, 1 vCPU, 128 MiB. */
const QEMU: Record<GuestArch, { cmd: string; args: string[]; cmdline: string; config: string }> = {
  x86_64: { cmd: 'qemu-system-x86_64', args: ['-accel', 'tcg', '-M', 'pc'], cmdline: X86_DEFAULT_CMDLINE, config: 'qemu-system-x86_64 -accel tcg -M pc' },
  arm64: { cmd: 'qemu-system-aarch64', args: ['-M', 'virt,gic-version=3', '-cpu', 'max'], cmdline: ARM64_DEFAULT_CMDLINE, config: 'qemu-system-aarch64 -M virt,gic-version=3 -cpu max' },
};

/**
 * qemu-system-* (TCG) boots `arch`'s fixture with the VMM's command line: wall ms to the same
 * console line and to its exit (-no-reboot: the init's reset or power-off ends it). `root` is the
 * checkout (bench/qemu-boot.mjs times the console). A string says why it was not measured.
 */
export function qemuLinuxBoot(root: string, bin: string, arch: GuestArch, timeoutMs = 300_000): { initMs: number; endMs: number; config: string } | string {
  const q = QEMU[arch];
  const f = FILES[arch];
  if (!hasCommand(q.cmd)) return `${q.cmd} not installed: no QEMU TCG boot time for ${arch}`;
  const argv = [q.cmd, ...q.args, '-m', '128', '-smp', '1', '-nographic', '-no-reboot', '-kernel', join(bin, f.kernel), '-initrd', join(bin, f.initrd), '-append', q.cmdline];
  const child = spawnSync(process.execPath, [join(root, 'bench/qemu-boot.mjs'), JSON.stringify({ argv, mark: MARK, timeoutMs })], { encoding: 'utf8', timeout: timeoutMs + 10_000 });
  let r: { initMs?: number; endMs?: number; error?: string };
  try {
    r = JSON.parse(child.stdout) as typeof r;
  } catch {
    return `${q.cmd}: no result (${child.error ?? child.stderr.slice(-200)})`;
  }
  if (r.error !== undefined || r.initMs === undefined || r.endMs === undefined) return `${q.cmd} boot (${arch}) not measured: ${r.error}`;
  return { initMs: r.initMs, endMs: r.endMs, config: q.config };
}

/** Boots `arch`'s fixture from `bin` (test/linux/bin); a string says why it was not measured. */
export function benchLinuxBoot(bin: string, arch: GuestArch, timeLimitMs = 900_000): LinuxBootRow | string {
  const f = FILES[arch];
  const kernel = join(bin, f.kernel);
  const initrd = join(bin, f.initrd);
  if (!existsSync(kernel) || !existsSync(initrd)) return `Linux boot (${arch}) not measured: no fixture kernel/initramfs at ${kernel} (test/linux/kernel/build.sh builds it)`;
  let line = '';
  let initAt = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = bootLinux({
    arch,
    kernel: new Uint8Array(readFileSync(kernel)),
    initrd: new Uint8Array(readFileSync(initrd)),
    memSize: 128 << 20,
    timeLimitMs,
    ...SETTINGS[arch].opts,
    console: (b) => {
      if (initAt) return;
      if (b !== 10) {
        line += String.fromCharCode(b);
        return;
      }
      if (line.includes(MARK)) initAt = performance.now();
      line = '';
    },
  });
  const endMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (!initAt) return `Linux boot (${arch}) did not reach init: ${r.end}: ${r.detail}`;
  const stamp = new RegExp(`\\[\\s*([\\d.]+)\\] ${MARK}`).exec(Buffer.from(r.console).toString('latin1'));
  return { arch, config: SETTINGS[arch].config, initMs: initAt - t0, endMs, cpuS: (c.user + c.system) / 1e6, end: r.end, ...(stamp ? { guestInitS: Number(stamp[1]) } : {}) };
}
