/**
 * The ITS's translation tables as the commands and the ABI see them (vgic-its.c): device,
 * collection and ITE lookup, the GITS_BASER<n> table bounds (vgic_its_check_id), and freeing.
 * @module
 */
import type { Vm } from '../../../kernel/vm.js';
import { vgicOf } from './device.js';
import { putLpi } from './its-lpi.js';
import { BASER_INDIRECT, BASER_TYPE_COLLECTION, BASER_TYPE_DEVICE, COLLECTION_NOT_MAPPED, type Collection, ESZ, type Ite, type Its, type ItsDevice, SZ_64K, VITS_MAX_DEVID, baserAddr, baserEsz, baserPages, baserType, readU64, visible } from './its-state.js';

/** kvm_get_vcpu_by_id -> the vCPU's index in the VgicState (-1: none). */
export function vcpuIndexById(vm: Vm, id: number): number {
  const v = vm.vcpus.get(id);
  return v === undefined ? -1 : v.index;
}

export const collectionMapped = (c: Collection | null | undefined): c is Collection => c != null && c.target !== COLLECTION_NOT_MAPPED;
export const findDevice = (its: Its, id: number) => its.devices.find((d) => d.id === id);
export const findCollection = (its: Its, id: number) => its.collections.find((c) => c.id === id);
export function findIte(its: Its, devid: number, eventId: number): Ite | undefined {
  return findDevice(its, devid)?.ites.find((i) => i.eventId === eventId);
}

/** vgic_its_check_id: whether `id` fits the (flat or two-level) table of `baser`; the entry's gpa in `out`. */
export function checkId(its: Its, baser: bigint, id: number, out?: { gpa: number }): boolean {
  const l1Size = baserPages(baser) * SZ_64K;
  const type = baserType(baser);
  const base = baserAddr(baser);
  const esz = baserEsz(baser);
  if (type === BASER_TYPE_DEVICE) {
    if (id > VITS_MAX_DEVID) return false;
  } else if (type === BASER_TYPE_COLLECTION) {
    if (id >= 1 << 16) return false;
  } else return false;
  if (!(baser & BASER_INDIRECT)) {
    if (id >= Math.floor(l1Size / esz)) return false;
    const addr = base + id * esz;
    if (out) out.gpa = addr;
    return visible(its.vm, addr);
  }
  let index = Math.floor(id / Math.floor(SZ_64K / esz));
  if (index >= l1Size / 8) return false;
  const l1 = readU64(its.vm, base + index * 8);
  if (l1 === null || !(l1 & (1n << 63n))) return false;
  index = id % Math.floor(SZ_64K / esz);
  const addr = Number(l1 & 0x000f_ffff_ffff_0000n) + index * esz;
  if (out) out.gpa = addr;
  return visible(its.vm, addr);
}

/** vgic_its_check_event_id */
export function checkEventId(its: Its, dev: ItsDevice, eventId: number): boolean {
  if (eventId >= 2 ** dev.eventBits) return false;
  return visible(its.vm, dev.ittAddr + eventId * ESZ);
}

export function allocCollection(its: Its, id: number): Collection {
  const c = { id, target: COLLECTION_NOT_MAPPED };
  its.collections.push(c);
  return c;
}

/** vgic_its_free_collection: its ITEs keep their LPIs but lose their collection. */
export function freeCollection(its: Its, id: number): void {
  const c = findCollection(its, id);
  if (!c) return;
  for (const d of its.devices) for (const i of d.ites) if (i.collection?.id === id) i.collection = null;
  its.collections.splice(its.collections.indexOf(c), 1);
}

export function freeIte(its: Its, dev: ItsDevice, ite: Ite): void {
  dev.ites.splice(dev.ites.indexOf(ite), 1);
  const g = vgicOf(its.vm);
  if (g !== null) putLpi(g, ite.slot);
}

export function freeDevice(its: Its, dev: ItsDevice): void {
  for (const i of [...dev.ites]) freeIte(its, dev, i);
  its.devices.splice(its.devices.indexOf(dev), 1);
}

export const freeDeviceList = (its: Its) => {
  for (const d of [...its.devices]) freeDevice(its, d);
};
export const freeCollectionList = (its: Its) => {
  for (const c of [...its.collections]) freeCollection(its, c.id);
};

/** The vCPU index a mapped collection targets (-1 if that vCPU does not exist). */
export const collectionVcpu = (its: Its, c: Collection) => vcpuIndexById(its.vm, c.target);
