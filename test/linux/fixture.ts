/**
 * The Linux fixtures of test/linux/bin and what the boot tests share: the boots' options and what
 * the fixture init prints on a good run.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect } from 'vitest';
import { Kvm, KVM_CAP, virtualSys, type Arch } from '../../src/index.js';
import { bootLinux, type LinuxVmOptions } from '../../src/vmm/linux/vm.js';
import type { RunResult } from '../../src/vmm/vmm.js';

export const BIN = resolve(__dirname, 'bin');
export const KERNEL: Record<Arch, string> = { x86_64: 'x86_64/bzImage', arm64: 'arm64/Image.gz' };
export const file = (p: string) => new Uint8Array(readFileSync(resolve(BIN, p)));
export const text = (r: RunResult) => Buffer.from(r.console).toString('latin1');
export const hasFile = (p: string) => {
  try {
    readFileSync(resolve(BIN, p));
    return true;
  } catch {
    return false;
  }
};

export function irqchipMissing(arch: Arch): string | undefined {
  const vm = Kvm.open(virtualSys({ arch })).createVm();
  return vm.checkExtension(KVM_CAP.IRQCHIP) > 0 ? undefined : 'no in-kernel irqchip yet (KVM_CAP_IRQCHIP is 0)';
}

/** `npm run test:linux`: the boots beyond the default suite's. */
export const LONG = process.env.VKVM_LINUX_LONG === '1';

/**
 * The boots' defaults. arm64: the in-kernel vGIC with the deterministic clock (guest time follows
 * retired instructions: on a loaded host the host clock shows the guest minutes-long gaps, RCU
 * stall reports follow, and their slow printing starves the boot). x86: the VMM's own i8259/i8254
 * (KVM_INTERRUPT through the interrupt window), with the deterministic clock for the same reason;
 * the in-kernel irqchip (IOAPIC/LAPIC/PIT, kvmclock) has its own boot below, so both paths boot.
 */
export const DEFAULTS: Record<Arch, Partial<LinuxVmOptions>> = {
  x86_64: { irqchip: 'userspace', clock: 'deterministic' },
  arm64: { clock: 'deterministic' },
};

export function bootOptions(arch: Arch, opts: Partial<LinuxVmOptions> = {}): LinuxVmOptions {
  return {
    arch,
    kernel: file(KERNEL[arch]),
    initrd: file(`${arch}/initramfs.cpio`),
    memSize: 128 << 20,
    timeLimitMs: 900_000,
    ...DEFAULTS[arch],
    ...opts,
  };
}

export function boot(arch: Arch, opts: Partial<LinuxVmOptions> = {}): RunResult {
  return bootLinux(bootOptions(arch, opts));
}

/** What the fixture init prints on a good run. */
export function expectInit(r: RunResult, cpus: number): void {
  const t = text(r);
  expect(t).toContain('vkvm-init: hello from userspace');
  expect(t).toMatch(/vkvm-init: Linux 6\.12\.\d+ (x86_64|aarch64)/);
  expect(t).toContain('vkvm-init: pid 1');
  expect(t).toContain('vkvm-init: file write/read: ok');
  expect(t).toContain('vkvm-init: pipe: ok');
  expect(t).toContain('vkvm-init: fork + wait4 (child exit status 42): ok');
  expect(t).toContain(`vkvm-init: cpus ${cpus}`);
  expect(t).toContain('vkvm-init: failures 0');
  expect(t).toContain('vkvm-init: powering off');
  expect(['poweroff', 'reset', 'halt']).toContain(r.end);
  expect(r.status).toBe(0);
}

