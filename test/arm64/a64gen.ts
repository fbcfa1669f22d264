/**
 * Random straight-line A64 integer programs, generated from the decoder's own encoding table:
 * pick a row of the data-processing groups, fill its free bits at random, keep the word only if
 * the table decodes it back to that row (so unallocated and aliased corners fall out), and keep
 * register 31 out of the fields where it would mean SP (the harnesses own the stack pointer).
 */
import { A64 } from '../../src/arch/arm64/table.js';
import type { CompiledEncoding } from '../../src/arch/arm64/decoder.js';

export const DIFF_GROUPS = ['dp-imm', 'dp-reg', 'dp-crc'];

/** Rows whose Rd/Rn field 31 names SP. */
const SP_FORM = new Set(['ADD_imm_64', 'ADDS_imm_64', 'SUB_imm_64', 'SUBS_imm_64', 'ADD_imm_32', 'ADDS_imm_32', 'SUB_imm_32', 'SUBS_imm_32', 'ADDSUB_ext', 'LOGICAL_imm']);

/** xorshift128+-style 32-bit generator (deterministic per seed). */
export class Rng {
  private s0: number;
  private s1: number;
  constructor(seed: number) {
    this.s0 = seed | 0 || 1;
    this.s1 = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) | 0 || 2;
  }
  u32(): number {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    this.s1 = x;
    return (this.s1 + y) >>> 0;
  }
  below(n: number): number {
    return this.u32() % n;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  /** Operand values with a taste for corner cases. */
  value(): bigint {
    switch (this.below(8)) {
      case 0:
        return [0n, 1n, 0xffffffffffffffffn, 0x7fffffffffffffffn, 0x8000000000000000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n][this.below(9)]!;
      case 1:
        return BigInt(this.below(64));
      case 2:
        return BigInt.asUintN(64, -BigInt(this.below(64)));
      case 3:
        return BigInt(this.u32());
      default:
        return this.u64();
    }
  }
}

const rows: CompiledEncoding[] = A64.encodings.filter((e) => e.group !== undefined && DIFF_GROUPS.includes(e.group));

/** One random instruction word and the name of its encoding. */
export function randomInsn(rng: Rng): { word: number; name: string } {
  for (;;) {
    const e = rows[rng.below(rows.length)]!;
    const word = (e.value | (rng.u32() & ~e.mask)) | 0;
    if (A64.match(word) !== e.id) continue;
    if (SP_FORM.has(e.name)) {
      const f = A64.fields(e.id, word);
      if (f.Rd === 31 || f.Rn === 31) continue;
    }
    return { word, name: e.name };
  }
}

export interface DiffProgram {
  words: number[];
  names: string[];
  x: bigint[];
  nzcv: number;
}

export function randomProgram(rng: Rng): DiffProgram {
  const n = 1 + rng.below(24);
  const words: number[] = [];
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = randomInsn(rng);
    words.push(r.word);
    names.push(r.name);
  }
  return { words, names, x: Array.from({ length: 31 }, () => rng.value()), nzcv: rng.below(16) << 28 };
}

/** The encodings the generator draws from (for coverage reporting). */
export const DIFF_ENCODINGS: readonly string[] = rows.map((r) => r.name);
