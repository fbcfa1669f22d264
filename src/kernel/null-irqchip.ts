/**
 * A toy in-kernel irqchip for the null arch (src/kernel/null-arch.ts), so the generic plumbing —
 * routing, KVM_IRQ_LINE(_STATUS), KVM_SIGNAL_MSI, irqfds with resampling, ioeventfds, halting that
 * sleeps, kicks across threads, timers — is tested without a real interrupt controller.
 *
 * One chip (irqchip 0) of 24 level-sensitive pins, each the OR of its sources' levels (as the
 * kernel's irq_states). A rising line makes vector 32 + pin pending on vCPU 0; the guest's EOI of
 * that vector runs the pin's ack notifiers (resampling irqfds lower the line there) and delivers
 * again if the line is still high. An MSI makes `data & 0xff` pending on the vCPU whose id is
 * `address_lo`. Pending vectors live in shared memory per vCPU, so an interrupt raised on the
 * owner thread reaches a vCPU running on a worker with one `Atomics.or` and a kick.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { KVM_IRQ_ROUTING } from '../uapi/constants.js';
import type { DeviceAttr, KvmDevice, KvmDeviceOps } from './device.js';
import { setDefaultIrqRouting, type ArchRoute, type MsiMessage, type RoutingEntryInput } from './irq.js';
import { KVM_REQ, kvmMakeRequest } from './requests.js';
import type { Vcpu } from './vcpu.js';
import type { Vm } from './vm.js';

export const NULL_PINS = 24;
/** First vector of the pins (vector = PIN_BASE + pin). */
export const PIN_BASE = 32;

/** The VM-wide chip, on the owner thread. */
export class NullIrqchip {
  /** Per pin: bit i set while source i holds the line high. */
  readonly sources = new Uint32Array(NULL_PINS);

  constructor(private readonly vm: Vm) {}

  /** The route callback of pin `pin`: kvm_set_irq's per-source level, then delivery on a rising line. */
  setPin(pin: number, source: number, level: number): number {
    const was = this.sources[pin]! !== 0;
    if (level) this.sources[pin]! |= 1 << source;
    else this.sources[pin]! &= ~(1 << source);
    const now = this.sources[pin]! !== 0;
    if (!now) return 1;
    if (was) return 0; // already high: coalesced
    return deliver(this.vm, 0, PIN_BASE + pin) ? 1 : 0;
  }

  /** The guest EOI'd `vector` (from whichever thread runs the vCPU: Vm.callOwner). */
  eoi(vector: number): void {
    const pin = vector - PIN_BASE;
    if (pin < 0 || pin >= NULL_PINS) return;
    this.vm.irq.notifyAcked(0, pin);
    if (this.sources[pin] !== 0) deliver(this.vm, 0, vector); // still asserted: level re-delivery
  }
}

/** Makes `vector` pending on vCPU `id`: false if it already was (coalesced) or there is no such vCPU. */
export function deliver(vm: Vm, id: number, vector: number): boolean {
  const v = vm.vcpus.get(id);
  if (!v) return false;
  const pend = (v.archState as { pendingVectors: Int32Array }).pendingVectors;
  const bit = 1 << (vector & 31);
  const old = Atomics.or(pend, vector >> 5, bit);
  kvmMakeRequest(v, KVM_REQ.EVENT);
  return (old & bit) === 0;
}

/** Takes the lowest pending vector of `v` (-1 if none). */
export function takeVector(pend: Int32Array): number {
  for (let w = 0; w < 8; w++) {
    for (;;) {
      const x = Atomics.load(pend, w);
      if (x === 0) break;
      const bit = x & -x;
      if (Atomics.compareExchange(pend, w, x, x & ~bit) === x) return w * 32 + (31 - Math.clz32(bit));
    }
  }
  return -1;
}

/** Whether any vector is pending. */
export function anyPending(pend: Int32Array): boolean {
  for (let w = 0; w < 8; w++) if (Atomics.load(pend, w) !== 0) return true;
  return false;
}

/** The null arch's VM state. */
export interface NullVmState {
  chip: NullIrqchip | null;
  /** A worker's mirror only knows whether there is a chip (its state stays with the owner). */
  inKernel: boolean;
}

const chipOf = (vm: Vm) => (vm.archState as NullVmState).chip;

/** The irqchip hooks of the null arch (see ArchBackend). */
export const nullIrqchipHooks = {
  nrIrqchips: 1,
  irqchipPins: NULL_PINS,

  createIrqchip(vm: Vm): void {
    const st = vm.archState as NullVmState;
    // As x86 kvm_arch_vm_ioctl(KVM_CREATE_IRQCHIP): EEXIST first, then EINVAL once a vCPU exists.
    if (st.inKernel) throw KvmError.of('EEXIST', 'ioctl', { message: 'the irqchip exists' });
    if (vm.createdVcpus > 0) throw KvmError.of('EINVAL', 'ioctl', { message: 'vCPUs exist' });
    const chip = new NullIrqchip(vm);
    setDefaultIrqRouting(vm, Array.from({ length: NULL_PINS }, (_, pin) => ({ gsi: pin, irqchip: 0, pin })));
    st.chip = chip;
    st.inKernel = true;
    vm.ownerOps.set('null.eoi', (p) => chip.eoi(p as number));
  },

  irqchipInKernel(vm: Vm): boolean {
    return (vm.archState as NullVmState).inKernel;
  },

  setRoutingEntry(vm: Vm, e: RoutingEntryInput): ArchRoute {
    switch (e.type) {
      case KVM_IRQ_ROUTING.IRQCHIP: {
        const { irqchip, pin } = e.irqchip;
        if (irqchip !== 0 || pin >= NULL_PINS) throw KvmError.of('EINVAL', 'ioctl', { message: 'no such irqchip pin' });
        return { irqchip: { irqchip, pin }, set: (v, source, level) => chipOf(v)?.setPin(pin, source, level) ?? -1 };
      }
      case KVM_IRQ_ROUTING.MSI: {
        const msi = e.msi;
        return { set: (v, source, level, lineStatus) => nullIrqchipHooks.setMsi(v, msi, source, level, lineStatus) };
      }
      default:
        throw KvmError.of('EINVAL', 'ioctl', { message: 'unsupported routing entry type' });
    }
    void vm;
  },

  setMsi(vm: Vm, msi: MsiMessage, _source: number, level: number, _lineStatus: boolean): number {
    if (!level) return -1; // kvm_set_msi: a message has no falling edge
    return deliver(vm, msi.addressLo, msi.data & 0xff) ? 1 : 0;
  },

  deviceOps(type: number): KvmDeviceOps | undefined {
    return type === NULL_DEVICE_TYPE ? nullDeviceOps : undefined;
  },
};

/** The toy device's KVM_CREATE_DEVICE type. */
export const NULL_DEVICE_TYPE = 1;

/**
 * A toy KVM device: group 0 attr 0 is a u64 register (get/set), attr 1 a read-only counter of the
 * sets; one per VM (a second create is EEXIST).
 */
const nullDeviceOps: KvmDeviceOps = {
  name: 'kvm-null-device',
  create(dev: KvmDevice) {
    const st = dev.vm.archState as NullVmState & { device?: boolean };
    if (st.device) throw KvmError.of('EEXIST', 'ioctl', { message: 'the toy device exists' });
    st.device = true;
    dev.state = { reg: 0n, sets: 0n };
  },
  hasAttr(_dev: KvmDevice, a: DeviceAttr) {
    if (a.group === 0 && (a.attr === 0n || a.attr === 1n)) return 0;
    throw KvmError.of('ENXIO', 'ioctl');
  },
  getAttr(dev: KvmDevice, a: DeviceAttr) {
    const st = dev.state as { reg: bigint; sets: bigint };
    this.hasAttr!(dev, a);
    const out = dev.user(a, 8);
    new DataView(out.buffer, out.byteOffset, 8).setBigUint64(0, a.attr === 0n ? st.reg : st.sets, true);
    return 0;
  },
  setAttr(dev: KvmDevice, a: DeviceAttr) {
    const st = dev.state as { reg: bigint; sets: bigint };
    this.hasAttr!(dev, a);
    if (a.attr === 1n) throw KvmError.of('EPERM', 'ioctl', { message: 'read-only attribute' });
    const b = dev.user(a, 8);
    st.reg = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    st.sets++;
    return 0;
  },
  release(dev: KvmDevice) {
    (dev.vm.archState as { device?: boolean }).device = false;
  },
};

/** The vCPU-side EOI: the chip runs on the owner (forwarded from a worker). */
export function nullEoi(vcpu: Vcpu, vector: number): void {
  vcpu.vm.callOwner('null.eoi', vector, vcpu);
}
