/**
 * The arm64 JIT's wasm engine at run time: a hot region (jit.ts) becomes one wasm module
 * (wasm-module.ts `buildModule`, emit-wasm.ts) over the process's shared `WebAssembly.Memory`
 * (hva.ts `wasmRam`, where guest RAM mappings are carved), instantiated per vCPU with the base of
 * that vCPU's control area (registers, NZCV, exit record, TLB mirror) as its `ctl` global.
 * Compiled modules are cached by their bytes, so another vCPU or VM running the same code pays
 * only an instantiation. A region's entry keeps the JIT's block-function contract (`BlockFn`).
 * @module
 */
import { type WasmMemory, type WasmRam } from '../../kernel/hva.js';
import type { Block } from './blocks.js';
import type { Cpu } from './cpu.js';
import { CALL } from './emit.js';
import { A64 } from './table.js';
import { buildModule, WA, type WasmModuleCode } from './wasm-module.js';
import { TLB_ENTRIES, WASM_LAYOUT } from './wasm-writer.js';

/** The slow exit's TLB fill needs the Cpu's software TLB (white-box, as the JIT's own code). */
type CpuTlb = Cpu & { rTag: Float64Array; rDv: DataView[]; rOff: Int32Array; wTag: Float64Array; wDv: DataView[]; wOff: Int32Array; tlbBase: number };

/** Process-wide cache of compiled modules by their bytes: at most this many, then it starts over. */
const MODULE_CACHE_LIMIT = 4096;
const moduleCache = new Map<string, object>();
function keyOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, b.subarray(i, i + 8192) as unknown as number[]);
  return s;
}

/** Control areas of collected vCPU contexts go back to the wasm memory. */
const ctlAreas = new FinalizationRegistry<{ ram: WasmRam; off: number }>((a) => a.ram.releaseCtl(a.off));

/**
 * A region's slow exits (TLB misses, misaligned accesses: the instruction runs in the interpreter)
 * past which it goes back to the JS translation when they are more than 1 in this many of its
 * instructions: RAM outside the wasm memory, MMIO in a loop.
 */
const DEMOTE_MIN = 256;
const DEMOTE_RATIO = 16;

/** One region's module instantiated for a vCPU. */
export class WasmRegion {
  readonly run: (block: number, lim: number) => number;
  /** Entries, slow exits and instructions retired in the module (statistics, demotion). */
  entries = 0;
  slow = 0;
  insns = 0;
  /** Dispatch-table slot of each block (chain mask: the block must still be the table's). */
  private readonly slots: Int32Array;

  constructor(
    readonly vcpu: WasmVcpu,
    readonly code: WasmModuleCode,
    module: object,
    /** The Jit's dispatch table (null: every block may be chained to, the probe's case). */
    private readonly table: readonly Block[] | null,
    tableMask: number,
    /** Called once the region runs mostly in the interpreter (then its entry goes back to JS). */
    readonly demote: (() => void) | null = null,
  ) {
    this.run = new WA.Instance(module, vcpu.imports).exports.run as (block: number, lim: number) => number;
    this.slots = Int32Array.from(code.blocks, (b) => (b.va >>> 2) & tableMask);
  }

  /** Bit i: block i may be chained to (still the dispatch table's, validated in this epoch, mode). */
  mask(c: Cpu): number {
    const t = this.table;
    if (t === null) return -1;
    const key = c.jitKey;
    const bs = this.code.blocks;
    let m = 0;
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i]!;
      if (t[this.slots[i]!] === b && b.key === key) m |= 1 << i;
    }
    return m;
  }
}

/** A vCPU's side of the wasm engine: its control area and the copies between it and the Cpu. */
export class WasmVcpu {
  /** @internal Told of every region made (tests: which modes and addresses ran in wasm). */
  static trace: ((r: WasmRegion) => void) | null = null;

  readonly memory: WasmMemory;
  readonly imports: object;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** The Cpu TLB half the wasm TLB mirrors (-1: empty). */
  private tlbHalf = -1;
  /** Statistics over all its regions: handler calls, entries, slow exits, instructions retired in wasm, regions. */
  calls = 0;
  entries = 0;
  slow = 0;
  insns = 0;
  regions = 0;
  demoted = 0;

  constructor(
    ram: WasmRam,
    /** Byte offset of the control area (WASM_LAYOUT.ctlEnd <= CTL_AREA_BYTES bytes). */
    readonly ctl: number,
    private readonly c: Cpu,
  ) {
    this.memory = ram.memory;
    const buf = ram.buffer;
    this.i32 = new Int32Array(buf);
    this.f64 = new Float64Array(buf);
    // The Cpu's register file moves into the control area: entering and leaving a module, or a
    // handler call from one, copies NZCV only.
    const x = new Int32Array(buf, ctl + WASM_LAYOUT.regs, c.x.length);
    x.set(c.x);
    (c as { x: Int32Array }).x = x;
    this.imports = { m: { mem: this.memory, ctl, h: (id: number, w: number, done: number, pc: number, kind: number) => this.handler(id, w, done, pc, kind) } };
    this.flush();
  }

  /** The vCPU context of `c` (made at its first wasm translation); null without a wasm memory. */
  static of(c: Cpu, ram: WasmRam | null): WasmVcpu | null {
    if (c.wasm !== null) return c.wasm as WasmVcpu;
    if (ram === null) return null;
    const off = ram.allocCtl();
    if (off < 0) return null;
    const v = new WasmVcpu(ram, off, c);
    ctlAreas.register(v, { ram, off });
    c.wasm = v;
    return v;
  }

  /**
   * The module of `blocks` for this vCPU, entered at block 0; null when the writer does not cover
   * the entry block, or with `cachedOnly` when the module was not compiled in this process before.
   */
  region(blocks: readonly Block[], table: readonly Block[] | null, tableMask: number, cachedOnly: boolean, demote: (() => void) | null): WasmRegion | null {
    const code = buildModule(blocks, this.memory.buffer.byteLength / 65536, true, true);
    if (code === null) return null;
    const key = keyOf(code.bytes);
    let mod = moduleCache.get(key);
    if (mod === undefined) {
      if (cachedOnly) return null;
      mod = new WA.Module(code.bytes);
      if (moduleCache.size >= MODULE_CACHE_LIMIT) moduleCache.clear();
      moduleCache.set(key, mod);
    }
    this.regions++;
    const r = new WasmRegion(this, code, mod, table, tableMask, demote);
    if (WasmVcpu.trace !== null) WasmVcpu.trace(r);
    return r;
  }

  /** Empties the wasm TLB (the Cpu's was flushed: Cpu.flushTlb/flushWriteTlb call it). */
  flush(): void {
    this.tlbHalf = -1;
    const i32 = this.i32;
    const r = (this.ctl + WASM_LAYOUT.rTag) / 4 + 1;
    const w = (this.ctl + WASM_LAYOUT.wTag) / 4 + 1;
    for (let i = 0; i < 2 * TLB_ENTRIES; i += 2) {
      i32[r + i] = 0x7fffffff;
      i32[w + i] = 0x7fffffff;
    }
  }

  /** Copies the Cpu's TLB entries (current EL half) that point into the wasm memory; the rest miss. */
  private fill(c: CpuTlb): void {
    const buf = this.memory.buffer;
    const base = c.tlbBase;
    this.tlbHalf = base;
    const i32 = this.i32;
    for (let k = 0; k < 2; k++) {
      const tag = k === 0 ? c.rTag : c.wTag;
      const dv = k === 0 ? c.rDv : c.wDv;
      const off = k === 0 ? c.rOff : c.wOff;
      const t0 = (this.ctl + (k === 0 ? WASM_LAYOUT.rTag : WASM_LAYOUT.wTag)) / 4;
      const a0 = (this.ctl + (k === 0 ? WASM_LAYOUT.rAdd : WASM_LAYOUT.wAdd)) / 4;
      for (let i = 0; i < TLB_ENTRIES; i++) {
        const j = base + i;
        const vpn = tag[j]!;
        const t = t0 + 2 * i;
        if (vpn === vpn && dv[j]!.buffer === buf) {
          i32[t] = vpn | 0;
          i32[t + 1] = Math.floor(vpn / 4294967296) | 0;
          i32[a0 + i] = dv[j]!.byteOffset + off[j]!;
        } else i32[t + 1] = 0x7fffffff;
      }
    }
  }

  /** NZCV into the control area (the registers are there already). */
  private regsIn(c: Cpu): void {
    const f = (this.ctl + WASM_LAYOUT.flags) / 4;
    const i32 = this.i32;
    i32[f] = c.n;
    i32[f + 1] = c.z;
    i32[f + 2] = c.c;
    i32[f + 3] = c.v;
  }

  /** NZCV back to the Cpu. */
  private regsOut(c: Cpu): void {
    const f = (this.ctl + WASM_LAYOUT.flags) / 4;
    const i32 = this.i32;
    c.n = i32[f]!;
    c.z = i32[f + 1]!;
    c.c = i32[f + 2]!;
    c.v = i32[f + 3]!;
  }

  /**
   * The import `h`: the interpreter's handler `id` for word `w` at `pc`, `done` instructions
   * into this call of `run`, with the registers in memory (the module stored its locals first).
   * Returns 1 when the code must stop after it (an MMIO exit, code written, an interrupt due).
   */
  private handler(id: number, w: number, done: number, pc: number, kind: number): number {
    const c = this.c as CpuTlb;
    this.calls++;
    this.regsOut(c);
    const base = c.retired;
    c.insnPc = pc;
    c.insn = w;
    c.pc = pc + 4;
    // If it faults or exits, what retired before it is counted (translated code's contract).
    c.retired = base + done;
    A64.handlers[id]!(c, w);
    c.retired = base;
    if (this.tlbHalf !== c.tlbBase) this.fill(c);
    this.regsIn(c);
    if (kind === CALL.END) this.f64[(this.ctl + WASM_LAYOUT.exitPc) / 8] = c.pc;
    return c.stop !== 0 || c.attn !== 0 ? 1 : 0;
  }

  /**
   * Runs region `r` from its block `i` (at c.pc) for at most `lim` instructions: the translated
   * block's contract. A slow instruction runs in the interpreter, then the module is entered
   * again while the next block is in it.
   */
  enter(r: WasmRegion, i: number, lim: number): void {
    const c = this.c as CpuTlb;
    if (this.tlbHalf !== c.tlbBase) this.fill(c);
    this.regsIn(c);
    const mask = r.mask(c);
    const ctl = this.ctl;
    this.i32[(ctl + WASM_LAYOUT.chainMask) / 4] = mask;
    let left = lim;
    let block = i;
    for (;;) {
      r.entries++;
      this.entries++;
      const ret = r.run(block, left);
      left -= ret;
      c.retired += ret;
      r.insns += ret;
      this.insns += ret;
      const pc = this.f64[(ctl + WASM_LAYOUT.exitPc) / 8]!;
      c.pc = pc;
      const id = this.i32[(ctl + WASM_LAYOUT.exitId) / 4]!;
      if (id === 0 || left <= 0) break;
      // The instruction at pc in the interpreter (it fills the TLB), as the JS translation's
      // slow path does; on a fault the run loop counts the block's instructions before it.
      r.slow++;
      this.slow++;
      this.regsOut(c);
      const w = this.i32[(ctl + WASM_LAYOUT.exitWord) / 4]!;
      c.insnPc = pc;
      c.insn = w;
      c.pc = pc + 4;
      A64.handlers[id - 1]!(c, w);
      c.retired++;
      left--;
      this.fill(c);
      if (r.demote !== null && r.slow >= DEMOTE_MIN && r.slow * DEMOTE_RATIO > r.insns) {
        const d = r.demote;
        (r as { demote: (() => void) | null }).demote = null;
        this.demoted++;
        d();
        return;
      }
      if (c.stop !== 0 || left <= 0 || c.attn !== 0 || c.req[0] !== 0) return;
      const next = r.code.index.get(c.pc);
      if (next === undefined || ((mask >>> next) & 1) === 0 || r.code.blocks[next]!.len > left) return;
      block = next;
      this.regsIn(c);
    }
    this.regsOut(c);
  }
}
