/**
 * A WebAssembly writer behind the x86 JIT's {@link X86Emitter} seam (emit.ts): the selectors of
 * jit.ts (`Selector`, the `INLINE` forms, fused conditions, handler fallback) drive it exactly as
 * they drive `JsEmitter`; only the code written differs. emit-wasm-run.ts binds a module to a
 * vCPU and enters it with the JIT's block-function contract (`X86BlockFn`).
 *
 * One module holds many blocks (64-bit mode) as one function `run(block, lim) -> retired`:
 * - RAX..R15 live in i64 wasm locals for the whole call: loaded from the register file at entry,
 *   stored (those written) on every way out of a block and before every import. The GPR file
 *   (`X86_HOT`'s `r`, state.ts) is placed in the wasm memory at the control area, and the vCPU's
 *   `X86State.r` is a view of it, so the interpreter's handlers and the wasm code share it
 *   without copying.
 * - Flags stay lazy as in `JsEmitter`: the flags record (flags.ts `Flags`, as 11 i32 in memory,
 *   {@link FLAGS_FIELDS}) is written only where it can be observed (a handler or helper call, a
 *   block exit, a slow path); a condition whose flag writer is known at translation time is
 *   computed from its operands, otherwise a helper import evaluates the record.
 * - Blocks chain inside the function (`br_table` dispatch, a self-loop is a `br`, RET compares
 *   its target with the module's return sites); every block checks the budget `lim` at its head,
 *   except the one entered, which runs once whatever `lim` is, as a JS translation does.
 * - Loads and stores probe an inline TLB in linear memory (the vCPU's software TLB, mirrored entry
 *   by entry as the slow path fills it; flushed with it): a hit reads or writes guest RAM, which
 *   lives in the same memory. A miss calls the interpreter's exact path (`readLin`/`writeLin`)
 *   through an import, with every register and the flags record in memory first, so a fault or an
 *   exit thrown from it leaves exact state: the import sets RIP, `lastInsn` and `jitN` first.
 * - A row without an inline form (and MUL/IMUL r64, 128-bit DIV) calls the interpreter's handler
 *   through an import, then reloads the registers.
 * @module
 */
import type { Insn } from './decoder.js';
import type { AluOp, Cond, LocalRole, MemRef, Pair, Rel, ShiftKind, Val, X86Emitter } from './emit.js';
import { FOp } from './flags.js';
import { RSP } from './state.js';
import { get, I32, I64, mem, O, Unsupported, VOID } from '../arm64/wasm-writer.js';
import { C, Cd, CANON_HI, CANON_LO, cfOf, DISPATCH, EXIT, f64c, FL, Fn, gl, i32c, i64c, I64_OF_I32S, I64_OF_I32U, IMPORT, joinHalves, L, ofOf, pairOfW, REGS, set, sfOf, TLB_ENTRIES, V, whole, X, X86_WASM, zfOf, ZERO, type Code, type Known, type XPair } from './emit-wasm-base.js';

export { Unsupported } from '../arm64/wasm-writer.js';
export { FLAGS_FIELDS, TLB_ENTRIES, X86_WASM } from './emit-wasm-base.js';
export { buildX86Module, type WasmBlockSrc, type X86WasmCode } from './emit-wasm-module.js';

/** The X86Emitter of one block inside a module's `run` function. */
export class WasmX86Emitter implements X86Emitter {
  readonly code: number[] = [];
  private k0 = 0;
  private i!: Insn;
  /** Deferred flag-record stores (field offset, i32 code) and the writer they describe. */
  private pend: [number, Code][] = [];
  private known: Known | null = null;
  /** Level of this block's own loop. */
  selfLevel = -1;

  constructor(
    private readonly f: Fn,
    private readonly insns: readonly Insn[],
    /** Module-wide id of instruction 0 of the block (imports get ids). */
    private readonly g0: number,
  ) {}

  private emit(c: Code): void {
    for (const b of c) this.code.push(b);
  }

  private c(off: number): number {
    return this.f.ctl + off;
  }

  private tmp(type: number, c: Code): number {
    const l = this.f.local(type);
    this.emit(c);
    this.emit(set(l));
    return l;
  }

  private t32(c: Code): Code {
    return get(this.tmp(I32, c));
  }

  private t64(c: Code): Code {
    return get(this.tmp(I64, c));
  }

  /** Opens an `if` (depth + 1); `close` ends it. */
  private ifOpen(cond: Code): void {
    this.emit([...cond, O.if, VOID]);
    this.f.depth++;
  }
  private ifElse(): void {
    this.emit([O.else]);
  }
  private ifClose(): void {
    this.emit([O.end]);
    this.f.depth--;
  }

  /** n + k: instructions retired before the current one in this call. */
  private nk(plus = 0): Code {
    return [...get(L.n), ...i32c(this.k0 + plus), O.i32add];
  }

  private gid(): Code {
    return i32c(this.g0 + this.k0);
  }

  // ---- the flags record ------------------------------------------------------------------------

  private pendCode(): number[] {
    const out: number[] = [];
    for (const [off, c] of this.pend) out.push(...i32c(0), ...c, ...mem(O.i32store, 2, this.c(off)));
    return out;
  }
  private flush(): void {
    this.emit(this.pendCode());
    this.pend = [];
  }

  /**
   * Registers written since the block began or the registers were last reloaded: stored to the
   * register file before any import (its exceptions must leave exact state) and on every way out
   * of the block (a block's code starts with the locals equal to the register file).
   */
  private readonly dirty = new Set<number>();
  private spill(): number[] {
    const out: number[] = [];
    for (const r of this.dirty) out.push(...i32c(0), ...get(gl(r)), ...mem(O.i64store, 3, this.c(REGS + 8 * r)));
    return out;
  }
  /** Handler calls of the block (a block of mostly handler calls stays JS: each call is a register sync). */
  private calls = 0;
  private reload(): readonly number[] {
    return this.f.reload;
  }

  // ---- exits ---------------------------------------------------------------------------------------

  /**
   * Leaves (or chains) with `n += retired`, the next RIP a constant. `chain` false: always to the
   * run loop (after a store that hit decoded code or MMIO: the module's code may be stale).
   */
  private goto(rip: number, retired: number, chain = true): number[] {
    const out: number[] = [...this.spill(), ...get(L.n), ...i32c(retired), O.i32add, ...set(L.n)];
    const idx = chain ? this.f.index.get(rip) : undefined;
    if (idx !== undefined) out.push(...this.chainTo(idx));
    out.push(...i32c(0), ...f64c(rip), ...mem(O.f64store, 3, this.c(X86_WASM.exitRip)), ...this.f.br(EXIT));
    return out;
  }

  /**
   * Moves to module block `idx` (the dispatch loop), when its stamp word says it was validated
   * under the current stamp; else falls through (the caller leaves to the run loop, which
   * validates the block and enters the module there).
   */
  private chainTo(idx: number): number[] {
    const slot = this.f.slots?.[idx];
    if (slot === undefined) return [...i32c(idx), ...set(L.next), ...this.f.br(DISPATCH)];
    const out = [...i32c(0), ...mem(O.i32load, 2, this.c(X86_WASM.stamps + 4 * slot)), ...i32c(0), ...mem(O.i32load, 2, this.c(X86_WASM.stamp)), O.i32eq, O.if, VOID];
    this.f.depth++;
    out.push(...i32c(idx), ...set(L.next), ...this.f.br(DISPATCH));
    this.f.depth--;
    out.push(O.end);
    return out;
  }

  /** Leaves with n = the count an import returned (the import set the exit RIP). */
  private leaveWith(count: Code): number[] {
    return [...this.spill(), ...count, ...set(L.n), ...this.f.br(EXIT)];
  }

  /**
   * The interpreter's handler for the current instruction through the import `h` (it sets RIP,
   * lastInsn, next; checks what the JS writer checks after a handler), registers and flags in
   * memory around it. `last`: the block ends after it either way.
   */
  private callH(last: boolean, conditional = false): void {
    // On a conditional path (the rest of the block goes on without it) the deferred flags stay deferred.
    if (conditional) this.emit(this.pendCode());
    else {
      this.flush();
      this.known = null;
      if (++this.calls > 2 && this.calls * 3 > this.insns.length) throw new Unsupported('mostly handler calls');
    }
    this.emit([...this.spill(), ...this.gid(), ...this.nk(), ...i32c(last ? 1 : 0), O.call, IMPORT.h, ...set(L.st), ...this.reload()]);
    if (!conditional) this.dirty.clear();
    if (last) {
      this.emit(this.leaveWith(get(L.st)));
      return;
    }
    this.ifOpen([...get(L.st), ...i32c(-1), O.i32ne]);
    this.emit(this.leaveWith(get(L.st)));
    this.ifClose();
  }

  // ---- the block -----------------------------------------------------------------------------------

  begin(k: number): void {
    this.k0 = k;
    this.i = this.insns[k]!;
  }

  handler(isLast: boolean): void {
    this.callH(isLast);
  }

  leave(): void {
    this.flush();
    this.emit(this.goto(this.i.addr + this.i.len, this.k0 + 1));
  }

  end(loop: Cond | null): void {
    if (loop === null) return;
    const n = this.insns.length;
    const last = this.insns[n - 1]!;
    const c = this.t32(Cd(loop));
    this.flush();
    // n += N; out of the loop when the condition fails, else round again (the head checks the budget).
    this.ifOpen([...c, O.i32eqz]);
    this.emit(this.goto(last.addr + last.len, n));
    this.ifClose();
    this.emit([...this.spill(), ...get(L.n), ...i32c(n), O.i32add, ...set(L.n), ...this.f.br(this.selfLevel)]);
  }

  // ---- values and operand variables ------------------------------------------------------------------

  k(v: number): Val {
    return V(i32c(v));
  }

  local(_role: LocalRole, size: number): Pair {
    if (size === 8) {
      const l = this.f.local(I64);
      return { lo: V([...get(l), O.wrap]), hi: V([...get(l), ...i64c(32n), O.i64shru, O.wrap]), w: get(l), l, wide: true } as XPair;
    }
    const l = this.f.local(I32);
    return { lo: V(get(l)), hi: V(i32c(0)), l, wide: false } as XPair;
  }

  scratch(): Pair {
    return this.local('v', 8);
  }

  assign(dst: Pair, v: Pair, size: number): void {
    const d = dst as XPair;
    if (d.l === undefined) throw new Unsupported('assign to a non-local');
    if (d.wide) this.emit([...(size === 8 ? whole(v) : [...Cd(v.lo), I64_OF_I32U]), ...set(d.l)]);
    else this.emit([...Cd(v.lo), ...set(d.l)]);
  }

  sar(a: Val, n: number): Val {
    return V([...Cd(a), ...i32c(n), O.i32shrs]);
  }

  and(a: Val, mask: number): Val {
    return V([...Cd(a), ...i32c(mask), O.i32and]);
  }

  sext(dst: Pair, size: number): void {
    const d = dst as XPair;
    this.emit([...Cd(dst.lo), size === 1 ? X.ext8s32 : X.ext16s32, ...set(d.l!)]);
  }

  // ---- registers --------------------------------------------------------------------------------------

  reg(r: number, size: number): Pair {
    const lo32 = (reg: number) => [...get(gl(reg)), O.wrap];
    switch (size) {
      case 1:
        return { lo: V(r >= 16 ? [...lo32(r - 16), ...i32c(8), O.i32shru, ...i32c(255), O.i32and] : [...lo32(r), ...i32c(255), O.i32and]), hi: V(i32c(0)) };
      case 2:
        return { lo: V([...lo32(r), ...i32c(65535), O.i32and]), hi: V(i32c(0)) };
      case 4:
        return { lo: V(lo32(r)), hi: V(i32c(0)) };
      default:
        return { lo: V(lo32(r)), hi: V([...get(gl(r)), ...i64c(32n), O.i64shru, O.wrap]), w: get(gl(r)) } as XPair;
    }
  }

  private setG(r: number, c: Code): void {
    this.f.written.add(r);
    this.dirty.add(r);
    this.emit([...c, ...set(gl(r))]);
  }

  setReg(r: number, size: number, lo: Val, hi: Val): void {
    const l = Cd(lo);
    switch (size) {
      case 1: {
        const rr = r >= 16 ? r - 16 : r;
        const sh = r >= 16 ? 8 : 0;
        this.setG(rr, [...get(gl(rr)), ...i64c(~(255n << BigInt(sh))), O.i64and, ...l, ...i32c(255), O.i32and, I64_OF_I32U, ...(sh ? [...i64c(8n), O.i64shl] : []), O.i64or]);
        return;
      }
      case 2:
        this.setG(r, [...get(gl(r)), ...i64c(~65535n), O.i64and, ...l, ...i32c(65535), O.i32and, I64_OF_I32U, O.i64or]);
        return;
      case 4:
        this.setG(r, [...l, I64_OF_I32U]);
        return;
      default:
        this.setG(r, joinHalves(lo, hi));
    }
  }

  cmov(c: Cond, r: number, v: Pair, size: number): void {
    if (size === 8) this.setG(r, [...whole(v), ...get(gl(r)), ...Cd(c), O.select]);
    else this.setG(r, [...Cd(v.lo), ...get(gl(r)), O.wrap, ...Cd(c), O.select, I64_OF_I32U]);
  }

  lea(m: MemRef): Val {
    if (m.asz === 2) {
      const t: number[] = i32c(m.disp);
      if (m.base >= 0) t.push(...get(gl(m.base)), O.wrap, ...i32c(65535), O.i32and, O.i32add);
      if (m.index >= 0) t.push(...get(gl(m.index)), O.wrap, ...i32c(65535), O.i32and, ...i32c(m.scale), O.i32mul, O.i32add);
      return V([...t, ...i32c(65535), O.i32and]);
    }
    const t: number[] = i32c(m.disp | 0);
    if (m.base >= 0) t.push(...get(gl(m.base)), O.wrap, O.i32add);
    if (m.index >= 0) t.push(...get(gl(m.index)), O.wrap, ...i32c(m.scale), O.i32mul, O.i32add);
    return V(t);
  }

  // ---- memory --------------------------------------------------------------------------------------------

  /** The exact address path (import `lin`: segments, wrap-around, non-canonical #GP/#SS). */
  private linSlow(size: number, write: boolean): number[] {
    return [...this.pendCode(), ...this.spill(), ...this.gid(), ...this.nk(), ...i32c(size), ...i32c(write ? 1 : 0), O.call, IMPORT.lin, ...X.i64fromF64sat, ...set(L.addr)];
  }

  linear(m: MemRef, size: number, write: boolean): void {
    const FS = 4;
    const GS = 5;
    if (m.asz !== 8 || m.seg === FS || m.seg === GS) {
      this.emit(this.linSlow(size, write));
      return;
    }
    const t: number[] = [...i64c(BigInt(m.disp))];
    if (m.base >= 0) t.push(...get(gl(m.base)), O.i64add);
    if (m.index >= 0) t.push(...get(gl(m.index)), ...(m.scale === 1 ? [] : [...i64c(BigInt(m.scale)), O.i64mul]), O.i64add);
    this.emit([...t, ...set(L.addr)]);
    // Canonical (with the access's last byte below the upper half's end), else the exact path faults.
    this.ifOpen([...get(L.addr), ...i64c(CANON_LO), O.i64lts, ...get(L.addr), ...i64c(CANON_HI - BigInt(size)), X.i64gts, O.i32or]);
    this.emit(this.linSlow(size, write));
    this.ifClose();
  }

  /** The TLB probe of an access of `size` at the address register; leaves (off, entry index) in temps. */
  private probe(tagBase: number, size: number): { hit: Code; off: Code; idx: Code } {
    const off = this.t32([...get(L.addr), O.wrap, ...i32c(4095), O.i32and]);
    const vpn = this.t64([...get(L.addr), ...i64c(12n), O.i64shrs]);
    const idx = this.t32([...vpn, O.wrap, ...i32c(TLB_ENTRIES - 1), O.i32and]);
    const hit = [
      ...off, ...i32c(4096 - size), X.i32leu,
      ...idx, ...i32c(3), O.i32shl, ...mem(O.i64load, 3, this.c(tagBase)),
      ...vpn, ...i64c(1n), O.i64shl, ...get(L.u), I64_OF_I32U, O.i64or, O.i64eq,
      O.i32and,
    ];
    return { hit, off, idx };
  }

  load(dst: Pair, size: number, soft = false): void {
    const d = dst as XPair;
    const { hit, off, idx } = this.probe(X86_WASM.rTag, size);
    const host = [...idx, ...i32c(2), O.i32shl, ...mem(O.i32load, 2, this.c(X86_WASM.rAdd)), ...off, O.i32add];
    this.ifOpen(hit);
    if (size === 8) this.emit([...host, ...mem(O.i64load, 0), ...(d.wide ? [] : [O.wrap]), ...set(d.l!)]);
    else this.emit([...host, ...mem(size === 1 ? X.i32load8u : size === 2 ? X.i32load16u : O.i32load, 0), ...(d.wide ? [I64_OF_I32U] : []), ...set(d.l!)]);
    this.ifElse();
    this.emit([...this.pendCode(), ...this.spill(), ...this.gid(), ...this.nk(), ...get(L.addr), X.f64fromI64s, ...i32c(size), ...i32c(soft ? 1 : 0), O.call, IMPORT.rd]);
    if (d.wide) {
      this.emit([I64_OF_I32U]);
      if (size === 8) this.emit([...i32c(0), ...mem(O.i32load, 2, this.c(X86_WASM.t1)), I64_OF_I32U, ...i64c(32n), O.i64shl, O.i64or]);
    }
    this.emit(set(d.l!));
    if (soft) {
      // An MMIO read that must exit: leave before the instruction (the import set RIP to it).
      this.ifOpen([...i32c(0), ...mem(O.i32load, 2, this.c(X86_WASM.status))]);
      this.emit(this.leaveWith(this.nk()));
      this.ifClose();
    }
    this.ifClose();
  }

  store(size: number, v: Pair): void {
    const { hit, off, idx } = this.probe(X86_WASM.wTag, size);
    const host = [...idx, ...i32c(2), O.i32shl, ...mem(O.i32load, 2, this.c(X86_WASM.wAdd)), ...off, O.i32add];
    this.ifOpen(hit);
    if (size === 8) this.emit([...host, ...whole(v), ...mem(O.i64store, 0)]);
    else this.emit([...host, ...Cd(v.lo), ...mem(size === 1 ? O.i32store8 : size === 2 ? O.i32store16 : O.i32store, 0)]);
    this.ifElse();
    this.emit([...this.pendCode(), ...this.spill(), ...this.gid(), ...this.nk(), ...get(L.addr), X.f64fromI64s, ...i32c(size), ...Cd(v.lo), ...(size === 8 ? Cd(v.hi) : i32c(0)), O.call, IMPORT.wr, ...set(L.ps)]);
    this.ifClose();
  }

  stopCheck(): void {
    // Only a store through the import can have hit decoded code or MMIO (it returned 1 then).
    this.ifOpen(get(L.ps));
    this.emit([...i32c(0), ...set(L.ps), ...this.pendCode(), ...this.goto(this.i.addr + this.i.len, this.k0 + 1, false)]);
    this.ifClose();
  }

  // ---- arithmetic and flags --------------------------------------------------------------------------

  alu(op: AluOp, size: number, rp: Pair, ap: Pair, bp: Pair): void {
    const r = rp as XPair;
    if (size === 8) {
      const o = op === '+' ? O.i64add : op === '-' ? O.i64sub : op === '&' ? O.i64and : op === '|' ? O.i64or : O.i64xor;
      this.emit([...whole(ap), ...whole(bp), o, ...set(r.l!)]);
      return;
    }
    const o = op === '+' ? O.i32add : op === '-' ? O.i32sub : op === '&' ? O.i32and : op === '|' ? O.i32or : O.i32xor;
    this.emit([...Cd(ap.lo), ...Cd(bp.lo), o, ...(size === 4 ? [] : [...i32c(size === 1 ? 255 : 65535), O.i32and]), ...set(r.l!)]);
  }

  step(dec: boolean, size: number, rp: Pair, ap: Pair): void {
    const r = rp as XPair;
    if (size === 8) this.emit([...whole(ap), ...i64c(1n), dec ? O.i64sub : O.i64add, ...set(r.l!)]);
    else this.emit([...Cd(ap.lo), ...i32c(1), dec ? O.i32sub : O.i32add, ...(size === 4 ? [] : [...i32c(size === 1 ? 255 : 65535), O.i32and]), ...set(r.l!)]);
  }

  carry(): Val {
    const kn = this.known;
    if (kn !== null) return V(this.t32(cfOf(kn)));
    this.flush();
    return V(this.t32([...i32c(2), O.call, IMPORT.cond]));
  }

  flags(op: FOp, size: number, a: Pair, b: Pair, r: Pair, cin?: Val): void {
    const p: [number, Code][] = [[FL('op'), i32c(op)], [FL('size'), i32c(size)], [FL('a0'), Cd(a.lo)], [FL('b0'), Cd(b.lo)], [FL('r0'), Cd(r.lo)]];
    if (cin !== undefined) p.push([FL('cin'), Cd(cin)]);
    if (size === 8) p.push([FL('a1'), Cd(a.hi)], [FL('b1'), Cd(b.hi)], [FL('r1'), Cd(r.hi)]);
    this.pend = p;
    this.known = { op, size, a: a as XPair, b: b as XPair, r: r as XPair, ...(cin !== undefined ? { cin: Cd(cin) } : {}) };
  }

  /** An eager record (EAGER_CO): the result `res` (i32 or i64 code), CF and OF as i32 codes. */
  private eager(size: number, res: XPair, cf: Code, of: Code, stmt = false): void {
    const p: [number, Code][] = [[FL('op'), i32c(FOp.EAGER_CO)], [FL('size'), i32c(size)], [FL('a0'), i32c(0)], [FL('b0'), i32c(0)], [FL('r0'), Cd(res.lo)], [FL('cin'), cf], [FL('ofv'), of], [FL('afv'), i32c(0)]];
    p.push([FL('a1'), i32c(0)], [FL('b1'), i32c(0)], [FL('r1'), size === 8 ? Cd(res.hi) : i32c(0)]);
    this.pend = p;
    this.known = { op: FOp.EAGER_CO, size, a: ZERO, b: ZERO, r: res, cin: cf, ofv: of };
    if (stmt) this.flush();
  }

  shift(kind: ShiftKind, size: 4 | 8, reg: number, cnt: number): void {
    const g = get(gl(reg));
    if (size === 4) {
      const lo = this.t32([...g, O.wrap]);
      let res: number[];
      let cf: number[];
      let of: Code;
      if (kind === 'shl') {
        res = [...lo, ...i32c(cnt), O.i32shl];
        cf = [...lo, ...i32c(32 - cnt), O.i32shru, ...i32c(1), O.i32and];
      } else if (kind === 'shr') {
        res = [...lo, ...i32c(cnt), O.i32shru];
        cf = [...lo, ...i32c(cnt - 1), O.i32shru, ...i32c(1), O.i32and];
      } else {
        res = [...lo, ...i32c(cnt), O.i32shrs];
        cf = [...lo, ...i32c(cnt - 1), O.i32shrs, ...i32c(1), O.i32and];
      }
      const v = this.t32(res);
      const c = this.t32(cf);
      if (kind === 'shl') of = this.t32([...v, ...i32c(31), O.i32shru, ...c, O.i32xor]);
      else if (kind === 'shr') of = this.t32([...lo, ...i32c(31), O.i32shru]);
      else of = i32c(0);
      this.setG(reg, [...v, I64_OF_I32U]);
      this.eager(4, { lo: V(v), hi: V(i32c(0)) }, c, of);
      return;
    }
    const x = this.t64(g);
    let res: number[];
    let cf: number[];
    if (kind === 'shl') {
      res = [...x, ...i64c(BigInt(cnt)), O.i64shl];
      cf = [...x, ...i64c(BigInt(64 - cnt)), O.i64shru, O.wrap, ...i32c(1), O.i32and];
    } else {
      res = [...x, ...i64c(BigInt(cnt)), kind === 'sar' ? O.i64shrs : O.i64shru];
      cf = [...x, ...i64c(BigInt(cnt - 1)), O.i64shru, O.wrap, ...i32c(1), O.i32and];
    }
    const v = this.t64(res);
    const c = this.t32(cf);
    const of = kind === 'shl' ? this.t32([...v, ...i64c(63n), O.i64shru, O.wrap, ...c, O.i32xor]) : kind === 'shr' ? this.t32([...x, ...i64c(63n), O.i64shru, O.wrap]) : i32c(0);
    this.setG(reg, v);
    this.eager(8, pairOfW(v), c, of);
  }

  imul32(r: number, a: Val, b: Val): void {
    const p = this.t64([...Cd(a), I64_OF_I32S, ...Cd(b), I64_OF_I32S, O.i64mul]);
    const v = this.t32([...p, O.wrap]);
    const w = this.t32([...p, ...v, I64_OF_I32S, O.i64ne]);
    this.setG(r, [...v, I64_OF_I32U]);
    this.eager(4, { lo: V(v), hi: V(i32c(0)) }, w, w, true);
  }

  imul64(): void {
    // The 128-bit product's overflow test is the handler's (arith64); rare in hot code.
    this.callH(false);
  }

  mulWide(signed: boolean, size: 4 | 8, b: Pair): void {
    if (size === 8) {
      this.callH(false);
      return;
    }
    const ext = signed ? I64_OF_I32S : I64_OF_I32U;
    const p = this.t64([...get(gl(0)), O.wrap, ext, ...Cd(b.lo), ext, O.i64mul]);
    const v = this.t32([...p, O.wrap]);
    const hi = this.t32([...p, ...i64c(32n), O.i64shru, O.wrap]);
    const w = this.t32(signed ? [...hi, ...v, ...i32c(31), O.i32shrs, O.i32ne] : [...hi, ...i32c(0), O.i32ne]);
    this.setG(0, [...v, I64_OF_I32U]);
    this.setG(2, [...hi, I64_OF_I32U]);
    this.eager(4, { lo: V(v), hi: V(i32c(0)) }, w, w, true);
  }

  divWide(signed: boolean, size: 4 | 8, b: Pair): void {
    // What divides without overflow inline (i64 division); the rest (#DE, 128-bit dividends) by the handler.
    // The record is in memory on both paths (the handler's path may rewrite it).
    this.flush();
    this.known = null;
    if (size === 4) {
      const d = this.t64([...get(gl(2)), ...i64c(32n), O.i64shl, ...get(gl(0)), ...i64c(0xffffffffn), O.i64and, O.i64or]);
      const y = this.t64([...Cd(b.lo), signed ? I64_OF_I32S : I64_OF_I32U]);
      const q = this.f.local(I64);
      // y != 0, no INT64_MIN / -1 (wasm traps), quotient in range.
      const ok = signed
        ? [...y, O.i64eqz, O.i32eqz, ...y, ...i64c(-1n), O.i64eq, ...d, ...i64c(-(1n << 63n)), O.i64eq, O.i32and, O.i32eqz, O.i32and]
        : [...y, O.i64eqz, O.i32eqz];
      this.ifOpen(ok);
      this.emit([...d, ...y, signed ? O.i64divs : O.i64divu, ...set(q)]);
      this.ifClose();
      const inRange = signed
        ? [...get(q), ...i64c(-(1n << 31n)), X.i64ges, ...get(q), ...i64c((1n << 31n) - 1n), X.i64les, O.i32and]
        : [...get(q), ...i64c(0xffffffffn), O.i64leu];
      this.ifOpen([...ok, ...inRange, O.i32and]);
      this.setG(2, [...d, ...y, signed ? X.i64rems : X.i64remu, O.wrap, I64_OF_I32U]);
      this.setG(0, [...get(q), O.wrap, I64_OF_I32U]);
      this.ifElse();
      this.callH(false, true);
      this.ifClose();
      return;
    }
    // 64-bit: RDX the extension of RAX (after CQO / xor edx, edx), else the handler.
    const y = this.t64(whole(b));
    const ext = signed ? [...get(gl(2)), ...get(gl(0)), ...i64c(63n), O.i64shrs, O.i64eq] : [...get(gl(2)), O.i64eqz];
    const ok = signed
      ? [...ext, ...y, O.i64eqz, O.i32eqz, O.i32and, ...y, ...i64c(-1n), O.i64eq, ...get(gl(0)), ...i64c(-(1n << 63n)), O.i64eq, O.i32and, O.i32eqz, O.i32and]
      : [...ext, ...y, O.i64eqz, O.i32eqz, O.i32and];
    this.ifOpen(ok);
    const x = this.t64(get(gl(0)));
    this.setG(0, [...x, ...y, signed ? O.i64divs : O.i64divu]);
    this.setG(2, [...x, ...y, signed ? X.i64rems : X.i64remu]);
    this.ifElse();
    this.callH(false, true);
    this.ifClose();
  }

  signExtendAx(osz: number): void {
    if (osz === 8) this.setG(2, [...get(gl(0)), ...i64c(63n), O.i64shrs]);
    else if (osz === 4) this.setG(2, [...get(gl(0)), O.wrap, ...i32c(31), O.i32shrs, I64_OF_I32U]);
    else this.setG(2, [...get(gl(2)), ...i64c(~65535n), O.i64and, ...get(gl(0)), O.wrap, ...i32c(16), O.i32shl, ...i32c(31), O.i32shrs, ...i32c(65535), O.i32and, I64_OF_I32U, O.i64or]);
  }

  // ---- conditions -------------------------------------------------------------------------------------

  flagCond(cc: number): Cond {
    const kn = this.known;
    if (kn === null) {
      this.flush();
      return C(this.t32([...i32c(cc), O.call, IMPORT.cond]));
    }
    const base = cc >> 1;
    let c: Code;
    const of = () => ofOf(kn);
    const sf = () => sfOf(kn);
    const zf = () => zfOf(kn);
    switch (base) {
      case 0: c = of(); break;
      case 1: c = cfOf(kn); break;
      case 2: c = zf(); break;
      case 3: c = [...cfOf(kn), ...zf(), O.i32or]; break;
      case 4: c = sf(); break;
      case 5: c = [...Cd(kn.r.lo), ...i32c(255), O.i32and, ...mem(X.i32load8u, 0, this.c(X86_WASM.parity))]; break;
      case 6: c = [...sf(), ...of(), O.i32ne]; break;
      default: c = [...zf(), ...sf(), ...of(), O.i32ne, O.i32or];
    }
    return C(cc & 1 ? [...c, O.i32eqz] : c);
  }

  isZero(r: Pair, size: number): Cond {
    return C(size === 8 ? [...whole(r), O.i64eqz] : [...Cd(r.lo), O.i32eqz]);
  }

  isNeg(r: Pair, size: number): Cond {
    if (size === 8) return C([...whole(r), ...i64c(0n), O.i64lts]);
    if (size === 4) return C([...Cd(r.lo), ...i32c(31), O.i32shru]);
    return C([...Cd(r.lo), ...i32c(size * 8 - 1), O.i32shru, ...i32c(1), O.i32and]);
  }

  cmp(rel: Rel, size: number, a: Pair, b: Pair): Cond {
    if (size === 8) {
      const o = rel === 'ltu' ? O.i64ltu : rel === 'leu' ? O.i64leu : rel === 'lts' ? O.i64lts : X.i64les;
      return C([...whole(a), ...whole(b), o]);
    }
    const sx = (v: Code): Code => (size === 4 ? v : [...v, size === 2 ? X.ext16s32 : X.ext8s32]);
    if (rel === 'ltu') return C([...Cd(a.lo), ...Cd(b.lo), X.i32ltu]);
    if (rel === 'leu') return C([...Cd(a.lo), ...Cd(b.lo), X.i32leu]);
    if (rel === 'lts') return C([...sx(Cd(a.lo)), ...sx(Cd(b.lo)), X.i32lts]);
    return C([...sx(Cd(a.lo)), ...sx(Cd(b.lo)), X.i32les]);
  }

  not(c: Cond): Cond {
    return C([...Cd(c), O.i32eqz]);
  }

  or(a: Cond, b: Cond): Cond {
    return C([...Cd(a), ...Cd(b), O.i32or]);
  }

  never(): Cond {
    return C(i32c(0));
  }

  condValue(c: Cond): Val {
    return V(this.t32(Cd(c)));
  }

  bool(c: Cond): Val {
    return V(Cd(c));
  }

  // ---- stack and control flow (64-bit mode) ----------------------------------------------------------

  stackAddr(delta: number, size: number): void {
    this.emit([...get(gl(RSP)), ...i64c(BigInt(delta)), O.i64add, ...set(L.addr)]);
    this.ifOpen([...get(L.addr), ...i64c(CANON_LO), O.i64lts, ...get(L.addr), ...i64c(CANON_HI - BigInt(size)), X.i64gts, O.i32or]);
    this.callH(true, true);
    this.ifClose();
  }

  rspAdjust(delta: 8 | -8): void {
    this.setG(RSP, [...get(gl(RSP)), ...i64c(BigInt(delta)), O.i64add]);
  }

  target(p: Pair): void {
    this.emit([...whole(p), ...set(L.addr)]);
    this.ifOpen([...get(L.addr), ...i64c(CANON_LO), O.i64lts, ...get(L.addr), ...i64c(CANON_HI), X.i64ges, O.i32or]);
    this.callH(true, true);
    this.ifClose();
  }

  jump(rip?: number): void {
    this.flush();
    if (rip !== undefined) {
      this.emit(this.goto(rip, this.k0 + 1));
      return;
    }
    // A register target (RET): chain to a return site of the module, else leave with it.
    this.emit([...this.spill(), ...get(L.n), ...i32c(this.k0 + 1), O.i32add, ...set(L.n)]);
    for (const site of this.f.returnSites) {
      const idx = this.f.index.get(site)!;
      this.ifOpen([...get(L.addr), ...i64c(BigInt(site)), O.i64eq]);
      this.emit(this.chainTo(idx));
      this.ifClose();
    }
    this.emit([...i32c(0), ...get(L.addr), X.f64fromI64s, ...mem(O.f64store, 3, this.c(X86_WASM.exitRip)), ...this.f.br(EXIT)]);
  }

  jumpIf(c: Cond, taken: number, next: number): void {
    const t = this.t32(Cd(c));
    this.flush();
    this.ifOpen(t);
    this.emit(this.goto(taken, this.k0 + 1));
    this.ifClose();
    this.emit(this.goto(next, this.k0 + 1));
  }
}

