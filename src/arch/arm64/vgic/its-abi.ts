/**
 * ITS_SAVE_TABLES / ITS_RESTORE_TABLES: the device table, ITTs and collection table in guest
 * memory in the format of ABI revision 0 (vgic_its_save_tables_v0 / vgic_its_restore_tables_v0).
 * @module
 */
import { addLpi } from './its-lpi.js';
import { BASER_INDIRECT, BASER_VALID, COLLECTION_NOT_MAPPED, EEXIST, EFAULT, EINVAL, ESZ, type Its, type ItsDevice, SZ_64K, VITS_DTE_MAX_DEVID_OFFSET, VITS_ITE_MAX_EVENTID_OFFSET, VITS_TYPER_IDBITS, baserAddr, baserPages, readU64, writeU64 } from './its-state.js';
import { allocCollection, checkEventId, checkId, collectionMapped, findCollection, freeCollectionList, freeDevice, freeDeviceList, vcpuIndexById } from './its-tables.js';
import { LPI_BASE } from './vgic.js';

// ---- save / restore of the tables (ABI revision 0) ------------------------------------------------

/** vgic_its_save_tables_v0: device table + ITTs, then the collection table. */
export function saveTables(its: Its): number {
  return saveDeviceTables(its) || saveCollectionTable(its);
}

function saveDeviceTables(its: Its): number {
  const baser = its.baserDevice;
  if (!(baser & BASER_VALID)) return 0;
  its.devices.sort((a, b) => a.id - b.id);
  for (let n = 0; n < its.devices.length; n++) {
    const dev = its.devices[n]!;
    const out = { gpa: 0 };
    if (!checkId(its, baser, dev.id, out)) continue;
    // The ITT, in event order.
    dev.ites.sort((a, b) => a.eventId - b.eventId);
    for (let k = 0; k < dev.ites.length; k++) {
      const ite = dev.ites[k]!;
      const gpa = dev.ittAddr + ite.eventId * ESZ;
      let val = 0n;
      if (ite.collection) {
        const next = k + 1 < dev.ites.length ? Math.min(dev.ites[k + 1]!.eventId - ite.eventId, VITS_ITE_MAX_EVENTID_OFFSET) : 0;
        val = (BigInt(next) << 48n) | (BigInt(ite.intid) << 16n) | BigInt(ite.collection.id);
      }
      const r = writeU64(its.vm, gpa, val);
      if (r) return r;
    }
    // compute_next_devid_offset: the next device the table can hold.
    let next = 0;
    for (let m = n + 1; m < its.devices.length; m++) {
      if (checkId(its, baser, its.devices[m]!.id)) {
        next = Math.min(its.devices[m]!.id - dev.id, VITS_DTE_MAX_DEVID_OFFSET);
        break;
      }
    }
    const dte = (1n << 63n) | (BigInt(next) << 49n) | (BigInt(Math.floor(dev.ittAddr / 256)) << 5n) | BigInt(dev.eventBits - 1);
    const r = writeU64(its.vm, out.gpa, dte);
    if (r) return r;
  }
  return 0;
}

function saveCollectionTable(its: Its): number {
  const baser = its.baserColl;
  if (!(baser & BASER_VALID)) return 0;
  let gpa = baserAddr(baser);
  const max = baserPages(baser) * SZ_64K;
  let filled = 0;
  for (const c of its.collections) {
    const r = writeU64(its.vm, gpa, (1n << 63n) | (BigInt(c.target) << 16n) | BigInt(c.id));
    if (r) return r;
    gpa += ESZ;
    filled += ESZ;
  }
  if (filled === max) return 0;
  return writeU64(its.vm, gpa, 0n);
}

/** vgic_its_restore_tables_v0: collections, then devices with their ITTs. */
export function restoreTables(its: Its): number {
  let r = restoreCollectionTable(its);
  if (r) return r;
  r = restoreDeviceTables(its);
  if (r) freeCollectionList(its);
  return r;
}

function restoreCollectionTable(its: Its): number {
  const baser = its.baserColl;
  if (!(baser & BASER_VALID)) return 0;
  let gpa = baserAddr(baser);
  const max = baserPages(baser) * SZ_64K;
  let read = 0;
  let ret = 1;
  while (read < max) {
    ret = restoreCte(its, gpa);
    if (ret <= 0) break;
    gpa += ESZ;
    read += ESZ;
  }
  if (ret > 0) return 0;
  if (ret < 0) freeCollectionList(its);
  return ret;
}

function restoreCte(its: Its, gpa: number): number {
  const val = readU64(its.vm, gpa);
  if (val === null) return EFAULT;
  if (!(val & (1n << 63n))) return 0;
  const target = Number((val >> 16n) & 0xffff_ffffn);
  const id = Number(val & 0xffffn);
  if (target !== COLLECTION_NOT_MAPPED && vcpuIndexById(its.vm, target) < 0) return EINVAL;
  if (findCollection(its, id)) return EEXIST;
  if (!checkId(its, its.baserColl, id)) return EINVAL;
  allocCollection(its, id).target = target;
  return 1;
}

/** scan_its_table: `fn` per entry from `base`, stepping by the offsets it returns. <0 error, 0 last entry, 1 end. */
function scanTable(its: Its, base: number, size: number, startId: number, fn: (id: number, entry: bigint) => number): number {
  let len = size;
  let id = startId;
  let gpa = base;
  for (;;) {
    const entry = readU64(its.vm, gpa);
    if (entry === null) return EFAULT;
    const next = fn(id, entry);
    if (next <= 0) return next;
    const bytes = next * ESZ;
    if (bytes >= len) break;
    id += next;
    gpa += bytes;
    len -= bytes;
  }
  return 1;
}

function restoreDeviceTables(its: Its): number {
  const baser = its.baserDevice;
  if (!(baser & BASER_VALID)) return 0;
  const l1 = baserAddr(baser);
  const size = baserPages(baser) * SZ_64K;
  let ret: number;
  if (baser & BASER_INDIRECT) {
    ret = scanTable(its, l1, size, 0, (id, entry) => {
      if (!(entry & (1n << 63n))) return 1;
      return scanTable(its, Number(entry & 0x000f_ffff_ffff_0000n), SZ_64K, id * (SZ_64K / ESZ), (i, e) => restoreDte(its, i, e));
    });
  } else ret = scanTable(its, l1, size, 0, (id, e) => restoreDte(its, id, e));
  if (ret > 0) ret = 0;
  if (ret < 0) freeDeviceList(its);
  return ret;
}

function restoreDte(its: Its, id: number, entry: bigint): number {
  if (!(entry >> 63n)) return 1;
  const bits = Number(entry & 0x1fn) + 1;
  const itt = Number((entry & 0x0001_ffff_ffff_ffe0n) >> 5n) * 256;
  const offset = Number((entry >> 49n) & 0x3fffn);
  if (bits > VITS_TYPER_IDBITS) return EINVAL;
  if (!checkId(its, its.baserDevice, id)) return EINVAL;
  const dev: ItsDevice = { id, ittAddr: itt, eventBits: bits, ites: [] };
  its.devices.push(dev);
  let r = scanTable(its, itt, 2 ** bits * ESZ, 0, (eventId, e) => restoreIte(its, dev, eventId, e));
  if (r > 0) r = 0;
  if (r) {
    freeDevice(its, dev);
    return r;
  }
  return offset;
}

function restoreIte(its: Its, dev: ItsDevice, eventId: number, val: bigint): number {
  const collId = Number(val & 0xffffn);
  const lpi = Number((val >> 16n) & 0xffff_ffffn);
  if (!lpi) return 1;
  if (lpi < LPI_BASE) return EINVAL;
  const offset = Number(val >> 48n);
  if (eventId + offset >= 2 ** dev.eventBits) return EINVAL;
  const col = findCollection(its, collId);
  if (!col) return EINVAL;
  if (!checkEventId(its, dev, eventId)) return EINVAL;
  const v = collectionMapped(col) ? vcpuIndexById(its.vm, col.target) : -1;
  const s = addLpi(its.vm, lpi, v);
  if (s < 0) return s;
  dev.ites.push({ eventId, slot: s, intid: lpi, collection: col });
  return offset;
}
