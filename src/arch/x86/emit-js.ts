/**
 * The JS writer behind the x86 JIT's {@link X86Emitter}: a block becomes the body of a factory
 * `function (H, K, I, T)` (handlers, helpers, its decoded instructions, the vCPU's TLB) returning
 * `function blk(c, s, R, f, m, lim)`; a region that of `function (H, K)` returning `function blk(c,
 * s, R, f, m, lim, I, T, BL)` (BL: its members), one function for every VM (compile-js.ts).
 *
 * - Registers are `R` (X86State.r, lo/hi int32 halves) held in variables `g<i>` within the block
 *   (see `localRegs`), the flags record `f` (written when observable: see `pend`), RIP `s.rip`.
 *   Loads and stores probe the vCPU's software TLB inline (`JitTlb`). Operand
 *   variables are `v<k>`/`a<k>`/`b<k>`/`r<k>` (`…h` the high half); `L` is the address register,
 *   `t`/`w`/`v` scratch; `n` counts instructions retired by earlier loop rounds, `k` is the
 *   instruction a fault is reported for, `h` is set while a handler runs.
 * - RIP is written only where it can be observed: before a handler call, at the block's exits, and
 *   (through the catch) when an inline instruction faults; `c.jitN` then tells how many retired.
 *   A handler that throws leaves RIP as it set it, as in the interpreter. Outside 64-bit mode RIP
 *   is relative to its value at entry (`rip0`), wrapped to the code size.
 * The types translated code runs against and compileJs are in compile-js.ts.
 * @module
 */
import type { Insn } from './decoder.js';
import { divWideJs, imul32Js, imul64Js, mulWideJs, type MulJs } from './emit-js-muldiv.js';
import { FOp } from './flags.js';
import { TLB_MASK } from './mmu.js';
import { RSP } from './state.js';
import type { JitMode, JsRegion } from './compile-js.js';
import type { AluOp, Cond, LocalRole, MemRef, Pair, Rel, ShiftKind, Val, X86Emitter } from './emit.js';

const FS = 4;
const GS = 5;
/** Canonical address bounds (48-bit). */
const CANON_LO = -0x800000000000;
const CANON_HI = 0x800000000000;
const TWO32 = 4294967296;
const MASKS = [0, 255, 65535, 0, -1];
const SIGNS = [0, 0x80, 0x8000, 0, 0];

/** DataView accessors by access size (1, 2, 4 bytes). */
const GET = ['', 'getUint8', 'getUint16', '', 'getInt32'];
const SET = ['', 'setUint8', 'setUint16', '', 'setInt32'];

/**
 * Registers in locals: the emitters write the register file as `R[i]` (i: 2 * register + half)
 * and mark where the block's code hands the register file to others: WB where the registers must
 * be in `R` (every way out of the block, a fault's catch, before a handler or `K.lin`, which read
 * it), LD where `R` may have changed (after a handler). {@link localRegs} then turns every `R[i]`
 * into a variable `g<i>`, loaded at entry, written back (those the block writes) at WB, reloaded
 * (those it uses) at LD.
 */
const WB = '/*WB*/';
const LD = '/*LD*/';
/** Where the memory sites' page caches are forgotten (after a handler): filled in by `finish`. */
const RS = '/*RS*/';
/** Memory operands of one region with a page cache of their own (three variables each). */
export const SITE_LIMIT = 32;

/** Rewrites a block's body and catch for registers in locals (see WB); `load` goes before the body. */
function localRegs(body: string, catchPart: string): { body: string; catchPart: string; load: string } {
  const used = new Set<number>();
  const written = new Set<number>();
  for (const m of body.matchAll(/R\[(\d+)\]/g)) used.add(Number(m[1]));
  for (const m of body.matchAll(/R\[(\d+)\] = /g)) written.add(Number(m[1]));
  const u = [...used].sort((a, b) => a - b);
  const wb = [...written].sort((a, b) => a - b).map((i) => `R[${i}] = g${i}; `).join('');
  const ld = u.map((i) => `g${i} = R[${i}]; `).join('');
  const local = (t: string) => t.replace(/R\[(\d+)\]/g, 'g$1').replaceAll(WB, wb).replaceAll(LD, ld);
  return { body: local(body), catchPart: local(catchPart), load: u.length ? `  var ${u.map((i) => `g${i} = R[${i}]`).join(', ')};` : '' };
}

const V = (s: string) => s as unknown as Val;
const S = (v: Val | Cond) => v as unknown as string;
const C = (s: string) => s as unknown as Cond;
const P = (lo: string, hi: string): Pair => ({ lo: V(lo), hi: V(hi) });

/**
 * Writes one block, or a region of blocks, as JS source. A region is one function: a `switch` on
 * the member index `q` in a loop labelled `Q`, one `case` per member (the blocks emitted in order,
 * each closed by {@link end}). A member's exit to the start of a member (a direct JMP/Jcc/CALL, a
 * fall-through, a RET whose target is a predicted return site) moves there instead of returning,
 * when the run loop would have run it next anyway: the instruction budget `lim` allows, the
 * target was validated in this KVM_RUN, and the block called no interpreter handler (which may
 * have changed what the run loop checks between blocks). `n` counts retired instructions minus
 * the index of the current member's first instruction in `I`, so `n + k` is always the count
 * before instruction `k`.
 */
export class JsEmitter implements X86Emitter {
  private readonly body: string[] = [];
  private k0 = 0;
  private i!: Insn;
  private readonly region: JsRegion;
  /** The member being emitted (-1 before the first), whether its case is open, where its body starts. */
  private cur = -1;
  private open = false;
  private caseAt = 0;
  /** The current member called a handler (its exits return to the run loop). */
  private handled = false;

  constructor(
    private readonly mode: JitMode,
    private readonly insns: readonly Insn[],
    region?: JsRegion,
    /** Memory operands given a page cache (see site): regions get SITE_LIMIT, first translations none. */
    private readonly siteLimit = 0,
  ) {
    this.region = region ?? { starts: [insns[0]!.addr], bases: [0], lens: [insns.length], retSites: [] };
    this.shared = region !== undefined;
  }
  /** A region: written as one function for every VM (its VM's state as arguments), a block as a factory's closure. */
  private readonly shared: boolean;

  private emit(line: string): void {
    this.body.push(line);
  }

  /** RIP at linear address `linear` as an expression. */
  private ripAt(linear: number): string {
    if (this.mode.long64) return String(linear);
    const d = linear - this.insns[0]!.addr;
    return this.mode.def32 ? `((rip0 + ${d}) >>> 0)` : `((rip0 + ${d}) & 65535)`;
  }

  /** RIP after the current instruction. */
  private ripNext(): string {
    return this.ripAt(this.i.addr + this.i.len);
  }

  /**
   * Deferred flags: the statement writing the flags record for the last inline flag writer, not
   * emitted yet. A later writer that sets every field its flags are computed from replaces it
   * (the earlier one was dead), so the record is written where it can be observed: before a
   * handler call or a read of the record, on every way out of the block, and on every slow path
   * that can fault (TLB misses, non-canonical addresses, #DE), so flags are exact at faults and
   * exits. It names only constants and the instruction's own operand variables.
   */
  private pend = '';
  /** The CF of `cfFor` when it is the deferred record (see carry). */
  private cf = '';
  private cfFor = '';

  /** Writes the deferred flags now (they are no longer pending). */
  private flush(): void {
    if (this.pend !== '') this.emit(this.pend);
    this.pend = '';
  }

  /** The deferred flags as a statement prefix, for a conditional path (they stay pending). */
  private fl(): string {
    return this.pend === '' ? '' : `${this.pend} `;
  }

  /** The statement that leaves the block right after the current instruction. */
  private exitAfter(): string {
    return `{ ${this.fl()}s.rip = ${this.ripNext()}; ${WB}return n + ${this.k0 + 1}; }`;
  }

  /**
   * The statement that goes on at linear `target` with `n + x` instructions retired: a move to the
   * member starting there when the region has one (see the class comment), else a return to the
   * run loop with RIP = target. The deferred flags are not written (callers do).
   */
  private goTo(target: number, x: number): string {
    const r = this.region;
    const j = this.mode.long64 && !this.handled ? r.starts.indexOf(target) : -1;
    const leave = `s.rip = ${this.ripAt(target)}; ${WB}return n + ${x};`;
    return j < 0 ? `{ ${leave} }` : this.move(j, x);
  }

  /** A move to member j with `n + x` retired (the budget and j's validation checked first). */
  private move(j: number, x: number): string {
    const base = this.region.bases[j]!;
    const d = x - base;
    const check = j === this.cur ? '' : ` || !V${j}`;
    return `{ ${d !== 0 ? `n += ${d}; ` : ''}if (n + ${base} >= lim${check}) { s.rip = ${this.region.starts[j]}; ${WB}return n + ${base}; } q = ${j}; continue Q; }`;
  }

  /** The handler call for the current instruction (an unusual case found at run time; 64-bit mode). */
  private callHandler(): string {
    const { i, k0: k } = this;
    // (The call itself is in the epilogue: see finish.)
    return `{ ${this.fl()}s.rip = ${i.addr}; c.lastInsn = I[${k}]; c.next = ${i.addr + i.len}; k = ${k}; y = 1; z = n + ${k + 1}; break Q; }`;
  }

  // ---- the block -----------------------------------------------------------------------------------

  begin(k: number): void {
    this.k0 = k;
    this.i = this.insns[k]!;
    this.site = null;
    if (!this.open) {
      // The next member's case.
      this.cur++;
      this.open = true;
      this.handled = false;
      this.emit(`case ${this.cur}: {`);
      this.caseAt = this.body.length;
    }
  }

  handler(isLast: boolean): void {
    const { i, k0: k } = this;
    this.handled = true;
    this.flush();
    this.emit(`k = ${k}; s.rip = ${this.ripAt(i.addr)}; c.lastInsn = I[${k}]; c.next = ${this.ripNext()}; m.handled = true;`);
    // h: a handler runs; if it throws, RIP is what it left (as in the interpreter). It reads and
    // writes the register file: the block's register variables are written back, then reloaded.
    this.emit(WB);
    this.emit(`h = 1; H[${i.mn}](c, I[${k}]); h = 0; ${LD}U = c.cpl === 3 ? 1 : 0; SH = NaN;${RS}`);
    this.emit(`if (c.exitNow) { c.exitNow = false; return n + ${k}; }`);
    this.emit('s.rip = c.next;');
    if (isLast) this.emit(`return n + ${k + 1};`);
    // (A data breakpoint armed by the handler: the inline TLB probes do not check them.)
    else this.emit(`if (m.stopReason !== 0 || m.blockStale || c.softVector >= 0 || c.watchOn || s.rip !== ${this.ripNext()}) return n + ${k + 1};`);
  }

  leave(): void {
    this.flush();
    this.emit(this.goTo(this.i.addr + this.i.len, this.k0 + 1));
  }

  end(loop: Cond | null): void {
    const r = this.region;
    const j = this.cur;
    const base = r.bases[j]!;
    const len = r.lens[j]!;
    const start = r.starts[j]!;
    const last = this.insns[base + len - 1]!;
    // The loop's next round starts with nothing deferred.
    this.flush();
    if (loop !== null) {
      // A member ending in a Jcc back to its own start loops inside its case.
      this.body.splice(this.caseAt, 0, '  for (;;) {');
      this.emit(`  n += ${len};`);
      this.emit(`  if (!(${S(loop)})) ${this.goTo(last.addr + last.len, base)}`);
      this.emit(`  if (n + ${base + len} > lim) { s.rip = ${this.ripAt(start)}; ${WB}return n + ${base}; }`);
      this.emit('  }');
    }
    this.emit('}');
    this.open = false;
  }

  /** Closes the function (after the last member's {@link end}). */
  private finish(): string {
    const long = this.mode.long64;
    const start = this.region.starts[0]!;
    // The TLB arrays of the vCPU: per translation in a block's factory, per call in a region's
    // function (one function serves every VM: see compile-js.ts).
    const tlb = 'var TR = T.rTag, TRD = T.rDv, TRO = T.rOff, TW = T.wTag, TWD = T.wDv, TWO = T.wOff;';
    const head = [
      ...(this.shared ? ['return function blk(c, s, R, f, m, lim, I, T, BL) {', `  ${tlb}`] : [tlb, 'return function blk(c, s, R, f, m, lim) {']),
      // U: the TLB tag's user bit (CPL 3); po/pv/px: the inline probe's offset, page and index;
      // ps: a store took the slow path (it may have hit code or MMIO: stopCheck looks); q: the
      // member running, E: the KVM_RUN epoch (the entry's: the run loop validated it).
      '  var n = 0, k = 0, h = 0, L = 0, v = 0, w = 0, t = 0, U = c.cpl === 3 ? 1 : 0, po = 0, pv = 0, px = 0, ps = 0, q = 0, z = 0, y = 0;',
      // o/oh: a stack access's offset and scratch; SH/SL/SD/SO: the stack page (see stk).
      '  var o = 0, oh = 0, SH = NaN, SL = 0, SD = TWD[0], SO = 0;',
      // V<j>: member j was validated in this KVM_RUN (no revalidation happens during a call).
      this.region.starts.length > 1 ? `  var E = BL[0].epoch, ${this.region.starts.map((_, j) => `V${j} = BL[${j}].epoch === E`).join(', ')};` : '',
      long ? '' : '  var rip0 = s.rip;',
      '  try {',
    ];
    // (The register variables load in front of this: see localRegs.)
    const top = head.length;
    // Every way out that writes the registers back goes through one epilogue (z: the count).
    const exits = this.body.map((l) => l.replace(/\/\*WB\*\/return n \+ (-?\d+);/g, 'z = n + $1; break Q;'));
    const body = ['  Q: for (;;) {', '  switch (q) {', ...exits, '  }', '  return n;', '  }', `  ${WB}if (y !== 0) { h = 1; m.handled = true; H[I[k].mn](c, I[k]); h = 0; s.rip = c.next; }`, '  return z;'];
    const ripOf = long ? 'I[k].addr' : `K_rip(rip0, I[k].addr - ${start})`;
    // A fault in inline code: the register variables are the registers (a handler that threw
    // had them written back before it ran and may have changed the register file since).
    const catchPart = ['  } catch (e) {', `    if (h === 0) { s.rip = ${ripOf}; ${WB} }`, '    c.lastInsn = I[k]; c.jitN = n + k;', '    throw e;', '  }', '};'];
    const ripFn = long ? '' : `function K_rip(r0, d) { return ${this.mode.def32 ? '(r0 + d) >>> 0' : '(r0 + d) & 65535'}; }\n`;
    const sites = Array.from({ length: this.sites }, (_, i) => i);
    if (sites.length) head.splice(top, 0, `  var od = 0, ${sites.map((i) => `CB${i} = NaN, CD${i} = TRD[0], CO${i} = 0`).join(', ')};`);
    const reset = sites.length ? ` ${sites.map((i) => `CB${i}`).join(' = ')} = NaN;` : '';
    const code = localRegs(body.join('\n').replaceAll(RS, reset), catchPart.join('\n'));
    head.splice(top, 0, code.load);
    return ripFn + [...head, code.body, code.catchPart].join('\n');
  }

  private src = '';

  /** The finished source (after the last {@link end}): the body of the factory (see the module comment). */
  source(): string {
    if (this.src === '') this.src = this.finish();
    return this.src;
  }

  // ---- values and operand variables ------------------------------------------------------------------

  k(v: number): Val {
    return V(String(v));
  }

  local(role: LocalRole, size: number): Pair {
    const v = `${role}${this.k0}`;
    this.emit(size === 8 ? `var ${v} = 0, ${v}h = 0;` : `var ${v} = 0;`);
    return P(v, `${v}h`);
  }

  scratch(): Pair {
    return P('v', 'w');
  }

  assign(dst: Pair, v: Pair, size: number): void {
    if (size === 8) this.emit(`${S(dst.lo)} = ${S(v.lo)}; ${S(dst.hi)} = ${S(v.hi)};`);
    else this.emit(`${S(dst.lo)} = ${S(v.lo)};`);
  }

  sar(a: Val, n: number): Val {
    return V(`(${S(a)} >> ${n})`);
  }

  and(a: Val, mask: number): Val {
    return V(`(${S(a)} & ${mask})`);
  }

  sext(dst: Pair, size: number): void {
    const v = S(dst.lo);
    const sh = size === 1 ? 24 : 16;
    this.emit(`${v} = (${v} << ${sh}) >> ${sh};`);
  }

  // ---- registers --------------------------------------------------------------------------------------

  reg(r: number, size: number): Pair {
    switch (size) {
      case 1:
        return P(r >= 16 ? `((R[${2 * (r - 16)}] >>> 8) & 255)` : `(R[${2 * r}] & 255)`, '0');
      case 2:
        return P(`(R[${2 * r}] & 65535)`, '0');
      case 4:
        return P(`R[${2 * r}]`, '0');
      default:
        return P(`R[${2 * r}]`, `R[${2 * r + 1}]`);
    }
  }

  setReg(r: number, size: number, lo: Val, hi: Val): void {
    const l = S(lo);
    switch (size) {
      case 1:
        if (r >= 16) this.emit(`R[${2 * (r - 16)}] = (R[${2 * (r - 16)}] & -65281) | ((${l} & 255) << 8);`);
        else this.emit(`R[${2 * r}] = (R[${2 * r}] & -256) | (${l} & 255);`);
        return;
      case 2:
        this.emit(`R[${2 * r}] = (R[${2 * r}] & -65536) | (${l} & 65535);`);
        return;
      case 4:
        this.emit(`R[${2 * r}] = ${l}; R[${2 * r + 1}] = 0;`);
        return;
      default:
        this.emit(`R[${2 * r}] = ${l}; R[${2 * r + 1}] = ${S(hi)};`);
    }
  }

  cmov(c: Cond, r: number, v: Pair, size: number): void {
    const d = 2 * r;
    if (size === 8) this.emit(`if (${S(c)}) { R[${d}] = ${S(v.lo)}; R[${d + 1}] = ${S(v.hi)}; }`);
    else this.emit(`if (${S(c)}) R[${d}] = ${S(v.lo)}; R[${d + 1}] = 0;`);
  }

  lea(m: MemRef): Val {
    if (m.asz === 2) {
      const u: string[] = [String(m.disp)];
      if (m.base >= 0) u.push(`(R[${2 * m.base}] & 65535)`);
      if (m.index >= 0) u.push(`(R[${2 * m.index}] & 65535) * ${m.scale}`);
      return V(`((${u.join(' + ')}) & 65535)`);
    }
    // The low 32 bits of the sum, exact in int32 arithmetic (asz 4 and 8 alike).
    const t: string[] = [String(m.disp | 0)];
    if (m.base >= 0) t.push(`R[${2 * m.base}]`);
    if (m.index >= 0) t.push(`Math.imul(R[${2 * m.index}], ${m.scale})`);
    return V(`((${t.join(' + ')}) | 0)`);
  }

  // ---- memory --------------------------------------------------------------------------------------------

  /** A register's full 64-bit value as a double (exact for canonical-sized values). */
  private reg64(r: number): string {
    return `(R[${2 * r + 1}] * ${TWO32} + (R[${2 * r}] >>> 0))`;
  }

  linear(m: MemRef, size: number, write: boolean): void {
    const k = this.k0;
    this.emit(`k = ${k};`);
    if (this.mode.long64 && m.asz === 8) {
      const terms: string[] = [String(m.disp)];
      if (m.base >= 0) terms.push(this.reg64(m.base));
      if (m.index >= 0) terms.push(m.scale === 1 ? this.reg64(m.index) : `${this.reg64(m.index)} * ${m.scale}`);
      if (m.seg === FS || m.seg === GS) terms.push(`s.seg[${m.seg}].base`);
      this.emit(`L = ${terms.join(' + ')};`);
      // Doubles are exact while the registers are below 2^48 in magnitude; base + index of huge
      // values could cancel inexactly, so those take the exact path.
      const huge = m.base >= 0 && m.index >= 0 ? `((R[${2 * m.base + 1}] + 65536) | (R[${2 * m.index + 1}] + 65536)) >>> 17 !== 0` : '';
      const check = () => `if (!(L >= ${CANON_LO} && L <= ${CANON_HI - size})${huge ? ` || ${huge}` : ''}) { ${this.fl()}${WB}L = K.lin(c, I[${k}], ${size}, ${write}); }`;
      if (this.sites < this.siteLimit) {
        // The exact-path check moves into the page cache's miss path (see site).
        this.site = { id: this.sites++, write, huge, check, checked: false };
        return;
      }
      this.emit(check());
      return;
    }
    this.flush();
    if (this.mode.long64) {
      this.emit(`${WB}L = K.lin(c, I[${k}], ${size}, ${write});`);
      return;
    }
    let off: string;
    if (m.asz === 4) {
      const t: string[] = [String(m.disp | 0)];
      if (m.base >= 0) t.push(`R[${2 * m.base}]`);
      if (m.index >= 0) t.push(`Math.imul(R[${2 * m.index}], ${m.scale})`);
      off = `((${t.join(' + ')}) >>> 0)`;
    } else {
      const t: string[] = [String(m.disp)];
      if (m.base >= 0) t.push(`(R[${2 * m.base}] & 65535)`);
      if (m.index >= 0) t.push(`(R[${2 * m.index}] & 65535) * ${m.scale}`);
      off = `((${t.join(' + ')}) & 65535)`;
    }
    this.emit(`L = c.linear(${m.seg}, ${off}, ${size}, ${write});`);
  }

  /** The inline TLB probe of an access of `size` at L: whether set `tag` maps the page (px: its entry, po: the offset). */
  private probe(tag: string, size: number): string {
    this.emit(`po = L & 4095; pv = (L - po) / 4096; px = pv & ${TLB_MASK};`);
    return `po <= ${4096 - size} && ${tag}[px] === pv * 2 + U`;
  }

  load(dst: Pair, size: number, soft = false): void {
    if (this.stk !== null) return this.stackLoad(dst, size);
    if (this.site !== null) return this.siteLoad(dst, size, soft);
    const fn = soft ? 'readLinSoft' : 'readLin';
    const out = `${WB}return n + ${this.k0};`;
    const [lo, hi] = [S(dst.lo), S(dst.hi)];
    const hit = this.probe('TR', size);
    const fast = size === 8 ? `{ po += TRO[px]; ${lo} = TRD[px].getInt32(po, true); ${hi} = TRD[px].getInt32(po + 4, true); }` : `${lo} = TRD[px].${GET[size]}(TRO[px] + po, true);`;
    let slow = this.fl() + (size === 8 ? `${lo} = c.${fn}(L, 8); ${hi} = c.t1;` : `${lo} = c.${fn}(L, ${size})${size === 4 ? ' | 0' : ''};`);
    if (soft) slow += ` if (c.exitNow) { c.exitNow = false; s.rip = ${this.ripAt(this.i.addr)}; ${out} }`;
    this.emit(`if (${hit}) ${fast} else { ${slow} }`);
  }

  store(size: number, v: Pair): void {
    if (this.stk !== null) return this.stackStore(size, v);
    if (this.site !== null) return this.siteStore(size, v);
    const lo = S(v.lo);
    const hit = this.probe('TW', size);
    const fast = size === 8 ? `{ po += TWO[px]; TWD[px].setInt32(po, ${lo}, true); TWD[px].setInt32(po + 4, ${S(v.hi)}, true); }` : `TWD[px].${SET[size]}(TWO[px] + po, ${lo}, true);`;
    this.emit(`if (${hit}) ${fast} else { ${this.fl()}c.writeLin(L, ${size}, ${lo}${size === 8 ? `, ${S(v.hi)}` : ''}); ps = 1; }`);
  }

  /**
   * The memory operand of the current instruction (64-bit mode and addresses) and its page cache:
   * each such operand of the function (the first SITE_LIMIT) keeps the page it last accessed
   * (base address CB<id>, a double; DataView CD<id> and offset CO<id>), filled from a TLB hit of
   * the set the access needs (the write set for a write), forgotten after a handler call. An
   * access within that page is one subtraction and two compares: no canonical check (the page is
   * canonical), no TLB probe. Only a miss takes the exact-path check and the probe. Exact for the
   * reasons the stack page is (see stk).
   */
  private site: { id: number; write: boolean; huge: string; check: () => string; checked: boolean } | null = null;
  private sites = 0;

  /** The page-cache hit condition of the current site for an access of `size` (sets od: the offset in the page). */
  private siteHit(size: number): string {
    const st = this.site!;
    this.emit(`od = L - CB${st.id};`);
    return `od >= 0 && od <= ${4096 - size}${st.huge ? ` && !(${st.huge})` : ''}`;
  }

  /** The site's exact-path check, emitted once (the second access of a read-modify-write reuses L). */
  private siteCheck(): string {
    const st = this.site!;
    if (st.checked) return '';
    st.checked = true;
    return st.check() + ' ';
  }

  /** Keeps the page of the TLB hit at px (write set when `w`) as the site's. */
  private siteFill(w: boolean): string {
    const id = this.site!.id;
    return w ? `CB${id} = L - po; CD${id} = TWD[px]; CO${id} = TWO[px];` : `CB${id} = L - po; CD${id} = TRD[px]; CO${id} = TRO[px];`;
  }

  /**
   * The stack page of this call (push, pop, CALL, RET): the page whose linear base is SH:SL (the
   * halves; SH NaN: none) is RAM in the write TLB, at DataView SD, offset SO. RSP-relative
   * accesses within it skip the address arithmetic in doubles, the canonical check and the TLB
   * probe: the page's offset is an int32 difference of RSP's low half from SL, valid when RSP's
   * high half is SH (a page at the first or last 4 KiB of a 4 GiB window is not kept, so that
   * difference cannot wrap). Filled from a write-TLB hit; forgotten after a handler call (it may
   * change CPL, paging or the TLB). A stale mapping within one call is what a TLB not yet flushed
   * gives: only handlers flush it, and pages become code pages only between calls.
   */
  private stk: { delta: number; size: number } | null = null;

  private siteLoad(dst: Pair, size: number, soft: boolean): void {
    const st = this.site!;
    const id = st.id;
    const [lo, hi] = [S(dst.lo), S(dst.hi)];
    const get = (dv: string, off: string) => (size === 8 ? `${lo} = ${dv}.getInt32(${off}, true); ${hi} = ${dv}.getInt32(${off} + 4, true);` : `${lo} = ${dv}.${GET[size]}(${off}, true);`);
    const fn = soft ? 'readLinSoft' : 'readLin';
    let slow = this.fl() + (size === 8 ? `${lo} = c.${fn}(L, 8); ${hi} = c.t1;` : `${lo} = c.${fn}(L, ${size})${size === 4 ? ' | 0' : ''};`);
    if (soft) slow += ` if (c.exitNow) { c.exitNow = false; s.rip = ${this.ripAt(this.i.addr)}; ${WB}return n + ${this.k0}; }`;
    const hit = this.siteHit(size);
    const check = this.siteCheck();
    // A read-modify-write keeps a page of the write set only (its store uses the same cache).
    const fill = st.write ? `if (TW[px] === pv * 2 + U) { ${this.siteFill(true)} }` : this.siteFill(false);
    this.emit(`if (${hit}) { od += CO${id}; ${get(`CD${id}`, 'od')} } else { ${check}po = L & 4095; pv = (L - po) / 4096; px = pv & ${TLB_MASK}; if (po <= ${4096 - size} && TR[px] === pv * 2 + U) { po += TRO[px]; ${get('TRD[px]', 'po')} po -= TRO[px]; ${fill} } else { ${slow} } }`);
  }

  private siteStore(size: number, v: Pair): void {
    const id = this.site!.id;
    const [lo, hi] = [S(v.lo), S(v.hi)];
    const set = (dv: string, off: string) => (size === 8 ? `${dv}.setInt32(${off}, ${lo}, true); ${dv}.setInt32(${off} + 4, ${hi}, true);` : `${dv}.${SET[size]}(${off}, ${lo}, true);`);
    const hit = this.siteHit(size);
    const check = this.siteCheck();
    this.emit(`if (${hit}) { od += CO${id}; ${set(`CD${id}`, 'od')} } else { ${check}po = L & 4095; pv = (L - po) / 4096; px = pv & ${TLB_MASK}; if (po <= ${4096 - size} && TW[px] === pv * 2 + U) { ${this.siteFill(true)} po += TWO[px]; ${set('TWD[px]', 'po')} } else { ${this.fl()}c.writeLin(L, ${size}, ${lo}${size === 8 ? `, ${hi}` : ''}); ps = 1; } }`);
  }

  /** o = the stack access's offset in the kept page: the condition that it lies within it. */
  private stackHit(): string {
    const { delta, size } = this.stk!;
    this.emit(`o = (R[${2 * RSP}] - SL + ${delta}) | 0;`);
    return `R[${2 * RSP + 1}] === SH && (o >>> 0) <= ${4096 - size}`;
  }

  /** The general path of a stack access: L = RSP + delta (the handler when not canonical), the TLB probe. */
  private stackAddrFull(): string {
    const { delta, size } = this.stk!;
    return `L = ${this.reg64(RSP)}${delta ? ` + ${delta}` : ''}; if (!(L >= ${CANON_LO} && L <= ${CANON_HI - size})) ${this.callHandler()} po = L & 4095; pv = (L - po) / 4096; px = pv & ${TLB_MASK};`;
  }

  /** Keeps the page of a write-TLB hit at entry px (page number pv) as the stack page. */
  private static readonly FILL = 'oh = Math.floor(pv / 1048576); o = pv * 4096 - oh * 4294967296; if (o >= 4096 && o <= 4294959104) { SH = oh; SL = o | 0; SD = TWD[px]; SO = TWO[px]; }';

  private stackLoad(dst: Pair, size: number): void {
    const [lo, hi] = [S(dst.lo), S(dst.hi)];
    const get = (dv: string, off: string) => (size === 8 ? `${lo} = ${dv}.getInt32(${off}, true); ${hi} = ${dv}.getInt32(${off} + 4, true);` : `${lo} = ${dv}.${GET[size]}(${off}, true);`);
    const hit = this.stackHit();
    const full = this.stackAddrFull();
    const tag = `pv * 2 + U`;
    const slow = this.fl() + (size === 8 ? `${lo} = c.readLin(L, 8); ${hi} = c.t1;` : `${lo} = c.readLin(L, ${size})${size === 4 ? ' | 0' : ''};`);
    this.stk = null;
    this.emit(`if (${hit}) { o += SO; ${get('SD', 'o')} } else { ${full} if (po <= ${4096 - size} && TR[px] === ${tag}) { po += TRO[px]; ${get('TRD[px]', 'po')} if (TW[px] === ${tag}) { ${JsEmitter.FILL} } } else { ${slow} } }`);
  }

  private stackStore(size: number, v: Pair): void {
    const [lo, hi] = [S(v.lo), S(v.hi)];
    const set = (dv: string, off: string) => (size === 8 ? `${dv}.setInt32(${off}, ${lo}, true); ${dv}.setInt32(${off} + 4, ${hi}, true);` : `${dv}.${SET[size]}(${off}, ${lo}, true);`);
    const hit = this.stackHit();
    const full = this.stackAddrFull();
    this.stk = null;
    this.emit(`if (${hit}) { o += SO; ${set('SD', 'o')} } else { ${full} if (po <= ${4096 - size} && TW[px] === pv * 2 + U) { ${JsEmitter.FILL} po += TWO[px]; ${set('TWD[px]', 'po')} } else { ${this.fl()}c.writeLin(L, ${size}, ${lo}${size === 8 ? `, ${hi}` : ''}); ps = 1; } }`);
  }

  stopCheck(): void {
    // Only a store that missed the TLB can have hit decoded code or MMIO.
    this.emit(`if (ps !== 0) { ps = 0; if (m.blockStale || m.stopReason !== 0) ${this.exitAfter()} }`);
  }

  // ---- arithmetic and flags --------------------------------------------------------------------------

  alu(op: AluOp, size: number, rp: Pair, ap: Pair, bp: Pair): void {
    const [r, a, b] = [S(rp.lo), S(ap.lo), S(bp.lo)];
    if (size === 8) {
      const [rh, ah, bh] = [S(rp.hi), S(ap.hi), S(bp.hi)];
      if (op === '+') this.emit(`t = (${a} >>> 0) + (${b} >>> 0); ${r} = t | 0; ${rh} = (${ah} + ${bh} + (t > 4294967295 ? 1 : 0)) | 0;`);
      else if (op === '-') this.emit(`t = (${a} >>> 0) - (${b} >>> 0); ${r} = t | 0; ${rh} = (${ah} - ${bh} - (t < 0 ? 1 : 0)) | 0;`);
      else this.emit(`${r} = ${a} ${op} ${b}; ${rh} = ${ah} ${op} ${bh};`);
    } else if (size === 4) this.emit(`${r} = (${a} ${op} ${b}) | 0;`);
    else this.emit(`${r} = (${a} ${op} ${b}) & ${MASKS[size]};`);
  }

  step(dec: boolean, size: number, rp: Pair, ap: Pair): void {
    const [r, a] = [S(rp.lo), S(ap.lo)];
    if (size === 8) this.emit(`t = (${a} >>> 0) ${dec ? '- 1' : '+ 1'}; ${r} = t | 0; ${S(rp.hi)} = (${S(ap.hi)} + (t > 4294967295 ? 1 : t < 0 ? -1 : 0)) | 0;`);
    else if (size === 4) this.emit(`${r} = (${a} ${dec ? '-' : '+'} 1) | 0;`);
    else this.emit(`${r} = (${a} ${dec ? '-' : '+'} 1) & ${MASKS[size]};`);
  }

  carry(): Val {
    const v = `cf${this.k0}`;
    // The deferred record's own CF expression: it stays deferred (the caller's record replaces it).
    if (this.pend !== '' && this.pend === this.cfFor) this.emit(`var ${v} = ${this.cf};`);
    else {
      this.flush();
      this.emit(`var ${v} = c.cf();`);
    }
    return V(v);
  }

  /** Defers `stmt` (see pend) with `cf`, CF as an expression of its variables ('' if none: see carry). */
  private defer(stmt: string, cf: string): void {
    this.pend = stmt;
    this.cf = cf;
    this.cfFor = cf === '' ? '' : stmt;
  }

  flags(op: FOp, size: number, a: Pair, b: Pair, r: Pair, cin?: Val): void {
    // Deferred (see pend): the operands are the instruction's own variables or constants. The
    // fields a flags record of this op and size is read from are all written, so the deferred
    // record it replaces was dead.
    let s = `f.op = ${op}; f.size = ${size}; f.a0 = ${S(a.lo)}; f.b0 = ${S(b.lo)}; f.r0 = ${S(r.lo)};`;
    if (cin !== undefined) s += ` f.cin = ${S(cin)};`;
    if (size === 8) s += ` f.a1 = ${S(a.hi)}; f.b1 = ${S(b.hi)}; f.r1 = ${S(r.hi)};`;
    // flags.ts Flags.cf for the ops whose CF is a comparison or a variable.
    const ltu = (x: Pair, y: Pair) => `(${S(this.cmp('ltu', size, x, y))} ? 1 : 0)`;
    this.defer(s, op === FOp.ADD ? ltu(r, a) : op === FOp.SUB ? ltu(a, b) : op === FOp.LOGIC ? '0' : (op === FOp.INC || op === FOp.DEC) && cin !== undefined ? S(cin) : '');
  }

  shift(kind: ShiftKind, size: 4 | 8, reg: number, cnt: number): void {
    const lo = `R[${2 * reg}]`;
    const hi = `R[${2 * reg + 1}]`;
    let res: string;
    let resh = '0';
    let cf: string;
    let of: string;
    if (size === 4) {
      if (kind === 'shl') {
        res = `(${lo} << ${cnt})`;
        cf = `((${lo} >>> ${32 - cnt}) & 1)`;
        of = `(((${lo} << ${cnt}) >>> 31) ^ ${cf})`;
      } else if (kind === 'shr') {
        res = `((${lo} >>> ${cnt}) | 0)`;
        cf = `((${lo} >>> ${cnt - 1}) & 1)`;
        of = `(${lo} >>> 31)`;
      } else {
        res = `(${lo} >> ${cnt})`;
        cf = `((${lo} >> ${cnt - 1}) & 1)`;
        of = '0';
      }
      const k = this.k0;
      this.emit(`var sc${k} = ${cf}, so${k} = ${of}, sv${k} = ${res}; R[${2 * reg}] = sv${k}; R[${2 * reg + 1}] = 0;`);
      this.defer(`f.op = ${FOp.EAGER_CO}; f.size = 4; f.a0 = 0; f.b0 = 0; f.r0 = sv${k}; f.cin = sc${k}; f.ofv = so${k}; f.afv = 0;`, `sc${k}`);
      return;
    }
    const bit = (n: number) => (n < 32 ? `((${lo} >>> ${n}) & 1)` : `((${hi} >>> ${n - 32}) & 1)`);
    if (kind === 'shl') {
      if (cnt < 32) {
        resh = `((${hi} << ${cnt}) | (${lo} >>> ${32 - cnt}))`;
        res = `(${lo} << ${cnt})`;
      } else {
        resh = `(${lo} << ${cnt - 32})`;
        res = '0';
      }
      cf = bit(64 - cnt);
      this.emit(`w = ${cf}; v = ${res}; t = ${resh};`);
      of = '((t >>> 31) ^ w)';
    } else {
      const sar = kind === 'sar';
      if (cnt < 32) {
        res = `((${lo} >>> ${cnt}) | (${hi} << ${32 - cnt}))`;
        resh = sar ? `(${hi} >> ${cnt})` : `((${hi} >>> ${cnt}) | 0)`;
      } else {
        res = sar ? `(${hi} >> ${cnt - 32})` : `((${hi} >>> ${cnt - 32}) | 0)`;
        resh = sar ? `(${hi} >> 31)` : '0';
      }
      cf = bit(cnt - 1);
      of = sar ? '0' : `(${hi} >>> 31)`;
      this.emit(`w = ${cf}; L = ${of}; v = ${res}; t = ${resh};`);
      of = 'L';
    }
    const k = this.k0;
    this.emit(`var so${k} = ${of}, sc${k} = w, sv${k} = v, st${k} = t; R[${2 * reg}] = v; R[${2 * reg + 1}] = t;`);
    this.defer(`f.ofv = so${k}; f.op = ${FOp.EAGER_CO}; f.size = 8; f.a0 = 0; f.a1 = 0; f.b0 = 0; f.b1 = 0; f.r0 = sv${k}; f.r1 = st${k}; f.cin = sc${k}; f.afv = 0;`, `sc${k}`);
  }

  imul64(r: number, a: Pair, b: Pair): void {
    this.mulJs(imul64Js(`mi${this.k0}`, r, S(a.lo), S(a.hi), S(b.lo), S(b.hi)));
  }

  /** A multiply's statements (emit-js-muldiv.ts); its flags record is deferred. */
  private mulJs(j: MulJs): void {
    this.emit(j.code);
    this.defer(j.pend, j.cf);
  }

  mulWide(signed: boolean, size: 4 | 8, b: Pair): void {
    this.mulJs(mulWideJs(`mu${this.k0}`, signed, size, S(b.lo), S(b.hi)));
  }

  divWide(signed: boolean, size: 4 | 8, b: Pair): void {
    // k: the instruction a #DE is raised at (the block's catch puts RIP on it).
    this.emit(`k = ${this.k0};`);
    this.emit(divWideJs(`md${this.k0}`, signed, size, S(b.lo), S(b.hi), `{ ${this.fl()}K.de(c); }`));
  }

  signExtendAx(osz: number): void {
    if (osz === 8) this.emit('R[4] = R[5] = R[1] >> 31;');
    else if (osz === 4) this.emit('R[4] = R[0] >> 31; R[5] = 0;');
    else this.emit('R[4] = (R[4] & -65536) | (R[0] & 32768 ? 65535 : 0);');
  }

  imul32(r: number, a: Val, b: Val): void {
    this.mulJs(imul32Js(`mi${this.k0}`, r, S(a), S(b)));
  }

  // ---- conditions -------------------------------------------------------------------------------------

  flagCond(cc: number): Cond {
    // (The condition is used by the next statement emitted: the record is written before it.)
    this.flush();
    return C(`${cc & 1 ? '!' : ''}c.cond(${cc & ~1})`);
  }

  isZero(r: Pair, size: number): Cond {
    return C(size === 8 ? `(${S(r.lo)} === 0 && ${S(r.hi)} === 0)` : `(${S(r.lo)} === 0)`);
  }

  isNeg(r: Pair, size: number): Cond {
    if (size === 8) return C(`(${S(r.hi)} < 0)`);
    return C(size === 4 ? `(${S(r.lo)} < 0)` : `((${S(r.lo)} & ${SIGNS[size]}) !== 0)`);
  }

  cmp(rel: Rel, size: number, ap: Pair, bp: Pair): Cond {
    const [a, b] = [S(ap.lo), S(bp.lo)];
    if (size === 8) {
      const [ah, bh] = [S(ap.hi), S(bp.hi)];
      const ltu = `((${ah} >>> 0) < (${bh} >>> 0) || (${ah} === ${bh} && (${a} >>> 0) < (${b} >>> 0)))`;
      const lts = `(${ah} < ${bh} || (${ah} === ${bh} && (${a} >>> 0) < (${b} >>> 0)))`;
      const eq = `(${a} === ${b} && ${ah} === ${bh})`;
      if (rel === 'ltu') return C(ltu);
      if (rel === 'leu') return C(`(${ltu} || ${eq})`);
      if (rel === 'lts') return C(lts);
      return C(`(${lts} || ${eq})`);
    }
    const ua = size === 4 ? `(${a} >>> 0)` : a;
    const ub = size === 4 ? `(${b} >>> 0)` : b;
    const sx = (v: string) => (size === 4 ? v : size === 2 ? `((${v} << 16) >> 16)` : `((${v} << 24) >> 24)`);
    if (rel === 'ltu') return C(`(${ua} < ${ub})`);
    if (rel === 'leu') return C(`(${ua} <= ${ub})`);
    if (rel === 'lts') return C(`(${sx(a)} < ${sx(b)})`);
    return C(`(${sx(a)} <= ${sx(b)})`);
  }

  not(c: Cond): Cond {
    return C(`!${S(c)}`);
  }

  or(a: Cond, b: Cond): Cond {
    return C(`(${S(a)} || ${S(b)})`);
  }

  never(): Cond {
    return C('false');
  }

  condValue(c: Cond): Val {
    this.emit(`v = (${S(c)}) ? 1 : 0;`);
    return V('v');
  }

  bool(c: Cond): Val {
    return V(`((${S(c)}) ? 1 : 0)`);
  }

  // ---- stack and control flow (64-bit mode) ----------------------------------------------------------

  stackAddr(delta: number, size: number): void {
    // The address is formed by the load or store that follows (see stk).
    this.emit(`k = ${this.k0};`);
    this.stk = { delta, size };
  }

  rspAdjust(delta: 8 | -8): void {
    const lo = 2 * RSP;
    const hi = lo + 1;
    if (delta < 0) this.emit(`t = R[${lo}]; R[${lo}] = (t - 8) | 0; if ((t >>> 0) < 8) R[${hi}] = (R[${hi}] - 1) | 0;`);
    else this.emit(`t = R[${lo}]; R[${lo}] = (t + 8) | 0; if ((t >>> 0) >= 4294967288) R[${hi}] = (R[${hi}] + 1) | 0;`);
  }

  target(p: Pair): void {
    this.emit(`L = ${S(p.hi)} * 4294967296 + (${S(p.lo)} >>> 0);`);
    this.emit(`if (!(L >= ${CANON_LO} && L < ${CANON_HI})) ${this.callHandler()}`);
  }

  jump(rip?: number): void {
    const x = this.k0 + 1;
    if (rip !== undefined) this.emit(`${this.fl()}${this.goTo(rip, x)}`);
    else {
      // RET (target in L): a predicted return site of the region moves there.
      const r = this.region;
      const sites = this.mode.long64 && !this.handled ? r.retSites.map((j) => `if (L === ${r.starts[j]}) ${this.move(j, x)} `).join('') : '';
      this.emit(`${this.fl()}${sites}s.rip = L; ${WB}return n + ${x};`);
    }
    this.pend = '';
  }

  jumpIf(c: Cond, taken: number, next: number): void {
    const x = this.k0 + 1;
    this.emit(`${this.fl()}if (${S(c)}) ${this.goTo(taken, x)} ${this.goTo(next, x)}`);
    this.pend = '';
  }
}
