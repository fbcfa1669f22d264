/**
 * IPIs between two vCPUs, each on its own worker thread (test/guests/x86/irq/smpipi.asm): the BSP
 * starts the AP with INIT + STARTUP (KVM_MP_STATE_UNINITIALIZED -> INIT_RECEIVED -> RUNNABLE, the AP
 * in real mode at vector << 12), then 100 fixed-IPI ping-pongs (the AP takes them at CPL3 through
 * the kernel-half IDT and its own TSS; the BSP sleeps in HLT between them), a broadcast to all but
 * self, and an NMI IPI. Interpreter and JIT; /dev/kvm where present.
 */
import { describe, expect, it } from 'vitest';
import { KVM_MP_STATE, virtualSys, type Sys } from '../../src/index.js';
import { nativeBackend, nativeX86 } from '../helpers/backends.js';
import { X86_ENGINES } from '../helpers/engines.js';
import { irqGuest, irqMachine } from '../helpers/irq.js';
import { runOnWorker } from '../smp/harness.js';

const SMP = irqGuest('smpipi');
const backends: { name: string; make: () => Sys }[] = [...X86_ENGINES.map((e) => ({ name: e.name, make: () => virtualSys(e.opts) })), ...(nativeX86 ? [nativeBackend] : [])];

describe.each(backends)('IPIs between vCPUs on worker threads ($name)', (b) => {
  it('INIT/SIPI starts the AP; ping-pong, broadcast and NMI IPIs all arrive', async () => {
    const m = irqMachine(b.make(), { code: SMP, vcpus: 2 });
    const [bsp, ap] = m.vcpus as [typeof m.vcpus[0], typeof m.vcpus[0]];
    expect(ap.getMpState()).toBe(KVM_MP_STATE.UNINITIALIZED);
    const t0 = performance.now();
    const [rb, ra] = await Promise.all([runOnWorker(bsp.export()), runOnWorker(ap.export())]);
    const ms = performance.now() - t0;
    expect(rb.exits.at(-1)).toBe('mmio:w:0x380000');
    expect(ra.exits.at(-1)).toBe('mmio:w:0x381000');
    expect(m.q(0x10)).toBe(100n); // pings the AP took
    expect(m.q(0x18)).toBe(100n); // pongs the BSP took
    expect(m.q(0x40)).toBe(0x3bn); // the AP was at CPL3
    expect([m.q(0x20), m.q(0x28)]).toEqual([0n, 1n]); // the broadcast skipped its sender
    expect([m.q(0x30), m.q(0x38)]).toEqual([0n, 1n]); // one NMI, on the AP
    expect(ap.getMpState()).toBe(KVM_MP_STATE.RUNNABLE);
    const rtt = Number(m.q(0x50) - m.q(0x48)) / (bsp.getTscKhz() || 2_400_000) / 100; // ms per round trip, guest TSC
    console.log(`[irq-smp] ${b.name}: IPI round trip between workers ${(rtt * 1000).toFixed(1)} us (guest TSC); both workers done in ${ms.toFixed(0)} ms`);
  }, 120_000);
});
