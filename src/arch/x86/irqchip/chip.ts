/**
 * The x86 in-kernel irqchip of one VM (kvm->arch's irqchip_mode, vpic, vioapic, vpit and the APIC
 * delivery state), with the hooks the generic kernel calls (src/kernel/arch.ts): KVM_CREATE_IRQCHIP,
 * KVM_CAP_SPLIT_IRQCHIP, the default GSI routing, routing entries (irq_comm.c
 * kvm_set_routing_entry), MSIs, KVM_GET/SET_IRQCHIP, KVM_CREATE_PIT(2), KVM_GET/SET_PIT(2),
 * KVM_REINJECT_CONTROL.
 *
 * The PIC, IOAPIC and PIT are plain objects on the thread owning the VM; a worker thread's mirror
 * of the VM has this object too, without them: its vCPUs reach them through `Vm.callOwner`
 * (EOIs, PIC acknowledge, IOAPIC scans), and deliver interrupts to each other directly through the
 * shared APIC pages (`apics`).
 * @module
 */
import { setDefaultIrqRouting, KVM_USERSPACE_IRQ_SOURCE_ID, type ArchRoute, type MsiMessage, type RoutingEntryInput } from '../../../kernel/irq.js';
import { KVM_BUS } from '../../../kernel/iobus.js';
import type { Vcpu } from '../../../kernel/vcpu.js';
import type { Vm } from '../../../kernel/vm.js';
import { KvmError } from '../../../sys/error.js';
import { KVM_IRQ_ROUTING } from '../../../uapi/constants.js';
import { KVM_IRQCHIP, KVM_IOAPIC_NUM_PINS } from '../../../uapi/x86.js';
import type { X86Machine } from '../run.js';
import { APIC, APIC_DM, APIC_LVT_MASKED, APIC_MODE_MASK, ApicBus, ApicView, msiToIrq } from './apic.js';
import { KvmIoapic } from './ioapic.js';
import { KvmPic, PIC_NUM_PINS } from './i8259.js';
import { KvmPit } from './i8254.js';

/** kvm->arch.irqchip_mode */
export type IrqchipMode = 'none' | 'kernel' | 'split';

/** irq source id the PIT drives GSI 0 with (kvm_request_irq_source_id after the two reserved ones). */
const PIT_IRQ_SOURCE_ID = 2;

/** One vCPU's APIC as a worker thread's mirror learns it (structured-cloneable, sharing memory). */
export interface ApicRef {
  readonly id: number;
  readonly index: number;
  readonly page: Int32Array;
  readonly requests: Int32Array;
}

/** What a worker's mirror of the VM needs (X86Irqchip.save). */
export interface SavedIrqchip {
  readonly mode: IrqchipMode;
  readonly nrReservedIoapicPins: number;
  readonly x2apicFormat: boolean;
  readonly broadcastQuirkDisabled: boolean;
  readonly bspVcpuId: number;
  readonly shared: Int32Array;
  readonly apics: readonly ApicRef[];
  readonly defaultTscKhz: number;
}

// VM-wide shared words (X86Irqchip.shared).
const S_PIC_OUTPUT = 0;
const S_WALL_LO = 1;
const S_WALL_HI = 2;
const S_NMI_MODE = 3; // kvm->arch.vapics_in_nmi_mode
const S_MAP_GEN = 4; // bumped when an APIC's ID, LDR, DFR or enables change (the map is stale)

/** The x86 irqchip state of one VM, on one thread. */
export class X86Irqchip {
  mode: IrqchipMode = 'none';
  /** KVM_CAP_SPLIT_IRQCHIP args[0]: IOAPIC pins routed to userspace. */
  nrReservedIoapicPins = 0;
  /** kvm->arch.bsp_vcpu_id (KVM_SET_BOOT_CPU_ID). */
  bspVcpuId = 0;
  /** kvm->arch.default_tsc_khz (KVM_SET_TSC_KHZ on the VM fd), 0: the host's. */
  defaultTscKhz = 0;
  /**
   * kvm->arch.cur_tsc_offset and last_tsc_khz (kvm_synchronize_tsc): the TSC timeline a vCPU
   * created later joins when its rate matches; null until the first vCPU. Owner thread only.
   */
  tscSync: { offset: bigint; khz: number } | null = null;
  pic: KvmPic | null = null;
  ioapic: KvmIoapic | null = null;
  pit: KvmPit | null = null;
  readonly bus: ApicBus;
  /** Words every thread reads: the PIC's output, the wall-clock MSR, LVT0s in NMI mode. */
  shared: Int32Array = new Int32Array(new SharedArrayBuffer(64));
  /** A worker mirror's view of the other vCPUs' APICs (null on the owner: it reads them from vm.vcpus). */
  private remote: ApicView[] | null = null;
  private cached: ApicView[] = [];
  private cachedFor = -1;

  constructor(private readonly vm: Vm) {
    this.bus = new ApicBus(
      () => this.apics(),
      () => Atomics.load(this.shared, S_MAP_GEN),
    );
  }

  /** irqchip_in_kernel: a full or split irqchip (the LAPICs are in the kernel). */
  get inKernel(): boolean {
    return this.mode !== 'none';
  }

  get split(): boolean {
    return this.mode === 'split';
  }

  /** ioapic_in_kernel / pic_in_kernel */
  get ioapicInKernel(): boolean {
    return this.mode === 'kernel';
  }

  /** Whether this object lives on the thread that owns the VM (it holds the PIC/IOAPIC/PIT). */
  private get owner(): boolean {
    return !this.vm.kernel.mirror;
  }

  /** Every vCPU's APIC in vcpu_idx order. */
  apics(): readonly ApicView[] {
    if (this.remote !== null) return this.remote;
    const n = this.vm.vcpus.size;
    if (n !== this.cachedFor) {
      const list: ApicView[] = [];
      for (const v of this.vm.vcpus.values()) {
        const l = (v.archState as X86Machine | undefined)?.events?.lapic;
        if (l) list.push(l);
      }
      list.sort((a, b) => a.vcpuIndex - b.vcpuIndex);
      this.cached = list;
      this.cachedFor = n;
    }
    return this.cached;
  }

  /** Forgets the cached list (a vCPU was created). */
  vcpusChanged(): void {
    this.cachedFor = -1;
  }

  // ---- creation ----------------------------------------------------------------------------------

  /** KVM_CREATE_IRQCHIP (kvm_arch_vm_ioctl): EEXIST with one already, EINVAL once a vCPU exists. */
  create(): void {
    if (this.inKernel) throw KvmError.of('EEXIST', 'ioctl', { message: 'the VM has an in-kernel irqchip' });
    if (this.vm.createdVcpus > 0) throw KvmError.of('EINVAL', 'ioctl', { message: 'KVM_CREATE_IRQCHIP after KVM_CREATE_VCPU' });
    const vm = this.vm;
    const pio = vm.buses[KVM_BUS.PIO]!;
    const pic = new KvmPic(vm, {
      picOutput: (level, wakeup) => this.picOutput(level, wakeup),
      anyAcceptsPic: () => this.apics().some((a) => a.acceptPicIntr()),
      fireMaskNotifiers: (c, p, m) => this.fireMaskNotifiers(c, p, m),
    });
    pic.register(pio);
    const ioapic = new KvmIoapic(vm, {
      bus: this.bus,
      scanIoapic: () => this.scanIoapic(),
      fireMaskNotifiers: (c, p, m) => this.fireMaskNotifiers(c, p, m),
      notifyResampler: (c, p) => vm.irqfds.notifyResampler(vm.irq.gsiOf(c, p)),
      later: (key, ns, fn) => vm.timers.arm(key, vm.clock.now() + ns, fn),
    });
    vm.buses[KVM_BUS.MMIO]!.register(ioapic.baseAddress, 0x100, ioapic.dev);
    this.pic = pic;
    this.ioapic = ioapic;
    // kvm_setup_default_irq_routing: GSI 0-15 to the IOAPIC pin and the PIC pin, 16-23 to the IOAPIC.
    const routes: { gsi: number; irqchip: number; pin: number }[] = [];
    for (let i = 0; i < KVM_IOAPIC_NUM_PINS; i++) {
      routes.push({ gsi: i, irqchip: KVM_IRQCHIP.IOAPIC, pin: i });
      if (i < PIC_NUM_PINS) routes.push({ gsi: i, irqchip: i < 8 ? KVM_IRQCHIP.PIC_MASTER : KVM_IRQCHIP.PIC_SLAVE, pin: i % 8 });
    }
    this.mode = 'kernel';
    setDefaultIrqRouting(vm, routes);
    vm.ownerOps.set('x86.ioapic_eoi', (p) => {
      const e = p as { vcpuId: number; vector: number; level: boolean; directedEoi: boolean };
      this.ioapic?.updateEoi(e.vcpuId, e.vector, e.level, e.directedEoi);
      return null;
    });
    vm.ownerOps.set('x86.pic_read_irq', () => this.pic?.readIrq() ?? -1);
    vm.ownerOps.set('x86.scan_ioapic', () => (this.scanIoapic(), null));
  }

  /** KVM_CAP_SPLIT_IRQCHIP: LAPICs in the kernel, PIC and IOAPIC in userspace. */
  enableSplit(pins: bigint): void {
    if (pins > 4096n) throw KvmError.of('EINVAL', 'ioctl', { message: 'more reserved IOAPIC pins than KVM_MAX_IRQ_ROUTES' });
    if (this.inKernel || this.vm.createdVcpus > 0) throw KvmError.of('EEXIST', 'ioctl', { message: 'irqchip exists or vCPUs were created' });
    this.mode = 'split';
    this.nrReservedIoapicPins = Number(pins);
    this.vm.ownerOps.set('x86.scan_ioapic', () => (this.scanIoapic(), null));
  }

  /** KVM_CREATE_PIT(2): EEXIST with one, ENOENT without the in-kernel PIC. */
  createPit(flags: number): void {
    if (this.pit) throw KvmError.of('EEXIST', 'ioctl', { message: 'the VM has a PIT' });
    if (!this.ioapicInKernel) throw KvmError.of('ENOENT', 'ioctl', { message: 'KVM_CREATE_PIT2 needs KVM_CREATE_IRQCHIP' });
    const vm = this.vm;
    const pit = new KvmPit(vm, { setIrq0: (level) => vm.irq.setIrq(PIT_IRQ_SOURCE_ID, 0, level, false), ioapicInKernel: true, nmiWatchdog: () => this.nmiWatchdog() }, flags);
    pit.register(vm.buses[KVM_BUS.PIO]!);
    pit.setReinject(true);
    this.pit = pit;
    this.scanIoapic();
  }

  /** Tears the devices down (the VM is destroyed). */
  destroy(): void {
    this.pit?.unregister(this.vm.buses[KVM_BUS.PIO]!);
  }

  // ---- routing -----------------------------------------------------------------------------------

  /** kvm_set_routing_entry */
  routingEntry(e: RoutingEntryInput): ArchRoute {
    switch (e.type) {
      case KVM_IRQ_ROUTING.IRQCHIP: {
        if (this.split) throw KvmError.of('EINVAL', 'ioctl', { message: 'irqchip routes with a split irqchip' });
        const { irqchip, pin } = e.irqchip;
        if (irqchip === KVM_IRQCHIP.PIC_MASTER || irqchip === KVM_IRQCHIP.PIC_SLAVE) {
          if (pin >= PIC_NUM_PINS / 2) throw KvmError.of('EINVAL', 'ioctl', { message: 'no such PIC pin' });
          const p = irqchip === KVM_IRQCHIP.PIC_SLAVE ? pin + 8 : pin;
          return { irqchip: { irqchip, pin: p }, set: (vm, src, level) => chipOf(vm).pic?.setIrq(p, src, level) ?? -1 };
        }
        if (irqchip === KVM_IRQCHIP.IOAPIC) {
          if (pin >= KVM_IOAPIC_NUM_PINS) throw KvmError.of('EINVAL', 'ioctl', { message: 'no such IOAPIC pin' });
          return { irqchip: { irqchip, pin }, set: (vm, src, level, ls) => chipOf(vm).ioapic?.setIrq(pin, src, level, ls) ?? -1 };
        }
        throw KvmError.of('EINVAL', 'ioctl', { message: 'no such irqchip' });
      }
      case KVM_IRQ_ROUTING.MSI: {
        if (this.msiInvalid(e.msi)) throw KvmError.of('EINVAL', 'ioctl', { message: 'x2APIC-format MSI with address_hi bits 7:0 set' });
        const msi = e.msi;
        return { set: (vm, src, level, ls) => chipOf(vm).setMsi(msi, src, level, ls) };
      }
      default:
        throw KvmError.of('EINVAL', 'ioctl', { message: `routing entry type ${e.type} is not supported` });
    }
  }

  /** kvm_msi_route_invalid */
  private msiInvalid(m: MsiMessage): boolean {
    return this.bus.x2apicFormat && (m.addressHi & 0xff) !== 0;
  }

  /** kvm_set_msi: -EINVAL for an invalid x2APIC-format message, -1 for level 0, else the delivery result. */
  setMsi(m: MsiMessage, _source: number, level: number, _lineStatus: boolean): number {
    if (this.msiInvalid(m)) return -22;
    if (!level) return -1;
    return this.bus.deliver(null, msiToIrq(m.addressLo, m.addressHi, m.data, this.bus.x2apicFormat));
  }

  /** The routing table changed (kvm_arch_post_irq_routing_update): a split irqchip rescans its MSI routes. */
  routingChanged(): void {
    if (this.split) this.scanIoapic();
  }

  // ---- EOIs and the vectors each vCPU reports --------------------------------------------------------

  /**
   * kvm_make_scan_ioapic_request + vcpu_scan_ioapic for every vCPU: recomputes the vectors whose
   * EOI a vCPU must report (to the in-kernel IOAPIC, or to userspace with KVM_EXIT_IOAPIC_EOI), into
   * its shared page. Runs where the IOAPIC and the routing table live (the owner thread).
   */
  scanIoapic(): void {
    if (!this.owner) {
      this.vm.callOwner('x86.scan_ioapic', null);
      return;
    }
    const bits = new Int32Array(8);
    const irq = this.vm.irq;
    for (const a of this.apics()) {
      bits.fill(0);
      if (a.hwEnabled()) {
        if (this.split) this.scanRoutes(a, bits);
        else if (this.ioapic) {
          const ack = irq.ackNotifiers;
          this.ioapic.scanEntry(a, (pin) => {
            const gsi = irq.gsiOf(KVM_IRQCHIP.IOAPIC, pin);
            if (gsi < 0) return false;
            for (const n of ack) if (n.gsi === gsi) return true;
            return false;
          }, bits);
        }
      }
      a.setHandled(bits);
    }
  }

  /** kvm_scan_ioapic_routes: level-triggered MSI routes of the userspace IOAPIC's pins. */
  private scanRoutes(a: ApicView, bits: Int32Array): void {
    const n = Math.min(this.vm.irq.routing.nrEntries, this.nrReservedIoapicPins);
    for (let gsi = 0; gsi < n; gsi++) {
      for (const r of this.vm.irq.routesOf(gsi)) {
        if (r.type !== KVM_IRQ_ROUTING.MSI || !r.msi) continue;
        const irq = msiToIrq(r.msi.addressLo, r.msi.addressHi, r.msi.data, this.bus.x2apicFormat);
        if (irq.trigMode && (this.bus.matchDest(a, null, 0, irq.destId, irq.destMode) || a.pendingEoi(irq.vector))) bits[irq.vector >> 5]! |= 1 << (irq.vector & 31);
      }
    }
  }

  /** An APIC's ID, LDR, DFR or enables changed (kvm_recalculate_apic_map -> scan). */
  apicMapChanged(_vcpu: Vcpu): void {
    Atomics.add(this.shared, S_MAP_GEN, 1);
    if (this.mode === 'none') return;
    if (this.owner || this.ioapicInKernel || this.split) this.scanIoapic();
  }

  /** kvm_ioapic_update_eoi, from the vCPU's thread. */
  ioapicEoi(vcpu: Vcpu, vector: number, level: boolean, directedEoi: boolean): void {
    const p = { vcpuId: vcpu.id, vector, level, directedEoi };
    if (this.owner) this.ioapic?.updateEoi(p.vcpuId, vector, level, directedEoi);
    else this.vm.callOwner('x86.ioapic_eoi', p, vcpu);
  }

  // ---- the PIC's output (ExtINT) -----------------------------------------------------------------

  /** pic_irq_request: the output line; a rising one kicks the first vCPU taking ExtINT. */
  private picOutput(level: boolean, wakeup: boolean): void {
    Atomics.store(this.shared, S_PIC_OUTPUT, level ? 1 : 0);
    if (!wakeup) return;
    for (const a of this.apics()) {
      if (a.acceptPicIntr()) {
        a.kick(1 /* KVM_REQ.EVENT */);
        return;
      }
    }
  }

  /** vpic->output, from any thread. */
  get picOutputLevel(): boolean {
    return Atomics.load(this.shared, S_PIC_OUTPUT) !== 0;
  }

  /** kvm_pic_read_irq, from the vCPU's thread. */
  picReadIrq(vcpu: Vcpu): number {
    if (this.owner) return this.pic?.readIrq() ?? -1;
    return this.vm.callOwner('x86.pic_read_irq', null, vcpu) as number;
  }

  // ---- misc --------------------------------------------------------------------------------------

  /** kvm_fire_mask_notifiers: the PIT forgets queued ticks when GSI 0 is unmasked. */
  private fireMaskNotifiers(irqchip: number, pin: number, masked: boolean): void {
    const gsi = this.vm.irq.gsiOf(irqchip, pin);
    if (gsi === 0 && this.pit) this.pit.maskChanged(masked);
  }

  /** kvm->arch.vapics_in_nmi_mode */
  vapicsInNmiMode(delta: number): void {
    Atomics.add(this.shared, S_NMI_MODE, delta);
  }

  /** The PIT's NMI watchdog path: LVT0 of every vCPU when some LINT0 is in NMI mode. */
  private nmiWatchdog(): void {
    if (Atomics.load(this.shared, S_NMI_MODE) <= 0) return;
    for (const a of this.apics()) {
      const lvt0 = a.reg(APIC.LVT0);
      if (a.hwEnabled() && !(lvt0 & APIC_LVT_MASKED)) a.acceptIrq(lvt0 & APIC_MODE_MASK, lvt0 & 0xff, true, lvt0 & (1 << 15));
    }
  }

  /** kvm->arch.wall_clock (MSR_KVM_WALL_CLOCK(_NEW)), shared by every vCPU. */
  get wallClock(): bigint {
    return (BigInt(Atomics.load(this.shared, S_WALL_HI) >>> 0) << 32n) | BigInt(Atomics.load(this.shared, S_WALL_LO) >>> 0);
  }

  set wallClock(v: bigint) {
    Atomics.store(this.shared, S_WALL_LO, Number(v & 0xffffffffn) | 0);
    Atomics.store(this.shared, S_WALL_HI, Number((v >> 32n) & 0xffffffffn) | 0);
  }

  /** KVM_IRQ_LINE on a userspace GSI through KVM_USERSPACE_IRQ_SOURCE_ID (tests). */
  static readonly USERSPACE_SOURCE = KVM_USERSPACE_IRQ_SOURCE_ID;

  // ---- moving vCPUs to worker threads -----------------------------------------------------------------

  save(): SavedIrqchip {
    return {
      mode: this.mode,
      nrReservedIoapicPins: this.nrReservedIoapicPins,
      x2apicFormat: this.bus.x2apicFormat,
      broadcastQuirkDisabled: this.bus.broadcastQuirkDisabled,
      bspVcpuId: this.bspVcpuId,
      shared: this.shared,
      apics: this.apics().map((a) => ({ id: a.vcpuId, index: a.vcpuIndex, page: a.page, requests: a.requests })),
      defaultTscKhz: this.defaultTscKhz,
    };
  }

  load(s: SavedIrqchip): void {
    this.mode = s.mode;
    this.nrReservedIoapicPins = s.nrReservedIoapicPins;
    this.bus.x2apicFormat = s.x2apicFormat;
    this.bus.broadcastQuirkDisabled = s.broadcastQuirkDisabled;
    this.bspVcpuId = s.bspVcpuId;
    this.shared = s.shared;
    this.defaultTscKhz = s.defaultTscKhz;
    this.remote = s.apics.map((r) => {
      const local = this.vm.vcpus.get(r.id);
      const l = (local?.archState as X86Machine | undefined)?.events?.lapic;
      return l ?? new ApicView(r.page, r.id, r.index, r.requests);
    });
  }

  /** A mirror's own vCPU got its LAPIC after load(): use it in the list. */
  adoptLocal(l: ApicView): void {
    if (this.remote === null) return;
    const i = this.remote.findIndex((a) => a.vcpuId === l.vcpuId);
    if (i < 0) return;
    this.remote = this.remote.slice(); // a new list: the APIC map cached from the old one is rebuilt
    this.remote[i] = l;
  }
}

/** The irqchip of `vm`. */
export function chipOf(vm: Vm): X86Irqchip {
  return (vm.archState as { irq: X86Irqchip }).irq;
}

export { APIC_DM };
