/**
 * Event injection for an x86 vCPU (vcpu->arch.exception, .interrupt, .nmi_*, and x86.c's
 * vcpu_run / vcpu_enter_guest / kvm_check_and_inject_events / vcpu_block): exceptions queued by
 * KVM_SET_VCPU_EVENTS or KVM_GUESTDBG_INJECT_*, NMIs, external interrupts, the interrupt-window
 * exit, INIT/SIPI, halting with an in-kernel LAPIC, and the delivery of faults, traps and software
 * interrupts raised by instructions (with the triple-fault shutdown).
 *
 * External interrupts come through a has/get pair, as kvm_cpu_has_injectable_intr() and
 * kvm_cpu_get_interrupt() in Linux: with a userspace irqchip they read the vector KVM_INTERRUPT
 * queued; the in-kernel LAPIC (with the PIC behind it) plugs in as `irqchip` (irqchip/irq.ts).
 *
 * Exactness: the run loop asks `inject()` at instruction boundaries between blocks. Blocks end at
 * every instruction that can open an interrupt window (STI, POPF, IRET, MOV/POP SS, CLI, writes to
 * the APIC), and `windowWatch` makes the loop stop after the instruction an STI or MOV SS shadow
 * covers whenever an interrupt, NMI or window request is waiting, so an interrupt arrives (or
 * KVM_EXIT_IRQ_WINDOW_OPEN exits) exactly where VMX would deliver it, under both engines.
 * @module
 */
import { RUN_COST } from '../../kernel/deadline.js';
import { exitSimple, RUN, setExitReason } from '../../kernel/exits.js';
import { KVM_REQ, kvmVcpuBlock } from '../../kernel/requests.js';
import { KvmError } from '../../sys/error.js';
import { KVM_EXIT, KVM_MP_STATE } from '../../uapi/constants.js';
import { x86_64 } from '../../uapi/index.js';
import { KVM_GUESTDBG_X86, KVM_VCPUEVENT_VALID, KVM_X86_SHADOW_INT } from '../../uapi/x86.js';
import { EXIT, VEC } from './cpu.js';
import { mnemonic, type Insn } from './decoder.js';
import { ApicView, KVM_APIC_INIT, KVM_APIC_SIPI, KVM_REQ_X86 } from './irqchip/apic.js';
import { chipOf } from './irqchip/chip.js';
import { LapicInterrupts } from './irqchip/irq.js';
import { VcpuClock } from './irqchip/kvmclock.js';
import { Lapic } from './irqchip/lapic.js';
import type { X86Machine } from './run.js';
import { CR0, FLAG, RDX, X86State } from './state.js';

const MN_INT3 = mnemonic('INT3');
const MN_IRET = mnemonic('IRET');
const REQUEST_INTERRUPT_WINDOW = x86_64.structs.kvm_run.offsetOf('request_interrupt_window');
const EOI_VECTOR = x86_64.structs.kvm_run.offsetOf('eoi.vector');
/** VMX basic exit reason 33 (invalid guest state) with bit 31, "VM-entry failure". */
const FAILED_VMENTRY_INVALID_STATE = 0x80000021n;

/** An exception waiting for injection (vcpu->arch.exception). */
export interface QueuedException {
  vector: number;
  hasCode: boolean;
  code: number;
  /** Queued by KVM itself (kvm_queue_exception: GUESTDBG_INJECT_*) rather than reinjected from KVM_SET_VCPU_EVENTS. */
  pending?: boolean;
}

/** An in-kernel interrupt controller as the vCPU sees it (the LAPIC with the PIC behind it). */
export interface InterruptController {
  /** kvm_cpu_has_injectable_intr: an interrupt is waiting for delivery. */
  hasInterrupt(): boolean;
  /** kvm_cpu_get_interrupt: acknowledges the interrupt that `hasInterrupt` saw and returns its vector. */
  getInterrupt(): number;
}

/** The pending events of one vCPU and their injection at instruction boundaries. */
export class X86Events {
  /** Userspace irqchip: the KVM_INTERRUPT vector queued for the next entry (-1 none; vcpu->arch.interrupt). */
  irq = -1;
  /**
   * vcpu->arch.interrupt.nr: the last vector queued for injection. Delivery clears only `injected`
   * (kvm_clear_interrupt_queue), so KVM_GET_VCPU_EVENTS keeps reporting it afterwards.
   */
  irqNr = 0;
  /** vcpu->arch.nmi_pending */
  nmiPending = 0;
  /** NMIs blocked until the handler's IRET (VMX's NMI blocking). */
  nmiMasked = false;
  /** An exception queued by KVM_SET_VCPU_EVENTS or KVM_GUESTDBG_INJECT_*. */
  queuedException: QueuedException | null = null;
  /** An in-kernel interrupt controller; null with a userspace irqchip (KVM_INTERRUPT). */
  irqchip: InterruptController | null = null;
  /** The in-kernel local APIC (irqchip/lapic.ts), null without KVM_CREATE_IRQCHIP/SPLIT_IRQCHIP. */
  lapic: Lapic | null = null;
  /** KVM_REQ_EVENT: something may have become deliverable; evaluated at the next boundary. */
  private eventPending = true;
  /** An interrupt or NMI waits for IF / the end of a shadow / the NMI handler's IRET. */
  private window = false;
  /** A triple fault requested outside the guest (requestTripleFault), taken at the next boundary. */
  private tripleFault = false;
  private apicPage: ApicView | null = null;
  private clock: VcpuClock | null = null;

  constructor(private readonly m: X86Machine) {}

  /** The vCPU's shared page (its APIC registers; queued NMIs also without a LAPIC). */
  get apic(): ApicView {
    const v = this.m.vcpu;
    return (this.apicPage ??= new ApicView(ApicView.newPage(), v.id, v.index, v.requests));
  }

  /** The vCPU's TSC and kvmclock. */
  get time(): VcpuClock {
    return (this.clock ??= new VcpuClock(this.m.vcpu));
  }

  /** kvm_create_lapic: the VM has an in-kernel irqchip; `page` adopts an existing shared page (another thread's). */
  createLapic(page?: Int32Array): Lapic {
    const l = new Lapic(this.m, page ?? this.apic.page);
    this.apicPage = l;
    this.lapic = l;
    this.irqchip = new LapicInterrupts(this.m.vcpu, l);
    return l;
  }

  // ------------------------------------------------------------------------------------------
  // CPUID-derived facts

  /** guest_cpuid_has(X86_FEATURE_X2APIC) */
  guestX2apic(): boolean {
    const e = this.m.cpuidEntries.find((x) => x.function === 1);
    return e !== undefined && (e.ecx & (1 << 21)) !== 0;
  }

  /** guest_cpuid_has(X86_FEATURE_TSC_ADJUST) */
  guestTscAdjust(): boolean {
    const e = this.m.cpuidEntries.find((x) => x.function === 7 && x.index === 0);
    return e !== undefined && (e.ebx & (1 << 1)) !== 0;
  }

  /** The guest's MAXPHYADDR (CPUID 0x80000008 EAX[7:0], 36 without it). */
  maxPhyAddr(): number {
    const e = this.m.cpuidEntries.find((x) => x.function === 0x80000008);
    return e ? e.eax & 0xff : 36;
  }

  /** kvm_vcpu_after_set_cpuid: the LAPIC timer modes and version follow the new CPUID. */
  cpuidChanged(): void {
    const l = this.lapic;
    if (!l) return;
    const e = this.m.cpuidEntries.find((x) => x.function === 1);
    if (e) {
      l.timerModeMask = e.ecx & (1 << 24) ? 3 << 17 : 1 << 17;
      l.setVersion();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Interrupt sources

  /** kvm_cpu_has_injectable_intr */
  hasInterrupt(): boolean {
    return this.irqchip !== null ? this.irqchip.hasInterrupt() : this.irq >= 0;
  }

  /** kvm_cpu_get_interrupt: the vector to deliver, taken off its source. */
  getInterrupt(): number {
    if (this.irqchip !== null) return this.irqchip.getInterrupt();
    const vec = this.irq;
    this.irq = -1;
    return vec;
  }

  /** kvm_arch_interrupt_allowed: IF set and no STI / MOV SS shadow. */
  private interruptAllowed(): boolean {
    const s = this.m.s;
    return (s.rflags & FLAG.IF) !== 0 && s.shadow === 0;
  }

  /** Nothing waits for injection: translated blocks may run back to back without the loop. */
  idle(): boolean {
    return !this.eventPending && !this.window && this.queuedException === null && this.nmiPending === 0 && this.irq < 0 && !this.nmiMasked;
  }

  /** Whether the loop must stop when an STI / MOV SS shadow ends (an event waits for the window). */
  windowWatch(): boolean {
    return this.window || this.eventPending || this.nmiPending !== 0 || this.irq >= 0 || this.m.vcpu.run[REQUEST_INTERRUPT_WINDOW] !== 0;
  }

  /** kvm_cpu_accept_dm_intr: userspace may inject (no ExtINT waiting, LINT0 takes ExtINT). */
  private acceptDmIntr(): boolean {
    if (this.lapic === null) return this.irq < 0;
    const ic = this.irqchip as LapicInterrupts;
    return !ic.hasExtint() && this.lapic.acceptPicIntr();
  }

  /** kvm_run.ready_for_interrupt_injection (post_kvm_run_save). */
  readyForInjection(): boolean {
    if (this.lapic !== null && chipOf(this.m.vcpu.vm).ioapicInKernel) return true; // pic_in_kernel
    return this.interruptAllowed() && this.acceptDmIntr() && this.queuedException === null;
  }

  // ------------------------------------------------------------------------------------------
  // Requests

  /** The vcpu->requests bits the run loop took (other than KVM_REQ.SIGNAL). */
  onRequests(req: number): void {
    if (req & (KVM_REQ.EVENT | KVM_REQ.UNBLOCK)) this.eventPending = true;
    if (req & KVM_REQ_X86.NMI) this.processNmi();
    if (req & KVM_REQ_X86.CLOCK_UPDATE) this.time.update();
  }

  /** Takes every request bit but SIGNAL (kvm_vcpu_block's wake-up check leaves SIGNAL to it). */
  private drainRequests(): void {
    const req = Atomics.and(this.m.vcpu.requests, 0, KVM_REQ.SIGNAL) & ~KVM_REQ.SIGNAL;
    if (req) this.onRequests(req);
  }

  /** process_nmi: queued NMIs become pending (at most two, one while NMIs are blocked). */
  private processNmi(): void {
    const limit = this.nmiMasked ? 1 : 2;
    this.nmiPending = Math.min(this.nmiPending + this.apic.takeQueuedNmis(), limit);
    if (this.nmiPending) this.eventPending = true;
  }

  /** kvm_inject_nmi (KVM_NMI, APIC NMIs): any thread. */
  injectNmi(): void {
    this.apic.injectNmi();
  }

  /** The IRET that ends an NMI handler unblocks NMIs (called by the run loop after an IRET). */
  iretDone(): void {
    if (this.nmiMasked) {
      this.nmiMasked = false;
      if (this.nmiPending) this.eventPending = true;
    }
  }

  /** True when the instruction that last ran was an IRET. */
  static isIret(i: { mn: number } | null): boolean {
    return i !== null && i.mn === MN_IRET;
  }

  // ------------------------------------------------------------------------------------------
  // The injection point

  /**
   * At an instruction boundary: blocks a halted vCPU, takes INIT/SIPI, injects a queued exception,
   * an NMI or an interrupt, or exits for the interrupt window. True when it changed where the guest
   * runs (the loop looks again); throws EXIT for an exit.
   */
  inject(): boolean {
    const m = this.m;
    const lapic = this.lapic;
    if (lapic !== null) {
      if (lapic.timerPending) lapic.injectPendingTimer();
      if (m.mpState !== KVM_MP_STATE.RUNNABLE) return this.block();
      if (lapic.pendingIoapicEoi >= 0) this.ioapicEoiExit(lapic);
    }
    // An instruction re-executing with userspace's MMIO data completes before any event.
    if (m.cpu.mmioCount !== 0) return false;
    const winReq = m.vcpu.run[REQUEST_INTERRUPT_WINDOW] !== 0;
    if (!this.eventPending && !(this.window && this.windowOpen()) && !winReq && this.queuedException === null && this.irq < 0) return false;
    this.eventPending = false;
    this.window = false;
    if (this.tripleFault) {
      this.tripleFault = false;
      this.shutdown();
      throw EXIT;
    }
    // kvm_apic_accept_events
    if (lapic !== null && lapic.pendingEvents && this.acceptEvents()) return true;
    const s = m.s;
    const q = this.queuedException;
    if (q) {
      this.queuedException = null;
      this.fault(q.vector, q.hasCode, q.code);
      if (m.stopReason) throw EXIT;
      return true;
    }
    // vcpu->arch.interrupt.injected (KVM_INTERRUPT with a userspace irqchip, KVM_SET_VCPU_EVENTS,
    // KVM_SET_SREGS's bitmap) is injected at this entry; VMX refuses the entry when the guest cannot
    // take an external interrupt now (IF=0, STI/MOV SS blocking).
    if (this.irq >= 0) {
      if (!this.interruptAllowed()) this.failEntry();
      const vec = this.irq;
      this.irq = -1;
      this.deliverIrq(vec);
      return true;
    }
    const dbg = m.debug.control;
    if ((dbg & 1) === 0 || (dbg & KVM_GUESTDBG_X86.BLOCKIRQ) === 0) {
      if (this.nmiPending > 0) {
        if (!this.nmiMasked && s.shadow === 0) {
          this.nmiPending--;
          this.nmiMasked = true;
          const ok = m.cpu.deliver(VEC.NMI, false, 0, false, s.rip);
          if (!ok) this.shutdown();
          if (m.stopReason) throw EXIT;
          if (this.nmiPending || this.hasInterrupt()) this.window = true;
          return true;
        }
        this.window = true;
      }
      if (this.irqchip !== null && this.hasInterrupt()) {
        if (this.interruptAllowed()) {
          const v = this.getInterrupt();
          if (v >= 0) this.deliverIrq(v);
          if (this.hasInterrupt()) this.window = true;
          return true;
        }
        this.window = true;
      }
    }
    // dm_request_for_irq_injection && kvm_vcpu_ready_for_interrupt_injection
    if (winReq && !(lapic !== null && chipOf(m.vcpu.vm).ioapicInKernel) && this.interruptAllowed() && this.acceptDmIntr() && this.queuedException === null) {
      exitSimple(m.vcpu, KVM_EXIT.IRQ_WINDOW_OPEN);
      m.stopReason = KVM_EXIT.IRQ_WINDOW_OPEN;
      throw EXIT;
    }
    return false;
  }

  /** The window a waiting interrupt or NMI needs is open. */
  private windowOpen(): boolean {
    const s = this.m.s;
    if (s.shadow !== 0) return false;
    return (s.rflags & FLAG.IF) !== 0 || (this.nmiPending > 0 && !this.nmiMasked);
  }

  private deliverIrq(vec: number): void {
    const m = this.m;
    this.irqNr = vec; // kvm_queue_interrupt
    const ok = m.cpu.deliver(vec, false, 0, false, m.s.rip);
    if (!ok) this.shutdown();
    if (m.stopReason) throw EXIT;
  }

  /** VM-entry failure (invalid guest state): KVM_EXIT_FAIL_ENTRY. */
  private failEntry(): never {
    const m = this.m;
    const v = m.vcpu;
    setExitReason(v, KVM_EXIT.FAIL_ENTRY);
    v.runDv.setBigUint64(RUN['fail_entry.hardware_entry_failure_reason'], FAILED_VMENTRY_INVALID_STATE, true);
    v.runDv.setUint32(RUN['fail_entry.cpu'], 0, true);
    m.stopReason = KVM_EXIT.FAIL_ENTRY;
    throw EXIT;
  }

  /** KVM_REQ_IOAPIC_EOI_EXIT: a split irqchip's EOI of a vector userspace's IOAPIC owns. */
  private ioapicEoiExit(lapic: Lapic): void {
    const vector = lapic.pendingIoapicEoi;
    lapic.pendingIoapicEoi = -1;
    if (!lapic.handles(vector)) return;
    const v = this.m.vcpu;
    setExitReason(v, KVM_EXIT.IOAPIC_EOI);
    v.run[EOI_VECTOR] = vector;
    this.m.stopReason = KVM_EXIT.IOAPIC_EOI;
    throw EXIT;
  }

  // ------------------------------------------------------------------------------------------
  // Halting, INIT, SIPI

  /** kvm_arch_vcpu_runnable: running, or an event wakes it. */
  runnable(): boolean {
    return this.m.mpState === KVM_MP_STATE.RUNNABLE || this.hasEvents();
  }

  /** kvm_vcpu_has_events */
  private hasEvents(): boolean {
    const m = this.m;
    const l = this.lapic;
    if (l !== null && l.pendingEvents) return true;
    // kvm_is_exception_pending: a queued (pending) exception wakes the vCPU; one KVM_SET_VCPU_EVENTS
    // marked injected does not, and is delivered when the vCPU runs again.
    const q = this.queuedException;
    if (q !== null && q.pending !== false) return true;
    if (this.nmiPending > 0 && !this.nmiMasked && m.s.shadow === 0) return true;
    return this.interruptAllowed() && this.hasInterrupt();
  }

  /** HLT with an in-kernel LAPIC (__kvm_emulate_halt): halted unless an event is already there. */
  halt(): void {
    const m = this.m;
    this.drainRequests();
    if (this.lapic !== null) this.lapic.injectPendingTimer();
    if (!this.hasEvents()) m.mpState = KVM_MP_STATE.HALTED;
    m.blockStale = true; // end the block: the loop blocks the vCPU
  }

  /**
   * vcpu_block: a vCPU that is not running (halted, waiting for INIT/SIPI) sleeps until an event
   * (src/kernel/requests.ts kvmVcpuBlock), then takes INIT/SIPI and becomes runnable. A wait that
   * ends as a signal would (the owner thread's limit, immediate_exit) returns EINTR with
   * KVM_EXIT_INTR, the vCPU still halted.
   */
  private block(): boolean {
    const m = this.m;
    const v = m.vcpu;
    const lapic = this.lapic!;
    const r = kvmVcpuBlock(v, m.retired, () => {
      this.drainRequests();
      lapic.injectPendingTimer();
      return this.runnable();
    });
    if (r === 'intr') {
      exitSimple(v, KVM_EXIT.INTR);
      throw KvmError.of('EINTR', 'ioctl', { message: 'the vCPU is halted (as if a signal arrived while it slept)' });
    }
    if (lapic.pendingEvents) this.acceptEvents();
    if (m.mpState === KVM_MP_STATE.HALTED || m.mpState === KVM_MP_STATE.AP_RESET_HOLD) m.mpState = KVM_MP_STATE.RUNNABLE;
    this.eventPending = true;
    return true;
  }

  /** kvm_apic_accept_events: INIT resets the vCPU (APs wait for SIPI), SIPI starts it at vector << 12. */
  acceptEvents(): boolean {
    const m = this.m;
    const l = this.lapic;
    if (l === null || !l.pendingEvents) return false;
    let changed = false;
    if (l.takePendingEvent(KVM_APIC_INIT)) {
      this.initReset();
      m.mpState = m.vcpu.id === chipOf(m.vcpu.vm).bspVcpuId ? KVM_MP_STATE.RUNNABLE : KVM_MP_STATE.INIT_RECEIVED;
      changed = true;
    }
    if (l.takePendingEvent(KVM_APIC_SIPI) && m.mpState === KVM_MP_STATE.INIT_RECEIVED) {
      const vec = l.sipiVector;
      const cs = m.s.seg[1]!;
      cs.selector = vec << 8;
      cs.base = vec << 12;
      cs.baseRaw = BigInt(vec << 12);
      m.s.rip = 0;
      m.cpu.updateMode();
      m.mpState = KVM_MP_STATE.RUNNABLE;
      changed = true;
    }
    if (changed) m.blocks.flush();
    return changed;
  }

  /** kvm_vcpu_reset(vcpu, init_event = true): INIT. */
  initReset(): void {
    const m = this.m;
    const s = m.s;
    const fresh = new X86State();
    s.r.fill(0);
    const leaf1 = m.cpuidEntries.find((e) => e.function === 1);
    s.r[2 * RDX] = leaf1 ? leaf1.eax : 0x600;
    s.rip = fresh.rip;
    s.rflags = fresh.rflags;
    for (let i = 0; i < s.seg.length; i++) s.seg[i] = fresh.seg[i]!;
    s.gdt = fresh.gdt;
    s.idt = fresh.idt;
    s.cr0 = CR0.ET | (s.cr0 & (CR0.NW | CR0.CD));
    s.cr2 = 0n;
    s.cr3 = 0n;
    s.cr4 = 0;
    s.efer = 0;
    s.cr8 = 0;
    for (let i = 0; i < 4; i++) s.db[i] = 0n;
    s.dr6 = 0xffff0ff0n;
    s.dr7 = 0x400n;
    s.shadow = 0;
    m.cpu.f.op = 0;
    this.nmiPending = 0;
    this.nmiMasked = false;
    this.apic.takeQueuedNmis();
    this.irq = -1;
    this.queuedException = null;
    this.time.reset();
    this.lapic?.reset(true);
    m.pending = null;
    m.cpu.mmioCount = 0;
    m.cpu.updateMode();
    m.cpu.flushTlb();
    m.blocks.flush();
    m.debug.armWatchpoints();
  }

  // ------------------------------------------------------------------------------------------
  // Faults, traps, software interrupts

  /** Delivers the exception in cpu.excVector (RIP at the faulting instruction). */
  deliverFault(): void {
    const c = this.m.cpu;
    this.fault(c.excVector, c.excHasCode, c.excCode);
  }

  /** Delivers a fault-class exception (CR2 for #PF, DR7.GD cleared for #DB). */
  fault(vec: number, hasCode: boolean, code: number): void {
    const m = this.m;
    m.vcpu.vm.kernel.deadline.charge(RUN_COST.EXCEPTION); // KVM_RUN's wall-clock bound (src/kernel/deadline.ts)
    const c = m.cpu;
    if (vec === VEC.PF) m.s.cr2 = BigInt.asUintN(64, BigInt(c.excAddr));
    if (vec === VEC.DB) m.s.dr7 &= ~0x2000n;
    const ok = c.deliver(vec, hasCode, code, false, m.s.rip);
    if (!ok) this.shutdown();
  }

  /** Delivers a trap (RIP already past the instruction). */
  deliverTrap(vec: number): void {
    const ok = this.m.cpu.deliver(vec, false, 0, false, this.m.s.rip);
    if (!ok) this.shutdown();
  }

  /** INT n / INT3 / INTO after the instruction; INT3 under KVM_GUESTDBG_USE_SW_BP exits instead. */
  softInterrupt(insn: Insn, vec: number): void {
    const m = this.m;
    if (insn.mn === MN_INT3 && m.intro !== null && m.intro.breakpoint(insn)) return; // [kvmi hook] KVMI_VCPU_EVENT_BREAKPOINT
    const s = m.s;
    if (insn.mn === MN_INT3 && (m.debug.control & (1 | KVM_GUESTDBG_X86.USE_SW_BP)) === (1 | KVM_GUESTDBG_X86.USE_SW_BP)) {
      // The exit reports the INT3 itself; RIP stays on it.
      s.rip = m.cpu.maskIp(s.rip - insn.len);
      m.debug.exit(VEC.BP, BigInt.asUintN(64, BigInt(insn.addr)), null, null);
      return;
    }
    const ok = m.cpu.deliver(vec, false, 0, true, s.rip);
    if (!ok) this.shutdown();
  }

  /** KVM_REQ_TRIPLE_FAULT from an ioctl (KVM_X86_SET_MCE): the next KVM_RUN exits with SHUTDOWN. */
  requestTripleFault(): void {
    this.tripleFault = true;
    this.eventPending = true;
  }

  /** Triple fault: KVM_EXIT_SHUTDOWN. */
  shutdown(): void {
    exitSimple(this.m.vcpu, KVM_EXIT.SHUTDOWN);
    this.m.stopReason = KVM_EXIT.SHUTDOWN;
  }

  // ------------------------------------------------------------------------------------------
  // KVM_GET/SET_VCPU_EVENTS

  /** kvm_vcpu_ioctl_x86_get_vcpu_events */
  getVcpuEvents(): Record<string, unknown> {
    const m = this.m;
    this.processNmi();
    const q = this.queuedException;
    const soft = q !== null && (q.vector === VEC.BP || q.vector === VEC.OF); // kvm_exception_is_soft: not reported
    const shadow = m.s.shadow; // held as KVM_X86_SHADOW_INT_* (MOV_SS 1, STI 2)
    return {
      exception: q ? { injected: soft ? 0 : 1, nr: q.vector, has_error_code: q.hasCode ? 1 : 0, pending: !soft && q.pending !== false ? 1 : 0, error_code: q.code } : {},
      interrupt: { injected: this.irq >= 0 ? 1 : 0, nr: this.irq >= 0 ? this.irq : this.irqNr, soft: 0, shadow },
      nmi: { injected: 0, pending: this.nmiPending, masked: this.nmiMasked ? 1 : 0 },
      smi: { smm: 0, pending: 0, smm_inside_nmi: 0, latched_init: this.lapic !== null && this.lapic.pendingEvents & KVM_APIC_INIT ? 1 : 0 },
      flags: KVM_VCPUEVENT_VALID.NMI_PENDING | KVM_VCPUEVENT_VALID.SHADOW | KVM_VCPUEVENT_VALID.SMM,
    };
  }

  /** kvm_vcpu_ioctl_x86_set_vcpu_events: false for EINVAL. */
  setVcpuEvents(e: {
    exception: { injected: number; nr: number; has_error_code: number; pending: number; error_code: number };
    interrupt: { injected: number; nr: number; soft: number; shadow: number };
    nmi: { injected: number; pending: number; masked: number };
    sipi_vector: number;
    flags: number;
    smi: { smm: number; pending: number; smm_inside_nmi: number; latched_init: number };
    triple_fault: { pending: number };
  }): boolean {
    const m = this.m;
    const V = KVM_VCPUEVENT_VALID;
    if (e.flags & ~(V.NMI_PENDING | V.SIPI_VECTOR | V.SHADOW | V.SMM | V.PAYLOAD | V.TRIPLE_FAULT)) return false;
    if (e.flags & V.PAYLOAD) return false; // KVM_CAP_EXCEPTION_PAYLOAD is not enabled
    const pending = 0; // without the payload cap, "pending" is ignored (injected carries it)
    if ((e.exception.injected || pending) && (e.exception.nr > 31 || e.exception.nr === VEC.NMI)) return false;
    if (e.flags & V.SMM && (e.smi.smm || e.smi.pending) && m.mpState === KVM_MP_STATE.INIT_RECEIVED) return false;
    if (e.flags & V.SMM && (e.smi.smm || e.smi.pending || e.smi.smm_inside_nmi)) return false; // no SMM
    if (e.flags & V.TRIPLE_FAULT) return false; // KVM_CAP_X86_TRIPLE_FAULT_EVENT is not enabled
    this.processNmi();
    this.queuedException = e.exception.injected ? { vector: e.exception.nr, hasCode: e.exception.has_error_code !== 0, code: e.exception.error_code, pending: false } : null;
    this.irq = e.interrupt.injected ? e.interrupt.nr : -1;
    this.irqNr = e.interrupt.nr & 0xff; // stored whether injected or not (x86.c set_vcpu_events)
    if (e.flags & V.SHADOW) {
      const sh = e.interrupt.shadow;
      // vmx_set_interrupt_shadow: MOV SS blocking wins when both are given.
      m.s.shadow = sh & KVM_X86_SHADOW_INT.MOV_SS ? KVM_X86_SHADOW_INT.MOV_SS : sh & KVM_X86_SHADOW_INT.STI ? KVM_X86_SHADOW_INT.STI : 0;
    }
    if (e.flags & V.NMI_PENDING) {
      this.nmiPending = 0;
      this.apic.setQueuedNmis(e.nmi.pending);
      if (e.nmi.pending) this.apic.kick(KVM_REQ_X86.NMI);
    }
    this.nmiMasked = e.nmi.masked !== 0;
    if (e.flags & V.SIPI_VECTOR && this.lapic !== null) this.lapic.sipiVector = e.sipi_vector;
    if (e.flags & V.SMM && this.lapic !== null) this.lapic.setPendingEvent(KVM_APIC_INIT, e.smi.latched_init !== 0);
    this.eventPending = true;
    return true;
  }

  /** KVM_REQ_EVENT from this thread (an ioctl changed what may be injected). */
  requestEvent(): void {
    this.eventPending = true;
  }

  // ------------------------------------------------------------------------------------------
  // Moving threads

  save(): unknown {
    return {
      irq: this.irq,
      irqNr: this.irqNr,
      nmiPending: this.nmiPending,
      nmiMasked: this.nmiMasked,
      queuedException: this.queuedException ? { ...this.queuedException } : null,
      tripleFault: this.tripleFault,
      page: this.apic.page,
      lapic: this.lapic ? this.lapic.saveTimer() : null,
      pendingExternalVector: this.irqchip instanceof LapicInterrupts ? this.irqchip.pendingExternalVector : -1,
      time: this.time.save(),
    };
  }

  load(st: unknown): void {
    const x = st as { irq: number; irqNr: number; nmiPending: number; nmiMasked: boolean; queuedException: QueuedException | null; tripleFault: boolean; page: Int32Array; lapic: unknown; pendingExternalVector: number; time: unknown };
    this.irq = x.irq;
    this.irqNr = x.irqNr;
    this.nmiPending = x.nmiPending;
    this.nmiMasked = x.nmiMasked;
    this.queuedException = x.queuedException;
    this.tripleFault = x.tripleFault;
    if (this.tripleFault) this.eventPending = true;
    const v = this.m.vcpu;
    if (this.lapic !== null || x.lapic !== null) {
      if (this.lapic === null || this.lapic.page !== x.page) this.createLapic(x.page);
      if (x.lapic !== null) this.lapic!.loadTimer(x.lapic);
      (this.irqchip as LapicInterrupts).pendingExternalVector = x.pendingExternalVector;
    } else this.apicPage = new ApicView(x.page, v.id, v.index, v.requests);
    this.time.load(x.time);
    this.eventPending = true;
  }
}
