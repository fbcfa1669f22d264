/**
 * The IOAPIC (arch/x86/kvm/ioapic.c): 24 pins at 0xfec00000 (IOREGSEL at +0, IOWIN at +0x10),
 * redirection entries with edge/level triggering, remote IRR and the EOI broadcast from the
 * LAPICs, the RTC pin's coalescing report for KVM_IRQ_LINE_STATUS, and the vectors each vCPU must
 * report back on EOI (ioapic_handled_vectors, kvm_ioapic_scan_entry).
 *
 * VM-wide, on the thread that owns the VM; a worker vCPU's MMIO accesses and EOIs are forwarded.
 * @module
 */
import type { IoDevice } from '../../../kernel/iobus.js';
import type { Vm } from '../../../kernel/vm.js';
import { KVM_IRQCHIP, KVM_IOAPIC_NUM_PINS } from '../../../uapi/x86.js';
import { APIC_DEST, APIC_DEST_LOGICAL, APIC_DEST_PHYSICAL, APIC_DM, type ApicBus, type ApicView, type DestMap, type LapicIrq } from './apic.js';

/** IOAPIC_DEFAULT_BASE_ADDRESS / IOAPIC_MEM_LENGTH */
export const IOAPIC_BASE = 0xfec00000;
const IOAPIC_MEM_LENGTH = 0x100;
const IOAPIC_VERSION_ID = 0x11;
/** RTC_GSI: the pin whose coalescing KVM_IRQ_LINE_STATUS reports (Windows time keeping). */
const RTC_GSI = 8;
const IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT = 10000;

/** A redirection entry's fields (union kvm_ioapic_redirect_entry). */
export const RTE = {
  vector: (b: bigint) => Number(b & 0xffn),
  deliveryMode: (b: bigint) => Number((b >> 8n) & 7n),
  destMode: (b: bigint) => Number((b >> 11n) & 1n),
  remoteIrr: (b: bigint) => Number((b >> 14n) & 1n),
  trigMode: (b: bigint) => Number((b >> 15n) & 1n),
  mask: (b: bigint) => Number((b >> 16n) & 1n),
  destId: (b: bigint) => Number((b >> 56n) & 0xffn),
} as const;
const REMOTE_IRR = 1n << 14n;
const DELIVERY_STATUS = 1n << 12n;

/** What the IOAPIC needs from the rest of the irqchip. */
export interface IoapicHost {
  readonly bus: ApicBus;
  /** kvm_make_scan_ioapic_request: recompute every vCPU's handled vectors. */
  scanIoapic(): void;
  fireMaskNotifiers(irqchip: number, pin: number, masked: boolean): void;
  /** kvm_notify_irqfd_resampler: true when a resampling irqfd serves the pin (its resamplefd was signalled). */
  notifyResampler(irqchip: number, pin: number): boolean;
  /** A timer on the VM's deadline queue (the delayed EOI re-injection of an interrupt storm). */
  later(key: unknown, delayNs: number, fn: () => void): void;
}

/** struct kvm_ioapic */
export class KvmIoapic {
  baseAddress = IOAPIC_BASE;
  ioregsel = 0;
  id = 0;
  irr = 0;
  irrDelivered = 0;
  readonly redirtbl: bigint[] = Array.from({ length: KVM_IOAPIC_NUM_PINS }, () => 1n << 16n);
  private readonly irqStates = new Uint32Array(KVM_IOAPIC_NUM_PINS);
  private readonly irqEoi = new Int32Array(KVM_IOAPIC_NUM_PINS);
  /** rtc_status: vCPUs still owing an EOI of the RTC interrupt, and their vectors. */
  private rtcDest: DestMap = new Map();
  private rtcPendingEoi = 0;
  readonly dev: IoDevice;

  constructor(
    private readonly vm: Vm,
    private readonly host: IoapicHost,
  ) {
    this.dev = {
      read: (_v, addr, len, data) => {
        const off = addr - this.baseAddress;
        if (off < 0 || off >= IOAPIC_MEM_LENGTH) return false;
        let r = 0;
        if ((off & 0xff) === 0) r = this.ioregsel;
        else if ((off & 0xff) === 0x10) r = this.readIndirect();
        data.fill(0, 0, len);
        const n = Math.min(len, 4);
        for (let i = 0; i < n; i++) data[i] = (r >>> (8 * i)) & 0xff;
        return true;
      },
      write: (_v, addr, len, data) => {
        const off = addr - this.baseAddress;
        if (off < 0 || off >= IOAPIC_MEM_LENGTH) return false;
        let v: number;
        if (len === 8 || len === 4) v = (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
        else if (len === 2) v = data[0]! | (data[1]! << 8);
        else if (len === 1) v = data[0]!;
        else return true;
        if ((off & 0xff) === 0) this.ioregsel = v & 0xff;
        else if ((off & 0xff) === 0x10) this.writeIndirect(v);
        return true;
      },
    };
  }

  /** ioapic_read_indirect */
  private readIndirect(): number {
    switch (this.ioregsel) {
      case 0x01: // IOAPIC_REG_VERSION
        return ((KVM_IOAPIC_NUM_PINS - 1) << 16) | IOAPIC_VERSION_ID;
      case 0x00: // IOAPIC_REG_APIC_ID
      case 0x02: // IOAPIC_REG_ARB_ID
        return ((this.id & 0xf) << 24) >>> 0;
      default: {
        const idx = (this.ioregsel - 0x10) >> 1;
        const e = idx >= 0 && idx < KVM_IOAPIC_NUM_PINS ? this.redirtbl[idx]! : 0xffffffffffffffffn;
        return Number(this.ioregsel & 1 ? e >> 32n : e & 0xffffffffn) >>> 0;
      }
    }
  }

  /** ioapic_write_indirect */
  private writeIndirect(val: number): void {
    switch (this.ioregsel) {
      case 0x01:
      case 0x02:
        return;
      case 0x00:
        this.id = (val >>> 24) & 0xf;
        return;
    }
    const index = (this.ioregsel - 0x10) >> 1;
    if (index < 0 || index >= KVM_IOAPIC_NUM_PINS) return;
    let e = this.redirtbl[index]!;
    const maskBefore = RTE.mask(e);
    const keep = e & (REMOTE_IRR | DELIVERY_STATUS);
    const oldDestId = RTE.destId(e);
    const oldDestMode = RTE.destMode(e);
    if (this.ioregsel & 1) e = (e & 0xffffffffn) | (BigInt(val >>> 0) << 32n);
    else e = (e & ~0xffffffffn) | BigInt(val >>> 0);
    e = (e & ~(REMOTE_IRR | DELIVERY_STATUS)) | keep;
    // Linux and Xen expect an edge-triggered entry to lose its remote IRR (an EOI-less IOAPIC's way).
    if (RTE.trigMode(e) === 0) e &= ~REMOTE_IRR;
    this.redirtbl[index] = e;
    const maskAfter = RTE.mask(e);
    if (maskBefore !== maskAfter) this.host.fireMaskNotifiers(KVM_IRQCHIP.IOAPIC, index, maskAfter !== 0);
    if (RTE.trigMode(e) === 1 && this.irr & (1 << index) && !maskAfter && !RTE.remoteIrr(e)) {
      // The line may have dropped while masked: ask a resampling irqfd rather than inject stale state.
      if (this.host.notifyResampler(KVM_IRQCHIP.IOAPIC, index)) this.irr &= ~(1 << index);
      else this.service(index, false);
    }
    void oldDestId;
    void oldDestMode;
    this.host.scanIoapic();
  }

  /** ioapic_service: delivers pin `irq` to its destination LAPICs. */
  private service(irq: number, lineStatus: boolean): number {
    const e = this.redirtbl[irq]!;
    if (RTE.mask(e) || (RTE.trigMode(e) === 1 && RTE.remoteIrr(e))) return -1;
    const irqe = entryIrq(e);
    if (irqe.trigMode === 0) this.irrDelivered |= 1 << irq;
    let ret: number;
    if (irq === RTC_GSI && lineStatus) {
      this.rtcDest = new Map();
      ret = this.host.bus.deliver(null, irqe, this.rtcDest);
      this.rtcPendingEoi = ret < 0 ? 0 : ret;
    } else ret = this.host.bus.deliver(null, irqe);
    if (ret && irqe.trigMode === 1) this.redirtbl[irq] = this.redirtbl[irq]! | REMOTE_IRR;
    return ret;
  }

  /** ioapic_set_irq */
  private setIrqLevel(irq: number, level: number, lineStatus: boolean): number {
    const e = this.redirtbl[irq]!;
    const edge = RTE.trigMode(e) === 0;
    const mask = 1 << irq;
    if (!level) {
      this.irr &= ~mask;
      return 1;
    }
    if (irq === RTC_GSI && lineStatus && this.rtcPendingEoi > 0) return 0; // coalesced
    const old = this.irr;
    this.irr |= mask;
    if (edge) {
      this.irrDelivered &= ~mask;
      if (old === this.irr) return 0;
    }
    return this.service(irq, lineStatus);
  }

  /** kvm_ioapic_set_irq: the route callback of an IOAPIC pin. */
  setIrq(irq: number, sourceId: number, level: number, lineStatus: boolean): number {
    const st = this.irqStates;
    if (level) st[irq]! |= 1 << sourceId;
    else st[irq]! &= ~(1 << sourceId);
    return this.setIrqLevel(irq, st[irq]! ? 1 : 0, lineStatus);
  }

  /** kvm_ioapic_clear_all */
  clearAll(sourceId: number): void {
    for (let i = 0; i < KVM_IOAPIC_NUM_PINS; i++) this.irqStates[i]! &= ~(1 << sourceId);
  }

  /** rtc_irq_eoi */
  private rtcEoi(vcpuId: number, vector: number): void {
    if (this.rtcDest.get(vcpuId) === vector) {
      this.rtcDest.delete(vcpuId);
      if (this.rtcPendingEoi > 0) this.rtcPendingEoi--;
    }
  }

  /** kvm_ioapic_update_eoi: a LAPIC EOI'd `vector` (level: its TMR bit; directedEoi: SPIV bit 12). */
  updateEoi(vcpuId: number, vector: number, level: boolean, directedEoi: boolean): void {
    this.rtcEoi(vcpuId, vector);
    for (let pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
      if (RTE.vector(this.redirtbl[pin]!) !== vector) continue;
      // kvm_ioapic_update_eoi_one
      this.vm.irq.notifyAcked(KVM_IRQCHIP.IOAPIC, pin);
      if (!level || directedEoi) continue;
      this.redirtbl[pin] = this.redirtbl[pin]! & ~REMOTE_IRR;
      if (!RTE.mask(this.redirtbl[pin]!) && this.irr & (1 << pin)) {
        if (++this.irqEoi[pin]! === IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT) {
          // An interrupt storm: real hardware does not redeliver at once; neither does KVM (HZ/100).
          this.irqEoi[pin] = 0;
          this.host.later(this, 10_000_000, () => this.eoiInjectWork());
        } else this.service(pin, false);
      } else this.irqEoi[pin] = 0;
    }
  }

  /** kvm_ioapic_eoi_inject_work */
  private eoiInjectWork(): void {
    for (let i = 0; i < KVM_IOAPIC_NUM_PINS; i++) {
      const e = this.redirtbl[i]!;
      if (RTE.trigMode(e) === 1 && this.irr & (1 << i) && !RTE.remoteIrr(e)) this.service(i, false);
    }
  }

  /**
   * kvm_ioapic_scan_entry: the vectors `apic` must report on EOI: level-triggered entries, entries
   * with ack notifiers, and the RTC pin, that target it (or are still pending there).
   */
  scanEntry(apic: ApicView, hasNotifier: (pin: number) => boolean, out: Int32Array): void {
    const set = (v: number) => (out[v >> 5]! |= 1 << (v & 31));
    const rtc = this.rtcDest.get(apic.vcpuId);
    if (rtc !== undefined) set(rtc);
    for (let i = 0; i < KVM_IOAPIC_NUM_PINS; i++) {
      const e = this.redirtbl[i]!;
      if (RTE.trigMode(e) === 1 || hasNotifier(i) || i === RTC_GSI) {
        const dm = RTE.destMode(e) ? APIC_DEST_LOGICAL : APIC_DEST_PHYSICAL;
        if (this.host.bus.matchDest(apic, null, APIC_DEST.NOSHORT, RTE.destId(e), dm) || apic.pendingEoi(RTE.vector(e))) set(RTE.vector(e));
      }
    }
  }

  /** kvm_get_ioapic */
  getState(): { base_address: bigint; ioregsel: number; id: number; irr: number; pad: number; redirtbl: { bits: bigint }[] } {
    return { base_address: BigInt(this.baseAddress), ioregsel: this.ioregsel, id: this.id, irr: (this.irr & ~this.irrDelivered) >>> 0, pad: 0, redirtbl: this.redirtbl.map((bits) => ({ bits })) };
  }

  /** kvm_set_ioapic: the state, then every pin in its IRR injected again. */
  setState(st: { base_address: bigint; ioregsel: number; id: number; irr: number; redirtbl: { bits: bigint }[] }): void {
    this.baseAddress = Number(st.base_address & 0xffffffffffffn);
    this.ioregsel = st.ioregsel;
    this.id = st.id;
    st.redirtbl.forEach((r, i) => (this.redirtbl[i] = r.bits));
    this.irr = 0;
    this.irrDelivered = 0;
    this.host.scanIoapic();
    // kvm_ioapic_inject_all
    this.rtcDest = new Map();
    this.rtcPendingEoi = 0;
    for (let i = 0; i < KVM_IOAPIC_NUM_PINS; i++) if (st.irr & (1 << i)) this.setIrqLevel(i, 1, true);
  }

  /** kvm_ioapic_reset */
  reset(): void {
    for (let i = 0; i < KVM_IOAPIC_NUM_PINS; i++) this.redirtbl[i] = this.redirtbl[i]! | (1n << 16n);
    this.baseAddress = IOAPIC_BASE;
    this.ioregsel = 0;
    this.irr = 0;
    this.irrDelivered = 0;
    this.id = 0;
    this.irqEoi.fill(0);
    this.rtcDest = new Map();
    this.rtcPendingEoi = 0;
  }
}

/** The APIC interrupt a redirection entry sends. */
function entryIrq(e: bigint): LapicIrq {
  return {
    destId: RTE.destId(e),
    vector: RTE.vector(e),
    destMode: RTE.destMode(e) ? APIC_DEST_LOGICAL : APIC_DEST_PHYSICAL,
    trigMode: RTE.trigMode(e),
    deliveryMode: RTE.deliveryMode(e) << 8,
    level: true,
    shorthand: APIC_DEST.NOSHORT,
    msiRedirHint: false,
  };
}

export { APIC_DM };
