/**
 * The interrupt a vCPU with an in-kernel LAPIC takes next (arch/x86/kvm/irq.c): ExtINT from the
 * PIC (or, with a split irqchip, the vector userspace queued with KVM_INTERRUPT) when LINT0 takes
 * it, else the highest LAPIC interrupt above the processor priority. Plugs into X86Events as its
 * `irqchip` (kvm_cpu_has_injectable_intr / kvm_cpu_get_interrupt).
 * @module
 */
import type { Vcpu } from '../../../kernel/vcpu.js';
import type { InterruptController } from '../events.js';
import { chipOf } from './chip.js';
import type { Lapic } from './lapic.js';

export class LapicInterrupts implements InterruptController {
  /** vcpu->arch.pending_external_vector: KVM_INTERRUPT with a split irqchip (-1 none). */
  pendingExternalVector = -1;

  constructor(
    private readonly vcpu: Vcpu,
    readonly lapic: Lapic,
  ) {}

  /** kvm_cpu_has_extint */
  hasExtint(): boolean {
    if (!this.lapic.acceptPicIntr()) return false;
    const chip = chipOf(this.vcpu.vm);
    return chip.split ? this.pendingExternalVector !== -1 : chip.picOutputLevel;
  }

  /** kvm_cpu_has_interrupt (= kvm_cpu_has_injectable_intr without APICv) */
  hasInterrupt(): boolean {
    return this.hasExtint() || this.lapic.hasInterrupt() !== -1;
  }

  /** kvm_cpu_get_interrupt: acknowledges ExtINT at the PIC, else the LAPIC's highest vector. */
  getInterrupt(): number {
    if (this.hasExtint()) {
      const chip = chipOf(this.vcpu.vm);
      if (chip.split) {
        const v = this.pendingExternalVector;
        this.pendingExternalVector = -1;
        return v;
      }
      return chip.picReadIrq(this.vcpu);
    }
    const v = this.lapic.hasInterrupt();
    if (v !== -1) this.lapic.ack(v);
    return v;
  }
}
