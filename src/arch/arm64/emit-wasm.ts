/**
 * The arm64 JIT's WebAssembly writer behind the {@link Emitter} seam (emit.ts), used by the wasm
 * engine (wasm-engine.ts; the default `jitEngine`): a hot region's blocks, written by the rows'
 * own `jit` forms, become one module (wasm-module.ts) built at run time.
 *
 * One module holds a region's blocks as one function `run(block, lim)`:
 * - X0-X30 and SP live in i64 wasm locals (NZCV in i32 locals) for the whole call: loaded from the
 *   register file in the vCPU's control area at entry, stored at exit. A {@link Pair} made from a
 *   64-bit value keeps it, so 64-bit register work is one i64 operation, not two halves.
 * - Blocks chain inside the function: a direct branch to another block of the module is a
 *   `br_table` dispatch (a self-loop a plain `br`), a register branch (RET) is compared with the
 *   module's block addresses; a block is chained to only while its bit in the chain mask is set
 *   (the engine sets it at entry: still the dispatch table's block, validated in this epoch);
 *   anything else leaves with the guest PC. Every block checks the instruction budget `lim`
 *   first, so a call retires at most `lim` instructions, exactly as the JS translation's loops do.
 * - Guest memory is the same linear memory: mappings are carved out of the process's
 *   WebAssembly.Memory (hva.ts). Loads and stores probe an inline TLB (tags and host offsets in
 *   the control area, mirrored from the Cpu's software TLB by the engine and emptied with it); a
 *   miss, a misaligned access or an SP alignment fault leaves the function *before* the
 *   instruction with its id and word, and the engine runs that one instruction in the
 *   interpreter (which fills the TLB) and re-enters. Nothing in the function can fault, so no
 *   instruction is ever half done.
 * - A row without an inline form calls its interpreter handler through an import, with the
 *   registers stored to memory around the call (the Cpu's register file is there). A block the
 *   writer does not cover (a register written before a later memory access of the same
 *   instruction could leave the module) stays with the JS translation.
 *
 * The control area's layout (byte offsets from the module's imported `ctl` global, one area per
 * vCPU, {@link WASM_LAYOUT}): the register file, NZCV, exit record, chain mask, TLB tags and offsets.
 * @module
 */
import { CALL, type Addr, type CallKind, type Cond, type Emitter, type Op, type Pair, type Val } from './emit.js';
import { A, C, Cd, CTL, f64c, get, I32, i32c, I64, i64c, L, loadState, mem, O, OP32, pairOf, regLocal, saveState, TLB_ENTRIES, uleb, Unsupported, V, VOID, WASM_LAYOUT, WasmFn, whole, type Code, type WPair } from './wasm-writer.js';

/** One module's function under construction: locals, labels, and the blocks' indices. */
export class FnBuilder extends WasmFn {
  readonly used = new Set<number>();
  readonly written = new Set<number>();
  flagsWritten = false;
  /** Some block calls an interpreter handler. */
  calls = false;
  /** Levels of the `$exit` block and the `$dispatch` loop. */
  readonly exitLevel = 0;
  readonly dispatchLevel = 1;

  /** The i32 local holding the chain mask (WASM_LAYOUT.chainMask, read at entry). */
  readonly mask: number;

  constructor(
    /** Module block index by guest VA (only blocks of this module). */
    readonly index: Map<number, number>,
    /** Branches to other blocks stay in the module (false: only self-loops do; for measuring exits). */
    readonly chain: boolean,
  ) {
    super(L.first);
    this.mask = this.local(I32);
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
    if (n === 31 && this.spAlign) {
      // SP alignment fault: the interpreter raises it.
      this.slowIf([...get(regLocal(31)), O.wrap, ...i32c(15), O.i32and]);
    }
    let v: Code = whole(this.x(n));
    if (this.tbi !== 0) {
      // Top byte ignored (as the JS translation forms it, on the base register): bits 63:56
      // become copies of bit 55 when TBI applies to the half bit 55 selects.
      const t = this.tmp(I64, v);
      const ext = [...get(t), ...i64c(8n), O.i64shl, ...i64c(8n), O.i64shrs];
      if (this.tbi === 3) v = ext;
      else {
        const b55 = [...get(t), ...i64c(55n), O.i64shru, O.wrap, ...i32c(1), O.i32and];
        v = [...ext, ...get(t), ...b55, ...(this.tbi === 1 ? [O.i32eqz] : []), O.select];
      }
    }
    const l = this.tmp(I64, [...v, ...Cd(off), O.i64add]);
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
    this.emit([...CTL, ...i32c(this.id + 1), ...mem(O.i32store, 2, WASM_LAYOUT.exitId)]);
    this.emit([...CTL, ...i32c(this.w), ...mem(O.i32store, 2, WASM_LAYOUT.exitWord)]);
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
    const miss = [...get(slot), ...i32c(3), O.i32shl, ...CTL, O.i32add, ...mem(O.i64load, 3, tag), ...get(vpn), O.i64ne];
    this.slowIf(bytes > 1 ? [...miss, ...get(v), O.wrap, ...i32c(bytes - 1), O.i32and, O.i32or] : miss);
    return this.tmp(I32, [...get(slot), ...i32c(2), O.i32shl, ...CTL, O.i32add, ...mem(O.i32load, 2, add), ...get(v), O.wrap, ...i32c(4095), O.i32and, O.i32add]);
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
    // Another block: only while it is valid for this epoch (the chain mask), else the run loop
    // revalidates it.
    this.chainIf([], i);
    this.leaveAt(target, 0);
  }

  /**
   * Continues at module block `i` when `cond` (an i32, or nothing for "always") holds and the
   * chain mask has its bit (the block is valid for this KVM_RUN's epoch).
   */
  private chainIf(cond: Code, i: number): void {
    this.emit([...cond, ...get(this.f.mask), ...i32c(i), O.i32shru, ...i32c(1), O.i32and, ...(cond.length ? [O.i32and] : []), O.if, VOID]);
    this.f.depth++;
    this.emit([...i32c(i), O.set]);
    uleb(this.cur, L.next);
    this.emit(this.f.br(this.f.dispatchLevel));
    this.emit([O.end]);
    this.f.depth--;
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
    // A return (or other register branch) into a block of this module: compare with each
    // block's address (a region has a few), chained when the mask allows.
    for (const [va, i] of this.f.index) this.chainIf([...get(t), ...i64c(BigInt(va)), O.i64eq], i);
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

  begin(pc: number, w: number, k: number, id: number): void {
    this.id = id; // for the slow exit
    this.pc = pc;
    this.w = w;
    this.idx = k;
    this.cur = [];
    this.wroteState = false;
    this.startDepth = this.f.depth;
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
    this.emit(saveState(CTL));
    this.emit([...i32c(id), ...i32c(w), ...get(L.ret), ...i32c(k), O.i32add, ...f64c(this.pc), ...i32c(kind), O.call, 0]);
    const stop = this.tmp(I32, []);
    this.emit(loadState(CTL));
    if (kind === CALL.END) {
      this.emit([...get(L.ret), ...i32c(k + 1), O.i32add, O.set]);
      uleb(this.cur, L.ret);
      this.emit([...CTL, ...mem(O.f64load, 3, WASM_LAYOUT.exitPc), O.set]);
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
