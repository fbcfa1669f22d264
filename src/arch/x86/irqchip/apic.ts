/**
 * A local APIC as every thread sees it, and interrupt delivery to local APICs (arch/x86/kvm/
 * lapic.c __apic_accept_irq, kvm_apic_match_dest, the optimized APIC map; irq_comm.c
 * kvm_irq_delivery_to_apic, kvm_set_msi_irq).
 *
 * Each vCPU's APIC register page lives in a SharedArrayBuffer (`ApicView.page`), shared with
 * whichever thread runs the vCPU: any thread delivers an interrupt to it by setting IRR/TMR bits
 * with `Atomics.or` and kicking its request word (src/kernel/requests.ts), exactly as the kernel
 * sets IRR bits atomically from another CPU and kicks. Only the vCPU's own thread changes the other
 * registers (lapic.ts). The words after the 0x400-byte register page hold what other threads also
 * read or post: the APIC base MSR, pending INIT/SIPI, queued NMIs, the IOAPIC-handled vectors.
 * @module
 */
import { KVM_REQ } from '../../../kernel/requests.js';

/** Local APIC register offsets (asm/apicdef.h). */
export const APIC = {
  ID: 0x20, LVR: 0x30, TASKPRI: 0x80, ARBPRI: 0x90, PROCPRI: 0xa0, EOI: 0xb0, RRR: 0xc0, LDR: 0xd0, DFR: 0xe0, SPIV: 0xf0,
  ISR: 0x100, TMR: 0x180, IRR: 0x200, ESR: 0x280, LVTCMCI: 0x2f0, ICR: 0x300, ICR2: 0x310,
  LVTT: 0x320, LVTTHMR: 0x330, LVTPC: 0x340, LVT0: 0x350, LVT1: 0x360, LVTERR: 0x370,
  TMICT: 0x380, TMCCT: 0x390, TDCR: 0x3e0, SELF_IPI: 0x3f0,
} as const;

/** ICR / LVT / redirection-entry fields. */
export const APIC_DM = { FIXED: 0x000, LOWEST: 0x100, SMI: 0x200, REMRD: 0x300, NMI: 0x400, INIT: 0x500, STARTUP: 0x600, EXTINT: 0x700 } as const;
export const APIC_MODE_MASK = 0x700;
export const APIC_VECTOR_MASK = 0xff;
export const APIC_DEST_LOGICAL = 0x800;
export const APIC_DEST_PHYSICAL = 0;
export const APIC_SHORT_MASK = 0xc0000;
export const APIC_DEST = { NOSHORT: 0, SELF: 0x40000, ALLINC: 0x80000, ALLBUT: 0xc0000 } as const;
export const APIC_INT_ASSERT = 0x4000;
export const APIC_INT_LEVELTRIG = 0x8000;
export const APIC_ICR_BUSY = 0x1000;
export const APIC_LVT_MASKED = 1 << 16;
export const APIC_LVT_LEVEL_TRIGGER = 1 << 15;
export const APIC_SPIV_APIC_ENABLED = 1 << 8;
export const APIC_SPIV_DIRECTED_EOI = 1 << 12;
export const APIC_LVR_DIRECTED_EOI = 1 << 24;
export const APIC_DFR_FLAT = 0xffffffff | 0;
export const APIC_BROADCAST = 0xff;
export const X2APIC_BROADCAST = 0xffffffff;

/** IA32_APIC_BASE bits. */
export const APIC_BASE_MSR = { BSP: 1 << 8, X2APIC_ENABLE: 1 << 10, ENABLE: 1 << 11 } as const;
/** APIC_DEFAULT_PHYS_BASE */
export const APIC_DEFAULT_PHYS_BASE = 0xfee00000;

/** x86 vcpu->requests bits (from KVM_REQ.ARCH_BASE). */
export const KVM_REQ_X86 = {
  /** KVM_REQ_NMI: queued NMIs to process. */
  NMI: KVM_REQ.ARCH_BASE,
  /** KVM_REQ_CLOCK_UPDATE: rewrite the kvmclock (pvclock) page. */
  CLOCK_UPDATE: KVM_REQ.ARCH_BASE << 1,
} as const;

// The shared words after the register page (Int32 indices into ApicView.page).
const W_PENDING = 0x100; // KVM_APIC_INIT (bit 0) / KVM_APIC_SIPI (bit 1)
const W_SIPI = 0x101;
const W_NMI_QUEUED = 0x102;
const W_BASE_LO = 0x103;
const W_BASE_HI = 0x104;
const W_HANDLED = 0x108; // 8 words: ioapic_handled_vectors
/** Bytes of a vCPU's shared APIC page. */
export const APIC_PAGE_BYTES = 0x1000;

export const KVM_APIC_INIT = 1;
export const KVM_APIC_SIPI = 2;

/** struct kvm_lapic_irq */
export interface LapicIrq {
  vector: number;
  /** APIC_DM_* (already shifted). */
  deliveryMode: number;
  /** APIC_DEST_PHYSICAL or APIC_DEST_LOGICAL. */
  destMode: number;
  level: boolean;
  /** Non-zero: level-triggered. */
  trigMode: number;
  /** APIC_DEST_* shorthand. */
  shorthand: number;
  destId: number;
  msiRedirHint: boolean;
}

/** A vCPU's local APIC, readable and deliverable-to from any thread. */
export class ApicView {
  constructor(
    /** The shared page: registers at [0, 0x100), then the shared words. */
    readonly page: Int32Array,
    readonly vcpuId: number,
    readonly vcpuIndex: number,
    /** The vCPU's request word (vcpu->requests). */
    readonly requests: Int32Array,
  ) {}

  /** A new shared page. */
  static newPage(): Int32Array {
    return new Int32Array(new SharedArrayBuffer(APIC_PAGE_BYTES));
  }

  reg(off: number): number {
    return this.page[off >> 2]! | 0;
  }

  /** IA32_APIC_BASE as posted by the vCPU's thread (low word; the high bits are above MAXPHYADDR). */
  get baseLo(): number {
    return this.page[W_BASE_LO]! | 0;
  }

  get baseHi(): number {
    return this.page[W_BASE_HI]! | 0;
  }

  /** Posts IA32_APIC_BASE for the other threads. */
  postBase(v: bigint): void {
    Atomics.store(this.page, W_BASE_LO, Number(v & 0xffffffffn) | 0);
    Atomics.store(this.page, W_BASE_HI, Number(v >> 32n) | 0);
  }

  /** kvm_apic_hw_enabled (and kvm_apic_present: the APIC is in the kernel). */
  hwEnabled(): boolean {
    return (this.page[W_BASE_LO]! & APIC_BASE_MSR.ENABLE) !== 0;
  }

  /** apic_x2apic_mode */
  x2apic(): boolean {
    return (this.page[W_BASE_LO]! & APIC_BASE_MSR.X2APIC_ENABLE) !== 0;
  }

  /** kvm_apic_sw_enabled */
  swEnabled(): boolean {
    return (this.page[APIC.SPIV >> 2]! & APIC_SPIV_APIC_ENABLED) !== 0;
  }

  /** apic_enabled: hardware and software enabled. */
  enabled(): boolean {
    return this.hwEnabled() && this.swEnabled();
  }

  /** kvm_xapic_id */
  xapicId(): number {
    return this.page[APIC.ID >> 2]! >>> 24;
  }

  /** kvm_apic_accept_pic_intr: LINT0 takes the PIC's ExtINT (or the APIC is hardware-disabled). */
  acceptPicIntr(): boolean {
    if (!this.hwEnabled()) return true;
    const lvt0 = this.reg(APIC.LVT0);
    return (lvt0 & APIC_LVT_MASKED) === 0 && (lvt0 & APIC_MODE_MASK) === APIC_DM.EXTINT;
  }

  /** kvm_apic_pending_eoi: `vector` is in IRR or ISR. */
  pendingEoi(vector: number): boolean {
    const w = vector >> 5;
    const bit = 1 << (vector & 31);
    return ((this.page[(APIC.IRR >> 2) + w * 4]! | this.page[(APIC.ISR >> 2) + w * 4]!) & bit) !== 0;
  }

  /** Whether the IOAPIC owns `vector` on this vCPU (ioapic_handled_vectors). */
  handles(vector: number): boolean {
    return (this.page[W_HANDLED + (vector >> 5)]! & (1 << (vector & 31))) !== 0;
  }

  /** Replaces ioapic_handled_vectors (computed on the thread owning the IOAPIC). */
  setHandled(bits: Int32Array): void {
    for (let i = 0; i < 8; i++) Atomics.store(this.page, W_HANDLED + i, bits[i]!);
  }

  /** apic->pending_events */
  get pendingEvents(): number {
    return Atomics.load(this.page, W_PENDING);
  }

  takePendingEvent(bit: number): boolean {
    return (Atomics.and(this.page, W_PENDING, ~bit) & bit) !== 0;
  }

  setPendingEvent(bit: number, on: boolean): void {
    if (on) Atomics.or(this.page, W_PENDING, bit);
    else Atomics.and(this.page, W_PENDING, ~bit);
  }

  get sipiVector(): number {
    return Atomics.load(this.page, W_SIPI);
  }

  set sipiVector(v: number) {
    Atomics.store(this.page, W_SIPI, v & 0xff);
  }

  /** vcpu->arch.nmi_queued: atomic_xchg(0). */
  takeQueuedNmis(): number {
    return Atomics.exchange(this.page, W_NMI_QUEUED, 0);
  }

  setQueuedNmis(n: number): void {
    Atomics.store(this.page, W_NMI_QUEUED, n);
  }

  /** kvm_inject_nmi: queue an NMI and kick (any thread). */
  injectNmi(): void {
    Atomics.add(this.page, W_NMI_QUEUED, 1);
    this.kick(KVM_REQ_X86.NMI);
  }

  /** kvm_make_request + kvm_vcpu_kick */
  kick(bits: number): void {
    Atomics.or(this.requests, 0, bits);
    Atomics.notify(this.requests, 0);
  }

  /** __apic_accept_irq: 1 when the APIC took the interrupt, 0 when it discarded it. */
  acceptIrq(deliveryMode: number, vector: number, level: boolean, trigMode: number): number {
    switch (deliveryMode) {
      case APIC_DM.LOWEST:
      case APIC_DM.FIXED: {
        if (trigMode && !level) return 0;
        if (!this.enabled()) return 0;
        const w = vector >> 5;
        const bit = 1 << (vector & 31);
        const tmr = (APIC.TMR >> 2) + w * 4;
        if (((this.page[tmr]! & bit) !== 0) !== (trigMode !== 0)) {
          if (trigMode) Atomics.or(this.page, tmr, bit);
          else Atomics.and(this.page, tmr, ~bit);
        }
        Atomics.or(this.page, (APIC.IRR >> 2) + w * 4, bit);
        this.kick(KVM_REQ.EVENT);
        return 1;
      }
      case APIC_DM.REMRD:
        this.kick(KVM_REQ.EVENT);
        return 1;
      case APIC_DM.SMI:
        return 0; // no SMM here (KVM without CONFIG_KVM_SMM discards it)
      case APIC_DM.NMI:
        this.injectNmi();
        return 1;
      case APIC_DM.INIT:
        if (!trigMode || level) {
          Atomics.store(this.page, W_PENDING, KVM_APIC_INIT);
          this.kick(KVM_REQ.EVENT);
          return 1;
        }
        return 0;
      case APIC_DM.STARTUP:
        this.sipiVector = vector;
        Atomics.or(this.page, W_PENDING, KVM_APIC_SIPI);
        this.kick(KVM_REQ.EVENT);
        return 1;
      default:
        return 0; // ExtINT comes through kvm_apic_accept_pic_intr
    }
  }
}

/** kvm_lowest_prio_delivery */
function lowestPrio(irq: LapicIrq): boolean {
  return irq.deliveryMode === APIC_DM.LOWEST || irq.msiRedirHint;
}

/** kvm_vector_to_index: the (vector % n)-th set bit of `bits` (n bits set). */
function vectorToIndex(vector: number, n: number, bits: readonly boolean[]): number {
  const mod = vector % n;
  let idx = -1;
  for (let i = 0; i <= mod; i++) {
    idx++;
    while (!bits[idx]) idx++;
  }
  return idx;
}

const LogicalMode = {
  SW_DISABLED: 0,
  XAPIC_FLAT: 1,
  XAPIC_CLUSTER: 2,
  X2APIC: 3,
  MAP_DISABLED: 4,
} as const;
type LogicalMode = (typeof LogicalMode)[keyof typeof LogicalMode];

/** struct kvm_apic_map */
interface ApicMap {
  maxApicId: number;
  logicalMode: LogicalMode;
  phys: (ApicView | undefined)[];
  flat: (ApicView | undefined)[];
  cluster: (ApicView | undefined)[][];
}

/** The VM-wide APIC delivery state (kvm->arch's APIC parts), one per thread. */
export class ApicBus {
  /** KVM_X2APIC_API_USE_32BIT_IDS (kvm->arch.x2apic_format). */
  x2apicFormat = false;
  /** KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK */
  broadcastQuirkDisabled = false;

  /** The map and what it was built from (kvm->arch.apic_map, rebuilt lazily like apic_map_dirty). */
  private cachedMap: ApicMap | null = null;
  private cachedGen = -1;
  private cachedApics: readonly ApicView[] | null = null;
  private cachedFormat = false;

  constructor(
    /** Every vCPU's APIC, in vcpu_idx order. */
    readonly apics: () => readonly ApicView[],
    /**
     * A VM-wide count every thread bumps after an APIC's ID, LDR, DFR or enables change (shared
     * memory): the map is rebuilt when it moved, not on every delivery.
     */
    private readonly generation: () => number = () => -2,
  ) {}

  /** kvm_apic_mda */
  private mda(dest: number, source: ApicView | null, target: ApicView): number {
    if (!this.broadcastQuirkDisabled && source === null && dest === APIC_BROADCAST && target.x2apic()) return X2APIC_BROADCAST;
    return dest;
  }

  /** kvm_apic_match_dest */
  matchDest(target: ApicView, source: ApicView | null, shorthand: number, dest: number, destMode: number): boolean {
    const mda = this.mda(dest, source, target) >>> 0;
    switch (shorthand) {
      case APIC_DEST.NOSHORT:
        return destMode === APIC_DEST_PHYSICAL ? matchPhysical(target, mda) : matchLogical(target, mda);
      case APIC_DEST.SELF:
        return source !== null && target.vcpuId === source.vcpuId;
      case APIC_DEST.ALLINC:
        return true;
      case APIC_DEST.ALLBUT:
        return source === null || target.vcpuId !== source.vcpuId;
      default:
        return false;
    }
  }

  /** The current map (kvm_recalculate_apic_map when an APIC changed since the last one). */
  private map(): ApicMap | null {
    const gen = this.generation();
    const apics = this.apics();
    if (gen !== this.cachedGen || gen === -2 || apics !== this.cachedApics || this.x2apicFormat !== this.cachedFormat) {
      this.cachedMap = this.buildMap(apics);
      this.cachedGen = gen;
      this.cachedApics = apics;
      this.cachedFormat = this.x2apicFormat;
    }
    return this.cachedMap;
  }

  /** kvm_recalculate_apic_map (null: the optimized map is disabled by aliased physical IDs). */
  private buildMap(apics: readonly ApicView[]): ApicMap | null {
    let max = 255;
    for (const a of apics) if (a.hwEnabled()) max = Math.max(max, a.vcpuId);
    const m: ApicMap = { maxApicId: max, logicalMode: LogicalMode.SW_DISABLED, phys: [], flat: [], cluster: Array.from({ length: 16 }, () => []) };
    for (const a of apics) {
      if (!a.hwEnabled()) continue;
      const x2 = a.x2apic();
      const xid = a.xapicId();
      if (this.x2apicFormat) {
        if (x2 || a.vcpuId > 0xff) m.phys[a.vcpuId] = a;
        if (!x2 && !m.phys[xid]) m.phys[xid] = a;
      } else {
        const id = x2 ? a.vcpuId : xid;
        if (m.phys[id]) return null;
        m.phys[id] = a;
      }
      // kvm_recalculate_logical_map
      if (m.logicalMode === LogicalMode.MAP_DISABLED || !a.swEnabled()) continue;
      let ldr = a.reg(APIC.LDR);
      if (!ldr) continue;
      let mode: LogicalMode;
      if (x2) mode = LogicalMode.X2APIC;
      else {
        ldr >>>= 24;
        mode = a.reg(APIC.DFR) === APIC_DFR_FLAT ? LogicalMode.XAPIC_FLAT : LogicalMode.XAPIC_CLUSTER;
      }
      if (m.logicalMode === LogicalMode.SW_DISABLED) m.logicalMode = mode;
      else if (m.logicalMode !== mode) {
        m.logicalMode = LogicalMode.MAP_DISABLED;
        continue;
      }
      if (x2) continue;
      const d = logicalDest(m, ldr);
      if (!d || !d.mask) continue;
      const i = 31 - Math.clz32(d.mask & -d.mask);
      if (d.mask & (d.mask - 1) || d.cluster[i]) m.logicalMode = LogicalMode.MAP_DISABLED;
      else d.cluster[i] = a;
    }
    return m;
  }

  /** kvm_apic_is_broadcast_dest */
  private broadcastDest(src: ApicView | null, irq: LapicIrq, m: ApicMap): boolean {
    const dest = irq.destId >>> 0;
    if (this.broadcastQuirkDisabled) return (dest === APIC_BROADCAST && m.logicalMode !== LogicalMode.X2APIC) || dest === X2APIC_BROADCAST;
    return dest === (src !== null && src.x2apic() ? X2APIC_BROADCAST : APIC_BROADCAST);
  }

  /**
   * kvm_apic_map_get_dest_lapic: the targets the optimized map resolves (possibly none), or null
   * when the slow path must decide.
   */
  private mapDest(src: ApicView | null, irq: LapicIrq): (ApicView | undefined)[] | null {
    if (irq.shorthand === APIC_DEST.SELF && src !== null) return [src];
    if (irq.shorthand) return null;
    const m = this.map();
    if (m === null || this.broadcastDest(src, irq, m)) return null;
    const dest = irq.destId >>> 0;
    if (irq.destMode === APIC_DEST_PHYSICAL) return dest > m.maxApicId ? [] : [m.phys[dest]];
    const d = logicalDest(m, dest);
    if (d === null) return null;
    const hits: boolean[] = [];
    let n = 0;
    for (let i = 0; i < 16; i++) if (d.mask & (1 << i)) (hits[i] = true), n++;
    if (!lowestPrio(irq)) return Array.from({ length: 16 }, (_, i) => (hits[i] ? d.cluster[i] : undefined));
    if (n === 0) return [];
    const lowest = vectorToIndex(irq.vector, n, hits);
    return [d.cluster[lowest]]; // a hole there drops the interrupt (kvm_apic_disabled_lapic_found)
  }

  /**
   * kvm_irq_delivery_to_apic: delivers to every matching APIC (or the lowest-priority one). The
   * kernel's result: -1 when no APIC matched, else the number that took the interrupt.
   */
  deliver(src: ApicView | null, irq: LapicIrq, destMap?: DestMap): number {
    if (irq.shorthand === APIC_DEST.SELF) return src === null ? 0 : accept(src, irq, destMap);
    const fast = this.mapDest(src, irq);
    if (fast !== null) {
      let r = 0;
      for (const a of fast) if (a) r += accept(a, irq, destMap);
      return r;
    }
    if (irq.destMode === APIC_DEST_PHYSICAL && irq.destId >>> 0 === 0xff && lowestPrio(irq)) irq.deliveryMode = APIC_DM.FIXED;
    let r = -1;
    const hits: boolean[] = [];
    let n = 0;
    const apics = this.apics();
    for (const a of apics) {
      if (!a.hwEnabled() || !this.matchDest(a, src, irq.shorthand, irq.destId, irq.destMode)) continue;
      if (!lowestPrio(irq)) {
        if (r < 0) r = 0;
        r += accept(a, irq, destMap);
      } else if (a.swEnabled()) {
        hits[a.vcpuIndex] = true;
        n++;
      }
    }
    if (n !== 0) {
      const idx = vectorToIndex(irq.vector, n, hits);
      const lowest = apics.find((a) => a.vcpuIndex === idx);
      if (lowest) r = accept(lowest, irq, destMap);
    }
    return r;
  }

  /** kvm_bitmap_or_dest_vcpus: the APICs an IOAPIC entry reaches (vcpu indices). */
  destVcpus(irq: LapicIrq, out: Set<number>): void {
    const fast = this.mapDest(null, irq);
    if (fast !== null) {
      for (const a of fast) if (a) out.add(a.vcpuIndex);
      return;
    }
    for (const a of this.apics()) if (a.hwEnabled() && this.matchDest(a, null, irq.shorthand, irq.destId, irq.destMode)) out.add(a.vcpuIndex);
  }
}

/** struct dest_map: the vCPUs (and vectors) an RTC interrupt went to. */
export type DestMap = Map<number, number>;

function accept(a: ApicView, irq: LapicIrq, destMap?: DestMap): number {
  const r = a.acceptIrq(irq.deliveryMode, irq.vector, irq.level, irq.trigMode);
  if (r && destMap && (irq.deliveryMode === APIC_DM.FIXED || irq.deliveryMode === APIC_DM.LOWEST)) destMap.set(a.vcpuId, irq.vector);
  return r;
}

/** kvm_apic_map_get_logical_dest */
function logicalDest(m: ApicMap, dest: number): { cluster: (ApicView | undefined)[]; mask: number } | null {
  switch (m.logicalMode) {
    case LogicalMode.SW_DISABLED:
      return { cluster: m.flat, mask: 0 };
    case LogicalMode.X2APIC: {
      const offset = (dest >>> 16) * 16;
      if (offset > m.maxApicId) return { cluster: m.flat, mask: 0 };
      const size = Math.min(m.maxApicId - offset + 1, 16);
      return { cluster: m.phys.slice(offset, offset + 16), mask: dest & (0xffff >> (16 - size)) };
    }
    case LogicalMode.XAPIC_FLAT:
      return { cluster: m.flat, mask: dest & 0xff };
    case LogicalMode.XAPIC_CLUSTER:
      return { cluster: m.cluster[(dest >>> 4) & 0xf]!, mask: dest & 0xf };
    default:
      return null;
  }
}

/** kvm_apic_match_physical_addr (with KVM's hotplug hack for IDs above 0xff). */
function matchPhysical(a: ApicView, mda: number): boolean {
  if (mda === (a.x2apic() ? X2APIC_BROADCAST : APIC_BROADCAST)) return true;
  if (a.x2apic() || mda > 0xff) return mda === a.vcpuId;
  return mda === a.xapicId();
}

/** kvm_apic_match_logical_addr */
function matchLogical(a: ApicView, mda: number): boolean {
  if (mda === (a.x2apic() ? X2APIC_BROADCAST : APIC_BROADCAST)) return true;
  let id = a.reg(APIC.LDR) >>> 0;
  if (a.x2apic()) return id >>> 16 === mda >>> 16 && (id & mda & 0xffff) !== 0;
  id >>>= 24;
  switch (a.reg(APIC.DFR)) {
    case APIC_DFR_FLAT:
      return (id & mda) !== 0;
    case 0x0fffffff: // APIC_DFR_CLUSTER
      return id >>> 4 === mda >>> 4 && (id & mda & 0xf) !== 0;
    default:
      return false;
  }
}

/**
 * kvm_set_msi_irq: an x86 MSI as an APIC interrupt. Address: destination ID bits 19:12 (and
 * address_hi 31:8 as ID bits 31:8 with KVM_X2APIC_API_USE_32BIT_IDS), bit 3 redirection hint, bit 2
 * logical destination. Data: vector 7:0, delivery mode 10:8, trigger 15.
 */
export function msiToIrq(addressLo: number, addressHi: number, data: number, x2apicFormat: boolean): LapicIrq {
  let dest = (addressLo >>> 12) & 0xff;
  if (x2apicFormat) dest = (dest | ((addressHi >>> 8) << 8)) >>> 0;
  return {
    destId: dest,
    vector: data & 0xff,
    destMode: addressLo & 4 ? APIC_DEST_LOGICAL : APIC_DEST_PHYSICAL,
    trigMode: (data >>> 15) & 1,
    deliveryMode: data & APIC_MODE_MASK,
    msiRedirHint: (addressLo & 8) !== 0,
    level: true,
    shorthand: APIC_DEST.NOSHORT,
  };
}
