/**
 * The GICv3 ITS through the API: the errno table of KVM_CREATE_DEVICE(KVM_DEV_TYPE_ARM_VGIC_ITS)
 * and its attribute groups, KVM_SIGNAL_MSI and MSI routes, the capabilities (each case cites the
 * Linux 6.12 line that decides it); then the command queue and the LPI tables driven from
 * userspace (ITS_REGS writes of CWRITER process commands as a guest's would): retargeting by
 * MAPC/MOVI/MOVALL seen through SAVE_PENDING_TABLES, and the ABI revision 0 table format of
 * ITS_SAVE_TABLES / ITS_RESTORE_TABLES.
 */
import { describe, expect, it } from 'vitest';
import { EventFd, Kvm, virtualSys, type Device, type Vcpu, type Vm } from '../../src/index.js';
import { KVM_CAP, KVM_DEV_TYPE, KVM_MSI } from '../../src/uapi/constants.js';
import { coreRegId, KVM_ARM_VCPU, KVM_DEV_ARM_ITS, KVM_DEV_ARM_VGIC, KVM_VGIC } from '../../src/uapi/arm64.js';
import { outcome } from '../helpers/backends.js';
import { createGicV2, createGicV3, GICD, GICR } from './gic-board.js';

const RAM = 0x4000_0000;
const RAM_SIZE = 4 << 20;
const G = KVM_DEV_ARM_VGIC;
const ITS_CTRL = KVM_DEV_ARM_ITS;
const ITS = 0x0808_0000;
const DB = ITS + 0x1_0040;
const GITS = { CTLR: 0x0, IIDR: 0x4, TYPER: 0x8, CBASER: 0x80, CWRITER: 0x88, CREADR: 0x90, BASER0: 0x100, BASER1: 0x108, PIDR2: 0xffe8 } as const;

interface Env {
  kvm: Kvm;
  vm: Vm;
  vcpus: Vcpu[];
  ram: Uint8Array;
}

function env(n = 2): Env {
  const sys = virtualSys({ arch: 'arm64' });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = sys.alloc(RAM_SIZE);
  new Uint32Array(ram.bytes.buffer, ram.bytes.byteOffset, 3).set([0xd2800100, 0xf2b08000, 0xd4000002]); // SYSTEM_OFF
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM, memorySize: RAM_SIZE, userspaceAddr: ram.hva });
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < n; i++) {
    const v = vm.createVcpu(i);
    v.armInit([KVM_ARM_VCPU.PSCI_0_2]);
    v.setOneReg(coreRegId('regs.pc'), RAM);
    vcpus.push(v);
  }
  return { kvm, vm, vcpus, ram: ram.bytes };
}

const itsDev = (e: Env) => e.vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_ITS)!;
const itsAddr = (d: Device, a: bigint | number, type: number = KVM_VGIC.ITS_ADDR_TYPE) => d.setAttr({ group: G.GRP_ADDR, attr: type }, a);
const reg = (d: Device, off: number | bigint) => d.getAttr({ group: G.GRP_ITS_REGS, attr: off });
const setReg = (d: Device, off: number | bigint, v: bigint | number) => d.setAttr({ group: G.GRP_ITS_REGS, attr: off }, v);
const ctrl = (d: Device, attr: number) => d.setAttr({ group: G.GRP_CTRL, attr });
const msi = (e: Env, data: number, o: { devid?: number; flags?: number; address?: number } = {}) =>
  e.vm.signalMsi({ addressLo: o.address ?? DB, data, devid: o.devid ?? 0, flags: o.flags ?? KVM_MSI.VALID_DEVID });
/** A GICv3 (initialized) and an ITS at ITS. */
function gicIts(e: Env): Device {
  createGicV3(e.vm, e.vcpus.length);
  const d = itsDev(e);
  itsAddr(d, ITS);
  return d;
}

const cases: [string, string, (e: Env) => unknown][] = [
  // kvm_main.c kvm_ioctl_create_device: the type exists (vgic-its.c kvm_vgic_register_its_device); vgic_its_create has no model check
  ['KVM_CREATE_DEVICE(ITS) without a vGIC', 'ok:object', (e) => itsDev(e)],
  ['KVM_CREATE_DEVICE(ITS) on a GICv3', 'ok:object', (e) => { createGicV3(e.vm, 2); return itsDev(e); }],
  ['KVM_CREATE_DEVICE(ITS) twice (one per doorbell)', 'ok:object', (e) => { createGicV3(e.vm, 2); itsDev(e); return itsDev(e); }],
  // vgic-its.c vgic_its_set_attr 2787 (ENODEV: not ITS_ADDR_TYPE), vgic_check_iorange 22 EEXIST / 25 EINVAL / 32 E2BIG
  ['ADDR of type 2 (the distributor)', 'ENODEV', (e) => itsAddr(itsDev(e), ITS, KVM_VGIC.V3_ADDR_TYPE_DIST)],
  ['GET ADDR of type 0', 'ENODEV', (e) => itsDev(e).getAttr({ group: G.GRP_ADDR, attr: 0 })],
  ['ADDR 4K-aligned', 'EINVAL', (e) => itsAddr(itsDev(e), ITS + 0x1000)],
  ['ADDR twice', 'EEXIST', (e) => { const d = itsDev(e); itsAddr(d, ITS); itsAddr(d, ITS + 0x20000); }],
  ['ADDR beyond the IPA space', 'E2BIG', (e) => itsAddr(itsDev(e), 1n << 44n)],
  ['ADDR wrapping', 'EINVAL', (e) => itsAddr(itsDev(e), 0xffff_ffff_ffff_0000n)],
  ['GET ADDR unset (VGIC_ADDR_UNDEF)', `ok:${(1n << 64n) - 1n}`, (e) => itsDev(e).getAttr({ group: G.GRP_ADDR, attr: KVM_VGIC.ITS_ADDR_TYPE })],
  ['GET ADDR set', `ok:${ITS}`, (e) => { const d = itsDev(e); itsAddr(d, ITS); return d.getAttr({ group: G.GRP_ADDR, attr: KVM_VGIC.ITS_ADDR_TYPE }); }],
  // vgic_its_set_attr 2811 / get_attr 2842: unknown groups
  ['SET of group 1 (DIST_REGS)', 'ENXIO', (e) => itsDev(e).setAttr({ group: G.GRP_DIST_REGS, attr: 0 }, 0)],
  ['GET of GRP_CTRL', 'ENXIO', (e) => itsDev(e).getAttr({ group: G.GRP_CTRL, attr: 0 })],
  // vgic_its_ctrl: INIT does nothing; any other attribute after lock_all_vcpus (an unknown one is 0)
  ['CTRL INIT', 'ok:undefined', (e) => ctrl(itsDev(e), G.CTRL_INIT)],
  ['CTRL attribute 9', 'ok:undefined', (e) => ctrl(itsDev(e), 9)],
  ['CTRL RESET', 'ok:undefined', (e) => ctrl(gicIts(e), ITS_CTRL.CTRL_RESET)],
  ['CTRL SAVE_TABLES with invalid tables', 'ok:undefined', (e) => ctrl(gicIts(e), ITS_CTRL.SAVE_TABLES)],
  ['CTRL RESTORE_TABLES with invalid tables', 'ok:undefined', (e) => ctrl(gicIts(e), ITS_CTRL.RESTORE_TABLES)],
  // vgic_its_has_attr
  ['HAS ADDR ITS_ADDR_TYPE', 'ok:1', (e) => Number(itsDev(e).hasAttr({ group: G.GRP_ADDR, attr: KVM_VGIC.ITS_ADDR_TYPE }))],
  ['HAS ADDR type 2', 'ok:0', (e) => Number(itsDev(e).hasAttr({ group: G.GRP_ADDR, attr: 2 }))],
  ['HAS CTRL SAVE_TABLES', 'ok:1', (e) => Number(itsDev(e).hasAttr({ group: G.GRP_CTRL, attr: ITS_CTRL.SAVE_TABLES }))],
  ['HAS CTRL SAVE_PENDING_TABLES (a GICv3 attribute)', 'ok:0', (e) => Number(itsDev(e).hasAttr({ group: G.GRP_CTRL, attr: G.SAVE_PENDING_TABLES }))],
  // vgic_its_has_attr_regs 1966 (EINVAL: 64-bit registers need 8-byte alignment), 1972 ENXIO
  ['HAS ITS_REGS GITS_CBASER + 4', 'EINVAL', (e) => itsDev(e).hasAttr({ group: G.GRP_ITS_REGS, attr: GITS.CBASER + 4 })],
  ['HAS ITS_REGS GITS_IIDR', 'ok:1', (e) => Number(itsDev(e).hasAttr({ group: G.GRP_ITS_REGS, attr: GITS.IIDR }))],
  ['HAS ITS_REGS 0x40 (no register)', 'ok:0', (e) => Number(itsDev(e).hasAttr({ group: G.GRP_ITS_REGS, attr: 0x40 }))],
  ['HAS ITS_REGS GITS_TRANSLATER (not a register of KVM)', 'ok:0', (e) => Number(itsDev(e).hasAttr({ group: G.GRP_ITS_REGS, attr: 0x10040 }))],
  // vgic_its_attr_regs_access 2003 EINVAL (alignment), 2015 ENXIO (no address), 2023 ENXIO (no register)
  ['GET ITS_REGS GITS_TYPER + 4', 'EINVAL', (e) => reg(gicIts(e), GITS.TYPER + 4)],
  ['GET ITS_REGS before the address is set', 'ENXIO', (e) => reg(itsDev(e), GITS.TYPER)],
  ['GET ITS_REGS 0x40', 'ENXIO', (e) => reg(gicIts(e), 0x40)],
  ['GET ITS_REGS GITS_TYPER', `ok:${0x1ef71n}`, (e) => reg(gicIts(e), GITS.TYPER)],
  ['GET ITS_REGS GITS_IIDR', `ok:${0x4b00043bn}`, (e) => reg(gicIts(e), GITS.IIDR)],
  ['GET ITS_REGS GITS_PIDR2', 'ok:59', (e) => reg(gicIts(e), GITS.PIDR2)],
  ['GET ITS_REGS GITS_BASER0 at reset', `ok:${0x0107_0000_0000_0000n | (3n << 59n) | (1n << 10n) | (2n << 8n)}`, (e) => reg(gicIts(e), GITS.BASER0)],
  ['GET ITS_REGS GITS_BASER1 at reset', `ok:${0x0407_0000_0000_0000n | (3n << 59n) | (1n << 10n) | (2n << 8n)}`, (e) => reg(gicIts(e), GITS.BASER1)],
  ['GET ITS_REGS GITS_CTLR at reset (quiescent)', `ok:${0x8000_0000n}`, (e) => reg(gicIts(e), GITS.CTLR)],
  // vgic_mmio_uaccess_write_its_iidr 518 (revision >= NR_ITS_ABIS)
  ['SET ITS_REGS GITS_IIDR revision 1', 'EINVAL', (e) => setReg(gicIts(e), GITS.IIDR, 0x1000)],
  ['SET ITS_REGS GITS_IIDR revision 0', 'ok:undefined', (e) => setReg(gicIts(e), GITS.IIDR, 0)],
  // vgic_mmio_uaccess_write_its_creadr 1635 (EBUSY while enabled), 1641 (EINVAL past the queue)
  ['SET ITS_REGS GITS_CREADR past a 4K queue', 'EINVAL', (e) => { const d = gicIts(e); setReg(d, GITS.CBASER, (1n << 63n) | BigInt(RAM + 0x10000)); setReg(d, GITS.CREADR, 0x1000); }],
  ['SET ITS_REGS GITS_CREADR 0x20, read back', 'ok:32', (e) => { const d = gicIts(e); setReg(d, GITS.CBASER, (1n << 63n) | BigInt(RAM + 0x10000)); setReg(d, GITS.CREADR, 0x3f); return reg(d, GITS.CREADR); }],
  ['SET ITS_REGS GITS_CREADR while enabled', 'EBUSY', (e) => { const d = enabledIts(e); setReg(d, GITS.CREADR, 0); }],
  ['GITS_CTLR.Enable without valid tables stays 0', `ok:${0x8000_0000n}`, (e) => { const d = gicIts(e); setReg(d, GITS.CTLR, 1); return reg(d, GITS.CTLR); }],
  ['GITS_BASER1 write: Indirect, type and entry size read-only, 64K pages', `ok:${(1n << 63n) | (0x0407n << 48n) | (3n << 59n) | (1n << 10n) | (2n << 8n) | BigInt(RAM + 0x30000)}`, (e) => { const d = gicIts(e); setReg(d, GITS.BASER1, (1n << 63n) | (1n << 62n) | (7n << 56n) | (1n << 10n) | (3n << 59n) | BigInt(RAM + 0x30000)); return reg(d, GITS.BASER1); }],
  ['GITS_CBASER write: outer shareable becomes inner, bits 15:12 clear', `ok:${(1n << 63n) | (3n << 59n) | (1n << 10n) | BigInt(RAM + 0x10000)}`, (e) => { const d = gicIts(e); setReg(d, GITS.CBASER, (1n << 63n) | (3n << 59n) | (2n << 10n) | BigInt(RAM + 0x1f000)); return reg(d, GITS.CBASER); }],
  // vgic-irqfd.c kvm_set_msi 93 (ENODEV without vgic_has_its), vgic_msi_to_its (EINVAL: no devid, not an ITS)
  ['KVM_SIGNAL_MSI with an ITS but no vGIC (not irqchip_in_kernel)', 'EINVAL', (e) => { const d = itsDev(e); itsAddr(d, ITS); msi(e, 0); }],
  ['KVM_SIGNAL_MSI on a GICv2 with an ITS (vgic_has_its is false)', 'ENODEV', (e) => { createGicV2(e.vm); const d = itsDev(e); itsAddr(d, ITS); msi(e, 0); }],
  ['KVM_SIGNAL_MSI without KVM_MSI_VALID_DEVID', 'EINVAL', (e) => { gicIts(e); msi(e, 0, { flags: 0 }); }],
  ['KVM_SIGNAL_MSI to an address outside the ITS', 'EINVAL', (e) => { gicIts(e); msi(e, 0, { address: GICD }); }],
  ['KVM_SIGNAL_MSI with the ITS disabled', 'EBUSY', (e) => { gicIts(e); msi(e, 0); }],
  ['KVM_SIGNAL_MSI to an unmapped event', 'ok:0', (e) => { enabledIts(e); return msi(e, 5); }],
  ['KVM_SIGNAL_MSI to the ITS frame base (any ITS address is its doorbell)', 'ok:0', (e) => { enabledIts(e); return msi(e, 5, { address: ITS }); }],
  ['KVM_SIGNAL_MSI to a mapped event with LPIs disabled in the redistributor', 'EBUSY', (e) => { const d = enabledIts(e); mapEvent(e, d, 0, 0, 8192, 0, false); msi(e, 0); }],
  ['KVM_SIGNAL_MSI to a mapped event', 'ok:1', (e) => { const d = enabledIts(e); mapEvent(e, d, 0, 0, 8192, 0); return msi(e, 0); }],
  ['KVM_SIGNAL_MSI to device 1 (unmapped)', 'ok:0', (e) => { const d = enabledIts(e); mapEvent(e, d, 0, 0, 8192, 0); return msi(e, 0, { devid: 1 }); }],
  // irqchip.c kvm_set_irq_routing: MSI flags other than KVM_MSI_VALID_DEVID
  ['KVM_SET_GSI_ROUTING MSI with flags 2', 'EINVAL', (e) => { gicIts(e); e.vm.setGsiRouting([{ gsi: 0, type: 'msi', addressLo: DB, data: 0, flags: 2 }]); }],
  // arm.c kvm_vm_ioctl_check_extension 371-376: KVM_CAP_MSI_DEVID (EINVAL on the system fd)
  ['KVM_CAP_MSI_DEVID on the system fd', 'EINVAL', (e) => e.kvm.checkExtension(KVM_CAP.MSI_DEVID)],
  ['KVM_CAP_MSI_DEVID of a VM without an ITS', 'ok:0', (e) => { createGicV3(e.vm, 2); return e.vm.checkExtension(KVM_CAP.MSI_DEVID); }],
  ['KVM_CAP_MSI_DEVID of a VM with an ITS', 'ok:1', (e) => { gicIts(e); return e.vm.checkExtension(KVM_CAP.MSI_DEVID); }],
  ['KVM_CAP_SIGNAL_MSI of a VM with an ITS', 'ok:1', (e) => { gicIts(e); return e.vm.checkExtension(KVM_CAP.SIGNAL_MSI); }],
  // vgic-mmio-v3.c: GICD_TYPER.LPIS / IDbits 15 and GICR_TYPER.PLPIS once an ITS exists (vgic_has_its)
  ['GICD_TYPER without an ITS (IDbits 9, no LPIS)', `ok:${(9 << 19) | 3}`, (e) => { const g = createGicV3(e.vm, 2); return distReg(g, 4); }],
  ['GICD_TYPER with an ITS (IDbits 15, LPIS)', `ok:${(15 << 19) | (1 << 17) | 3}`, (e) => { const g = createGicV3(e.vm, 2); itsDev(e); return distReg(g, 4); }],
  ['GICD_TYPER, ITS created before the vGIC', `ok:${(15 << 19) | (1 << 17) | 3}`, (e) => { itsDev(e); const g = createGicV3(e.vm, 2); return distReg(g, 4); }],
  ['GICR_TYPER.PLPIS with an ITS', 'ok:1', (e) => { const g = createGicV3(e.vm, 2); itsDev(e); return redistReg(g, 0, 8) & 1; }],
  ['GICR_PROPBASER after the ITS is created (INITIAL_PROPBASER_VALUE)', `ok:${0x580}`, (e) => { const g = createGicV3(e.vm, 2); itsDev(e); return redistReg(g, 0, 0x70); }],
  ['GICR_CTLR.EnableLPIs without an ITS stays 0', 'ok:0', (e) => { const g = createGicV3(e.vm, 2); setRedistReg(g, 0, 0, 1); return redistReg(g, 0, 0) & 1; }],
  ['GICR_CTLR.EnableLPIs with an ITS', 'ok:1', (e) => { const g = createGicV3(e.vm, 2); itsDev(e); setRedistReg(g, 0, 0, 1); return redistReg(g, 0, 0) & 1; }],
  ['GICR_PENDBASER ignored while LPIs are enabled', 'ok:0', (e) => { const g = createGicV3(e.vm, 2); itsDev(e); setRedistReg(g, 0, 0, 1); setRedistReg(g, 0, 0x78, 0x10000); return redistReg(g, 0, 0x78); }],
  ['GICR_PENDBASER: RES0 bits clear, non-cacheable becomes RaWb, PTZ reads 0', `ok:${0x4001_0180}`, (e) => { const g = createGicV3(e.vm, 2); itsDev(e); setRedistReg(g, 0, 0x78, 0x4001_f07f); setRedistReg(g, 0, 0x7c, 0x4000_0000); return redistReg(g, 0, 0x78); }],
  // vgic-v3.c vgic_v3_save_pending_tables 400 (ENXIO before init)
  ['SAVE_PENDING_TABLES before CTRL_INIT', 'ENXIO', (e) => { const g = e.vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3)!; g.setAttr({ group: G.GRP_CTRL, attr: G.SAVE_PENDING_TABLES }); }],
  ['SAVE_PENDING_TABLES on a GICv3', 'ok:undefined', (e) => { const g = createGicV3(e.vm, 2); g.setAttr({ group: G.GRP_CTRL, attr: G.SAVE_PENDING_TABLES }); }],
];

const u32 = (v: number) => Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
const distReg = (g: Device, off: number) => new DataView(g.getAttrBytes({ group: G.GRP_DIST_REGS, attr: off }, 4).buffer).getUint32(0, true);
const redistReg = (g: Device, vcpu: number, off: number) => new DataView(g.getAttrBytes({ group: G.GRP_REDIST_REGS, attr: (BigInt(vcpu) << 32n) | BigInt(off) }, 4).buffer).getUint32(0, true);
const setRedistReg = (g: Device, vcpu: number, off: number, v: number) => g.setAttr({ group: G.GRP_REDIST_REGS, attr: (BigInt(vcpu) << 32n) | BigInt(off) }, u32(v));

// ---- a guest-less ITS: tables in guest RAM, commands through ITS_REGS -------------------------------

const PROP = RAM + 0x10_0000;
const PEND = (v: number) => RAM + 0x20_0000 + v * 0x1_0000;
const DEVT = RAM + 0x30_0000;
const COLLT = RAM + 0x31_0000;
const CMDQ = RAM + 0x32_0000;
const ITT = RAM + 0x33_0000;

/** The last GICv3 device created by gicIts / enabledIts (to reach its redistributors). */
const gicOf = new WeakMap<Env, Device>();

/** A GICv3 + ITS with its tables valid, a 4K command queue, and the ITS enabled. */
function enabledIts(e: Env): Device {
  const gic = createGicV3(e.vm, e.vcpus.length);
  gicOf.set(e, gic);
  const d = itsDev(e);
  itsAddr(d, ITS);
  setReg(d, GITS.BASER0, (1n << 63n) | BigInt(DEVT));
  setReg(d, GITS.BASER1, (1n << 63n) | BigInt(COLLT));
  setReg(d, GITS.CBASER, (1n << 63n) | BigInt(CMDQ));
  setReg(d, GITS.CTLR, 1);
  return d;
}

/** Issues ITS commands (4 u64 words each) through CWRITER; returns once the ITS consumed them. */
function commands(e: Env, d: Device, ...cmds: bigint[][]): void {
  let w = Number(reg(d, GITS.CWRITER));
  const dv = new DataView(e.ram.buffer, e.ram.byteOffset);
  for (const c of cmds) {
    c.forEach((x, i) => dv.setBigUint64(CMDQ - RAM + w + 8 * i, x, true));
    w = (w + 32) % 0x1000;
  }
  setReg(d, GITS.CWRITER, w);
  expect(reg(d, GITS.CREADR)).toBe(BigInt(w));
}
const MAPD = (dev: number, bits: number, itt: number, v = 1) => [0x08n | (BigInt(dev) << 32n), BigInt(bits - 1), (BigInt(v) << 63n) | BigInt(itt), 0n];
const MAPC = (coll: number, rd: number, v = 1) => [0x09n, 0n, (BigInt(v) << 63n) | (BigInt(rd) << 16n) | BigInt(coll), 0n];
const MAPTI = (dev: number, ev: number, lpi: number, coll: number) => [0x0an | (BigInt(dev) << 32n), BigInt(ev) | (BigInt(lpi) << 32n), BigInt(coll), 0n];
const MOVI = (dev: number, ev: number, coll: number) => [0x01n | (BigInt(dev) << 32n), BigInt(ev), BigInt(coll), 0n];
const MOVALL = (from: number, to: number) => [0x0en, 0n, BigInt(from) << 16n, BigInt(to) << 16n];
const DISCARD = (dev: number, ev: number) => [0x0fn | (BigInt(dev) << 32n), BigInt(ev), 0n, 0n];
const INT = (dev: number, ev: number) => [0x03n | (BigInt(dev) << 32n), BigInt(ev), 0n, 0n];
const CLEAR = (dev: number, ev: number) => [0x04n | (BigInt(dev) << 32n), BigInt(ev), 0n, 0n];

/**
 * Redistributor tables for every vCPU (PROPBASER 16 bits, PENDBASER), LPIs enabled (unless
 * `enable` is false), then MAPD(dev) + MAPC(coll -> vCPU rd) + MAPTI(dev, ev -> lpi, coll).
 */
function mapEvent(e: Env, d: Device, dev: number, ev: number, lpi: number, rd: number, enable = true): void {
  const gic = gicOf.get(e)!;
  e.ram[PROP - RAM + lpi - 8192] = 0xa1;
  e.vcpus.forEach((_v, i) => {
    setRedistReg(gic, i, 0x70, PROP | 15);
    setRedistReg(gic, i, 0x78, PEND(i));
    if (enable) setRedistReg(gic, i, 0, 1);
  });
  commands(e, d, MAPD(dev, 8, ITT), MAPC(0, rd), MAPTI(dev, ev, lpi, 0));
}

/**
 * SAVE_PENDING_TABLES into zeroed tables (the save writes only the target's table, as the
 * kernel's), then the pending bit of `lpi` in vCPU `v`'s table.
 */
function pendingIn(e: Env, v: number, lpi: number): number {
  e.vcpus.forEach((_x, i) => (e.ram[PEND(i) - RAM + (lpi >> 3)] = 0));
  gicOf.get(e)!.setAttr({ group: G.GRP_CTRL, attr: G.SAVE_PENDING_TABLES });
  return (e.ram[PEND(v) - RAM + (lpi >> 3)]! >> (lpi & 7)) & 1;
}

describe('the ITS errno table (Linux 6.12)', () => {
  it.each(cases)('%s -> %s', (_name, expected, action) => {
    expect(outcome(() => action(env()))).toBe(expected);
  });
});

describe('ITS commands from userspace, seen through the pending tables', () => {
  it('an MSI makes the LPI pending on its collection\'s vCPU; MAPC, MOVI and MOVALL move it', () => {
    const e = env(2);
    const d = enabledIts(e);
    mapEvent(e, d, 3, 5, 8200, 0);
    expect(msi(e, 5, { devid: 3 })).toBe(1);
    expect([pendingIn(e, 0, 8200), pendingIn(e, 1, 8200)]).toEqual([1, 0]);
    // MAPC of the same collection to vCPU 1: its LPIs follow (update_affinity_collection).
    commands(e, d, MAPC(0, 1));
    expect([pendingIn(e, 0, 8200), pendingIn(e, 1, 8200)]).toEqual([0, 1]);
    // MOVI to collection 2 on vCPU 0.
    commands(e, d, MAPC(2, 0), MOVI(3, 5, 2));
    expect([pendingIn(e, 0, 8200), pendingIn(e, 1, 8200)]).toEqual([1, 0]);
    // MOVALL 0 -> 1 moves every LPI targeting vCPU 0.
    commands(e, d, MOVALL(0, 1));
    expect([pendingIn(e, 0, 8200), pendingIn(e, 1, 8200)]).toEqual([0, 1]);
    // CLEAR drops the pending state; INT sets it again; DISCARD unmaps the event.
    commands(e, d, CLEAR(3, 5));
    expect(pendingIn(e, 1, 8200)).toBe(0);
    commands(e, d, INT(3, 5));
    expect(pendingIn(e, 1, 8200)).toBe(1);
    commands(e, d, DISCARD(3, 5));
    expect(msi(e, 5, { devid: 3 })).toBe(0);
    // The ITE was zeroed in the ITT (vgic_its_cmd_handle_discard).
    expect(new DataView(e.ram.buffer, e.ram.byteOffset).getBigUint64(ITT - RAM + 5 * 8, true)).toBe(0n);
  });

  it('an irqfd routed as an MSI raises the LPI; a MAPD with V=0 unmaps the device', () => {
    const e = env(1);
    const d = enabledIts(e);
    mapEvent(e, d, 1, 2, 8193, 0);
    e.vm.setGsiRouting([{ gsi: 4, type: 'msi', addressLo: DB, data: 2, devid: 1, flags: KVM_MSI.VALID_DEVID }]);
    const fd = EventFd.create(e.vm.sys);
    e.vm.irqfd({ fd, gsi: 4 });
    fd.signal();
    expect(pendingIn(e, 0, 8193)).toBe(1);
    commands(e, d, CLEAR(1, 2), MAPD(1, 8, ITT, 0));
    expect(msi(e, 2, { devid: 1 })).toBe(0);
  });

  it('ITS_SAVE_TABLES writes the ABI revision 0 entries; ITS_RESTORE_TABLES rebuilds the mappings', () => {
    const e = env(2);
    const d = enabledIts(e);
    mapEvent(e, d, 3, 5, 8200, 1);
    commands(e, d, MAPTI(3, 7, 8201, 0), MAPD(9, 4, ITT + 0x1000), MAPC(4, 0), MAPTI(9, 0, 8202, 4));
    ctrl(d, ITS_CTRL.SAVE_TABLES);
    const dv = new DataView(e.ram.buffer, e.ram.byteOffset);
    const q = (gpa: number) => dv.getBigUint64(gpa - RAM, true);
    // DTE: valid | next device offset (9 - 3) << 49 | ITT >> 8 << 5 | event bits - 1.
    expect(q(DEVT + 3 * 8)).toBe((1n << 63n) | (6n << 49n) | (BigInt(ITT >> 8) << 5n) | 7n);
    expect(q(DEVT + 9 * 8)).toBe((1n << 63n) | (BigInt((ITT + 0x1000) >> 8) << 5n) | 3n);
    // ITE: next event offset << 48 | LPI << 16 | collection.
    expect(q(ITT + 5 * 8)).toBe((2n << 48n) | (8200n << 16n) | 0n);
    expect(q(ITT + 7 * 8)).toBe((8201n << 16n) | 0n);
    expect(q(ITT + 0x1000)).toBe((8202n << 16n) | 4n);
    // CTEs in list order, then an invalid one: valid | target vcpu_id << 16 | collection.
    expect([q(COLLT), q(COLLT + 8), q(COLLT + 16)]).toEqual([(1n << 63n) | (1n << 16n) | 0n, (1n << 63n) | 4n, 0n]);

    // A new VM restores the registers (QEMU's order), the guest RAM, the tables.
    const regs = [GITS.IIDR, GITS.CBASER, GITS.CREADR, GITS.CWRITER, GITS.BASER0, GITS.BASER1, GITS.CTLR].map((o) => [o, reg(d, o)] as const);
    const e2 = env(2);
    const gic2 = createGicV3(e2.vm, 2);
    gicOf.set(e2, gic2);
    const d2 = itsDev(e2);
    itsAddr(d2, ITS);
    e2.ram.set(e.ram);
    e2.vcpus.forEach((_v, i) => {
      setRedistReg(gic2, i, 0x70, PROP | 15);
      setRedistReg(gic2, i, 0x78, PEND(i));
      setRedistReg(gic2, i, 0, 1);
    });
    for (const [o, v] of regs) if (o !== GITS.CTLR && o !== GITS.CREADR && o !== GITS.CWRITER) setReg(d2, o, v);
    setReg(d2, GITS.CREADR, regs[2]![1]);
    setReg(d2, GITS.CWRITER, regs[3]![1]);
    ctrl(d2, ITS_CTRL.RESTORE_TABLES);
    setReg(d2, GITS.CTLR, regs[6]![1]);
    expect(reg(d2, GITS.CTLR)).toBe(0x8000_0001n);
    expect(msi(e2, 5, { devid: 3 })).toBe(1);
    expect(msi(e2, 0, { devid: 9 })).toBe(1);
    expect(msi(e2, 1, { devid: 9 })).toBe(0);
    expect([pendingIn(e2, 1, 8200), pendingIn(e2, 0, 8202), pendingIn(e2, 0, 8201)]).toEqual([1, 1, 0]);
    // Restoring again finds the collections already there (vgic_its_restore_cte: EEXIST).
    expect(outcome(() => ctrl(d2, ITS_CTRL.RESTORE_TABLES))).toBe('EEXIST');
    // A corrupt ITE (an LPI below 8192) fails the restore with EINVAL and leaves nothing mapped.
    const e3 = env(2);
    const gic3 = createGicV3(e3.vm, 2);
    const d3 = itsDev(e3);
    e3.vcpus.forEach((_v, i) => {
      setRedistReg(gic3, i, 0x70, PROP | 15);
      setRedistReg(gic3, i, 0x78, PEND(i));
    });
    itsAddr(d3, ITS);
    e3.ram.set(e.ram);
    new DataView(e3.ram.buffer, e3.ram.byteOffset).setBigUint64(ITT + 7 * 8 - RAM, 100n << 16n, true);
    for (const [o, v] of regs) if (o === GITS.BASER0 || o === GITS.BASER1 || o === GITS.CBASER) setReg(d3, o, v);
    expect(outcome(() => ctrl(d3, ITS_CTRL.RESTORE_TABLES))).toBe('EINVAL');
  });
});

void GICR;
