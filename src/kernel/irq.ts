/**
 * Interrupt routing (virt/kvm/irqchip.c): the GSI routing table that maps a GSI to irqchip pins
 * and MSI messages, kvm_set_irq, KVM_SET_GSI_ROUTING, KVM_IRQ_LINE(_STATUS), KVM_SIGNAL_MSI and
 * the ack notifiers irqchips call on EOI (resampling irqfds).
 *
 * The irqchip itself is the arch's: `ArchBackend.setRoutingEntry` validates an entry and gives its
 * `set` callback (kvm_set_routing_entry: x86 PIC/IOAPIC pins, arm64 SPIs), `ArchBackend.setMsi`
 * delivers an MSI (kvm_set_msi), `ArchBackend.createIrqchip` builds the chips and installs the
 * default routing with `setDefaultIrqRouting`.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { KVM_IRQ_ROUTING, KVM_MSI } from '../uapi/constants.js';
import { KVM_MAX_IRQ_ROUTES } from '../uapi/kvm.js';
import type { Vm } from './vm.js';

export { KVM_MAX_IRQ_ROUTES };

/** KVM_USERSPACE_IRQ_SOURCE_ID: KVM_IRQ_LINE, KVM_SIGNAL_MSI and irqfds. */
export const KVM_USERSPACE_IRQ_SOURCE_ID = 0;
/** KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID: resampling irqfds, whose line stays up until the guest's EOI. */
export const KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID = 1;

/** An MSI message (struct kvm_msi / the msi member of a routing entry). */
export interface MsiMessage {
  readonly addressLo: number;
  readonly addressHi: number;
  readonly data: number;
  readonly flags: number;
  readonly devid: number;
}

/**
 * A routing entry as userspace gives it (struct kvm_irq_routing_entry, decoded). `u` holds the raw
 * union words; `irqchip` and `msi` are its two views vkvm's arches use.
 */
export interface RoutingEntryInput {
  readonly gsi: number;
  readonly type: number;
  readonly flags: number;
  readonly irqchip: { readonly irqchip: number; readonly pin: number };
  readonly msi: MsiMessage;
  /** The union as eight u32 words (other types: adapter, hv_sint, xen_evtchn). */
  readonly u: readonly number[];
}

/**
 * e->set: raises or lowers the line this route leads to. Returns what the kernel's callbacks
 * return: > 0 delivered (to that many vCPUs), 0 coalesced or masked, < 0 not delivered.
 */
export type IrqSet = (vm: Vm, irqSourceId: number, level: number, lineStatus: boolean) => number;

/** -EWOULDBLOCK from kvm_arch_set_irq_inatomic: the irqfd injects from its work item instead. */
export const EWOULDBLOCK = 11;

/** What the arch makes of a routing entry (kvm_set_routing_entry). */
export interface ArchRoute {
  readonly set: IrqSet;
  /**
   * kvm_arch_set_irq_inatomic: an irqfd's signal on a GSI with this one route raises it here and
   * now (arm64 SPIs: raised, not lowered); -EWOULDBLOCK, or absent, defers to irqfd_inject's
   * kvm_set_irq 1 then 0.
   */
  readonly setInatomic?: (vm: Vm, irqSourceId: number) => number;
  /** For irqchip routes: the chip and the pin index the chip table records (x86 slave PIC pins are 8-15). */
  readonly irqchip?: { readonly irqchip: number; readonly pin: number };
}

/** struct kvm_kernel_irq_routing_entry */
export interface IrqRoute extends ArchRoute {
  readonly gsi: number;
  readonly type: number;
  readonly msi: MsiMessage | null;
}

/** struct kvm_irq_routing_table */
export class IrqRoutingTable {
  /** Routes by GSI. */
  readonly map: IrqRoute[][];
  /** GSI of each irqchip pin (-1: none), rt->chip. */
  readonly chip: Int32Array[];

  constructor(
    readonly nrEntries: number,
    nrIrqchips: number,
    pinsPerChip: number,
  ) {
    this.map = Array.from({ length: nrEntries }, () => []);
    this.chip = Array.from({ length: nrIrqchips }, () => new Int32Array(pinsPerChip).fill(-1));
  }
}

/** An ack notifier (struct kvm_irq_ack_notifier): called when the guest EOIs the line of its GSI. */
export interface AckNotifier {
  readonly gsi: number;
  irqAcked(): void;
}

/** A VM's interrupt routing state (kvm->irq_routing, kvm->irq_ack_notifier_list). */
export class VmIrq {
  routing: IrqRoutingTable;
  readonly ackNotifiers = new Set<AckNotifier>();

  constructor(private readonly vm: Vm) {
    // kvm_init_irq_routing: an empty table of one entry.
    this.routing = this.table(1);
  }

  private table(nr: number): IrqRoutingTable {
    const a = this.vm.arch;
    return new IrqRoutingTable(nr, a.nrIrqchips ?? 0, a.irqchipPins ?? 0);
  }

  /** kvm_irq_map_gsi */
  routesOf(gsi: number): readonly IrqRoute[] {
    return gsi >= 0 && gsi < this.routing.nrEntries ? this.routing.map[gsi]! : [];
  }

  /** kvm_irq_map_chip_pin: the GSI routed to `pin` of `irqchip` (-1: none). */
  gsiOf(irqchip: number, pin: number): number {
    return this.routing.chip[irqchip]?.[pin] ?? -1;
  }

  /**
   * kvm_set_irq: drives every route of `gsi` to `level`. Returns the kernel's aggregate: -1 when
   * no route delivered, else the sum of the routes' non-negative results.
   */
  setIrq(irqSourceId: number, gsi: number, level: number, lineStatus: boolean): number {
    let ret = -1;
    // Walk a snapshot: a route's callback may change the table (it never does in the kernel either).
    const routes = this.routesOf(gsi);
    for (let i = routes.length - 1; i >= 0; i--) {
      const r = routes[i]!.set(this.vm, irqSourceId, level, lineStatus);
      if (r < 0) continue;
      ret = r + (ret < 0 ? 0 : ret);
    }
    return ret;
  }

  /**
   * kvm_set_irq_routing: validates every entry and swaps the table in. EINVAL for a GSI at or past
   * KVM_MAX_IRQ_ROUTES, bad flags, an entry the arch refuses, or a GSI routed twice to the same
   * irqchip or to a non-irqchip route and anything else.
   */
  setRouting(entries: readonly RoutingEntryInput[]): void {
    let nr = 0;
    for (const ue of entries) {
      if (ue.gsi >= KVM_MAX_IRQ_ROUTES) throw einval('GSI past KVM_MAX_IRQ_ROUTES');
      nr = Math.max(nr, ue.gsi);
    }
    const t = this.table(nr + 1);
    for (const ue of entries) {
      if (ue.type === KVM_IRQ_ROUTING.MSI ? ue.flags & ~KVM_MSI.VALID_DEVID : ue.flags) throw einval('bad routing entry flags');
      this.setupEntry(t, ue);
    }
    this.routing = t;
    this.vm.bumpView();
    this.vm.arch.irqRoutingUpdated?.(this.vm);
  }

  /** setup_routing_entry */
  private setupEntry(t: IrqRoutingTable, ue: RoutingEntryInput): void {
    for (const e of t.map[ue.gsi]!) {
      // One route per irqchip for a GSI, and a non-irqchip route alone.
      if (e.type !== KVM_IRQ_ROUTING.IRQCHIP || ue.type !== KVM_IRQ_ROUTING.IRQCHIP || ue.irqchip.irqchip === e.irqchip?.irqchip) throw einval('GSI already routed there');
    }
    const arch = this.vm.arch;
    if (!arch.setRoutingEntry) throw einval('no in-kernel irqchip routes');
    const a = arch.setRoutingEntry(this.vm, ue);
    const route: IrqRoute = { gsi: ue.gsi, type: ue.type, set: a.set, ...(a.setInatomic ? { setInatomic: a.setInatomic } : {}), ...(a.irqchip ? { irqchip: a.irqchip } : {}), msi: ue.type === KVM_IRQ_ROUTING.MSI ? ue.msi : null };
    if (route.irqchip) {
      const row = t.chip[route.irqchip.irqchip];
      if (row) row[route.irqchip.pin] = ue.gsi;
    }
    t.map[ue.gsi]!.unshift(route); // hlist_add_head
  }

  /** kvm_register_irq_ack_notifier */
  registerAckNotifier(n: AckNotifier): void {
    this.ackNotifiers.add(n);
    this.vm.arch.ackNotifiersChanged?.(this.vm);
  }

  /** kvm_unregister_irq_ack_notifier */
  unregisterAckNotifier(n: AckNotifier): void {
    this.ackNotifiers.delete(n);
    this.vm.arch.ackNotifiersChanged?.(this.vm);
  }

  /** kvm_notify_acked_irq: an irqchip saw the guest's EOI of `pin`; runs the notifiers of its GSI. */
  notifyAcked(irqchip: number, pin: number): void {
    const gsi = this.gsiOf(irqchip, pin);
    if (gsi !== -1) this.notifyAckedGsi(gsi);
  }

  /** kvm_notify_acked_gsi */
  notifyAckedGsi(gsi: number): void {
    for (const n of [...this.ackNotifiers]) if (n.gsi === gsi) n.irqAcked();
  }
}

/**
 * Installs `entries` as the routing table without the ioctl's preconditions (what an arch's
 * createIrqchip calls: kvm_setup_default_irq_routing, kvm_vgic_setup_default_irq_routing).
 */
export function setDefaultIrqRouting(vm: Vm, entries: readonly { gsi: number; irqchip: number; pin: number }[]): void {
  vm.irq.setRouting(entries.map((e) => irqchipEntry(e.gsi, e.irqchip, e.pin)));
}

/** A routing entry of type KVM_IRQ_ROUTING_IRQCHIP. */
export function irqchipEntry(gsi: number, irqchip: number, pin: number): RoutingEntryInput {
  return { gsi, type: KVM_IRQ_ROUTING.IRQCHIP, flags: 0, irqchip: { irqchip, pin }, msi: { addressLo: irqchip, addressHi: pin, data: 0, flags: 0, devid: 0 }, u: [irqchip, pin, 0, 0, 0, 0, 0, 0] };
}

/**
 * kvm_vm_ioctl_irq_line as x86 has it (the default when the arch has no `irqLine`): ENXIO without
 * an in-kernel irqchip, else kvm_set_irq on the GSI `irq`, whose result is the status.
 */
export function routedIrqLine(vm: Vm, irq: number, level: number, lineStatus: boolean): number {
  if (!(vm.arch.irqchipInKernel?.(vm) ?? false)) throw KvmError.of('ENXIO', 'ioctl', { message: 'no in-kernel irqchip' });
  return vm.irq.setIrq(KVM_USERSPACE_IRQ_SOURCE_ID, irq, level, lineStatus);
}

/** kvm_send_userspace_msi: EINVAL without an in-kernel irqchip or with unknown flags. */
export function sendUserspaceMsi(vm: Vm, msi: MsiMessage): number {
  if (!(vm.arch.irqchipInKernel?.(vm) ?? false) || msi.flags & ~KVM_MSI.VALID_DEVID) throw einval('KVM_SIGNAL_MSI needs an in-kernel irqchip and valid flags');
  if (!vm.arch.setMsi) throw einval('no MSI delivery');
  const r = vm.arch.setMsi(vm, msi, KVM_USERSPACE_IRQ_SOURCE_ID, 1, false);
  // The ioctl returns kvm_set_msi's result: a negative one is an errno (-1: EPERM, no APIC matched).
  if (r < 0) throw new KvmError(-r, 'ioctl', { message: 'the MSI reached no local APIC' });
  return r;
}

/** Decodes a struct kvm_irq_routing_entry's fields into a RoutingEntryInput. */
export function routingEntryFrom(e: { gsi: number; type: number; flags: number; u: { irqchip: { irqchip: number; pin: number }; msi: { address_lo: number; address_hi: number; data: number; devid: number }; pad: number[] } }): RoutingEntryInput {
  return {
    gsi: e.gsi,
    type: e.type,
    flags: e.flags,
    irqchip: { irqchip: e.u.irqchip.irqchip, pin: e.u.irqchip.pin },
    msi: { addressLo: e.u.msi.address_lo, addressHi: e.u.msi.address_hi, data: e.u.msi.data, flags: e.flags, devid: e.u.msi.devid },
    u: e.u.pad,
  };
}

function einval(message: string): KvmError {
  return KvmError.of('EINVAL', 'ioctl', { message });
}
