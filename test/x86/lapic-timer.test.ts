/**
 * The local APIC timer in one-shot, periodic and TSC-deadline modes, xAPIC and x2APIC, counted while
 * the guest halts, and taken at CPL3 with a kernel-half IDT, handler and interrupt stack
 * (test/guests/x86/irq/timer.asm) — on both engines, both clocks, and /dev/kvm where present.
 */
import { describe, expect, it } from 'vitest';
import { virtualSys, type Sys } from '../../src/index.js';
import { nativeBackend, nativeX86 } from '../helpers/backends.js';
import { X86_ENGINES } from '../helpers/engines.js';
import { irqGuest, irqMachine, nextPhase } from '../helpers/irq.js';

const TIMER = irqGuest('timer');
const HIGH = 0xffffffff80000000n;
const TSC_KHZ = 2_400_000;

const backends: { name: string; make: () => Sys }[] = [
  ...X86_ENGINES.flatMap((e) => (['host', 'deterministic'] as const).map((clock) => ({ name: `${e.name}, ${clock} clock`, make: () => virtualSys({ ...e.opts, clock }) }))),
  ...(nativeX86 ? [nativeBackend] : []),
];

describe.each(backends)('LAPIC timer ($name)', (b) => {
  it('one-shot, periodic, TSC deadline, x2APIC, and at CPL3 with a kernel-half handler', { timeout: 60_000 }, () => {
    const m = irqMachine(b.make(), { code: TIMER });
    const v = m.vcpus[0]!;
    const tscKhz = v.getTscKhz() || TSC_KHZ;
    const log = (i: number) => m.q(0x100 + 8 * i);
    const ns = (ticks: bigint) => (Number(ticks) * 1e6) / tscKhz;

    expect(nextPhase(v)).toBe(1);
    expect(m.q(0)).toBe(1n); // one tick, no second one
    expect(ns(log(0) - m.q(0x28))).toBeGreaterThanOrEqual(100_000); // 100 us after the start

    expect(nextPhase(v)).toBe(2);
    const exact = b.name.includes('deterministic');
    // Periodic ticks are due at start + k * 200 us (KVM's minimum period): never early; a late one
    // is followed by the next at its own due time. The deterministic clock delivers them on time.
    const periodic = (count: number, periodNs: number) => {
      const n = Number(m.q(0));
      if (exact) expect(n).toBe(count);
      else expect(n).toBeGreaterThanOrEqual(count); // on a loaded host, more may land before the guest stops it
      for (let i = 0; i < count; i++) {
        const late = ns(log(i) - m.q(0x28)) - (i + 1) * periodNs;
        expect(late).toBeGreaterThanOrEqual(0);
        if (exact) expect(late).toBeLessThan(1000);
      }
    };
    periodic(5, 200_000);

    expect(nextPhase(v)).toBe(3);
    expect(m.q(0)).toBe(3n);
    for (let i = 0; i < 3; i++) expect(log(i)).toBeGreaterThanOrEqual(m.q(0x30 + 8 * i)); // never before its deadline

    expect(nextPhase(v)).toBe(4);
    periodic(3, 300_000);
    expect(m.q(0x20)).toBe(1n); // in x2APIC mode

    expect(nextPhase(v)).toBe(5);
    if (b.name.includes('deterministic')) expect(m.q(0x48)).toBe(5n); // five ticks interrupted CPL3
    else expect(m.q(0x48) >= 5n).toBe(true);
    expect(m.q(0x08)).toBe(0x3bn); // the last one too
    expect(m.q(0x10) >= HIGH).toBe(true); // the handler ran at its kernel-half address
    expect(m.q(0x18) >= HIGH + 0x7000n && m.q(0x18) < HIGH + 0x7800n).toBe(true); // on the TSS's kernel-half RSP0 stack
  });
});

describe.each(X86_ENGINES)('the deterministic clock ($name)', (e) => {
  it('two runs of the timer guest give identical traces: every ioctl, exit, register and tick TSC', { timeout: 60_000 }, () => {
    const run = () => {
      const events: string[] = [];
      // No wall-clock bound on KVM_RUN: where it ends a run would depend on the host's speed.
      const sys = virtualSys({ ...e.opts, clock: 'deterministic', runTimeoutMs: Infinity, trace: (ev) => events.push(JSON.stringify(ev, (_k, x) => (typeof x === 'bigint' ? x.toString(16) : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x))) });
      const m = irqMachine(sys, { code: TIMER });
      const v = m.vcpus[0]!;
      for (let p = 1; p <= 5; p++) {
        expect(nextPhase(v)).toBe(p);
        events.push(JSON.stringify(v.getRegs(), (_k, x) => (typeof x === 'bigint' ? x.toString(16) : x)));
        events.push(Buffer.from(m.ram.bytes.subarray(0x20000, 0x20200)).toString('hex')); // counters and the tick TSC log
      }
      return events;
    };
    const a = run();
    expect(a.length).toBeGreaterThan(30);
    expect(run()).toEqual(a);
  });
});
