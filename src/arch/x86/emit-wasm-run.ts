/**
 * The runtime of the x86 wasm writer (emit-wasm.ts): a module bound to one vCPU's control area in
 * a shared WebAssembly.Memory, the imports its code calls (handlers, the exact memory paths, the
 * flags record), the TLB mirror, and block functions with the JIT's `X86BlockFn` contract.
 *
 * Attaching a vCPU moves its GPR file (`X86_HOT`'s `r`) into the control area: the vCPU's
 * `X86State.r` becomes a view of the wasm memory, so handlers and wasm code share the registers. The vCPU's TLB flushes empty the wasm TLB too; a slow access that filled the vCPU's
 * TLB with a page of this memory copies that entry.
 * @module
 */
import type { X86Cpu } from './cpu.js';
import type { Insn } from './decoder.js';
import { ea, HANDLERS } from './exec/index.js';
import type { Flags } from './flags.js';
import type { JitHost, X86BlockFn } from './jit.js';
import { PARITY } from './flags.js';
import { X86_HOT, type X86State } from './state.js';
import type { Block, JitEngineHook } from './blocks.js';
import { buildX86Module, TLB_ENTRIES, X86_WASM, type X86WasmCode } from './emit-wasm.js';
import { MODULE_INSNS, type WasmBlockSrc } from './emit-wasm-module.js';
import { STAMP_SLOTS } from './emit-wasm-base.js';
import { WA, type WasmMemory } from '../arm64/wasm-module.js';
import { CTL_AREA_BYTES, wasmRam, type WasmRam } from '../../kernel/hva.js';

const TWO32 = 4294967296;
const NO_TAG = 0x7fffffff;

/**
 * One vCPU's control area in a wasm memory: its register file (X86_HOT, moved there at `attach`),
 * the flags record, the exit record and the TLB mirror. Every module of the vCPU uses it.
 */
export class X86WasmCtl {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly buf: SharedArrayBuffer;
  /** Word offsets of the control area's records. */
  readonly wFlags: number;
  readonly wStatus: number;
  readonly wT1: number;
  readonly wUser: number;
  readonly wStamp: number;
  readonly wStamps: number;
  readonly dExit: number;
  private readonly wRTag: number;
  private readonly wRAdd: number;
  private readonly wWTag: number;
  private readonly wWAdd: number;
  c: X86Cpu | null = null;

  constructor(
    readonly memory: WasmMemory,
    /** The control area's byte offset (a multiple of 8). */
    readonly ctl: number,
  ) {
    this.buf = memory.buffer;
    this.i32 = new Int32Array(this.buf);
    this.f64 = new Float64Array(this.buf);
    const w = (off: number) => (ctl + off) / 4;
    this.wFlags = w(X86_WASM.flags);
    this.wStatus = w(X86_WASM.status);
    this.wT1 = w(X86_WASM.t1);
    this.wUser = w(X86_WASM.user);
    this.wStamp = w(X86_WASM.stamp);
    this.wStamps = w(X86_WASM.stamps);
    this.dExit = (ctl + X86_WASM.exitRip) / 8;
    this.wRTag = w(X86_WASM.rTag);
    this.wRAdd = w(X86_WASM.rAdd);
    this.wWTag = w(X86_WASM.wTag);
    this.wWAdd = w(X86_WASM.wAdd);
    const par = new Uint8Array(this.buf, ctl + X86_WASM.parity, 256);
    for (let i = 0; i < 256; i++) par[i] = PARITY[i] ? 1 : 0;
    this.flush(true, true);
  }

  /**
   * Binds the control area to vCPU `c`: its GPR file (X86_HOT's `r`) moves into it (X86State.r is
   * a view of the wasm memory from now on, at X86_HOT's offset), and its TLB flushes empty the
   * wasm TLB. The FXSAVE image stays where it is: the CPU's x87/SSE views were made over it.
   */
  attach(c: X86Cpu): void {
    this.c = c;
    // (X86State.r is readonly for everyone else: only this move replaces it.)
    const s = c.s as unknown as { r: Int32Array<ArrayBufferLike> };
    const at = this.ctl + X86_WASM.hot + X86_HOT.offsetOf('r');
    if ((s.r.buffer as ArrayBufferLike) !== this.buf || s.r.byteOffset !== at) {
      const r = new Int32Array(this.buf, at, X86_HOT.fields.r.count);
      r.set(s.r);
      s.r = r;
    }
    const proto = Object.getPrototypeOf(c) as X86Cpu;
    const self = this;
    Object.assign(c, {
      flushTlb(this: X86Cpu) {
        proto.flushTlb.call(this);
        self.flush(true, true);
      },
      flushWriteTlb(this: X86Cpu) {
        proto.flushWriteTlb.call(this);
        self.flush(false, true);
      },
      flushTlbPage(this: X86Cpu, lin: number) {
        proto.flushTlbPage.call(this, lin);
        const i = Math.floor(lin / 4096) & (TLB_ENTRIES - 1);
        self.i32[self.wRTag + 2 * i + 1] = NO_TAG;
        self.i32[self.wWTag + 2 * i + 1] = NO_TAG;
      },
    });
    this.flush(true, true);
  }

  /** Empties the wasm TLB's read and/or write set. */
  flush(read: boolean, write: boolean): void {
    for (let i = 0; i < TLB_ENTRIES; i++) {
      if (read) this.i32[this.wRTag + 2 * i + 1] = NO_TAG;
      if (write) this.i32[this.wWTag + 2 * i + 1] = NO_TAG;
    }
  }

  /** Copies the vCPU's TLB entries for `lin`'s index when they map pages of this memory. */
  mirror(lin: number): void {
    const c = this.c as X86Cpu;
    const i = Math.floor(lin / 4096) & (TLB_ENTRIES - 1);
    const put = (tag: Float64Array, dv: readonly (DataView | null)[], off: Float64Array, wTag: number, wAdd: number) => {
      const t = tag[i]!;
      const d = dv[i];
      if (t === t && d !== null && d !== undefined && d.buffer === this.buf) {
        const hi = Math.floor(t / TWO32);
        this.i32[wTag + 2 * i] = (t - hi * TWO32) | 0;
        this.i32[wTag + 2 * i + 1] = hi | 0;
        this.i32[wAdd + i] = d.byteOffset + off[i]!;
      } else this.i32[wTag + 2 * i + 1] = NO_TAG;
    };
    put(c.rTag, c.rDv, c.rOff, this.wRTag, this.wRAdd);
    put(c.wTag, c.wDv, c.wOff, this.wWTag, this.wWAdd);
  }

  flagsIn(f: Flags): void {
    const a = this.i32;
    const w = this.wFlags;
    a[w] = f.op;
    a[w + 1] = f.size;
    a[w + 2] = f.a0;
    a[w + 3] = f.a1;
    a[w + 4] = f.b0;
    a[w + 5] = f.b1;
    a[w + 6] = f.r0;
    a[w + 7] = f.r1;
    a[w + 8] = f.cin;
    a[w + 9] = f.ofv;
    a[w + 10] = f.afv;
  }

  flagsOut(f: Flags): void {
    const a = this.i32;
    const w = this.wFlags;
    f.op = a[w] as Flags['op'];
    f.size = a[w + 1]!;
    f.a0 = a[w + 2]!;
    f.a1 = a[w + 3]!;
    f.b0 = a[w + 4]!;
    f.b1 = a[w + 5]!;
    f.r0 = a[w + 6]!;
    f.r1 = a[w + 7]!;
    f.cin = a[w + 8]!;
    f.ofv = a[w + 9]!;
    f.afv = a[w + 10]!;
  }
}

/** What the block functions read of the run loop beyond JitHost (run.ts X86Machine; as its runChain). */
interface MachineView {
  readonly events: { idle(): boolean };
  readonly vcpu: { readonly run: Uint8Array; readonly requests: Int32Array | Uint32Array };
  readonly intro: unknown;
}

/** A compiled module bound to a vCPU's control area; `fn(i)` is module block i's block function. */
export class X86WasmBlocks {
  readonly run: (block: number, lim: number) => number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private m: JitHost | null = null;
  /** The flags record is current in `c.f` (a handler ran, or threw, with it there). */
  private fInJs = false;
  /** Cleared when code of the module may have changed: its blocks then run as JS again. */
  valid = true;
  /** Statistics: calls into the module, handler calls, slow memory accesses, instructions retired in it. */
  entries = 0;
  handlerCalls = 0;
  slowAccesses = 0;
  condCalls = 0;
  insns = 0;

  constructor(
    readonly code: X86WasmCode,
    readonly ctl: X86WasmCtl,
  ) {
    if (code.ctl !== ctl.ctl) throw new Error('module written for another control area');
    const imports = {
      m: {
        mem: ctl.memory,
        h: (id: number, nk: number, last: number) => this.h(id, nk, last),
        rd: (id: number, nk: number, lin: number, size: number, soft: number) => this.rd(id, nk, lin, size, soft),
        wr: (id: number, nk: number, lin: number, size: number, lo: number, hi: number) => this.wr(id, nk, lin, size, lo, hi),
        lin: (id: number, nk: number, size: number, write: number) => this.lin(id, nk, size, write),
        cond: (cc: number) => this.cond(cc),
      },
    };
    const inst = new WA.Instance(new WA.Module(code.bytes), imports);
    this.run = inst.exports.run as (block: number, lim: number) => number;
    this.i32 = ctl.i32;
    this.f64 = ctl.f64;
  }

  /** The block function of module block `i`. */
  fn(i: number): X86BlockFn {
    return (c, s, _R, f, m, lim) => this.enter(i, c, s, f, m, lim);
  }

  /** Runs from module block `i` (at s.rip) for at most `lim` instructions (past the first block). */
  enter(i: number, c: X86Cpu, s: X86State, f: Flags, m: JitHost, lim: number): number {
    const ctl = this.ctl;
    ctl.c = c;
    this.m = m;
    this.entries++;
    this.i32[ctl.wUser] = c.cpl === 3 ? 1 : 0;
    ctl.flagsIn(f);
    this.fInJs = false;
    // As the run loop's chain of JS translations: with an event that could be injected (or a
    // request, or introspection) the block runs once and returns, not on into the next block.
    const x = m as unknown as MachineView;
    if (!x.events.idle() || x.vcpu.run[0] !== 0 || x.vcpu.requests[0] !== 0 || x.intro !== null) lim = 1;
    let n: number;
    try {
      n = this.run(i, lim);
    } catch (e) {
      if (!this.fInJs) ctl.flagsOut(f);
      throw e;
    }
    ctl.flagsOut(f);
    s.rip = this.f64[ctl.dExit]!;
    this.insns += n;
    return n;
  }

  // ---- imports ---------------------------------------------------------------------------------

  /** The interpreter's handler for instruction `id` (as JsEmitter's handler call); -1: go on. */
  private h(id: number, nk: number, last: number): number {
    const c = this.ctl.c!;
    const s = c.s;
    const m = this.m!;
    const i = this.code.insns[id]!;
    this.handlerCalls++;
    this.ctl.flagsOut(c.f);
    this.fInJs = true;
    s.rip = i.addr;
    c.lastInsn = i;
    c.jitN = nk;
    const next = i.addr + i.len;
    c.next = next;
    m.handled = true;
    const gen = c.codeGen;
    HANDLERS[i.mn]!(c, i);
    this.fInJs = false;
    this.ctl.flagsIn(c.f);
    this.i32[this.ctl.wUser] = c.cpl === 3 ? 1 : 0;
    if (c.exitNow) {
      c.exitNow = false;
      this.f64[this.ctl.dExit] = s.rip;
      return nk;
    }
    s.rip = c.next;
    this.f64[this.ctl.dExit] = s.rip;
    // (After a TLB flush the module's other blocks may not be what their addresses map now: `check`.)
    if (last !== 0 || m.stopReason !== 0 || m.blockStale || c.softVector >= 0 || c.watchOn || s.rip !== next || c.codeGen !== gen) return nk + 1;
    return -1;
  }

  /** A load that missed the wasm TLB: the exact path (fills the TLB; MMIO; faults). */
  private rd(id: number, nk: number, lin: number, size: number, soft: number): number {
    const c = this.ctl.c!;
    const i = this.code.insns[id]!;
    this.slowAccesses++;
    c.lastInsn = i;
    c.jitN = nk;
    c.s.rip = i.addr;
    let v: number;
    if (soft !== 0) {
      v = c.readLinSoft(lin, size);
      if (c.exitNow) {
        // An MMIO read that exits: the instruction runs again with the data on the next KVM_RUN.
        c.exitNow = false;
        this.i32[this.ctl.wStatus] = 1;
        this.f64[this.ctl.dExit] = i.addr;
        return 0;
      }
    } else v = c.readLin(lin, size);
    if (size === 8) this.i32[this.ctl.wT1] = c.t1;
    this.ctl.mirror(lin);
    return v | 0;
  }

  /** A store that missed the wasm TLB; returns 1 when the block must stop after the instruction. */
  private wr(id: number, nk: number, lin: number, size: number, lo: number, hi: number): number {
    const c = this.ctl.c!;
    const m = this.m!;
    const i = this.code.insns[id]!;
    this.slowAccesses++;
    c.lastInsn = i;
    c.jitN = nk;
    c.s.rip = i.addr;
    c.writeLin(lin, size, lo, hi);
    this.ctl.mirror(lin);
    return m.blockStale || m.stopReason !== 0 ? 1 : 0;
  }

  /** The interpreter's address path (segments, non-canonical #GP/#SS). */
  private lin(id: number, nk: number, size: number, write: number): number {
    const c = this.ctl.c!;
    const i = this.code.insns[id]!;
    c.lastInsn = i;
    c.jitN = nk;
    c.s.rip = i.addr;
    return c.linear(i.seg, ea(c, i), size, write !== 0);
  }

  /** Condition cc on the flags record in memory (its writer unknown at translation time). */
  private cond(cc: number): number {
    const c = this.ctl.c!;
    this.condCalls++;
    this.ctl.flagsOut(c.f);
    return c.cond(cc) ? 1 : 0;
  }
}

/** A shared memory of `pages` 64 KiB pages (initial = maximum: its buffer never detaches or moves). */
export function x86WasmMemory(pages: number): WasmMemory {
  return new WA.Memory({ initial: pages, maximum: pages, shared: true });
}

/** What a module's block must match to stand for a decoded block (same code, same mode). */
export function sameCode(a: { insns: readonly Insn[]; modeKey: number }, b: { insns: readonly Insn[]; modeKey: number }): boolean {
  if (a.modeKey !== b.modeKey || a.insns.length !== b.insns.length) return false;
  for (let k = 0; k < a.insns.length; k++) {
    const x = a.insns[k]!;
    const y = b.insns[k]!;
    if (x.addr !== y.addr || x.len !== y.len) return false;
    const bx = x.bytes;
    const by = y.bytes;
    for (let j = 0; j < x.len; j++) if (bx[j] !== by[j]) return false;
  }
  return true;
}


// ---- the engine (virtualSys jitEngine 'wasm') -------------------------------------------------------


/** A memory whose control areas the engine hands out (tests and benchmarks put guest RAM in it too). */
let shared: { memory: WasmMemory; next: number; end: number } | null = null;

/**
 * Makes vCPUs created from now on (on this thread) take their control areas from `memory`'s
 * bytes [from, to) (64 KiB each), so their modules reach guest RAM mapped into the same memory
 * inline; without it (or once it is used up) control areas are carved from the process's wasm
 * memory (`controlArea`). `null` forgets it.
 */
export function useX86WasmMemory(memory: WasmMemory | null, from = 0, to = 0): void {
  shared = memory === null ? null : { memory, next: from, end: to };
}

/** Control areas taken from the process's wasm memory go back to its pool when their vCPU's state is collected. */
const pooled = new FinalizationRegistry<{ ram: WasmRam; off: number }>((a) => a.ram.releaseCtl(a.off, CTL_COUNT));
const carved = new FinalizationRegistry<{ ram: WasmRam; off: number }>((a) => a.ram.release(a.off, X86_WASM.size));
/** Pool areas (hva.ts CTL_AREA_BYTES each) in one x86 control area. */
const CTL_COUNT = X86_WASM.size / CTL_AREA_BYTES;

/**
 * A control area: from `useX86WasmMemory`'s memory, else from the control-area pool of the
 * process's wasm memory (hva.ts `wasmRam`, `allocCtl`: atomic, so an SMP worker's adopted view of
 * the memory takes from it too), where `sys.alloc()` carves guest RAM, so modules reach RAM inline
 * (in a memory of its own every guest access went through the import: the mix ran at 53-61 MIPS,
 * slower than the JS JIT); else (no such memory, the pool used up) a memory of its own.
 */
function controlArea(owner: object): X86WasmCtl {
  if (shared !== null && shared.next + X86_WASM.size <= shared.end) {
    const ctl = shared.next;
    shared.next += X86_WASM.size;
    return new X86WasmCtl(shared.memory, ctl);
  }
  const ram = wasmRam();
  if (ram !== null) {
    const off = ram.allocCtl(CTL_COUNT);
    if (off >= 0) {
      pooled.register(owner, { ram, off });
      return new X86WasmCtl(ram.memory, off);
    }
    // (The pool holds 64 x86 areas: past them, carved beside guest RAM on the owner's thread.)
    const at = ram.alloc(X86_WASM.size);
    if (at >= 0) {
      carved.register(owner, { ram, off: at });
      return new X86WasmCtl(ram.memory, at);
    }
  }
  return new X86WasmCtl(x86WasmMemory(X86_WASM.size / 65536), 0);
}

/**
 * Instructions a pending hot block's JS translation retires, per instruction of the block, before
 * it is written into a module. Measured on the x86 Linux boot fixture: a module costs V8 50-150 ms
 * of CPU (writing, the sync and the background compiles), 0.2-0.5 ms per guest instruction in it,
 * and saves ~2.5 ns per instruction it runs (the mix: ~250 MIPS in JS, 550-750 in wasm); with
 * 32768 the boot wrote 13 modules that ran 18M instructions (+0.5-3 s of CPU), with 262144 one.
 */
const PAYBACK = 131072;

/**
 * Entries into a mode's modules (each one a way back from the run loop: an exit to a block of
 * another module, an unvalidated block, a non-chained branch) after which its most entered modules
 * are written again as one (when they fit): the exits and entries it saves by then cost about
 * what V8 takes to compile a module.
 */
const MERGE_ENTRIES = 65536;

/** A mode's hot blocks waiting for its next module, and entries into its modules. */
interface ModeSet {
  readonly key: number;
  /** In the order they turned hot. */
  pending: Set<Block>;
  pendingInsns: number;
  /** Entries into the mode's modules since its last merge. */
  entries: number;
}

/** A module in use and the blocks it holds. */
interface Live {
  readonly wb: X86WasmBlocks;
  readonly blocks: readonly Block[];
  /** Their stamp slots. */
  readonly slots: readonly number[];
  readonly insns: number;
  /** Entries since the mode's last merge. */
  recent: number;
}

/**
 * The wasm engine of one vCPU, a hook of its block cache (blocks.ts `JitEngineHook`): a 64-bit
 * block the JS JIT translated joins its mode's pending set; once a pending block has paid back a
 * module (`PAYBACK`), the pending blocks that ran enough are written as a **new** module, chained
 * among themselves, while earlier modules stay (a jump into another module's block leaves to the
 * run loop, which follows the link there); a mode's modules entered `MERGE_ENTRIES` times are
 * merged. Code dropped from the cache retires the module holding it (its other blocks wait for the
 * next module, running JS meanwhile). A chained jump goes to a block only under the current stamp
 * (`restamp`): the run loop validated it (guest memory compared) in this KVM_RUN under this TLB
 * generation, since chaining goes by linear address.
 */
export class X86WasmEngine implements JitEngineHook {
  private readonly ctl: X86WasmCtl;
  private readonly modes = new Map<number, ModeSet>();
  /** Each hot block's JS translation (pending blocks and blocks in modules). */
  private readonly js = new Map<Block, X86BlockFn>();
  /** The live module holding a block. */
  private readonly inMod = new Map<Block, Live>();
  private readonly live = new Set<Live>();
  /** Blocks the writer left out (mostly handler calls...): JS translations, regions allowed. */
  private readonly rejected = new Set<Block>();
  readonly stats = { modules: 0, merged: 0, failed: 0, lastError: null as unknown, retired: 0, buildMs: 0 };
  /** Free stamp slots. */
  private readonly free: number[] = [];
  /** The current stamp and the KVM_RUN epoch and TLB generation it stands for. */
  private stamp = 1;
  private sEpoch = -1;
  private sGen = -1;
  /** Instructions retired in modules no longer in use. */
  private doneInsns = 0;
  private readonly payback: number;
  private readonly mergeEntries: number;
  /** What each pending block's JS translation retired. */
  private readonly ran = new Map<Block, { n: number }>();

  constructor(
    cpu: X86Cpu,
    /**
     * The JIT's hotness (0: translation at first sight, as tests run it: each block is written into
     * a module of its own as it is translated, so code that runs once runs in wasm too).
     */
    hotness: number,
  ) {
    this.payback = hotness === 0 ? 0 : PAYBACK;
    this.mergeEntries = hotness === 0 ? 1024 : MERGE_ENTRIES;
    // (Given back once the vCPU's state, whose GPR file is a view of the area, is collected.)
    this.ctl = controlArea(cpu.s);
    this.ctl.attach(cpu);
    for (let i = STAMP_SLOTS - 1; i >= 0; i--) this.free.push(i);
    this.ctl.i32.fill(0, this.ctl.wStamps, this.ctl.wStamps + STAMP_SLOTS);
    this.ctl.i32[this.ctl.wStamp] = this.stamp;
  }

  owns(b: Block): boolean {
    // (A pending block may become a JS region: it runs JS until written, maybe for good.)
    return this.inMod.has(b);
  }

  compiled(b: Block): void {
    if ((b.modeKey & 1) === 0 || b.fn === null || this.rejected.has(b)) return;
    const again = this.js.has(b);
    this.js.set(b, b.fn);
    const live = this.inMod.get(b);
    if (live !== undefined) return this.retire(live);
    let ms = this.modes.get(b.modeKey);
    if (ms === undefined) this.modes.set(b.modeKey, (ms = { key: b.modeKey, pending: new Set(), pendingInsns: 0, entries: 0 }));
    if (!again) {
      ms.pending.add(b);
      ms.pendingInsns += b.insns.length;
    }
    this.wait(b, ms);
    if (this.payback === 0) this.build(ms);
  }

  /**
   * A pending block runs its JS translation, counting what it retires; once that pays for its
   * module (`PAYBACK`), the mode's pending blocks that ran enough are written as one.
   */
  private wait(b: Block, ms: ModeSet): void {
    const js = this.js.get(b)!;
    let ran = this.ran.get(b);
    if (ran === undefined) this.ran.set(b, (ran = { n: 0 }));
    const r = ran;
    const due = this.payback * b.insns.length;
    b.fn = (c, s, R, f, host, lim) => {
      const n = js(c, s, R, f, host, lim);
      if ((r.n += n) >= due) {
        this.build(ms);
        // (Left out, e.g. the module was full: it waits a payback again.)
        r.n = 0;
      }
      return n;
    };
  }

  /** Calls into this vCPU's current modules (statistics). */
  entries(): number {
    let n = 0;
    for (const l of this.live) n += l.wb.entries;
    return n;
  }

  /** Blocks in this vCPU's current modules, and its hot blocks (in modules or pending). */
  coverage(): { inModules: number; hot: number } {
    return { inModules: this.inMod.size, hot: this.js.size };
  }

  /** Instructions retired in this vCPU's modules so far. */
  wasmInsns(): number {
    let n = this.doneInsns;
    for (const l of this.live) n += l.wb.insns;
    return n;
  }

  /** Writes the mode's pending blocks (as many as a module holds) as a new module. */
  private build(ms: ModeSet, first: readonly Block[] = []): void {
    let code: X86WasmCode;
    let wb: X86WasmBlocks;
    const t0 = performance.now();
    // A stamp slot per block (blocks past the free slots wait).
    const slots = new Map<WasmBlockSrc, number>();
    // The blocks that ran most (and at least a sixteenth of their payback), after `first`.
    const ranOf = (b: Block) => (this.ran.get(b)?.n ?? 0) / b.insns.length;
    const cands = [...ms.pending].filter((b) => !first.includes(b) && this.due(b)).sort((x, y) => ranOf(y) - ranOf(x));
    let total = 0;
    for (const b of [...first, ...cands]) {
      if ((total += b.insns.length) > MODULE_INSNS) break;
      if (this.free.length === 0) break;
      slots.set(b, this.free.pop()!);
    }
    if (slots.size === 0) return;
    try {
      code = buildX86Module([...slots.keys()], this.ctl.memory.buffer.byteLength / 65536, this.ctl.ctl, (b) => slots.get(b)!);
      wb = new X86WasmBlocks(code, this.ctl);
      this.stats.buildMs += performance.now() - t0;
    } catch (e) {
      // (Nothing of the module is in place: the blocks keep their JS translations.)
      for (const slot of slots.values()) this.free.push(slot);
      this.stats.failed++;
      this.stats.lastError ??= e;
      return;
    }
    for (const r of code.rejected) {
      if (r.why === 'module full') continue;
      const b = r.block as Block;
      this.unpend(b);
      b.fn = this.js.get(b)!;
      this.js.delete(b);
      this.rejected.add(b);
    }
    if (code.blocks.length === 0) {
      for (const slot of slots.values()) this.free.push(slot);
      return;
    }
    this.stats.modules++;
    const live: Live = { wb, blocks: code.blocks as Block[], slots: code.blocks.map((b) => slots.get(b)!), insns: code.insns.length, recent: 0 };
    this.live.add(live);
    const ctl = this.ctl;
    code.blocks.forEach((src, i) => {
      const b = src as Block;
      this.unpend(b);
      this.inMod.set(b, live);
      const js = this.js.get(b)!;
      const w = wb.fn(i);
      const at = ctl.wStamps + slots.get(b)!;
      slots.delete(b);
      ctl.i32[at] = 0;
      const fn: X86BlockFn = (c, s, R, f, host, lim) => {
        if (!wb.valid) return js(c, s, R, f, host, lim);
        live.recent++;
        if (++ms.entries >= this.mergeEntries) {
          this.merge(ms);
          if (b.fn !== fn) return b.fn!(c, s, R, f, host, lim);
        }
        // The run loop validated b in this KVM_RUN (under the TLB generation now): chained jumps
        // may come back to it until either moves.
        ctl.i32[at] = b.epoch !== this.sEpoch || c.codeGen !== this.sGen ? this.restamp(b.epoch, c.codeGen) : this.stamp;
        return w(c, s, R, f, host, lim);
      };
      b.fn = fn;
    });
    // Slots of blocks left out go back.
    for (const slot of slots.values()) this.free.push(slot);
  }

  /**
   * Writes the mode's most entered modules (as many as fit one module), with its pending blocks,
   * as one module, so jumps between them chain inside it.
   */
  private merge(ms: ModeSet): void {
    ms.entries = 0;
    const mods = [...this.live].filter((l) => l.blocks[0]!.modeKey === ms.key).sort((a, b) => b.recent - a.recent);
    const take: Live[] = [];
    let total = 0;
    for (const l of mods) {
      l.recent = 0;
      if (total + l.insns > MODULE_INSNS) continue;
      take.push(l);
      total += l.insns;
    }
    // (One module alone is written again only with pending blocks that ran enough to join it.)
    if (take.length === 0 || (take.length === 1 && ![...ms.pending].some((b) => this.due(b)))) return;
    this.stats.merged++;
    for (const l of take) this.retire(l, false);
    // The merged modules' blocks first, most entered first (the writer stops at a module's bound).
    this.build(
      ms,
      take.flatMap((l) => l.blocks).filter((b) => ms.pending.has(b)),
    );
  }

  /** A new stamp (the KVM_RUN epoch or the TLB generation moved: every block is unvalidated). */
  private restamp(epoch: number, gen: number): number {
    this.sEpoch = epoch;
    this.sGen = gen;
    this.stamp = this.stamp === 0x7fffffff ? 1 : this.stamp + 1;
    // (On wrapping, words left from 2^31 stamps ago must not pass: clear them all.)
    if (this.stamp === 1) this.ctl.i32.fill(0, this.ctl.wStamps, this.ctl.wStamps + STAMP_SLOTS);
    this.ctl.i32[this.ctl.wStamp] = this.stamp;
    return this.stamp;
  }

  /** Whether pending block `b` ran enough to join a module being written (a sixteenth of its payback). */
  private due(b: Block): boolean {
    return (this.ran.get(b)?.n ?? 0) * 16 >= this.payback * b.insns.length;
  }

  private unpend(b: Block): void {
    this.ran.delete(b);
    const ms = this.modes.get(b.modeKey);
    if (ms !== undefined && ms.pending.delete(b)) ms.pendingInsns -= b.insns.length;
  }

  /** Takes a module out of use; its blocks still hot wait for the mode's next module. */
  private retire(live: Live, dropped = true): void {
    if (!this.live.delete(live)) return;
    live.wb.valid = false;
    this.doneInsns += live.wb.insns;
    if (dropped) this.stats.retired++;
    for (const slot of live.slots) this.free.push(slot);
    for (const b of live.blocks) {
      this.inMod.delete(b);
      if (!this.js.has(b)) continue;
      const ms = this.modes.get(b.modeKey)!;
      ms.pending.add(b);
      ms.pendingInsns += b.insns.length;
      this.wait(b, ms);
    }
  }

  /** Forgets the hot blocks for which `drop` holds and retires the modules holding them. */
  private drop(drop: (b: Block) => boolean): void {
    for (const b of this.rejected) if (drop(b)) this.rejected.delete(b);
    for (const b of [...this.js.keys()]) {
      if (!drop(b)) continue;
      this.js.delete(b);
      this.unpend(b);
      const live = this.inMod.get(b);
      if (live !== undefined) this.retire(live);
    }
  }

  dropped(gfn: number): void {
    this.drop((b) => b.gfn === gfn);
  }

  flushed(): void {
    this.drop(() => true);
  }

  epoch(): void {
    // (A module's blocks count as validated only under the stamp of the epoch and TLB generation
    // the run loop validated them in: `restamp`.)
  }
}
