/**
 * The x86 decoded-block cache (the twin of arm64's jit.ts `Block`/`Jit`): runs of decoded
 * instructions keyed by linear address and execution mode, links between successive blocks,
 * revalidation against guest memory once per KVM_RUN, invalidation by writes to code pages
 * (self-modifying code), and translation of hot blocks by the block JIT (jit.ts).
 *
 * Cold code costs no memory: the first time a block address is seen its instructions are decoded
 * one at a time into a reused record as the run loop executes them (`stream`, run.ts runStream),
 * or, where the caller needs a block (host debug, a chain of translations), into reused scratch
 * records; only an address seen again (a small direct-mapped filter remembers recent ones) is
 * decoded into the cache. The cache is bounded: when the
 * instructions it holds would pass `limit` (Kernel.codeCacheLimit, default DEFAULT_CODE_CACHE_LIMIT)
 * it is flushed whole (translations go with their blocks), as QEMU flushes its translation buffer.
 * @module
 */
import { RUN_COST } from '../../kernel/deadline.js';
import { PAGE_SIZE } from '../../kernel/hva.js';
import { EMULATION_FAILURE, FAULT, type X86Cpu } from './cpu.js';
import { REF } from './mmu.js';
import { decode, decodeFrom, decodeFull, F_END, Insn, K_IMM, mnemonic, type DecodeMode } from './decoder.js';
import { X86Translator, type JitHost, type X86BlockFn } from './jit.js';

/**
 * Executions of a block before the JIT translates it (Kernel.jitHotness overrides). Translating a
 * block costs V8 about a millisecond of CPU on the main thread (parsing the generated function)
 * and more on its compiler threads (optimizing it), so only code that runs tens of thousands of
 * times repays it. The Linux boot fixture took 32 s of CPU to init with 8, 22 s with 256; at 2048
 * it translated ~890 blocks, 60% of which then retired fewer than 10,000 instructions, and the
 * boot took more CPU than with no JIT at all. Process CPU seconds to power-off, pairs run side by
 * side (load 17-25): 2048 → 20.2 / 17.7 / 18.0, 16384 → 15.7 / 13.3 / 15.0 (~100 translations);
 * 8192, 16384 and 32768 within noise of each other.
 */
export const DEFAULT_HOTNESS = 16384;
/** The default hotness under the x86 wasm engine (virtualSys `jitEngine: 'wasm'`), which was tuned at it. */
export const DEFAULT_WASM_HOTNESS = 2048;
/**
 * Instructions a block's translation retires before it is translated again with its region, at
 * the default hotness (an explicit Kernel.jitHotness gives jitHotness * REGION_FACTOR): 1M, as at
 * the earlier default hotness of 2048, so regions do not wait for the higher block threshold.
 */
export const DEFAULT_REGION_AT = 2048 * 512;
/** Code-page invalidations after which a frame's blocks are no longer translated. */
const SMC_LIMIT = 16;
const MAX_BLOCK = 64;
/**
 * Blocks and instructions of one translated region at most (jit.ts translateRegion): a hot block
 * with the warm blocks of its code page its direct branches, calls and return sites reach. V8's
 * compile time grows with the function (arm64 measured 8 / 256 as the boot's best).
 */
const REGION_BLOCKS = 8;
const REGION_INSNS = 256;
/**
 * A translated block is translated again with its region (and page caches for its memory
 * operands) once its translation retired this many instructions per unit of hotness (2048: 1M);
 * a region costs V8 several times a block's compile, which only code that keeps running repays
 * (the x86 Linux boot fixture, CPU s to init under a load of ~11: 14.1-14.6 with blocks alone,
 * 20-22 with every hot block translated as a region at once, 16.6 at 128 instructions per unit,
 * 14.2 at 512).
 */
export const REGION_FACTOR = 512;
/**
 * Region entries (mode key, linear address) translated in this process: a block's first
 * translation there tries its region at once, taken when its function is compiled already
 * (compile-js.ts: another VM ran the same code), so a fresh VM need not retire a million
 * instructions per block again before its regions run.
 */
const regionEntries = new Set<string>();
const REGION_ENTRIES = 4096;
const regionKey = (b: Block): string => `${b.modeKey}:${b.insns[0]!.addr}`;
const [JCC, JMP, CALL] = ['Jcc', 'JMP', 'CALL'].map(mnemonic) as [number, number, number];
/** Decoded instructions the block cache holds at most before it is flushed (Kernel.codeCacheLimit overrides). */
export const DEFAULT_CODE_CACHE_LIMIT = 1 << 17;
/** Entries of the filter of block addresses seen once (a power of two). */
const SEEN_BITS = 14;
/**
 * The filter slot of a block address: nearby blocks in nearby slots (code runs forward: the
 * filter's cache lines are reused, a hashed slot missed the CPU cache once per block), with the
 * bits above 64 KiB folded in so code 64 KiB apart does not collide.
 */
const seenSlot = (lin: number): number => ((lin >>> 2) ^ (lin >>> 16)) & ((1 << SEEN_BITS) - 1);

/** A run of decoded instructions starting at one linear address. */
export interface Block {
  /** (Mutable for the one reused block of scratch records; a cached block's never change.) */
  insns: Insn[];
  gfn: number;
  modeKey: number;
  /**
   * Links to the blocks that ran next (two successors: taken and fall-through), valid while the
   * code generation and mode key they were recorded under hold: a hit skips the translation and
   * the cache lookup.
   */
  l1: number;
  b1: Block | null;
  l2: number;
  b2: Block | null;
  linkGen: number;
  linkMode: number;
  /** The block's code bytes (cached blocks lie within one page), for revalidation. */
  readonly code: Uint8Array;
  /** The KVM_RUN epoch it was last validated in (-1: never; uncached blocks need none). */
  epoch: number;
  /** Whether it lives in the cache (uncached: crosses a page, decoded for one use). */
  readonly cached: boolean;
  /** Block JIT: the translation, executions (counted on until the region), and whether translation failed. */
  fn: X86BlockFn | null;
  hits: number;
  noJit: boolean;
  /** The translation is the block's region (its last one); instructions its block translation retired. */
  region: boolean;
  ran: number;
}

/**
 * A second writer of translated blocks (the wasm engine, emit-wasm-run.ts `X86WasmEngine`): told
 * what the JS JIT translated, what the cache dropped, and when a new KVM_RUN begins.
 */
export interface JitEngineHook {
  /**
   * Whether `b` is one of the engine's hot blocks: it is not translated again as a JS region
   * (the engine's module holds it; a region would only run JS until the module is written again).
   */
  owns(b: Block): boolean;
  compiled(b: Block): void;
  dropped(gfn: number): void;
  flushed(): void;
  epoch(): void;
}

/** Whether a block ends after `insn` (the table's `end` attribute: control flow, mode changes, exits). */
function endsBlock(insn: Insn): boolean {
  return (insn.desc!.flags & F_END) !== 0;
}

const NO_CODE = new Uint8Array(0);

/** The decoded blocks of one vCPU. */
export class BlockCache {
  private readonly blocks = new Map<number, Block>();
  private readonly byGfn = new Map<number, Block[]>();
  /** The block that ran last (its links record what runs next). */
  private prev: Block | null = null;
  /** KVM_RUN count: cached blocks are revalidated against guest memory once per epoch. */
  private epoch = 0;
  /** Times each guest frame's decoded code was dropped by writes (self-modifying code). */
  private readonly codeWrites = new Map<number, number>();
  /** Block JIT translators per mode key; statistics for tests. */
  private readonly translators = new Map<number, X86Translator>();
  readonly jitStats = { compiled: 0, failed: 0, invalidated: 0, lastError: null as unknown, flushes: 0, cachedInsns: 0, regionBlocks: 0, regionsAtOnce: 0 };
  /** Scratch instruction for re-decoding a faulting first fetch. */
  private readonly insn = new Insn();
  /** Scratch records for blocks decoded for one use (first sight, page-crossing). */
  private readonly scratch: Insn[] = Array.from({ length: MAX_BLOCK }, () => new Insn());
  /** The records of the block being decoded: scratch ones, or fresh ones for a block that is kept. */
  private readonly work: Insn[] = this.scratch.slice();
  /**
   * Block addresses seen once (direct-mapped by seenSlot; the low 32 bits of the address, -1:
   * empty). A false hit only caches a block one sight early.
   */
  private readonly seen = new Int32Array(1 << SEEN_BITS).fill(-1);
  /** scratchLists[n]: the first n scratch records (a block decoded for one use holds one of them). */
  private readonly scratchLists: Insn[][] = [];
  /** The block of scratch records lookup returns (one at a time: the run loop is done with the last one). */
  private readonly scratchBlock: Block = { insns: [], gfn: 0, modeKey: 0, l1: -1, b1: null, l2: -1, b2: null, linkGen: -1, linkMode: -1, code: NO_CODE, epoch: -1, cached: false, fn: null, hits: 0, noJit: true, region: false, ran: 0 };
  /** Decode modes by (long64 | def32 << 1), and the decoder's byte source (fetchBase + i): no allocation per block. */
  private readonly modes: DecodeMode[] = [
    { long64: false, def32: false },
    { long64: true, def32: false },
    { long64: false, def32: true },
    { long64: true, def32: true },
  ];
  private fetchBase = 0;
  private readonly fetch = (k: number): number => this.cpu.fetchByte(this.fetchBase + k);

  constructor(
    private readonly cpu: X86Cpu,
    private readonly host: JitHost,
    /** Cache blocks at first sight (the JIT translating at first sight needs them cached). */
    private readonly eager = false,
    /** Decoded instructions held at most (flushed whole past it). */
    readonly limit = DEFAULT_CODE_CACHE_LIMIT,
  ) {}

  /** The wasm engine, when the VM uses it (virtualSys `jitEngine`). */
  hook: JitEngineHook | null = null;

  /** A new KVM_RUN: userspace may have rewritten guest code since the last one. */
  newEpoch(): void {
    this.epoch++;
    this.hook?.epoch();
  }

  /** A write landed on code page `gfn`: drop its blocks (the running block is stale). */
  invalidate(gfn: number): void {
    const c = this.cpu;
    c.vm.kernel.deadline.charge(RUN_COST.CODE_WRITE);
    c.codeGen++;
    this.codeWrites.set(gfn, (this.codeWrites.get(gfn) ?? 0) + 1);
    const list = this.byGfn.get(gfn);
    if (list) {
      for (const b of list) {
        const lin = b.insns[0]!.addr;
        if (this.blocks.get(lin) === b) this.blocks.delete(lin);
        this.jitStats.cachedInsns -= b.insns.length;
      }
      this.byGfn.delete(gfn);
    }
    c.codeGfns.delete(gfn);
    this.codePage = -1;
    this.host.blockStale = true;
    this.hook?.dropped(gfn);
  }

  /** Drops every decoded block (memslot changes, VMM writes we cannot see). */
  flush(): void {
    const c = this.cpu;
    c.codeGen++;
    this.prev = null;
    this.blocks.clear();
    this.byGfn.clear();
    c.codeGfns.clear();
    this.codePage = -1;
    this.jitStats.cachedInsns = 0;
    // Per-frame rewrite counts: forgotten with the blocks (bounded like them).
    if (this.codeWrites.size > 4096) this.codeWrites.clear();
    this.hook?.flushed();
  }

  private modeKey(): number {
    const c = this.cpu;
    return (c.long64 ? 1 : 0) | (c.def32 ? 2 : 0) | (c.cpl << 2);
  }

  /**
   * The block at linear `lin` (the current RIP): cached (validated against the physical page) or
   * decoded now. With `stream`, code seen for the first time is not decoded here: the result is
   * `this.stream`, and the caller runs it an instruction at a time (beginStream / streamNext).
   */
  get(lin: number, stream = false): Block {
    const c = this.cpu;
    const key = this.modeKey();
    let prev = this.prev;
    if (prev !== null && prev.linkGen === c.codeGen && prev.linkMode === key) {
      let next: Block | null = null;
      if (prev.l1 === lin) next = prev.b1;
      else if (prev.l2 === lin) next = prev.b2;
      if (next !== null && (next.epoch === this.epoch || this.revalidate(next, lin))) return (this.prev = next);
    }
    let b = this.lookup(lin, key, stream);
    if (b.cached && b.epoch !== this.epoch && !this.revalidate(b, lin)) b = this.lookup(lin, key, stream);
    const cached = b.cached && this.blocks.get(lin) === b;
    // A flush (the bound) or a revalidation failure inside lookup dropped the previous block.
    if (this.prev === null) prev = null;
    if (prev !== null && cached) {
      if (prev.linkGen !== c.codeGen || prev.linkMode !== key) {
        prev.l1 = prev.l2 = -1;
        prev.b1 = prev.b2 = null;
        prev.linkGen = c.codeGen;
        prev.linkMode = key;
      }
      if (prev.l1 === -1) {
        prev.l1 = lin;
        prev.b1 = b;
      } else {
        prev.l2 = lin;
        prev.b2 = b;
      }
    }
    this.prev = cached ? b : null;
    return b;
  }

  /**
   * The translated block that follows `b` at linear `lin` by its links alone, or null (then
   * {@link get} decides). For the run loop's chain after `b` ran translated without calling a
   * handler: the mode it recorded its links under still holds, so only the code generation, the
   * link and the successor's validation in this KVM_RUN are checked.
   */
  follow(b: Block, lin: number): Block | null {
    if (b !== this.prev || b.linkGen !== this.cpu.codeGen || b.linkMode !== b.modeKey) return null;
    const next = b.l1 === lin ? b.b1 : b.l2 === lin ? b.b2 : null;
    if (next === null || next.fn === null || next.epoch !== this.epoch) return null;
    this.prev = next;
    return next;
  }

  /** A byte view of the buffer a TLB DataView covers (one remembered: guest RAM is usually one buffer). */
  private bytesOf(dv: DataView): Uint8Array {
    if (dv !== this.lastDv) {
      this.lastDv = dv;
      this.lastU8 = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
    }
    return this.lastU8;
  }
  private lastDv: DataView | null = null;
  /** The frame lookup last found in codeGfns (-1: none): the set is not searched again for it. */
  private codePage = -1;
  private lastU8: Uint8Array = NO_CODE;

  private lookup(lin: number, key: number, stream: boolean): Block {
    const c = this.cpu;
    const gfn = c.codeGfn(lin);
    const b = this.blocks.get(lin);
    if (b && b.gfn === gfn && b.modeKey === key) return b;
    // First sight of this address (per the filter): run an instruction at a time, or decode into
    // scratch records for one use.
    let keep = this.eager;
    if (!keep) {
      const h = seenSlot(lin);
      keep = this.seen[h] === (lin | 0);
      this.seen[h] = lin;
      if (!keep && stream) {
        const sb = this.stream;
        sb.gfn = gfn;
        sb.modeKey = key;
        return sb;
      }
    }
    const mode = this.modes[(c.long64 ? 1 : 0) | (c.def32 ? 2 : 0)]!;
    let a = lin;
    const fetch = this.fetch;
    const pageEnd = lin - (lin & 0xfff) + PAGE_SIZE;
    const work = this.work;
    // The page's bytes as the TLB maps them (codeGfn filled it): read directly, fetchByte past the page.
    // (Pages 2 GiB or more into their buffer go through fetchByte: decodeFrom takes int32 offsets.)
    const direct = c.codeRef(lin) && REF.off < 0x7fff_0000;
    const u8 = direct ? this.bytesOf(REF.dv) : NO_CODE;
    const off0 = REF.off - lin;
    let count = 0;
    for (let n = 0; n < MAX_BLOCK; n++) {
      const insn = keep ? new Insn() : this.scratch[n]!;
      this.fetchBase = a;
      try {
        if (direct) decodeFrom(insn, a, mode, fetch, u8, off0 + a, pageEnd - a);
        else decode(insn, a, mode, fetch);
      } catch (e) {
        // The fetch of a later instruction's bytes past the page end faulted (#PF of the next
        // page): the block ends before it, which then faults when it is reached, after the
        // instructions before it ran (raise only recorded the fault; nothing was delivered).
        if (e !== FAULT || n === 0) throw e;
        break;
      }
      if (insn.bad === 3) break;
      work[n] = insn;
      count++;
      if (insn.bad || insn.mn < 0 || endsBlock(insn)) break;
      a += insn.len;
      if (a >= pageEnd) break;
    }
    if (count === 0) {
      // The very first fetch faulted: decode again to raise the fault.
      this.fetchBase = lin;
      decode(this.insn, lin, mode, fetch);
      throw EMULATION_FAILURE;
    }
    // An instruction crossing into the next page makes a block uncacheable (decoded again at every
    // execution): end the block before it, so only that instruction is decoded each time (a hot
    // loop over a page boundary, as in the x86 kernel's XZ decompressor, ran ~5x slower).
    if (count > 1 && work[count - 1]!.addr + work[count - 1]!.len > pageEnd) count--;
    const last = work[count - 1]!;
    const crosses = last.addr + last.len > pageEnd;
    if (keep && !crosses && this.jitStats.cachedInsns + count > this.limit) {
      // The bound: drop every block (and its translation) and start again.
      this.flush();
      this.jitStats.flushes++;
    }
    if (!crosses && gfn !== this.codePage) {
      if (!c.codeGfns.has(gfn)) {
        // Writes to the page now reach invalidate(): a store into the running block stops it.
        c.codeGfns.add(gfn);
        c.flushWriteTlb();
      }
      this.codePage = gfn;
    }
    if (crosses || !keep) {
      // Decoded for one use: interpreted now, never linked, revalidated or translated.
      const sb = this.scratchBlock;
      sb.insns = keep ? work.slice(0, count) : (this.scratchLists[count] ??= this.scratch.slice(0, count));
      sb.gfn = gfn;
      sb.modeKey = key;
      return sb;
    }
    const insns = work.slice(0, count);
    this.jitStats.cachedInsns += count;
    const code = new Uint8Array(last.addr + last.len - lin);
    for (const i of insns) for (let k = 0; k < i.len; k++) code[i.addr - lin + k] = i.bytes[k]!;
    const nb: Block = { insns, gfn, modeKey: key, l1: -1, b1: null, l2: -1, b2: null, linkGen: -1, linkMode: -1, code, epoch: this.epoch, cached: true, fn: null, hits: 0, noJit: false, region: false, ran: 0 };
    this.blocks.set(lin, nb);
    let list = this.byGfn.get(gfn);
    if (!list) this.byGfn.set(gfn, (list = []));
    list.push(nb);
    return nb;
  }

  /**
   * The marker `get` returns for code seen for the first time when the caller streams it: it holds
   * no instructions; beginStream and streamNext decode them one at a time as they run, so first-run
   * code costs no block list, no block record and no second pass over its bytes.
   */
  readonly stream: Block = { insns: [], gfn: 0, modeKey: 0, l1: -1, b1: null, l2: -1, b2: null, linkGen: -1, linkMode: -1, code: NO_CODE, epoch: -1, cached: false, fn: null, hits: 0, noJit: true, region: false, ran: 0 };
  /** The record streamed instructions are decoded into (one at a time). */
  readonly streamInsn = new Insn();
  /** The streamed page's decode mode, bytes (`sDirect`: read directly) and offset of linear address 0 in them (runStream reads them once). */
  sMode: DecodeMode = this.modes[0]!;
  private sKey = 0;
  sU8: Uint8Array = NO_CODE;
  /** Offset of linear address 0 of the streamed page in sU8 (int32 arithmetic: see lookup). */
  sOff0 = 0;
  sDirect = false;
  /** The streamed page's linear start and end (its frame stays mapped while the TLB entry does). */
  private sPage = 0;
  sPageEnd = 0;
  /** The code generation (bumped by every TLB flush) sU8/sOff0 were read in. */
  private sGen = -1;

  /**
   * Starts streaming code at `lin` (get returned `stream`; its TLB entry is filled): the page's
   * bytes and the decode mode. The page is not made a code page (writes to it keep the write TLB):
   * each instruction is decoded when it is reached, so a store to the code ahead is seen as it
   * is, and a page holding cached blocks is a code page already.
   */
  beginStream(lin: number): void {
    const c = this.cpu;
    this.sKey = this.stream.modeKey;
    this.sMode = this.modes[(c.long64 ? 1 : 0) | (c.def32 ? 2 : 0)]!;
    this.sPage = lin - (lin & 0xfff);
    this.sPageEnd = this.sPage + PAGE_SIZE;
    this.sDirect = c.codeRef(lin) && REF.off < 0x7fff_0000;
    this.sU8 = this.sDirect ? this.bytesOf(REF.dv) : NO_CODE;
    this.sOff0 = REF.off - lin;
    this.sGen = c.codeGen;
  }

  /**
   * Decodes the instruction at `a` (on the streamed page) into `streamInsn`, when runStream's own
   * decodePage call did not (fewer than 15 bytes left on the page, a form the fast path leaves,
   * the page not read directly). A fetch past the page end may raise (#PF of the next page:
   * thrown FAULT, the instruction at `a` faults).
   */
  streamNext(a: number): Insn {
    const insn = this.streamInsn;
    if (this.sDirect) {
      this.fetchBase = a;
      decodeFull(insn, a, this.sMode, this.fetch, this.sU8, (this.sOff0 + a) | 0, this.sPageEnd - a);
    } else {
      this.fetchBase = a;
      decode(insn, a, this.sMode, this.fetch);
    }
    return insn;
  }

  /**
   * Whether the stream may go on into the block at `lin` (after a block-ending instruction): on the
   * same page, still mapped as it was, in the same mode, not cached, and seen for the first time
   * (the filter records it; an address seen before is left to get, which caches it).
   */
  streamOn(lin: number): boolean {
    if (lin < this.sPage || lin >= this.sPageEnd) return false;
    const c = this.cpu;
    if (this.modeKey() !== this.sKey) return false;
    // The page's bytes as beginStream found them, unless a TLB flush (codeGen) may have moved it.
    if (c.codeGen !== this.sGen && (!c.codeRef(lin) || REF.off - lin !== this.sOff0)) return false;
    if (this.blocks.size !== 0 && this.blocks.has(lin)) return false;
    if (this.eager) return false;
    const h = seenSlot(lin);
    if (this.seen[h] === (lin | 0)) return false;
    this.seen[h] = lin;
    return true;
  }

  /**
   * First use of a cached block in this KVM_RUN: userspace may have rewritten guest code through
   * its mapping since the last run. Returns false (and drops the page's blocks) when it did.
   */
  private revalidate(b: Block, lin: number): boolean {
    if (this.cpu.codeMatches(lin, b.code)) {
      b.epoch = this.epoch;
      return true;
    }
    this.jitStats.invalidated++;
    this.invalidate(b.gfn);
    this.host.blockStale = false;
    this.prev = null;
    return false;
  }

  /**
   * The region of hot block `b` (64-bit mode): `b`, then breadth first the cached blocks its direct
   * JMP/Jcc/CALL targets, CALL return sites and fall-through reach that lie on b's linear page and
   * frame, in b's mode, ran at least a quarter as often (or were translated) and decode whole.
   * Members share b's page, so the mapping the run loop checked for b holds for all of them, and
   * a write that drops one drops b too.
   */
  private region(b: Block): Block[] {
    const out = [b];
    const lin0 = b.insns[0]!.addr;
    const page = lin0 - (lin0 & 0xfff);
    const warm = b.hits >>> 2;
    let count = b.insns.length;
    for (let q = 0; q < out.length && out.length < REGION_BLOCKS; q++) {
      const blk = out[q]!;
      const last = blk.insns[blk.insns.length - 1]!;
      const next = last.addr + last.len;
      const succ: number[] = [];
      if (last.mn === JCC) succ.push(last.imm, next);
      else if (last.mn === JMP && last.kind[0] === K_IMM) succ.push(last.imm);
      else if (last.mn === CALL && last.kind[0] === K_IMM) succ.push(last.imm, next);
      else if (!endsBlock(last)) succ.push(next);
      for (const a of succ) {
        if (a < page || a >= page + PAGE_SIZE) continue;
        const m = this.blocks.get(a);
        if (m === undefined || out.includes(m) || m.gfn !== b.gfn || m.modeKey !== b.modeKey || m.noJit) continue;
        if ((m.fn === null && m.hits < warm) || m.insns.some((i) => i.bad !== 0 || i.mn < 0)) continue;
        if (count + m.insns.length > REGION_INSNS || out.length >= REGION_BLOCKS) break;
        out.push(m);
        count += m.insns.length;
      }
    }
    return out;
  }

  /**
   * Translates a hot block: alone at first, with its region (`region`: it ran REGION_FACTOR times
   * the hotness since) in 64-bit mode; a translation error leaves it as it was (and is counted).
   */
  compile(b: Block, region = false): void {
    this.cpu.vm.kernel.deadline.charge(RUN_COST.COMPILE);
    // (Whatever happens below, a block is translated with its region at most once.)
    b.region = region;
    if (region && this.hook !== null && this.hook.owns(b)) return;
    // A frame whose code keeps being rewritten stays interpreted: translating it again and again
    // would cost more than it saves.
    if ((this.codeWrites.get(b.gfn) ?? 0) > SMC_LIMIT) {
      b.noJit = true;
      return;
    }
    // Undecodable bytes (#UD, too long, unknown) raise through the interpreter's checks.
    if (b.insns.some((i) => i.bad !== 0 || i.mn < 0)) {
      b.noJit = true;
      return;
    }
    try {
      let t = this.translators.get(b.modeKey);
      if (t === undefined) this.translators.set(b.modeKey, (t = new X86Translator({ long64: this.cpu.long64, def32: this.cpu.def32 })));
      let fn: X86BlockFn | null = null;
      if (!region && this.hook === null && this.cpu.long64 && regionEntries.has(regionKey(b))) {
        const blocks = this.region(b);
        if ((fn = t.cachedRegion(blocks, this.cpu)) !== null) {
          b.region = true;
          this.jitStats.regionBlocks += blocks.length - 1;
          this.jitStats.regionsAtOnce++;
        }
      }
      if (fn !== null) b.fn = fn;
      else if (region) {
        const blocks = this.region(b);
        b.fn = t.translateRegion(blocks, this.cpu);
        this.jitStats.regionBlocks += blocks.length - 1;
        if (regionEntries.size >= REGION_ENTRIES) regionEntries.clear();
        regionEntries.add(regionKey(b));
      } else b.fn = t.translate(b.insns, this.cpu);
      this.jitStats.compiled++;
      this.hook?.compiled(b);
    } catch (e) {
      if (b.fn === null) b.noJit = true;
      this.jitStats.failed++;
      this.jitStats.lastError ??= e;
    }
  }
}
