/**
 * LPIs in the redistributors (vgic-its.c, vgic-v3.c): GICR_PROPBASER's configuration table and
 * GICR_PENDBASER's pending tables in guest memory, EnableLPIs, INV/INVALL, save of the pending
 * tables, and the LPI slots of the shared VgicState the ITS maps events to.
 * @module
 */
import type { Vm } from '../../../kernel/vm.js';
import { vgicOf } from './device.js';
import { EFAULT, ENOMEM, readByte, writeByte } from './its-state.js';
import { PTZ, pendbaser } from './v3.js';
import { H, LPI_BASE, PRI_MASK, type VgicState } from './vgic.js';

export function setPropbaser(g: VgicState, v: bigint): void {
  g.hdr[H.PROPBASER_LO] = Number(v & 0xffff_ffffn) | 0;
  g.hdr[H.PROPBASER_HI] = Number(v >> 32n) | 0;
}
export const propbaser = (g: VgicState) => (BigInt(g.hdr[H.PROPBASER_HI]! >>> 0) << 32n) | BigInt(g.hdr[H.PROPBASER_LO]! >>> 0);

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
// ---- LPIs in the redistributors ------------------------------------------------------------------

/** update_lpi_config: priority and enable from the configuration table (only for `filter`'s LPIs when >= 0). */
export function updateLpiConfig(vm: Vm, g: VgicState, slot: number, filter: number): number {
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
export function invall(vm: Vm, g: VgicState, v: number): void {
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
export function addLpi(vm: Vm, intid: number, t: number): number {
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

export function putLpi(g: VgicState, slot: number): void {
  g.lock();
  try {
    g.lpiPut(slot);
  } finally {
    g.unlock();
  }
}

/** update_affinity: the LPI of `slot` now targets vCPU index `t` (only if it targeted `from`, when >= 0). */
export function updateAffinity(g: VgicState, slot: number, from: number, t: number): void {
  g.lock();
  try {
    if (from >= 0 && g.targetOf(slot) !== from) return;
    g.lpiRetarget(slot, t);
  } finally {
    g.unlock();
  }
}
