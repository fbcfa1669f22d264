/**
 * The in-kernel local APIC of one vCPU (arch/x86/kvm/lapic.c): xAPIC MMIO at the APIC base
 * (relocatable through IA32_APIC_BASE) and x2APIC MSRs 0x800-0x8ff, TPR/PPR (and CR8), IRR/ISR/TMR,
 * EOI (with the IOAPIC EOI broadcast), the ICR (IPIs through ApicBus), the LVT entries and the
 * timer in one-shot, periodic and TSC-deadline modes on the vCPU's deadline queue,
 * KVM_GET/SET_LAPIC with KVM_CAP_X2APIC_API's ID rules.
 *
 * The register page is shared memory (ApicView): other threads set IRR/TMR bits and post
 * INIT/SIPI/NMI there; everything else here runs on the vCPU's own thread.
 * @module
 */
import { KVM_REQ } from '../../../kernel/requests.js';
import type { X86Machine } from '../run.js';
import { mcgCap, MCG } from '../mce.js';
import {
  APIC,
  APIC_BASE_MSR,
  APIC_DEFAULT_PHYS_BASE,
  APIC_DEST,
  APIC_DM,
  APIC_DEST_LOGICAL,
  APIC_ICR_BUSY,
  APIC_INT_ASSERT,
  APIC_INT_LEVELTRIG,
  APIC_LVR_DIRECTED_EOI,
  APIC_LVT_LEVEL_TRIGGER,
  APIC_LVT_MASKED,
  APIC_MODE_MASK,
  APIC_SHORT_MASK,
  APIC_SPIV_APIC_ENABLED,
  APIC_SPIV_DIRECTED_EOI,
  APIC_VECTOR_MASK,
  ApicView,
  type LapicIrq,
} from './apic.js';
import type { X86Irqchip } from './chip.js';

/** APIC_VERSION: an integrated xAPIC. */
const APIC_VERSION = 0x14;
/** LAPIC_MMIO_LENGTH */
const LAPIC_MMIO_LENGTH = 0x1000;
/** min_timer_period_us (kvm.ko default): periodic timers run no faster than this. */
const MIN_TIMER_PERIOD_NS = 200_000;
/** apic_bus_cycle_ns (KVM_CAP_X86_APIC_BUS_CYCLES_NS default): a 1 GHz APIC bus. */
const APIC_BUS_CYCLE_NS = 1;

const LVT_MASK = APIC_LVT_MASKED | (1 << 12) | APIC_VECTOR_MASK;
const LINT_MASK = LVT_MASK | APIC_MODE_MASK | (1 << 13) | (1 << 14) | APIC_LVT_LEVEL_TRIGGER;
/** apic_lvt_mask, by LVT index (timer's mode bits added at runtime). */
const LVT_MASKS = [LVT_MASK, LVT_MASK | APIC_MODE_MASK, LVT_MASK | APIC_MODE_MASK, LINT_MASK, LINT_MASK, LVT_MASK, LVT_MASK | APIC_MODE_MASK];
/** APIC_LVTx(i) */
const LVT_REGS = [APIC.LVTT, APIC.LVTTHMR, APIC.LVTPC, APIC.LVT0, APIC.LVT1, APIC.LVTERR, APIC.LVTCMCI];
const LVT_CMCI = 6;

/** Timer modes (LVTT bits 18:17). */
const TIMER = { ONESHOT: 0, PERIODIC: 1 << 17, TSCDEADLINE: 2 << 17 } as const;

/** Readable registers (kvm_lapic_readable_reg_mask), one bit per 16-byte slot. */
function readable(x2apic: boolean, cmci: boolean): bigint {
  const bit = (r: number) => 1n << BigInt(r >> 4);
  const range = (r: number, n: number) => ((1n << BigInt(n)) - 1n) << BigInt(r >> 4);
  let m =
    bit(APIC.ID) | bit(APIC.LVR) | bit(APIC.TASKPRI) | bit(APIC.PROCPRI) | bit(APIC.LDR) | bit(APIC.SPIV) |
    range(APIC.ISR, 8) | range(APIC.TMR, 8) | range(APIC.IRR, 8) | bit(APIC.ESR) | bit(APIC.ICR) |
    bit(APIC.LVTT) | bit(APIC.LVTTHMR) | bit(APIC.LVTPC) | bit(APIC.LVT0) | bit(APIC.LVT1) | bit(APIC.LVTERR) |
    bit(APIC.TMICT) | bit(APIC.TMCCT) | bit(APIC.TDCR);
  if (cmci) m |= bit(APIC.LVTCMCI);
  if (!x2apic) m |= bit(APIC.ARBPRI) | bit(APIC.DFR) | bit(APIC.ICR2);
  return m;
}
/** By [x2APIC][LVT CMCI present]. */
const READABLE = [
  [readable(false, false), readable(false, true)],
  [readable(true, false), readable(true, true)],
];

/** kvm_apic_calc_x2apic_ldr */
export function x2apicLdr(id: number): number {
  return (((id >>> 4) << 16) | (1 << (id & 0xf))) | 0;
}

/** A vCPU's local APIC (struct kvm_lapic). */
export class Lapic extends ApicView {
  /** apic->divide_count */
  private divideCount = 2;
  /** lapic_timer fields: mode, the mode bits LVTT may hold (CPUID's TSC_DEADLINE_TIMER), period ns, target ns, deadline. */
  private timerMode = TIMER.ONESHOT as number;
  timerModeMask = 0;
  private period = 0;
  private targetExpiration = 0;
  private tscdeadline = 0n;
  /** lapic_timer.pending: an expiry not yet delivered. */
  timerPending = 0;
  /** The deadline armed on the vCPU's queue (ns), -1 none: carried when the vCPU moves threads. */
  armedAt = -1;
  private lvt0InNmiMode = false;
  /** apic->nr_lvt_entries: LVT CMCI only with MCG_CMCI_P in MCG_CAP (kvm_apic_calc_nr_lvt_entries). */
  private get nrLvt(): number {
    return mcgCap(this.m.s) & MCG.CMCI_P ? 7 : 6;
  }
  /** CR8 as this APIC last saw it: a MOV to CR8 shows as a difference (kvm_set_cr8 -> TPR). */
  private cr8Seen = 0;
  /** The vector an EOI must report with KVM_EXIT_IOAPIC_EOI (split irqchip), -1 none. */
  pendingIoapicEoi = -1;

  constructor(
    private readonly m: X86Machine,
    page: Int32Array,
  ) {
    super(page, m.vcpu.id, m.vcpu.index, m.vcpu.requests);
  }

  private get chip(): X86Irqchip {
    return (this.m.vcpu.vm.archState as { irq: X86Irqchip }).irq;
  }

  private now(): number {
    return this.m.vcpu.timer.now(this.m.retired);
  }

  private set(off: number, v: number): void {
    this.page[off >> 2] = v | 0;
  }

  // ------------------------------------------------------------------------------------------
  // Reset, base, version

  /** kvm_lapic_reset (kvm_vcpu_reset's part): `init` is an INIT, else a RESET. */
  reset(init: boolean): void {
    const m = this.m;
    if (!init) this.setBaseRaw(BigInt((APIC_DEFAULT_PHYS_BASE | APIC_BASE_MSR.ENABLE | (m.vcpu.id === this.chip.bspVcpuId ? APIC_BASE_MSR.BSP : 0)) >>> 0));
    this.cancelTimer();
    if (!init) this.set(APIC.ID, (this.vcpuId & 0xff) << 24);
    this.setVersion();
    for (let i = 0; i < this.nrLvt; i++) this.set(LVT_REGS[i]!, APIC_LVT_MASKED);
    this.updateLvtt();
    // KVM_X86_QUIRK_LINT0_REENABLED: the BSP's LINT0 takes ExtINT from the PIC after RESET.
    if (m.vcpu.id === this.chip.bspVcpuId) this.set(APIC.LVT0, APIC_DM.EXTINT);
    this.manageNmiWatchdog(this.reg(APIC.LVT0));
    this.set(APIC.DFR, -1);
    this.setSpiv(0xff);
    this.set(APIC.TASKPRI, 0);
    if (!this.x2apic()) this.set(APIC.LDR, 0);
    this.set(APIC.ESR, 0);
    this.set(APIC.ICR, 0);
    this.set(APIC.ICR + 4, 0);
    this.set(APIC.ICR2, 0);
    this.set(APIC.TDCR, 0);
    this.set(APIC.TMICT, 0);
    for (let i = 0; i < 8; i++) {
      Atomics.store(this.page, (APIC.IRR >> 2) + 4 * i, 0);
      this.set(APIC.ISR + 0x10 * i, 0);
      Atomics.store(this.page, (APIC.TMR >> 2) + 4 * i, 0);
    }
    this.updateDivideCount();
    this.timerPending = 0;
    this.syncCr8();
    this.updatePpr();
    this.mapChanged();
  }

  /** kvm_apic_after_set_mcg_cap (KVM_X86_SETUP_MCE): a new LVT CMCI starts masked; LVR shows the count. */
  afterSetMcgCap(hadCmci: boolean): void {
    if ((this.nrLvt === 7) === hadCmci) return;
    if (!hadCmci) this.set(APIC.LVTCMCI, APIC_LVT_MASKED);
    this.setVersion();
  }

  /** kvm_apic_set_version: LVR, with directed EOI when the IOAPIC is in userspace and the guest has x2APIC. */
  setVersion(): void {
    let v = APIC_VERSION | ((this.nrLvt - 1) << 16);
    if (this.m.events.guestX2apic() && !this.chip.ioapicInKernel) v |= APIC_LVR_DIRECTED_EOI;
    this.set(APIC.LVR, v);
  }

  /** The APIC base register as stored on the vCPU (s.apicBase), posted to the shared page. */
  private setBaseRaw(v: bigint): void {
    const s = this.m.s;
    const old = s.apicBase;
    s.apicBase = v;
    this.postBase(v);
    const changed = Number((old ^ v) & BigInt(APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.X2APIC_ENABLE));
    if (changed & APIC_BASE_MSR.ENABLE && v & BigInt(APIC_BASE_MSR.ENABLE)) this.set(APIC.ID, (this.vcpuId & 0xff) << 24);
    if (changed & APIC_BASE_MSR.X2APIC_ENABLE) {
      if (v & BigInt(APIC_BASE_MSR.X2APIC_ENABLE)) {
        this.set(APIC.ID, this.vcpuId);
        this.set(APIC.LDR, x2apicLdr(this.vcpuId));
      } else if (v & BigInt(APIC_BASE_MSR.ENABLE)) this.set(APIC.ID, (this.vcpuId & 0xff) << 24);
    }
    if (changed) this.mapChanged();
  }

  /**
   * kvm_apic_set_base: IA32_APIC_BASE writes. False (#GP, or EINVAL for KVM_SET_SREGS) for
   * reserved bits (above MAXPHYADDR, 7:0 and 9, x2APIC enable without CPUID.X2APIC), x2APIC enable
   * without xAPIC enable, and from the guest x2APIC -> xAPIC or disabled -> x2APIC.
   */
  setBase(v: bigint, host: boolean): boolean {
    const reserved = ~((1n << BigInt(this.m.events.maxPhyAddr())) - 1n) | 0x2ffn | (this.m.events.guestX2apic() ? 0n : BigInt(APIC_BASE_MSR.X2APIC_ENABLE));
    if (v & reserved & 0xffffffffffffffffn) return false;
    const mode = (x: bigint) => Number(x & BigInt(APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.X2APIC_ENABLE));
    const nw = mode(v);
    if (nw === APIC_BASE_MSR.X2APIC_ENABLE) return false; // LAPIC_MODE_INVALID
    if (!host) {
      const old = mode(this.m.s.apicBase);
      const x2 = APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.X2APIC_ENABLE;
      if (old === x2 && nw === APIC_BASE_MSR.ENABLE) return false;
      if (old === 0 && nw === x2) return false;
    }
    this.setBaseRaw(v);
    return true;
  }

  /** The APIC page's guest-physical base. */
  get baseAddress(): number {
    return Number(this.m.s.apicBase & 0xfffff000n);
  }

  // ------------------------------------------------------------------------------------------
  // Priorities

  /** A MOV to CR8 (or KVM_SET_SREGS) changed CR8 since the APIC last looked: TPR follows (kvm_set_cr8). */
  syncCr8(): void {
    const cr8 = this.m.s.cr8;
    if (cr8 !== this.cr8Seen) {
      this.cr8Seen = cr8;
      this.set(APIC.TASKPRI, (cr8 & 0xf) << 4);
      this.updatePpr();
    }
  }

  private setTpr(tpr: number): void {
    this.set(APIC.TASKPRI, tpr);
    this.m.s.cr8 = this.cr8Seen = (tpr >> 4) & 0xf;
    this.updatePpr();
  }

  /** find_highest_vector over the 8 registers at `base`. */
  private highest(base: number): number {
    const p = this.page;
    for (let i = 7; i >= 0; i--) {
      const x = p[(base >> 2) + 4 * i]!;
      if (x !== 0) return i * 32 + 31 - Math.clz32(x);
    }
    return -1;
  }

  /** __apic_update_ppr: the new PPR; true when it went down. */
  private computePpr(): { ppr: number; lower: boolean } {
    const old = this.reg(APIC.PROCPRI);
    const tpr = this.reg(APIC.TASKPRI);
    const isr = this.highest(APIC.ISR);
    const isrv = isr === -1 ? 0 : isr;
    const ppr = (tpr & 0xf0) >= (isrv & 0xf0) ? tpr & 0xff : isrv & 0xf0;
    if (old !== ppr) this.set(APIC.PROCPRI, ppr);
    return { ppr, lower: ppr < old };
  }

  /** apic_update_ppr: an interrupt unblocked by a lower PPR needs KVM_REQ_EVENT. */
  private updatePpr(): void {
    const { ppr, lower } = this.computePpr();
    if (lower && this.hasInterruptForPpr(ppr) !== -1) this.kick(KVM_REQ.EVENT);
  }

  private hasInterruptForPpr(ppr: number): number {
    const irr = this.highest(APIC.IRR);
    if (irr === -1 || (irr & 0xf0) <= ppr) return -1;
    return irr;
  }

  /** kvm_apic_has_interrupt: the vector to deliver, -1 none. */
  hasInterrupt(): number {
    if (!this.hwEnabled()) return -1;
    this.syncCr8();
    return this.hasInterruptForPpr(this.computePpr().ppr);
  }

  /** kvm_apic_ack_interrupt: IRR -> ISR for the vector being delivered. */
  ack(vector: number): void {
    const w = vector >> 5;
    const bit = 1 << (vector & 31);
    Atomics.and(this.page, (APIC.IRR >> 2) + 4 * w, ~bit);
    this.page[(APIC.ISR >> 2) + 4 * w]! |= bit;
    this.computePpr();
  }

  // ------------------------------------------------------------------------------------------
  // EOI and IPIs

  /** apic_set_eoi: the highest in-service vector is done (and the IOAPIC told, for its vectors). */
  private eoi(): void {
    const vector = this.highest(APIC.ISR);
    if (vector === -1) return;
    this.page[(APIC.ISR >> 2) + 4 * (vector >> 5)]! &= ~(1 << (vector & 31));
    this.updatePpr();
    this.sendIoapicEoi(vector);
    this.kick(KVM_REQ.EVENT);
  }

  /** kvm_ioapic_send_eoi */
  private sendIoapicEoi(vector: number): void {
    if (!this.handles(vector)) return;
    const chip = this.chip;
    if (chip.split) {
      this.pendingIoapicEoi = vector; // KVM_REQ_IOAPIC_EOI_EXIT: exits at the next entry
      return;
    }
    const level = (this.page[(APIC.TMR >> 2) + 4 * (vector >> 5)]! & (1 << (vector & 31))) !== 0;
    chip.ioapicEoi(this.m.vcpu, vector, level, (this.reg(APIC.SPIV) & APIC_SPIV_DIRECTED_EOI) !== 0);
  }

  /** kvm_apic_send_ipi */
  private sendIpi(lo: number, hi: number): void {
    const irq: LapicIrq = {
      vector: lo & APIC_VECTOR_MASK,
      deliveryMode: lo & APIC_MODE_MASK,
      destMode: lo & APIC_DEST_LOGICAL,
      level: (lo & APIC_INT_ASSERT) !== 0,
      trigMode: lo & APIC_INT_LEVELTRIG,
      shorthand: lo & APIC_SHORT_MASK,
      msiRedirHint: false,
      destId: this.x2apic() ? hi >>> 0 : hi >>> 24,
    };
    this.chip.bus.deliver(this, irq);
  }

  /** kvm_apic_local_deliver: an LVT entry fires (timer, LINT0/1 from the NMI watchdog...). */
  localDeliver(lvt: number): number {
    const reg = this.reg(lvt);
    if (!this.hwEnabled() || reg & APIC_LVT_MASKED) return 0;
    return this.acceptIrq(reg & APIC_MODE_MASK, reg & APIC_VECTOR_MASK, true, reg & APIC_LVT_LEVEL_TRIGGER);
  }

  // ------------------------------------------------------------------------------------------
  // Register access

  /** __apic_read */
  private read(off: number): number {
    switch (off) {
      case APIC.ARBPRI:
        return 0;
      case APIC.TMCCT:
        return this.timerMode === TIMER.TSCDEADLINE ? 0 : this.tmcct();
      case APIC.PROCPRI:
        this.syncCr8();
        this.updatePpr();
        return this.reg(off);
      case APIC.TASKPRI:
        this.syncCr8();
        return this.reg(off);
      default:
        return this.reg(off);
    }
  }

  /** kvm_lapic_reg_read: -1 when the access is refused (unaligned, wide, or an unreadable register). */
  regRead(off: number, len: number): number {
    const align = off & 0xf;
    if (align + len > 4) return -1;
    if (off > 0x3f0 || !((READABLE[this.x2apic() ? 1 : 0]![this.nrLvt === 7 ? 1 : 0]! >> BigInt(off >> 4)) & 1n)) return -1;
    const v = this.read(off & ~0xf) >>> 0;
    const shifted = v >>> (8 * align);
    return len === 4 ? shifted : shifted & ((1 << (8 * len)) - 1);
  }

  /** kvm_lapic_reg_write: false when refused (#GP for an x2APIC MSR). */
  regWrite(reg: number, val: number): boolean {
    let ok = true;
    const x2 = this.x2apic();
    switch (reg) {
      case APIC.ID:
        if (!x2) {
          this.set(APIC.ID, (val >>> 24) << 24);
          this.mapChanged();
        } else ok = false;
        break;
      case APIC.TASKPRI:
        this.setTpr(val & 0xff);
        break;
      case APIC.EOI:
        this.eoi();
        break;
      case APIC.LDR:
        if (!x2) {
          this.set(APIC.LDR, val & 0xff000000);
          this.mapChanged();
        } else ok = false;
        break;
      case APIC.DFR:
        if (!x2) {
          this.set(APIC.DFR, val | 0x0fffffff);
          this.mapChanged();
        } else ok = false;
        break;
      case APIC.SPIV: {
        let mask = 0x3ff;
        if (this.reg(APIC.LVR) & APIC_LVR_DIRECTED_EOI) mask |= APIC_SPIV_DIRECTED_EOI;
        this.setSpiv(val & mask);
        if (!(val & APIC_SPIV_APIC_ENABLED)) {
          for (let i = 0; i < this.nrLvt; i++) this.set(LVT_REGS[i]!, this.reg(LVT_REGS[i]!) | APIC_LVT_MASKED);
          this.updateLvtt();
          this.timerPending = 0;
        }
        break;
      }
      case APIC.ICR: {
        const v = val & ~APIC_ICR_BUSY;
        this.sendIpi(v, this.reg(APIC.ICR2));
        this.set(APIC.ICR, v);
        break;
      }
      case APIC.ICR2:
        if (x2) ok = false;
        else this.set(APIC.ICR2, val & 0xff000000);
        break;
      case APIC.LVT0:
        this.manageNmiWatchdog(val);
      // falls through
      case APIC.LVTTHMR:
      case APIC.LVTPC:
      case APIC.LVT1:
      case APIC.LVTERR:
      case APIC.LVTCMCI: {
        const idx = reg === APIC.LVTCMCI ? LVT_CMCI : (reg - APIC.LVTT) >> 4;
        if (idx >= this.nrLvt) {
          ok = false;
          break;
        }
        let v = val;
        if (!this.swEnabled()) v |= APIC_LVT_MASKED;
        this.set(reg, v & LVT_MASKS[idx]!);
        break;
      }
      case APIC.LVTT: {
        let v = val;
        if (!this.swEnabled()) v |= APIC_LVT_MASKED;
        this.set(APIC.LVTT, v & (LVT_MASKS[0]! | this.timerModeMask));
        this.updateLvtt();
        break;
      }
      case APIC.TMICT:
        if (this.timerMode === TIMER.TSCDEADLINE) break;
        this.cancelTimer();
        this.set(APIC.TMICT, val);
        this.startTimer(APIC.TMICT);
        break;
      case APIC.TDCR: {
        const old = this.divideCount;
        this.set(APIC.TDCR, val & 0xb);
        this.updateDivideCount();
        if (this.divideCount !== old && this.period) {
          this.disarm();
          this.updateTargetExpiration(old);
          this.restartTimer();
        }
        break;
      }
      case APIC.ESR:
        if (x2 && val !== 0) ok = false;
        break;
      case APIC.SELF_IPI:
        if (!x2 || val & ~APIC_VECTOR_MASK) ok = false;
        else this.sendIpi(APIC_DEST.SELF | val, 0);
        break;
      default:
        ok = false;
    }
    return ok;
  }

  /** apic_set_spiv */
  private setSpiv(v: number): void {
    const was = this.swEnabled();
    this.set(APIC.SPIV, v);
    if (was !== this.swEnabled()) this.mapChanged();
  }

  /** The APIC map changed (ID, LDR, DFR, enables): the IOAPIC recomputes the vectors it handles. */
  private mapChanged(): void {
    this.chip.apicMapChanged(this.m.vcpu);
  }

  private manageNmiWatchdog(lvt0: number): void {
    const nmi = (lvt0 & (APIC_MODE_MASK | APIC_LVT_MASKED)) === APIC_DM.NMI;
    if (nmi !== this.lvt0InNmiMode) {
      this.lvt0InNmiMode = nmi;
      this.chip.vapicsInNmiMode(nmi ? 1 : -1);
    }
  }

  /**
   * The xAPIC MMIO window (apic_mmio_read/write) at the APIC base: -1 / false when the access is
   * not the APIC's (outside the page). A hardware-disabled or x2APIC-mode APIC reads all ones and
   * ignores writes there (KVM_X86_QUIRK_LAPIC_MMIO_HOLE).
   */
  mmioRead(pa: number, len: number): number {
    const off = pa - this.baseAddress;
    if (off < 0 || off >= LAPIC_MMIO_LENGTH) return -1;
    if (!this.hwEnabled() || this.x2apic()) return len >= 4 ? 0xffffffff : (1 << (8 * len)) - 1;
    const v = this.regRead(off, len);
    return v < 0 ? 0 : v;
  }

  mmioWrite(pa: number, len: number, val: number): boolean {
    const off = pa - this.baseAddress;
    if (off < 0 || off >= LAPIC_MMIO_LENGTH) return false;
    if (!this.hwEnabled() || this.x2apic()) return true;
    // Registers are 16-byte aligned and written 32 bits at a time (SDM 10.4.1).
    if (len !== 4 || off & 0xf) return true;
    this.regWrite(off & 0xff0, val >>> 0);
    // A write may have made an interrupt deliverable (EOI, TPR) or sent one to this vCPU: stop the block.
    this.m.blockStale = true;
    return true;
  }

  /** kvm_x2apic_msr_read: undefined (#GP) outside x2APIC mode or for an unreadable register. */
  msrRead(msr: number): bigint | undefined {
    if (!this.x2apic()) return undefined;
    const reg = (msr - 0x800) << 4;
    if (reg === APIC.ICR) return (BigInt(this.reg(APIC.ICR + 4) >>> 0) << 32n) | BigInt(this.reg(APIC.ICR) >>> 0);
    const v = this.regRead(reg, 4);
    return v < 0 ? undefined : BigInt(v);
  }

  /** kvm_x2apic_msr_write: false (#GP) outside x2APIC mode, for reserved bits or refused registers. */
  msrWrite(msr: number, data: bigint): boolean {
    if (!this.x2apic()) return false;
    const reg = (msr - 0x800) << 4;
    let ok: boolean;
    if (reg === APIC.ICR) {
      // X2APIC_ICR_RESERVED_BITS: 31:20, 17:16, 13
      if (data & 0xfff30000n || data & 0x2000n) return false;
      const lo = Number(data & 0xffffffffn) & ~APIC_ICR_BUSY;
      const hi = Number(data >> 32n) | 0;
      this.sendIpi(lo, hi);
      this.set(APIC.ICR, lo);
      this.set(APIC.ICR + 4, hi);
      ok = true;
    } else if (data >> 32n) ok = false;
    else ok = this.regWrite(reg, Number(data));
    this.m.blockStale = true;
    return ok;
  }

  // ------------------------------------------------------------------------------------------
  // Timer

  private updateDivideCount(): void {
    const t = this.reg(APIC.TDCR) & 0xf;
    const t2 = ((t & 3) | ((t & 8) >> 1)) + 1;
    this.divideCount = 1 << (t2 & 7);
  }

  /** apic_update_lvtt */
  private updateLvtt(): void {
    const mode = this.reg(APIC.LVTT) & this.timerModeMask;
    if (this.timerMode !== mode) {
      if ((this.timerMode === TIMER.TSCDEADLINE) !== (mode === TIMER.TSCDEADLINE)) {
        this.cancelTimer();
        this.set(APIC.TMICT, 0);
        this.period = 0;
        this.tscdeadline = 0n;
      }
      this.timerMode = mode;
      this.limitPeriod();
    }
  }

  private limitPeriod(): void {
    if (this.timerMode === TIMER.PERIODIC && this.period && this.period < MIN_TIMER_PERIOD_NS) this.period = MIN_TIMER_PERIOD_NS;
  }

  private tmictNs(count: number): number {
    return (count >>> 0) * APIC_BUS_CYCLE_NS * this.divideCount;
  }

  /** apic_get_tmcct */
  private tmcct(): number {
    if (this.reg(APIC.TMICT) === 0 || this.period === 0) return 0;
    const remaining = Math.max(0, this.targetExpiration - this.now());
    return Math.floor((remaining % this.period) / (APIC_BUS_CYCLE_NS * this.divideCount));
  }

  private disarm(): void {
    this.m.vcpu.timer.cancel(this);
    this.armedAt = -1;
  }

  /** cancel_apic_timer */
  private cancelTimer(): void {
    this.disarm();
    this.timerPending = 0;
  }

  private arm(at: number): void {
    this.armedAt = at;
    this.m.vcpu.timer.arm(this, at, () => this.timerFn());
  }

  /** apic_timer_fn: the deadline came (on the vCPU's thread). */
  private timerFn(): void {
    this.armedAt = -1;
    this.expired();
    if (this.timerMode === TIMER.PERIODIC && this.period) {
      this.advancePeriodic();
      this.arm(this.targetExpiration);
    }
  }

  /** apic_timer_expired */
  private expired(): void {
    if (this.timerPending) return;
    this.timerPending = 1;
    this.kick(KVM_REQ.UNBLOCK);
  }

  /** kvm_inject_apic_timer_irqs (when apic_has_pending_timer): the expiry becomes an LVTT interrupt. */
  injectPendingTimer(): void {
    if (!this.timerPending || !this.enabled() || this.reg(APIC.LVTT) & APIC_LVT_MASKED) return;
    this.localDeliver(APIC.LVTT);
    if (this.timerMode === TIMER.TSCDEADLINE) this.tscdeadline = 0n;
    else if (this.timerMode === TIMER.ONESHOT) {
      this.tscdeadline = 0n;
      this.targetExpiration = 0;
    }
    this.timerPending = 0;
  }

  /** update_target_expiration (TDCR changed the divisor mid-count) */
  private updateTargetExpiration(oldDivisor: number): void {
    this.period = this.tmictNs(this.reg(APIC.TMICT));
    this.limitPeriod();
    const now = this.now();
    const remainingOld = Math.max(0, this.targetExpiration - now);
    const remainingNew = Math.floor((remainingOld * this.divideCount) / oldDivisor);
    this.targetExpiration = now + remainingNew;
  }

  /** set_target_expiration */
  private setTargetExpiration(countReg: number): boolean {
    const now = this.now();
    this.period = this.tmictNs(this.reg(APIC.TMICT));
    if (!this.period) {
      this.tscdeadline = 0n;
      return false;
    }
    this.limitPeriod();
    let deadline = this.period;
    if (countReg !== APIC.TMICT) {
      deadline = this.tmictNs(this.reg(countReg));
      if (deadline <= 0) deadline = this.timerMode === TIMER.PERIODIC ? this.period : 0;
      else if (deadline > this.period) {
        this.set(countReg, 0);
        deadline = this.period;
      }
    }
    this.targetExpiration = now + deadline;
    return true;
  }

  /** advance_periodic_target_expiration */
  private advancePeriodic(): void {
    const now = this.now();
    this.targetExpiration += this.period;
    if (this.targetExpiration < now) this.targetExpiration = now;
  }

  /** __start_apic_timer */
  private startTimer(countReg: number): void {
    this.timerPending = 0;
    if ((this.timerMode === TIMER.PERIODIC || this.timerMode === TIMER.ONESHOT) && !this.setTargetExpiration(countReg)) return;
    this.restartTimer();
  }

  /** restart_apic_timer / start_sw_timer */
  private restartTimer(): void {
    if (this.timerMode !== TIMER.PERIODIC && this.timerPending) return;
    if (this.timerMode === TIMER.TSCDEADLINE) {
      if (!this.tscdeadline || !this.m.events.time.tscKhz) return;
      const now = this.now();
      const guestTsc = this.m.events.time.tscAt(now);
      if (this.tscdeadline > guestTsc) this.arm(this.m.events.time.nsAtTsc(this.tscdeadline, now));
      else this.expired();
      return;
    }
    // start_sw_period
    if (!this.period) return;
    if (this.now() > this.targetExpiration) {
      this.expired();
      if (this.timerMode === TIMER.ONESHOT) return;
      this.advancePeriodic();
    }
    this.arm(this.targetExpiration);
  }

  /** MSR_IA32_TSC_DEADLINE read (kvm_get_lapic_tscdeadline_msr). */
  get tscDeadline(): bigint {
    return this.hwEnabled() && this.timerMode === TIMER.TSCDEADLINE ? this.tscdeadline : 0n;
  }

  /** MSR_IA32_TSC_DEADLINE write (kvm_set_lapic_tscdeadline_msr): ignored outside TSC-deadline mode. */
  set tscDeadline(v: bigint) {
    if (!this.hwEnabled() || this.timerMode !== TIMER.TSCDEADLINE) return;
    this.disarm();
    this.tscdeadline = v;
    this.startTimer(APIC.TMICT);
  }

  // ------------------------------------------------------------------------------------------
  // KVM_GET/SET_LAPIC

  /** kvm_apic_get_state: the register page with the current count, x2APIC ID/ICR in the userspace format. */
  getState(x2apicFormat: boolean): Uint8Array {
    const out = new Uint8Array(0x400);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < 0x100; i++) dv.setInt32(4 * i, this.page[i]!, true);
    dv.setUint32(APIC.TMCCT, this.read(APIC.TMCCT) >>> 0, true);
    if (this.x2apic()) {
      if (!x2apicFormat) dv.setUint32(APIC.ID, (this.vcpuId << 24) >>> 0, true);
      // ICR is one 64-bit register in x2APIC mode; userspace sees its high half in ICR2.
      dv.setUint32(APIC.ICR2, dv.getUint32(APIC.ICR + 4, true), true);
    }
    return out;
  }

  /** kvm_apic_set_state: false (EINVAL) for a mismatched x2APIC ID under KVM_X2APIC_API_USE_32BIT_IDS. */
  setState(regs: Uint8Array, x2apicFormat: boolean): boolean {
    const dv = new DataView(regs.buffer, regs.byteOffset, 0x400);
    this.setSpiv(dv.getInt32(APIC.SPIV, true));
    const s = new Uint8Array(regs.subarray(0, 0x400));
    const sv = new DataView(s.buffer);
    if (this.x2apic()) {
      if (x2apicFormat) {
        if (sv.getUint32(APIC.ID, true) !== this.vcpuId) return false;
      } else sv.setUint32(APIC.ID, this.vcpuId, true);
      sv.setUint32(APIC.LDR, x2apicLdr(this.vcpuId) >>> 0, true);
      sv.setUint32(APIC.ICR + 4, sv.getUint32(APIC.ICR2, true), true);
    }
    for (let i = 0; i < 0x100; i++) Atomics.store(this.page, i, sv.getInt32(4 * i, true));
    this.mapChanged();
    this.setVersion();
    this.m.s.cr8 = this.cr8Seen = (this.reg(APIC.TASKPRI) >> 4) & 0xf;
    this.updatePpr();
    this.cancelTimer();
    this.updateLvtt();
    this.manageNmiWatchdog(this.reg(APIC.LVT0));
    this.updateDivideCount();
    this.startTimer(APIC.TMCCT);
    this.set(APIC.TMCCT, 0);
    this.kick(KVM_REQ.EVENT);
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Moving threads

  /** The timer state a vCPU carries to another thread (the page itself is shared). */
  saveTimer(): unknown {
    return { divideCount: this.divideCount, timerMode: this.timerMode, timerModeMask: this.timerModeMask, period: this.period, targetExpiration: this.targetExpiration, tscdeadline: this.tscdeadline, timerPending: this.timerPending, armedAt: this.armedAt, lvt0InNmiMode: this.lvt0InNmiMode, cr8Seen: this.cr8Seen, pendingIoapicEoi: this.pendingIoapicEoi };
  }

  /** Loads saveTimer's state and re-arms the deadline on this thread's queue. */
  loadTimer(st: unknown): void {
    Object.assign(this, st as object);
    this.m.vcpu.timer.cancel(this);
    if (this.armedAt >= 0) this.arm(this.armedAt);
  }
}
