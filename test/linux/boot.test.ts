/**
 * Booting the fixture kernels (test/linux/bin, built by test/linux/kernel/build.sh from Debian's
 * linux-source-6.12) with the fixture initramfs (test/linux/init/init.c): the init prints its
 * lines, does file, pipe and fork system calls, uses the virtio-blk disk and the virtio console,
 * and powers off -- exit status 0 -- on the virtual backend and on /dev/kvm where present: with 1
 * vCPU (x86 on the VMM's own i8259/i8254, arm64 on the vGICv3) and with 2 vCPUs on worker threads
 * (boot-smp.test.ts: the in-kernel irqchips; x86 INIT/SIPI, arm64 PSCI CPU_ON). Each test
 * probes for its prerequisite and skips with the reason. "How far" tests pin what works where a
 * prerequisite is missing. `npm run test:linux` (VKVM_LINUX_LONG=1) adds the x86 1-vCPU boot on the
 * in-kernel irqchip.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostArch, isNativeAvailable, Kvm, nativeSys, virtualSys, type Arch } from '../../src/index.js';
import type { LinuxVmOptions } from '../../src/vmm/linux/vm.js';
import type { RunResult } from '../../src/vmm/vmm.js';
import { enterMode, CODE, RAM, STACK, writeGdt, writePageTables } from '../helpers/x86.js';
import { boot, expectInit, hasFile, irqchipMissing, KERNEL, LONG, text } from './fixture.js';

/** Why the x86 fixture cannot boot to init on the virtual backend yet, or undefined. */
function x86Missing(): string | undefined {
  // FNINIT; FNSTSW AX; HLT in long mode: the kernel runs these in fpu__init_cpu.
  const sys = virtualSys({ arch: 'x86_64' });
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  writeGdt(ram.bytes);
  writePageTables(ram.bytes);
  ram.bytes.set([0x66, 0xb8, 0x34, 0x12, 0xdb, 0xe3, 0xdf, 0xe0, 0xf4], CODE); // mov ax,0x1234; fninit; fnstsw ax; hlt
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'long64');
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
  try {
    const e = vcpu.run();
    if (e.reason === 'hlt' && (vcpu.getRegs().rax & 0xffffn) === 0n) return undefined;
  } catch {
    // fall through
  }
  return 'x87 (FNINIT/FNSTSW) is not implemented yet';
}

const X86_MISSING = x86Missing();
const ARM64_MISSING = hasFile(KERNEL.arm64) ? irqchipMissing('arm64') && 'no vGICv3 / arch timer yet (KVM_CAP_IRQCHIP is 0)' : 'the arm64 fixture kernel is not built';

/** One boot per arch with a disk (the init uses it): the tests below assert on its result. */
interface DiskBoot {
  readonly r: RunResult;
  readonly after: Buffer;
  readonly wallMs: number;
  readonly cpuMs: number;
}

function bootWithDisk(arch: Arch, opts: Partial<LinuxVmOptions> = {}): DiskBoot {
  const dir = mkdtempSync(join(tmpdir(), 'vkvm-disk-'));
  try {
    const disk = join(dir, 'disk.img');
    const img = new Uint8Array(1 << 20);
    img.set(Buffer.from('vkvm test disk, first sector\n'));
    writeFileSync(disk, img);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = boot(arch, { disk, ...opts });
    const c = process.cpuUsage(c0);
    return { r, after: readFileSync(disk), wallMs: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The boot-to-init time, for the log (wall time depends on the host's load; CPU time less so). */
function logBoot(what: string, b: DiskBoot): void {
  const t = text(b.r);
  const stamp = /\[\s*([\d.]+)\] Run \/init as init process/.exec(t);
  console.log(`${what}: ${b.r.end} after ${(b.wallMs / 1000).toFixed(1)} s wall, ${(b.cpuMs / 1000).toFixed(1)} s CPU; guest clock at "Run /init": ${stamp ? `${stamp[1]} s` : 'not reached'}`);
}

describe.each(['x86_64', 'arm64'] as const)('%s fixture kernel', (arch) => {
  const missing = arch === 'x86_64' ? X86_MISSING : ARM64_MISSING;
  let one: DiskBoot | undefined;
  const booted = () => (one ??= bootWithDisk(arch));

  it.skipIf(missing)(`boots to its init, which runs its system calls and powers off (1 vCPU)${missing ? ` [skipped: ${missing}]` : ''}`, () => {
    const b = booted();
    logBoot(`${arch} boot to init (1 vCPU, virtio-blk disk)`, b);
    expectInit(b.r, 1);
  }, 900_000);

  it.skipIf(missing)(`reads and writes a virtio-blk disk; the VMM sees the bytes; the virtio console works${missing ? ` [skipped: ${missing}]` : ''}`, () => {
    const { r, after } = booted();
    expect(text(r)).toContain('vkvm-init: /dev/vda says: vkvm test disk, first sector');
    expect(text(r)).toContain('vkvm-init: virtio-blk read + write + fsync: ok');
    expect(text(r)).toContain('vkvm-init: hello on the virtio console');
    expect(after.subarray(4096, 4096 + 28).toString('latin1')).toBe('vkvm-init wrote this sector\n');
  }, 900_000);

  if (arch === 'x86_64') {
    const kernelChip = missing ?? irqchipMissing(arch) ?? (LONG ? undefined : 'a second boot: npm run test:linux');
    it.skipIf(kernelChip)(`boots with the in-kernel irqchip (IOAPIC/LAPIC/PIT, kvmclock) and the deterministic clock${kernelChip ? ` [skipped: ${kernelChip}]` : ''}`, () => {
      expectInit(boot(arch, { irqchip: 'kernel', clock: 'deterministic' }), 1);
    }, 900_000);
  }

  const native = hostArch() === arch && isNativeAvailable() ? undefined : `/dev/kvm for ${arch} is not available here`;
  it.skipIf(native || !hasFile(KERNEL[arch]))(`boots the same way on /dev/kvm (in-kernel irqchip)${native ? ` [skipped: ${native}]` : ''}`, () => {
    expectInit(boot(arch, { sys: nativeSys(), irqchip: 'kernel' }), 1);
  }, 900_000);
});

describe('how far the arm64 fixture gets without a vGIC', () => {
  it.runIf(ARM64_MISSING && hasFile(KERNEL.arm64))('boots to "Run /init", but with no interrupt controller the PL011 and virtio probes defer: init has no console, powers off silently', () => {
    const r = boot('arm64', { irqchip: 'none' });
    const t = text(r);
    expect(t).toMatch(/Linux version 6\.12\.\d+ \(vkvm@vkvm\)/);
    expect(t).toContain('Calibrating delay loop (skipped), value calculated using timer frequency');
    expect(t).toContain('Unpacking initramfs...');
    expect(t).toContain('Warning: unable to open an initial console.');
    expect(t).toContain('Run /init as init process');
    expect(t).not.toContain('vkvm-init:');
    expect(t).toContain('reboot: Power down');
    expect(r.end).toBe('poweroff');
  }, 400_000);
});

describe('how far the x86 fixture gets today', () => {
  it.runIf(X86_MISSING)('in-kernel irqchip: IOAPIC symmetric mode, kvm-clock, TSC from CPUID, up to the first x87 instruction', () => {
    const r = boot('x86_64', { irqchip: 'kernel', clock: 'deterministic', timeLimitMs: 300_000 });
    const t = text(r);
    expect(t).toContain('clocksource: kvm-clock');
    expect(t).toContain('tsc: Detected 2400.000 MHz processor');
    expect(t).toMatch(/IOAPIC\[0\]: apic_id \d+, version \d+, address 0xfec00000, GSI 0-23/);
    expect(t).toContain('APIC: Switch to symmetric I/O mode setup');
    expect(t).toMatch(/invalid opcode[\s\S]*Code: [0-9a-f ]*<db> e3/);
    expect(r.end).toBe('reset');
  }, 400_000);

  it.runIf(X86_MISSING)('userspace irqchip: decompresses, takes boot_params and the command line, prints on the 8250 and runs on i8259/i8254 timer interrupts', () => {
    const r = boot('x86_64', { timeLimitMs: 300_000 });
    const t = text(r);
    expect(t).toMatch(/Linux version 6\.12\.\d+ \(vkvm@vkvm\)/);
    expect(t).toContain('Command line: console=ttyS0');
    expect(t).toContain('virtio_mmio.device=512@0xd0000000:5');
    expect(t).toMatch(/BIOS-e820: \[mem 0x0000000000100000-0x0000000007ffffff\] usable/);
    expect(t).toContain('printk: legacy console [ttyS0] enabled');
    expect(t).toContain('APIC: Keep in PIC mode(8259)');
    // The TSC rate comes from CPUID (the delay loop is preset); jiffies run on the VMM's i8254 through its i8259.
    expect(t).toMatch(/Calibrating delay loop \(skipped\) preset value\.\. [\d.]+ BogoMIPS/);
    expect(r.notes!.join('\n')).toMatch(/i8259 interrupts delivered: IRQ0=\d{2,}/);
    // ...and stops at the first x87 instruction (the oops names it), then panics and resets.
    expect(t).toMatch(/invalid opcode[\s\S]*Code: [0-9a-f ]*<db> e3/);
    expect(r.end).toBe('reset');
  }, 400_000);
});
