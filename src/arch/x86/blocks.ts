/**
 * The x86 decoded-block cache (the twin of arm64's jit.ts `Block`/`Jit`): runs of decoded
 * instructions keyed by linear address and execution mode, links between successive blocks,
 * revalidation against guest memory once per KVM_RUN, invalidation by writes to code pages
 * (self-modifying code), and translation of hot blocks by the block JIT (jit.ts).
 * @module
 */
import { RUN_COST } from '../../kernel/deadline.js';
import { PAGE_SIZE } from '../../kernel/hva.js';
import { EMULATION_FAILURE, type X86Cpu } from './cpu.js';
import { decode, F_END, Insn, type DecodeMode } from './decoder.js';
import { X86Translator, type JitHost, type X86BlockFn } from './jit.js';

/** Executions of a block before the JIT translates it (Kernel.jitHotness overrides). */
export const DEFAULT_HOTNESS = 8;
/** Code-page invalidations after which a frame's blocks are no longer translated. */
const SMC_LIMIT = 16;
const MAX_BLOCK = 64;

/** A run of decoded instructions starting at one linear address. */
export interface Block {
  readonly insns: Insn[];
  readonly gfn: number;
  readonly modeKey: number;
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
  /** Block JIT: the translation, executions while cold, and whether translation failed. */
  fn: X86BlockFn | null;
  hits: number;
  noJit: boolean;
}

/** Whether a block ends after `insn` (the table's `end` attribute: control flow, mode changes, exits). */
function endsBlock(insn: Insn): boolean {
  return (insn.desc!.flags & F_END) !== 0;
}

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
  readonly jitStats = { compiled: 0, failed: 0, invalidated: 0, lastError: null as unknown };
  /** Scratch instruction for re-decoding a faulting first fetch. */
  private readonly insn = new Insn();

  constructor(
    private readonly cpu: X86Cpu,
    private readonly host: JitHost,
  ) {}

  /** A new KVM_RUN: userspace may have rewritten guest code since the last one. */
  newEpoch(): void {
    this.epoch++;
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
      }
      this.byGfn.delete(gfn);
    }
    c.codeGfns.delete(gfn);
    this.host.blockStale = true;
  }

  /** Drops every decoded block (memslot changes, VMM writes we cannot see). */
  flush(): void {
    const c = this.cpu;
    c.codeGen++;
    this.prev = null;
    this.blocks.clear();
    this.byGfn.clear();
    c.codeGfns.clear();
  }

  private modeKey(): number {
    const c = this.cpu;
    return (c.long64 ? 1 : 0) | (c.def32 ? 2 : 0) | (c.cpl << 2);
  }

  /** The block at linear `lin` (the current RIP): cached (validated against the physical page) or decoded now. */
  get(lin: number): Block {
    const c = this.cpu;
    const key = this.modeKey();
    const prev = this.prev;
    if (prev !== null && prev.linkGen === c.codeGen && prev.linkMode === key) {
      let next: Block | null = null;
      if (prev.l1 === lin) next = prev.b1;
      else if (prev.l2 === lin) next = prev.b2;
      if (next !== null && (next.epoch === this.epoch || this.revalidate(next, lin))) return (this.prev = next);
    }
    let b = this.lookup(lin, key);
    if (b.cached && b.epoch !== this.epoch && !this.revalidate(b, lin)) b = this.lookup(lin, key);
    const cached = this.blocks.get(lin) === b;
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

  private lookup(lin: number, key: number): Block {
    const c = this.cpu;
    const gfn = c.codeGfn(lin);
    const b = this.blocks.get(lin);
    if (b && b.gfn === gfn && b.modeKey === key) return b;
    const insns: Insn[] = [];
    const mode: DecodeMode = { long64: c.long64, def32: c.def32 };
    let a = lin;
    const pageEnd = lin - (lin & 0xfff) + PAGE_SIZE;
    for (let n = 0; n < MAX_BLOCK; n++) {
      const insn = new Insn();
      decode(insn, a, mode, (k) => c.fetchByte(a + k));
      if (insn.bad === 3) break;
      insns.push(insn);
      if (insn.bad || insn.mn < 0 || endsBlock(insn)) break;
      a += insn.len;
      if (a >= pageEnd) break;
    }
    if (insns.length === 0) {
      // The very first fetch faulted: decode again to raise the fault.
      decode(this.insn, lin, mode, (k) => c.fetchByte(lin + k));
      throw EMULATION_FAILURE;
    }
    const last = insns[insns.length - 1]!;
    const crosses = last.addr + last.len > pageEnd;
    const code = new Uint8Array(last.addr + last.len - lin);
    for (const i of insns) code.set(i.bytes.subarray(0, i.len), i.addr - lin);
    const nb: Block = { insns, gfn, modeKey: key, l1: -1, b1: null, l2: -1, b2: null, linkGen: -1, linkMode: -1, code, epoch: this.epoch, cached: !crosses, fn: null, hits: 0, noJit: false };
    if (!crosses) {
      this.blocks.set(lin, nb);
      let list = this.byGfn.get(gfn);
      if (!list) this.byGfn.set(gfn, (list = []));
      list.push(nb);
      if (!c.codeGfns.has(gfn)) {
        c.codeGfns.add(gfn);
        c.flushWriteTlb();
      }
    }
    return nb;
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

  /** Translates a hot block; a translation error leaves it interpreted (and is counted). */
  compile(b: Block): void {
    this.cpu.vm.kernel.deadline.charge(RUN_COST.COMPILE);
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
      b.fn = t.translate(b.insns);
      this.jitStats.compiled++;
    } catch (e) {
      b.noJit = true;
      this.jitStats.failed++;
      this.jitStats.lastError ??= e;
    }
  }
}
