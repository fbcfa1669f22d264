/**
 * The arm64 wasm engine's modules: `buildModule` writes one module of translated blocks (a hot
 * region: WasmEmitter, emit-wasm.ts, for each); wasm-engine.ts instantiates and enters them.
 * See emit-wasm.ts for the design.
 * @module
 */
import type { Block } from './blocks.js';
import { endsBlock } from './decoder.js';
import { FnBuilder, WasmEmitter } from './emit-wasm.js';
import { emitInstructions } from './jit.js';
import type { WasmMemory } from '../../kernel/hva.js';
import { A64 } from './table.js';
import { CTL, F64, get, I32, i32c, I64, L, localDecls, mem, name, O, regLocal, section, uleb, Unsupported, VOID, WASM_LAYOUT } from './wasm-writer.js';

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
  /** Module block index by guest VA. */
  readonly index: Map<number, number>;
}

/** Blocks of one module at most (the chain mask is an i32). */
export const MODULE_BLOCKS = 32;

/**
 * Writes one module `run(block, lim) -> retired` for `blocks` (those the writer covers, at most
 * MODULE_BLOCKS; the rest are listed in `rejected`), importing its memory as `m.mem` (shared,
 * `pages` 64 KiB pages) and the base of the vCPU's control area as the i32 global `m.ctl`.
 * `keepFirst`: null when the first block is rejected (it is the region's entry).
 */
export function buildModule(blocks: readonly Block[], pages: number, chain = true, keepFirst = false): WasmModuleCode | null {
  let cands = blocks.slice(0, MODULE_BLOCKS);
  const rejected: { block: Block; why: string }[] = blocks.slice(MODULE_BLOCKS).map((block) => ({ block, why: 'module full' }));
  for (;;) {
    if (cands.length === 0) return null;
    const index = new Map<number, number>();
    cands.forEach((b, i) => {
      if (!index.has(b.va)) index.set(b.va, i);
    });
    const f = new FnBuilder(index, chain);
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
      if (bad === 0 && keepFirst) return null;
      // Chaining targets are module indices: build again without it.
      cands = cands.filter((_, i) => i !== bad);
      continue;
    }
    const body: number[] = [];
    // Prologue: registers and flags in, no slow exit yet.
    for (const r of [...f.used].sort((a, b) => a - b)) {
      body.push(...CTL, ...mem(O.i64load, 3, WASM_LAYOUT.regs + 8 * r), O.set);
      uleb(body, regLocal(r));
    }
    for (const [k, l] of [L.n, L.z, L.c, L.v].entries()) {
      body.push(...CTL, ...mem(O.i32load, 2, WASM_LAYOUT.flags + 4 * k), O.set);
      uleb(body, l);
    }
    body.push(...CTL, ...mem(O.i32load, 2, WASM_LAYOUT.chainMask), O.set);
    uleb(body, f.mask);
    body.push(...CTL, ...i32c(0), ...mem(O.i32store, 2, WASM_LAYOUT.exitId));
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
      body.push(...CTL, ...get(regLocal(r)), ...mem(O.i64store, 3, WASM_LAYOUT.regs + 8 * r));
    }
    if (f.flagsWritten) {
      for (const [k, l] of [L.n, L.z, L.c, L.v].entries()) body.push(...CTL, ...get(l), ...mem(O.i32store, 2, WASM_LAYOUT.flags + 4 * k));
    }
    body.push(...CTL, ...get(L.pc), ...mem(O.f64store, 3, WASM_LAYOUT.exitPc), ...get(L.ret), O.end);
    // Locals: 32 i64 registers, 6 i32 (NZCV, next, ret), 1 f64, then the temps in runs.
    const fn = localDecls([[32, I64], [6, I32], [1, F64]], f.temps);
    fn.push(...body);
    const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    // Types: run(block, lim) -> retired; h(id, w, retired, pc, kind) -> stop.
    section(out, 1, [2, 0x60, 2, I32, I32, 1, I32, 0x60, 5, I32, I32, I32, F64, I32, 1, I32]);
    const imp: number[] = [3];
    name(imp, 'm');
    name(imp, 'h');
    imp.push(0x00, 1);
    name(imp, 'm');
    name(imp, 'mem');
    imp.push(0x02, 0x03); // memory, shared with a maximum
    uleb(imp, pages);
    uleb(imp, pages);
    name(imp, 'm');
    name(imp, 'ctl');
    imp.push(0x03, I32, 0x00); // global, immutable i32
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
    return { bytes: Uint8Array.from(out), blocks: cands, rejected, index };
  }
}

/** The few WebAssembly JS API members used (the project's TS lib has no WebAssembly types). */
export type { WasmMemory } from '../../kernel/hva.js';
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
