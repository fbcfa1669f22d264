/**
 * Interrupt windows exact to the instruction (test/guests/x86/irq/window.asm): after `sti; nop; nop;
 * cli`, `sti; mov ss, ax; nop; nop`, a POPF that sets IF, and the same at CPL3 with a kernel-half
 * IDT, an interrupt pending while IF was 0 is taken where VMX takes it — after the instruction the
 * STI / MOV SS shadow covers — with the in-kernel LAPIC (a self-IPI), and with a userspace irqchip
 * KVM_EXIT_IRQ_WINDOW_OPEN comes there (request_interrupt_window; vcpu_run's
 * dm_request_for_irq_injection && kvm_vcpu_ready_for_interrupt_injection after VMX's interrupt-window
 * exit), then KVM_INTERRUPT's vector is taken at that RIP. Both engines; /dev/kvm where present.
 */
import { describe, expect, it } from 'vitest';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { nativeBackend, nativeX86 } from '../helpers/backends.js';
import { irqGuest, irqMachine, nextPhase, runToExit } from '../helpers/irq.js';
import type { Sys } from '../../src/index.js';

const WINDOW = irqGuest('window');
const backends: { name: string; make: () => Sys }[] = [...X86_ENGINES.map((e) => ({ name: e.name, make: () => engineSys(e) })), ...(nativeX86 ? [nativeBackend] : [])];

describe.each(backends)('interrupt windows ($name)', (b) => {
  it('in-kernel LAPIC: a pending self-IPI is taken right where each shadow ends (CPL0 and CPL3)', () => {
    const m = irqMachine(b.make(), { code: WINDOW });
    const v = m.vcpus[0]!;
    v.setRegs({ rdi: 1n });
    for (let c = 0; c < 4; c++) {
      expect(nextPhase(v)).toBe(11 + c);
      expect(m.q(0)).toBe(BigInt(c + 1));
      expect(m.q(0x40 + 16 * c).toString(16)).toBe(m.q(0x10 + 8 * c).toString(16)); // the interrupted RIP
      expect(m.q(0x48 + 16 * c)).toBe(c === 3 ? 0x3bn : 0x18n); // and its CS
    }
  });

  it('userspace irqchip: KVM_EXIT_IRQ_WINDOW_OPEN at the same instructions, then KVM_INTERRUPT is taken there', () => {
    const m = irqMachine(b.make(), { code: WINDOW, irqchip: 'none' });
    const v = m.vcpus[0]!;
    v.setRegs({ rdi: 0n });
    for (let c = 0; c < 4; c++) {
      expect(nextPhase(v)).toBe(c + 1); // the guest asks for an interrupt (IF = 0)
      v.kvmRun.request_interrupt_window = 1;
      const { exit } = runToExit(v);
      expect(exit.reason).toBe('irq_window_open');
      const rip = v.getRegs().rip;
      expect(rip.toString(16)).toBe(m.q(0x10 + 8 * c).toString(16));
      expect(v.kvmRun.if_flag).toBe(1);
      expect(v.kvmRun.ready_for_interrupt_injection).toBe(1);
      v.kvmRun.request_interrupt_window = 0;
      v.interrupt(0x30);
      expect(v.getVcpuEvents().interrupt).toMatchObject({ injected: 1, nr: 0x30 });
      expect(nextPhase(v)).toBe(11 + c);
      // Delivery clears only interrupt.injected (kvm_clear_interrupt_queue): nr still reads the vector.
      expect(v.getVcpuEvents().interrupt).toMatchObject({ injected: 0, nr: 0x30 });
      expect(m.q(0)).toBe(BigInt(c + 1));
      expect(m.q(0x40 + 16 * c)).toBe(rip);
      expect(m.q(0x48 + 16 * c)).toBe(c === 3 ? 0x3bn : 0x18n);
    }
  });
});
