/**
 * x86's default GSI routing (arch/x86/kvm/irq_comm.c default_routing[], installed by
 * kvm_setup_default_irq_routing when KVM_CREATE_IRQCHIP builds the PICs and the IOAPIC): GSI 0-15
 * go to the IOAPIC pin of the same number and to the PIC (master for 0-7, slave for 8-15, pin
 * gsi % 8); GSI 16-23 to the IOAPIC only. The irqchip model installs it with
 * `setDefaultIrqRouting(vm, x86DefaultIrqRouting())` (src/kernel/irq.ts).
 * @module
 */
import { KVM_IRQCHIP } from '../../uapi/x86.js';

/** KVM_IOAPIC_NUM_PINS */
export const KVM_IOAPIC_NUM_PINS = 24;

/** The default routes, in the kernel's order (per GSI: the IOAPIC entry, then the PIC's). */
export function x86DefaultIrqRouting(): { gsi: number; irqchip: number; pin: number }[] {
  const routes: { gsi: number; irqchip: number; pin: number }[] = [];
  for (let gsi = 0; gsi < KVM_IOAPIC_NUM_PINS; gsi++) {
    routes.push({ gsi, irqchip: KVM_IRQCHIP.IOAPIC, pin: gsi });
    if (gsi < 16) routes.push({ gsi, irqchip: gsi < 8 ? KVM_IRQCHIP.PIC_MASTER : KVM_IRQCHIP.PIC_SLAVE, pin: gsi % 8 });
  }
  return routes;
}
