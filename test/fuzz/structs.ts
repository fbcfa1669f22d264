/**
 * Layout-aware argument bytes for the ioctl fuzzer: the uapi declarations (src/uapi) say where
 * every field of an ioctl's struct lies, so the fuzzer can put boundary values in integer fields,
 * plausible or hostile addresses in pointer fields and small or huge counts in the count field of
 * a flexible array — which reaches much deeper into the handlers than random bytes alone.
 * @module
 */
import type { Agg, CType } from '../../src/uapi/index.js';
import type { Rng } from './rng.js';

/** One scalar leaf of a struct. */
export interface Leaf {
  readonly path: string;
  readonly offset: number;
  readonly size: number;
  /** A user pointer (an hva the kernel dereferences). */
  readonly pointer: boolean;
  /** The count field of a flexible array (`nmsrs`, `nent`, `n`, `len`...). */
  readonly count: boolean;
}

/** Shape of an ioctl argument: its leaves and, for a flexible array, the element size. */
export interface ArgShape {
  readonly size: number;
  readonly leaves: readonly Leaf[];
  /** Element size of a trailing flexible array (0 when none) and the offset of its count field. */
  readonly flexElem: number;
  readonly countOffset: number;
  readonly countSize: number;
}

/** Field names that hold user pointers in the KVM uapi. */
const POINTER_NAMES = new Set(['addr', 'dirty_bitmap', 'userspace_addr', 'bitmap', 'source_addr', 'uaddr', 'blob_addr_32', 'blob_addr_64']);
/** At most this many elements of a fixed array get their own leaves (the rest are bytes). */
const ARRAY_LEAVES = 4;

const shapes = new WeakMap<CType, ArgShape>();

/** The leaves of `type` (cached). */
export function shapeOf(type: CType): ArgShape {
  let s = shapes.get(type);
  if (!s) {
    const leaves: Leaf[] = [];
    let flexElem = 0;
    let countOffset = -1;
    let countSize = 0;
    const counts = new Set<string>();
    const walk = (t: CType, off: number, path: string, name: string): void => {
      if (t.kind === 'scalar') {
        leaves.push({ path, offset: off, size: t.size, pointer: POINTER_NAMES.has(name) || t.c === 'void *', count: false });
        return;
      }
      if (t.kind === 'array') {
        if (t.flex) {
          if (t.countField) counts.add(path.replace(/[^.]*$/, t.countField));
          flexElem = t.elem.size;
          return;
        }
        if (t.elem.kind === 'scalar' && t.elem.size === 1) return; // byte arrays: random bytes are enough
        for (let i = 0; i < Math.min(t.count, ARRAY_LEAVES); i++) walk(t.elem, off + i * t.elem.size, `${path}[${i}]`, name);
        return;
      }
      for (const m of (t as Agg).members) walk(m.type, off + m.offset, m.name === null ? path : path ? `${path}.${m.name}` : m.name, m.name ?? name);
    };
    walk(type, 0, '', '');
    const marked = leaves.map((l) => (counts.has(l.path) ? { ...l, count: true } : l));
    const c = marked.find((l) => l.count);
    if (c) {
      countOffset = c.offset;
      countSize = c.size;
    }
    s = { size: type.size, leaves: marked, flexElem, countOffset, countSize };
    shapes.set(type, s);
  }
  return s;
}

/** Where pointer fields may point: chosen per backend (native: only safe addresses). */
export interface PointerPool {
  pick(rng: Rng): bigint;
}

/** Largest argument buffer the fuzzer builds (a flexible array may announce far more). */
export const MAX_ARG = 1 << 16;

export function writeLE(out: Uint8Array, off: number, size: number, v: bigint): void {
  for (let i = 0; i < size && off + i < out.length; i++) out[off + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}

export function readLE(b: Uint8Array, off: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i] ?? 0);
  return v;
}

/**
 * Argument bytes for a struct ioctl: a base (zeros, random, or a buffer a GET returned earlier),
 * then boundary values in some fields, then a length that is usually what the kernel reads and
 * sometimes shorter or longer.
 */
export function structArg(rng: Rng, shape: ArgShape, pointers: PointerPool, corpus?: Uint8Array): Uint8Array {
  const base = rng.weighted<'zero' | 'random' | 'corpus'>([[3, 'zero'], [3, 'random'], [corpus ? 4 : 0, 'corpus']]);
  let count = 0;
  if (shape.flexElem) count = rng.weighted([[4, rng.int(4)], [2, rng.int(64)], [1, rng.int(600)]]);
  let len = Math.min(MAX_ARG, shape.size + count * shape.flexElem);
  let out = new Uint8Array(len);
  if (base === 'random') rng.fill(out);
  else if (base === 'corpus' && corpus) out.set(corpus.subarray(0, len));
  const p = rng.pick([0.05, 0.2, 0.5]);
  for (const l of shape.leaves) {
    if (l.count) continue;
    if (l.pointer) {
      if (base !== 'corpus' || rng.chance(p)) writeLE(out, l.offset, l.size, pointers.pick(rng));
    } else if (rng.chance(p)) {
      writeLE(out, l.offset, l.size, rng.interesting((l.size * 8) as 8 | 16 | 32 | 64));
    }
  }
  if (shape.countOffset >= 0) {
    const c = rng.weighted<bigint>([[8, BigInt(count)], [1, rng.interesting((shape.countSize * 8) as 8 | 16 | 32 | 64)], [1, BigInt(count + 1)]]);
    writeLE(out, shape.countOffset, shape.countSize, c);
  }
  const cut = rng.weighted<'exact' | 'short' | 'long'>([[16, 'exact'], [2, 'short'], [2, 'long']]);
  if (cut === 'short' && len > 0) out = out.subarray(0, rng.int(len));
  else if (cut === 'long') {
    const longer = new Uint8Array(len + 1 + rng.int(64));
    longer.set(out);
    out = longer;
    len = out.length;
  }
  return out;
}
