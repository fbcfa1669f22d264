/**
 * The ITS command queue (vgic_its_process_commands and the vgic_its_cmd_handle_* handlers of
 * vgic-its.c) and MSI translation (vgic_its_trigger_msi, KVM_SIGNAL_MSI and MSI routes).
 * @module
 */
import type { MsiMessage } from '../../../kernel/irq.js';
import type { Vm } from '../../../kernel/vm.js';
import { KVM_VGIC } from '../../../uapi/arm64.js';
import { KVM_MSI } from '../../../uapi/constants.js';
import { vgicOf } from './device.js';
import { addLpi, invall, propbaser, updateAffinity, updateLpiConfig } from './its-lpi.js';
import { EBUSY, EINVAL, ENODEV, ESZ, ID_BITS_ITS, type Its, UNDEF, VITS_TYPER_IDBITS, cmdBufSize, itsesOf, vgicHasIts, writeU64 } from './its-state.js';
import { allocCollection, checkEventId, checkId, collectionMapped, collectionVcpu, findCollection, findDevice, findIte, freeCollection, freeDevice, freeIte, vcpuIndexById } from './its-tables.js';
import { H, LPI_BASE, type VgicState } from './vgic.js';

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
export function processCommands(its: Its): void {
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
