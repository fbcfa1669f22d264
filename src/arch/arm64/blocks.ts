/**
 * The arm64 block cache: guest basic blocks decoded once, cached per vCPU by virtual address and
 * execution mode, and translated (jit.ts) once hot.
 *
 * - A block runs from its first instruction to the first one that may change control flow or
 *   processor mode (rows marked `ends`: branches, exception generation, system instructions,
 *   WFI/WFE, UNALLOCATED), to the end of its 4 KiB page, or to MAX_BLOCK instructions.
 * - Code seen once costs nothing: the first time a block address is seen (a small direct-mapped
 *   filter remembers recent ones, `firstSight`) the interpreter runs it, ending it where a
 *   decoded block would end; an address seen again is decoded into the cache. Cached blocks start
 *   cold: the dispatcher interprets them (run.ts) and counts executions; after `hotness`
 *   executions the block is translated.
 * - Correctness under code changes: every block remembers its instruction words and guest page.
 *   Guest writes to a page holding blocks never use the write TLB; they reach `codeWrite`, which
 *   drops the overlapping blocks before the store lands and tells the running block to stop
 *   (`Cpu.stop`), so self-modifying code sees its new instructions at once. Writes userspace
 *   makes between runs (through its mapping, invisible here) are caught by revalidation: each
 *   KVM_RUN starts a new epoch, and a block's words are compared with guest memory the first
 *   time it runs in an epoch (in place when it is still the dispatch table's entry: `revalidate`).
 * @module
 */
import { STOP_CODE, type Cpu } from './cpu.js';
import { endsBlock } from './decoder.js';
import { successors, TABLE_MASK, TABLE_SIZE, translate, type BlockFn } from './jit.js';
import { A64 } from './table.js';

/** Longest block, in instructions. */
export const MAX_BLOCK = 96;
export { TABLE_MASK, TABLE_SIZE };
/** Blocks and instructions of one translated region at most (translation cost grows with it). */
const REGION_BLOCKS = 8;
const REGION_INSNS = 256;
/**
 * Executions of a block before it is translated (interpreted until then). Translating a block
 * costs V8 about a millisecond of CPU (parsing the generated function, then optimizing it): the
 * Linux boot fixture took 18.8 s of CPU to init with 16 and 8.0 s with 16384 (9.3 s with 2048).
 */
export const DEFAULT_HOTNESS = 16384;
/** Entries of the filter of block addresses seen once (a power of two). */
const SEEN_BITS = 14;
/**
 * Decoded instructions a vCPU's block cache holds at most (Kernel.codeCacheLimit overrides): past
 * it every block and translation is dropped at once, so distinct code run once cannot grow memory.
 */
export const DEFAULT_CODE_CACHE_LIMIT = 1 << 17;

/** A decoded guest block. */
export class Block {
  /** Translation, null while cold. */
  fn: BlockFn | null = null;
  /** Executions while cold. */
  hits = 0;
  /** `Cpu.jitKey` the block was last validated under (epoch and mode); -1 when invalid. */
  key = -1;
  valid = true;
  /** Translation failed once (an emulator bug): stay interpreted. */
  noJit = false;
  /** Instructions in the block. */
  readonly len: number;

  constructor(
    /** Guest virtual address of the first instruction. */
    readonly va: number,
    /** Execution-mode key (Cpu.modeKey) it was decoded for. */
    readonly mode: number,
    /** Guest frame holding it, and the byte offset of its first word in that frame. */
    readonly gfn: number,
    readonly off: number,
    /** Its instruction words and handler ids. */
    readonly words: Int32Array,
    readonly ids: Uint16Array,
  ) {
    this.len = words.length;
  }
}

/** The blocks decoded from one guest frame, with a per-word count of blocks covering it. */
class CodePage {
  readonly blocks: Block[] = [];
  readonly cover = new Uint16Array(1024);
}

const DUMMY = new Block(NaN, -1, -1, 0, new Int32Array(0), new Uint16Array(0));

/**
 * The dispatch table of a Jit that has cached nothing yet: all DUMMY, shared, never written. A
 * Jit takes its own at its first cached block: V8 spends ~1 ms allocating a 32768-entry array
 * (large-object space), more than a short guest's whole first run.
 */
const EMPTY_TABLE: readonly Block[] = new Array<Block>(TABLE_SIZE).fill(DUMMY);

/**
 * How row `id` ends a block, for the interpreter of code seen once (run.ts): 0 never, 1 always,
 * 2 for some words (`endsBlock`).
 */
export const ENDS = Uint8Array.from({ length: A64.encodings.length + 1 }, (_, id) => {
  if (id === 0) return 1;
  const x = A64.encoding(id).ends;
  return x === undefined || x === false ? 0 : x === true ? 1 : 2;
});

/** Per-vCPU JIT state. */
export class Jit {
  /** Dispatch table indexed by (pc >>> 2) & TABLE_MASK (read it again after `lookup`: it may be replaced). */
  table = EMPTY_TABLE as Block[];
  private readonly byVa = new Map<number, Block[]>();
  /** Guest frames holding decoded blocks (their writes go through `codeWrite`). */
  readonly pages = new Map<number, CodePage>();
  /** Revalidation epoch: bumped by every KVM_RUN. */
  epoch = 1;
  /** Blocks translated (statistics for tests and benchmarks). */
  compiled = 0;
  /** Blocks translated into another block's region (besides its entry). */
  regionBlocks = 0;
  /** Blocks dropped because guest code wrote to them. */
  invalidated = 0;
  /** Blocks whose translation failed (an emulator bug; they stay interpreted). */
  failed = 0;
  /** The first translation error, for tests. */
  lastError: unknown = null;
  /** Instructions in cached blocks, and the times the bound flushed the cache. */
  cachedInsns = 0;
  flushes = 0;
  /**
   * Block addresses seen once: their low 32 bits plus one (direct-mapped; 0: empty, so no fill,
   * since addresses are 4-aligned). Addresses 4 GiB apart alias: one is cached a sight early.
   */
  private readonly seen = new Float64Array(1 << SEEN_BITS);

  constructor(
    private readonly c: Cpu,
    /** Executions before translation (0: translate at first sight). */
    readonly hotness: number,
    /** Decoded instructions held at most. */
    readonly limit = DEFAULT_CODE_CACHE_LIMIT,
  ) {
    this.early = hotness >= 64 ? hotness >>> 4 : -1;
  }

  /** Executions at which a block is translated if its translation is cached already (-1: never). */
  readonly early: number;

  /** Drops every block (the bound): their translations go with them. */
  flushAll(): void {
    for (const page of this.pages.values()) {
      for (const b of page.blocks) {
        b.valid = false;
        b.key = -1;
      }
    }
    this.byVa.clear();
    this.pages.clear();
    if (this.table !== EMPTY_TABLE) this.table.fill(DUMMY);
    this.cachedInsns = 0;
    this.flushes++;
  }

  /** A new KVM_RUN: blocks must be compared with guest memory again before they run. */
  newEpoch(): void {
    this.epoch++;
    if (this.epoch > 0x3fffff) this.epoch = 1;
    this.c.updateJitKey();
  }

  /** Drops the virtual-address index (TLB flush): blocks are found again through their words. */
  flushVa(): void {
    if (this.table !== EMPTY_TABLE) this.table.fill(DUMMY);
  }

  /** The table to write: this Jit's own from its first cached block on. */
  private ownTable(): Block[] {
    if (this.table === EMPTY_TABLE) this.table = new Array<Block>(TABLE_SIZE).fill(DUMMY);
    return this.table;
  }

  /**
   * Whether `pc` is a block address seen for the first time (per the filter, and not cached):
   * then the interpreter runs the block without caching anything (run.ts `fastRun` in its cold mode, which ends
   * it where `lookup` would); false when the block should come from `lookup` (seen before,
   * cached, or translation at first sight).
   */
  firstSight(pc: number): boolean {
    if (this.hotness === 0) return false;
    const key = (pc | 0) + 1;
    const h = Math.imul(key, 0x9e3779b1) >>> (32 - SEEN_BITS);
    if (this.seen[h] === key || (this.cachedInsns !== 0 && this.byVa.has(pc))) return false;
    this.seen[h] = key;
    return true;
  }

  /**
   * The block at `pc` (c.pc): the cached one if its words still match guest memory, else a newly
   * decoded one. Raises the fetch faults (through Cpu.fetchSlow).
   */
  lookup(pc: number): Block {
    const c = this.c;
    let off = pc - c.fetchVa;
    if ((pc & 3) !== 0 || !(off >= 0 && off < 4096) || c.fetchEl !== c.el) {
      c.fetchSlow();
      off = pc - c.fetchVa;
    }
    const gfn = c.fetchGfn;
    const words = c.fetchWords;
    const w0 = off >>> 2;
    const mode = c.modeKey;
    const list = this.byVa.get(pc);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const b = list[i]!;
        if (b.mode !== mode || b.gfn !== gfn) continue;
        if (!sameWords(b.words, words, w0)) {
          this.drop(b);
          i--;
          continue;
        }
        b.key = c.jitKey;
        this.ownTable()[(pc >>> 2) & TABLE_MASK] = b;
        return b;
      }
    }
    const b = this.decode(pc, mode, gfn, off, words);
    b.key = c.jitKey;
    this.ownTable()[(pc >>> 2) & TABLE_MASK] = b;
    if (this.hotness === 0) this.compile(b);
    return b;
  }

  /**
   * The dispatch table's block `b` for `pc`, left stale by a new epoch (KVM_RUN) or a mode change:
   * true, and valid for this epoch, when it holds for the current mode, guest frame and words
   * (the common case, without the address index of `lookup`); false sends the caller to `lookup`.
   */
  revalidate(b: Block, pc: number): boolean {
    const c = this.c;
    if (!b.valid || b.mode !== c.modeKey) return false;
    let off = pc - c.fetchVa;
    if (!(off >= 0 && off < 4096) || c.fetchEl !== c.el) {
      c.fetchSlow();
      off = pc - c.fetchVa;
    }
    if (c.fetchGfn !== b.gfn || !sameWords(b.words, c.fetchWords, off >>> 2)) return false;
    b.key = c.jitKey;
    return true;
  }

  private decode(pc: number, mode: number, gfn: number, off: number, words: Int32Array): Block {
    const w0 = off >>> 2;
    const ids: number[] = [];
    for (let k = w0; k < 1024 && ids.length < MAX_BLOCK; k++) {
      const w = words[k]!;
      const id = A64.decode(w);
      ids.push(id);
      if (endsBlock(A64.encoding(id), w)) break;
    }
    if (this.cachedInsns + ids.length > this.limit) this.flushAll();
    this.cachedInsns += ids.length;
    const b = new Block(pc, mode, gfn, off, words.slice(w0, w0 + ids.length), Uint16Array.from(ids));
    let list = this.byVa.get(pc);
    if (list === undefined) this.byVa.set(pc, (list = []));
    list.push(b);
    let page = this.pages.get(gfn);
    if (page === undefined) {
      this.pages.set(gfn, (page = new CodePage()));
      // Writes to this frame must now reach codeWrite: no write TLB entry may point at it.
      this.c.flushWriteTlb();
    }
    page.blocks.push(b);
    for (let k = 0; k < ids.length; k++) page.cover[w0 + k]!++;
    return b;
  }

  /**
   * Translates `b` (jit.ts) with the region around it: the cached blocks of its mode its direct
   * branches, calls and return sites reach, breadth first, that ran at least a quarter as often
   * as it did (or were translated). With `cachedOnly` (an early attempt, before `b` is hot),
   * only when the process translated the same source before: another VM or vCPU on this thread
   * running the same code pays no V8 compile for it, so it need not wait for the full hotness.
   */
  compile(b: Block, cachedOnly = false): void {
    if (b.fn !== null || b.noJit) return;
    try {
      const blocks = this.region(b);
      b.fn = translate(blocks, this.table, cachedOnly, this.c);
      if (b.fn !== null) {
        this.compiled++;
        this.regionBlocks += blocks.length - 1;
      }
    } catch (e) {
      b.noJit = true;
      this.failed++;
      this.lastError ??= e;
    }
  }

  private region(b: Block): Block[] {
    const out = [b];
    const warm = b.hits >>> 2;
    let insns = b.len;
    for (let i = 0; i < out.length && out.length < REGION_BLOCKS; i++) {
      for (const va of successors(out[i]!)) {
        const list = this.byVa.get(va);
        if (list === undefined) continue;
        for (const m of list) {
          // A translated block counts as hot (its count stopped there, or at the early attempt).
          if (m.mode !== b.mode || !m.valid || m.noJit || (m.fn !== null ? Math.max(m.hits, this.hotness) : m.hits) < warm || out.includes(m)) continue;
          if (insns + m.len > REGION_INSNS || out.length >= REGION_BLOCKS) break;
          out.push(m);
          insns += m.len;
          break;
        }
      }
    }
    return out;
  }

  /** Removes `b` from every index. */
  private drop(b: Block): void {
    if (!b.valid) return;
    b.valid = false;
    b.key = -1;
    this.cachedInsns -= b.len;
    const list = this.byVa.get(b.va);
    if (list !== undefined) {
      const i = list.indexOf(b);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byVa.delete(b.va);
    }
    const page = this.pages.get(b.gfn);
    if (page !== undefined) {
      const i = page.blocks.indexOf(b);
      if (i >= 0) page.blocks.splice(i, 1);
      const w0 = b.off >>> 2;
      for (let k = 0; k < b.len; k++) page.cover[w0 + k]!--;
      if (page.blocks.length === 0) this.pages.delete(b.gfn);
    }
    const t = (b.va >>> 2) & TABLE_MASK;
    if (this.table[t] === b) this.table[t] = DUMMY;
  }

  /**
   * A guest store of `size` bytes at byte `off` of code frame `gfn` (called before it lands):
   * drops every block it overlaps and flags the running block to stop after this instruction.
   */
  codeWrite(gfn: number, off: number, size: number): void {
    const page = this.pages.get(gfn);
    if (page === undefined) return;
    const first = off >>> 2;
    const last = Math.min(1023, (off + size - 1) >>> 2);
    let hit = false;
    for (let w = first; w <= last; w++) if (page.cover[w] !== 0) hit = true;
    if (!hit) return;
    for (const b of page.blocks.slice()) {
      const w0 = b.off >>> 2;
      if (w0 <= last && w0 + b.len > first) {
        this.drop(b);
        this.invalidated++;
      }
    }
    this.c.stop |= STOP_CODE;
  }

  /** Whether guest frame `gfn` holds decoded blocks. */
  isCode(gfn: number): boolean {
    return this.pages.has(gfn);
  }
}

function sameWords(a: Int32Array, page: Int32Array, w0: number): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== page[w0 + k]) return false;
  return true;
}

