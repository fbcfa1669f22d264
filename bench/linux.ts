/**
 * (i) Linux boot to init (bench/index.ts): the fixture kernels and initramfs of test/linux/bin
 * (test/linux/kernel/build.sh, test/linux/init/build.sh) booted by the Linux VMM on the virtual
 * backend, 1 vCPU, with the boot test's settings (x86: the VMM's i8259/i8254; arm64: the vGICv3;
 * both on the deterministic clock). Measured: wall time from building the VM to the kernel's
 * "Run /init as init process" line, and to the power-off the init asks for; the process's CPU
 * time over the boot. Skips (with a note) when a fixture is not there.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootLinux, type LinuxVmOptions } from '../src/vmm/linux/vm.js';
import type { GuestArch } from './guests.js';

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
