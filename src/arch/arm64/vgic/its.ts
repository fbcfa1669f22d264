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
 * @module
 */
import type { DeviceAttr, KvmDevice, KvmDeviceOps } from '../../../kernel/device.js';
import type { MsiMessage } from '../../../kernel/irq.js';
import { KVM_BUS, type IoDevice } from '../../../kernel/iobus.js';
import type { Vm } from '../../../kernel/vm.js';
import { KvmError } from '../../../sys/error.js';
import type { ErrnoCode } from '../../../sys/errno.js';
import { KVM_MSI } from '../../../uapi/constants.js';
import { KVM_DEV_ARM_ITS, KVM_DEV_ARM_VGIC, KVM_VGIC } from '../../../uapi/arm64.js';
import type { Arm64VmState } from '../cpu.js';
import { checkIorange, vgicOf } from './device.js';
import { pendbaser, PTZ, sanitiseBaser, update64 } from './v3.js';
import { GIC_V3, H, LPI_BASE, PRI_MASK, type VgicState } from './vgic.js';

const PAGE = 4096;
const SZ_64K = 0x10000;
const UNDEF = -1;

/** INTERRUPT_ID_BITS_ITS, VITS_TYPER_IDBITS / DEVBITS and the table limits. */
const ID_BITS_ITS = 16;
const VITS_TYPER_IDBITS = 16;
const VITS_TYPER_DEVBITS = 16;
const VITS_MAX_DEVID = (1 << VITS_TYPER_DEVBITS) - 1;
const VITS_DTE_MAX_DEVID_OFFSET = (1 << 14) - 1;
const VITS_ITE_MAX_EVENTID_OFFSET = (1 << 16) - 1;
/** ABI revision 0: 8-byte device, collection and ITT entries. */
const ESZ = 8;
const NR_ITS_ABIS = 1;
const COLLECTION_NOT_MAPPED = 0xffffffff;

/** ITS command numbers (GITS_CMD_*). */
export const GITS_CMD = { MOVI: 0x01, INT: 0x03, CLEAR: 0x04, SYNC: 0x05, MAPD: 0x08, MAPC: 0x09, MAPTI: 0x0a, MAPI: 0x0b, INV: 0x0c, INVALL: 0x0d, MOVALL: 0x0e, DISCARD: 0x0f } as const;

/** The command errors (E_ITS_*): positive results, never reported to the guest by KVM. */
const E = {
  MOVI_UNMAPPED_INTERRUPT: 0x010107,
  MOVI_UNMAPPED_COLLECTION: 0x010109,
  INT_UNMAPPED_INTERRUPT: 0x010307,
  CLEAR_UNMAPPED_INTERRUPT: 0x010507,
  MAPD_DEVICE_OOR: 0x010801,
  MAPD_ITTSIZE_OOR: 0x010802,
  MAPC_PROCNUM_OOR: 0x010902,
  MAPC_COLLECTION_OOR: 0x010903,
  MAPTI_UNMAPPED_DEVICE: 0x010a04,
  MAPTI_ID_OOR: 0x010a05,
  MAPTI_PHYSICALID_OOR: 0x010a06,
  INV_UNMAPPED_INTERRUPT: 0x010c07,
  INVALL_UNMAPPED_COLLECTION: 0x010d09,
  MOVALL_PROCNUM_OOR: 0x010e01,
  DISCARD_UNMAPPED_INTERRUPT: 0x010f07,
} as const;
const EFAULT = -14;
const ENOMEM = -12;
const EBUSY = -16;
const EINVAL = -22;
const EEXIST = -17;
const ENODEV = -19;

// ---- register fields ------------------------------------------------------------------------------

const GITS_CTLR_ENABLE = 1;
const GITS_CTLR_QUIESCENT = 0x8000_0000;
const BASER_VALID = 1n << 63n;
const BASER_INDIRECT = 1n << 62n;
const BASER_TYPE_SHIFT = 56n;
const BASER_TYPE_DEVICE = 1n;
const BASER_TYPE_COLLECTION = 4n;
const BASER_ENTRY_SIZE_SHIFT = 48n;
const BASER_ENTRY_SIZE_MASK = 0x1fn << 48n;
/** GITS_BASER_RO_MASK: Entry_Size and Type. */
const BASER_RO_MASK = (0x1fn << 48n) | (7n << 56n);
const BASER_PAGE_SIZE_MASK = 3n << 8n;
const BASER_PAGE_SIZE_64K = 2n << 8n;
/** INITIAL_BASER_VALUE: inner RaWb, outer same as inner, inner shareable, 64K pages. */
const INITIAL_BASER = (3n << 59n) | (1n << 10n) | BASER_PAGE_SIZE_64K;
/** INITIAL_PROPBASER_VALUE: inner RaWb, outer same as inner, inner shareable. */
const INITIAL_PROPBASER = (3n << 7n) | (1n << 10n);
const CBASER_VALID = 1n << 63n;

const baserAddr = (b: bigint) => Number((b & 0x0000_ffff_ffff_0000n) | (((b >> 12n) & 0xfn) << 48n));
const baserPages = (b: bigint) => Number(b & 0xffn) + 1;
const baserEsz = (b: bigint) => Number((b >> BASER_ENTRY_SIZE_SHIFT) & 0x1fn) + 1;
const baserType = (b: bigint) => (b >> BASER_TYPE_SHIFT) & 7n;
const cmdBufSize = (cbaser: bigint) => (Number(cbaser & 0xffn) + 1) << 12;
const cmdOffset = (v: bigint) => Number(v & 0xf_ffe0n);

// ---- the ITS's state ------------------------------------------------------------------------------

interface Collection {
  readonly id: number;
  /** The vcpu_id of the redistributor (GITS_TYPER.PTA = 0), or COLLECTION_NOT_MAPPED. */
  target: number;
}

interface Ite {
  readonly eventId: number;
  /** The LPI's slot in the VgicState. */
  readonly slot: number;
  readonly intid: number;
  collection: Collection | null;
}

interface ItsDevice {
  readonly id: number;
  readonly ittAddr: number;
  readonly eventBits: number;
  ites: Ite[];
}

/** struct vgic_its */
export class Its {
  base = UNDEF;
  enabled = false;
  abiRev = 0;
  cbaser = 0n;
  creadr = 0;
  cwriter = 0;
  baserDevice = INITIAL_BASER | (BASER_TYPE_DEVICE << BASER_TYPE_SHIFT);
  baserColl = INITIAL_BASER | (BASER_TYPE_COLLECTION << BASER_TYPE_SHIFT);
  devices: ItsDevice[] = [];
  collections: Collection[] = [];
  frame: IoDevice | null = null;

  constructor(readonly vm: Vm) {}
}

const itsList = new WeakMap<Vm, Its[]>();
const itsesOf = (vm: Vm) => itsList.get(vm) ?? [];

const vgicCfg = (vm: Vm) => (vm.archState as Arm64VmState).vgic;

/** vgic_has_its: a GICv3 VM that has had an ITS created. */
export function vgicHasIts(vm: Vm): boolean {
  return vgicCfg(vm)?.model === GIC_V3 && itsesOf(vm).length > 0;
}

/** msis_require_devid (KVM_CAP_MSI_DEVID on the VM fd): set by creating an ITS. */
export function msisRequireDevid(vm: Vm): boolean {
  return itsesOf(vm).length > 0;
}

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

function setPropbaser(g: VgicState, v: bigint): void {
  g.hdr[H.PROPBASER_LO] = Number(v & 0xffff_ffffn) | 0;
  g.hdr[H.PROPBASER_HI] = Number(v >> 32n) | 0;
}
const propbaser = (g: VgicState) => (BigInt(g.hdr[H.PROPBASER_HI]! >>> 0) << 32n) | BigInt(g.hdr[H.PROPBASER_LO]! >>> 0);

/** The LPI hooks of the owner thread's VgicState (the redistributors' table accesses). */
export function installLpiHooks(vm: Vm, g: VgicState): void {
  if (g.lpiHooks !== null || vm.kernel.mirror) return;
  g.lpiHooks = {
    enable: (v) => enableLpis(vm, g, v),
    inv: (intid) => {
      const s = g.lpiSlot(intid);
      if (s >= 0) updateLpiConfig(vm, g, s, -1);
    },
    invall: (v) => invall(vm, g, v),
  };
}

// ---- guest memory ---------------------------------------------------------------------------------

const scratch = new Uint8Array(32);
const scratchDv = new DataView(scratch.buffer);

function readByte(vm: Vm, gpa: number): number {
  return vm.readGpa(gpa, scratch.subarray(0, 1)) ? scratch[0]! : -1;
}
function writeByte(vm: Vm, gpa: number, v: number): boolean {
  scratch[0] = v;
  return vm.writeGpa(gpa, scratch.subarray(0, 1));
}
/** An 8-byte little-endian table entry, or null when the gpa is not guest memory. */
function readU64(vm: Vm, gpa: number): bigint | null {
  return vm.readGpa(gpa, scratch.subarray(0, 8)) ? scratchDv.getBigUint64(0, true) : null;
}
function writeU64(vm: Vm, gpa: number, v: bigint): number {
  scratchDv.setBigUint64(0, BigInt.asUintN(64, v), true);
  return vm.writeGpa(gpa, scratch.subarray(0, 8)) ? 0 : EFAULT;
}
/** kvm_is_visible_gfn */
const visible = (vm: Vm, gpa: number) => vm.slotFor(Math.floor(gpa / PAGE)) !== undefined;

// ---- LPIs in the redistributors ------------------------------------------------------------------

/** update_lpi_config: priority and enable from the configuration table (only for `filter`'s LPIs when >= 0). */
function updateLpiConfig(vm: Vm, g: VgicState, slot: number, filter: number): number {
  const intid = g.intidOf(slot);
  const prop = readByte(vm, Number(propbaser(g) & 0x000f_ffff_ffff_f000n) + intid - LPI_BASE);
  if (prop < 0) return EFAULT;
  g.lock();
  try {
    const t = g.targetOf(slot);
    if (filter < 0 || filter === t) {
      g.prio[slot] = prop & 0xfc & PRI_MASK;
      g.enabled[slot] = prop & 1;
      g.update(t);
    }
  } finally {
    g.unlock();
  }
  return 0;
}

/** The guest address of the pending-table byte of `intid` for vCPU `v`. */
const pendByte = (g: VgicState, v: number, intid: number) => Number(pendbaser({ g, vcpu: v }) & 0x000f_ffff_ffff_0000n) + (intid >>> 3);

/** vgic_v3_lpi_sync_pending_status: a newly mapped LPI takes (and consumes) its pending bit. */
function syncPendingStatus(vm: Vm, g: VgicState, slot: number): number {
  const t = g.targetOf(slot);
  if (t < 0) return 0;
  const intid = g.intidOf(slot);
  const ptr = pendByte(g, t, intid);
  const val = readByte(vm, ptr);
  if (val < 0) return EFAULT;
  const bit = 1 << (intid & 7);
  g.lock();
  try {
    g.latch[slot] = val & bit ? 1 : 0;
    g.update(t);
  } finally {
    g.unlock();
  }
  if (val & bit && !writeByte(vm, ptr, val & ~bit)) return EFAULT;
  return 0;
}

/** vgic_enable_lpis: unless PENDBASER.PTZ, the pending bits of the LPIs targeting `v` (its_sync_lpi_pending_table). */
function enableLpis(vm: Vm, g: VgicState, v: number): void {
  if (pendbaser({ g, vcpu: v }) & PTZ) return;
  for (let k = 0; k < g.hdr[H.LPI_HWM]!; k++) {
    const intid = g.lpiIntid[k]!;
    if (intid === 0) continue;
    const val = readByte(vm, pendByte(g, v, intid));
    if (val < 0) return;
    const s = g.lpiBase + k;
    g.lock();
    try {
      if (g.lpiTarget[k] === v) g.latch[s] = (val >>> (intid & 7)) & 1;
      g.update(v);
    } finally {
      g.unlock();
    }
  }
}

/** vgic_its_invall: re-reads the configuration of every LPI targeting `v`. */
function invall(vm: Vm, g: VgicState, v: number): void {
  for (let k = 0; k < g.hdr[H.LPI_HWM]!; k++) if (g.lpiIntid[k] !== 0) updateLpiConfig(vm, g, g.lpiBase + k, v);
}

/**
 * vgic_v3_save_pending_tables (KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES): each mapped LPI's pending
 * state into its target's pending table. Returns 0 or a negative errno.
 */
export function savePendingTables(vm: Vm): number {
  const g = vgicOf(vm);
  if (g === null) return -6; // -ENXIO: not initialized
  let lastPtr = -1;
  let val = 0;
  for (let k = 0; k < g.hdr[H.LPI_HWM]!; k++) {
    const intid = g.lpiIntid[k]!;
    const t = g.lpiTarget[k]!;
    if (intid === 0 || t < 0) continue;
    const ptr = pendByte(g, t, intid);
    if (ptr !== lastPtr) {
      val = readByte(vm, ptr);
      if (val < 0) return EFAULT;
      lastPtr = ptr;
    }
    const bit = 1 << (intid & 7);
    const pending = g.latch[g.lpiBase + k] !== 0;
    if ((val & bit) !== 0 === pending) continue;
    val = pending ? val | bit : val & ~bit;
    if (!writeByte(vm, ptr, val)) return EFAULT;
  }
  return 0;
}

/** vgic_add_lpi: the LPI `intid` (a new reference), created targeting vCPU index `t`. A negative errno on failure. */
function addLpi(vm: Vm, intid: number, t: number): number {
  const g = vgicOf(vm);
  if (g === null) return ENOMEM;
  const fresh = { v: false };
  g.lock();
  let s: number;
  try {
    s = g.lpiGet(intid, t, fresh);
  } finally {
    g.unlock();
  }
  if (s < 0) return ENOMEM;
  if (!fresh.v) return s;
  const r = updateLpiConfig(vm, g, s, -1) || syncPendingStatus(vm, g, s);
  if (r) {
    putLpi(g, s);
    return r;
  }
  return s;
}

function putLpi(g: VgicState, slot: number): void {
  g.lock();
  try {
    g.lpiPut(slot);
  } finally {
    g.unlock();
  }
}

/** update_affinity: the LPI of `slot` now targets vCPU index `t` (only if it targeted `from`, when >= 0). */
function updateAffinity(g: VgicState, slot: number, from: number, t: number): void {
  g.lock();
  try {
    if (from >= 0 && g.targetOf(slot) !== from) return;
    g.lpiRetarget(slot, t);
  } finally {
    g.unlock();
  }
}

// ---- the ITS's tables ----------------------------------------------------------------------------

/** kvm_get_vcpu_by_id -> the vCPU's index in the VgicState (-1: none). */
function vcpuIndexById(vm: Vm, id: number): number {
  const v = vm.vcpus.get(id);
  return v === undefined ? -1 : v.index;
}

const collectionMapped = (c: Collection | null | undefined): c is Collection => c != null && c.target !== COLLECTION_NOT_MAPPED;
const findDevice = (its: Its, id: number) => its.devices.find((d) => d.id === id);
const findCollection = (its: Its, id: number) => its.collections.find((c) => c.id === id);
function findIte(its: Its, devid: number, eventId: number): Ite | undefined {
  return findDevice(its, devid)?.ites.find((i) => i.eventId === eventId);
}

/** vgic_its_check_id: whether `id` fits the (flat or two-level) table of `baser`; the entry's gpa in `out`. */
function checkId(its: Its, baser: bigint, id: number, out?: { gpa: number }): boolean {
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
function checkEventId(its: Its, dev: ItsDevice, eventId: number): boolean {
  if (eventId >= 2 ** dev.eventBits) return false;
  return visible(its.vm, dev.ittAddr + eventId * ESZ);
}

function allocCollection(its: Its, id: number): Collection {
  const c = { id, target: COLLECTION_NOT_MAPPED };
  its.collections.push(c);
  return c;
}

/** vgic_its_free_collection: its ITEs keep their LPIs but lose their collection. */
function freeCollection(its: Its, id: number): void {
  const c = findCollection(its, id);
  if (!c) return;
  for (const d of its.devices) for (const i of d.ites) if (i.collection?.id === id) i.collection = null;
  its.collections.splice(its.collections.indexOf(c), 1);
}

function freeIte(its: Its, dev: ItsDevice, ite: Ite): void {
  dev.ites.splice(dev.ites.indexOf(ite), 1);
  const g = vgicOf(its.vm);
  if (g !== null) putLpi(g, ite.slot);
}

function freeDevice(its: Its, dev: ItsDevice): void {
  for (const i of [...dev.ites]) freeIte(its, dev, i);
  its.devices.splice(its.devices.indexOf(dev), 1);
}

const freeDeviceList = (its: Its) => {
  for (const d of [...its.devices]) freeDevice(its, d);
};
const freeCollectionList = (its: Its) => {
  for (const c of [...its.collections]) freeCollection(its, c.id);
};

/** The vCPU index a mapped collection targets (-1 if that vCPU does not exist). */
const collectionVcpu = (its: Its, c: Collection) => vcpuIndexById(its.vm, c.target);

// ---- MSIs ------------------------------------------------------------------------------------------

/** vgic_its_resolve_lpi: the LPI slot of (devid, eventid), or a negative errno / positive E_ITS error. */
function resolveLpi(its: Its, devid: number, eventId: number): number {
  if (!its.enabled) return EBUSY;
  const ite = findIte(its, devid, eventId);
  if (!ite || !collectionMapped(ite.collection)) return -E.INT_UNMAPPED_INTERRUPT;
  const v = collectionVcpu(its, ite.collection);
  if (v < 0) return -E.INT_UNMAPPED_INTERRUPT;
  const g = vgicOf(its.vm);
  if (g === null || !g.lpisEnabled(v)) return EBUSY;
  return ite.slot;
}

/** vgic_its_trigger_msi: 0, a positive E_ITS error, or a negative errno. */
function triggerMsi(its: Its, devid: number, eventId: number): number {
  const r = resolveLpi(its, devid, eventId);
  if (r === EBUSY) return EBUSY;
  if (r < 0) return -r; // an E_ITS_* error (stored negated above)
  const g = vgicOf(its.vm)!;
  g.lock();
  try {
    g.latch[r] = 1;
    g.update(g.targetOf(r));
  } finally {
    g.unlock();
  }
  return 0;
}

/** __vgic_doorbell_to_its: the ITS whose frame holds `db`. */
function doorbellToIts(vm: Vm, db: number): Its | undefined {
  return itsesOf(vm).find((i) => i.base !== UNDEF && db >= i.base && db < i.base + KVM_VGIC.V3_ITS_SIZE);
}

/**
 * kvm_set_msi (vgic-irqfd.c) / vgic_its_inject_msi: ENODEV without an ITS, -1 for a lowered level,
 * EINVAL without KVM_MSI_VALID_DEVID or for a doorbell outside every ITS, EBUSY while the ITS or
 * the target's LPIs are disabled; 0 when the event is not mapped; 1 when delivered.
 */
export function itsSetMsi(vm: Vm, msi: MsiMessage, level: number): number {
  if (!vgicHasIts(vm)) return ENODEV;
  if (!level) return -1;
  if (!(msi.flags & KVM_MSI.VALID_DEVID)) return EINVAL;
  const its = doorbellToIts(vm, (msi.addressHi >>> 0) * 2 ** 32 + (msi.addressLo >>> 0));
  if (!its) return EINVAL;
  const r = triggerMsi(its, msi.devid >>> 0, msi.data >>> 0);
  if (r < 0) return r;
  return r ? 0 : 1;
}

// ---- the command queue ----------------------------------------------------------------------------

/** A command's field: `size` bits from bit `shift` of 64-bit word `w`. */
function field(cmd: DataView, w: number, shift: number, size: number): number {
  const v = cmd.getBigUint64(w * 8, true);
  return Number((v >> BigInt(shift)) & ((1n << BigInt(size)) - 1n));
}
const cmdCode = (c: DataView) => field(c, 0, 0, 8);
const cmdDevid = (c: DataView) => field(c, 0, 32, 32);
const cmdSize = (c: DataView) => field(c, 1, 0, 5) + 1;
const cmdId = (c: DataView) => field(c, 1, 0, 32);
const cmdPhysId = (c: DataView) => field(c, 1, 32, 32);
const cmdColl = (c: DataView) => field(c, 2, 0, 16);
const cmdItt = (c: DataView) => field(c, 2, 8, 44) * 256;
const cmdTarget = (c: DataView) => field(c, 2, 16, 32);
const cmdValid = (c: DataView) => field(c, 2, 63, 1);

/** max_lpis_propbaser: 2^min(IDbits + 1, 16). */
const maxLpis = (g: VgicState) => 2 ** Math.min(Number(propbaser(g) & 0x1fn) + 1, ID_BITS_ITS);

function cmdMapd(its: Its, c: DataView): number {
  const devid = cmdDevid(c);
  const valid = cmdValid(c);
  const bits = cmdSize(c);
  const out = { gpa: 0 };
  if (!checkId(its, its.baserDevice, devid, out)) return E.MAPD_DEVICE_OOR;
  if (valid && bits > VITS_TYPER_IDBITS) return E.MAPD_ITTSIZE_OOR;
  const dev = findDevice(its, devid);
  if (dev) freeDevice(its, dev);
  if (!valid) return writeU64(its.vm, out.gpa, 0n);
  its.devices.push({ id: devid, ittAddr: cmdItt(c), eventBits: bits, ites: [] });
  return 0;
}

function cmdMapc(its: Its, c: DataView): number {
  const id = cmdColl(c);
  if (!cmdValid(c)) {
    freeCollection(its, id);
    return 0;
  }
  const target = cmdTarget(c);
  if (vcpuIndexById(its.vm, target) < 0) return E.MAPC_PROCNUM_OOR;
  let col = findCollection(its, id);
  if (!col) {
    if (!checkId(its, its.baserColl, id)) return E.MAPC_COLLECTION_OOR;
    col = allocCollection(its, id);
    col.target = target;
    return 0;
  }
  col.target = target;
  // update_affinity_collection
  const g = vgicOf(its.vm);
  const v = collectionVcpu(its, col);
  if (g !== null) for (const d of its.devices) for (const i of d.ites) if (i.collection === col) updateAffinity(g, i.slot, -1, v);
  return 0;
}

function cmdMapi(its: Its, c: DataView): number {
  const devid = cmdDevid(c);
  const eventId = cmdId(c);
  const collId = cmdColl(c);
  const dev = findDevice(its, devid);
  if (!dev) return E.MAPTI_UNMAPPED_DEVICE;
  if (!checkEventId(its, dev, eventId)) return E.MAPTI_ID_OOR;
  const lpi = cmdCode(c) === GITS_CMD.MAPTI ? cmdPhysId(c) : eventId;
  const g = vgicOf(its.vm);
  if (g === null || lpi < LPI_BASE || lpi >= maxLpis(g)) return E.MAPTI_PHYSICALID_OOR;
  // An existing mapping: UNPREDICTABLE, ignored.
  if (findIte(its, devid, eventId)) return 0;
  let col = findCollection(its, collId);
  let newColl = false;
  if (!col) {
    if (!checkId(its, its.baserColl, collId)) return E.MAPC_COLLECTION_OOR;
    col = allocCollection(its, collId);
    newColl = true;
  }
  const v = collectionMapped(col) ? collectionVcpu(its, col) : -1;
  const s = addLpi(its.vm, lpi, v);
  if (s < 0) {
    if (newColl) freeCollection(its, collId);
    return s;
  }
  dev.ites.push({ eventId, slot: s, intid: lpi, collection: col });
  return 0;
}

function cmdMovi(its: Its, c: DataView): number {
  const ite = findIte(its, cmdDevid(c), cmdId(c));
  if (!ite) return E.MOVI_UNMAPPED_INTERRUPT;
  if (!collectionMapped(ite.collection)) return E.MOVI_UNMAPPED_COLLECTION;
  const col = findCollection(its, cmdColl(c));
  if (!collectionMapped(col)) return E.MOVI_UNMAPPED_COLLECTION;
  ite.collection = col;
  const g = vgicOf(its.vm);
  if (g !== null) updateAffinity(g, ite.slot, -1, collectionVcpu(its, col));
  return 0;
}

function cmdDiscard(its: Its, c: DataView): number {
  const devid = cmdDevid(c);
  const ite = findIte(its, devid, cmdId(c));
  if (ite && collectionMapped(ite.collection)) {
    const dev = findDevice(its, devid)!;
    const gpa = dev.ittAddr + ite.eventId * ESZ;
    freeIte(its, dev, ite);
    return writeU64(its.vm, gpa, 0n);
  }
  return E.DISCARD_UNMAPPED_INTERRUPT;
}

function cmdClear(its: Its, c: DataView): number {
  const ite = findIte(its, cmdDevid(c), cmdId(c));
  if (!ite) return E.CLEAR_UNMAPPED_INTERRUPT;
  const g = vgicOf(its.vm)!;
  g.lock();
  try {
    g.latch[ite.slot] = 0;
    g.update(g.targetOf(ite.slot));
  } finally {
    g.unlock();
  }
  return 0;
}

function cmdInv(its: Its, c: DataView): number {
  const ite = findIte(its, cmdDevid(c), cmdId(c));
  if (!ite) return E.INV_UNMAPPED_INTERRUPT;
  return updateLpiConfig(its.vm, vgicOf(its.vm)!, ite.slot, -1);
}

function cmdInvall(its: Its, c: DataView): number {
  const col = findCollection(its, cmdColl(c));
  if (!collectionMapped(col)) return E.INVALL_UNMAPPED_COLLECTION;
  const g = vgicOf(its.vm);
  const v = collectionVcpu(its, col);
  if (g !== null && v >= 0) invall(its.vm, g, v);
  return 0;
}

function cmdMovall(its: Its, c: DataView): number {
  const v1 = vcpuIndexById(its.vm, cmdTarget(c));
  const v2 = vcpuIndexById(its.vm, field(c, 3, 16, 32));
  if (v1 < 0 || v2 < 0) return E.MOVALL_PROCNUM_OOR;
  if (v1 === v2) return 0;
  const g = vgicOf(its.vm);
  if (g !== null) for (let k = 0; k < g.hdr[H.LPI_HWM]!; k++) if (g.lpiIntid[k] !== 0) updateAffinity(g, g.lpiBase + k, v1, v2);
  return 0;
}

/** vgic_its_handle_command: the result is dropped, as the kernel drops it. */
function handleCommand(its: Its, c: DataView): number {
  switch (cmdCode(c)) {
    case GITS_CMD.MAPD:
      return cmdMapd(its, c);
    case GITS_CMD.MAPC:
      return cmdMapc(its, c);
    case GITS_CMD.MAPI:
    case GITS_CMD.MAPTI:
      return cmdMapi(its, c);
    case GITS_CMD.MOVI:
      return cmdMovi(its, c);
    case GITS_CMD.DISCARD:
      return cmdDiscard(its, c);
    case GITS_CMD.CLEAR:
      return cmdClear(its, c);
    case GITS_CMD.MOVALL:
      return cmdMovall(its, c);
    case GITS_CMD.INT:
      return triggerMsi(its, cmdDevid(c), cmdId(c));
    case GITS_CMD.INV:
      return cmdInv(its, c);
    case GITS_CMD.INVALL:
      return cmdInvall(its, c);
    case GITS_CMD.SYNC:
      return 0; // always in sync
    default:
      return ENODEV;
  }
}

/** vgic_its_process_commands: from CREADR to CWRITER, when enabled; an unreadable command is skipped. */
function processCommands(its: Its): void {
  if (!its.enabled) return;
  const base = Number(its.cbaser & 0x000f_ffff_ffff_f000n);
  const cmd = new Uint8Array(32);
  const dv = new DataView(cmd.buffer);
  while (its.cwriter !== its.creadr) {
    if (its.vm.readGpa(base + its.creadr, cmd)) handleCommand(its, dv);
    its.creadr += 32;
    if (its.creadr === cmdBufSize(its.cbaser)) its.creadr = 0;
  }
}

// ---- the register frame ---------------------------------------------------------------------------

const GITS = { CTLR: 0x0, IIDR: 0x4, TYPER: 0x8, CBASER: 0x80, CWRITER: 0x88, CREADR: 0x90, BASER: 0x100, IDREGS: 0xffd0, PIDR4: 0xffd0 } as const;
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
function setAbi(its: Its, rev: number): number {
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
const findRegion = (off: number) => REGIONS.find((r) => off >= r.off && off < r.off + r.len);

/** A guest access's region: the width must be one it allows and the access aligned (check_region). */
function accessRegion(off: number, len: number): ItsRegion | undefined {
  const r = findRegion(off);
  if (!r) return undefined;
  if (len !== 4 && !(len === 8 && r.width === 8)) return undefined;
  if (off % len !== 0) return undefined;
  return r;
}

/** extract_bytes */
const extract = (reg: bigint, off: number, len: number) => (reg >> BigInt((off & 7) * 8)) & (len === 8 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn);

function itsFrame(its: Its): IoDevice {
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

// ---- save / restore of the tables (ABI revision 0) ------------------------------------------------

/** vgic_its_save_tables_v0: device table + ITTs, then the collection table. */
function saveTables(its: Its): number {
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
function restoreTables(its: Its): number {
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
