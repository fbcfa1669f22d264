/**
 * The TDX module, modelled in-process: the SEAMCALL interface KVM uses (TD build, Secure EPT,
 * TLB tracking, teardown) with the TDX module's state machine, status codes and counters.
 *
 * - TD life: MNG.CREATE (HKID assigned) -> KEY.CONFIG -> MNG.ADDCX -> MNG.INIT (INITIALIZED) ->
 *   PAGE.ADD / MR.EXTEND -> MR.FINALIZE (RUNNABLE, MRTD sealed) -> VP.FLUSH / VPFLUSHDONE /
 *   CACHE.WB / KEY.FREEID (TEARDOWN, HKID back to the pool) -> PAGE.RECLAIM of every page.
 * - Secure EPT: non-leaf tables exist only after TDH.MEM.SEPT.ADD; 4 KiB leaves move through
 *   FREE -> PENDING (AUG) -> MAPPED (guest TDG.MEM.PAGE.ACCEPT) or FREE -> MAPPED (PAGE.ADD), and
 *   BLOCKED (RANGE.BLOCK, remembering the epoch) -> FREE (PAGE.REMOVE once the epoch is tracked).
 * - TLB tracking: one TD epoch and two reference counts of vCPUs in guest mode by epoch parity;
 *   TDH.MEM.TRACK advances the epoch only when no vCPU still runs in the previous one, and
 *   TDH.VP.ENTER flushes a vCPU's TLB when it last ran in an older epoch.
 *
 * Everything the model does is counted and logged (`TdxModule.stats`, `events`) so tests can
 * assert KVM's use of it.
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { TDX_KEYIDS, TDX_OPERAND_ID, TDX_STATUS, type SeamcallName } from './abi.js';

const PAGE = 4096;

/** A 4 KiB host frame: `bytes[offset .. offset + 4096)`. */
export interface HostPage {
  readonly bytes: Uint8Array;
  readonly offset: number;
}

/** Secure-EPT leaf states (TDX module SEPT entry states, 4 KiB only). */
export type SeptState = 'PENDING' | 'MAPPED' | 'BLOCKED' | 'PENDING_BLOCKED';

interface SeptLeaf {
  state: SeptState;
  page: HostPage;
  /** TD epoch when the entry was blocked. */
  bepoch: number;
}

/** TD operation states (TDCS.OP_STATE, simplified to the ones KVM drives). */
export type TdOpState = 'UNINITIALIZED' | 'CREATED' | 'INITIALIZED' | 'RUNNABLE' | 'TEARDOWN' | 'RECLAIMED';

/** A vCPU as the module tracks it (TDVPS). */
interface TdVcpu {
  readonly index: number;
  state: 'UNINITIALIZED' | 'READY' | 'ACTIVE';
  /** The TD epoch it last entered with (-1: never entered). */
  epoch: number;
  associated: boolean;
  flushes: number;
  entries: number;
}

/** One SEAMCALL (or TD transition) as the model saw it. */
export interface TdxEvent {
  readonly seq: number;
  readonly leaf: SeamcallName | 'TD_EXIT' | 'TLB_FLUSH' | 'TDG_MEM_PAGE_ACCEPT' | 'SEPT_BUSY';
  readonly gpa?: bigint;
  readonly vcpu?: number;
  readonly status: bigint;
  readonly epoch: number;
  readonly detail?: string;
}

/** Counters of the model (live object). */
export interface TdxStats {
  /** SEAMCALLs issued, by leaf name. */
  readonly seamcalls: Record<string, number>;
  /** SEAMCALLs that returned TDX_OPERAND_BUSY (injected contention). */
  busy: number;
  pagesAdded: number;
  pagesAugmented: number;
  pagesAccepted: number;
  pagesBlocked: number;
  pagesRemoved: number;
  septPagesAdded: number;
  tracks: number;
  mrExtends: number;
  /** TLB flushes done by TDH.VP.ENTER because the vCPU's epoch was older than the TD's. */
  tlbFlushes: number;
  /** TDH.VP.ENTER calls. */
  entries: number;
  /** Pages given back by TDH.PHYMEM.PAGE.RECLAIM, by kind. */
  readonly reclaimed: { guest: number; sept: number; control: number };
  wbinvd: number;
}

/** The HKIDs of one platform (private key ids for TDs). */
export class HkidPool {
  private readonly used = new Set<number>();

  /** tdx_guest_keyid_alloc: the lowest free private KeyID, or -1 (ENOSPC). */
  alloc(): number {
    for (let k = TDX_KEYIDS.first; k < TDX_KEYIDS.first + TDX_KEYIDS.count; k++) {
      if (!this.used.has(k)) {
        this.used.add(k);
        return k;
      }
    }
    return -1;
  }

  free(hkid: number): void {
    this.used.delete(hkid);
  }

  get inUse(): number {
    return this.used.size;
  }
}

/** Control pages of a TD and of each vCPU (TDCS_BASE_SIZE / TDVPS_BASE_SIZE of the modelled module). */
export const TDCS_PAGES = 4;
export const TDCX_PAGES = 5;

const withOperand = (status: bigint, operand: bigint) => status | operand;

/** Mutable SHA-384 measurement of the TD build (MRTD). */
class Measurement {
  private hash: Hash | null = createHash('sha384');
  private sealed: Buffer | null = null;

  /** Extends with one 128-byte header block ("MEM.PAGE.ADD"/"MR.EXTEND" + GPA) and optional data. */
  extend(kind: string, gpa: bigint, data?: Uint8Array): void {
    const block = Buffer.alloc(128);
    block.write(kind, 0, 'latin1');
    block.writeBigUInt64LE(gpa, 16);
    this.hash!.update(block);
    if (data) this.hash!.update(data);
  }

  seal(): Buffer {
    this.sealed = this.hash!.digest();
    this.hash = null;
    return this.sealed;
  }

  get value(): Buffer | null {
    return this.sealed;
  }
}

/** One TD's view of the TDX module. */
export class TdxModule {
  opState: TdOpState = 'UNINITIALIZED';
  /** The TD's private HKID, or -1. */
  hkid = -1;
  /** TD epoch (TDCS.TD_EPOCH); TDH.MEM.TRACK increments it. */
  epoch = 1;
  /** vCPUs in guest mode, by epoch parity. */
  private readonly refcount = [0, 0];
  /** Guest physical address width (48 or 52) and its root Secure-EPT level (4 or 5). */
  gpaw = 48;
  attributes = 0n;
  xfam = 0n;
  maxVcpus = 0;
  private readonly vcpus: TdVcpu[] = [];
  /** Present non-leaf Secure-EPT tables: "level:index". */
  private readonly septTables = new Set<string>();
  /** Secure-EPT 4 KiB leaves by gfn. */
  private readonly leaves = new Map<number, SeptLeaf>();
  private mrtd = new Measurement();
  private tdcsPages = 0;
  private tdr = false;
  /** SEAMCALLs made to fail with TDX_OPERAND_BUSY (contention injection). */
  private readonly busy = new Map<SeamcallName, number>();

  readonly stats: TdxStats = {
    seamcalls: {},
    busy: 0,
    pagesAdded: 0,
    pagesAugmented: 0,
    pagesAccepted: 0,
    pagesBlocked: 0,
    pagesRemoved: 0,
    septPagesAdded: 0,
    tracks: 0,
    mrExtends: 0,
    tlbFlushes: 0,
    entries: 0,
    reclaimed: { guest: 0, sept: 0, control: 0 },
    wbinvd: 0,
  };
  /** The most recent events (bounded; `onEvent` sees all of them). */
  readonly events: TdxEvent[] = [];
  /** Receives every event as it happens. */
  onEvent: ((e: TdxEvent) => void) | null = null;
  private seq = 0;

  constructor(private readonly pool: HkidPool) {}

  // ---------------------------------------------------------------------------------------
  // Bookkeeping

  private log(leaf: TdxEvent['leaf'], status: bigint, extra: { gpa?: bigint; vcpu?: number; detail?: string } = {}): bigint {
    const e: TdxEvent = { seq: this.seq++, leaf, status, epoch: this.epoch, ...extra };
    if (this.events.length >= 4096) this.events.shift();
    this.events.push(e);
    this.onEvent?.(e);
    return status;
  }

  /** Counts a SEAMCALL; returns TDX_OPERAND_BUSY when contention was injected for it. */
  private enter(leaf: SeamcallName, gpa?: bigint): bigint | null {
    this.stats.seamcalls[leaf] = (this.stats.seamcalls[leaf] ?? 0) + 1;
    const n = this.busy.get(leaf) ?? 0;
    if (n > 0) {
      this.busy.set(leaf, n - 1);
      this.stats.busy++;
      return this.log(leaf, withOperand(TDX_STATUS.OPERAND_BUSY, TDX_OPERAND_ID.SEPT), { ...(gpa !== undefined ? { gpa } : {}), detail: 'busy' });
    }
    return null;
  }

  /** Makes the next `times` calls of `leaf` fail with TDX_OPERAND_BUSY, as SEPT/epoch contention would. */
  injectBusy(leaf: SeamcallName, times = 1): void {
    this.busy.set(leaf, (this.busy.get(leaf) ?? 0) + times);
  }

  /** The measurement register MRTD (null until TDH.MR.FINALIZE). */
  get mrtdValue(): Uint8Array | null {
    const v = this.mrtd.value;
    return v ? new Uint8Array(v) : null;
  }

  /** The Secure-EPT state of a gfn (undefined: FREE). */
  septState(gfn: number): SeptState | undefined {
    return this.leaves.get(gfn)?.state;
  }

  /** Number of leaves in each Secure-EPT state. */
  septCounts(): Record<SeptState, number> {
    const c: Record<SeptState, number> = { PENDING: 0, MAPPED: 0, BLOCKED: 0, PENDING_BLOCKED: 0 };
    for (const l of this.leaves.values()) c[l.state]++;
    return c;
  }

  /** Secure-EPT non-leaf tables present. */
  get septTableCount(): number {
    return this.septTables.size;
  }

  /** Per-vCPU counters (index = TDX vCPU index). */
  vcpuStats(index: number): { epoch: number; flushes: number; entries: number } | undefined {
    const v = this.vcpus[index];
    return v ? { epoch: v.epoch, flushes: v.flushes, entries: v.entries } : undefined;
  }

  /** vCPUs in guest mode with the current / previous epoch. */
  get inGuest(): readonly [number, number] {
    return [this.refcount[this.epoch & 1]!, this.refcount[1 - (this.epoch & 1)]!];
  }

  private get rootLevel(): number {
    return this.gpaw === 52 ? 5 : 4;
  }

  private tableKey(gpa: bigint, level: number): string {
    return `${level}:${gpa >> BigInt(12 + 9 * level)}`;
  }

  /** A private GPA the Secure EPT can hold: below 2^GPAW with the shared bit clear. */
  private privateGpa(gpa: bigint): boolean {
    return gpa >= 0n && gpa < 1n << BigInt(this.gpaw - 1) && (gpa & 0xfffn) === 0n;
  }

  /** The walk down to the leaf table; the first missing table level, or 0 when the walk completes. */
  private missingLevel(gpa: bigint): number {
    for (let level = this.rootLevel - 1; level >= 1; level--) if (!this.septTables.has(this.tableKey(gpa, level))) return level;
    return 0;
  }

  // ---------------------------------------------------------------------------------------
  // TD build

  /** TDH.MNG.CREATE: binds the HKID to a new TDR. */
  mngCreate(hkid: number): bigint {
    const b = this.enter('TDH_MNG_CREATE');
    if (b !== null) return b;
    if (this.tdr) return this.log('TDH_MNG_CREATE', withOperand(TDX_STATUS.OPERAND_INVALID, TDX_OPERAND_ID.RCX));
    this.tdr = true;
    this.hkid = hkid;
    this.opState = 'CREATED';
    return this.log('TDH_MNG_CREATE', TDX_STATUS.SUCCESS, { detail: `hkid ${hkid}` });
  }

  /** TDH.MNG.KEY.CONFIG: programs the HKID's key (once per package). */
  mngKeyConfig(): bigint {
    this.enter('TDH_MNG_KEY_CONFIG');
    if (this.opState !== 'CREATED') return this.log('TDH_MNG_KEY_CONFIG', TDX_STATUS.KEY_STATE_INCORRECT);
    return this.log('TDH_MNG_KEY_CONFIG', TDX_STATUS.SUCCESS);
  }

  /** TDH.MNG.ADDCX: adds one TDCS page. */
  mngAddcx(): bigint {
    this.enter('TDH_MNG_ADDCX');
    if (this.opState !== 'CREATED') return this.log('TDH_MNG_ADDCX', TDX_STATUS.OP_STATE_INCORRECT);
    this.tdcsPages++;
    return this.log('TDH_MNG_ADDCX', TDX_STATUS.SUCCESS);
  }

  /** TDH.MNG.INIT: TD_PARAMS (already validated by KVM against the capabilities). */
  mngInit(p: { attributes: bigint; xfam: bigint; gpaw: number; maxVcpus: number }): bigint {
    this.enter('TDH_MNG_INIT');
    if (this.opState !== 'CREATED' || this.tdcsPages !== TDCS_PAGES) return this.log('TDH_MNG_INIT', TDX_STATUS.OP_STATE_INCORRECT);
    this.attributes = p.attributes;
    this.xfam = p.xfam;
    this.gpaw = p.gpaw;
    this.maxVcpus = p.maxVcpus;
    this.opState = 'INITIALIZED';
    return this.log('TDH_MNG_INIT', TDX_STATUS.SUCCESS, { detail: `gpaw ${p.gpaw}` });
  }

  /** TDH.VP.CREATE + TDH.VP.ADDCX x TDCX_PAGES + TDH.VP.INIT: returns the vCPU index or a status. */
  vpCreateAndInit(): { status: bigint; index: number } {
    this.enter('TDH_VP_CREATE');
    if (this.opState !== 'INITIALIZED') return { status: this.log('TDH_VP_CREATE', TDX_STATUS.OP_STATE_INCORRECT), index: -1 };
    this.log('TDH_VP_CREATE', TDX_STATUS.SUCCESS);
    for (let i = 0; i < TDCX_PAGES; i++) {
      this.enter('TDH_VP_ADDCX');
      this.log('TDH_VP_ADDCX', TDX_STATUS.SUCCESS);
    }
    this.enter('TDH_VP_INIT');
    const index = this.vcpus.length;
    if (index >= this.maxVcpus) return { status: this.log('TDH_VP_INIT', TDX_STATUS.MAX_VCPUS_EXCEEDED), index: -1 };
    this.vcpus.push({ index, state: 'READY', epoch: -1, associated: true, flushes: 0, entries: 0 });
    return { status: this.log('TDH_VP_INIT', TDX_STATUS.SUCCESS, { vcpu: index }), index };
  }

  /** TDH.MEM.SEPT.ADD: links a Secure-EPT table page at `level` (1 = the 4 KiB leaf table) for `gpa`. */
  septAdd(gpa: bigint, level: number): bigint {
    const b = this.enter('TDH_MEM_SEPT_ADD', gpa);
    if (b !== null) return b;
    if (this.opState !== 'INITIALIZED' && this.opState !== 'RUNNABLE') return this.log('TDH_MEM_SEPT_ADD', TDX_STATUS.OP_STATE_INCORRECT, { gpa });
    if (!this.privateGpa(gpa & ~0xfffn) || level < 1 || level >= this.rootLevel) return this.log('TDH_MEM_SEPT_ADD', withOperand(TDX_STATUS.OPERAND_INVALID, TDX_OPERAND_ID.RCX), { gpa });
    if (level + 1 < this.rootLevel && !this.septTables.has(this.tableKey(gpa, level + 1))) return this.log('TDH_MEM_SEPT_ADD', withOperand(TDX_STATUS.EPT_WALK_FAILED, TDX_OPERAND_ID.RCX), { gpa });
    const key = this.tableKey(gpa, level);
    if (this.septTables.has(key)) return this.log('TDH_MEM_SEPT_ADD', withOperand(TDX_STATUS.EPT_ENTRY_NOT_FREE, TDX_OPERAND_ID.RCX), { gpa });
    this.septTables.add(key);
    this.stats.septPagesAdded++;
    return this.log('TDH_MEM_SEPT_ADD', TDX_STATUS.SUCCESS, { gpa, detail: `level ${level}` });
  }

  /** The Secure-EPT table levels missing on the walk to `gpa` (deepest last). */
  missingTables(gpa: bigint): number[] {
    const out: number[] = [];
    for (let level = this.rootLevel - 1; level >= 1; level--) if (!this.septTables.has(this.tableKey(gpa, level))) out.push(level);
    return out;
  }

  /** Checks shared by the 4 KiB leaf SEAMCALLs; a failure status or null. */
  private leafCheck(leaf: SeamcallName, gpa: bigint): bigint | null {
    if (!this.privateGpa(gpa)) return this.log(leaf, withOperand(TDX_STATUS.OPERAND_INVALID, TDX_OPERAND_ID.RCX), { gpa });
    if (this.missingLevel(gpa)) return this.log(leaf, withOperand(TDX_STATUS.EPT_WALK_FAILED, TDX_OPERAND_ID.RCX), { gpa });
    return null;
  }

  /** TDH.MEM.PAGE.ADD: copies `source` into the private page and maps it (before finalize only). */
  pageAdd(gpa: bigint, page: HostPage, source: Uint8Array): bigint {
    const b = this.enter('TDH_MEM_PAGE_ADD', gpa);
    if (b !== null) return b;
    if (this.opState !== 'INITIALIZED') return this.log('TDH_MEM_PAGE_ADD', TDX_STATUS.OP_STATE_INCORRECT, { gpa });
    const bad = this.leafCheck('TDH_MEM_PAGE_ADD', gpa);
    if (bad !== null) return bad;
    const gfn = Number(gpa >> 12n);
    if (this.leaves.has(gfn)) return this.log('TDH_MEM_PAGE_ADD', withOperand(TDX_STATUS.EPT_ENTRY_NOT_FREE, TDX_OPERAND_ID.RCX), { gpa });
    page.bytes.set(source.subarray(0, PAGE), page.offset);
    this.leaves.set(gfn, { state: 'MAPPED', page, bepoch: 0 });
    this.mrtd.extend('MEM.PAGE.ADD', gpa);
    this.stats.pagesAdded++;
    return this.log('TDH_MEM_PAGE_ADD', TDX_STATUS.SUCCESS, { gpa });
  }

  /** TDH.MR.EXTEND: measures 256 bytes of an added page into MRTD. */
  mrExtend(gpa: bigint): bigint {
    this.enter('TDH_MR_EXTEND', gpa);
    if (this.opState !== 'INITIALIZED') return this.log('TDH_MR_EXTEND', TDX_STATUS.OP_STATE_INCORRECT, { gpa });
    const leaf = this.leaves.get(Number(gpa >> 12n));
    if (!leaf || leaf.state !== 'MAPPED' || gpa & 0xffn) return this.log('TDH_MR_EXTEND', withOperand(TDX_STATUS.EPT_ENTRY_STATE_INCORRECT, TDX_OPERAND_ID.RCX), { gpa });
    const off = leaf.page.offset + Number(gpa & 0xfffn);
    this.mrtd.extend('MR.EXTEND', gpa, leaf.page.bytes.subarray(off, off + 256));
    this.stats.mrExtends++;
    return this.log('TDH_MR_EXTEND', TDX_STATUS.SUCCESS, { gpa });
  }

  /** TDH.MR.FINALIZE: seals MRTD; the TD becomes runnable. */
  mrFinalize(): bigint {
    const b = this.enter('TDH_MR_FINALIZE');
    if (b !== null) return b;
    if (this.opState !== 'INITIALIZED') return this.log('TDH_MR_FINALIZE', TDX_STATUS.OP_STATE_INCORRECT);
    this.mrtd.seal();
    this.opState = 'RUNNABLE';
    return this.log('TDH_MR_FINALIZE', TDX_STATUS.SUCCESS);
  }

  // ---------------------------------------------------------------------------------------
  // Runtime private memory

  /** TDH.MEM.PAGE.AUG: maps a page PENDING (the guest must accept it). After finalize only. */
  pageAug(gpa: bigint, page: HostPage): bigint {
    const b = this.enter('TDH_MEM_PAGE_AUG', gpa);
    if (b !== null) return b;
    if (this.opState !== 'RUNNABLE') return this.log('TDH_MEM_PAGE_AUG', TDX_STATUS.OP_STATE_INCORRECT, { gpa });
    const bad = this.leafCheck('TDH_MEM_PAGE_AUG', gpa);
    if (bad !== null) return bad;
    const gfn = Number(gpa >> 12n);
    if (this.leaves.has(gfn)) return this.log('TDH_MEM_PAGE_AUG', withOperand(TDX_STATUS.EPT_ENTRY_NOT_FREE, TDX_OPERAND_ID.RCX), { gpa });
    this.leaves.set(gfn, { state: 'PENDING', page, bepoch: 0 });
    this.stats.pagesAugmented++;
    return this.log('TDH_MEM_PAGE_AUG', TDX_STATUS.SUCCESS, { gpa });
  }

  /** TDH.MEM.RANGE.BLOCK (4 KiB): no new TLB translations for the page; remembers the epoch. */
  rangeBlock(gpa: bigint): bigint {
    const b = this.enter('TDH_MEM_RANGE_BLOCK', gpa);
    if (b !== null) return b;
    const bad = this.leafCheck('TDH_MEM_RANGE_BLOCK', gpa);
    if (bad !== null) return bad;
    const leaf = this.leaves.get(Number(gpa >> 12n));
    if (!leaf) return this.log('TDH_MEM_RANGE_BLOCK', withOperand(TDX_STATUS.EPT_ENTRY_STATE_INCORRECT, TDX_OPERAND_ID.RCX), { gpa });
    if (leaf.state === 'BLOCKED' || leaf.state === 'PENDING_BLOCKED') return this.log('TDH_MEM_RANGE_BLOCK', withOperand(TDX_STATUS.GPA_RANGE_ALREADY_BLOCKED, TDX_OPERAND_ID.RCX), { gpa });
    leaf.state = leaf.state === 'PENDING' ? 'PENDING_BLOCKED' : 'BLOCKED';
    leaf.bepoch = this.epoch;
    this.stats.pagesBlocked++;
    return this.log('TDH_MEM_RANGE_BLOCK', TDX_STATUS.SUCCESS, { gpa });
  }

  /** TDH.MEM.TRACK: advances the TD epoch once no vCPU runs with the previous one. */
  track(): bigint {
    const b = this.enter('TDH_MEM_TRACK');
    if (b !== null) return b;
    if (this.opState !== 'RUNNABLE' && this.opState !== 'INITIALIZED') return this.log('TDH_MEM_TRACK', TDX_STATUS.OP_STATE_INCORRECT);
    if (this.refcount[1 - (this.epoch & 1)] !== 0) return this.log('TDH_MEM_TRACK', TDX_STATUS.PREVIOUS_TLB_EPOCH_BUSY);
    this.epoch++;
    this.stats.tracks++;
    return this.log('TDH_MEM_TRACK', TDX_STATUS.SUCCESS);
  }

  /** TDH.MEM.PAGE.REMOVE: unmaps a blocked-and-tracked page (any mapped page before finalize). */
  pageRemove(gpa: bigint): { status: bigint; page?: HostPage } {
    const b = this.enter('TDH_MEM_PAGE_REMOVE', gpa);
    if (b !== null) return { status: b };
    const bad = this.leafCheck('TDH_MEM_PAGE_REMOVE', gpa);
    if (bad !== null) return { status: bad };
    const gfn = Number(gpa >> 12n);
    const leaf = this.leaves.get(gfn);
    if (!leaf) return { status: this.log('TDH_MEM_PAGE_REMOVE', withOperand(TDX_STATUS.EPT_ENTRY_STATE_INCORRECT, TDX_OPERAND_ID.RCX), { gpa }) };
    if (this.opState === 'RUNNABLE') {
      if (leaf.state !== 'BLOCKED' && leaf.state !== 'PENDING_BLOCKED') return { status: this.log('TDH_MEM_PAGE_REMOVE', withOperand(TDX_STATUS.GPA_RANGE_NOT_BLOCKED, TDX_OPERAND_ID.RCX), { gpa }) };
      // Tracked: the epoch moved past the block and no vCPU still runs with the block's epoch.
      if (leaf.bepoch >= this.epoch || this.refcount[leaf.bepoch & 1] !== 0) return { status: this.log('TDH_MEM_PAGE_REMOVE', withOperand(TDX_STATUS.TLB_TRACKING_NOT_DONE, TDX_OPERAND_ID.RCX), { gpa }) };
    }
    this.leaves.delete(gfn);
    this.stats.pagesRemoved++;
    return { status: this.log('TDH_MEM_PAGE_REMOVE', TDX_STATUS.SUCCESS, { gpa }), page: leaf.page };
  }

  /** TDH.PHYMEM.PAGE.WBINVD: writes back and invalidates the cache lines of a page under its key. */
  wbinvd(what: string): bigint {
    this.enter('TDH_PHYMEM_PAGE_WBINVD');
    this.stats.wbinvd++;
    return this.log('TDH_PHYMEM_PAGE_WBINVD', TDX_STATUS.SUCCESS, { detail: what });
  }

  /**
   * The guest's TDG.MEM.PAGE.ACCEPT (4 KiB): 'violation' when the Secure-EPT leaf is missing or
   * blocked (the TDX module exits to the host with an EPT violation), else a completion status.
   */
  accept(gpa: bigint, level: number, vcpu: number): bigint | 'violation' {
    if (!this.privateGpa(gpa)) return this.log('TDG_MEM_PAGE_ACCEPT', withOperand(TDX_STATUS.OPERAND_INVALID, TDX_OPERAND_ID.RCX), { gpa, vcpu });
    if (level !== 0) return this.log('TDG_MEM_PAGE_ACCEPT', withOperand(TDX_STATUS.PAGE_SIZE_MISMATCH, TDX_OPERAND_ID.RCX), { gpa, vcpu });
    const leaf = this.missingLevel(gpa) ? undefined : this.leaves.get(Number(gpa >> 12n));
    if (!leaf || leaf.state === 'BLOCKED' || leaf.state === 'PENDING_BLOCKED') return 'violation';
    if (leaf.state === 'MAPPED') return this.log('TDG_MEM_PAGE_ACCEPT', withOperand(TDX_STATUS.PAGE_ALREADY_ACCEPTED, TDX_OPERAND_ID.RCX), { gpa, vcpu });
    // Accepting initialises the page to zero under the TD's key.
    leaf.page.bytes.fill(0, leaf.page.offset, leaf.page.offset + PAGE);
    leaf.state = 'MAPPED';
    this.stats.pagesAccepted++;
    return this.log('TDG_MEM_PAGE_ACCEPT', TDX_STATUS.SUCCESS, { gpa, vcpu });
  }

  /** What a guest load/store/fetch of a private gfn meets in the Secure EPT. */
  lookup(gfn: number): HostPage | 'pending' | 'violation' {
    const leaf = this.leaves.get(gfn);
    if (!leaf) return 'violation';
    if (leaf.state === 'MAPPED') return leaf.page;
    if (leaf.state === 'PENDING') return 'pending';
    return 'violation';
  }

  /** The gfns with a Secure-EPT leaf (any state). */
  mappedGfns(): number[] {
    return [...this.leaves.keys()];
  }

  // ---------------------------------------------------------------------------------------
  // vCPU entry and exit

  /**
   * TDH.VP.ENTER: flushes the vCPU's TLB when it last ran in an older epoch, then counts it in
   * guest mode. Returns whether a flush happened, or a failure status.
   */
  vpEnter(index: number): { status: bigint; flushed: boolean } {
    const b = this.enter('TDH_VP_ENTER');
    if (b !== null) return { status: b, flushed: false };
    const v = this.vcpus[index];
    if (this.opState !== 'RUNNABLE') return { status: this.log('TDH_VP_ENTER', TDX_STATUS.OP_STATE_INCORRECT, { vcpu: index }), flushed: false };
    if (!v || v.state === 'UNINITIALIZED') return { status: this.log('TDH_VP_ENTER', TDX_STATUS.VCPU_STATE_INCORRECT, { vcpu: index }), flushed: false };
    let flushed = false;
    if (v.epoch !== this.epoch) {
      if (v.epoch >= 0) {
        flushed = true;
        v.flushes++;
        this.stats.tlbFlushes++;
        this.log('TLB_FLUSH', TDX_STATUS.SUCCESS, { vcpu: index, detail: `epoch ${v.epoch} -> ${this.epoch}` });
      }
      v.epoch = this.epoch;
    }
    v.state = 'ACTIVE';
    v.associated = true;
    v.entries++;
    this.stats.entries++;
    this.refcount[v.epoch & 1]!++;
    this.log('TDH_VP_ENTER', TDX_STATUS.SUCCESS, { vcpu: index });
    return { status: TDX_STATUS.SUCCESS, flushed };
  }

  /** A TD exit: the vCPU leaves guest mode (its epoch reference is dropped). */
  vpExit(index: number, reason: string): void {
    const v = this.vcpus[index];
    if (!v || v.state !== 'ACTIVE') return;
    v.state = 'READY';
    this.refcount[v.epoch & 1]!--;
    this.log('TD_EXIT', TDX_STATUS.SUCCESS, { vcpu: index, detail: reason });
  }

  // ---------------------------------------------------------------------------------------
  // Teardown

  /**
   * Releases the HKID (tdx_mmu_release_hkid): TDH.VP.FLUSH of every vCPU, TDH.MNG.VPFLUSHDONE,
   * TDH.PHYMEM.CACHE.WB and TDH.MNG.KEY.FREEID. Afterwards pages are reclaimed without flushing.
   */
  releaseHkid(): bigint {
    if (this.hkid < 0) return TDX_STATUS.SUCCESS;
    for (const v of this.vcpus) {
      this.enter('TDH_VP_FLUSH');
      v.associated = false;
      this.log('TDH_VP_FLUSH', TDX_STATUS.SUCCESS, { vcpu: v.index });
    }
    this.enter('TDH_MNG_VPFLUSHDONE');
    if (this.vcpus.some((v) => v.associated || v.state === 'ACTIVE')) return this.log('TDH_MNG_VPFLUSHDONE', TDX_STATUS.FLUSHVP_NOT_DONE);
    this.log('TDH_MNG_VPFLUSHDONE', TDX_STATUS.SUCCESS);
    this.enter('TDH_PHYMEM_CACHE_WB');
    this.log('TDH_PHYMEM_CACHE_WB', TDX_STATUS.SUCCESS);
    this.enter('TDH_MNG_KEY_FREEID');
    this.pool.free(this.hkid);
    this.log('TDH_MNG_KEY_FREEID', TDX_STATUS.SUCCESS, { detail: `hkid ${this.hkid}` });
    this.hkid = -1;
    this.opState = 'TEARDOWN';
    return TDX_STATUS.SUCCESS;
  }

  /**
   * TDH.PHYMEM.PAGE.RECLAIM of one guest page once the HKID is gone (a private SPTE removed after
   * KVM_TDX_TERMINATE_VM): no BLOCK/TRACK/REMOVE and no WBINVD. The page, or undefined.
   */
  reclaimPage(gpa: bigint): HostPage | undefined {
    const gfn = Number(gpa >> 12n);
    const leaf = this.leaves.get(gfn);
    this.enter('TDH_PHYMEM_PAGE_RECLAIM', gpa);
    if (this.opState !== 'TEARDOWN' || !leaf) {
      this.log('TDH_PHYMEM_PAGE_RECLAIM', TDX_STATUS.OP_STATE_INCORRECT, { gpa });
      return undefined;
    }
    this.leaves.delete(gfn);
    this.stats.reclaimed.guest++;
    this.log('TDH_PHYMEM_PAGE_RECLAIM', TDX_STATUS.SUCCESS, { gpa, detail: 'guest' });
    return leaf.page;
  }

  /**
   * TDH.PHYMEM.PAGE.RECLAIM of every page the TD still owns, once its HKID is gone: guest pages
   * (no BLOCK/TRACK/REMOVE, no WBINVD: the cache was written back with the HKID), Secure-EPT
   * tables, vCPU and TD control pages, and finally the TDR (which alone needs a WBINVD).
   */
  reclaimAll(onGuestPage: (page: HostPage) => void): bigint {
    if (this.opState !== 'TEARDOWN') return TDX_STATUS.OP_STATE_INCORRECT;
    for (const [gfn, leaf] of this.leaves) {
      this.enter('TDH_PHYMEM_PAGE_RECLAIM');
      onGuestPage(leaf.page);
      this.stats.reclaimed.guest++;
      this.log('TDH_PHYMEM_PAGE_RECLAIM', TDX_STATUS.SUCCESS, { gpa: BigInt(gfn) << 12n, detail: 'guest' });
    }
    this.leaves.clear();
    for (const _ of this.septTables) {
      this.enter('TDH_PHYMEM_PAGE_RECLAIM');
      this.stats.reclaimed.sept++;
      this.log('TDH_PHYMEM_PAGE_RECLAIM', TDX_STATUS.SUCCESS, { detail: 'sept' });
    }
    this.septTables.clear();
    const control = this.vcpus.length * (1 + TDCX_PAGES) + this.tdcsPages;
    for (let i = 0; i < control; i++) {
      this.enter('TDH_PHYMEM_PAGE_RECLAIM');
      this.stats.reclaimed.control++;
      this.log('TDH_PHYMEM_PAGE_RECLAIM', TDX_STATUS.SUCCESS, { detail: 'control' });
    }
    this.tdcsPages = 0;
    if (this.tdr) {
      this.enter('TDH_PHYMEM_PAGE_RECLAIM');
      this.stats.reclaimed.control++;
      this.log('TDH_PHYMEM_PAGE_RECLAIM', TDX_STATUS.SUCCESS, { detail: 'tdr' });
      this.wbinvd('tdr');
      this.tdr = false;
    }
    this.opState = 'RECLAIMED';
    return TDX_STATUS.SUCCESS;
  }
}

