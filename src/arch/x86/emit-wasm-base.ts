/**
 * Shared pieces of the x86 wasm writer (emit-wasm.ts, emit-wasm-module.ts): constants and LEB128,
 * the control area's layout, the module function's locals and labels, value helpers and the flags
 * computed from a writer known at translation time.
 * @module
 */
import type { Cond, Pair, Val } from './emit.js';
import { FOp } from './flags.js';
import { X86_HOT } from './state.js';
import { F64, I32, i32c, i64c as i64cBig, mem, O, uleb, WasmFn, type Code } from '../arm64/wasm-writer.js';

export { f64c, i32c, type Code } from '../arm64/wasm-writer.js';

/** i64.const v (memoized: the same few constants recur). */
export const I64C = new Map<bigint, readonly number[]>();
export function i64c(v: bigint): readonly number[] {
  let c = I64C.get(v);
  if (c === undefined) {
    c = i64cBig(v);
    if (I64C.size < 4096) I64C.set(v, c);
  }
  return c;
}

export { Unsupported } from '../arm64/wasm-writer.js';

/** A pair of generated code: halves, and where known the i64 whole (`w`) and the local it lives in (`l`). */
export interface XPair extends Pair {
  readonly w?: Code;
  readonly l?: number;
  readonly wide?: boolean;
}
export const V = (c: Code) => c as unknown as Val;
export const Cd = (v: Val | Cond) => v as unknown as Code;
export const C = (c: Code) => c as unknown as Cond;

/** Opcodes beyond the shared writer's set. */
export const X = {
  i32lts: 0x48, i32ltu: 0x49, i32gtu: 0x4b, i32les: 0x4c, i32leu: 0x4d, i32geu: 0x4f,
  i64gts: 0x55, i64gtu: 0x56, i64les: 0x57, i64ges: 0x59,
  i32load8u: 0x2d, i32load16u: 0x2f, i64remu: 0x82, i64rems: 0x81,
  ext8s32: 0xc0, ext16s32: 0xc1, f64fromI64s: 0xb9, i64fromF64sat: [0xfc, 0x06] as const,
} as const;

// ---- linear memory (offsets from the vCPU's control area) ------------------------------------------

/** Fields of the flags record in memory, in this order, as i32 (flags.ts `Flags`). */
export const FLAGS_FIELDS = ['op', 'size', 'a0', 'a1', 'b0', 'b1', 'r0', 'r1', 'cin', 'ofv', 'afv'] as const;
export const FL = (f: (typeof FLAGS_FIELDS)[number]) => X86_WASM.flags + 4 * FLAGS_FIELDS.indexOf(f);

/** Byte offsets inside a vCPU's control area of the wasm memory. */
export const X86_WASM = {
  /** X86_HOT's layout: its `r` (the GPRs) is X86State.r; the FXSAVE image's room stays unused. */
  hot: 0,
  /** The flags record (FLAGS_FIELDS). */
  flags: 1024,
  /** Exit record: the next RIP (f64), the soft-exit status, the high half of a slow read, the TLB user bit. */
  exitRip: 1072,
  status: 1080,
  t1: 1084,
  user: 1088,
  /** The current validation stamp (i32): a chained jump checks its target's word against it. */
  stamp: 1092,
  /** PF per byte value (0/1). */
  parity: 1280,
  /** Read TLB: 1024 i64 tags (vpn * 2 + user), then 1024 i32 host offsets of the page. */
  rTag: 2048,
  rAdd: 2048 + 8192,
  /** Write TLB, the same. */
  wTag: 14336,
  wAdd: 14336 + 8192,
  /**
   * A word per block slot (STAMP_SLOTS): the stamp under which the block was last validated
   * (checked against guest memory in this KVM_RUN, its page mapping unchanged since).
   */
  stamps: 32768,
  /** Size of a control area (a multiple of 64 KiB). */
  size: 65536,
} as const;
export const TLB_ENTRIES = 1024;
/** Block slots of a control area's `stamps` (blocks in a vCPU's modules at most). */
export const STAMP_SLOTS = 8192;
export const REGS = X86_WASM.hot + X86_HOT.offsetOf('r');

export const CANON_LO = -0x800000000000n;
export const CANON_HI = 0x800000000000n;

// ---- the module's function --------------------------------------------------------------------

/** Fixed locals of `run`: params, registers, counters, the address register. */
export const L = { block: 0, lim: 1, g0: 2, n: 18, u: 19, next: 20, addr: 21, ps: 22, st: 23, entry: 24, first: 25 } as const;
export const gl = (r: number) => L.g0 + r;
export const set = (l: number): number[] => {
  const out = [O.set];
  uleb(out, l);
  return out;
};
export const I64_OF_I32U = O.extU;
export const I64_OF_I32S = O.extS;

/** One module's function under construction: locals, labels, the blocks' indices. */
export class Fn extends WasmFn {
  readonly written = new Set<number>();
  /** Code loading every register local (and the user bit) from the register file. */
  readonly reload: number[] = [];

  constructor(
    /** Module block index by entry address (blocks of one mode key). */
    readonly index: Map<number, number>,
    /** Addresses that follow a CALL of the module (where a RET may chain to). */
    readonly returnSites: readonly number[],
    readonly ctl: number,
    /** The stamp slot of each module block (null: chained jumps are not checked, a module written ahead). */
    readonly slots: readonly number[] | null = null,
  ) {
    super(L.first);
    for (let r = 0; r < 16; r++) this.reload.push(...i32c(0), ...mem(O.i64load, 3, ctl + REGS + 8 * r), ...set(gl(r)));
    this.reload.push(...i32c(0), ...mem(O.i32load, 2, ctl + X86_WASM.user), ...set(L.u));
  }

}
export const EXIT = 0;
export const DISPATCH = 1;

/** What a condition is evaluated from when the flag writer is known at translation time. */
export interface Known {
  op: FOp;
  size: number;
  a: XPair;
  b: XPair;
  r: XPair;
  cin?: Code;
  ofv?: Code;
}

export const ZERO: XPair = { lo: V(i32c(0)), hi: V(i32c(0)), w: i64c(0n) };

export function pairOfW(w: Code): XPair {
  return { lo: V([...w, O.wrap]), hi: V([...w, ...i64c(32n), O.i64shru, O.wrap]), w };
}

/** The i64 of a pair (its whole value when known, else its halves joined). */
export function whole(p: Pair): Code {
  const x = p as XPair;
  if (x.w !== undefined) return x.w;
  return joinHalves(p.lo, p.hi);
}

export function joinHalves(lo: Val, hi: Val): Code {
  const h = Cd(hi);
  // A constant zero high half: just the low word zero-extended.
  if (h.length === 2 && h[0] === O.i32const && h[1] === 0) return [...Cd(lo), I64_OF_I32U];
  return [...h, I64_OF_I32U, ...i64c(32n), O.i64shl, ...Cd(lo), I64_OF_I32U, O.i64or];
}

// ---- flags from a known writer (flags.ts semantics) ----------------------------------------------

export function signBit(size: number, c: Code, hi: Code): Code {
  if (size === 8) return [...hi, ...i32c(31), O.i32shru];
  return [...c, ...i32c(size * 8 - 1), O.i32shru, ...i32c(1), O.i32and];
}

export function ltuOf(size: number, a: XPair, b: XPair): Code {
  if (size === 8) return [...whole(a), ...whole(b), O.i64ltu];
  return [...Cd(a.lo), ...Cd(b.lo), X.i32ltu];
}

export function cfOf(k: Known): Code {
  switch (k.op) {
    case FOp.ADD:
      return ltuOf(k.size, k.r, k.a);
    case FOp.SUB:
      return ltuOf(k.size, k.a, k.b);
    case FOp.LOGIC:
      return i32c(0);
    default:
      return k.cin!;
  }
}

export function zfOf(k: Known): Code {
  return k.size === 8 ? [...whole(k.r), O.i64eqz] : [...Cd(k.r.lo), O.i32eqz];
}

export function sfOf(k: Known): Code {
  return signBit(k.size, Cd(k.r.lo), Cd(k.r.hi));
}

export function ofOf(k: Known): Code {
  const { a, b, r, size } = k;
  const hi = size === 8;
  const [av, bv, rv] = hi ? [Cd(a.hi), Cd(b.hi), Cd(r.hi)] : [Cd(a.lo), Cd(b.lo), Cd(r.lo)];
  const sb = hi ? 31 : size * 8 - 1;
  const bit = (x: Code) => [...x, ...i32c(sb), O.i32shru, ...i32c(1), O.i32and];
  switch (k.op) {
    case FOp.ADD:
    case FOp.INC:
      return bit([...av, ...rv, O.i32xor, ...bv, ...rv, O.i32xor, O.i32and]);
    case FOp.SUB:
    case FOp.DEC:
      return bit([...av, ...bv, O.i32xor, ...av, ...rv, O.i32xor, O.i32and]);
    case FOp.LOGIC:
      return i32c(0);
    default:
      return k.ofv!;
  }
}


/** Import function indices (type index in the type section). */
export const IMPORT = { h: 0, rd: 1, wr: 2, lin: 3, cond: 4 } as const;
export const IMPORT_TYPES: [string, number[], number[]][] = [
  // h(id, nk, last) -> count (-1: go on)
  ['h', [I32, I32, I32], [I32]],
  // rd(id, nk, lin, size, soft) -> low word (high word at t1)
  ['rd', [I32, I32, F64, I32, I32], [I32]],
  // wr(id, nk, lin, size, lo, hi) -> stop
  ['wr', [I32, I32, F64, I32, I32, I32], [I32]],
  // lin(id, nk, size, write) -> linear address
  ['lin', [I32, I32, I32, I32], [F64]],
  // cond(cc) -> 0/1
  ['cond', [I32], [I32]],
];

