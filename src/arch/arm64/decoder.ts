/**
 * The A64 decoder: a declarative table of encodings (decodetree-style pattern strings), compiled
 * at load into a bucketed matcher, plus a direct-mapped memo from instruction word to handler id.
 *
 * Pattern syntax (32 bits, most significant first, tokens separated by spaces):
 *   `0`/`1`      fixed bits (several may be written together: `100010`)
 *   `.`          a bit the encoding does not care about
 *   `name:len`   a named field of `len` bits (not matched; documents what the handler extracts)
 *   `name=bits`  a named field that must hold exactly `bits`
 *
 * Rows are tried from the most fixed bits to the fewest, so a specific encoding (an alias, or an
 * unallocated corner written as its own row) wins over the general one. A row's optional `check`
 * rejects words its pattern cannot express (reserved field values); those fall through to the
 * next row and finally to UNALLOCATED (the UNDEF handler).
 *
 * Because A64 decoding depends only on the word, the memo is keyed by the word alone: no
 * invalidation is ever needed, and self-modifying code stays correct by construction (the
 * interpreter re-reads the word from guest memory before every execution).
 * @module
 */
import type { Cpu } from './cpu.js';
import type { JitForm } from './emit.js';

/** Executes one decoded instruction. `c.pc` already holds the next sequential address. */
export type Handler = (c: Cpu, insn: number) => void;

export interface Encoding {
  /** Arm's name for the encoding (mnemonic and form), e.g. `ADD_imm_64`. */
  readonly name: string;
  readonly pattern: string;
  readonly exec: Handler;
  /** Returns false for words the pattern matches but the architecture leaves unallocated. */
  readonly check?: (insn: number) => boolean;
  /** The instruction group, for tests and the random program generator. */
  readonly group?: string;

  // ---- what the block JIT (jit.ts) needs to know; absent: false ----
  /** Ends a block (control flow, exceptions, system state); a function: for the words it returns true. */
  readonly ends?: boolean | ((insn: number) => boolean);
  /** The target of a direct branch word at `pc` (a region's translation follows it, jit.ts). */
  readonly target?: (insn: number, pc: number) => number;
  /** The handler is pure register work: it can neither fault, nor read the PC, nor exit. */
  readonly pure?: boolean;
  /** The handler accesses guest memory (a store may drop translated code or exit). */
  readonly mem?: boolean;
  /** The inline form (emit.ts); absent or declining: translated code calls `exec`. */
  readonly jit?: JitForm;
}

/** The same attributes on every row of a list (e.g. `mem` for the load/store table). */
export function withAttrs(attrs: Pick<Encoding, 'pure' | 'mem'>, rows: readonly Encoding[]): Encoding[] {
  return rows.map((r) => ({ ...attrs, ...r }));
}

/** Whether row `e` ends a translated block at word `insn`. */
export function endsBlock(e: Encoding, insn: number): boolean {
  const x = e.ends;
  return x === undefined ? false : typeof x === 'boolean' ? x : x(insn);
}

export interface Field {
  readonly name: string;
  readonly lsb: number;
  readonly len: number;
}

export interface CompiledEncoding extends Encoding {
  readonly id: number;
  readonly mask: number;
  readonly value: number;
  readonly fields: readonly Field[];
}

/** Parses a pattern into mask/value and fields. Throws on a malformed pattern (a table bug). */
export function parsePattern(pattern: string): { mask: number; value: number; fields: Field[] } {
  let mask = 0;
  let value = 0;
  let bit = 32;
  const fields: Field[] = [];
  for (const tok of pattern.trim().split(/\s+/)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::(\d+)|=([01]+))$/.exec(tok);
    if (m) {
      const len = m[2] !== undefined ? Number(m[2]) : m[3]!.length;
      bit -= len;
      if (bit < 0 || len === 0) throw new Error(`pattern too long: ${pattern}`);
      fields.push({ name: m[1]!, lsb: bit, len });
      if (m[3] !== undefined) {
        const f = parseInt(m[3], 2);
        mask |= (((1 << len) - 1) << bit) | 0;
        value |= f << bit;
      }
      continue;
    }
    if (!/^[01.]+$/.test(tok)) throw new Error(`bad token '${tok}' in ${pattern}`);
    for (const ch of tok) {
      bit--;
      if (bit < 0) throw new Error(`pattern too long: ${pattern}`);
      if (ch !== '.') {
        mask |= 1 << bit;
        if (ch === '1') value |= 1 << bit;
      }
    }
  }
  if (bit !== 0) throw new Error(`pattern has ${32 - bit} bits, not 32: ${pattern}`);
  return { mask: mask | 0, value: value | 0, fields };
}

const popcount = (v: number): number => {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
};

/** Bits [31:21] select the bucket; each bucket lists the rows compatible with them. */
const BUCKET_SHIFT = 21;
const MEMO_BITS = 16;

/** A compiled table: `decode(word)` gives the handler id, `handlers[id]` the function. */
export class Decoder {
  readonly encodings: CompiledEncoding[] = [];
  readonly handlers: Handler[] = [];
  /** The id of the UNALLOCATED pseudo-encoding. */
  readonly unallocated: number;
  private readonly buckets: Int32Array[] = [];
  /** Direct-mapped memo: word -> handler id (the run loop inlines the lookup). */
  readonly memoKey = new Int32Array(1 << MEMO_BITS);
  readonly memoVal = new Uint16Array(1 << MEMO_BITS);

  constructor(table: readonly Encoding[], undef: Handler) {
    // id 0 is "not decoded"; id 1 is UNALLOCATED.
    this.handlers.push(undef);
    this.unallocated = this.add({ name: 'UNALLOCATED', pattern: '.'.repeat(32), exec: undef, ends: true });
    for (const e of table) this.add(e);
    const nb = 1 << (32 - BUCKET_SHIFT);
    const lists: CompiledEncoding[][] = Array.from({ length: nb }, () => []);
    const bucketMask = (nb - 1) << BUCKET_SHIFT;
    for (const e of this.encodings) {
      if (e.id === this.unallocated) continue;
      const m = (e.mask & bucketMask) >>> BUCKET_SHIFT;
      const v = (e.value & bucketMask) >>> BUCKET_SHIFT;
      for (let b = 0; b < nb; b++) if ((b & m) === v) lists[b]!.push(e);
    }
    for (const l of lists) {
      l.sort((a, b) => popcount(b.mask) - popcount(a.mask) || a.id - b.id);
      this.buckets.push(Int32Array.from(l.map((e) => e.id)));
    }
    this.memoKey[0] = 0;
    this.memoVal[0] = this.match(0);
  }

  private add(e: Encoding): number {
    const p = parsePattern(e.pattern);
    const id = this.handlers.length;
    this.handlers.push(e.exec);
    this.encodings.push({ ...e, id, mask: p.mask, value: p.value, fields: p.fields });
    return id;
  }

  /** The encoding with this id. */
  encoding(id: number): CompiledEncoding {
    return this.encodings[id - 1]!;
  }

  /** Matches `insn` against the table (no memo). */
  match(insn: number): number {
    const list = this.buckets[insn >>> BUCKET_SHIFT]!;
    for (let i = 0; i < list.length; i++) {
      const e = this.encodings[list[i]! - 1]!;
      if ((insn & e.mask) === e.value && (e.check === undefined || e.check(insn))) return e.id;
    }
    return this.unallocated;
  }

  /**
   * The handler id for `insn`, memoized by word. Two-way: a word lives in its hash slot or the
   * neighbour, so two hot words sharing a slot do not evict each other on every execution.
   */
  decode(insn: number): number {
    const k = Math.imul(insn, 0x9e3779b1) >>> (32 - MEMO_BITS);
    const keys = this.memoKey;
    const vals = this.memoVal;
    if (keys[k] === insn && vals[k] !== 0) return vals[k]!;
    const k2 = k ^ 1;
    if (keys[k2] === insn && vals[k2] !== 0) return vals[k2]!;
    const id = this.match(insn);
    // Fill an empty way, else replace the neighbour way (the primary keeps the older word).
    const slot = vals[k] === 0 ? k : k2;
    keys[slot] = insn;
    vals[slot] = id;
    return id;
  }

  /** The named fields of `insn` under encoding `id` (tests, disassembly; allocates). */
  fields(id: number, insn: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const f of this.encoding(id).fields) out[f.name] = (insn >>> f.lsb) & ((1 << f.len) - 1) >>> 0;
    return out;
  }
}
