/**
 * The emitter seam of the arm64 block JIT: what a translated instruction does, stated as calls on
 * an {@link Emitter}, separate from how the code is written. A table row's optional `jit` form
 * (decoder.ts `Encoding.jit`, next to the row's handler in its insn-*.ts) chooses what to emit for
 * one instruction word; `generate` (jit.ts) walks a block and chooses between inline forms and
 * handler calls; an Emitter writes the result. `JsEmitter` (emit-js.ts) writes JS source for
 * `new Function`; a wasm backend would be a second Emitter behind the same calls.
 *
 * Values are opaque handles: 32-bit integers ({@link Val}, int32 semantics, as the interpreter
 * keeps X registers as lo/hi int32 halves), pairs of them for 64-bit values ({@link Pair}),
 * guest virtual addresses ({@link Addr}, exact integers below 2^53) and conditions ({@link Cond}).
 * A handle is valid until the end of the instruction that made it; one made inside a `when`
 * branch only inside that branch.
 * @module
 */

declare const VAL: unique symbol;
declare const ADDR: unique symbol;
declare const COND: unique symbol;

/** A 32-bit integer value of generated code. */
export type Val = { readonly [VAL]: true };
/** A 64-bit value as its low and high 32-bit halves. */
export interface Pair {
  readonly lo: Val;
  readonly hi: Val;
}
/** A guest virtual address (an integer below 2^53 in magnitude). */
export type Addr = { readonly [ADDR]: true };
/** A boolean of generated code. */
export type Cond = { readonly [COND]: true };

/** Binary operators on 32-bit values; results are int32 (shift counts are taken mod 32). */
export type Op = '+' | '-' | '&' | '|' | '^' | '<<' | '>>' | '>>>';

/** Shift types of the A64 shifted-register forms: LSL, LSR, ASR, ROR. */
export const SHIFT = { LSL: 0, LSR: 1, ASR: 2, ROR: 3 } as const;

/** How a handler call sits in translated code (the row attributes of decoder.ts). */
export const CALL = {
  /** Pure register work: no fault, no PC read, no exit. */
  PURE: 0,
  /** May fault or read the PC: the interpreter's view of the instruction is set first. */
  SYNC: 1,
  /** May also write memory (a store can drop translated code or exit): stop check after it. */
  MEM: 2,
  /** The block's last instruction: it sets the PC itself; the block returns after it. */
  END: 3,
} as const;
export type CallKind = (typeof CALL)[keyof typeof CALL];

/** What a row's inline form and the block generator emit through. */
export interface Emitter {
  /** The block's translation mode: TCR_EL1.TBI bits (0 with the MMU off). */
  readonly tbi: number;
  /** The block's translation mode: the SP alignment check (SCTLR_EL1.SA/SA0) is on. */
  readonly spAlign: boolean;

  // ---- values -------------------------------------------------------------------------------------
  /** A 32-bit constant (`v | 0`). */
  k(v: number): Val;
  /** A 64-bit constant from an integer double (|v| < 2^53) or a signed 64-bit two-halves value. */
  k64(v: number): Pair;
  /** X[r] with register 31 as SP. */
  x(r: number): Pair;
  /** X[r] with register 31 as XZR (zero). */
  z(r: number): Pair;
  op(a: Val, o: Op, b: Val): Val;
  not(a: Val): Val;
  /** Low 32 bits of a * b. */
  imul(a: Val, b: Val): Val;
  /** a / b rounded toward zero (signed or unsigned), 0 when b = 0 (SDIV/UDIV, 32-bit). */
  div32(a: Val, b: Val, signed: boolean): Val;
  /** Evaluates `a` once, now (later uses read the saved value). */
  temp(a: Val): Val;
  pairTemp(a: Pair): Pair;

  // ---- 64-bit arithmetic --------------------------------------------------------------------------
  /** a + b + cin; with `flags`, NZCV as ADDS sets them. */
  add64(a: Pair, b: Pair, cin: 0 | 1, flags: boolean): Pair;
  /** a + b + cin (32-bit); with `flags`, NZCV as ADDS (32-bit) sets them. */
  add32(a: Val, b: Val, cin: 0 | 1, flags: boolean): Val;
  /** a + k for a constant k (|k| < 2^31), no flags. */
  addK64(a: Pair, k: number): Pair;
  /** Shift (LSL/LSR/ASR/ROR, {@link SHIFT}) of a 64-bit value by a constant 0..63. */
  shift64(type: number, a: Pair, n: number): Pair;
  /** Shift of a 32-bit value by a constant 0..31. */
  shift32(type: number, a: Val, n: number): Val;
  /** ExtendReg(Rm, option, shift) of register m (31 = XZR), 64 bits. */
  extend(m: number, option: number, sh: number): Pair;
  /** The low 64 bits of a * b (MUL/MADD, 64-bit). */
  mul64(a: Pair, b: Pair): Pair;
  /** The high 64 bits of the 128-bit product a * b, unsigned or signed (UMULH/SMULH). */
  mulHigh64(a: Pair, b: Pair, signed: boolean): Pair;
  /** a / b rounded toward zero, 0 when b = 0; INT64_MIN / -1 = INT64_MIN (UDIV/SDIV, 64-bit). */
  div64(a: Pair, b: Pair, signed: boolean): Pair;

  // ---- flags and conditions -----------------------------------------------------------------------
  /** NZCV from a logical result: N, Z from `r` (64-bit pair or 32-bit value), C = V = 0. */
  flagsLogic(r: Pair | Val): void;
  /** NZCV = a constant (bits 3..0). */
  setNzcv(nzcv: number): void;
  /** ConditionHolds(cond) on NZCV. */
  cond(cond: number): Cond;
  /** a === b / a !== b. */
  eq(a: Val, b: Val): Cond;
  ne(a: Val, b: Val): Cond;
  /** Statements of `then` when `c` holds, else of `otherwise`. */
  when(c: Cond, then: () => void, otherwise?: () => void): void;
  /** c ? a : b (both evaluated). */
  select(c: Cond, a: Pair, b: Pair): Pair;

  // ---- registers ----------------------------------------------------------------------------------
  /** X[d] = v; register 31 is XZR (the write is dropped) when `zr`, else SP. */
  set(d: number, v: Pair, zr: boolean): void;
  /** One 32-bit half of X[d] (d < 31): 0 low, 1 high. */
  setHalf(d: number, half: 0 | 1, v: Val): void;

  // ---- memory -------------------------------------------------------------------------------------
  /** A constant address or offset. */
  addr(v: number): Addr;
  /** The unsigned (`u`), signed (`s`) low word or whole 64-bit (`x`) value of X[m] (31 = XZR), times `scale`. */
  regOffset(m: number, kind: 'u' | 's' | 'x', scale: number): Addr;
  /**
   * X[n] (31 = SP) + off, as a load/store base: TBI applied and the SP alignment check made as
   * the block's mode says (raises the SP alignment fault).
   */
  base(n: number, off: Addr): Addr;
  /** a + k for a constant k. */
  offset(a: Addr, k: number): Addr;
  /** Loads `1 << size` bytes at va, zero- or sign-extended to 32 (`s32`) or 64 (`s64`) bits. */
  load(size: number, ext: 'u' | 's32' | 's64', va: Addr): Pair;
  /** Stores the low `1 << size` bytes of v at va. */
  store(size: number, va: Addr, v: Pair): void;
  /** X[n] (31 = SP) += k, 64-bit (pre/post-index writeback). */
  writeback(n: number, k: number): void;

  // ---- control flow (a block's last instruction) ----------------------------------------------------
  /** Direct branch: leave the block at `target`, or loop when it is the block's start. */
  jump(target: number): void;
  /** Conditional branch to `target`; the code after it is the not-taken path. */
  jumpIf(c: Cond, target: number): void;
  /** Branch to the address in X[r] (31 = XZR); `link`: X30 = the next instruction's address first. */
  jumpReg(r: number, link: boolean): void;

  // ---- the block (jit.ts generate) ------------------------------------------------------------------
  /** Starts the instruction at `pc` with word `w` (k-th of the block), decoded as row `id`. */
  begin(pc: number, w: number, k: number, id: number): void;
  /** Keeps what the instruction emitted. */
  commit(): void;
  /** Drops what the instruction emitted (its form declined after emitting). */
  rollback(): void;
  /** The interpreter's handler `id` for word `w`. */
  call(id: number, w: number, kind: CallKind): void;
  /** Leaves the block for `pc` (a block that does not end in a branch falls through to it). */
  leave(pc: number): void;
}

/** A row's inline form: emits instruction `w` at `pc` and returns true, or returns false for a handler call. */
export type JitForm = (e: Emitter, w: number, pc: number) => boolean;
