/**
 * The fixture kernels boot with 2 vCPUs, each on its own worker thread (LinuxVm.runAsync), on the
 * in-kernel irqchips: x86's secondary comes up by INIT/SIPI through the LAPIC, arm64's by PSCI
 * CPU_ON; the init sees 2 CPUs, runs its system calls and powers off with status 0. A file of its
 * own so that vitest runs it beside the 1-vCPU boots. /dev/kvm where present.
 */
import { describe, expect, it } from 'vitest';
import { hostArch, isNativeAvailable, nativeSys } from '../../src/index.js';
import { bootLinuxAsync } from '../../src/vmm/linux/vm.js';
import { bootOptions, expectInit, hasFile, irqchipMissing, KERNEL, text } from './fixture.js';

describe.each(['x86_64', 'arm64'] as const)('%s fixture kernel, 2 vCPUs', (arch) => {
  const missing = hasFile(KERNEL[arch]) ? undefined : `the ${arch} fixture kernel is not built`;
  // SMP: each vCPU on its own worker thread (LinuxVm.runAsync); the secondary comes up through the
  // in-kernel LAPIC's INIT/SIPI (x86) or PSCI CPU_ON (arm64) while the boot CPU runs.
  const smp = missing ?? irqchipMissing(arch);
  it.skipIf(smp)(`boots with 2 vCPUs on worker threads (in-kernel irqchip)${smp ? ` [skipped: ${smp}]` : ''}`, async () => {
    const t0 = performance.now();
    const r = await bootLinuxAsync({ ...bootOptions(arch), cpus: 2, irqchip: 'kernel', clock: 'deterministic' });
    console.log(`${arch} boot to init (2 vCPUs on worker threads): ${r.end} after ${((performance.now() - t0) / 1000).toFixed(1)} s wall`);
    const t = text(r);
    expect(t).toMatch(arch === 'x86_64' ? /smpboot: x86: Booting SMP configuration/ : /CPU1: Booted secondary processor/);
    expect(t).toContain('smp: Brought up 1 node, 2 CPUs');
    // VM-wide timers fire with every vCPU on a worker under the deterministic clock: x86's in-kernel
    // PIT ticks, so Linux's LAPIC timer check (which counts jiffies) passes.
    if (arch === 'x86_64') expect(t).not.toContain('APIC timer disabled due to verification failure');
    expectInit(r, 2);
  }, 900_000);

  const native = hostArch() === arch && isNativeAvailable() ? undefined : `/dev/kvm for ${arch} is not available here`;
  it.skipIf(native || !hasFile(KERNEL[arch]))(`boots with 2 vCPUs on worker threads on /dev/kvm${native ? ` [skipped: ${native}]` : ''}`, async () => {
    expectInit(await bootLinuxAsync(bootOptions(arch, { sys: nativeSys(), irqchip: 'kernel', cpus: 2 })), 2);
  }, 900_000);
});
