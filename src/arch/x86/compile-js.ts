/**
 * What x86 translated code runs against, and how its source becomes a function: the run loop's
 * flags it reads (JitHost), the TLB it probes, a region's members, the helpers in scope (`K`), and
 * the caches of compiled code shared by every vCPU and VM. The source itself is written by emit-js.ts.
 * @module
 */
import { divs128, divu128, imul64, muls64, mulu64, W } from '../arith64.js';
import { VEC, type X86Cpu } from './cpu.js';
import type { Insn } from './decoder.js';
import { ea, HANDLERS } from './exec/index.js';
import type { Flags } from './flags.js';
import { TLB_MASK } from './mmu.js';
import type { X86State } from './state.js';

/** What translated code reads of the run loop (X86Machine). */
export interface JitHost {
  /** Set when the instruction that just ran ends the run (an MMIO write, a debug exit...). */
  stopReason: number;
  /** Set when a store dropped decoded code (the rest of the block may be stale). */
  blockStale: boolean;
  /**
   * Set when translated code called an interpreter handler: it may have changed what the run
   * loop checks between blocks (mode, CPL, TF, the interrupt shadow, debug registers), so the
   * next block is not followed by its link alone.
   */
  handled: boolean;
}

/** A translated block: runs it (looping while `lim` instructions allow) and returns instructions retired. */
export type X86BlockFn = (c: X86Cpu, s: X86State, R: Int32Array, f: Flags, m: JitHost, lim: number) => number;

/** Execution mode a translation is specialised for (a block's modeKey decides it). */
export interface JitMode {
  readonly long64: boolean;
  readonly def32: boolean;
}

/**
 * The software TLB's entries (X86Mmu's; tag = vpn * 2 + user, NaN when invalid): translated code
 * probes them inline and calls `readLin`/`writeLin` only on a miss (a fill, MMIO, a code page, a
 * page-crossing access). A write-set hit is RAM that is neither MMIO nor decoded code.
 */
export interface JitTlb {
  readonly rTag: Float64Array;
  readonly rDv: readonly (DataView | null)[];
  readonly rOff: Float64Array;
  readonly wTag: Float64Array;
  readonly wDv: readonly (DataView | null)[];
  readonly wOff: Float64Array;
}

/** A TLB that never hits (translations made without a vCPU: tests of the generated code). */
const NO_TLB: JitTlb = { rTag: new Float64Array(TLB_MASK + 1).fill(NaN), rDv: [], rOff: new Float64Array(0), wTag: new Float64Array(TLB_MASK + 1).fill(NaN), wDv: [], wOff: new Float64Array(0) };

/** A region's compiled function: what it reads of its VM comes as arguments. */
type SharedFn = (c: X86Cpu, s: X86State, R: Int32Array, f: Flags, m: JitHost, lim: number, I: readonly Insn[], T: JitTlb, BL: readonly RegionMember[]) => number;

/**
 * A region (64-bit mode): blocks of one code page translated into one function that moves between
 * them (see JsEmitter). Member 0 is the entry; `starts` are the members' linear addresses, `bases`
 * the index of each member's first instruction in the concatenated instruction list, `retSites`
 * the members a RET inside the region is predicted to return to (the return sites of its CALLs).
 */
export interface JsRegion {
  readonly starts: readonly number[];
  readonly bases: readonly number[];
  readonly lens: readonly number[];
  readonly retSites: readonly number[];
}

/**
 * What translated code reads of a region's member blocks (blocks.ts `Block`): the KVM_RUN epoch it
 * was last validated in. The entry's is the current one whenever the function runs (the run loop
 * validated it), so a move to a member validated in another epoch leaves to the run loop instead.
 */
export interface RegionMember {
  readonly epoch: number;
}

/** Helpers translated code reaches through `K`. */
const HELPERS = {
  /** The interpreter's exact address path (wrap-around, non-canonical #GP/#SS, segment checks). */
  lin: (c: X86Cpu, i: Insn, size: number, write: boolean) => c.linear(i.seg, ea(c, i), size, write),
  /** 64x64 -> 128 multiply and 128/64 divide without BigInt (src/arch/arith64.ts), results in W. */
  mulu64,
  muls64,
  imul64,
  divu128,
  divs128,
  W,
  /** #DE (a zero divisor or a quotient that does not fit). */
  de: (c: X86Cpu): never => c.raise(VEC.DE),
};

/** A block's factory (see emit-js.ts): a closure per translation. */
type Factory = (H: typeof HANDLERS, K: typeof HELPERS, I: readonly Insn[], T: JitTlb) => X86BlockFn;
const factories = new Map<string, Factory>();
/**
 * Source -> a region's compiled function, process-wide: vCPUs and VMs running the same region
 * share one function object, so V8's optimised code (and its type feedback) outlives the VM that
 * first ran it, and a fresh VM's region runs optimised at once (V8 takes 10-250 ms of CPU to
 * optimise one). What a region reads of its VM (the decoded instructions, the vCPU's TLB, the
 * members) comes in as arguments, so the function depends on its source text alone, which spells
 * out every inline operand, address and mode: other bytes at the same address give another text.
 * Blocks stay closures of a factory: a block function is called every few instructions, and the
 * arguments cost more there than V8's optimising it once per VM.
 */
const shared = new Map<string, SharedFn>();
const CACHE_LIMIT = 2048;
/** Regions translated in this process whose compiled function was already there (hits) or was compiled (misses), for tests. */
export const regionCache = { hits: 0, misses: 0 };

/**
 * The block function of `src` (a JsEmitter's source) for the decoded instructions it was written
 * from; `members`: a region's member blocks (its source is a region's).
 */
export function compileJs(src: string, insns: readonly Insn[], tlb?: JitTlb, members?: readonly RegionMember[]): X86BlockFn;
/** With `cachedOnly`: a region's function only if it is compiled already (else null). */
export function compileJs(src: string, insns: readonly Insn[], tlb: JitTlb, members: readonly RegionMember[], cachedOnly: boolean): X86BlockFn | null;
export function compileJs(src: string, insns: readonly Insn[], tlb: JitTlb = NO_TLB, members?: readonly RegionMember[], cachedOnly = false): X86BlockFn | null {
  if (members === undefined) {
    let factory = factories.get(src);
    if (factory === undefined) {
      factory = new Function('H', 'K', 'I', 'T', src) as Factory;
      if (factories.size >= CACHE_LIMIT) factories.clear();
      factories.set(src, factory);
    }
    return factory(HANDLERS, HELPERS, insns, tlb);
  }
  let fn = shared.get(src);
  if (fn !== undefined) regionCache.hits++;
  else if (cachedOnly) return null;
  else {
    regionCache.misses++;
    fn = (new Function('H', 'K', src) as (H: typeof HANDLERS, K: typeof HELPERS) => SharedFn)(HANDLERS, HELPERS);
    if (shared.size >= CACHE_LIMIT) shared.clear();
    shared.set(src, fn);
  }
  const g = fn;
  return (c, s, R, f, m, lim) => g(c, s, R, f, m, lim, insns, tlb, members);
}
