/**
 * The arm64 block JIT's code generator: a hot decoded block (blocks.ts), with the warm blocks its
 * direct branches, calls and return sites reach (its *region*), becomes one specialised JS
 * function (`new Function`) that moves between them without returning to the run loop.
 * `generate` chooses, instruction by instruction, between the row's inline form (decoder.ts
 * `Encoding.jit`, written next to the handler in its insn-*.ts) and a call of the interpreter's
 * handler with the word as a constant (the same semantics by construction); the
 * {@link JsEmitter} writes the code. The function runs at most the instruction budget it is given.
 * With the wasm engine (`Kernel.jitEngine`, the default) the same walk writes the region as a
 * wasm module instead (wasm-engine.ts, emit-wasm.ts); the JS translation stays for the blocks it
 * does not cover and where WebAssembly shared memory is missing.
 * @module
 */
import { divs64, divu64, muls64, mulu64, W } from '../arith64.js';
import type { Block } from './blocks.js';
import type { Cpu } from './cpu.js';
import { endsBlock } from './decoder.js';
import { CALL, type Emitter } from './emit.js';
import { JsEmitter } from './emit-js.js';
import { A64 } from './table.js';
import { WasmVcpu } from './wasm-engine.js';
import { wasmRam } from '../../kernel/hva.js';

/** A translated region: runs from its entry block (updates registers, pc and retired; at most `lim` instructions). */
export type BlockFn = (c: Cpu, lim: number) => void;

/** Direct-mapped dispatch table size (entries, a power of two; blocks.ts). */
export const TABLE_SIZE = 1 << 15;
export const TABLE_MASK = TABLE_SIZE - 1;

/**
 * The process-wide source -> function factory cache: at most this many entries and source
 * characters (a region's source is tens of KB), then it starts over.
 */
const FN_CACHE_LIMIT = 8192;
const FN_CACHE_CHARS = 16 << 20;

/** Helpers the generated code reaches through `K` (64-bit multiply/divide results land in W). */
const K = { mulu64, muls64, divu64, divs64, W };

type Factory = (h: typeof A64.handlers, k: typeof K, blocks: readonly Block[], table: readonly Block[]) => BlockFn;
const fnCache = new Map<string, Factory>();
let fnCacheChars = 0;
/** Entry blocks (mode, address, words) of the cached regions: an early attempt without one costs no generation. */
const entries = new Set<string>();
const entryKey = (b: Block) => `${b.mode}:${b.va}:${b.words.join(',')}`;

/**
 * The function of the region `blocks` (the first is its entry; jit.ts `generate`), checking its
 * moves between blocks against the dispatch table `table`; with `cachedOnly`, null unless the
 * same source was translated before in this process (then it costs no V8 compile). Throws on a
 * generator bug (the block then stays interpreted).
 */
export function translate(blocks: readonly Block[], table: readonly Block[], cachedOnly = false, c?: Cpu): BlockFn | null {
  const b = blocks[0]!;
  if (c !== undefined && c.vcpu.vm.kernel.jitEngine !== 'js') {
    // The wasm engine (wasm-engine.ts) where it covers the entry block; the JS translation for
    // the rest (TBI modes), without WebAssembly shared memory, and for a region that runs mostly
    // in the interpreter (guest RAM outside the wasm memory): then `demote` puts JS in its place.
    const wv = WasmVcpu.of(c, wasmRam());
    if (wv !== null) {
      const demote = () => {
        try {
          b.fn = translate(blocks, table);
        } catch {
          b.fn = null;
          b.noJit = true;
        }
      };
      const r = wv.region(blocks, table, TABLE_MASK, cachedOnly, demote);
      if (r !== null) return (_c: Cpu, lim: number) => wv.enter(r, 0, lim);
      if (cachedOnly) return null;
    }
  }
  if (cachedOnly && !entries.has(entryKey(b))) return null;
  const src = generate(b, (b.mode >>> 1) & 3, (b.mode & 8) !== 0, blocks);
  let f = fnCache.get(src);
  if (f === undefined) {
    if (cachedOnly) return null;
    f = new Function('H', 'K', 'B', 'T', src) as Factory;
    if (fnCache.size >= FN_CACHE_LIMIT || fnCacheChars + src.length > FN_CACHE_CHARS) {
      fnCache.clear();
      entries.clear();
      fnCacheChars = 0;
    }
    fnCache.set(src, f);
    entries.add(entryKey(b));
    fnCacheChars += src.length;
  }
  return f(A64.handlers, K, blocks, table);
}

/**
 * The JS source of the region `blocks` (default: `b` alone; the body of `function (H, K, B, T)`
 * returning the region's function). Each block is translated instruction by instruction: the
 * row's inline form, or a call of the interpreter's handler with the word as a constant.
 */
export function generate(b: Block, tbi: number, spAlign: boolean, blocks: readonly Block[] = [b]): string {
  const e = new JsEmitter(
    blocks.map((m) => ({ va: m.va, len: m.len, slot: (m.va >>> 2) & TABLE_MASK })),
    tbi,
    spAlign,
  );
  // Return sites first: a block may return into one emitted before it.
  for (const m of blocks) {
    const n = m.len;
    const last = A64.encoding(m.ids[n - 1]!);
    if (last.name === 'BL' || (last.name === 'BR' && ((m.words[n - 1]! >>> 21) & 3) === 1)) e.noteReturnSite(m.va + 4 * n);
  }
  for (let s = 0; s < blocks.length; s++) {
    const m = blocks[s]!;
    const n = m.len;
    const ends = endsBlock(A64.encoding(m.ids[n - 1]!), m.words[n - 1]!);
    e.beginBlock(s);
    emitInstructions(e, m, ends);
    e.endBlock();
  }
  return e.source();
}

/**
 * What each instruction of block `m` becomes, for any `Emitter` (JS or wasm): its row's inline
 * form, else a call of the interpreter's handler with the word as a constant; then the way out
 * when the block does not end in a branch (`ends`).
 */
export function emitInstructions(e: Emitter, m: Pick<Block, 'ids' | 'words' | 'va' | 'len'>, ends: boolean): void {
  const n = m.len;
  const va = m.va;
  for (let k = 0; k < n; k++) {
    const id = m.ids[k]!;
    const w = m.words[k]!;
    const pc = va + 4 * k;
    const row = A64.encoding(id);
    e.begin(pc, w, k, id);
    if (row.jit !== undefined && row.jit(e, w, pc)) {
      e.commit();
      continue;
    }
    e.rollback();
    e.call(id, w, k === n - 1 && ends ? CALL.END : row.pure ? CALL.PURE : row.mem ? CALL.MEM : CALL.SYNC);
  }
  if (!ends) e.leave(va + 4 * n);
}

/**
 * The direct successors of block `b`: its branch target, the fall-through of a conditional branch
 * or of a block that does not end in a branch, and a BL's return site.
 */
export function successors(b: Block): number[] {
  const n = b.len;
  const w = b.words[n - 1]!;
  const row = A64.encoding(b.ids[n - 1]!);
  const next = b.va + 4 * n;
  if (!endsBlock(row, w)) return [next];
  const out: number[] = [];
  if (row.target !== undefined) out.push(row.target(w, b.va + 4 * (n - 1)));
  // Conditional branches fall through; a BL's callee returns to the next instruction.
  if (row.name !== 'B' && row.target !== undefined) out.push(next);
  return out;
}
