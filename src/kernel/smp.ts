/**
 * SMP in the virtual kernel: a vCPU of a VM running on another JS thread (worker_threads).
 *
 * The kernel (fd table, VMs, vCPUs) lives in the thread that created the `virtualSys()`: the
 * owner. Exporting a vCPU (src/sys/smp.ts) hands a worker what it needs to run that vCPU
 * locally: the vCPU's state, its kvm_run area (shared memory), and a *view* of its VM — the
 * memslots over the same shared guest memory (and shared dirty bitmaps), the VM's shared words
 * (MMU generation, view generation, atomic lock) and the arch VM state a running vCPU reads.
 * The worker builds a mirror of that VM around a mirror of the vCPU (this module) and refreshes
 * the view whenever the owner bumps `Vm.viewGen`.
 * @module
 */
import { KvmError } from '../sys/error.js';
import type { ArchBackend } from './arch.js';
import { KVM_BUS, type BusIndex, type IoDevice, type RangeView } from './iobus.js';
import { Ioeventfd } from './ioeventfd.js';
import { Kernel } from './kernel.js';
import { Memslot, MemslotSet } from './memslots.js';
import { Vcpu } from './vcpu.js';
import { Vm } from './vm.js';

/** One mapping of the owner's address space (the bytes share its SharedArrayBuffer). */
export interface MappingView {
  readonly hva: number;
  readonly bytes: Uint8Array;
}

/** One memslot as a worker mirrors it. */
export interface SlotView {
  readonly id: number;
  readonly as: number;
  readonly baseGfn: number;
  readonly npages: number;
  readonly flags: number;
  readonly userspaceAddr: number;
  /** The slot's dirty bitmap (shared memory), null without dirty logging. */
  readonly dirty: Uint32Array | null;
}

/** What a worker mirrors of a VM: structured-cloneable, sharing memory with the owner. */
export interface VmView {
  /** Vm.viewGen when the view was taken. */
  readonly gen: number;
  readonly slots: readonly SlotView[];
  readonly maps: readonly MappingView[];
  /** The I/O buses' ranges, by enum kvm_bus. */
  readonly buses: readonly (readonly RangeView[])[];
  /** ArchBackend.saveVm */
  readonly arch: unknown;
}

/** The owner's mappings (guest RAM, kvm_run areas, scratch), as views sharing their memory. */
export function spaceView(kernel: Kernel): MappingView[] {
  return kernel.space.all().map((m) => ({ hva: m.hva, bytes: m.bytes }));
}

/** Owner side: the view of `vm` a worker needs. EOPNOTSUPP for what cannot be shared. */
export function vmView(vm: Vm): VmView {
  const gen = Atomics.load(vm.viewGen, 0);
  const slots: SlotView[] = [];
  for (const set of vm.slots) {
    for (const s of set.all()) {
      if (s.gmem) throw KvmError.of('EOPNOTSUPP', 'ioctl', { message: 'guest_memfd memslots cannot be used by vCPUs on other threads' });
      slots.push({ id: s.id, as: s.as, baseGfn: s.baseGfn, npages: s.npages, flags: s.flags, userspaceAddr: s.userspaceAddr, dirty: s.dirty });
    }
  }
  return { gen, slots, maps: spaceView(vm.kernel), buses: vm.buses.map((b) => b.view()), arch: vm.arch.saveVm!(vm) };
}

/** Why the vCPUs of `vm` cannot run on other threads, or undefined. */
export function smpBlocker(vm: Vm): string | undefined {
  const a = vm.arch;
  if (!a.saveVcpu || !a.loadVcpu || !a.saveVm || !a.loadVm) return `the ${a.arch} backend cannot move vCPUs between threads`;
  return a.smpBlocker?.(vm);
}

/** What a worker needs to build its mirror (part of a VcpuHandle). */
export interface MirrorSpec {
  readonly vcpuId: number;
  readonly vcpuIndex: number;
  readonly vmType: number;
  /** Kernel options of the owner's virtualSys. */
  readonly kernel: { readonly runBudget: number; readonly jit: boolean; readonly jitHotness: number | undefined; readonly codeCacheLimit?: number | undefined };
  /** The vCPU's mmap area (shared memory). */
  readonly area: Uint8Array;
  /** Vm.sharedWords of the owner's VM. */
  readonly vmShared: SharedArrayBuffer;
  /** ArchBackend.saveVcpu */
  readonly state: unknown;
  readonly view: VmView;
}

/**
 * Worker side: a kernel holding a mirror of the VM with the one vCPU, over the owner's memory.
 * Memslots are rebuilt from each new view; guest memory, dirty bitmaps, the kvm_run area and the
 * VM's shared words are the owner's own.
 */
export class VcpuMirror {
  readonly kernel: Kernel;
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  /** Vm.viewGen of the view applied last. */
  private seen = -1;

  constructor(backend: ArchBackend, spec: MirrorSpec) {
    const k = (this.kernel = new Kernel(backend));
    k.mirror = true;
    k.runBudget = spec.kernel.runBudget;
    k.jit = spec.kernel.jit;
    k.jitHotness = spec.kernel.jitHotness;
    k.codeCacheLimit = spec.kernel.codeCacheLimit;
    for (const m of spec.view.maps) k.space.mapAt(m.hva, m.bytes);
    this.vm = new Vm(k, spec.vmType, spec.vmShared);
    this.apply(spec.view);
    this.vcpu = new Vcpu(this.vm, spec.vcpuId, spec.vcpuIndex, spec.area);
    this.vm.vcpus.set(spec.vcpuId, this.vcpu);
    this.vm.createdVcpus++;
    backend.loadVcpu!(this.vcpu, spec.state);
  }

  /** True when the owner changed what this mirror shows since the last view. */
  get stale(): boolean {
    return Atomics.load(this.vm.viewGen, 0) !== this.seen;
  }

  /** Mirrors new mappings of the owner's address space. */
  addMappings(maps: readonly MappingView[]): void {
    for (const m of maps) this.kernel.space.mapAt(m.hva, m.bytes);
  }

  /** Applies a view: mappings, memslots, arch VM state. */
  apply(view: VmView): void {
    this.addMappings(view.maps);
    const vm = this.vm;
    for (let i = 0; i < vm.slots.length; i++) vm.slots[i] = new MemslotSet();
    for (const s of view.slots) {
      const slot = new Memslot(s.id, s.as, s.baseGfn, s.npages, s.flags, s.userspaceAddr, undefined, this.kernel.space);
      slot.dirty = s.dirty;
      vm.slots[s.as]?.insert(slot);
    }
    view.buses.forEach((ranges, i) => mirrorBus(vm, i as BusIndex, ranges));
    vm.arch.loadVm!(vm, view.arch);
    this.seen = view.gen;
  }
}

/**
 * A worker's copy of one bus: ioeventfds rebuilt over their shared counters (a hit signals with no
 * message), every other range a proxy forwarding the access to the owner's bus (Vm.callOwner).
 */
function mirrorBus(vm: Vm, bus: BusIndex, ranges: readonly RangeView[]): void {
  const b = vm.buses[bus]!;
  b.clear();
  if (bus !== KVM_BUS.MMIO && bus !== KVM_BUS.PIO) return; // the others are never consulted here
  for (const r of ranges) {
    if (r.share?.kind === 'ioeventfd') b.register(r.addr, r.len, Ioeventfd.fromShare(bus, r.share), true);
    else b.register(r.addr, r.len, forwarder(vm, bus), r.ioeventfd);
  }
}

/** An access the owner's devices answer: [handled, bytes]. */
export type ForwardedIo = { readonly bus: BusIndex; readonly write: boolean; readonly addr: number; readonly len: number; readonly data: Uint8Array };

function forwarder(vm: Vm, bus: BusIndex): IoDevice {
  const go = (vcpu: Vcpu, write: boolean, addr: number, len: number, data: Uint8Array): boolean => {
    const r = vm.callOwner('iobus', { bus, write, addr, len, data: data.slice(0, len) } satisfies ForwardedIo, vcpu) as { handled: boolean; data: Uint8Array };
    if (r.handled && !write) data.set(r.data.subarray(0, len));
    return r.handled;
  };
  return {
    read: (vcpu, addr, len, data) => go(vcpu, false, addr, len, data),
    write: (vcpu, addr, len, data) => go(vcpu, true, addr, len, data),
  };
}
