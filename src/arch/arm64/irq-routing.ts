/**
 * arm64's default GSI routing (arch/arm64/kvm/vgic/vgic-irqfd.c kvm_vgic_setup_default_irq_routing,
 * installed when the vGIC is initialized): GSI n goes to irqchip 0 pin n, i.e. SPI 32 + n, for
 * every SPI the distributor has. vgic/device.ts installs it when the vGIC is initialized.
 * @module
 */

/** KVM_IRQCHIP_NUM_PINS on arm64 (1020 - 32: the SPIs a GIC can have). */
export const KVM_IRQCHIP_NUM_PINS = 1020 - 32;

export function arm64DefaultIrqRouting(nrSpis: number): { gsi: number; irqchip: number; pin: number }[] {
  return Array.from({ length: nrSpis }, (_, i) => ({ gsi: i, irqchip: 0, pin: i }));
}
