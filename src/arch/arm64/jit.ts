/**
 * The arm64 block JIT's code generator: a decoded block (blocks.ts) becomes a specialised JS
 * function (`new Function`). `generate` chooses, instruction by instruction, between the row's
 * inline form (decoder.ts `Encoding.jit`, written next to the handler in its insn-*.ts) and a
 * call of the interpreter's handler with the word as a constant (the same semantics by
 * construction); the {@link JsEmitter} writes the code. A block whose final branch targets its
 * own start becomes a loop inside its function, bounded by the instruction budget it is given.
 * @module
 */
import { divs64, divu64, muls64, mulu64, W } from '../arith64.js';
import type { Block } from './blocks.js';
import { baseAddr } from './insn-ldst.js';
import type { Cpu } from './cpu.js';
import { endsBlock } from './decoder.js';
import { CALL } from './emit.js';
import { JsEmitter } from './emit-js.js';
import { A64 } from './table.js';

/** A translated block: runs the block (looping while `lim` allows), updates pc and retired. */
export type BlockFn = (c: Cpu, lim: number) => void;

/** Entries of the process-wide source -> function cache. */
const FN_CACHE_LIMIT = 8192;

/** Helpers the generated code reaches through `K` (64-bit multiply/divide results land in W). */
const K = { baseAddr, mulu64, muls64, divu64, divs64, W };

const fnCache = new Map<string, BlockFn>();

/** The function of block `b` (throws on a generator bug; the block then stays interpreted). */
export function translate(b: Block): BlockFn {
  const src = generate(b, (b.mode >>> 1) & 3, (b.mode & 8) !== 0);
  let fn = fnCache.get(src);
  if (fn === undefined) {
    fn = new Function('H', 'K', src)(A64.handlers, K) as BlockFn;
    if (fnCache.size >= FN_CACHE_LIMIT) fnCache.clear();
    fnCache.set(src, fn);
  }
  return fn;
}

/** The JS source of block `b` (the body of `function (H, K)` returning the block function). */
export function generate(b: Block, tbi: number, spAlign: boolean): string {
  const n = b.len;
  const va = b.va;
  const lastRow = A64.encoding(b.ids[n - 1]!);
  const lastW = b.words[n - 1]!;
  const ends = endsBlock(lastRow, lastW);
  // A final direct branch back to the block's start makes the block a loop.
  const loop = ends && lastRow.target !== undefined && lastRow.target(lastW, va + 4 * (n - 1)) === va;
  const e = new JsEmitter(va, n, loop, tbi, spAlign);
  for (let k = 0; k < n; k++) {
    const id = b.ids[k]!;
    const w = b.words[k]!;
    const pc = va + 4 * k;
    const row = A64.encoding(id);
    e.begin(pc, w, k);
    if (row.jit !== undefined && row.jit(e, w, pc)) {
      e.commit();
      continue;
    }
    e.rollback();
    // The interpreter's handler, with the word as a constant.
    e.call(id, w, k === n - 1 && ends ? CALL.END : row.pure ? CALL.PURE : row.mem ? CALL.MEM : CALL.SYNC);
  }
  if (!ends) e.leave(va + 4 * n);
  return e.source();
}
