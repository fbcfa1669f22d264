/**
 * The JS writer behind the arm64 JIT's {@link Emitter}: one block becomes the source of
 * `function (c, lim)`, run with `H` (the interpreter's handlers) and `K` (helpers) in scope.
 *
 * Values are JS expressions over `x` (the register file, Int32Array) and temps. Every instruction
 * is a `{ ... }` statement of its own, so its temps are block-scoped. An instruction that touches
 * memory is preceded by the interpreter's view of it (insnPc, insn, pc: what a fault or exit
 * reports) and followed by a stop check (Cpu.stop: code it overwrote was dropped, or it made an
 * MMIO exit). A block whose last branch targets its start is a loop inside the function, bounded
 * by the budget `lim` it is given.
 * @module
 */
import { SP_SLOT } from './state.js';
import { CALL, type Addr, type CallKind, type Cond, type Emitter, type Op, type Pair, type Val } from './emit.js';

const TWO32 = 4294967296;
/** Cpu.x index of the current SP's low half (the register file is ARM64_HOT.x). */
const SP_LO = SP_SLOT;
/** Cpu.x index of X30's low half (the link register). */
const LR_LO = 2 * 30;
/** ESR_ELx.EC of an SP alignment fault. */
const EC_SP_ALIGN = 0x26;

const lit = (v: number): string => (Object.is(v, -0) ? '0' : String(v));
const V = (s: string) => s as unknown as Val;
const S = (v: Val | Addr | Cond) => v as unknown as string;
const A = (s: string) => s as unknown as Addr;
const C = (s: string) => s as unknown as Cond;
/** An identifier or a numeric literal: safe to repeat. */
const atom = (s: string) => /^(?:[A-Za-z_$][\w$]*|-?\d+)$/.test(s);

export class JsEmitter implements Emitter {
  private readonly out: string[] = ['"use strict";', 'return function (c, lim) {', 'const x = c.x;'];
  /** Statements of the current instruction. */
  private cur: string[] = [];
  private pc = 0;
  private w = 0;
  private idx = 0;
  /** The current instruction may fault or exit (it touches memory). */
  private mayThrow = false;
  /** The current instruction left the block (a branch). */
  private left = false;
  private temps = 0;

  constructor(
    /** The block's first address and length. */
    private readonly va: number,
    private readonly n: number,
    /** Its last branch targets its start. */
    private readonly loop: boolean,
    readonly tbi: number,
    readonly spAlign: boolean,
  ) {
    if (loop) this.out.push('for (;;) {');
  }

  /** The finished source (the body of `function (H, K)`). */
  source(): string {
    if (this.loop) this.out.push('}');
    this.out.push('};');
    return this.out.join('\n');
  }

  private emit(s: string): void {
    this.cur.push(s);
  }

  private fresh(prefix = 't'): string {
    return `${prefix}${this.temps++}`;
  }

  private bind(expr: string, prefix = 't'): string {
    if (atom(expr)) return expr;
    const t = this.fresh(prefix);
    this.emit(`const ${t} = ${expr};`);
    return t;
  }

  // ---- values -------------------------------------------------------------------------------------

  k(v: number): Val {
    return V(lit(v | 0));
  }

  k64(v: number): Pair {
    return { lo: V(lit(v | 0)), hi: V(lit(Math.floor(v / TWO32) | 0)) };
  }

  x(r: number): Pair {
    return { lo: V(`x[${2 * r}]`), hi: V(`x[${2 * r + 1}]`) };
  }

  z(r: number): Pair {
    return r === 31 ? { lo: V('0'), hi: V('0') } : this.x(r);
  }

  op(a: Val, o: Op, b: Val): Val {
    const e = `${S(a)} ${o} ${S(b)}`;
    if (o === '+' || o === '-') return V(`((${e}) | 0)`);
    if (o === '>>>' && !(/^\d+$/.test(S(b)) && Number(S(b)) % 32 !== 0)) return V(`((${e}) | 0)`);
    return V(`(${e})`);
  }

  not(a: Val): Val {
    return V(`~${S(a)}`);
  }

  imul(a: Val, b: Val): Val {
    return V(`Math.imul(${S(a)}, ${S(b)})`);
  }

  div32(a: Val, b: Val, signed: boolean): Val {
    const x = this.bind(S(a));
    const y = this.bind(S(b));
    const q = signed ? `Math.trunc(${x} / ${y}) | 0` : `Math.floor((${x} >>> 0) / (${y} >>> 0)) | 0`;
    return V(this.bind(`${y} === 0 ? 0 : ${q}`));
  }

  temp(a: Val): Val {
    return V(this.bind(S(a)));
  }

  pairTemp(a: Pair): Pair {
    return { lo: this.temp(a.lo), hi: this.temp(a.hi) };
  }

  // ---- 64-bit arithmetic --------------------------------------------------------------------------

  add64(a: Pair, b: Pair, cin: 0 | 1, flags: boolean): Pair {
    const l = this.fresh('l');
    if (!flags) {
      this.emit(`const ${l} = (${S(a.lo)} >>> 0) + (${S(b.lo)} >>> 0) + ${cin};`);
      const rh = this.bind(`(${S(a.hi)} + ${S(b.hi)} + (${l} > 4294967295 ? 1 : 0)) | 0`);
      return { lo: V(this.bind(`${l} | 0`)), hi: V(rh) };
    }
    const ah = this.bind(S(a.hi));
    const bh = this.bind(S(b.hi));
    this.emit(`const ${l} = (${S(a.lo)} >>> 0) + (${S(b.lo)} >>> 0) + ${cin};`);
    const h = this.bind(`(${ah} >>> 0) + (${bh} >>> 0) + (${l} > 4294967295 ? 1 : 0)`, 'h');
    const rl = this.bind(`${l} | 0`);
    const rh = this.bind(`${h} | 0`);
    this.emit(`c.n = ${rh} >>> 31; c.z = (${rl} | ${rh}) === 0 ? 1 : 0; c.c = ${h} > 4294967295 ? 1 : 0; c.v = ((${ah} ^ ${rh}) & (${bh} ^ ${rh})) >>> 31;`);
    return { lo: V(rl), hi: V(rh) };
  }

  add32(a: Val, b: Val, cin: 0 | 1, flags: boolean): Val {
    if (!flags) return V(this.bind(`(${S(a)} + ${S(b)} + ${cin}) | 0`));
    const x = this.bind(S(a));
    const y = this.bind(S(b));
    const s = this.bind(`(${x} >>> 0) + (${y} >>> 0) + ${cin}`, 's');
    const r = this.bind(`${s} | 0`);
    this.emit(`c.n = ${r} >>> 31; c.z = ${r} === 0 ? 1 : 0; c.c = ${s} > 4294967295 ? 1 : 0; c.v = ((${x} ^ ${r}) & (${y} ^ ${r})) >>> 31;`);
    return V(r);
  }

  addK64(a: Pair, k: number): Pair {
    if (k === 0) return a;
    const l = this.fresh('l');
    let rh: string;
    if (k > 0) {
      this.emit(`const ${l} = (${S(a.lo)} >>> 0) + ${k};`);
      rh = this.bind(`(${S(a.hi)} + (${l} > 4294967295 ? 1 : 0)) | 0`);
    } else {
      this.emit(`const ${l} = (${S(a.lo)} >>> 0) - ${-k};`);
      rh = this.bind(`(${S(a.hi)} - (${l} < 0 ? 1 : 0)) | 0`);
    }
    return { lo: V(`(${l} | 0)`), hi: V(rh) };
  }

  shift64(type: number, a: Pair, n: number): Pair {
    if (n === 0) return a;
    const al = this.bind(S(a.lo));
    const ah = this.bind(S(a.hi));
    let lo: string;
    let hi: string;
    switch (type) {
      case 0:
        [lo, hi] = n < 32 ? [`(${al} << ${n})`, `((${ah} << ${n}) | (${al} >>> ${32 - n}))`] : ['0', `(${al} << ${n - 32})`];
        break;
      case 1:
        if (n < 32) [lo, hi] = [`((${al} >>> ${n}) | (${ah} << ${32 - n}))`, `((${ah} >>> ${n}) | 0)`];
        else [lo, hi] = [n === 32 ? ah : `((${ah} >>> ${n - 32}) | 0)`, '0'];
        break;
      case 2:
        if (n < 32) [lo, hi] = [`((${al} >>> ${n}) | (${ah} << ${32 - n}))`, `(${ah} >> ${n})`];
        else [lo, hi] = [`(${ah} >> ${n - 32})`, `(${ah} >> 31)`];
        break;
      default: {
        let p = al;
        let q = ah;
        let m = n;
        if (m >= 32) {
          p = ah;
          q = al;
          m -= 32;
          if (m === 0) return { lo: V(p), hi: V(q) };
        }
        [lo, hi] = [`((${p} >>> ${m}) | (${q} << ${32 - m}))`, `((${q} >>> ${m}) | (${p} << ${32 - m}))`];
      }
    }
    return { lo: V(lo), hi: V(hi) };
  }

  shift32(type: number, a: Val, n: number): Val {
    if (n === 0) return a;
    switch (type) {
      case 0:
        return V(`(${S(a)} << ${n})`);
      case 1:
        return V(`((${S(a)} >>> ${n}) | 0)`);
      case 2:
        return V(`(${S(a)} >> ${n})`);
      default: {
        const v = this.bind(S(a));
        return V(`((${v} >>> ${n}) | (${v} << ${32 - n}))`);
      }
    }
  }

  extend(m: number, option: number, sh: number): Pair {
    const r = this.z(m);
    let lo = S(r.lo);
    let hi = S(r.hi);
    let signed = false;
    switch (option) {
      case 0:
        lo = `(${lo} & 255)`;
        hi = '0';
        break;
      case 1:
        lo = `(${lo} & 65535)`;
        hi = '0';
        break;
      case 2:
        hi = '0';
        break;
      case 4:
        lo = `((${lo} << 24) >> 24)`;
        signed = true;
        break;
      case 5:
        lo = `((${lo} << 16) >> 16)`;
        signed = true;
        break;
      case 6:
        signed = true;
        break;
      default:
        break;
    }
    const el = this.bind(lo);
    const eh = this.bind(signed ? `${el} >> 31` : hi);
    return this.pairTemp(this.shift64(0, { lo: V(el), hi: V(eh) }, sh));
  }

  mul64(a: Pair, b: Pair): Pair {
    const al = this.bind(S(a.lo));
    const bl = this.bind(S(b.lo));
    // alu.ts mul64: al * bl in full from 16-bit halves (every partial sum exact below 2^53),
    // the cross products' low words added to the high word.
    const m = this.fresh('m');
    this.emit(`const ${m}a = (${al} & 65535) * (${bl} >>> 16), ${m}b = (${al} >>> 16) * (${bl} & 65535);`);
    this.emit(`const ${m}c = (((${al} & 65535) * (${bl} & 65535)) >>> 16) + (${m}a & 65535) + (${m}b & 65535);`);
    const hi = this.bind(`((${al} >>> 16) * (${bl} >>> 16) + (${m}a >>> 16) + (${m}b >>> 16) + (${m}c >>> 16) + Math.imul(${al}, ${S(b.hi)}) + Math.imul(${S(a.hi)}, ${bl})) | 0`);
    return { lo: V(this.bind(`Math.imul(${al}, ${bl})`)), hi: V(hi) };
  }

  mulHigh64(a: Pair, b: Pair, signed: boolean): Pair {
    this.emit(`K.${signed ? 'muls64' : 'mulu64'}(${S(a.lo)}, ${S(a.hi)}, ${S(b.lo)}, ${S(b.hi)});`);
    return { lo: V(this.bind('K.W[2]')), hi: V(this.bind('K.W[3]')) };
  }

  div64(a: Pair, b: Pair, signed: boolean): Pair {
    const al = this.bind(S(a.lo));
    const ah = this.bind(S(a.hi));
    const bl = this.bind(S(b.lo));
    const bh = this.bind(S(b.hi));
    const q = this.fresh('q');
    this.emit(`let ${q}l = 0, ${q}h = 0;`);
    // Operands below 2^53 in magnitude (the common case): one exact double division inline.
    const small = signed ? (h: string) => `((${h} + 2097152) >>> 0) < 4194304` : (h: string) => `(${h} >>> 0) < 2097152`;
    const num = (l: string, h: string) => (signed ? `${h} * 4294967296 + (${l} >>> 0)` : `(${h} >>> 0) * 4294967296 + (${l} >>> 0)`);
    this.emit(`if ((${bl} | ${bh}) === 0) {} else if (${small(ah)} && ${small(bh)}) {`);
    this.emit(`const ${q} = Math.${signed ? 'trunc' : 'floor'}((${num(al, ah)}) / (${num(bl, bh)})); ${q}l = ${q} | 0; ${q}h = Math.floor(${q} / 4294967296) | 0;`);
    this.emit(`} else { K.${signed ? 'divs64' : 'divu64'}(${al}, ${ah}, ${bl}, ${bh}); ${q}l = K.W[0]; ${q}h = K.W[1]; }`);
    return { lo: V(`${q}l`), hi: V(`${q}h`) };
  }

  // ---- flags and conditions -----------------------------------------------------------------------

  flagsLogic(r: Pair | Val): void {
    if (typeof r === 'object' && 'lo' in r) {
      const p = r as Pair;
      const lo = this.bind(S(p.lo));
      const hi = this.bind(S(p.hi));
      this.emit(`c.n = ${hi} >>> 31; c.z = (${lo} | ${hi}) === 0 ? 1 : 0; c.c = 0; c.v = 0;`);
      return;
    }
    const v = this.bind(S(r as Val));
    this.emit(`c.n = ${v} >>> 31; c.z = ${v} === 0 ? 1 : 0; c.c = 0; c.v = 0;`);
  }

  setNzcv(nzcv: number): void {
    this.emit(`c.n = ${nzcv >>> 3}; c.z = ${(nzcv >>> 2) & 1}; c.c = ${(nzcv >>> 1) & 1}; c.v = ${nzcv & 1};`);
  }

  cond(cond: number): Cond {
    let e: string;
    switch (cond >>> 1) {
      case 0:
        e = 'c.z === 1';
        break;
      case 1:
        e = 'c.c === 1';
        break;
      case 2:
        e = 'c.n === 1';
        break;
      case 3:
        e = 'c.v === 1';
        break;
      case 4:
        e = '(c.c === 1 && c.z === 0)';
        break;
      case 5:
        e = 'c.n === c.v';
        break;
      case 6:
        e = '(c.n === c.v && c.z === 0)';
        break;
      default:
        return C('true');
    }
    return C(cond & 1 ? `!(${e})` : e);
  }

  eq(a: Val, b: Val): Cond {
    return C(`${S(a)} === ${S(b)}`);
  }

  ne(a: Val, b: Val): Cond {
    return C(`${S(a)} !== ${S(b)}`);
  }

  when(c: Cond, then: () => void, otherwise?: () => void): void {
    this.emit(`if (${S(c)}) {`);
    then();
    if (otherwise) {
      this.emit('} else {');
      otherwise();
    }
    this.emit('}');
  }

  select(c: Cond, a: Pair, b: Pair): Pair {
    const s = this.bind(S(c), 's');
    return { lo: V(this.bind(`${s} ? ${S(a.lo)} : ${S(b.lo)}`)), hi: V(this.bind(`${s} ? ${S(a.hi)} : ${S(b.hi)}`)) };
  }

  // ---- registers ----------------------------------------------------------------------------------

  set(d: number, v: Pair, zr: boolean): void {
    if (zr && d === 31) return;
    let lo = S(v.lo);
    // The high half must not read the low half this statement overwrites.
    if (S(v.hi).includes(`x[${2 * d}]`)) lo = this.bind(lo);
    this.emit(`x[${2 * d}] = ${lo}; x[${2 * d + 1}] = ${S(v.hi)};`);
  }

  setHalf(d: number, half: 0 | 1, v: Val): void {
    this.emit(`x[${2 * d + half}] = ${S(v)};`);
  }

  // ---- memory -------------------------------------------------------------------------------------

  addr(v: number): Addr {
    return A(lit(v));
  }

  regOffset(m: number, kind: 'u' | 's' | 'x', scale: number): Addr {
    const r = this.z(m);
    let off = kind === 'x' ? `(${S(r.hi)} * 4294967296 + (${S(r.lo)} >>> 0))` : kind === 'u' ? `(${S(r.lo)} >>> 0)` : S(r.lo);
    if (scale !== 1) off = `${off} * ${scale}`;
    return A(off);
  }

  base(n: number, off: Addr): Addr {
    this.mayThrow = true;
    if (this.tbi !== 0) return A(this.bind(`K.baseAddr(c, ${n}) + ${S(off)}`, 'va'));
    if (n === 31 && this.spAlign) this.emit(`if ((x[${SP_LO}] & 15) !== 0) c.exception(${EC_SP_ALIGN}, 0);`);
    const r = this.x(n);
    return A(this.bind(`${S(r.hi)} * 4294967296 + (${S(r.lo)} >>> 0) + ${S(off)}`, 'va'));
  }

  offset(a: Addr, k: number): Addr {
    return k === 0 ? a : A(`${S(a)} + ${k}`);
  }

  load(size: number, ext: 'u' | 's32' | 's64', va: Addr): Pair {
    this.mayThrow = true;
    const at = S(va);
    if (size === 3) {
      this.emit(`c.read64(${at});`);
      return { lo: V(this.bind('c.rlo')), hi: V(this.bind('c.rhi')) };
    }
    let v: string;
    const signed = ext !== 'u';
    if (size === 0) v = signed ? `(c.read8(${at}) << 24) >> 24` : `c.read8(${at})`;
    else if (size === 1) v = signed ? `(c.read16(${at}) << 16) >> 16` : `c.read16(${at})`;
    else v = `c.read32(${at})`;
    const t = this.fresh('v');
    this.emit(`const ${t} = ${v};`);
    return { lo: V(t), hi: V(ext === 's64' ? `(${t} >> 31)` : '0') };
  }

  store(size: number, va: Addr, v: Pair): void {
    this.mayThrow = true;
    const at = S(va);
    switch (size) {
      case 0:
        this.emit(`c.write8(${at}, ${S(v.lo)} & 255);`);
        break;
      case 1:
        this.emit(`c.write16(${at}, ${S(v.lo)} & 65535);`);
        break;
      case 2:
        this.emit(`c.write32(${at}, ${S(v.lo)});`);
        break;
      default:
        this.emit(`c.write64(${at}, ${S(v.lo)}, ${S(v.hi)});`);
    }
  }

  writeback(n: number, k: number): void {
    if (k === 0) return;
    this.set(n, this.addK64(this.x(n), k), false);
  }

  // ---- control flow -------------------------------------------------------------------------------

  /** Leaves the block at a constant pc after this instruction. */
  private exitAt(pc: number): string {
    return `c.pc = ${lit(pc)}; c.retired += ${this.idx + 1}; return;`;
  }

  jump(target: number): void {
    this.left = true;
    const n = this.n;
    if (this.loop && target === this.va) this.emit(`c.retired += ${n}; lim -= ${n}; if (lim < ${n}) { c.pc = ${lit(this.va)}; return; } continue;`);
    else this.emit(this.exitAt(target));
  }

  jumpIf(c: Cond, target: number): void {
    this.when(c, () => this.jump(target));
  }

  jumpReg(r: number, link: boolean): void {
    this.left = true;
    const t = this.z(r);
    const ret = this.k64(this.pc + 4);
    this.emit(`{ const t = ${S(t.hi)} * 4294967296 + (${S(t.lo)} >>> 0);${link ? ` x[${LR_LO}] = ${S(ret.lo)}; x[${LR_LO + 1}] = ${S(ret.hi)};` : ''} c.pc = t; if ((t & 3) !== 0) c.fetchVa = NaN; c.retired += ${this.idx + 1}; return; }`);
  }

  /** Falls off the end of the block: continue at `pc`. */
  leave(pc: number): void {
    this.out.push(`c.pc = ${lit(pc)}; c.retired += ${this.n}; return;`);
  }

  // ---- instructions -------------------------------------------------------------------------------

  begin(pc: number, w: number, k: number): void {
    this.pc = pc;
    this.w = w;
    this.idx = k;
    this.cur = [];
    this.mayThrow = false;
    this.left = false;
  }

  /** What the interpreter would hold if this instruction faults, exits or fails. */
  private view(): string {
    return `c.insnPc = ${lit(this.pc)}; c.insn = ${this.w}; c.pc = ${lit(this.pc + 4)};`;
  }

  commit(): void {
    const last = this.idx === this.n - 1;
    if (this.left) {
      if (!last) throw new Error('a branch before the end of a block');
      this.out.push(...this.cur);
      return;
    }
    if (this.mayThrow) this.out.push(this.view());
    this.out.push(`{ ${this.cur.join(' ')} }`);
    if (this.mayThrow) this.out.push(`if (c.stop !== 0) { ${this.exitAt(this.pc + 4)} }`);
  }

  rollback(): void {
    this.cur = [];
    this.mayThrow = false;
    this.left = false;
  }

  call(id: number, w: number, kind: CallKind): void {
    const h = `H[${id}](c, ${w});`;
    switch (kind) {
      case CALL.PURE:
        this.out.push(h);
        return;
      case CALL.END:
        this.out.push(`${this.view()} ${h} c.retired += ${this.idx + 1}; return;`);
        return;
      default:
        this.out.push(`${this.view()} ${h}`);
        if (kind === CALL.MEM) this.out.push(`if (c.stop !== 0) { ${this.exitAt(this.pc + 4)} }`);
    }
  }
}
