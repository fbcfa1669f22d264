/**
 * A WebAssembly writer behind the arm64 JIT's {@link Emitter} seam (emit.ts), built to measure
 * what a wasm backend would get (`npm run bench:wasm`, bench/wasm-probe.ts; issue 18's plan to
 * pass 720 MIPS). It is a probe, not yet the backend: `run.ts` does not choose it; the probe
 * installs its block functions in place of the JS translations.
 *
 * One module holds many translated blocks as one function `run(block, lim)`:
 * - X0-X30 and SP live in i64 wasm locals (NZCV in i32 locals) for the whole call: loaded from the
 *   register file in linear memory at entry, stored at exit. A {@link Pair} made from a 64-bit
 *   value keeps it, so 64-bit register work is one i64 operation, not two halves.
 * - Blocks chain inside the function: a direct branch to another block of the module is a
 *   `br_table` dispatch (a self-loop a plain `br`), a register branch (RET) looks its target up in
 *   a pc -> block map in memory; anything else leaves with the guest PC. Every block checks the
 *   instruction budget `lim` first, so a call retires at most `lim` instructions, exactly as the
 *   JS translation's loops do.
 * - Guest memory is the same linear memory: the memslot's bytes are a view of the module's
 *   WebAssembly.Memory. Loads and stores probe an inline TLB (tags and host offsets in memory,
 *   mirrored from the Cpu's software TLB by {@link WasmBlocks}); a miss, a misaligned access or an
 *   SP alignment fault leaves the function *before* the instruction with its id and word, and
 *   the JS side runs that one instruction in the interpreter (which fills the TLB) and re-enters.
 *   Nothing in the function can fault, so no instruction is ever half done.
 * - A row without an inline form calls its interpreter handler through an import, with the
 *   registers stored to memory around the call (the probe's Cpu keeps its own register file, so
 *   the import copies them). A mode the writer does not cover (TBI) leaves the block to the JS
 *   translation.
 *
 * Linear memory layout (byte offsets, {@link WASM_LAYOUT}): the register file, NZCV, exit record,
 * TLB tags and offsets, the pc -> block map, then guest RAM from `ram`.
 * @module
 */
import type { Block } from './blocks.js';
import type { Cpu } from './cpu.js';
import { endsBlock } from './decoder.js';
import { CALL, type Addr, type CallKind, type Cond, type Emitter, type Op, type Pair, type Val } from './emit.js';
import { SP_SLOT } from './state.js';
import { A64 } from './table.js';

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
  /** Read TLB: 256 i64 tags (virtual page numbers), then 256 i32 host offsets of the page. */
  rTag: 1024,
  rAdd: 3072,
  /** Write TLB, the same. */
  wTag: 4096,
  wAdd: 6144,
  /** pc -> block map: one u16 (block index + 1) per instruction word of [mapBase, mapBase + 4 * MAP_WORDS). */
  map: 8192,
  /** Guest RAM starts here (64 KiB in). */
  ram: 65536,
} as const;
/** Words the pc -> block map covers. */
export const MAP_WORDS = (WASM_LAYOUT.ram - WASM_LAYOUT.map) / 2;
const TLB_ENTRIES = 256;
/** Cpu software TLB half size (cpu.ts TLB_SIZE). */
const CPU_TLB_SIZE = 256;

/** A block (or row) the writer does not cover: it stays with the JS translation. */
export class Unsupported extends Error {}

// ---- a minimal wasm binary writer ----------------------------------------------------------------

const I32 = 0x7f;
const I64 = 0x7e;
const F64 = 0x7c;
const VOID = 0x40;

function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

function sleb(out: number[], v: bigint): void {
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

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const b of body) out.push(b);
}

function name(out: number[], s: string): void {
  uleb(out, s.length);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
}

/** Opcodes used (the MVP set plus sign extension). */
const O = {
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

const OP32: Record<Op, number> = { '+': O.i32add, '-': O.i32sub, '&': O.i32and, '|': O.i32or, '^': O.i32xor, '<<': O.i32shl, '>>': O.i32shrs, '>>>': O.i32shru };

// ---- values --------------------------------------------------------------------------------------
// A Val/Cond is the code that pushes an i32, an Addr the code that pushes an i64, a Pair its two
// halves' code plus, where known, the code that pushes the whole 64-bit value (`w`).

type Code = readonly number[];
interface WPair extends Pair {
  readonly w?: Code;
}
const V = (c: Code) => c as unknown as Val;
const Cd = (v: Val | Cond | Addr) => v as unknown as Code;
const C = (c: Code) => c as unknown as Cond;
const A = (c: Code) => c as unknown as Addr;

function i32c(v: number): number[] {
  const out = [O.i32const];
  sleb(out, BigInt(v | 0));
  return out;
}
function i64c(v: bigint): number[] {
  const out = [O.i64const];
  sleb(out, BigInt.asIntN(64, v));
  return out;
}
const get = (l: number): number[] => {
  const out = [O.get];
  uleb(out, l);
  return out;
};
const mem = (op: number, align: number, off = 0): number[] => {
  const out = [op, align];
  uleb(out, off);
  return out;
};

/** The i64 of a pair (its whole value when known, else its halves joined). */
function whole(p: WPair): Code {
  if (p.w !== undefined) return p.w;
  return [...Cd(p.hi), O.extU, ...i64c(32n), O.i64shl, ...Cd(p.lo), O.extU, O.i64or];
}
/** A pair over an i64 value (code without side effects, e.g. a local). */
function pairOf(w: Code): WPair {
  return { lo: V([...w, O.wrap]), hi: V([...w, ...i64c(32n), O.i64shru, O.wrap]), w };
}

// ---- the module --------------------------------------------------------------------------------

/** Fixed locals of `run`: params, registers, flags, dispatch state. */
const L = { block: 0, lim: 1, reg0: 2, n: 34, z: 35, c: 36, v: 37, next: 38, ret: 39, pc: 40, first: 41 } as const;
const regLocal = (r: number) => L.reg0 + r;

/** One module's function under construction: locals, labels, and the blocks' indices. */
class FnBuilder {
  /** Types of the temps from L.first on. */
  readonly temps: number[] = [];
  readonly used = new Set<number>();
  readonly written = new Set<number>();
  flagsWritten = false;
  /** Some block calls an interpreter handler. */
  calls = false;
  /** Open structured-control labels (their absolute levels are their positions). */
  depth = 0;
  /** Levels of the `$exit` block and the `$dispatch` loop. */
  readonly exitLevel = 0;
  readonly dispatchLevel = 1;

  constructor(
    /** Module block index by guest VA (only blocks of this module). */
    readonly index: Map<number, number>,
    /** Start of the pc -> block map's range. */
    readonly mapBase: number,
    /** Branches to other blocks stay in the module (false: only self-loops do; for measuring exits). */
    readonly chain: boolean,
  ) {}

  local(type: number): number {
    this.temps.push(type);
    return L.first + this.temps.length - 1;
  }

  /** br to the label at absolute level `level`. */
  br(level: number): number[] {
    const out = [O.br];
    uleb(out, this.depth - 1 - level);
    return out;
  }
}

/** The Emitter of one block inside a module's `run` function. */
export class WasmEmitter implements Emitter {
  readonly tbi: number;
  readonly spAlign: boolean;
  /** Code of the block so far, and of the current instruction. */
  readonly code: number[] = [];
  private cur: number[] = [];
  private pc = 0;
  private w = 0;
  private id = 0;
  private idx = 0;
  private startDepth = 0;
  /** A register or NZCV was written by the current instruction (a later slow exit would lose it). */
  private wroteState = false;
  /** Label level of this block's own loop (self-branches). */
  selfLevel = -1;

  constructor(
    private readonly f: FnBuilder,
    private readonly va: number,
    private readonly n: number,
    tbi: number,
    spAlign: boolean,
  ) {
    this.tbi = tbi;
    this.spAlign = spAlign;
  }

  private emit(c: Code): void {
    for (const b of c) this.cur.push(b);
  }

  private tmp(type: number, c: Code): number {
    const l = this.f.local(type);
    this.emit(c);
    this.emit([O.set]);
    uleb(this.cur, l);
    return l;
  }

  private t32(c: Code): Val {
    return V(get(this.tmp(I32, c)));
  }

  private t64(c: Code): WPair {
    return pairOf(get(this.tmp(I64, c)));
  }

  // ---- values -------------------------------------------------------------------------------------

  k(v: number): Val {
    return V(i32c(v));
  }

  k64(v: number): Pair {
    // As JsEmitter: the low word is v | 0, the high word floor(v / 2^32) | 0.
    return pairOf(i64c((BigInt(Math.floor(v / 4294967296) | 0) << 32n) | BigInt((v | 0) >>> 0)));
  }

  x(r: number): Pair {
    this.f.used.add(r);
    return pairOf(get(regLocal(r)));
  }

  z(r: number): Pair {
    return r === 31 ? pairOf(i64c(0n)) : this.x(r);
  }

  op(a: Val, o: Op, b: Val): Val {
    return V([...Cd(a), ...Cd(b), OP32[o]]);
  }

  not(a: Val): Val {
    return V([...Cd(a), ...i32c(-1), O.i32xor]);
  }

  imul(a: Val, b: Val): Val {
    return V([...Cd(a), ...Cd(b), O.i32mul]);
  }

  div32(a: Val, b: Val, signed: boolean): Val {
    const x = this.t32(Cd(a));
    const y = this.t32(Cd(b));
    const r = this.f.local(I32);
    // 0 when b = 0; INT32_MIN / -1 wraps (wasm would trap).
    this.emit([...Cd(y), O.i32eqz, O.if, VOID, ...i32c(0), O.set]);
    uleb(this.cur, r);
    this.emit([O.else]);
    if (signed) {
      this.emit([...Cd(y), ...i32c(-1), O.i32eq, O.if, VOID, ...i32c(0), ...Cd(x), O.i32sub, O.set]);
      uleb(this.cur, r);
      this.emit([O.else, ...Cd(x), ...Cd(y), O.i32divs, O.set]);
      uleb(this.cur, r);
      this.emit([O.end]);
    } else {
      this.emit([...Cd(x), ...Cd(y), O.i32divu, O.set]);
      uleb(this.cur, r);
    }
    this.emit([O.end]);
    return V(get(r));
  }

  temp(a: Val): Val {
    return this.t32(Cd(a));
  }

  pairTemp(a: Pair): Pair {
    return this.t64(whole(a));
  }

  // ---- 64-bit arithmetic --------------------------------------------------------------------------

  add64(a: Pair, b: Pair, cin: 0 | 1, flags: boolean): Pair {
    if (!flags) return this.t64([...whole(a), ...whole(b), O.i64add, ...(cin ? [...i64c(1n), O.i64add] : [])]);
    const x = this.t64(whole(a)).w!;
    const y = this.t64(whole(b)).w!;
    const r = this.t64([...x, ...y, O.i64add, ...(cin ? [...i64c(1n), O.i64add] : [])]).w!;
    this.setFlags(
      [...r, ...i64c(0n), O.i64lts],
      [...r, O.i64eqz],
      // Unsigned carry out: r < a (r <= a with a carry in).
      [...r, ...x, cin ? O.i64leu : O.i64ltu],
      [...x, ...r, O.i64xor, ...y, ...r, O.i64xor, O.i64and, ...i64c(0n), O.i64lts],
    );
    return pairOf(r);
  }

  add32(a: Val, b: Val, cin: 0 | 1, flags: boolean): Val {
    if (!flags) return this.t32([...Cd(a), ...Cd(b), O.i32add, ...(cin ? [...i32c(1), O.i32add] : [])]);
    const x = Cd(this.t32(Cd(a)));
    const y = Cd(this.t32(Cd(b)));
    const s = get(this.tmp(I64, [...x, O.extU, ...y, O.extU, O.i64add, ...(cin ? [...i64c(1n), O.i64add] : [])]));
    const r = Cd(this.t32([...s, O.wrap]));
    this.setFlags(
      [...r, ...i32c(31), O.i32shru],
      [...r, O.i32eqz],
      [...s, ...i64c(32n), O.i64shru, O.wrap],
      [...x, ...r, O.i32xor, ...y, ...r, O.i32xor, O.i32and, ...i32c(31), O.i32shru],
    );
    return V(r);
  }

  addK64(a: Pair, k: number): Pair {
    if (k === 0) return a;
    return this.t64([...whole(a), ...i64c(BigInt(k)), O.i64add]);
  }

  shift64(type: number, a: Pair, n: number): Pair {
    if (n === 0) return a;
    const op = [O.i64shl, O.i64shru, O.i64shrs, O.i64rotr][type]!;
    return this.t64([...whole(a), ...i64c(BigInt(n)), op]);
  }

  shift32(type: number, a: Val, n: number): Val {
    if (n === 0) return a;
    const op = [O.i32shl, O.i32shru, O.i32shrs, O.i32rotr][type]!;
    return V([...Cd(a), ...i32c(n), op]);
  }

  extend(m: number, option: number, sh: number): Pair {
    const r = this.z(m) as WPair;
    const lo = Cd(r.lo);
    let w: number[];
    switch (option) {
      case 0:
        w = [...lo, ...i32c(255), O.i32and, O.extU];
        break;
      case 1:
        w = [...lo, ...i32c(65535), O.i32and, O.extU];
        break;
      case 2:
        w = [...lo, O.extU];
        break;
      case 4:
        w = [...lo, ...i32c(24), O.i32shl, ...i32c(24), O.i32shrs, O.extS];
        break;
      case 5:
        w = [...lo, ...i32c(16), O.i32shl, ...i32c(16), O.i32shrs, O.extS];
        break;
      case 6:
        w = [...lo, O.extS];
        break;
      default:
        w = [...whole(r)];
    }
    if (sh !== 0) w.push(...i64c(BigInt(sh)), O.i64shl);
    return this.t64(w);
  }

  mul64(a: Pair, b: Pair): Pair {
    return this.t64([...whole(a), ...whole(b), O.i64mul]);
  }

  mulHigh64(a: Pair, b: Pair, signed: boolean): Pair {
    // From 32-bit limbs: every partial product fits in 64 bits unsigned.
    const x = this.t64(whole(a)).w!;
    const y = this.t64(whole(b)).w!;
    const M = i64c(0xffffffffn);
    const lo = (v: Code) => [...v, ...M, O.i64and];
    const hi = (v: Code) => [...v, ...i64c(32n), O.i64shru];
    const ll = this.t64([...lo(x), ...lo(y), O.i64mul]).w!;
    const lh = this.t64([...lo(x), ...hi(y), O.i64mul]).w!;
    const hl = this.t64([...hi(x), ...lo(y), O.i64mul]).w!;
    const mid = this.t64([...hi(ll), ...lo(lh), O.i64add, ...lo(hl), O.i64add]).w!;
    let r = [...hi(x), ...hi(y), O.i64mul, ...hi(lh), O.i64add, ...hi(hl), O.i64add, ...hi(mid), O.i64add];
    // Signed: subtract b when a < 0 and a when b < 0 (two's complement correction of the high half).
    if (signed) r = [...r, ...y, ...i64c(0n), ...x, ...i64c(0n), O.i64lts, O.select, O.i64sub, ...x, ...i64c(0n), ...y, ...i64c(0n), O.i64lts, O.select, O.i64sub];
    return this.t64(r);
  }

  div64(a: Pair, b: Pair, signed: boolean): Pair {
    const x = this.t64(whole(a)).w!;
    const y = this.t64(whole(b)).w!;
    const r = this.f.local(I64);
    const setR = (c: Code) => {
      this.emit(c);
      this.emit([O.set]);
      uleb(this.cur, r);
    };
    this.emit([...y, O.i64eqz, O.if, VOID]);
    setR(i64c(0n));
    this.emit([O.else]);
    if (signed) {
      this.emit([...y, ...i64c(-1n), O.i64eq, O.if, VOID]);
      setR([...i64c(0n), ...x, O.i64sub]);
      this.emit([O.else]);
      setR([...x, ...y, O.i64divs]);
      this.emit([O.end]);
    } else setR([...x, ...y, O.i64divu]);
    this.emit([O.end]);
    return pairOf(get(r));
  }

  // ---- flags and conditions -----------------------------------------------------------------------

  private setFlags(n: Code, z: Code, c: Code, v: Code): void {
    // Each computed before any is written (they read the operands, never the flags).
    const tn = this.tmp(I32, n);
    const tz = this.tmp(I32, z);
    const tc = this.tmp(I32, c);
    const tv = this.tmp(I32, v);
    for (const [t, l] of [[tn, L.n], [tz, L.z], [tc, L.c], [tv, L.v]] as const) {
      this.emit([...get(t), O.set]);
      uleb(this.cur, l);
    }
    this.f.flagsWritten = true;
    this.wroteState = true;
  }

  flagsLogic(r: Pair | Val): void {
    if (typeof r === 'object' && r !== null && 'lo' in r) {
      const w = whole(r as WPair);
      this.setFlags([...w, ...i64c(0n), O.i64lts], [...w, O.i64eqz], i32c(0), i32c(0));
      return;
    }
    const v = Cd(r as Val);
    this.setFlags([...v, ...i32c(31), O.i32shru], [...v, O.i32eqz], i32c(0), i32c(0));
  }

  setNzcv(nzcv: number): void {
    this.setFlags(i32c(nzcv >>> 3), i32c((nzcv >>> 2) & 1), i32c((nzcv >>> 1) & 1), i32c(nzcv & 1));
  }

  cond(cond: number): Cond {
    let e: number[];
    switch (cond >>> 1) {
      case 0:
        e = get(L.z);
        break;
      case 1:
        e = get(L.c);
        break;
      case 2:
        e = get(L.n);
        break;
      case 3:
        e = get(L.v);
        break;
      case 4:
        e = [...get(L.c), ...get(L.z), O.i32eqz, O.i32and];
        break;
      case 5:
        e = [...get(L.n), ...get(L.v), O.i32eq];
        break;
      case 6:
        e = [...get(L.n), ...get(L.v), O.i32eq, ...get(L.z), O.i32eqz, O.i32and];
        break;
      default:
        return C(i32c(1));
    }
    return C(cond & 1 ? [...e, O.i32eqz] : e);
  }

  eq(a: Val, b: Val): Cond {
    return C([...Cd(a), ...Cd(b), O.i32eq]);
  }

  ne(a: Val, b: Val): Cond {
    return C([...Cd(a), ...Cd(b), O.i32ne]);
  }

  when(c: Cond, then: () => void, otherwise?: () => void): void {
    this.emit([...Cd(c), O.if, VOID]);
    this.f.depth++;
    then();
    if (otherwise) {
      this.emit([O.else]);
      otherwise();
    }
    this.emit([O.end]);
    this.f.depth--;
  }

  select(c: Cond, a: Pair, b: Pair): Pair {
    return this.t64([...whole(a), ...whole(b), ...Cd(c), O.select]);
  }

  // ---- registers ----------------------------------------------------------------------------------

  set(d: number, v: Pair, zr: boolean): void {
    if (zr && d === 31) return;
    this.emit([...whole(v), O.set]);
    uleb(this.cur, regLocal(d));
    this.f.used.add(d);
    this.f.written.add(d);
    this.wroteState = true;
  }

  setHalf(d: number, half: 0 | 1, v: Val): void {
    const r = get(regLocal(d));
    this.f.used.add(d);
    const keep = half === 0 ? [...r, ...i64c(-1n << 32n), O.i64and] : [...r, ...i64c(0xffffffffn), O.i64and];
    const put = half === 0 ? [...Cd(v), O.extU] : [...Cd(v), O.extU, ...i64c(32n), O.i64shl];
    this.emit([...keep, ...put, O.i64or, O.set]);
    uleb(this.cur, regLocal(d));
    this.f.written.add(d);
    this.wroteState = true;
  }

  // ---- memory -------------------------------------------------------------------------------------

  addr(v: number): Addr {
    return A(i64c(BigInt(v)));
  }

  regOffset(m: number, kind: 'u' | 's' | 'x', scale: number): Addr {
    const r = this.z(m) as WPair;
    const w = kind === 'x' ? [...whole(r)] : [...Cd(r.lo), kind === 'u' ? O.extU : O.extS];
    if (scale !== 1) w.push(...i64c(BigInt(Math.log2(scale))), O.i64shl);
    return A(w);
  }

  base(n: number, off: Addr): Addr {
    if (this.tbi !== 0) throw new Unsupported('TBI');
    if (n === 31 && this.spAlign) {
      // SP alignment fault: the interpreter raises it.
      this.slowIf([...get(regLocal(31)), O.wrap, ...i32c(15), O.i32and]);
    }
    const l = this.tmp(I64, [...whole(this.x(n)), ...Cd(off), O.i64add]);
    return A(get(l));
  }

  offset(a: Addr, k: number): Addr {
    return k === 0 ? a : A([...Cd(a), ...i64c(BigInt(k)), O.i64add]);
  }

  /** Leaves the function before this instruction when `c` (an i32) is non-zero: the interpreter runs it. */
  private slowIf(c: Code): void {
    if (this.wroteState) throw new Unsupported('state written before a memory access');
    this.emit([...c, O.if, VOID]);
    this.f.depth++;
    this.emit([...i32c(WASM_LAYOUT.exitId), ...i32c(this.id + 1), ...mem(O.i32store, 2)]);
    this.emit([...i32c(WASM_LAYOUT.exitWord), ...i32c(this.w), ...mem(O.i32store, 2)]);
    this.leaveAt(this.pc, this.idx);
    this.emit([O.end]);
    this.f.depth--;
  }

  /** The host address (i32) of a `bytes`-byte access at `va` through the read or write TLB. */
  private probe(va: Addr, bytes: number, write: boolean): number {
    const v = this.tmp(I64, Cd(va));
    const vpn = this.tmp(I64, [...get(v), ...i64c(12n), O.i64shrs]);
    const slot = this.tmp(I32, [...get(vpn), O.wrap, ...i32c(TLB_ENTRIES - 1), O.i32and]);
    const tag = write ? WASM_LAYOUT.wTag : WASM_LAYOUT.rTag;
    const add = write ? WASM_LAYOUT.wAdd : WASM_LAYOUT.rAdd;
    // Miss or misaligned (the JS fast path takes aligned accesses only, too).
    const miss = [...get(slot), ...i32c(3), O.i32shl, ...mem(O.i64load, 3, tag), ...get(vpn), O.i64ne];
    this.slowIf(bytes > 1 ? [...miss, ...get(v), O.wrap, ...i32c(bytes - 1), O.i32and, O.i32or] : miss);
    return this.tmp(I32, [...get(slot), ...i32c(2), O.i32shl, ...mem(O.i32load, 2, add), ...get(v), O.wrap, ...i32c(4095), O.i32and, O.i32add]);
  }

  load(size: number, ext: 'u' | 's32' | 's64', va: Addr): Pair {
    const a = get(this.probe(va, 1 << size, false));
    let c: number[];
    if (size === 3) c = [...a, ...mem(O.i64load, 3)];
    else if (ext === 's64') c = [...a, ...mem([O.i64load8s, O.i64load16s, O.i64load32s][size]!, size)];
    else if (ext === 's32') {
      const ld = size === 2 ? [...a, ...mem(O.i32load, 2)] : [...a, ...mem(size === 0 ? 0x2c : 0x2e, size)];
      c = [...ld, O.extU];
    } else c = [...a, ...mem([O.i64load8u, O.i64load16u, O.i64load32u][size]!, size)];
    return this.t64(c);
  }

  store(size: number, va: Addr, v: Pair): void {
    const a = get(this.probe(va, 1 << size, true));
    if (size === 3) this.emit([...a, ...whole(v), ...mem(O.i64store, 3)]);
    else this.emit([...a, ...Cd(v.lo), ...mem([O.i32store8, O.i32store16, O.i32store][size]!, size)]);
  }

  writeback(n: number, k: number): void {
    if (k === 0) return;
    this.set(n, this.addK64(this.x(n), k), false);
  }

  // ---- control flow -------------------------------------------------------------------------------

  /** ret += k; pc = the f64 `pcCode` pushes; leave the function. */
  private leaveWith(pcCode: Code, k: number): void {
    if (k !== 0) {
      this.emit([...get(L.ret), ...i32c(k), O.i32add, O.set]);
      uleb(this.cur, L.ret);
    }
    this.emit([...pcCode, O.set]);
    uleb(this.cur, L.pc);
    this.emit(this.f.br(this.f.exitLevel));
  }

  private leaveAt(pc: number, k: number): void {
    const c: number[] = [O.f64const];
    const b = new Uint8Array(new Float64Array([pc]).buffer);
    for (const x of b) c.push(x);
    this.leaveWith(c, k);
  }

  /** Continues at constant `target` after this instruction: chained when the module has it. */
  jump(target: number): void {
    const k = this.idx + 1;
    const i = this.f.index.get(target);
    if (i === undefined || (!this.f.chain && target !== this.va)) {
      this.leaveAt(target, k);
      return;
    }
    this.emit([...get(L.ret), ...i32c(k), O.i32add, O.set]);
    uleb(this.cur, L.ret);
    if (target === this.va && this.selfLevel >= 0) {
      this.emit(this.f.br(this.selfLevel));
      return;
    }
    this.emit([...i32c(i), O.set]);
    uleb(this.cur, L.next);
    this.emit(this.f.br(this.f.dispatchLevel));
  }

  jumpIf(c: Cond, target: number): void {
    this.when(c, () => this.jump(target));
  }

  jumpReg(r: number, link: boolean): void {
    const t = this.tmp(I64, whole(this.z(r)));
    if (link) {
      this.emit([...i64c(BigInt(this.pc + 4)), O.set]);
      uleb(this.cur, regLocal(30));
      this.f.used.add(30);
      this.f.written.add(30);
    }
    const k = this.idx + 1;
    this.emit([...get(L.ret), ...i32c(k), O.i32add, O.set]);
    uleb(this.cur, L.ret);
    if (!this.f.chain) {
      this.leaveWith([...get(t), O.f64fromI64], 0);
      return;
    }
    // The map: (t - mapBase) / 4 in range and word-aligned -> u16 index + 1.
    const off = this.tmp(I64, [...get(t), ...i64c(BigInt(this.f.mapBase)), O.i64sub]);
    const hit = this.tmp(I32, [...get(off), ...i64c(BigInt(4 * MAP_WORDS)), O.i64ltu, ...get(off), O.wrap, ...i32c(3), O.i32and, O.i32eqz, O.i32and]);
    this.emit([...get(hit), O.if, VOID]);
    this.f.depth++;
    const e = this.tmp(I32, [...get(off), O.wrap, ...i32c(1), O.i32shru, ...mem(0x2f, 1, WASM_LAYOUT.map)]);
    this.emit([...get(hit), ...get(e), O.i32eqz, O.i32eqz, O.i32and, O.set]);
    uleb(this.cur, hit);
    this.emit([O.end]);
    this.f.depth--;
    this.emit([...get(hit), O.if, VOID]);
    this.f.depth++;
    this.emit([...get(e), ...i32c(1), O.i32sub, O.set]);
    uleb(this.cur, L.next);
    this.emit(this.f.br(this.f.dispatchLevel));
    this.emit([O.end]);
    this.f.depth--;
    this.leaveWith([...get(t), O.f64fromI64], 0);
  }

  /** Falls off the end of the block. */
  leave(pc: number): void {
    this.idx = this.n - 1;
    this.cur = [];
    this.jump(pc);
    this.code.push(...this.cur);
    this.cur = [];
  }

  // ---- instructions -------------------------------------------------------------------------------

  begin(pc: number, w: number, k: number): void {
    this.pc = pc;
    this.w = w;
    this.idx = k;
    this.cur = [];
    this.wroteState = false;
    this.startDepth = this.f.depth;
  }

  /** The id of the row being emitted (for the slow exit). */
  setId(id: number): void {
    this.id = id;
  }

  commit(): void {
    this.code.push(...this.cur);
    this.cur = [];
  }

  rollback(): void {
    this.cur = [];
    this.f.depth = this.startDepth;
  }

  /**
   * The interpreter's handler through the import `h(id, w, retired, pc, kind) -> stop`: the
   * registers and NZCV go to memory first (the import copies them to the Cpu and back) and are
   * reloaded after; a block-ending handler has set the PC (the import leaves it in the exit record).
   */
  call(id: number, w: number, kind: CallKind): void {
    const f = this.f;
    for (let r = 0; r < 32; r++) {
      f.used.add(r);
      f.written.add(r);
    }
    f.flagsWritten = true;
    f.calls = true;
    const k = this.idx;
    this.emit(saveState());
    this.emit([...i32c(id), ...i32c(w), ...get(L.ret), ...i32c(k), O.i32add, ...f64c(this.pc), ...i32c(kind), O.call, 0]);
    const stop = this.tmp(I32, []);
    this.emit(loadState());
    if (kind === CALL.END) {
      this.emit([...get(L.ret), ...i32c(k + 1), O.i32add, O.set]);
      uleb(this.cur, L.ret);
      this.emit([...i32c(0), ...mem(O.f64load, 3, WASM_LAYOUT.exitPc), O.set]);
      uleb(this.cur, L.pc);
      this.emit(f.br(f.exitLevel));
    } else if (kind === CALL.MEM) {
      this.emit([...get(stop), O.if, VOID]);
      f.depth++;
      this.leaveAt(this.pc + 4, k + 1);
      this.emit([O.end]);
      f.depth--;
    }
    this.code.push(...this.cur);
    this.cur = [];
  }
}

function f64c(v: number): number[] {
  return [O.f64const, ...new Uint8Array(new Float64Array([v]).buffer)];
}

/** Stores all register and NZCV locals to the register file. */
function saveState(): number[] {
  const out: number[] = [];
  for (let r = 0; r < 32; r++) out.push(...i32c(0), ...get(regLocal(r)), ...mem(O.i64store, 3, WASM_LAYOUT.regs + 8 * r));
  for (const [k, l] of [L.n, L.z, L.c, L.v].entries()) out.push(...i32c(0), ...get(l), ...mem(O.i32store, 2, WASM_LAYOUT.flags + 4 * k));
  return out;
}

/** Loads all register and NZCV locals from the register file. */
function loadState(): number[] {
  const out: number[] = [];
  for (let r = 0; r < 32; r++) {
    out.push(...i32c(0), ...mem(O.i64load, 3, WASM_LAYOUT.regs + 8 * r), O.set);
    uleb(out, regLocal(r));
  }
  for (const [k, l] of [L.n, L.z, L.c, L.v].entries()) {
    out.push(...i32c(0), ...mem(O.i32load, 2, WASM_LAYOUT.flags + 4 * k), O.set);
    uleb(out, l);
  }
  return out;
}

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
  for (let k = 0; k < n; k++) {
    const id = b.ids[k]!;
    const w = b.words[k]!;
    const pc = va + 4 * k;
    const row = A64.encoding(id);
    e.begin(pc, w, k);
    e.setId(id);
    if (row.jit !== undefined && row.jit(e, w, pc)) {
      e.commit();
      continue;
    }
    e.rollback();
    e.call(id, w, k === n - 1 && ends ? CALL.END : row.pure ? CALL.PURE : row.mem ? CALL.MEM : CALL.SYNC);
  }
  if (!ends) e.leave(va + 4 * n);
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
  /** The Cpu and entry block of the current `enter` (for the handler import). */
  private cur: Cpu | null = null;
  private entryVa = 0;
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
    // If it faults or exits, the run loop adds the words from the entry block's start to pc.
    c.retired = base + done - (pc - this.entryVa) / 4;
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
    const start = c.retired;
    const entryVa = this.code.blocks[i]!.va;
    this.cur = c;
    this.entryVa = entryVa;
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
      // If it faults, the run loop adds the words from the entry block's start to pc: make the
      // count come out as the instructions retired before it.
      const done = c.retired - start;
      c.retired = start + done - (pc - entryVa) / 4;
      A64.handlers[id - 1]!(c, w);
      c.retired = start + done + 1;
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
