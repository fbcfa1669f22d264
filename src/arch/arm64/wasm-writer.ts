/**
 * The arm64 wasm writer's binary layer (emit-wasm.ts writes blocks with it, wasm-module.ts the module):
 * LEB128, sections, the opcodes used, value code (a Val is the code that pushes an i32), the
 * locals of the module's `run` function and the linear memory layout.
 * @module
 */
import type { Addr, Cond, Op, Pair, Val } from './emit.js';


/** Byte offsets in the module's linear memory. */
export const WASM_LAYOUT = {
  /**
   * X0-X30, SP as 32 little-endian i64: the same bytes as Cpu.x[0..63], and room for all of
   * Cpu.x (68 words: XZR and the sink follow) when the Cpu's register file lives here.
   */
  regs: 0,
  /** N, Z, C, V as i32. */
  flags: 512,
  /** Exit record: the next guest PC (f64), the slow instruction's handler id + 1 (0: none) and word. */
  exitPc: 528,
  exitId: 536,
  exitWord: 540,
  /** Bit i: the module may chain into its block i (valid for this epoch; set at each entry). */
  chainMask: 544,
  /** Read TLB: 256 i64 tags (virtual page numbers), then 256 i32 host offsets of the page. */
  rTag: 1024,
  rAdd: 3072,
  /** Write TLB, the same. */
  wTag: 4096,
  wAdd: 6144,
  /** End of a vCPU's control area (everything above is relative to the module's `ctl` global). */
  ctlEnd: 8192,
  /** (Unused since modules are built at run time: RET targets are compared with the module's blocks.) */
  map: 8192,
  /** The probe's guest RAM starts here (64 KiB in). */
  ram: 65536,
} as const;
/** Words the pc -> block map covers. */
export const MAP_WORDS = (WASM_LAYOUT.ram - WASM_LAYOUT.map) / 2;
export const TLB_ENTRIES = 256;

/** A block (or row) the writer does not cover: it stays with the JS translation. */
export class Unsupported extends Error {}

// ---- a minimal wasm binary writer ----------------------------------------------------------------

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
export const VOID = 0x40;

export function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

export function sleb(out: number[], v: bigint): void {
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

export function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const b of body) out.push(b);
}

/**
 * A function body's local declarations: the `fixed` runs ([count, type]), then `temps` (one type
 * each, in index order) joined into runs with the last fixed one where the types match.
 */
export function localDecls(fixed: readonly (readonly [number, number])[], temps: readonly number[]): number[] {
  const runs = fixed.map(([c, t]): [number, number] => [c, t]);
  for (const t of temps) {
    const last = runs[runs.length - 1]!;
    if (last[1] === t) last[0]++;
    else runs.push([1, t]);
  }
  const out: number[] = [];
  uleb(out, runs.length);
  for (const [c, t] of runs) {
    uleb(out, c);
    out.push(t);
  }
  return out;
}

/**
 * What both arches' module functions track while their blocks are written: the temps declared
 * after the fixed locals (from local index `first` on) and the open structured-control labels.
 */
export class WasmFn {
  /** Types of the temps from `first` on. */
  readonly temps: number[] = [];
  /** Open structured-control labels (their absolute levels are their positions). */
  depth = 0;

  constructor(private readonly first: number) {}

  /** A new temp local of `type`: its index. */
  local(type: number): number {
    this.temps.push(type);
    return this.first + this.temps.length - 1;
  }

  /** br to the label at absolute level `level`. */
  br(level: number): number[] {
    const out = [O.br];
    uleb(out, this.depth - 1 - level);
    return out;
  }
}

export function name(out: number[], s: string): void {
  uleb(out, s.length);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
}

/** Opcodes used (the MVP set plus sign extension). */
export const O = {
  unreachable: 0x00, call: 0x10, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, br_table: 0x0e, return: 0x0f,
  select: 0x1b, get: 0x20, set: 0x21, tee: 0x22,
  i32load: 0x28, i64load: 0x29, f64load: 0x2b,
  i64load8s: 0x30, i64load8u: 0x31, i64load16s: 0x32, i64load16u: 0x33, i64load32s: 0x34, i64load32u: 0x35,
  i32store: 0x36, i64store: 0x37, f64store: 0x39, i32store8: 0x3a, i32store16: 0x3b,
  i32const: 0x41, i64const: 0x42, f64const: 0x44,
  i32eqz: 0x45, i32eq: 0x46, i32ne: 0x47, i32gts: 0x4a,
  i64eqz: 0x50, i64eq: 0x51, i64ne: 0x52, i64lts: 0x53, i64ltu: 0x54, i64leu: 0x58,
  i32add: 0x6a, i32sub: 0x6b, i32mul: 0x6c, i32divs: 0x6d, i32divu: 0x6e, i32and: 0x71, i32or: 0x72, i32xor: 0x73,
  i32shl: 0x74, i32shrs: 0x75, i32shru: 0x76, i32rotr: 0x78,
  i64add: 0x7c, i64sub: 0x7d, i64mul: 0x7e, i64divs: 0x7f, i64divu: 0x80, i64and: 0x83, i64or: 0x84, i64xor: 0x85,
  i64shl: 0x86, i64shrs: 0x87, i64shru: 0x88, i64rotr: 0x8a,
  wrap: 0xa7, extS: 0xac, extU: 0xad, f64fromI64: 0xb9,
} as const;

export const OP32: Record<Op, number> = { '+': O.i32add, '-': O.i32sub, '&': O.i32and, '|': O.i32or, '^': O.i32xor, '<<': O.i32shl, '>>': O.i32shrs, '>>>': O.i32shru };

// ---- values --------------------------------------------------------------------------------------
// A Val/Cond is the code that pushes an i32, an Addr the code that pushes an i64, a Pair its two
// halves' code plus, where known, the code that pushes the whole 64-bit value (`w`).

export type Code = readonly number[];
export interface WPair extends Pair {
  readonly w?: Code;
}
export const V = (c: Code) => c as unknown as Val;
export const Cd = (v: Val | Cond | Addr) => v as unknown as Code;
export const C = (c: Code) => c as unknown as Cond;
export const A = (c: Code) => c as unknown as Addr;

/** i32.const v (signed LEB128 in number arithmetic: the writers' hot path). */
export function i32c(v: number): number[] {
  const out: number[] = [O.i32const];
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
export function i64c(v: bigint): number[] {
  const out = [O.i64const];
  sleb(out, BigInt.asIntN(64, v));
  return out;
}
export const get = (l: number): number[] => {
  const out = [O.get];
  uleb(out, l);
  return out;
};
export const mem = (op: number, align: number, off = 0): number[] => {
  const out = [op, align];
  uleb(out, off);
  return out;
};

/** The i64 of a pair (its whole value when known, else its halves joined). */
export function whole(p: WPair): Code {
  if (p.w !== undefined) return p.w;
  return [...Cd(p.hi), O.extU, ...i64c(32n), O.i64shl, ...Cd(p.lo), O.extU, O.i64or];
}
/** A pair over an i64 value (code without side effects, e.g. a local). */
export function pairOf(w: Code): WPair {
  return { lo: V([...w, O.wrap]), hi: V([...w, ...i64c(32n), O.i64shru, O.wrap]), w };
}

// ---- the module --------------------------------------------------------------------------------

/** Fixed locals of `run`: params, registers, flags, dispatch state. */
export const L = { block: 0, lim: 1, reg0: 2, n: 34, z: 35, c: 36, v: 37, next: 38, ret: 39, pc: 40, first: 41 } as const;
export const regLocal = (r: number) => L.reg0 + r;

export function f64c(v: number): number[] {
  return [O.f64const, ...new Uint8Array(new Float64Array([v]).buffer)];
}

/**
 * The code pushing the base address of the vCPU's control area (WASM_LAYOUT offsets are relative
 * to it): the module's imported immutable global 0, so one compiled module serves every vCPU.
 */
export const CTL: Code = [0x23, 0];

/** Stores all register and NZCV locals to the register file at `base` (default address 0; the engine passes CTL). */
export function saveState(base: Code = i32c(0)): number[] {
  const out: number[] = [];
  for (let r = 0; r < 32; r++) out.push(...base, ...get(regLocal(r)), ...mem(O.i64store, 3, WASM_LAYOUT.regs + 8 * r));
  for (const [k, l] of [L.n, L.z, L.c, L.v].entries()) out.push(...base, ...get(l), ...mem(O.i32store, 2, WASM_LAYOUT.flags + 4 * k));
  return out;
}

/** Loads all register and NZCV locals from the register file at `base` (default address 0; the engine passes CTL). */
export function loadState(base: Code = i32c(0)): number[] {
  const out: number[] = [];
  for (let r = 0; r < 32; r++) {
    out.push(...base, ...mem(O.i64load, 3, WASM_LAYOUT.regs + 8 * r), O.set);
    uleb(out, regLocal(r));
  }
  for (const [k, l] of [L.n, L.z, L.c, L.v].entries()) {
    out.push(...base, ...mem(O.i32load, 2, WASM_LAYOUT.flags + 4 * k), O.set);
    uleb(out, l);
  }
  return out;
}
