/**
 * The errno table of arm64 interrupts and time through the API: vGIC creation and its attribute
 * groups (KVM_CREATE_DEVICE, KVM_SET/GET_DEVICE_ATTR), the legacy KVM_CREATE_IRQCHIP +
 * KVM_ARM_SET_DEVICE_ADDR, the first KVM_RUN's checks (kvm_vgic_map_resources), KVM_IRQ_LINE's irq
 * types, the timer's vCPU attributes, KVM_ARM_SET_COUNTER_OFFSET and the capabilities. Each case
 * cites the Linux 6.12 line that decides it.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, virtualSys, type Device, type Vcpu, type Vm } from '../../src/index.js';
import { KVM_CAP, KVM_DEV_TYPE } from '../../src/uapi/constants.js';
import { arm64 } from '../../src/uapi/index.js';
import { coreRegId, KVM_ARM_DEVICE, KVM_ARM_IRQ, KVM_ARM_VCPU, KVM_ARM_VCPU_ATTR, KVM_DEV_ARM_VGIC, KVM_VGIC } from '../../src/uapi/arm64.js';
import { outcome } from '../helpers/backends.js';
import { createGicV2, createGicV3, GICC, GICD, GICR } from './gic-board.js';

const RAM = 0x4000_0000;
const G = KVM_DEV_ARM_VGIC;

interface Env {
  kvm: Kvm;
  vm: Vm;
  vcpus: Vcpu[];
}

/** A VM with RAM whose first words power the system off (PSCI SYSTEM_OFF), and `n` initialized vCPUs. */
function env(n = 2): Env {
  const sys = virtualSys({ arch: 'arm64' });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = sys.alloc(1 << 20);
  new Uint32Array(ram.bytes.buffer, ram.bytes.byteOffset, 3).set([0xd2800100, 0xf2b08000, 0xd4000002]); // mov x0, #0x84000008; hvc #0
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM, memorySize: 1 << 20, userspaceAddr: ram.hva });
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < n; i++) {
    const v = vm.createVcpu(i);
    v.armInit([KVM_ARM_VCPU.PSCI_0_2]);
    v.setOneReg(coreRegId('regs.pc'), RAM);
    vcpus.push(v);
  }
  return { kvm, vm, vcpus };
}

const v3 = (e: Env) => e.vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3)!;
const v2 = (e: Env) => e.vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V2)!;
const addr = (d: Device, type: number, a: bigint | number) => d.setAttr({ group: G.GRP_ADDR, attr: type }, a);
const nrIrqs = (d: Device, n: number) => d.setAttr({ group: G.GRP_NR_IRQS, attr: 0 }, Uint8Array.of(n & 0xff, n >> 8, 0, 0));
const init = (d: Device) => d.setAttr({ group: G.GRP_CTRL, attr: G.CTRL_INIT });
const region = (base: number, count: number, index = 0) => BigInt(base) | (BigInt(count) << 52n) | BigInt(index);
const run = (e: Env) => e.vcpus[0]!.run().reason;

/** KVM_IRQ_LINE's irq field: type, vCPU index, number. */
const irq = (type: number, vcpu: number, num: number) => (type << KVM_ARM_IRQ.TYPE_SHIFT) | (vcpu << KVM_ARM_IRQ.VCPU_SHIFT) | num;
const CPU = KVM_ARM_IRQ.TYPE_CPU;
const SPI = KVM_ARM_IRQ.TYPE_SPI;
const PPI = KVM_ARM_IRQ.TYPE_PPI;

/** The timer's vCPU attribute ioctls (KVM_ARM_VCPU_TIMER_CTRL): `irq` written, read back, or probed. */
function timerAttr(e: Env, op: 'KVM_SET_DEVICE_ATTR' | 'KVM_GET_DEVICE_ATTR' | 'KVM_HAS_DEVICE_ATTR', attr: number, value = 0, group: number = KVM_ARM_VCPU_ATTR.TIMER_CTRL): number {
  const v = e.vcpus[0]!;
  const buf = e.vm.hostBuffer(4);
  new DataView(buf.bytes.buffer, buf.bytes.byteOffset).setUint32(0, value, true);
  e.vm.sys.ioctl(v.fd, e.kvm.req(op), e.kvm.abi.structs.kvm_device_attr.encode({ flags: 0, group, attr: BigInt(attr), addr: buf.hva }));
  return new DataView(buf.bytes.buffer, buf.bytes.byteOffset).getUint32(0, true);
}

function legacyAddr(e: Env, dev: number, type: number, a: number): void {
  const id = (dev << KVM_ARM_DEVICE.ID_SHIFT) | (type << KVM_ARM_DEVICE.TYPE_SHIFT);
  e.vm.sys.ioctl(e.vm.fd, e.kvm.req('KVM_ARM_SET_DEVICE_ADDR'), arm64.structs.kvm_arm_device_addr.encode({ id: BigInt(id), addr: BigInt(a) }));
}

const cases: [string, string, (e: Env) => unknown][] = [
  // vgic-init.c kvm_vgic_create: 94 EEXIST, 98-101 EBUSY once a vCPU ran, 110 E2BIG (and max_vcpus set before it)
  ['KVM_CREATE_DEVICE(VGIC_V3) twice', 'EEXIST', (e) => { v3(e); v3(e); }],
  ['KVM_CREATE_DEVICE(VGIC_V2) after a GICv3', 'EEXIST', (e) => { v3(e); v2(e); }],
  ['KVM_CREATE_IRQCHIP after a GICv3', 'EEXIST', (e) => { v3(e); e.vm.createIrqchip(); }],
  ['KVM_CREATE_DEVICE(VGIC_V3) after a vCPU ran', 'EBUSY', (e) => { run(e); v3(e); }],
  ['KVM_CREATE_DEVICE(VGIC_V2) with 9 vCPUs', 'E2BIG', () => v2(env(9))],
  ['KVM_CAP_MAX_VCPUS of the VM after a GICv2 refused 9 vCPUs', 'ok:8', () => { const e = env(9); outcome(() => v2(e)); return e.vm.checkExtension(KVM_CAP.MAX_VCPUS); }],
  ['KVM_CAP_MAX_VCPUS of a VM with a GICv3', 'ok:512', (e) => { v3(e); return e.vm.checkExtension(KVM_CAP.MAX_VCPUS); }],
  // arm.c kvm_arch_vcpu_precreate 452 (EBUSY once initialized), 455 (id >= kvm->max_vcpus)
  ['KVM_CREATE_VCPU id 8 with a GICv2', 'EINVAL', (e) => { v2(e); e.vm.createVcpu(8); }],
  ['KVM_CREATE_VCPU id 7 with a GICv2', 'ok:object', (e) => { v2(e); return e.vm.createVcpu(7); }],
  ['KVM_CREATE_VCPU after CTRL_INIT', 'EBUSY', (e) => { init(v3(e)); e.vm.createVcpu(2); }],
  ['KVM_CREATE_VCPU before CTRL_INIT', 'ok:object', (e) => { v3(e); return e.vm.createVcpu(2); }],
  // vgic-kvm-device.c vgic_check_iorange: 22 EEXIST, 25 EINVAL (alignment), 32 E2BIG (IPA space)
  ['GRP_ADDR V3 distributor twice', 'EEXIST', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_DIST, GICD); addr(d, KVM_VGIC.V3_ADDR_TYPE_DIST, GICD + 0x10000); }],
  ['GRP_ADDR V3 distributor 4K-aligned only', 'EINVAL', (e) => addr(v3(e), KVM_VGIC.V3_ADDR_TYPE_DIST, GICD + 0x1000)],
  ['GRP_ADDR V3 distributor beyond the IPA space', 'E2BIG', (e) => addr(v3(e), KVM_VGIC.V3_ADDR_TYPE_DIST, 1n << 44n)],
  ['GRP_ADDR V2 CPU interface 4K-aligned', 'ok:undefined', (e) => addr(v2(e), KVM_VGIC.V2_ADDR_TYPE_CPU, GICC + 0x1000)],
  // kvm_vgic_addr 220 (ENODEV for another model's type becomes ENXIO), 183 unknown type
  ['GRP_ADDR of a GICv2 type on a GICv3', 'ENXIO', (e) => addr(v3(e), KVM_VGIC.V2_ADDR_TYPE_DIST, GICD)],
  ['GRP_ADDR of a GICv3 type on a GICv2', 'ENXIO', (e) => addr(v2(e), KVM_VGIC.V3_ADDR_TYPE_REDIST, GICR)],
  ['GRP_ADDR of type 9', 'ENXIO', (e) => addr(v3(e), 9, GICD)],
  // kvm_vgic_addr 164 (no count or flags), vgic-mmio-v3.c vgic_v3_alloc_redist_region 899-926
  ['REDIST_REGION with count 0', 'EINVAL', (e) => addr(v3(e), KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 0))],
  ['REDIST_REGION with flags', 'EINVAL', (e) => addr(v3(e), KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 2) | (1n << 12n))],
  ['REDIST_REGION index 1 first', 'EINVAL', (e) => addr(v3(e), KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 2, 1))],
  ['REDIST_REGION index 0 twice', 'EINVAL', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 1)); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR + 0x100000, 1)); }],
  ['REDIST_REGION overlapping another', 'EINVAL', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 2)); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR + 0x20000, 1, 1)); }],
  ['REDIST_REGION then the legacy REDIST', 'EINVAL', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 2)); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST, GICR + 0x100000); }],
  ['REDIST twice', 'EEXIST', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST, GICR); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST, GICR + 0x100000); }],
  ['REDIST over the distributor', 'EINVAL', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_DIST, GICD); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST, GICD); }],
  ['REDIST_REGION index 1 after 0', 'ok:undefined', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 1)); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR + 0x100000, 1, 1)); }],
  // kvm_vgic_addr 172-181: reading a region takes its index; none: ENOENT
  ['GET REDIST_REGION of a missing index', 'ENOENT', (e) => v3(e).getAttr({ group: G.GRP_ADDR, attr: KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION })],
  ['GET REDIST_REGION reads base | count | index', `ok:${region(GICR, 2)}`, (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 2)); return d.getAttr({ group: G.GRP_ADDR, attr: KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION }); }],
  ['GET GRP_ADDR distributor unset (VGIC_ADDR_UNDEF)', `ok:${(1n << 64n) - 1n}`, (e) => v3(e).getAttr({ group: G.GRP_ADDR, attr: KVM_VGIC.V3_ADDR_TYPE_DIST })],
  // vgic_set_common_attr 235 (64..1024, multiple of 32), 245 (EBUSY once set or initialized), 287 unknown group
  ['GRP_NR_IRQS 48', 'EINVAL', (e) => nrIrqs(v3(e), 48)],
  ['GRP_NR_IRQS 1056', 'EINVAL', (e) => nrIrqs(v3(e), 1056)],
  ['GRP_NR_IRQS 100', 'EINVAL', (e) => nrIrqs(v3(e), 100)],
  ['GRP_NR_IRQS twice', 'EBUSY', (e) => { const d = v3(e); nrIrqs(d, 128); nrIrqs(d, 128); }],
  ['GRP_NR_IRQS after CTRL_INIT', 'EBUSY', (e) => { const d = v3(e); init(d); nrIrqs(d, 128); }],
  ['GET GRP_NR_IRQS after CTRL_INIT (the default 256)', 'ok:256', (e) => { const d = v3(e); init(d); return BigInt.asUintN(32, d.getAttr({ group: G.GRP_NR_IRQS, attr: 0 })); }],
  ['SET of group 99', 'ENXIO', (e) => v3(e).setAttr({ group: 99, attr: 0 }, 0)],
  ['GRP_CTRL attribute 7', 'ENXIO', (e) => v3(e).setAttr({ group: G.GRP_CTRL, attr: 7 })],
  ['GRP_CTRL SAVE_PENDING_TABLES on a GICv2', 'ENXIO', (e) => v2(e).setAttr({ group: G.GRP_CTRL, attr: G.SAVE_PENDING_TABLES })],
  ['HAS GRP_CTRL CTRL_INIT', 'ok:1', (e) => Number(v3(e).hasAttr({ group: G.GRP_CTRL, attr: G.CTRL_INIT }))],
  // vgic_v3_attr_regs_access 556 (EBUSY before init), vgic_v3_parse_attr (EINVAL: no vCPU of that MPIDR)
  ['GET DIST_REGS before CTRL_INIT', 'EBUSY', (e) => v3(e).getAttrBytes({ group: G.GRP_DIST_REGS, attr: 0 }, 4)],
  ['GET DIST_REGS GICD_CTLR after CTRL_INIT', 'ok:object', (e) => { const d = v3(e); init(d); return d.getAttrBytes({ group: G.GRP_DIST_REGS, attr: 0 }, 4); }],
  // vgic-mmio.c vgic_uaccess_read 970: no register there reads 0; has_attr refuses it (vgic_v3_has_attr_regs)
  ['GET DIST_REGS at an unaligned offset', 'ok:0', (e) => { const d = v3(e); init(d); return d.getAttr({ group: G.GRP_DIST_REGS, attr: 2 }); }],
  ['HAS DIST_REGS at an unaligned offset', 'ok:0', (e) => { const d = v3(e); init(d); return Number(d.hasAttr({ group: G.GRP_DIST_REGS, attr: 2 })); }],
  ['GET REDIST_REGS of MPIDR 0.0.0.9', 'EINVAL', (e) => { const d = v3(e); init(d); d.getAttrBytes({ group: G.GRP_REDIST_REGS, attr: 9n << 32n }, 4); }],
  ['GET LEVEL_INFO of INTID 40 (not a bank start)', 'EINVAL', (e) => { const d = v3(e); init(d); d.getAttrBytes({ group: G.GRP_LEVEL_INFO, attr: 40 }, 4); }],
  // the first KVM_RUN: vgic-v3.c vgic_v3_map_resources 568 (a vCPU without redistributor), 574 (no distributor), 587 (not initialized)
  ['KVM_RUN with a GICv3 without distributor address', 'ENXIO', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 2)); init(d); run(e); }],
  ['KVM_RUN with a GICv3 redistributor for one of two vCPUs', 'ENXIO', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_DIST, GICD); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 1)); init(d); run(e); }],
  ['KVM_RUN with a GICv3 not initialized', 'EBUSY', (e) => { const d = v3(e); addr(d, KVM_VGIC.V3_ADDR_TYPE_DIST, GICD); addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(GICR, 2)); run(e); }],
  ['KVM_RUN with a complete GICv3', 'ok:system_event', (e) => { createGicV3(e.vm, 2); return run(e); }],
  // vgic-v2.c vgic_v2_map_resources 297 (an address missing), 302 (frames overlap); a GICv2 initializes lazily
  ['KVM_RUN with a GICv2 without CPU interface address', 'ENXIO', (e) => { const d = v2(e); addr(d, KVM_VGIC.V2_ADDR_TYPE_DIST, GICD); run(e); }],
  ['KVM_RUN with GICv2 frames overlapping', 'EINVAL', (e) => { const d = v2(e); addr(d, KVM_VGIC.V2_ADDR_TYPE_DIST, GICD); addr(d, KVM_VGIC.V2_ADDR_TYPE_CPU, GICD - 0x1000); run(e); }],
  ['KVM_RUN with a GICv2 never initialized (lazy init)', 'ok:system_event', (e) => { const d = v2(e); addr(d, KVM_VGIC.V2_ADDR_TYPE_DIST, GICD); addr(d, KVM_VGIC.V2_ADDR_TYPE_CPU, GICC); return run(e); }],
  ['KVM_RUN with a GICv2 device', 'ok:system_event', (e) => { createGicV2(e.vm); return run(e); }],
  // arm.c kvm_vm_ioctl_set_device_addr 1842 (unknown device); vgic-kvm-device.c vgic_check_type 40 (no GICv2)
  ['KVM_ARM_SET_DEVICE_ADDR without an irqchip', 'ENODEV', (e) => legacyAddr(e, KVM_ARM_DEVICE.VGIC_V2, KVM_VGIC.V2_ADDR_TYPE_DIST, GICD)],
  ['KVM_ARM_SET_DEVICE_ADDR on a GICv3', 'ENODEV', (e) => { v3(e); legacyAddr(e, KVM_ARM_DEVICE.VGIC_V2, KVM_VGIC.V2_ADDR_TYPE_DIST, GICD); }],
  ['KVM_ARM_SET_DEVICE_ADDR of device 1', 'ENODEV', (e) => { e.vm.createIrqchip(); legacyAddr(e, 1, KVM_VGIC.V2_ADDR_TYPE_DIST, GICD); }],
  ['KVM_ARM_SET_DEVICE_ADDR distributor twice', 'EEXIST', (e) => { e.vm.createIrqchip(); legacyAddr(e, 0, KVM_VGIC.V2_ADDR_TYPE_DIST, GICD); legacyAddr(e, 0, KVM_VGIC.V2_ADDR_TYPE_DIST, GICD); }],
  // arm.c kvm_vm_ioctl_irq_line 1390-1428
  ['KVM_IRQ_LINE CPU IRQ without a vGIC', 'ok:undefined', (e) => e.vm.irqLine(irq(CPU, 1, KVM_ARM_IRQ.CPU_IRQ), 1)],
  ['KVM_IRQ_LINE CPU line of a missing vCPU', 'EINVAL', (e) => e.vm.irqLine(irq(CPU, 5, 0), 1)],
  ['KVM_IRQ_LINE CPU line 2', 'EINVAL', (e) => e.vm.irqLine(irq(CPU, 0, 2), 1)],
  ['KVM_IRQ_LINE CPU line with a vGIC', 'ENXIO', (e) => { v3(e); e.vm.irqLine(irq(CPU, 0, 0), 1); }],
  ['KVM_IRQ_LINE SPI without a vGIC', 'ENXIO', (e) => e.vm.irqLine(irq(SPI, 0, 40), 1)],
  ['KVM_IRQ_LINE PPI without a vGIC', 'ENXIO', (e) => e.vm.irqLine(irq(PPI, 0, 20), 1)],
  ['KVM_IRQ_LINE PPI 5 (an SGI)', 'EINVAL', (e) => { createGicV3(e.vm, 2); e.vm.irqLine(irq(PPI, 0, 5), 1); }],
  ['KVM_IRQ_LINE PPI 32', 'EINVAL', (e) => { createGicV3(e.vm, 2); e.vm.irqLine(irq(PPI, 0, 32), 1); }],
  ['KVM_IRQ_LINE PPI of a missing vCPU', 'EINVAL', (e) => { createGicV3(e.vm, 2); e.vm.irqLine(irq(PPI, 7, 20), 1); }],
  ['KVM_IRQ_LINE PPI 20 of vCPU 1', 'ok:undefined', (e) => { createGicV3(e.vm, 2); e.vm.irqLine(irq(PPI, 1, 20), 1); }],
  ['KVM_IRQ_LINE SPI 31', 'EINVAL', (e) => { createGicV3(e.vm, 2); e.vm.irqLine(irq(SPI, 0, 31), 1); }],
  ['KVM_IRQ_LINE SPI past NR_IRQS', 'EINVAL', (e) => { createGicV3(e.vm, 2); e.vm.irqLine(irq(SPI, 0, 128), 1); }],
  ['KVM_IRQ_LINE SPI 127', 'ok:undefined', (e) => { createGicV3(e.vm, 2); e.vm.irqLine(irq(SPI, 0, 127), 1); }],
  ['KVM_IRQ_LINE of irq type 3', 'EINVAL', (e) => { createGicV3(e.vm, 2); e.vm.irqLine(irq(3, 0, 40), 1); }],
  // kvm_main.c kvm_send_userspace_msi (EINVAL without an irqchip), vgic-irqfd.c kvm_set_msi (ENODEV without an ITS)
  ['KVM_SIGNAL_MSI without a vGIC', 'EINVAL', (e) => e.vm.signalMsi({ addressLo: 0x08080040, addressHi: 0, data: 1 })],
  ['KVM_SIGNAL_MSI on a GICv3 without an ITS', 'ENODEV', (e) => { createGicV3(e.vm, 2); e.vm.signalMsi({ addressLo: 0x08080040, addressHi: 0, data: 1 }); }],
  // arch_timer.c kvm_arm_timer_set_attr 1562 (no vGIC), 1568 (not a PPI), 1574 (EBUSY once a vCPU ran), 1592 (unknown timer)
  ['TIMER_IRQ_VTIMER without a vGIC', 'EINVAL', (e) => timerAttr(e, 'KVM_SET_DEVICE_ATTR', KVM_ARM_VCPU_ATTR.TIMER_IRQ_VTIMER, 20)],
  ['TIMER_IRQ_VTIMER = 40 (not a PPI)', 'EINVAL', (e) => { v3(e); timerAttr(e, 'KVM_SET_DEVICE_ATTR', KVM_ARM_VCPU_ATTR.TIMER_IRQ_VTIMER, 40); }],
  ['TIMER_IRQ_VTIMER = 20, read back', 'ok:20', (e) => { v3(e); timerAttr(e, 'KVM_SET_DEVICE_ATTR', KVM_ARM_VCPU_ATTR.TIMER_IRQ_VTIMER, 20); return timerAttr(e, 'KVM_GET_DEVICE_ATTR', KVM_ARM_VCPU_ATTR.TIMER_IRQ_VTIMER); }],
  ['GET TIMER_IRQ_PTIMER by default (PPI 30)', 'ok:30', (e) => timerAttr(e, 'KVM_GET_DEVICE_ATTR', KVM_ARM_VCPU_ATTR.TIMER_IRQ_PTIMER)],
  ['TIMER_IRQ_PTIMER after a vCPU ran', 'EBUSY', (e) => { createGicV3(e.vm, 2); run(e); timerAttr(e, 'KVM_SET_DEVICE_ATTR', KVM_ARM_VCPU_ATTR.TIMER_IRQ_PTIMER, 29); }],
  ['timer attribute 9', 'ENXIO', (e) => { v3(e); timerAttr(e, 'KVM_SET_DEVICE_ATTR', 9, 20); }],
  ['KVM_RUN with both timers on one PPI (timer_irqs_are_valid)', 'EINVAL', (e) => { createGicV3(e.vm, 2); timerAttr(e, 'KVM_SET_DEVICE_ATTR', KVM_ARM_VCPU_ATTR.TIMER_IRQ_PTIMER, 27); run(e); }],
  // pmu-emul.c kvm_arm_pmu_v3_set_attr (ENODEV without the PMU feature), get_attr 1089-1093, has_attr 1117
  ['PMU_V3_CTRL set without the PMU feature', 'ENODEV', (e) => timerAttr(e, 'KVM_SET_DEVICE_ATTR', 0, 0, KVM_ARM_VCPU_ATTR.PMU_V3_CTRL)],
  ['PMU_V3_CTRL get of PMU_V3_IRQ without a vGIC', 'EINVAL', (e) => timerAttr(e, 'KVM_GET_DEVICE_ATTR', 0, 0, KVM_ARM_VCPU_ATTR.PMU_V3_CTRL)],
  ['PMU_V3_CTRL get of PMU_V3_IRQ with a vGIC', 'ENODEV', (e) => { v3(e); timerAttr(e, 'KVM_GET_DEVICE_ATTR', 0, 0, KVM_ARM_VCPU_ATTR.PMU_V3_CTRL); }],
  ['PMU_V3_CTRL has without the PMU feature', 'ENXIO', (e) => timerAttr(e, 'KVM_HAS_DEVICE_ATTR', 0, 0, KVM_ARM_VCPU_ATTR.PMU_V3_CTRL)],
  // arm.c kvm_vm_ioctl_set_counter_offset (arch_timer.c 1654: reserved bits)
  ['KVM_ARM_SET_COUNTER_OFFSET with reserved set', 'EINVAL', (e) => e.vm.sys.ioctl(e.vm.fd, e.kvm.req('KVM_ARM_SET_COUNTER_OFFSET'), arm64.structs.kvm_arm_counter_offset.encode({ counter_offset: 0n, reserved: 1n }))],
  // arm.c kvm_vm_ioctl_check_extension
  ['KVM_CAP_ARM_IRQ_LINE_LAYOUT_2', 'ok:1', (e) => e.vm.checkExtension(KVM_CAP.ARM_IRQ_LINE_LAYOUT_2)],
  ['KVM_CAP_IRQCHIP', 'ok:1', (e) => e.vm.checkExtension(KVM_CAP.IRQCHIP)],
  ['KVM_CAP_COUNTER_OFFSET', 'ok:1', (e) => e.vm.checkExtension(KVM_CAP.COUNTER_OFFSET)],
];

describe('arm64 errno table of interrupts and time (Linux 6.12)', () => {
  it.each(cases)('%s -> %s', (_name, expected, action) => {
    expect(outcome(() => action(env()))).toBe(expected);
  });
});

// sys_regs.c kvm_finalize_sys_regs (first KVM_RUN): ID_AA64PFR0_EL1.GIC stays IMP only with a vGICv3;
// a guest kernel reads it before touching ICC_SRE_EL1 (which UNDEFs without one).
describe('ID_AA64PFR0_EL1.GIC as the guest reads it', () => {
  it.each([
    ['no vGIC', 0n, (_e: Env) => {}],
    ['a GICv2', 0n, (e: Env) => createGicV2(e.vm)],
    ['a GICv3', 1n, (e: Env) => createGicV3(e.vm, 2)],
  ] as const)('%s -> GIC field %s', (_name, gic, make) => {
    const e = env();
    make(e);
    const ram = e.vm.sys.alloc(4096);
    ram.bytes.set(new Uint8Array(Uint32Array.of(0xd5380405, 0xd2800100, 0xf2b08000, 0xd4000002).buffer)); // mrs x5, id_aa64pfr0_el1; SYSTEM_OFF (which sets x0-x3)
    e.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: RAM + (1 << 20), memorySize: 4096, userspaceAddr: ram.hva });
    const v = e.vcpus[0]!;
    v.setOneReg(coreRegId('regs.pc'), RAM + (1 << 20));
    expect(v.run().reason).toBe('system_event');
    const x5 = v.getOneReg(coreRegId('regs.regs') + 10n);
    expect((x5 >> 24n) & 0xfn).toBe(gic);
    expect(x5 & 0xffn).toBe(0x11n); // EL0/EL1 AArch64 untouched
  });
});
