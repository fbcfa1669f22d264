/**
 * The A64 decode table checks itself (as QEMU's tests/decode and dynarmic's decoder tests do):
 * - no two rows overlap at equal specificity (the decoder would pick between them by table
 *   order, silently);
 * - every row is reachable: some word decodes to it (a more specific row or its own `check`
 *   does not shadow it entirely);
 * - the block-JIT attributes are consistent: direct-branch targets only on block-ending rows,
 *   and every inline form inlines some word of its row (a form that always declines is dead code).
 */
import { describe, expect, it } from 'vitest';
import { Block } from '../../src/arch/arm64/blocks.js';
import { endsBlock, type CompiledEncoding } from '../../src/arch/arm64/decoder.js';
import { generate } from '../../src/arch/arm64/jit.js';
import { A64 } from '../../src/arch/arm64/table.js';

const rows = A64.encodings.filter((e) => e.id !== A64.unallocated);

const popcount = (v: number): number => {
  let n = 0;
  for (let b = v >>> 0; b !== 0; b &= b - 1) n++;
  return n;
};

/** A deterministic 32-bit generator (xorshift). */
function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** Words matching `e`'s pattern (free bits random) that the table decodes to `e`. */
function wordsOf(e: CompiledEncoding, tries: number, seed = e.id): number[] {
  const next = rng(seed * 7919);
  const out: number[] = [];
  for (let t = 0; t < tries; t++) {
    // Half the samples keep the low free bits small: register fields of 31 and huge
    // immediates are corner cases, small values are what most checks accept.
    const r = t & 1 ? next() : next() & next();
    const w = ((r & ~e.mask) | e.value) | 0;
    if (A64.match(w) === e.id) out.push(w);
  }
  return out;
}

/** Pairs of rows that some word matches with the same number of fixed bits. */
function clashes(list: readonly CompiledEncoding[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i]!;
      const b = list[j]!;
      if (popcount(a.mask) !== popcount(b.mask)) continue;
      if (((a.value ^ b.value) & a.mask & b.mask) === 0) out.push(`${a.name} / ${b.name}`);
    }
  }
  return out;
}

describe('A64 decode table', () => {
  it('has no two rows that overlap at equal specificity', () => {
    expect(clashes(rows)).toEqual([]);
  });

  it('the overlap check sees a clash (negative control)', () => {
    const add = rows.find((e) => e.name === 'ADD_imm_64')!;
    // Same fixed-bit count: bit 31 (sf) freed, bit 0 (Rd) fixed; a word with both matches both.
    const skew = { ...add, name: 'SKEW', mask: (add.mask & 0x7fffffff) | 1, value: add.value & 0x7fffffff };
    expect(clashes([add, skew])).toEqual(['ADD_imm_64 / SKEW']);
    expect(clashes([add, { ...add, name: 'DISJOINT', value: add.value ^ (1 << 30) }])).toEqual([]);
  });

  it('reaches every row from some word', () => {
    const unreachable = rows.filter((e) => wordsOf(e, 4096).length === 0).map((e) => e.name);
    expect(unreachable).toEqual([]);
  });

  it('marks direct-branch targets only on rows that end a block', () => {
    for (const e of rows) if (e.target !== undefined) expect(e.ends, e.name).toBe(true);
    for (const name of ['B', 'BL', 'B_cond', 'CBZ_CBNZ', 'TBZ_TBNZ', 'BR', 'BLR', 'RET', 'ERET', 'SVC', 'HVC', 'SMC', 'BRK', 'ISB', 'MSR_imm', 'SYS', 'MRS_MSR']) {
      const e = rows.find((r) => r.name === name)!;
      expect(wordsOf(e, 64).every((w) => endsBlock(e, w)), name).toBe(true);
    }
    expect(endsBlock(A64.encoding(A64.unallocated), 0)).toBe(true);
    // HINT ends a block for WFE/WFI only (NOP: CRm:op2 = 0, WFE = 2, WFI = 3).
    const hint = rows.find((r) => r.name === 'HINT')!;
    expect([0xd503201f, 0xd503205f, 0xd503207f].map((w) => endsBlock(hint, w | 0))).toEqual([false, true, true]);
  });

  it('inlines some word of every row that has an inline form', () => {
    const dead: string[] = [];
    for (const e of rows) {
      if (e.jit === undefined) continue;
      const inlined = wordsOf(e, 256).some((w) => {
        const b = new Block(0x40001000, 1, 0, 0, Int32Array.of(w), Uint16Array.of(e.id));
        return !/H\[\d+\]/.test(generate(b, 0, false));
      });
      if (!inlined) dead.push(e.name);
    }
    expect(dead).toEqual([]);
  });
});
