/**
 * The ITS's state (struct vgic_its and its devices, ITEs and collections), the register fields and
 * limits of ABI revision 0 that every part of the ITS shares, the ITSes of a VM, and the guest
 * memory accessors the table walks use (arch/arm64/kvm/vgic/vgic-its.c).
 * @module
 */
import type { IoDevice } from '../../../kernel/iobus.js';
import type { Vm } from '../../../kernel/vm.js';
import type { Arm64VmState } from '../cpu.js';
import { GIC_V3 } from './vgic.js';

const PAGE = 4096;
export const SZ_64K = 0x10000;
export const UNDEF = -1;

/** INTERRUPT_ID_BITS_ITS, VITS_TYPER_IDBITS / DEVBITS and the table limits. */
export const ID_BITS_ITS = 16;
export const VITS_TYPER_IDBITS = 16;
export const VITS_TYPER_DEVBITS = 16;
export const VITS_MAX_DEVID = (1 << VITS_TYPER_DEVBITS) - 1;
export const VITS_DTE_MAX_DEVID_OFFSET = (1 << 14) - 1;
export const VITS_ITE_MAX_EVENTID_OFFSET = (1 << 16) - 1;
/** ABI revision 0: 8-byte device, collection and ITT entries. */
export const ESZ = 8;
export const NR_ITS_ABIS = 1;
export const COLLECTION_NOT_MAPPED = 0xffffffff;

/** Negative errnos, as the kernel's helpers return them. */
export const EFAULT = -14;
export const ENOMEM = -12;
export const EBUSY = -16;
export const EINVAL = -22;
export const EEXIST = -17;
export const ENODEV = -19;

// ---- register fields ------------------------------------------------------------------------------

export const GITS_CTLR_ENABLE = 1;
export const GITS_CTLR_QUIESCENT = 0x8000_0000;
export const BASER_VALID = 1n << 63n;
export const BASER_INDIRECT = 1n << 62n;
export const BASER_TYPE_SHIFT = 56n;
export const BASER_TYPE_DEVICE = 1n;
export const BASER_TYPE_COLLECTION = 4n;
export const BASER_ENTRY_SIZE_SHIFT = 48n;
export const BASER_ENTRY_SIZE_MASK = 0x1fn << 48n;
/** GITS_BASER_RO_MASK: Entry_Size and Type. */
export const BASER_RO_MASK = (0x1fn << 48n) | (7n << 56n);
export const BASER_PAGE_SIZE_MASK = 3n << 8n;
export const BASER_PAGE_SIZE_64K = 2n << 8n;
/** INITIAL_BASER_VALUE: inner RaWb, outer same as inner, inner shareable, 64K pages. */
const INITIAL_BASER = (3n << 59n) | (1n << 10n) | BASER_PAGE_SIZE_64K;
/** INITIAL_PROPBASER_VALUE: inner RaWb, outer same as inner, inner shareable. */
export const INITIAL_PROPBASER = (3n << 7n) | (1n << 10n);
export const CBASER_VALID = 1n << 63n;

export const baserAddr = (b: bigint) => Number((b & 0x0000_ffff_ffff_0000n) | (((b >> 12n) & 0xfn) << 48n));
export const baserPages = (b: bigint) => Number(b & 0xffn) + 1;
export const baserEsz = (b: bigint) => Number((b >> BASER_ENTRY_SIZE_SHIFT) & 0x1fn) + 1;
export const baserType = (b: bigint) => (b >> BASER_TYPE_SHIFT) & 7n;
export const cmdBufSize = (cbaser: bigint) => (Number(cbaser & 0xffn) + 1) << 12;
export const cmdOffset = (v: bigint) => Number(v & 0xf_ffe0n);

// ---- the ITS's state ------------------------------------------------------------------------------

export interface Collection {
  readonly id: number;
  /** The vcpu_id of the redistributor (GITS_TYPER.PTA = 0), or COLLECTION_NOT_MAPPED. */
  target: number;
}

export interface Ite {
  readonly eventId: number;
  /** The LPI's slot in the VgicState. */
  readonly slot: number;
  readonly intid: number;
  collection: Collection | null;
}

export interface ItsDevice {
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
export const itsList = new WeakMap<Vm, Its[]>();
export const itsesOf = (vm: Vm) => itsList.get(vm) ?? [];
const vgicCfg = (vm: Vm) => (vm.archState as Arm64VmState).vgic;

/** vgic_has_its: a GICv3 VM that has had an ITS created. */
export function vgicHasIts(vm: Vm): boolean {
  return vgicCfg(vm)?.model === GIC_V3 && itsesOf(vm).length > 0;
}

/** msis_require_devid (KVM_CAP_MSI_DEVID on the VM fd): set by creating an ITS. */
export function msisRequireDevid(vm: Vm): boolean {
  return itsesOf(vm).length > 0;
}
// ---- guest memory ---------------------------------------------------------------------------------

const scratch = new Uint8Array(32);
const scratchDv = new DataView(scratch.buffer);

export function readByte(vm: Vm, gpa: number): number {
  return vm.readGpa(gpa, scratch.subarray(0, 1)) ? scratch[0]! : -1;
}
export function writeByte(vm: Vm, gpa: number, v: number): boolean {
  scratch[0] = v;
  return vm.writeGpa(gpa, scratch.subarray(0, 1));
}
/** An 8-byte little-endian table entry, or null when the gpa is not guest memory. */
export function readU64(vm: Vm, gpa: number): bigint | null {
  return vm.readGpa(gpa, scratch.subarray(0, 8)) ? scratchDv.getBigUint64(0, true) : null;
}
export function writeU64(vm: Vm, gpa: number, v: bigint): number {
  scratchDv.setBigUint64(0, BigInt.asUintN(64, v), true);
  return vm.writeGpa(gpa, scratch.subarray(0, 8)) ? 0 : EFAULT;
}
/** kvm_is_visible_gfn */
export const visible = (vm: Vm, gpa: number) => vm.slotFor(Math.floor(gpa / PAGE)) !== undefined;
