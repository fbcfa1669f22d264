/**
 * An irqfd on an arm64 SPI (virt/kvm/eventfd.c irqfd_wakeup -> kvm_arch_set_irq_inatomic,
 * arch/arm64/kvm/arm.c / vgic-irqfd.c in Linux 6.12): with the vGIC initialized the signal raises
 * the SPI's line in atomic context and nothing lowers it, so a level-triggered SPI stays pending
 * (its line high) until the VMM or the guest lowers it with KVM_IRQ_LINE; an edge SPI latches.
 * Linux's vgic_irq selftest relies on it (its level-sensitive irqfd case waited forever on vkvm,
 * which raised and lowered the line as x86's irqfd_inject does). Virtual backend.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, virtualSys, type Device } from '../../src/index.js';
import { KVM_ARM_IRQ, KVM_DEV_ARM_VGIC } from '../../src/uapi/arm64.js';
import { createGicV3 } from './gic-board.js';

const G = KVM_DEV_ARM_VGIC;
const GSI = 5;
const INTID = 32 + GSI;
const rd32 = (gic: Device, group: number, attr: bigint) => new DataView(gic.getAttrBytes({ group, attr }, 4).buffer).getUint32(0, true);
const u32 = (v: number) => Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);

function setup(edge: boolean) {
  const sys = virtualSys({ arch: 'arm64' });
  const vm = Kvm.open(sys).createVm();
  vm.createVcpu(0).armInit([]);
  const gic = createGicV3(vm, 1);
  // GICD_ICFGR2 (INTIDs 32-47): bit 2n+1 set = edge.
  gic.setAttr({ group: G.GRP_DIST_REGS, attr: 0xc08n }, u32(edge ? 0xaaaaaaaa : 0));
  const efd = sys.eventfd(0, 0);
  vm.irqfd({ fd: efd, gsi: GSI });
  const signal = () => sys.write(efd, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0));
  const line = () => (rd32(gic, G.GRP_LEVEL_INFO, BigInt(32)) >>> GSI) & 1; // LEVEL_INFO of vCPU 0, INTIDs 32-63
  const latch = () => (rd32(gic, G.GRP_DIST_REGS, 0x204n) >>> GSI) & 1; // GICD_ISPENDR1: the latch, as userspace sees it
  const irqLine = (level: number) => vm.irqLine((KVM_ARM_IRQ.TYPE_SPI << KVM_ARM_IRQ.TYPE_SHIFT) | INTID, level);
  return { signal, line, latch, irqLine };
}

describe('arm64 irqfd on an SPI (kvm_arch_set_irq_inatomic)', () => {
  it('a level-triggered SPI: the signal raises the line and leaves it high until KVM_IRQ_LINE lowers it', () => {
    const s = setup(false);
    expect(s.line()).toBe(0);
    s.signal();
    expect(s.line()).toBe(1);
    expect(s.latch()).toBe(0);
    s.irqLine(0);
    expect(s.line()).toBe(0);
  });

  it('an edge-triggered SPI: the signal latches it pending, the line stays low', () => {
    const s = setup(true);
    s.signal();
    expect(s.latch()).toBe(1);
    expect(s.line()).toBe(0);
  });
});
