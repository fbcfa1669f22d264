/**
 * SMP in the virtual kernel: a vCPU of a VM running on another JS thread (worker_threads).
 *
 * The kernel (fd table, VMs, vCPUs) lives in the thread that created the `virtualSys()`: the
 * owner. Exporting a vCPU (src/sys/smp.ts) hands a worker what it needs to run that vCPU
 * locally: the vCPU's state, its kvm_run area (shared memory), and a *view* of its VM — the
 * memslots over the same shared guest memory (and shared dirty bitmaps), the VM's shared words
 * (MMU generation, view generation, atomic lock) and the arch VM state a running vCPU reads.
 * The worker builds a mirror of that VM around a mirror of the vCPU (this module).
 *
 * Keeping the mirror exact (the kernel's guarantees across threads):
 * - The owner *pushes* every change a mirror needs — new memslots and VM state (`Vm.bumpView`),
 *   mappings added to or removed from its address space — on a channel the worker drains
 *   without blocking: at KVM_RUN entry and at every block boundary where it sees the VM's MMU
 *   generation move (`VcpuSync`).
 * - Changes after which no vCPU may use what it cached — a memslot deleted, moved or switched to
 *   dirty logging, a dirty-log harvest (which write-protects, as the kernel's does), memory
 *   attributes, a munmap under a memslot — bump the MMU generation and then *wait* until every
 *   attached vCPU that is inside a vCPU ioctl has acknowledged it (`KernelSmp.flush`, the
 *   counterpart of kvm_flush_remote_tlbs and synchronize_srcu). A worker acknowledges at the
 *   next block boundary after dropping its cached translations; one outside KVM_RUN holds
 *   nothing and is not waited for, and neither is one waiting inside KVM_RUN for the owner (a
 *   device access forwarded to the owner's event loop, which the waiting owner cannot answer) or
 *   halted: it catches up before it touches guest memory again (`suspend`/`resume`).
 * - A worker that stops acknowledging for ACK_GRACE_MS while inside KVM_RUN is presumed gone
 *   (terminated: JS gives no synchronous sign of it) and its vCPU is lost (EIO), which the
 *   owner's 'close' event says more promptly when the owner's event loop runs.
 * @module
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { KvmError } from '../sys/error.js';
import type { ArchBackend } from './arch.js';
import { recoverLock } from './atomics.js';
import type { Mapping, WasmMemory } from './hva.js';
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
  /** Mapping.serial in the owner. */
  readonly serial: number | undefined;
  /** Mapping.wasm in the owner: the mirror's views of it share the worker's own Memory object. */
  readonly wasm?: WasmMemory | undefined;
}

/** A mapping of the owner's space as a message carries it to a mirror. */
export function mappingView(m: Mapping): MappingView {
  return { hva: m.hva, bytes: m.bytes, serial: m.serial, wasm: m.wasm };
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
  return kernel.space.all().map(mappingView);
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
  readonly kernel: { readonly runBudget: number; readonly runTimeoutMs: number; readonly jit: boolean; readonly jitEngine?: 'wasm' | 'js'; readonly jitHotness: number | undefined; readonly codeCacheLimit?: number | undefined };
  /** The vCPU's mmap area (shared memory). */
  readonly area: Uint8Array;
  /** Vcpu.requests of the owner's vCPU (shared memory). */
  readonly requests: Int32Array;
  /** Vm.sharedWords of the owner's VM. */
  readonly vmShared: SharedArrayBuffer;
  /** ArchBackend.saveVcpu */
  readonly state: unknown;
  readonly view: VmView;
  /** The link's shared words (LINK), and the channel the owner pushes changes on. */
  readonly link: Int32Array;
  readonly push: MessagePort;
}

/** Words of the Int32Array shared by the owner and the worker of one attached vCPU. */
export const LINK = {
  /** 1 while the worker runs a vCPU ioctl (it may hold cached translations), else 0. */
  RUNNING: 0,
  /** The MMU generation the worker last synced to while running. */
  ACK: 1,
  /** 0 until attachVcpu takes the handle (one attachment per handle). */
  ATTACHED: 2,
  /** Set by the owner when it gave the worker up (the vCPU is lost: EIO). */
  LOST: 3,
  /** The worker thread's lock holder id (atomics.ts LOCK_ID), for lock recovery. */
  HOLDER: 4,
} as const;
export const LINK_WORDS = 8;

/** How long the owner waits for a running worker's acknowledgment before presuming it gone. */
export const ACK_GRACE_MS = 3000;

/** A change pushed to a worker's mirror. */
export type Push = { readonly view: VmView } | { readonly map: MappingView } | { readonly unmap: number; readonly serial: number | undefined };

/** Owner side: one attached vCPU. */
export interface RemoteVcpu {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly words: Int32Array;
  readonly port: MessagePort;
  /** Called once when the owner gives the worker up (presumed dead, or its channel closed). */
  onLost(): void;
}

/**
 * Owner side: the vCPUs of this kernel's VMs attached on other threads, and how changes reach
 * them (see the module comment).
 */
export class KernelSmp {
  private readonly links = new Set<RemoteVcpu>();

  add(r: RemoteVcpu): void {
    this.links.add(r);
  }

  /** The vCPU came back (or was lost): nothing more goes to its worker. */
  remove(r: RemoteVcpu): void {
    this.links.delete(r);
  }

  /** True when `vm` has vCPUs on other threads. */
  has(vm: Vm): boolean {
    for (const r of this.links) if (r.vm === vm) return true;
    return false;
  }

  private pushAll(p: Push, vm?: Vm): void {
    for (const r of this.links) {
      if (vm && r.vm !== vm) continue;
      try {
        r.port.postMessage(p);
      } catch {
        /* a closed channel: its 'close' event retires the link */
      }
    }
  }

  /** Memslots or VM state changed: the new view goes to the VM's attached vCPUs. */
  viewChanged(vm: Vm): void {
    if (this.has(vm)) this.pushAll({ view: vmView(vm) }, vm);
  }

  /** A mapping was added to the owner's address space: mirrors may need it. */
  mapped(m: Mapping): void {
    if (this.links.size) this.pushAll({ map: mappingView(m) });
  }

  /** A munmap: mirrors drop the mapping (the kernel then flushes the VMs with a memslot over it). */
  unmapped(m: Mapping): void {
    if (this.links.size) this.pushAll({ unmap: m.hva, serial: m.serial });
  }

  /**
   * Waits until every vCPU of `vm` attached elsewhere and inside a vCPU ioctl has synced to the
   * VM's current MMU generation (dropped what it cached); gives up on one that stays silent for
   * ACK_GRACE_MS (see the module comment).
   */
  flush(vm: Vm): void {
    const target = Atomics.load(vm.mmuGen, 0);
    for (const r of [...this.links]) {
      if (r.vm !== vm) continue;
      const w = r.words;
      let start = 0;
      for (;;) {
        if (Atomics.load(w, LINK.LOST) !== 0 || Atomics.load(w, LINK.RUNNING) === 0) break;
        const ack = Atomics.load(w, LINK.ACK);
        if (((ack - target) | 0) >= 0) break;
        const now = performance.now();
        if (start === 0) start = now;
        else if (now - start > ACK_GRACE_MS) {
          this.lose(r);
          break;
        }
        Atomics.wait(w, LINK.ACK, ack, 10);
      }
    }
  }

  /** Gives the worker of `r` up: its vCPU is lost, and a VM lock it held is freed. */
  lose(r: RemoteVcpu): void {
    if (!this.links.has(r)) return;
    Atomics.store(r.words, LINK.LOST, 1);
    this.links.delete(r);
    const holder = Atomics.load(r.words, LINK.HOLDER);
    if (holder !== 0) recoverLock(r.vm.atomicLock, holder);
    r.onLost();
  }
}

/**
 * Worker side: what a vCPU running here does to stay exact (see the module comment). The run
 * loops call, at each block boundary: `if (sync !== null && sync.due()) { sync.pull(); <drop
 * cached translations>; sync.ack(); }`.
 */
export class VcpuSync {
  /** The MMU generation last acknowledged. */
  private seen: number;
  /** The generation read by the last `pull`. */
  private pulled = 0;

  constructor(
    private readonly mirror: VcpuMirror,
    private readonly words: Int32Array,
    private readonly port: MessagePort,
  ) {
    this.seen = Atomics.load(mirror.vm.mmuGen, 0) - 1;
  }

  /** The owner changed memory since this vCPU last synced (cheap: one load). */
  due(): boolean {
    return Atomics.load(this.mirror.vm.mmuGen, 0) !== this.seen;
  }

  /**
   * Applies everything the owner pushed so far. EIO once the owner gave this worker up. True when
   * the MMU generation moved since the last `ack` (cached translations must go).
   */
  pull(): boolean {
    this.pulled = Atomics.load(this.mirror.vm.mmuGen, 0);
    if (Atomics.load(this.words, LINK.LOST) !== 0) throw KvmError.of('EIO', 'ioctl', { message: 'the owner gave this vCPU up (it stopped answering)' });
    this.drain(true);
    return this.pulled !== this.seen;
  }

  /** A view whose memslots wait for the next block boundary (its mappings are in already). */
  private deferred: VmView | null = null;

  /**
   * Applies pending pushes, in order (a view carries the mappings of its time, which a later
   * unmap may remove). `views` false — an hva missing in the middle of an access: it may be new —
   * takes the mappings only and leaves memslots and VM state for the next block boundary.
   */
  drain(views = false): void {
    const space = this.mirror.kernel.space;
    for (;;) {
      const m = receiveMessageOnPort(this.port) as { message: Push } | undefined;
      if (!m) break;
      const p = m.message;
      if ('view' in p) {
        this.mirror.addMappings(p.view.maps);
        this.deferred = p.view;
      } else if ('map' in p) space.mapAt(p.map.hva, p.map.bytes, p.map.serial, p.map.wasm);
      else {
        // Only that mapping: the place may already hold the one a later mmap put there.
        const have = space.find(p.unmap, false);
        if (have && have.hva === p.unmap && have.serial === p.serial) space.unmapHva(p.unmap);
      }
    }
    if (views && this.deferred) {
      this.mirror.apply(this.deferred, false);
      this.deferred = null;
    }
  }

  /** Acknowledges the generation of the last `pull` (after cached translations were dropped). */
  ack(): void {
    this.seen = this.pulled;
    Atomics.store(this.words, LINK.ACK, this.pulled);
    Atomics.notify(this.words, LINK.ACK);
  }

  /**
   * Drops the arch's cached translations (set by the arch's run loop: x86 syncMmu, arm64
   * checkMmuGen), for `resume` in the middle of an instruction.
   */
  flush: (() => void) | null = null;

  /**
   * The vCPU is about to wait for something outside it — a device access forwarded to the owner,
   * a halt — and touches no guest memory meanwhile: the owner need not wait for it (the owner may
   * be the one it waits for). Returns false when it was not inside a vCPU ioctl.
   */
  suspend(): boolean {
    if (Atomics.load(this.words, LINK.RUNNING) === 0) return false;
    Atomics.store(this.words, LINK.RUNNING, 0);
    Atomics.notify(this.words, LINK.ACK);
    return true;
  }

  /** Back from `suspend`: takes what the owner changed meanwhile before guest memory is touched again. */
  resume(): void {
    Atomics.store(this.words, LINK.RUNNING, 1);
    if (this.due()) {
      this.pull();
      this.flush?.();
      this.ack();
    }
  }

  /** A vCPU ioctl begins on this thread (the arch drops stale translations as KVM_RUN starts). */
  enter(): void {
    Atomics.store(this.words, LINK.RUNNING, 1);
    // What the last run cached may come from the memslots this pull replaced.
    if (this.pull()) this.flush?.();
    this.ack();
  }

  /** The vCPU ioctl is over: this thread holds no translation the owner must wait for. */
  leave(): void {
    Atomics.store(this.words, LINK.RUNNING, 0);
    Atomics.notify(this.words, LINK.ACK);
  }
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

  constructor(backend: ArchBackend, spec: MirrorSpec) {
    const k = (this.kernel = new Kernel(backend));
    k.mirror = true;
    k.runBudget = spec.kernel.runBudget;
    k.deadline.timeoutMs = spec.kernel.runTimeoutMs;
    // The owner's address space, followed: the owner flushes its VMs when it unmaps (not us).
    k.space.listener = null;
    k.jit = spec.kernel.jit;
    if (spec.kernel.jitEngine !== undefined) k.jitEngine = spec.kernel.jitEngine;
    k.jitHotness = spec.kernel.jitHotness;
    k.codeCacheLimit = spec.kernel.codeCacheLimit;
    for (const m of spec.view.maps) k.space.mapAt(m.hva, m.bytes, m.serial, m.wasm);
    this.vm = new Vm(k, spec.vmType, spec.vmShared);
    this.apply(spec.view);
    this.vcpu = new Vcpu(this.vm, spec.vcpuId, spec.vcpuIndex, spec);
    this.vm.vcpus.set(spec.vcpuId, this.vcpu);
    this.vm.createdVcpus++;
    backend.loadVcpu!(this.vcpu, spec.state);
    this.vcpu.sync = new VcpuSync(this, spec.link, spec.push);
  }

  /** Mirrors new mappings of the owner's address space; returns the mirror's mappings. */
  addMappings(maps: readonly MappingView[]): Mapping[] {
    return maps.map((m) => this.kernel.space.mapAt(m.hva, m.bytes, m.serial, m.wasm));
  }

  /** Applies a view: mappings, memslots, arch VM state. */
  apply(view: VmView, maps = true): void {
    if (maps) this.addMappings(view.maps);
    const vm = this.vm;
    for (let i = 0; i < vm.slots.length; i++) vm.slots[i] = new MemslotSet();
    for (const s of view.slots) {
      const slot = new Memslot(s.id, s.as, s.baseGfn, s.npages, s.flags, s.userspaceAddr, undefined, this.kernel.space);
      slot.dirty = s.dirty;
      vm.slots[s.as]?.insert(slot);
    }
    view.buses.forEach((ranges, i) => mirrorBus(vm, i as BusIndex, ranges));
    vm.arch.loadVm!(vm, view.arch);
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
