/**
 * The GICv3 ITS (arch/arm64/kvm/vgic/vgic-its.c) and the LPI table accesses of the redistributors
 * (vgic-v3.c, vgic-mmio-v3.c): KVM_CREATE_DEVICE of KVM_DEV_TYPE_ARM_VGIC_ITS with its groups ADDR
 * (KVM_VGIC_ITS_ADDR_TYPE), CTRL (INIT, RESET, ITS_SAVE_TABLES, ITS_RESTORE_TABLES) and ITS_REGS;
 * the 128 KiB frame (GITS_CTLR/IIDR/TYPER/CBASER/CWRITER/CREADR/BASER<n>, ID registers) on the
 * VM's MMIO bus; the command queue (MAPD, MAPC, MAPTI, MAPI, MOVI, DISCARD, INV, INVALL, INT,
 * CLEAR, SYNC, MOVALL); MSIs by device ID and event ID (KVM_SIGNAL_MSI, MSI routes); the table
 * format of ABI revision 0 that ITS_SAVE_TABLES writes and ITS_RESTORE_TABLES reads; and the LPI
 * configuration and pending tables in guest memory (GICR_PROPBASER / GICR_PENDBASER, INV, INVALL,
 * EnableLPIs, KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES).
 *
 * The ITS state (devices, ITEs, collections, registers) is the owner thread's: every access that
 * reaches it runs there (guest MMIO from a worker's vCPU is forwarded to the owner's bus; the
 * ioctls are the owner's). The LPIs themselves are slots of the shared VgicState (vgic.ts), so
 * any thread acknowledges them through ICC_IAR1_EL1.
 *
 * As in KVM, a guest (CPU) write to GITS_TRANSLATER is not an MSI: the frame has no register
 * there (RAZ/WI). MSIs come from the VMM: KVM_SIGNAL_MSI, or irqfds routed as MSIs, with the
 * doorbell address anywhere in the ITS frame and KVM_MSI_VALID_DEVID.
 *
 * This file is the device (kvm_device_ops and its attributes); the rest of vgic-its.c is split
 * along its seams: its-state.ts (struct vgic_its, register fields, guest memory), its-lpi.ts (the
 * redistributors' LPI tables), its-tables.ts (device/collection/ITE lookup), its-cmd.ts (the
 * command queue and MSIs), its-mmio.ts (the register frame), its-abi.ts (table save/restore).
 * @module
 */
import type { DeviceAttr, KvmDevice, KvmDeviceOps } from '../../../kernel/device.js';
import { KVM_BUS } from '../../../kernel/iobus.js';
import type { Vm } from '../../../kernel/vm.js';
import type { ErrnoCode } from '../../../sys/errno.js';
import { KvmError } from '../../../sys/error.js';
import { KVM_DEV_ARM_ITS, KVM_DEV_ARM_VGIC, KVM_VGIC } from '../../../uapi/arm64.js';
import { checkIorange, vgicOf } from './device.js';
import { restoreTables, saveTables } from './its-abi.js';
import { installLpiHooks, setPropbaser } from './its-lpi.js';
import { GITS, extract, findRegion, itsFrame, setAbi } from './its-mmio.js';
import { BASER_VALID, INITIAL_PROPBASER, Its, NR_ITS_ABIS, SZ_64K, UNDEF, itsList, itsesOf, vgicHasIts } from './its-state.js';
import { freeCollectionList, freeDeviceList } from './its-tables.js';
import { GIC_V3, H } from './vgic.js';

export { itsSetMsi } from './its-cmd.js';
export { savePendingTables } from './its-lpi.js';
export { msisRequireDevid } from './its-state.js';

/** PROPBASER set by an ITS created before the vGIC's state existed (dist->propbaser). */
const pendingPropbaser = new WeakSet<Vm>();

/**
 * Brings a just-initialized (or already initialized) vGIC's state in line with the ITSes:
 * dist->has_its and the PROPBASER an ITS's creation set; installs the LPI hooks.
 */
export function itsSyncVgic(vm: Vm): void {
  const g = vgicOf(vm);
  if (g === null || g.model !== GIC_V3) return;
  g.hdr[H.HAS_ITS] = vgicHasIts(vm) ? 1 : 0;
  if (pendingPropbaser.has(vm)) {
    pendingPropbaser.delete(vm);
    setPropbaser(g, INITIAL_PROPBASER);
  }
  installLpiHooks(vm, g);
}

/** vgic_its_reset */
function resetIts(its: Its): void {
  its.baserColl &= ~BASER_VALID;
  its.baserDevice &= ~BASER_VALID;
  its.cbaser = 0n;
  its.creadr = 0;
  its.cwriter = 0;
  its.enabled = false;
  freeDeviceList(its);
  freeCollectionList(its);
}

// ---- the device -----------------------------------------------------------------------------------

const err = (code: ErrnoCode, message?: string) => KvmError.of(code, 'ioctl', message ? { message } : {});
const fail = (negErrno: number) => new KvmError(-negErrno, 'ioctl');
const itsOfDev = (dev: KvmDevice) => dev.state as Its;

function anyVcpuAway(vm: Vm): boolean {
  for (const v of vm.vcpus.values()) if (v.away !== null) return true;
  return false;
}

/** The 32-bit registers (CTLR, IIDR, ID registers) take 4-byte-aligned offsets, the others 8. */
const regAlign = (off: bigint) => (off < BigInt(GITS.TYPER) || off >= BigInt(GITS.PIDR4) ? 3n : 7n);

/** vgic_its_attr_regs_access */
function regsAccess(dev: KvmDevice, attr: DeviceAttr, write: boolean, val: bigint): bigint {
  const its = itsOfDev(dev);
  const off = attr.attr;
  if (off & regAlign(off)) throw err('EINVAL', 'unaligned ITS register');
  if (anyVcpuAway(dev.vm)) throw err('EBUSY', 'a vCPU is running');
  if (its.base === UNDEF) throw err('ENXIO', 'the ITS has no address');
  const r = off < 0x20000n ? findRegion(Number(off)) : undefined;
  if (!r) throw err('ENXIO', 'no such ITS register');
  const o = Number(off);
  const len = r.width;
  if (write) {
    if (r.uwrite) {
      const e = r.uwrite(its, o, val);
      if (e) throw fail(e);
    } else r.write(its, o, len, val);
    return 0n;
  }
  return extract(r.read(its, o), len === 8 ? o : 0, len);
}

const itsOps: KvmDeviceOps = {
  name: 'kvm-arm-vgic-its',
  create(dev) {
    // vgic_its_create: dist->msis_require_devid, dist->has_its, the initial PROPBASER.
    const vm = dev.vm;
    const its = new Its(vm);
    setAbi(its, NR_ITS_ABIS - 1);
    dev.state = its;
    itsList.set(vm, [...itsesOf(vm), its]);
    const g = vgicOf(vm);
    if (g !== null && g.model === GIC_V3) setPropbaser(g, INITIAL_PROPBASER);
    else pendingPropbaser.add(vm);
    itsSyncVgic(vm);
    vm.bumpView();
  },
  setAttr(dev, attr) {
    const its = itsOfDev(dev);
    const vm = dev.vm;
    switch (attr.group) {
      case KVM_DEV_ARM_VGIC.GRP_ADDR: {
        if (attr.attr !== BigInt(KVM_VGIC.ITS_ADDR_TYPE)) throw err('ENODEV', 'not KVM_VGIC_ITS_ADDR_TYPE');
        const u = dev.user(attr, 8);
        const addr = new DataView(u.buffer, u.byteOffset, 8).getBigUint64(0, true);
        checkIorange(vm, its.base, addr, SZ_64K, KVM_VGIC.V3_ITS_SIZE);
        its.base = Number(addr);
        its.frame = itsFrame(its);
        vm.buses[KVM_BUS.MMIO]!.register(its.base, KVM_VGIC.V3_ITS_SIZE, its.frame);
        vm.bumpView();
        return 0;
      }
      case KVM_DEV_ARM_VGIC.GRP_CTRL: {
        if (attr.attr === BigInt(KVM_DEV_ARM_VGIC.CTRL_INIT)) return 0;
        if (anyVcpuAway(vm)) throw err('EBUSY', 'a vCPU is running');
        let r = 0;
        if (attr.attr === BigInt(KVM_DEV_ARM_ITS.CTRL_RESET)) resetIts(its);
        else if (attr.attr === BigInt(KVM_DEV_ARM_ITS.SAVE_TABLES)) r = saveTables(its);
        else if (attr.attr === BigInt(KVM_DEV_ARM_ITS.RESTORE_TABLES)) r = restoreTables(its);
        // (Any other CTRL attribute does nothing and succeeds, as vgic_its_ctrl.)
        if (r < 0) throw fail(r);
        return r;
      }
      case KVM_DEV_ARM_VGIC.GRP_ITS_REGS: {
        const u = dev.user(attr, 8);
        regsAccess(dev, attr, true, new DataView(u.buffer, u.byteOffset, 8).getBigUint64(0, true));
        return 0;
      }
      default:
        throw err('ENXIO');
    }
  },
  getAttr(dev, attr) {
    const its = itsOfDev(dev);
    switch (attr.group) {
      case KVM_DEV_ARM_VGIC.GRP_ADDR: {
        if (attr.attr !== BigInt(KVM_VGIC.ITS_ADDR_TYPE)) throw err('ENODEV', 'not KVM_VGIC_ITS_ADDR_TYPE');
        putU64(dev, attr, its.base === UNDEF ? 0xffff_ffff_ffff_ffffn : BigInt(its.base));
        return 0;
      }
      case KVM_DEV_ARM_VGIC.GRP_ITS_REGS: {
        const v = regsAccess(dev, attr, false, 0n);
        putU64(dev, attr, v);
        return 0;
      }
      default:
        throw err('ENXIO');
    }
  },
  hasAttr(_dev, attr) {
    switch (attr.group) {
      case KVM_DEV_ARM_VGIC.GRP_ADDR:
        if (attr.attr === BigInt(KVM_VGIC.ITS_ADDR_TYPE)) return 0;
        break;
      case KVM_DEV_ARM_VGIC.GRP_CTRL:
        if ([KVM_DEV_ARM_VGIC.CTRL_INIT, KVM_DEV_ARM_ITS.CTRL_RESET, KVM_DEV_ARM_ITS.SAVE_TABLES, KVM_DEV_ARM_ITS.RESTORE_TABLES].some((a) => attr.attr === BigInt(a))) return 0;
        break;
      case KVM_DEV_ARM_VGIC.GRP_ITS_REGS: {
        if (attr.attr & regAlign(attr.attr)) throw err('EINVAL', 'unaligned ITS register');
        if (attr.attr < 0x20000n && findRegion(Number(attr.attr))) return 0;
        throw err('ENXIO');
      }
      default:
        break;
    }
    throw err('ENXIO');
  },
};

function putU64(dev: KvmDevice, attr: DeviceAttr, v: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  dev.user(attr, 8).set(b);
}

/** The ITS's kvm_device_ops (KVM_DEV_TYPE_ARM_VGIC_ITS). */
export const vgicItsOps = itsOps;

/** For tests: the ITS state behind a VM (owner thread). */
export function itsesOfVm(vm: Vm): readonly Its[] {
  return itsesOf(vm);
}
