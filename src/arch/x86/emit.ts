/**
 * The emitter seam of the x86 block JIT: what a translated instruction does, stated as calls on
 * an {@link X86Emitter}, separate from how the code is written. The selectors of jit.ts choose,
 * per decoded instruction, an inline form or the interpreter's handler and say what it does
 * through these calls; they never write code text. `JsEmitter` (emit-js.ts) writes JS source for
 * `new Function`; `WasmX86Emitter` (emit-wasm.ts) is the second, writing wasm behind the same calls.
 *
 * Values are opaque handles: 32-bit integers ({@link Val}, int32 or masked to the operand size,
 * as the interpreter keeps registers as lo/hi int32 halves), pairs of them ({@link Pair}: a
 * 64-bit value, or a local variable whose high half is used for 8-byte operands) and conditions
 * ({@link Cond}). Memory accesses go through one address register: {@link X86Emitter.linear} or
 * {@link X86Emitter.stackAddr} set it, `load`/`store` use it (the access checks, the TLB and
 * MMIO are the CPU's `readLin`/`writeLin`).
 * @module
 */
import type { FOp } from './flags.js';

declare const VAL: unique symbol;
declare const COND: unique symbol;

/** A 32-bit integer value of generated code. */
export type Val = { readonly [VAL]: true };
/** A 64-bit value (or an operand variable) as its low and high 32-bit halves. */
export interface Pair {
  readonly lo: Val;
  readonly hi: Val;
}
/** A boolean of generated code. */
export type Cond = { readonly [COND]: true };

/** The fields of a decoded memory operand the address computation reads (decoder.ts `Insn`). */
export interface MemRef {
  readonly seg: number;
  readonly base: number;
  readonly index: number;
  readonly scale: number;
  readonly disp: number;
  /** Address size in bytes (2, 4, 8). */
  readonly asz: number;
}

/** Names of an instruction's operand variables: a value, two sources and a result. */
export type LocalRole = 'v' | 'a' | 'b' | 'r';
/** Binary ALU operators (results int32 for 4 bytes, masked below, carried into the high half for 8). */
export type AluOp = '+' | '-' | '&' | '|' | '^';
/** Relations of a fused compare after SUB/CMP (unsigned / signed, strict / or-equal). */
export type Rel = 'ltu' | 'leu' | 'lts' | 'les';
/** Shifts by an immediate the JIT inlines. */
export type ShiftKind = 'shl' | 'shr' | 'sar';

/** What the selectors of jit.ts emit through. */
export interface X86Emitter {
  // ---- the block -----------------------------------------------------------------------------------
  /** Starts instruction `k` of the block (the emitter was given the block's instructions). */
  begin(k: number): void;
  /** The interpreter's handler for the current instruction (RIP, lastInsn, next set first; exits checked after). */
  handler(isLast: boolean): void;
  /** Leaves the block after the current instruction (its last, translated inline). */
  leave(): void;
  /** Closes the block; with `loop`, the block is a loop that runs again while `loop` holds. */
  end(loop: Cond | null): void;

  // ---- values and operand variables ------------------------------------------------------------------
  /** A 32-bit constant. */
  k(v: number): Val;
  /** Declares the current instruction's operand variable `role` (with a high half for size 8). */
  local(role: LocalRole, size: number): Pair;
  /** The scratch pair of the block (a pop's value, a RET's target halves). */
  scratch(): Pair;
  /** `dst = v` (the high half too for size 8). */
  assign(dst: Pair, v: Pair, size: number): void;
  /** `(a >> n)` (arithmetic). */
  sar(a: Val, n: number): Val;
  /** `(a & mask)`. */
  and(a: Val, mask: number): Val;
  /** Sign-extends `dst.lo` in place from `size` (1 or 2) bytes. */
  sext(dst: Pair, size: number): void;

  // ---- registers --------------------------------------------------------------------------------------
  /** GPR r as an operand of `size` (size 1: r >= 16 is AH..BH; size 8: both halves). */
  reg(r: number, size: number): Pair;
  /** GPR r = v as a `size` write does (merging 1/2, zero-extending 4). */
  setReg(r: number, size: number, lo: Val, hi: Val): void;
  /** CMOVcc: GPR r = v when `c` holds; a 4-byte CMOV clears the high half either way. */
  cmov(c: Cond, r: number, v: Pair, size: number): void;
  /** The effective address (offset) of a LEA, truncated to the address size's low 32 / 16 bits. */
  lea(m: MemRef): Val;

  // ---- memory --------------------------------------------------------------------------------------------
  /** The address register = the linear address of memory operand m for an access of `size`. */
  linear(m: MemRef, size: number, write: boolean): void;
  /**
   * dst = the `size` bytes at the address register. `soft`: the instruction has no other memory
   * access and no effect before this load, so an MMIO read that must exit leaves the block before
   * the instruction (not retired) without unwinding (X86Mmu.readLinSoft).
   */
  load(dst: Pair, size: number, soft?: boolean): void;
  /** The `size` bytes at the address register = v. */
  store(size: number, v: Pair): void;
  /** After a store: it hit translated code or MMIO, so the block ends after this instruction. */
  stopCheck(): void;

  // ---- arithmetic and flags --------------------------------------------------------------------------
  /** r = a op b at `size`. */
  alu(op: AluOp, size: number, r: Pair, a: Pair, b: Pair): void;
  /** r = a - 1 (`dec`) or a + 1 at `size`. */
  step(dec: boolean, size: number, r: Pair, a: Pair): void;
  /** The current CF (read before the flags record changes). */
  carry(): Val;
  /** The lazy flags record (flags.ts `Flags`) = op, size, operands, result (and carry in). */
  flags(op: FOp, size: number, a: Pair, b: Pair, r: Pair, cin?: Val): void;
  /** GPR r shifted by a constant 1..size*8-1, with CF/OF recorded eagerly (FOp.EAGER_CO). */
  shift(kind: ShiftKind, size: 4 | 8, r: number, n: number): void;
  /** GPR r = low 32 bits of a * b (4 bytes), CF = OF = the product did not fit. */
  imul32(r: number, a: Val, b: Val): void;
  /** GPR r = low 64 bits of the signed a * b (8 bytes), CF = OF = the product did not fit. */
  imul64(r: number, a: Pair, b: Pair): void;
  /** MUL/IMUL r/m (one operand) of `size` 4 or 8: rDX:rAX = rAX * b, with their flags. */
  mulWide(signed: boolean, size: 4 | 8, b: Pair): void;
  /** DIV/IDIV r/m of `size` 4 or 8: rAX, rDX = rDX:rAX / b, % b; #DE at this instruction when it does not fit. */
  divWide(signed: boolean, size: 4 | 8, b: Pair): void;
  /** CWD/CDQ/CQO (operand size `osz`): rDX = the sign of rAX. */
  signExtendAx(osz: number): void;

  // ---- conditions -------------------------------------------------------------------------------------
  /** Condition code cc evaluated on the flags record (flags.ts `cond`). */
  flagCond(cc: number): Cond;
  /** The result of a `size` operation is zero / negative. */
  isZero(r: Pair, size: number): Cond;
  isNeg(r: Pair, size: number): Cond;
  /** a rel b on `size` operands (what the flags of a - b say). */
  cmp(rel: Rel, size: number, a: Pair, b: Pair): Cond;
  not(c: Cond): Cond;
  or(a: Cond, b: Cond): Cond;
  never(): Cond;
  /** c as 0/1 in a scratch value. */
  condValue(c: Cond): Val;
  /** c as a 0/1 value. */
  bool(c: Cond): Val;

  // ---- stack and control flow (64-bit mode) ----------------------------------------------------------
  /** The address register = RSP + delta; a non-canonical one calls the handler instead. */
  stackAddr(delta: number, size: number): void;
  /** RSP += delta (±8). */
  rspAdjust(delta: 8 | -8): void;
  /** The address register = the 64-bit value p, and the handler is called unless it is canonical. */
  target(p: Pair): void;
  /** Leaves the block at `rip`, or (no argument) at the address register. */
  jump(rip?: number): void;
  /** Leaves the block at `taken` when c holds, else at `next`. */
  jumpIf(c: Cond, taken: number, next: number): void;
}
