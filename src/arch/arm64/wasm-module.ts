/**
 * The wasm probe's module and its runtime: `buildModule` writes one module of translated blocks
 * (WasmEmitter, emit-wasm.ts, for each), `WasmBlocks` binds it to a memory and enters it with
 * the JIT's block-function contract. See emit-wasm.ts for the design.
 * @module
 */
import type { Block } from './blocks.js';
import type { Cpu } from './cpu.js';
import { endsBlock } from './decoder.js';
import { CALL } from './emit.js';
import { FnBuilder, WasmEmitter } from './emit-wasm.js';
import { emitInstructions } from './jit.js';
import { SP_SLOT } from './state.js';
import { A64 } from './table.js';
import { F64, get, I32, i32c, I64, L, MAP_WORDS, mem, name, O, regLocal, section, TLB_ENTRIES, uleb, Unsupported, VOID, WASM_LAYOUT } from './wasm-writer.js';

export { WASM_LAYOUT, Unsupported } from './wasm-writer.js';

/** The code of block `b` inside the module (throws Unsupported). */
function genBlock(f: FnBuilder, b: Block): number[] {
  const n = b.len;
  const va = b.va;
  const lastRow = A64.encoding(b.ids[n - 1]!);
  const lastW = b.words[n - 1]!;
  const ends = endsBlock(lastRow, lastW);
  const e = new WasmEmitter(f, va, n, (b.mode >>> 1) & 3, (b.mode & 8) !== 0);
  // The block's own loop: self-branches and the budget check at its head.
  const out: number[] = [O.loop, VOID];
  e.selfLevel = f.depth;
  f.depth++;
  // Budget: leave before the block when it does not fit.
  out.push(...get(L.ret), ...i32c(n), O.i32add, ...get(L.lim), O.i32gts, O.if, VOID);
  f.depth++;
  const pcBytes = new Uint8Array(new Float64Array([va]).buffer);
  out.push(O.f64const, ...pcBytes, O.set);
  uleb(out, L.pc);
  out.push(...f.br(f.exitLevel), O.end);
  f.depth--;
  emitInstructions(e, b, ends);
  // Every path of a block ends in a branch: nothing falls through to the next block's code.
  out.push(...e.code, O.end, O.unreachable);
  f.depth--;
  return out;
}

/** A compiled module of blocks. */
export interface WasmModuleCode {
  readonly bytes: Uint8Array;
  /** Blocks in the module, by index. */
  readonly blocks: Block[];
  /** Blocks left out, with why. */
  readonly rejected: { block: Block; why: string }[];
  /** Start of the pc -> block map's range (the lowest block address). */
  readonly mapBase: number;
}

/**
 * Writes one module `run(block, lim) -> retired` for `blocks` (those the writer covers; the rest
 * are listed in `rejected`), importing its memory as `m.mem` (shared, `pages` 64 KiB pages).
 */
export function buildModule(blocks: readonly Block[], pages: number, chain = true): WasmModuleCode {
  let cands = [...blocks];
  const rejected: { block: Block; why: string }[] = [];
  const mapBase = Math.min(...cands.map((b) => b.va));
  for (;;) {
    const index = new Map<number, number>();
    cands.forEach((b, i) => index.set(b.va, i));
    const f = new FnBuilder(index, mapBase, chain);
    const N = cands.length;
    // $exit, $dispatch, then the N block labels (innermost: block 0).
    f.depth = 2 + N;
    const bodies: number[][] = [];
    let bad = -1;
    for (let i = 0; i < N; i++) {
      f.depth = N + 1 - i;
      try {
        bodies.push(genBlock(f, cands[i]!));
      } catch (e) {
        if (!(e instanceof Unsupported)) throw e;
        rejected.push({ block: cands[i]!, why: e.message });
        bad = i;
        break;
      }
    }
    if (bad >= 0) {
      // Chaining targets are module indices: build again without it.
      cands = cands.filter((_, i) => i !== bad);
      continue;
    }
    const body: number[] = [];
    // Prologue: registers and flags in, no slow exit yet.
    for (const r of [...f.used].sort((a, b) => a - b)) {
      body.push(...i32c(0), ...mem(O.i64load, 3, WASM_LAYOUT.regs + 8 * r), O.set);
      uleb(body, regLocal(r));
    }
    for (const [k, l] of [L.n, L.z, L.c, L.v].entries()) {
      body.push(...i32c(0), ...mem(O.i32load, 2, WASM_LAYOUT.flags + 4 * k), O.set);
      uleb(body, l);
    }
    body.push(...i32c(WASM_LAYOUT.exitId), ...i32c(0), ...mem(O.i32store, 2));
    body.push(...get(L.block), O.set);
    uleb(body, L.next);
    body.push(O.block, VOID, O.loop, VOID);
    for (let i = 0; i < N; i++) body.push(O.block, VOID);
    body.push(...get(L.next), O.br_table);
    uleb(body, N);
    for (let i = 0; i < N; i++) uleb(body, i);
    uleb(body, N + 1); // default: $exit (an index out of range; never made)
    for (let i = 0; i < N; i++) body.push(O.end, ...bodies[i]!);
    body.push(O.end, O.end); // $dispatch, $exit
    // Epilogue: registers, flags and PC out.
    for (const r of [...f.written].sort((a, b) => a - b)) {
      body.push(...i32c(0), ...get(regLocal(r)), ...mem(O.i64store, 3, WASM_LAYOUT.regs + 8 * r));
    }
    if (f.flagsWritten) {
      for (const [k, l] of [L.n, L.z, L.c, L.v].entries()) body.push(...i32c(0), ...get(l), ...mem(O.i32store, 2, WASM_LAYOUT.flags + 4 * k));
    }
    body.push(...i32c(0), ...get(L.pc), ...mem(O.f64store, 3, WASM_LAYOUT.exitPc), ...get(L.ret), O.end);
    // Locals: 32 i64 registers, 6 i32 (NZCV, next, ret), 1 f64, then the temps in runs.
    const runs: [number, number][] = [[32, I64], [6, I32], [1, F64]];
    for (const t of f.temps) {
      const last = runs[runs.length - 1]!;
      if (last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    const fn: number[] = [];
    uleb(fn, runs.length);
    for (const [c, t] of runs) {
      uleb(fn, c);
      fn.push(t);
    }
    fn.push(...body);
    const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    // Types: run(block, lim) -> retired; h(id, w, retired, pc, kind) -> stop.
    section(out, 1, [2, 0x60, 2, I32, I32, 1, I32, 0x60, 5, I32, I32, I32, F64, I32, 1, I32]);
    const imp: number[] = [2];
    name(imp, 'm');
    name(imp, 'h');
    imp.push(0x00, 1);
    name(imp, 'm');
    name(imp, 'mem');
    imp.push(0x02, 0x03); // memory, shared with a maximum
    uleb(imp, pages);
    uleb(imp, pages);
    section(out, 2, imp);
    section(out, 3, [1, 0]);
    const exp: number[] = [1];
    name(exp, 'run');
    exp.push(0x00, 1);
    section(out, 7, exp);
    const code: number[] = [1];
    uleb(code, fn.length);
    code.push(...fn);
    section(out, 10, code);
    return { bytes: Uint8Array.from(out), blocks: cands, rejected, mapBase };
  }
}

/** The few WebAssembly JS API members used (the project's TS lib has no WebAssembly types). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
export const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** A shared memory of `pages` 64 KiB pages (initial = maximum: its buffer never detaches or moves). */
export function wasmMemory(pages: number): WasmMemory {
  return new WA.Memory({ initial: pages, maximum: pages, shared: true });
}

/** The slow exit's TLB fill needs the Cpu's software TLB (white-box, as the JIT's own code). */
type CpuTlb = Cpu & { rTag: Float64Array; rDv: DataView[]; rOff: Int32Array; wTag: Float64Array; wDv: DataView[]; wOff: Int32Array; tlbBase: number };

/**
 * A compiled module bound to its memory, and the block functions (the JIT's `BlockFn` contract:
 * run while `lim` allows, update pc and retired) that enter it.
 */
export class WasmBlocks {
  readonly run: (block: number, lim: number) => number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly u16: Uint16Array;
  /** The register file's words in linear memory. */
  private readonly regs: Int32Array;
  /** Cpu.x[0..63] per Cpu (a view made once). */
  private xView: Int32Array | null = null;
  private xOf: Cpu | null = null;
  /** The Cpu TLB half the wasm TLB mirrors (-1: empty). */
  private tlbHalf = -1;
  /** The Cpu of the current `enter` (for the handler import). */
  private cur: Cpu | null = null;
  /** Handler calls made from the module. */
  calls = 0;
  /** Statistics: entries into the module, slow (interpreted) instructions. */
  entries = 0;
  slow = 0;
  /** Instructions retired inside the module. */
  insns = 0;

  constructor(
    readonly code: WasmModuleCode,
    readonly memory: WasmMemory,
    /**
     * The Cpu's register file (Cpu.x) becomes a view of the module's memory at `attach`, so
     * entering and leaving the module copies only NZCV (false: X0-X30/SP are copied both ways).
     */
    readonly sharedRegs = false,
  ) {
    const inst = new WA.Instance(new WA.Module(code.bytes), { m: { mem: memory, h: (id: number, w: number, done: number, pc: number, kind: number) => this.handler(id, w, done, pc, kind) } });
    this.run = inst.exports.run as (block: number, lim: number) => number;
    const buf = memory.buffer;
    this.i32 = new Int32Array(buf);
    this.f64 = new Float64Array(buf);
    this.u16 = new Uint16Array(buf);
    this.regs = new Int32Array(buf, WASM_LAYOUT.regs, 64);
    this.u16.fill(0, WASM_LAYOUT.map / 2, WASM_LAYOUT.ram / 2);
    code.blocks.forEach((b, i) => {
      const w = (b.va - code.mapBase) / 4;
      if (w < MAP_WORDS) this.u16[WASM_LAYOUT.map / 2 + w] = i + 1;
    });
    this.flush();
  }

  /**
   * Makes the Cpu's TLB flushes empty the wasm TLB too (TLBI, MMU and memslot changes, a frame
   * becoming a code page: its writes must leave the fast path). A backend would do it in cpu.ts;
   * the probe wraps the two methods on the instance.
   */
  attach(c: Cpu): void {
    const proto = Object.getPrototypeOf(c) as Cpu;
    const self = this;
    if (this.sharedRegs) {
      const x = new Int32Array(this.memory.buffer, WASM_LAYOUT.regs, c.x.length);
      x.set(c.x);
      (c as { x: Int32Array }).x = x;
    }
    Object.assign(c, {
      flushTlb(this: Cpu) {
        proto.flushTlb.call(this);
        self.flush();
      },
      flushWriteTlb(this: Cpu) {
        proto.flushWriteTlb.call(this);
        self.flush();
      },
    });
    this.flush();
  }

  /** Empties the wasm TLB (the Cpu's was flushed: call it from there). */
  flush(): void {
    this.tlbHalf = -1;
    for (let i = 0; i < TLB_ENTRIES; i++) {
      this.i32[WASM_LAYOUT.rTag / 4 + 2 * i + 1] = 0x7fffffff;
      this.i32[WASM_LAYOUT.wTag / 4 + 2 * i + 1] = 0x7fffffff;
    }
  }

  /** Copies the Cpu's TLB entries that point into this memory (the rest stay JS-only: misses). */
  private fill(c: CpuTlb): void {
    const buf = this.memory.buffer;
    const base = c.tlbBase;
    this.tlbHalf = base;
    const put = (tag: Float64Array, dv: DataView[], off: Int32Array, tagAt: number, addAt: number) => {
      for (let i = 0; i < TLB_ENTRIES; i++) {
        const j = base + i;
        const vpn = tag[j]!;
        const t = tagAt / 4 + 2 * i;
        if (vpn === vpn && dv[j]!.buffer === buf) {
          this.i32[t] = vpn | 0;
          this.i32[t + 1] = Math.floor(vpn / 4294967296) | 0;
          this.i32[addAt / 4 + i] = dv[j]!.byteOffset + off[j]!;
        } else this.i32[t + 1] = 0x7fffffff;
      }
    };
    put(c.rTag, c.rDv, c.rOff, WASM_LAYOUT.rTag, WASM_LAYOUT.rAdd);
    put(c.wTag, c.wDv, c.wOff, WASM_LAYOUT.wTag, WASM_LAYOUT.wAdd);
  }

  private regsIn(c: Cpu): void {
    if (this.sharedRegs) {
      // The register file is already here.
    } else if (this.xOf !== c) {
      this.xOf = c;
      this.xView = c.x.subarray(0, 64);
      this.regs.set(this.xView);
    } else this.regs.set(this.xView!);
    const f = WASM_LAYOUT.flags / 4;
    this.i32[f] = c.n;
    this.i32[f + 1] = c.z;
    this.i32[f + 2] = c.c;
    this.i32[f + 3] = c.v;
  }

  private regsOut(c: Cpu): void {
    if (!this.sharedRegs) c.x.set(this.regs);
    const f = WASM_LAYOUT.flags / 4;
    c.n = this.i32[f]!;
    c.z = this.i32[f + 1]!;
    c.c = this.i32[f + 2]!;
    c.v = this.i32[f + 3]!;
  }

  /**
   * The import `h`: the interpreter's handler `id` for word `w` at `pc`, `done` instructions
   * into this call of `run`, with the registers in memory (the translated block's view first).
   */
  private handler(id: number, w: number, done: number, pc: number, kind: number): number {
    const c = this.cur! as CpuTlb;
    this.calls++;
    this.regsOut(c);
    const base = c.retired;
    c.insnPc = pc;
    c.insn = w;
    c.pc = pc + 4;
    // If it faults or exits, what retired before it is counted (translated code's contract).
    c.retired = base + done;
    try {
      A64.handlers[id]!(c, w);
    } catch (e) {
      this.insns += done;
      throw e;
    }
    c.retired = base;
    if (this.tlbHalf !== c.tlbBase) this.fill(c);
    this.regsIn(c);
    if (kind === CALL.END) this.f64[WASM_LAYOUT.exitPc / 8] = c.pc;
    return c.stop !== 0 ? 1 : 0;
  }

  /**
   * Runs from module block `i` (at c.pc) for at most `lim` instructions: the translated block's
   * contract. A slow instruction runs in the interpreter, then the module is entered again.
   */
  enter(c: Cpu, i: number, lim: number): void {
    const cc = c as CpuTlb;
    if (this.tlbHalf !== cc.tlbBase) this.fill(cc);
    this.regsIn(c);
    let left = lim;
    let block = i;
    this.cur = c;
    for (;;) {
      this.entries++;
      const ret = this.run(block, left);
      left -= ret;
      c.retired += ret;
      this.insns += ret;
      const pc = this.f64[WASM_LAYOUT.exitPc / 8]!;
      c.pc = pc;
      const id = this.i32[WASM_LAYOUT.exitId / 4]!;
      if (id === 0 || left <= 0) break;
      // The instruction at pc in the interpreter (it fills the TLB), as the JS translation's
      // slow path does; on a fault the run loop counts the block's instructions before it.
      this.slow++;
      this.regsOut(c);
      const w = this.i32[WASM_LAYOUT.exitWord / 4]!;
      c.insnPc = pc;
      c.insn = w;
      c.pc = pc + 4;
      // c.retired counts what retired before it, should it fault (translated code's contract).
      A64.handlers[id - 1]!(c, w);
      c.retired++;
      left--;
      this.fill(cc);
      if (c.stop !== 0 || left <= 0) return;
      const w2 = (c.pc - this.code.mapBase) / 4;
      const next = w2 >= 0 && w2 < MAP_WORDS && Number.isInteger(w2) ? this.u16[WASM_LAYOUT.map / 2 + w2]! : 0;
      if (next === 0 || this.code.blocks[next - 1]!.len > left) return;
      block = next - 1;
      this.regsIn(c);
    }
    this.regsOut(c);
  }
}

/** The SP's low half in Cpu.x (for tests). */
export const SP_LO = SP_SLOT;
