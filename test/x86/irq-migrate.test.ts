/**
 * Save and restore of the in-kernel interrupt and time state, as a VMM migrates or snapshots a VM:
 * KVM_GET_CLOCK, KVM_GET_IRQCHIP (both PICs, the IOAPIC), KVM_GET_PIT2, and per vCPU the registers,
 * every MSR of KVM_GET_MSR_INDEX_LIST (TSC, APIC base, TSC deadline, kvmclock...), KVM_GET_LAPIC,
 * KVM_GET_VCPU_EVENTS and KVM_GET_MP_STATE — put back into a new VM in QEMU's order (the TSC
 * deadline after the LAPIC, which decides whether the MSR arms the timer). The timer and PIT
 * guests then finish with the same checks as without the move:
 * - at phase boundaries (both engines, both clocks; /dev/kvm where present): the PIT keeps ticking
 *   through the PIC after the move;
 * - mid-run (virtual backend, deterministic clock): the LAPIC-timer guest moves to a new VM at
 *   every 8th EINTR of a small run budget — with the periodic timer armed, once with its interrupt
 *   in service — and still counts every tick exactly on time. (Not covered: moves while halted;
 *   under this clock a halt jumps to the deadline without an exit.)
 */
import { describe, expect, it } from 'vitest';
import { KVM_CAP, KVM_MP_STATE, virtualSys, x86_64, type Sys, type Vcpu, type VcpuExit } from '../../src/index.js';
import { nativeBackend, nativeX86 } from '../helpers/backends.js';
import { X86_ENGINES } from '../helpers/engines.js';
import { irqGuest, irqMachine, nextPhase, type IrqMachine } from '../helpers/irq.js';
import { RAM } from '../helpers/x86.js';

const MSR_TSC_DEADLINE = 0x6e0;
const { KVM_IRQCHIP } = x86_64;

interface Snapshot {
  ram: Uint8Array;
  clock: bigint;
  irqchip: ReturnType<IrqMachine['vm']['getIrqchip']>[];
  pit: ReturnType<IrqMachine['vm']['getPit2']> | null;
  vcpu: {
    regs: ReturnType<Vcpu['getRegs']>;
    sregs: ReturnType<Vcpu['getSregs']>;
    msrs: Map<number, bigint>;
    lapic: Uint8Array;
    events: ReturnType<Vcpu['getVcpuEvents']>;
    mpState: number;
  };
}

/** The MSRs of the index list this vCPU reads (KVM_GET_MSRS stops at the first it refuses). */
function readableMsrs(m: IrqMachine): number[] {
  const v = m.vcpus[0]!;
  return m.kvm.msrIndexList().filter((i) => v.getMsrs([i]).size === 1);
}

/**
 * After an exit the kernel may still owe the guest the exit's completion (an OUT's RIP moves on at
 * the next KVM_RUN): as a VMM does before saving, KVM_RUN with immediate_exit completes it and
 * returns EINTR without running the guest.
 */
function completePending(v: Vcpu): void {
  v.immediateExit = true;
  try {
    v.run(); // EINTR comes back as 'intr'; any other error still throws
  } finally {
    v.immediateExit = false;
  }
}

function save(m: IrqMachine, msrs: readonly number[], pit: boolean): Snapshot {
  const v = m.vcpus[0]!;
  completePending(v);
  return {
    ram: m.ram.bytes.slice(0, RAM),
    clock: m.vm.getClock().clock,
    irqchip: [KVM_IRQCHIP.PIC_MASTER, KVM_IRQCHIP.PIC_SLAVE, KVM_IRQCHIP.IOAPIC].map((id) => m.vm.getIrqchip(id)),
    pit: pit ? m.vm.getPit2() : null,
    vcpu: { regs: v.getRegs(), sregs: v.getSregs(), msrs: v.getMsrs(msrs), lapic: v.getLapic(), events: v.getVcpuEvents(), mpState: v.getMpState() },
  };
}

/** A new VM of the same shape with the snapshot put back. */
function restore(sys: Sys, code: Uint8Array, s: Snapshot, pitFlags: number | undefined): IrqMachine {
  const m = irqMachine(sys, { code, ...(pitFlags !== undefined ? { pit: pitFlags } : {}) });
  const v = m.vcpus[0]!;
  m.ram.bytes.set(s.ram);
  m.vm.setClock({ clock: s.clock });
  for (const c of s.irqchip) m.vm.setIrqchip(c);
  if (s.pit) m.vm.setPit2(s.pit);
  v.setRegs(s.vcpu.regs);
  v.setSregs(s.vcpu.sregs);
  const early = [...s.vcpu.msrs].filter(([i]) => i !== MSR_TSC_DEADLINE);
  expect(v.setMsrs(early)).toBe(early.length);
  v.setLapic(s.vcpu.lapic);
  if (s.vcpu.msrs.has(MSR_TSC_DEADLINE)) v.setMsrs([[MSR_TSC_DEADLINE, s.vcpu.msrs.get(MSR_TSC_DEADLINE)!]]);
  v.setVcpuEvents(s.vcpu.events);
  v.setMpState(s.vcpu.mpState);
  return m;
}

function reportOf(exit: VcpuExit): number {
  if (exit.reason !== 'io' || exit.port !== 0x600) throw new Error(`unexpected exit ${exit.reason}`);
  return new DataView(exit.data.buffer, exit.data.byteOffset).getUint32(0, true);
}

const PIT = irqGuest('pitpic');
const TIMER = irqGuest('timer');
const backends: { name: string; make: () => Sys }[] = [
  ...X86_ENGINES.flatMap((e) => (['host', 'deterministic'] as const).map((clock) => ({ name: `${e.name}, ${clock} clock`, make: () => virtualSys({ ...e.opts, clock }) }))),
  ...(nativeX86 ? [nativeBackend] : []),
];

describe.each(backends)('irqchip save/restore ($name)', (b) => {
  it('the PIT guest moves to a new VM after each phase and its IRQ0s keep coming through the PIC', { timeout: 60_000 }, () => {
    const flags = x86_64.KVM_PIT.SPEAKER_DUMMY;
    let m = irqMachine(b.make(), { code: PIT, pit: flags });
    const msrs = readableMsrs(m);
    const run = () => nextPhase(m.vcpus[0]!);
    expect(run()).toBe(1);
    const before = m.vm.getPit2();
    m = restore(b.make(), PIT, save(m, msrs, true), flags);
    const after = m.vm.getPit2();
    expect(after.channels[0]).toMatchObject({ mode: 2, count: 597, rw_mode: before.channels[0]!.rw_mode });
    expect(m.vm.getIrqchip(KVM_IRQCHIP.PIC_MASTER).chip.pic).toMatchObject({ irq_base: 0x20, imr: 0xfe });
    expect(run()).toBe(2);
    m = restore(b.make(), PIT, save(m, msrs, true), flags);
    expect(run()).toBe(3);
    expect(m.q(0)).toBeGreaterThanOrEqual(3n); // phase 3 counts from 0: three IRQ0s after the move
    expect(m.q(8)).toBe(0x3bn); // the last one interrupted CPL3
  });
});

// Deterministic clock: a small run budget makes KVM_RUN return EINTR while the guest runs (phase 1's
// spin, phase 5 at CPL3 with the periodic timer armed); every 8th one moves the VM. Exact checks.
const MID_RUN = X86_ENGINES.map((e) => ({ name: `${e.name}, deterministic clock`, exact: true, every: 8, opts: { ...e.opts, clock: 'deterministic' as const, runBudget: 4_000 } }));

describe.each(MID_RUN)('irqchip save/restore mid-run ($name)', (c) => {
  it('the LAPIC-timer guest moves to a new VM while it runs and still counts each tick on time', { timeout: 120_000 }, () => {
    const make = () => virtualSys(c.opts);
    let m = irqMachine(make(), { code: TIMER });
    expect(m.vm.checkExtension(KVM_CAP.IRQCHIP)).toBe(1);
    const msrs = readableMsrs(m);
    const seen = { intr: 0, moves: 0, halted: 0, timerArmed: 0, inService: 0, oneShotExpired: 0 };
    const next = () => {
      for (;;) {
        {
          const exit = m.vcpus[0]!.run(); // EINTR comes back as 'intr' (api/vcpu.ts)
          if (exit.reason !== 'intr') return reportOf(exit);
          if (seen.intr++ % c.every !== 0) continue;
          const s = save(m, msrs, false);
          const lapic = new DataView(s.vcpu.lapic.buffer, s.vcpu.lapic.byteOffset);
          // An expired one-shot (LVTT one-shot, TMICT set, TMCCT 0) fires once more when KVM_SET_LAPIC
          // restarts it (lapic.c:2040-2044 set_target_expiration, Linux 6.12): the guest would count
          // an extra tick, so the move waits for the guest to leave that state.
          if (((lapic.getUint32(0x320, true) >> 17) & 3) === 0 && lapic.getUint32(0x380, true) !== 0 && lapic.getUint32(0x390, true) === 0) {
            seen.oneShotExpired++;
            continue;
          }
          if (s.vcpu.mpState === KVM_MP_STATE.HALTED) seen.halted++;
          if (lapic.getUint32(0x390, true) !== 0 || (s.vcpu.msrs.get(MSR_TSC_DEADLINE) ?? 0n) !== 0n) seen.timerArmed++;
          if (lapic.getUint32(0x100 + (0x40 >> 5) * 0x10, true) & 1) seen.inService++; // ISR bit of vector 0x40
          m = restore(make(), TIMER, s, undefined);
          seen.moves++;
        }
      }
    };
    const tscKhz = m.vcpus[0]!.getTscKhz();
    const log = (i: number) => m.q(0x100 + 8 * i);
    const ns = (ticks: bigint) => (Number(ticks) * 1e6) / tscKhz;
    const periodic = (count: number, periodNs: number) => {
      if (c.exact) expect(Number(m.q(0))).toBe(count);
      else expect(Number(m.q(0))).toBeGreaterThanOrEqual(count);
      for (let i = 0; i < count; i++) {
        const late = ns(log(i) - m.q(0x28)) - (i + 1) * periodNs;
        expect(late).toBeGreaterThanOrEqual(0); // never early, however often it moved
        if (c.exact) expect(late).toBeLessThan(5000);
      }
    };
    expect(next()).toBe(1);
    expect(m.q(0)).toBe(1n);
    expect(ns(log(0) - m.q(0x28))).toBeGreaterThanOrEqual(100_000);
    expect(next()).toBe(2);
    periodic(5, 200_000);
    expect(next()).toBe(3);
    expect(m.q(0)).toBe(3n);
    for (let i = 0; i < 3; i++) expect(log(i)).toBeGreaterThanOrEqual(m.q(0x30 + 8 * i));
    expect(next()).toBe(4);
    periodic(3, 300_000);
    expect(m.q(0x20)).toBe(1n);
    expect(next()).toBe(5);
    if (c.exact) expect(m.q(0x48)).toBe(5n);
    else expect(m.q(0x48)).toBeGreaterThanOrEqual(5n);
    expect(m.q(0x08)).toBe(0x3bn);
    console.log(`[irq-migrate] ${c.name}: ${JSON.stringify(seen)}`);
    expect(seen.moves).toBeGreaterThan(10);
    expect(seen.timerArmed).toBeGreaterThan(0);
  });
});
