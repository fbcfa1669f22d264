/**
 * The vGIC's interrupt state and its delivery logic (arch/arm64/kvm/vgic/vgic.c): every SGI, PPI
 * and SPI with its enable, pending latch, line level, active state, group, trigger, priority and
 * target, plus each vCPU's CPU-interface state (PMR, binary points, group enables, active
 * priorities), and the output that tells a vCPU it has an interrupt to take (IRQ for Group 1, FIQ
 * for Group 0).
 *
 * The state lives in one SharedArrayBuffer laid out with the uapi layout engine, behind a lock
 * word, so every thread that runs a vCPU of the VM reads and changes the same GIC: an SGI from a
 * vCPU on one worker reaches a vCPU on another, and the distributor written through MMIO on the
 * owner thread is what the others acknowledge from. Whoever changes what a vCPU may take kicks it
 * (its vcpu->requests word, src/kernel/requests.ts), as vgic_queue_irq_unlock kicks the target.
 *
 * Modelled as KVM models it: 5 priority bits, a single distributor enable (GICD_CTLR.EnableGrp1),
 * SPIs routed to exactly one vCPU (GICv3 IROUTER without 1-of-N, GICv2 the lowest CPU of
 * ITARGETSR), level-triggered interrupts pending while their line is high, GICv2 SGIs pending
 * per source CPU. A GICv3 also has LPI slots (dist->lpi_xa): the LPIs an ITS mapped (its.ts),
 * each with its INTID, target vCPU and reference count; they are edge-triggered Group 1
 * interrupts with no active state, their priority and enable cached from the guest's
 * configuration table.
 * @module
 */
import { lockWord, unlockWord } from '../../../kernel/atomics.js';
import { array, s16, s32, struct, u32, u8 } from '../../../uapi/layout.js';

/** SGIs, PPIs and SPIs start at these INTIDs. */
export const NR_SGIS = 16;
export const NR_PRIVATE = 32;
/** INTID the CPU interface returns when nothing can be acknowledged. */
export const SPURIOUS = 1023;
/** Implemented priority bits (ICC_CTLR_EL1.PRIbits + 1): priorities keep bits [7:3]. */
export const PRI_BITS = 5;
export const PRI_MASK = (0xff << (8 - PRI_BITS)) & 0xff;
/** The smallest binary points with 5 priority bits. */
export const BPR0_MIN = 7 - PRI_BITS;
export const BPR1_MIN = BPR0_MIN + 1;

/** The vGIC models (KVM_DEV_TYPE_ARM_VGIC_V2 / _V3). */
export const GIC_V2 = 2;
export const GIC_V3 = 3;

/** Who drives an interrupt's line: userspace (KVM_IRQ_LINE, irqfds) or an in-kernel device. */
export const OWNER = { USER: 0, TIMER: 1 } as const;

/** The output of a vCPU's CPU interface (VgicState out word): what it would take now. */
export const OUT_IRQ = 1;
export const OUT_FIQ = 2;

/** The first LPI (GIC_LPI_OFFSET, VGIC_MIN_LPI). */
export const LPI_BASE = 8192;
/** LPIs a GICv3 can have mapped at once (the kernel's xarray is bounded by memory alone). */
export const MAX_LPIS = 2048;

/** Words of the header. HAS_ITS: dist->has_its (GICD_TYPER.LPIS); LPI_HWM: LPI slots ever used. */
export const H = { LOCK: 0, ENABLED: 1, NR_IRQS: 2, MODEL: 3, NVCPUS: 4, IMP_REV: 5, PROPBASER_LO: 6, PROPBASER_HI: 7, HAS_ITS: 8, LPI_HWM: 9 } as const;
const HEADER_WORDS = 12;

/** Per-vCPU CPU-interface words (vgic_vmcr, the APRs, the GICv2 GICC_CTLR, the output). */
export const CPU = {
  PMR: 0,
  BPR0: 1,
  BPR1: 2,
  /** ICC_CTLR_EL1 CBPR (bit 0) and EOImode (bit 1). */
  CTLR: 3,
  GRPEN0: 4,
  GRPEN1: 5,
  AP0R: 6,
  AP1R: 7,
  /** OUT_IRQ | OUT_FIQ. */
  OUT: 8,
  /** GICC_CTLR (GICv2): EnableGrp0 0, EnableGrp1 1, AckCtl 2, FIQEn 3, CBPR 4, EOImodeNS 9. */
  V2CTLR: 9,
  /** MPIDR_EL1 affinity (Aff2:Aff1:Aff0) of the vCPU. */
  MPIDR: 10,
  /** vcpu_id (GICR_TYPER.Processor_Number, KVM_IRQ_LINE). */
  ID: 11,
  /** GICR_PENDBASER. */
  PENDBASER_LO: 12,
  PENDBASER_HI: 13,
  /** The redistributor is the last of its region (GICR_TYPER.Last), set when regions are mapped. */
  RD_LAST: 14,
  /** GICR_CTLR's EnableLPIs (bit 0) and RWP (bit 3) (vgic_cpu->ctlr). */
  RDCTLR: 15,
} as const;
/** GICR_CTLR.EnableLPIs, GICR_CTLR.RWP */
export const GICR_CTLR_ENABLE_LPIS = 1;
export const GICR_CTLR_RWP = 1 << 3;
export const CPU_WORDS = 16;

/** The layout of a vGIC's shared state (declared once; offsets for JS views). */
export function vgicLayout(nVcpus: number, nrSpis: number, nrLpis = 0) {
  // (At least one element each: C arrays of zero elements do not exist, a vGIC may have no vCPUs.)
  const n = Math.max(1, nVcpus * NR_PRIVATE + nrSpis + nrLpis);
  const l = Math.max(1, nrLpis);
  const v = Math.max(1, nVcpus);
  return struct('vkvm_vgic', {
    hdr: array(s32, HEADER_WORDS),
    cpu: array(s32, v * CPU_WORDS),
    /** Per interrupt slot (vcpu * 32 + intid for private interrupts, then the SPIs). */
    enabled: array(u8, n),
    latch: array(u8, n),
    active: array(u8, n),
    line: array(u8, n),
    group: array(u8, n),
    edge: array(u8, n),
    prio: array(u8, n),
    owner: array(u8, n),
    /** SPI routing: IROUTER affinity (v3), ITARGETSR (v2), and the target vCPU index (-1: none). */
    router: array(u32, Math.max(1, nrSpis)),
    targets: array(u8, Math.max(1, nrSpis)),
    target: array(s16, Math.max(1, nrSpis)),
    /** GICv2 SGIs: pending source CPUs and the source being handled, per target vCPU and SGI. */
    sgiSrc: array(u8, v * NR_SGIS),
    sgiActSrc: array(u8, v * NR_SGIS),
    /** LPI slots: the INTID (0: free), the target vCPU index (-1: none), the ITEs mapping it. */
    lpiIntid: array(u32, l),
    lpiTarget: array(s16, l),
    lpiRefs: array(s32, l),
  });
}

/** What a vGIC needs to exist on another thread (structured-cloneable, sharing memory). */
export interface VgicShared {
  readonly buffer: SharedArrayBuffer;
  readonly nVcpus: number;
  readonly nrSpis: number;
  /** LPI slots (GICv3: MAX_LPIS; GICv2: 0). */
  readonly nrLpis?: number;
  /** vcpu->requests of each vCPU, by vcpu index (kicks). */
  readonly kicks: readonly Int32Array[];
}

/** Request bit a kick sets (KVM_REQ_EVENT of src/kernel/requests.ts). */
export const KICK_BIT = 1;

/**
 * What the redistributors need from the owner thread's LPI code (its.ts), which reads and writes
 * the guest's LPI tables: GICR_CTLR.EnableLPIs, GICR_INVLPIR, GICR_INVALLR.
 */
export interface LpiHooks {
  /** vgic_enable_lpis: LPIs were enabled on vCPU `v` (sync its pending table). */
  enable(v: number): void;
  /** vgic_its_inv_lpi: re-read the configuration of LPI `intid`. */
  inv(intid: number): void;
  /** vgic_its_invall: re-read the configuration of every LPI targeting vCPU `v`. */
  invall(v: number): void;
}

/** A vGIC's state, on one thread (every thread's VgicState shares the same memory). */
export class VgicState {
  readonly nVcpus: number;
  readonly nrSpis: number;
  readonly nrIrqs: number;
  readonly model: number;
  readonly hdr: Int32Array;
  readonly lockWord: Int32Array;
  readonly cpu: Int32Array;
  readonly enabled: Uint8Array;
  readonly latch: Uint8Array;
  readonly active: Uint8Array;
  readonly line: Uint8Array;
  readonly group: Uint8Array;
  readonly edge: Uint8Array;
  readonly prio: Uint8Array;
  readonly owner: Uint8Array;
  readonly router: Uint32Array;
  readonly targets: Uint8Array;
  readonly target: Int16Array;
  readonly sgiSrc: Uint8Array;
  readonly sgiActSrc: Uint8Array;
  readonly nrLpis: number;
  /** Slot of LPI slot 0 (after the SGIs/PPIs and SPIs). */
  readonly lpiBase: number;
  readonly lpiIntid: Uint32Array;
  readonly lpiTarget: Int16Array;
  readonly lpiRefs: Int32Array;
  readonly kicks: readonly Int32Array[];
  /** Called (on the thread that deactivates) for a level-triggered SPI the guest deactivated. */
  onLevelEoi: ((spi: number) => void) | null = null;
  /** The owner thread's LPI table code (null elsewhere: redistributor MMIO runs on the owner). */
  lpiHooks: LpiHooks | null = null;

  constructor(readonly shared: VgicShared) {
    const nrLpis = shared.nrLpis ?? 0;
    const L = vgicLayout(shared.nVcpus, shared.nrSpis, nrLpis);
    const b = shared.buffer;
    const n = Math.max(1, shared.nVcpus * NR_PRIVATE + shared.nrSpis + nrLpis);
    const at = (f: string) => L.offsetOf(f);
    this.nVcpus = shared.nVcpus;
    this.nrSpis = shared.nrSpis;
    this.nrIrqs = shared.nrSpis + NR_PRIVATE;
    this.hdr = new Int32Array(b, at('hdr'), HEADER_WORDS);
    this.lockWord = this.hdr.subarray(H.LOCK, H.LOCK + 1);
    this.model = this.hdr[H.MODEL]!;
    this.cpu = new Int32Array(b, at('cpu'), Math.max(1, shared.nVcpus) * CPU_WORDS);
    this.enabled = new Uint8Array(b, at('enabled'), n);
    this.latch = new Uint8Array(b, at('latch'), n);
    this.active = new Uint8Array(b, at('active'), n);
    this.line = new Uint8Array(b, at('line'), n);
    this.group = new Uint8Array(b, at('group'), n);
    this.edge = new Uint8Array(b, at('edge'), n);
    this.prio = new Uint8Array(b, at('prio'), n);
    this.owner = new Uint8Array(b, at('owner'), n);
    const s = Math.max(1, shared.nrSpis);
    this.router = new Uint32Array(b, at('router'), s);
    this.targets = new Uint8Array(b, at('targets'), s);
    this.target = new Int16Array(b, at('target'), s);
    this.sgiSrc = new Uint8Array(b, at('sgiSrc'), Math.max(1, shared.nVcpus) * NR_SGIS);
    this.sgiActSrc = new Uint8Array(b, at('sgiActSrc'), Math.max(1, shared.nVcpus) * NR_SGIS);
    this.nrLpis = nrLpis;
    this.lpiBase = shared.nVcpus * NR_PRIVATE + shared.nrSpis;
    const l = Math.max(1, nrLpis);
    this.lpiIntid = new Uint32Array(b, at('lpiIntid'), l);
    this.lpiTarget = new Int16Array(b, at('lpiTarget'), l);
    this.lpiRefs = new Int32Array(b, at('lpiRefs'), l);
    this.kicks = shared.kicks;
  }

  /**
   * A new vGIC in its reset state (vgic_init): SGIs edge-triggered and enabled (as KVM resets
   * them), PPIs level, SPIs level and disabled, GICv3 interrupts in Group 1, GICv2 in Group 0,
   * every SPI delivered to vCPU 0 (IROUTER / ITARGETSR reading 0, as kvm_vgic_dist_init leaves them).
   */
  static create(model: number, nrSpis: number, vcpus: readonly { id: number; mpidr: number; kick: Int32Array }[]): VgicState {
    const nrLpis = model === GIC_V3 ? MAX_LPIS : 0;
    const L = vgicLayout(vcpus.length, nrSpis, nrLpis);
    const g = new VgicState({ buffer: new SharedArrayBuffer(L.size), nVcpus: vcpus.length, nrSpis, nrLpis, kicks: vcpus.map((v) => v.kick) });
    g.hdr[H.MODEL] = model;
    g.hdr[H.NR_IRQS] = nrSpis + NR_PRIVATE;
    g.hdr[H.NVCPUS] = vcpus.length;
    g.hdr[H.IMP_REV] = 3;
    (g as { model: number }).model = model;
    const grp = model === GIC_V3 ? 1 : 0;
    vcpus.forEach((v, i) => {
      const c = i * CPU_WORDS;
      g.cpu[c + CPU.BPR0] = BPR0_MIN;
      g.cpu[c + CPU.BPR1] = BPR1_MIN;
      g.cpu[c + CPU.MPIDR] = v.mpidr;
      g.cpu[c + CPU.ID] = v.id;
      for (let intid = 0; intid < NR_PRIVATE; intid++) {
        const s = i * NR_PRIVATE + intid;
        g.group[s] = grp;
        if (intid < NR_SGIS) {
          g.enabled[s] = 1;
          g.edge[s] = 1;
        }
      }
    });
    for (let k = 0; k < nrSpis; k++) {
      g.group[vcpus.length * NR_PRIVATE + k] = grp;
      // Every SPI starts routed to vCPU 0 (IROUTER / ITARGETSR read as 0).
      g.target[k] = vcpus.length > 0 ? 0 : -1;
    }
    return g;
  }

  lock(): void {
    lockWord(this.lockWord);
  }

  unlock(): void {
    unlockWord(this.lockWord);
  }

  /** GICD_CTLR's enable (KVM keeps one: EnableGrp1). */
  get distEnabled(): boolean {
    return this.hdr[H.ENABLED] !== 0;
  }

  set distEnabled(v: boolean) {
    this.hdr[H.ENABLED] = v ? 1 : 0;
  }

  /** The GIC implementation revision (GICD_IIDR.Revision, KVM_VGIC_IMP_REV_*). */
  get impRev(): number {
    return this.hdr[H.IMP_REV]!;
  }

  set impRev(v: number) {
    this.hdr[H.IMP_REV] = v;
  }

  /** The slot of `intid` as vCPU `vcpu` sees it (private interrupts are per vCPU); -1: no such interrupt. */
  slot(vcpu: number, intid: number): number {
    if (intid >= LPI_BASE) return this.lpiSlot(intid);
    if (intid < NR_PRIVATE) return vcpu >= 0 && vcpu < this.nVcpus && intid >= 0 ? vcpu * NR_PRIVATE + intid : -1;
    if (intid >= this.nrIrqs) return -1;
    return this.nVcpus * NR_PRIVATE + intid - NR_PRIVATE;
  }

  /** The vCPU a slot's interrupt is delivered to (-1: none). */
  targetOf(slot: number): number {
    if (slot >= this.lpiBase) return this.lpiTarget[slot - this.lpiBase]!;
    const base = this.nVcpus * NR_PRIVATE;
    return slot < base ? (slot / NR_PRIVATE) | 0 : this.target[slot - base]!;
  }

  /** The INTID of a slot. */
  intidOf(slot: number): number {
    if (slot >= this.lpiBase) return this.lpiIntid[slot - this.lpiBase]!;
    const base = this.nVcpus * NR_PRIVATE;
    return slot < base ? slot % NR_PRIVATE : slot - base + NR_PRIVATE;
  }

  /** Pending state of a slot: the latch, or a level-triggered line that is high (GICv2 SGIs: any source). */
  pending(s: number): boolean {
    if (this.model === GIC_V2 && s < this.nVcpus * NR_PRIVATE && s % NR_PRIVATE < NR_SGIS) {
      return this.sgiSrc[((s / NR_PRIVATE) | 0) * NR_SGIS + (s % NR_PRIVATE)] !== 0;
    }
    return this.latch[s] !== 0 || (this.edge[s] === 0 && this.line[s] !== 0);
  }

  /** A CPU-interface word of vCPU `v`. */
  cpuWord(v: number, w: number): number {
    return this.cpu[v * CPU_WORDS + w]!;
  }

  setCpuWord(v: number, w: number, value: number): void {
    this.cpu[v * CPU_WORDS + w] = value;
  }

  /** The output word of vCPU `v` (OUT_IRQ | OUT_FIQ), for the CPU to test without the lock. */
  outView(v: number): Int32Array {
    // Cached (KVM_RUN asks every time; `cpu` never changes).
    return (this.outViews[v] ??= this.cpu.subarray(v * CPU_WORDS + CPU.OUT, v * CPU_WORDS + CPU.OUT + 1));
  }
  private readonly outViews: Int32Array[] = [];

  // ---- priorities ---------------------------------------------------------------------------------

  /** The group priority of `prio` for an interrupt of `group`, as the binary points split it. */
  groupPrio(v: number, prio: number, group: number): number {
    let bpr: number;
    if (this.model === GIC_V2) {
      const ctlr = this.cpuWord(v, CPU.V2CTLR);
      bpr = group === 1 && (ctlr & 0x10) === 0 ? this.cpuWord(v, CPU.BPR1) - 1 : this.cpuWord(v, CPU.BPR0);
    } else bpr = group === 1 && (this.cpuWord(v, CPU.CTLR) & 1) === 0 ? this.cpuWord(v, CPU.BPR1) - 1 : this.cpuWord(v, CPU.BPR0);
    return prio & (0xff << (bpr + 1)) & 0xff;
  }

  /** The running priority (ICC_RPR_EL1): the highest active group priority, 0xff when idle. */
  runningPrio(v: number): number {
    const ap = this.cpuWord(v, CPU.AP0R) | this.cpuWord(v, CPU.AP1R);
    if (ap === 0) return 0xff;
    return (31 - Math.clz32(ap & -ap)) << (8 - PRI_BITS);
  }

  /** Whether the CPU interface forwards `group` (ICC_IGRPENn_EL1, GICC_CTLR.EnableGrpN). */
  groupEnabled(v: number, group: number): boolean {
    if (this.model === GIC_V2) return ((this.cpuWord(v, CPU.V2CTLR) >>> group) & 1) !== 0;
    return this.cpuWord(v, group ? CPU.GRPEN1 : CPU.GRPEN0) !== 0;
  }

  /**
   * The highest-priority pending interrupt of vCPU `v` that is enabled, not active and whose group
   * its CPU interface forwards: its slot, or -1 (ties go to the lowest INTID).
   */
  hppi(v: number): number {
    if (!this.distEnabled) return -1;
    let best = -1;
    let bestPrio = 0x100;
    const g0 = this.groupEnabled(v, 0);
    const g1 = this.groupEnabled(v, 1);
    if (!g0 && !g1) return -1;
    const scan = (s: number) => {
      if (this.enabled[s] === 0 || this.active[s] !== 0 || !this.pending(s)) return;
      const g = this.group[s]!;
      if (g ? !g1 : !g0) return;
      const p = this.prio[s]!;
      if (p < bestPrio) {
        bestPrio = p;
        best = s;
      }
    };
    const p0 = v * NR_PRIVATE;
    for (let s = p0; s < p0 + NR_PRIVATE; s++) scan(s);
    const base = this.nVcpus * NR_PRIVATE;
    for (let k = 0; k < this.nrSpis; k++) if (this.target[k] === v) scan(base + k);
    const hwm = this.hdr[H.LPI_HWM]!;
    for (let k = 0; k < hwm; k++) if (this.lpiIntid[k] !== 0 && this.lpiTarget[k] === v) scan(this.lpiBase + k);
    return best;
  }

  /** Whether interrupt slot `s` (the HPPI) would be signalled now: above the mask and preempting. */
  signals(v: number, s: number): boolean {
    const p = this.prio[s]!;
    if (p >= (this.cpuWord(v, CPU.PMR) & PRI_MASK)) return false;
    return this.groupPrio(v, p, this.group[s]!) < this.runningPrio(v);
  }

  /** The output vCPU `v` should see now (under the lock). */
  computeOut(v: number): number {
    const s = this.hppi(v);
    if (s < 0 || !this.signals(v, s)) return 0;
    if (this.group[s] === 1) return OUT_IRQ;
    // Group 0: FIQ on GICv3 (system registers); GICv2 signals it as FIQ only with FIQEn.
    if (this.model === GIC_V2 && (this.cpuWord(v, CPU.V2CTLR) & 8) === 0) return OUT_IRQ;
    return OUT_FIQ;
  }

  /** Recomputes vCPU `v`'s output (under the lock) and kicks it when it has something to take. */
  update(v: number): void {
    if (v < 0 || v >= this.nVcpus) return;
    const i = v * CPU_WORDS + CPU.OUT;
    const out = this.computeOut(v);
    Atomics.store(this.cpu, i, out);
    if (out !== 0) this.kick(v);
  }

  /** update() for every vCPU (a distributor-wide change). */
  updateAll(): void {
    for (let v = 0; v < this.nVcpus; v++) this.update(v);
  }

  /** Kicks vCPU `v` (kvm_vcpu_kick with KVM_REQ_EVENT). */
  kick(v: number): void {
    const w = this.kicks[v];
    if (w === undefined) return;
    Atomics.or(w, 0, KICK_BIT);
    Atomics.notify(w, 0);
  }

  // ---- injection ----------------------------------------------------------------------------------

  /**
   * kvm_vgic_inject_irq: drives the line of `intid` (private to vCPU `vcpu`, or an SPI with vcpu
   * -1). Level-triggered interrupts follow the level; edge-triggered ones latch a rising level.
   * An interrupt another owner drives (the arch timer's PPI) ignores the caller. Returns false for
   * an interrupt that does not exist.
   */
  inject(vcpu: number, intid: number, level: boolean, owner: number = OWNER.USER): boolean {
    if (vcpu < 0 && intid < NR_PRIVATE) return false;
    const s = this.slot(vcpu, intid);
    if (s < 0) return false;
    this.lock();
    try {
      if (this.owner[s] !== owner) return true;
      if (this.edge[s] === 0) {
        if ((this.line[s] !== 0) === level) return true;
        this.line[s] = level ? 1 : 0;
      } else if (!level) return true;
      else this.latch[s] = 1;
      this.update(this.targetOf(s));
    } finally {
      this.unlock();
    }
    return true;
  }

  // ---- the CPU interface: acknowledge, priority drop, deactivate --------------------------------

  /**
   * Acknowledges the highest-priority pending interrupt of `group` (ICC_IAR0/1_EL1, GICC_IAR):
   * it becomes active (an edge's latch clears; a high level stays pending), its group priority
   * becomes active in the APRs. Returns the INTID (GICv2 SGIs: with the source CPU in bits [12:10])
   * or 1023. `group` -1: either group (GICC_IAR with AckCtl).
   */
  ack(v: number, group: number): number {
    this.lock();
    try {
      const s = this.hppi(v);
      if (s < 0 || !this.signals(v, s)) return SPURIOUS;
      const g = this.group[s]!;
      if (group >= 0 && g !== group) return SPURIOUS;
      let intid = this.intidOf(s);
      // LPIs have no active state: acknowledging one only consumes its pending state.
      if (s < this.lpiBase) this.active[s] = 1;
      if (this.model === GIC_V2 && intid < NR_SGIS) {
        const k = v * NR_SGIS + intid;
        const src = 31 - Math.clz32(this.sgiSrc[k]! & -this.sgiSrc[k]!);
        this.sgiSrc[k] = this.sgiSrc[k]! & ~(1 << src);
        this.sgiActSrc[k] = src;
        // The other sources stay pending; the interrupt is active as a whole.
        intid |= src << 10;
      } else this.latch[s] = 0;
      const bit = this.groupPrio(v, this.prio[s]!, g) >>> (8 - PRI_BITS);
      const w = v * CPU_WORDS + (g ? CPU.AP1R : CPU.AP0R);
      this.cpu[w] = this.cpu[w]! | (1 << bit);
      this.update(v);
      return intid;
    } finally {
      this.unlock();
    }
  }

  /** The highest-priority pending INTID as ICC_HPPIRn_EL1 / GICC_HPPIR report it (1023: none, or another group). */
  highestPending(v: number, group: number): number {
    this.lock();
    try {
      const s = this.hppi(v);
      if (s < 0 || (group >= 0 && this.group[s] !== group)) return SPURIOUS;
      let intid = this.intidOf(s);
      if (this.model === GIC_V2 && intid < NR_SGIS) {
        const m = this.sgiSrc[v * NR_SGIS + intid]!;
        intid |= (31 - Math.clz32(m & -m)) << 10;
      }
      return intid;
    } finally {
      this.unlock();
    }
  }

  /**
   * ICC_EOIRn_EL1 / GICC_EOIR: drops the running priority (the highest active one of `group`);
   * with EOImode 0 also deactivates `intid`.
   */
  eoi(v: number, group: number, intid: number, deactivate: boolean): void {
    this.lock();
    try {
      const w0 = v * CPU_WORDS + CPU.AP0R;
      const w1 = v * CPU_WORDS + CPU.AP1R;
      const ap = this.cpu[w0]! | this.cpu[w1]!;
      if (ap !== 0) {
        const low = ap & -ap;
        // The highest active priority belongs to `group` when its APR has it (else the other's).
        const w = this.cpu[group ? w1 : w0]! & low ? (group ? w1 : w0) : group ? w0 : w1;
        this.cpu[w] = this.cpu[w]! & ~low;
      }
      if (deactivate) this.deactivateLocked(v, intid);
      this.update(v);
    } finally {
      this.unlock();
    }
    this.afterDeactivate(v, intid, deactivate);
  }

  /** ICC_DIR_EL1 / GICC_DIR: deactivates `intid` (EOImode 1). */
  deactivate(v: number, intid: number): void {
    this.lock();
    try {
      this.deactivateLocked(v, intid);
      this.update(v);
    } finally {
      this.unlock();
    }
    this.afterDeactivate(v, intid, true);
  }

  /** The INTID an EOIR/DIR write names (GICv2: 10 bits; GICv3: 24, LPIs included). */
  private eoiIntid(intid: number): number {
    return this.model === GIC_V2 ? intid & 0x3ff : intid & 0xffffff;
  }

  private deactivateLocked(v: number, intid: number): void {
    const s = this.slot(v, this.eoiIntid(intid));
    if (s < 0) return;
    this.active[s] = 0;
    const t = this.targetOf(s);
    if (t !== v) this.update(t);
  }

  /** A level-triggered SPI the guest deactivated: the resampling irqfds' ack (kvm_notify_acked_irq). */
  private afterDeactivate(v: number, intid: number, deactivated: boolean): void {
    const id = this.eoiIntid(intid);
    if (!deactivated || id < NR_PRIVATE || id >= this.nrIrqs || this.onLevelEoi === null) return;
    const s = this.slot(v, id);
    if (s >= 0 && this.edge[s] === 0) this.onLevelEoi(id - NR_PRIVATE);
  }

  // ---- SGIs -------------------------------------------------------------------------------------

  /**
   * Makes SGI `sgi` pending on vCPU `t` (GICv2: from source CPU `src`). An access generating
   * Group 0 SGIs only (`allowGroup1` false) leaves Group 1 SGIs alone (vgic_v3_queue_sgi).
   */
  raiseSgi(t: number, sgi: number, src: number, allowGroup1: boolean): void {
    const s = t * NR_PRIVATE + sgi;
    this.lock();
    try {
      if (this.group[s] !== 0 && !allowGroup1) return;
      if (this.model === GIC_V2) this.sgiSrc[t * NR_SGIS + sgi] = this.sgiSrc[t * NR_SGIS + sgi]! | (1 << src);
      else this.latch[s] = 1;
      this.update(t);
    } finally {
      this.unlock();
    }
  }

  /** The vCPU index with MPIDR affinity `aff` (Aff2:Aff1:Aff0), or -1. */
  vcpuByMpidr(aff: number): number {
    for (let v = 0; v < this.nVcpus; v++) if (this.cpuWord(v, CPU.MPIDR) === aff) return v;
    return -1;
  }

  /** Re-routes SPI `k` after an IROUTER/ITARGETSR change (under the lock); updates old and new targets. */
  retarget(k: number): void {
    const old = this.target[k]!;
    let t = -1;
    if (this.model === GIC_V3) t = this.vcpuByMpidr(this.router[k]! & 0xffffff);
    else {
      // The lowest CPU of ITARGETSR; none set: vCPU 0 (vgic_mmio_write_target).
      const m = this.targets[k]!;
      t = m !== 0 ? 31 - Math.clz32(m & -m) : 0;
    }
    this.target[k] = t;
    if (old !== t) {
      this.update(old);
      this.update(t);
    }
  }

  // ---- LPIs (the slots an ITS maps; its.ts drives them under the lock) ---------------------------

  /** Whether vCPU `v`'s redistributor has LPIs enabled (vgic_lpis_enabled: EnableLPIs, not RWP). */
  lpisEnabled(v: number): boolean {
    return v >= 0 && v < this.nVcpus && Atomics.load(this.cpu, v * CPU_WORDS + CPU.RDCTLR) === GICR_CTLR_ENABLE_LPIS;
  }

  /** The slot of LPI `intid`, -1 when no ITS mapped it. */
  lpiSlot(intid: number): number {
    const hwm = this.hdr[H.LPI_HWM]!;
    for (let k = 0; k < hwm; k++) if (this.lpiIntid[k] === intid) return this.lpiBase + k;
    return -1;
  }

  /**
   * vgic_add_lpi under the lock: the slot of LPI `intid` with one more reference, or a new one
   * targeting `target` (edge, Group 1, disabled, not pending); -1 when every slot is taken.
   * `fresh` tells the caller whether it must read the LPI's configuration and pending bit.
   */
  lpiGet(intid: number, target: number, fresh: { v: boolean }): number {
    const s = this.lpiSlot(intid);
    fresh.v = false;
    if (s >= 0) {
      this.lpiRefs[s - this.lpiBase]!++;
      return s;
    }
    const hwm = this.hdr[H.LPI_HWM]!;
    let k = 0;
    while (k < hwm && this.lpiIntid[k] !== 0) k++;
    if (k >= this.nrLpis) return -1;
    if (k === hwm) this.hdr[H.LPI_HWM] = hwm + 1;
    const slot = this.lpiBase + k;
    this.lpiIntid[k] = intid;
    this.lpiTarget[k] = target;
    this.lpiRefs[k] = 1;
    this.enabled[slot] = 0;
    this.latch[slot] = 0;
    this.active[slot] = 0;
    this.line[slot] = 0;
    this.group[slot] = 1;
    this.edge[slot] = 1;
    this.prio[slot] = 0;
    fresh.v = true;
    return slot;
  }

  /** vgic_put_irq of an LPI (under the lock): the last reference frees the slot. */
  lpiPut(slot: number): void {
    const k = slot - this.lpiBase;
    if (--this.lpiRefs[k]! > 0) return;
    const t = this.lpiTarget[k]!;
    this.lpiIntid[k] = 0;
    this.lpiTarget[k] = -1;
    this.latch[slot] = 0;
    this.enabled[slot] = 0;
    let hwm = this.hdr[H.LPI_HWM]!;
    while (hwm > 0 && this.lpiIntid[hwm - 1] === 0) hwm--;
    this.hdr[H.LPI_HWM] = hwm;
    this.update(t);
  }

  /** update_affinity (under the lock): LPI `slot` now targets vCPU `t` (-1: none). */
  lpiRetarget(slot: number, t: number): void {
    const k = slot - this.lpiBase;
    const old = this.lpiTarget[k]!;
    this.lpiTarget[k] = t;
    if (old !== t) {
      this.update(old);
      this.update(t);
    }
  }
}
