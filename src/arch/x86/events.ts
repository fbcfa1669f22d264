/**
 * Event injection for an x86 vCPU (vcpu->arch.exception, .interrupt, .nmi_pending and
 * inject_pending_event): exceptions queued by KVM_SET_VCPU_EVENTS or KVM_GUESTDBG_INJECT_*,
 * external interrupts, the interrupt-window exit, and the delivery of faults, traps and
 * software interrupts raised by instructions (with the triple-fault shutdown).
 *
 * External interrupts come through a has/get pair, as kvm_cpu_has_injectable_intr() and
 * kvm_cpu_get_interrupt() in Linux: with a userspace irqchip they read the vector KVM_INTERRUPT
 * queued; an in-kernel interrupt controller (LAPIC/PIC) plugs in as `irqchip`.
 * @module
 */
import { exitSimple } from '../../kernel/exits.js';
import { KVM_EXIT } from '../../uapi/constants.js';
import { KVM_GUESTDBG_X86 } from '../../uapi/x86.js';
import { EXIT, VEC } from './cpu.js';
import { mnemonic, type Insn } from './decoder.js';
import type { X86Machine } from './run.js';
import { FLAG } from './state.js';

const MN_INT3 = mnemonic('INT3');

/** An exception waiting for injection (vcpu->arch.exception). */
export interface QueuedException {
  vector: number;
  hasCode: boolean;
  code: number;
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
  /** Userspace irqchip: the KVM_INTERRUPT vector waiting for IF=1 (-1 none; vcpu->arch.interrupt). */
  irq = -1;
  nmiPending = false;
  /** An exception queued by KVM_SET_VCPU_EVENTS or KVM_GUESTDBG_INJECT_*. */
  queuedException: QueuedException | null = null;
  /** An in-kernel interrupt controller; null with a userspace irqchip (KVM_INTERRUPT). */
  irqchip: InterruptController | null = null;

  constructor(private readonly m: X86Machine) {}

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

  /** Nothing waits for injection: translated blocks may run back to back without the loop. */
  idle(): boolean {
    return !this.hasInterrupt() && this.queuedException === null && !this.nmiPending;
  }

  /** kvm_run.ready_for_interrupt_injection: IF set, no shadow, and nothing queued already. */
  readyForInjection(): boolean {
    const s = this.m.s;
    return (s.rflags & FLAG.IF) !== 0 && !s.shadow && !this.hasInterrupt();
  }

  /** Injects queued exceptions and interrupts at an instruction boundary (true when one was delivered). */
  inject(): boolean {
    const m = this.m;
    const s = m.s;
    const q = this.queuedException;
    if (q) {
      this.queuedException = null;
      this.fault(q.vector, q.hasCode, q.code);
      return true;
    }
    const dbg = m.debug.control;
    const blockIrq = (dbg & 1) !== 0 && (dbg & KVM_GUESTDBG_X86.BLOCKIRQ) !== 0;
    if (this.hasInterrupt() && s.rflags & FLAG.IF && !s.shadow && !blockIrq) {
      const ok = m.cpu.deliver(this.getInterrupt(), false, 0, false, s.rip);
      if (!ok) this.shutdown();
      return true;
    }
    if (m.vcpu.run[0] /* request_interrupt_window */ && s.rflags & FLAG.IF && !s.shadow && !this.hasInterrupt()) {
      exitSimple(m.vcpu, KVM_EXIT.IRQ_WINDOW_OPEN);
      m.stopReason = KVM_EXIT.IRQ_WINDOW_OPEN;
      throw EXIT;
    }
    return false;
  }

  /** Delivers the exception in cpu.excVector (RIP at the faulting instruction). */
  deliverFault(): void {
    const c = this.m.cpu;
    this.fault(c.excVector, c.excHasCode, c.excCode);
  }

  /** Delivers a fault-class exception (CR2 for #PF, DR7.GD cleared for #DB). */
  fault(vec: number, hasCode: boolean, code: number): void {
    const m = this.m;
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

  /** Triple fault: KVM_EXIT_SHUTDOWN. */
  shutdown(): void {
    exitSimple(this.m.vcpu, KVM_EXIT.SHUTDOWN);
    this.m.stopReason = KVM_EXIT.SHUTDOWN;
  }
}
