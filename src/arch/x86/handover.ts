/**
 * Moving an x86 vCPU between threads (exportVcpu / attachVcpu, src/kernel/smp.ts): its state as
 * structured-cloneable data and back. Architectural state, queued events, guest debug and the
 * exit the next KVM_RUN must complete travel; caches (TLB, decoded blocks, translated code) are
 * rebuilt where the vCPU lands.
 * @module
 */
import type { Vcpu } from '../../kernel/vcpu.js';
import type { Vm } from '../../kernel/vm.js';
import { KVM_X86_VM } from '../../uapi/x86.js';
import type { MmioRead } from './cpu.js';
import type { SavedIrqchip } from './irqchip/chip.js';
import { FOp } from './flags.js';
import { MsrFilter } from './msr.js';
import type { X86Machine } from './run.js';
import { tdx } from './tdx/index.js';
import type { X86VmState } from './backend.js';


interface SavedX86Vcpu {
  readonly s: Record<string, unknown>;
  readonly mpState: number;
  readonly guestDebug: number;
  readonly guestDebugRegs: bigint[];
  readonly cpuidEntries: unknown[];
  /** X86Events.save(): queued events, the shared APIC page, LAPIC timer, TSC/kvmclock. */
  readonly events: unknown;
  readonly hasRun: boolean;
  readonly pending: unknown;
  readonly retired: number;
  readonly mmioReads: MmioRead[];
  readonly mmioIdx: number;
  readonly mmioWriteDone: boolean;
}

export function x86SmpBlocker(vm: Vm): string | undefined {
  if (tdx.isTd(vm)) return 'TD vCPUs cannot move to another thread';
  if ((vm.archState as X86VmState).type !== KVM_X86_VM.DEFAULT_VM) return 'VMs with private memory cannot run vCPUs on other threads';
  for (const v of vm.vcpus.values()) {
    if ((v.archState as X86Machine).intro !== null) return 'an introspected (KVMI) VM cannot run vCPUs on other threads';
  }
  return undefined;
}

export function saveX86Vcpu(vcpu: Vcpu): SavedX86Vcpu {
  const m = vcpu.archState as X86Machine;
  const c = m.cpu;
  c.getFlags(); // fold the lazy arithmetic flags into rflags
  const ev = m.events;
  return {
    s: structuredClone(m.s) as unknown as Record<string, unknown>,
    mpState: m.mpState,
    guestDebug: m.debug.control,
    guestDebugRegs: [...m.debug.regs],
    cpuidEntries: structuredClone(m.cpuidEntries),
    events: ev.save(),
    hasRun: m.hasRun,
    pending: structuredClone(m.pending),
    retired: m.retired,
    mmioReads: structuredClone(c.mmioReads.slice(0, c.mmioCount)),
    mmioIdx: c.mmioIdx,
    mmioWriteDone: c.mmioWriteDone,
  };
}

export function loadX86Vcpu(vcpu: Vcpu, state: unknown): void {
  const st = state as SavedX86Vcpu;
  const m = vcpu.archState as X86Machine;
  const c = m.cpu;
  const s = m.s as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(st.s)) {
    const cur = s[k];
    if (cur instanceof Map) {
      cur.clear();
      for (const [a, b] of v as Map<unknown, unknown>) cur.set(a, b);
    } else if (ArrayBuffer.isView(cur)) (cur as Uint8Array).set(v as Uint8Array);
    else if (Array.isArray(cur)) cur.splice(0, cur.length, ...(v as unknown[]));
    else s[k] = v;
  }
  c.f.op = FOp.NONE;
  m.mpState = st.mpState;
  m.debug.control = st.guestDebug;
  m.debug.regs.splice(0, m.debug.regs.length, ...st.guestDebugRegs);
  m.cpuidEntries = st.cpuidEntries as X86Machine['cpuidEntries'];
  m.events.load(st.events);
  if (m.events.lapic !== null) m.cpu.localMmio = m.events.lapic;
  m.hasRun = st.hasRun;
  m.retired = st.retired;
  const pend = st.pending as { kind: string } | null;
  if (pend && (pend.kind === 'pio_in' || pend.kind === 'pio_out')) {
    // The machine reuses one PIO completion object.
    Object.assign(m.pio, pend);
    m.pending = m.pio;
  } else m.pending = pend as X86Machine['pending'];
  c.mmioReads.splice(0, c.mmioReads.length, ...st.mmioReads);
  c.mmioCount = st.mmioReads.length;
  c.mmioIdx = st.mmioIdx;
  c.mmioWriteDone = st.mmioWriteDone;
  c.updateMode();
  c.flushTlb();
  m.blocks.flush();
  m.debug.armWatchpoints();
}

interface SavedX86Vm {
  readonly userSpaceMsr: number;
  readonly exitHypercall: bigint;
  readonly msrFilter: { defaultDeny: boolean; ranges: MsrFilter['ranges'] } | null;
  readonly irq: SavedIrqchip;
}

export function saveX86Vm(vm: Vm): SavedX86Vm {
  const st = vm.archState as X86VmState;
  const f = st.msrFilter;
  return {
    userSpaceMsr: st.userSpaceMsr,
    exitHypercall: st.exitHypercall,
    msrFilter: f ? { defaultDeny: f.defaultDeny, ranges: f.ranges.map((r) => ({ ...r, bitmap: r.bitmap.slice() })) } : null,
    irq: st.irq.save(),
  };
}

export function loadX86Vm(vm: Vm, state: unknown): void {
  const v = state as SavedX86Vm;
  const st = vm.archState as X86VmState;
  st.userSpaceMsr = v.userSpaceMsr;
  st.exitHypercall = v.exitHypercall;
  st.msrFilter = v.msrFilter ? new MsrFilter(v.msrFilter.defaultDeny, v.msrFilter.ranges) : null;
  st.irq.load(v.irq);
}
