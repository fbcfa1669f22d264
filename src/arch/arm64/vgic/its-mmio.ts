/**
 * The ITS's 128 KiB register frame on the MMIO bus (the its_registers table of vgic-its.c):
 * GITS_CTLR/IIDR/TYPER/CBASER/CWRITER/CREADR/BASER<n> and the ID registers, with the userspace
 * accessors KVM_DEV_ARM_VGIC_GRP_ITS_REGS uses.
 * @module
 */
import type { IoDevice } from '../../../kernel/iobus.js';
import { processCommands } from './its-cmd.js';
import { BASER_ENTRY_SIZE_MASK, BASER_ENTRY_SIZE_SHIFT, BASER_INDIRECT, BASER_PAGE_SIZE_64K, BASER_PAGE_SIZE_MASK, BASER_RO_MASK, BASER_TYPE_COLLECTION, BASER_TYPE_DEVICE, BASER_TYPE_SHIFT, BASER_VALID, CBASER_VALID, EBUSY, EINVAL, ESZ, GITS_CTLR_ENABLE, GITS_CTLR_QUIESCENT, type Its, NR_ITS_ABIS, VITS_TYPER_DEVBITS, VITS_TYPER_IDBITS, cmdBufSize, cmdOffset } from './its-state.js';
import { freeCollectionList, freeDeviceList } from './its-tables.js';
import { sanitiseBaser, update64 } from './v3.js';

export const GITS = { CTLR: 0x0, IIDR: 0x4, TYPER: 0x8, CBASER: 0x80, CWRITER: 0x88, CREADR: 0x90, BASER: 0x100, IDREGS: 0xffd0, PIDR4: 0xffd0 } as const;
const PRODUCT_ID_KVM = 0x4b;
const IMPLEMENTER_ARM = 0x43b;

interface ItsRegion {
  readonly off: number;
  readonly len: number;
  /** 8: 64-bit and 32-bit accesses; 4: 32-bit only. */
  readonly width: 4 | 8;
  read(its: Its, addr: number): bigint;
  write(its: Its, addr: number, len: number, val: bigint): void;
  uwrite?(its: Its, addr: number, val: bigint): number;
}

function typer(its: Its): bigint {
  void its;
  return 1n | (BigInt(VITS_TYPER_DEVBITS - 1) << 13n) | (BigInt(VITS_TYPER_IDBITS - 1) << 8n) | (BigInt(ESZ - 1) << 4n);
}

/** vgic_its_set_abi / vgic_its_commit_v0: the entry sizes in the BASERs. */
export function setAbi(its: Its, rev: number): number {
  its.abiRev = rev;
  const sz = BigInt(ESZ - 1) << BASER_ENTRY_SIZE_SHIFT;
  its.baserColl = (its.baserColl & ~BASER_ENTRY_SIZE_MASK) | sz;
  its.baserDevice = (its.baserDevice & ~BASER_ENTRY_SIZE_MASK) | sz;
  return 0;
}

const IDREGS: Record<number, number> = { 0xffe0: 0x92, 0xffe4: 0xb4, 0xffe8: 0x3b, 0xffd0: 0x40, 0xfff0: 0x0d, 0xfff4: 0xf0, 0xfff8: 0x05, 0xfffc: 0xb1 };

const REGIONS: readonly ItsRegion[] = [
  {
    off: GITS.CTLR,
    len: 4,
    width: 4,
    read: (its) => BigInt((its.creadr === its.cwriter ? GITS_CTLR_QUIESCENT : 0) | (its.enabled ? GITS_CTLR_ENABLE : 0)) & 0xffff_ffffn,
    write: (its, _a, _l, val) => {
      // Enabling with an invalid CBASER or table is UNPREDICTABLE: ignored.
      if (!its.enabled && val & 1n && (!(its.baserDevice & BASER_VALID) || !(its.baserColl & BASER_VALID) || !(its.cbaser & CBASER_VALID))) return;
      its.enabled = (val & 1n) !== 0n;
      processCommands(its);
    },
  },
  {
    off: GITS.IIDR,
    len: 4,
    width: 4,
    read: (its) => BigInt(((its.abiRev << 12) & 0xf000) | (PRODUCT_ID_KVM << 24) | IMPLEMENTER_ARM),
    write: () => {},
    uwrite: (its, _a, val) => {
      const rev = Number((val >> 12n) & 0xfn);
      if (rev >= NR_ITS_ABIS) return EINVAL;
      return setAbi(its, rev);
    },
  },
  { off: GITS.TYPER, len: 8, width: 8, read: typer, write: () => {} },
  {
    off: GITS.CBASER,
    len: 8,
    width: 8,
    read: (its) => its.cbaser,
    write: (its, addr, len, val) => {
      if (its.enabled) return;
      let r = updateReg(its.cbaser, addr, len, val);
      r = sanitiseBaser(r, 10n, 59n, 53n) & ~(0xfn << 12n);
      its.cbaser = r;
      its.creadr = 0;
      its.cwriter = 0;
    },
  },
  {
    off: GITS.CWRITER,
    len: 8,
    width: 8,
    read: (its) => BigInt(its.cwriter),
    write: (its, addr, len, val) => {
      const r = cmdOffset(updateReg(BigInt(its.cwriter), addr, len, val));
      if (r >= cmdBufSize(its.cbaser)) return;
      its.cwriter = r;
      processCommands(its);
    },
  },
  {
    off: GITS.CREADR,
    len: 8,
    width: 8,
    read: (its) => BigInt(its.creadr),
    write: () => {},
    uwrite: (its, _a, val) => {
      if (its.enabled) return EBUSY;
      const off = cmdOffset(val);
      if (off >= cmdBufSize(its.cbaser)) return EINVAL;
      its.creadr = off;
      return 0;
    },
  },
  {
    off: GITS.BASER,
    len: 0x40,
    width: 8,
    read: (its, addr) => {
      const i = ((addr - GITS.BASER) >> 3) & 7;
      return i === 0 ? its.baserDevice : i === 1 ? its.baserColl : 0n;
    },
    write: (its, addr, len, val) => {
      if (its.enabled) return;
      const i = ((addr - GITS.BASER) >> 3) & 7;
      if (i > 1) return;
      const old = i === 0 ? its.baserDevice : its.baserColl;
      let r = updateReg(old, addr, len, val) & ~BASER_RO_MASK;
      if (i === 1) r &= ~BASER_INDIRECT;
      r |= (BigInt(ESZ - 1) << BASER_ENTRY_SIZE_SHIFT) | ((i === 0 ? BASER_TYPE_DEVICE : BASER_TYPE_COLLECTION) << BASER_TYPE_SHIFT);
      r = sanitiseBaser(r, 10n, 59n, 53n);
      r = (r & ~BASER_PAGE_SIZE_MASK) | BASER_PAGE_SIZE_64K;
      if (i === 0) its.baserDevice = r;
      else its.baserColl = r;
      // An unchanged value (the driver's resume) keeps the tables.
      if (r !== old) {
        if (i === 0) freeDeviceList(its);
        else freeCollectionList(its);
      }
    },
  },
  { off: GITS.IDREGS, len: 0x30, width: 4, read: (_its, addr) => BigInt(IDREGS[addr] ?? 0), write: () => {} },
];

/** update_64bit_reg with a 64-bit value: the bytes at (addr & 7) of `len`. */
function updateReg(reg: bigint, addr: number, len: number, val: bigint): bigint {
  if (len === 8) return BigInt.asUintN(64, val);
  const lo = Number(val & 0xffff_ffffn);
  return update64(reg, addr & 4, 4, lo, 0);
}

/** vgic_find_mmio_region */
export const findRegion = (off: number) => REGIONS.find((r) => off >= r.off && off < r.off + r.len);

/** A guest access's region: the width must be one it allows and the access aligned (check_region). */
function accessRegion(off: number, len: number): ItsRegion | undefined {
  const r = findRegion(off);
  if (!r) return undefined;
  if (len !== 4 && !(len === 8 && r.width === 8)) return undefined;
  if (off % len !== 0) return undefined;
  return r;
}

/** extract_bytes */
export const extract = (reg: bigint, off: number, len: number) => (reg >> BigInt((off & 7) * 8)) & (len === 8 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn);

export function itsFrame(its: Its): IoDevice {
  return {
    read(_vcpu, addr, len, data) {
      const off = addr - its.base;
      const r = accessRegion(off, len);
      const v = r ? extract(r.read(its, off), r.width === 8 ? off : 0, len) : 0n;
      const dv = new DataView(data.buffer, data.byteOffset, 8);
      dv.setBigUint64(0, v, true);
      return true;
    },
    write(_vcpu, addr, len, data) {
      const off = addr - its.base;
      const r = accessRegion(off, len);
      if (!r) return true;
      const dv = new DataView(data.buffer, data.byteOffset, 8);
      const v = len === 8 ? dv.getBigUint64(0, true) : BigInt(dv.getUint32(0, true));
      r.write(its, off, len, v);
      return true;
    },
  };
}
