/**
 * The JS writer behind the arm64 JIT's {@link Emitter}: a *region* of cached blocks (a hot block
 * and the warm blocks its direct branches, calls and return sites reach, jit.ts) becomes the
 * source of one `function (c, lim)`, run with `H` (the interpreter's handlers), `K` (helpers),
 * `B` (the region's Block objects) and `T` (the dispatch table) in scope.
 *
 * - Control moves between the region's blocks inside the function (`switch` on the block index
 *   in a loop): direct branches, BL, and BR/BLR/RET whose target is a return site of the region.
 *   A move to another block checks what the run loop would (it is still the dispatch table's
 *   entry for its address and valid for this KVM_RUN's epoch and mode, no interrupt is waiting)
 *   and the instruction budget `lim`; otherwise the function returns with the PC there.
 * - X registers (and SP as register 31) and NZCV live in JS locals (`L<r>`/`H<r>` halves, `fN`..`fV`):
 *   loaded at entry, written back at the exit, and around whatever can see the register file —
 *   a handler call (stored before, reloaded after) or a memory access's slow path (stored before:
 *   it may fault, and a fault reads the registers).
 * - Loads and stores probe the software TLB inline (Cpu.read8..write64's fast path); only a miss
 *   (or an unaligned access) sets the interpreter's view of the instruction (insnPc, insn, pc:
 *   what a fault or exit reports), brings `c.retired` up to date and calls Cpu.readSlow/writeSlow,
 *   after which a stop (Cpu.stop: code it overwrote was dropped, or an MMIO exit) leaves.
 *   Code pages are never in the write TLB, so a store that hits it cannot have changed code.
 * - `c.retired` is exact wherever something can throw: the count is brought up to date first.
 * @module
 */
import { div64Js, mul128Js, mul64HiJs } from '../arith64-js.js';
import { SP_SLOT } from './state.js';
import { CALL, type Addr, type CallKind, type Cond, type Emitter, type Op, type Pair, type Val } from './emit.js';

const TWO32 = 4294967296;
/** ESR_ELx.EC of an SP alignment fault. */
const EC_SP_ALIGN = 0x26;

const lit = (v: number): string => (Object.is(v, -0) ? '0' : String(v));
const V = (s: string) => s as unknown as Val;
const S = (v: Val | Addr | Cond) => v as unknown as string;
const A = (s: string) => s as unknown as Addr;
const C = (s: string) => s as unknown as Cond;
/** Register locals change as the code runs: not safe to repeat where a snapshot is meant. */
const isReg = (s: string) => /^[LH]\d+$/.test(s);
/** An identifier or a numeric literal: safe to repeat. */
const atom = (s: string) => /^(?:[A-Za-z_$][\w$]*|-?\d+)$/.test(s) && !isReg(s);
/** Cpu.x slot of register r's low half (31 is SP). */
const slot = (r: number) => (r === 31 ? SP_SLOT : 2 * r);

/** Placeholders for the register write-back and reload, filled in once the region is written. */
const SYNC_OUT = '\u0001O\u0001';
const SYNC_IN = '\u0001I\u0001';

/** One block of a region: its address and length. */
export interface RegionBlock {
  readonly va: number;
  readonly len: number;
  /** Its index in the dispatch table. */
  readonly slot: number;
}

export class JsEmitter implements Emitter {
  private readonly out: string[] = [];
  /** Statements of the current instruction. */
  private cur: string[] = [];
  private pc = 0;
  private w = 0;
  private idx = 0;
  /** The current block (index into `blocks`) and its length. */
  private s = 0;
  private len = 0;
  /** The current instruction left the block (a branch). */
  private left = false;
  private temps = 0;
  /** Registers read or written (bit r; SP is 31), and written. */
  private used = 0;
  private written = 0;
  private flagsUsed = false;
  private flagsWritten = false;
  /** Block index by address. */
  private readonly index = new Map<number, number>();
  /** Blocks that follow a BL of the region (predicted targets of returns). */
  private readonly returnSites: number[] = [];

  constructor(
    /** The region: its entry first. */
    private readonly blocks: readonly RegionBlock[],
    readonly tbi: number,
    readonly spAlign: boolean,
  ) {
    blocks.forEach((b, i) => this.index.set(b.va, i));
  }

  /** Block `s` starts (jit.ts generate calls it before the block's instructions). */
  beginBlock(s: number): void {
    const b = this.blocks[s]!;
    this.s = s;
    this.len = b.len;
    this.out.push(`case ${s}: {`, `if (done + ${b.len} > lim) { c.pc = ${lit(b.va)}; break out; }`);
  }

  /** Block `s` ends (its last instruction left it). */
  endBlock(): void {
    this.out.push('}');
  }

  /** The return address of a BL at the end of some block: a predicted return target. */
  noteReturnSite(va: number): void {
    const i = this.index.get(va);
    if (i !== undefined && !this.returnSites.includes(i)) this.returnSites.push(i);
  }

  /** The finished source (the body of `function (H, K, B, T)`). */
  source(): string {
    const used: number[] = [];
    const written: number[] = [];
    for (let r = 0; r < 32; r++) {
      if ((this.used >>> r) & 1) used.push(r);
      if ((this.written >>> r) & 1) written.push(r);
    }
    const flagNames = ['n', 'z', 'c', 'v'];
    const syncOut = [
      ...written.map((r) => `x[${slot(r)}] = L${r}; x[${slot(r) + 1}] = H${r};`),
      ...(this.flagsWritten ? flagNames.map((f) => `c.${f} = f${f.toUpperCase()};`) : []),
    ].join(' ');
    const syncIn = [
      ...used.map((r) => `L${r} = x[${slot(r)}]; H${r} = x[${slot(r) + 1}];`),
      ...(this.flagsUsed ? flagNames.map((f) => `f${f.toUpperCase()} = c.${f};`) : []),
    ].join(' ');
    const decls = [
      ...used.map((r) => `let L${r} = x[${slot(r)}], H${r} = x[${slot(r) + 1}];`),
      ...(this.flagsUsed ? [`let fN = c.n, fZ = c.z, fC = c.c, fV = c.v;`] : []),
    ];
    const head = [
      '"use strict";',
      ...this.blocks.map((_, i) => `const B${i} = B[${i}];`),
      `const BS = [${this.blocks.map((_, i) => `B${i}`).join(', ')}];`,
      `const TS = Int32Array.of(${this.blocks.map((b) => b.slot).join(', ')});`,
      `const VS = [${this.blocks.map((b) => lit(b.va)).join(', ')}];`,
      // Named after its entry's address (low 32 bits), for profiles and deoptimization traces.
      `return function a64_${(this.blocks[0]!.va >>> 0).toString(16)}(c, lim) {`,
      'const x = c.x, key = c.jitKey, tb = c.tlbBase, rT = c.rTag, rD = c.rDv, rO = c.rOff, wT = c.wTag, wD = c.wDv, wO = c.wOff;',
      ...decls,
      'let s = 0, done = 0;',
      'out: for (;;) { switch (s) {',
    ];
    const tail = ['default: break out;', '} }', 'c.retired += done;', syncOut, '};'];
    return [...head, ...this.out, ...tail].join('\n').replaceAll(SYNC_OUT, syncOut).replaceAll(SYNC_IN, syncIn);
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

  private reg(r: number): Pair {
    this.used |= 1 << r;
    return { lo: V(`L${r}`), hi: V(`H${r}`) };
  }

  private setFlags(n: string, z: string, c: string, v: string): void {
    this.flagsUsed = this.flagsWritten = true;
    this.emit(`fN = ${n}; fZ = ${z}; fC = ${c}; fV = ${v};`);
  }

  // ---- values -------------------------------------------------------------------------------------

  k(v: number): Val {
    return V(lit(v | 0));
  }

  k64(v: number): Pair {
    return { lo: V(lit(v | 0)), hi: V(lit(Math.floor(v / TWO32) | 0)) };
  }

  x(r: number): Pair {
    return this.reg(r);
  }

  z(r: number): Pair {
    return r === 31 ? { lo: V('0'), hi: V('0') } : this.reg(r);
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
    this.setFlags(`${rh} >>> 31`, `(${rl} | ${rh}) === 0 ? 1 : 0`, `${h} > 4294967295 ? 1 : 0`, `((${ah} ^ ${rh}) & (${bh} ^ ${rh})) >>> 31`);
    return { lo: V(rl), hi: V(rh) };
  }

  add32(a: Val, b: Val, cin: 0 | 1, flags: boolean): Val {
    if (!flags) return V(this.bind(`(${S(a)} + ${S(b)} + ${cin}) | 0`));
    const x = this.bind(S(a));
    const y = this.bind(S(b));
    const s = this.bind(`(${x} >>> 0) + (${y} >>> 0) + ${cin}`, 's');
    const r = this.bind(`${s} | 0`);
    this.setFlags(`${r} >>> 31`, `${r} === 0 ? 1 : 0`, `${s} > 4294967295 ? 1 : 0`, `((${x} ^ ${r}) & (${y} ^ ${r})) >>> 31`);
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
    const lo = this.bind(`Math.imul(${al}, ${bl})`);
    const hi = this.bind(mul64HiJs(al, S(a.hi), bl, S(b.hi), lo));
    return { lo: V(lo), hi: V(hi) };
  }

  mulHigh64(a: Pair, b: Pair, signed: boolean): Pair {
    // arith64.ts mulu64 / muls64 inline (no call, no W round trip).
    const m = this.fresh('u');
    this.emit(mul128Js(m, this.bind(S(a.lo)), this.bind(S(a.hi)), this.bind(S(b.lo)), this.bind(S(b.hi)), signed));
    return { lo: V(`${m}w2`), hi: V(`${m}w3`) };
  }

  div64(a: Pair, b: Pair, signed: boolean): Pair {
    const al = this.bind(S(a.lo));
    const ah = this.bind(S(a.hi));
    const bl = this.bind(S(b.lo));
    const bh = this.bind(S(b.hi));
    const q = this.fresh('q');
    // Inline where no call is needed; a zero divisor gives 0.
    this.emit(div64Js(q, al, ah, bl, bh, signed, '', `if ((${bl} | ${bh}) !== 0) { K.${signed ? 'divs64' : 'divu64'}(${al}, ${ah}, ${bl}, ${bh}); ${q}l = K.W[0]; ${q}h = K.W[1]; }`));
    return { lo: V(`${q}l`), hi: V(`${q}h`) };
  }

  // ---- flags and conditions -----------------------------------------------------------------------

  flagsLogic(r: Pair | Val): void {
    if (typeof r === 'object' && 'lo' in r) {
      const p = r as Pair;
      const lo = this.bind(S(p.lo));
      const hi = this.bind(S(p.hi));
      this.setFlags(`${hi} >>> 31`, `(${lo} | ${hi}) === 0 ? 1 : 0`, '0', '0');
      return;
    }
    const v = this.bind(S(r as Val));
    this.setFlags(`${v} >>> 31`, `${v} === 0 ? 1 : 0`, '0', '0');
  }

  setNzcv(nzcv: number): void {
    this.setFlags(`${nzcv >>> 3}`, `${(nzcv >>> 2) & 1}`, `${(nzcv >>> 1) & 1}`, `${nzcv & 1}`);
  }

  cond(cond: number): Cond {
    let e: string;
    switch (cond >>> 1) {
      case 0:
        e = 'fZ === 1';
        break;
      case 1:
        e = 'fC === 1';
        break;
      case 2:
        e = 'fN === 1';
        break;
      case 3:
        e = 'fV === 1';
        break;
      case 4:
        e = '(fC === 1 && fZ === 0)';
        break;
      case 5:
        e = 'fN === fV';
        break;
      case 6:
        e = '(fN === fV && fZ === 0)';
        break;
      default:
        return C('true');
    }
    this.flagsUsed = true;
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
    this.used |= 1 << d;
    this.written |= 1 << d;
    let lo = S(v.lo);
    // The high half must not read the low half this statement overwrites.
    if (new RegExp(`\\bL${d}\\b`).test(S(v.hi))) lo = this.bind(lo);
    this.emit(`L${d} = ${lo}; H${d} = ${S(v.hi)};`);
  }

  setHalf(d: number, half: 0 | 1, v: Val): void {
    this.used |= 1 << d;
    this.written |= 1 << d;
    this.emit(`${half ? 'H' : 'L'}${d} = ${S(v)};`);
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

  /**
   * What a slow path does before it calls something that may fault or exit: the interpreter's
   * view of the instruction, `c.retired` brought up to this instruction, registers stored.
   */
  private slowEntry(): string {
    const k = this.idx;
    return `c.insnPc = ${lit(this.pc)}; c.insn = ${this.w}; c.pc = ${lit(this.pc + 4)}; c.retired += done + ${k}; lim -= done + ${k}; done = ${-k}; ${SYNC_OUT}`;
  }

  /** Leaves after this instruction (a stop). */
  private stopExit(): string {
    return `if (c.stop !== 0) { done += ${this.idx + 1}; c.pc = ${lit(this.pc + 4)}; break out; }`;
  }

  base(n: number, off: Addr): Addr {
    const r = this.x(n);
    let hi = S(r.hi);
    if (this.tbi === 3) hi = `((${hi} << 8) >> 8)`;
    else if (this.tbi === 1) hi = `((${hi} & 8388608) === 0 ? (${hi} << 8) >> 8 : ${hi})`;
    else if (this.tbi === 2) hi = `((${hi} & 8388608) !== 0 ? (${hi} << 8) >> 8 : ${hi})`;
    if (n === 31 && this.spAlign) this.emit(`if ((${S(r.lo)} & 15) !== 0) { ${this.slowEntry()} c.exception(${EC_SP_ALIGN}, 0); }`);
    return A(this.bind(`${hi} * 4294967296 + (${S(r.lo)} >>> 0) + ${S(off)}`, 'va'));
  }

  offset(a: Addr, k: number): Addr {
    return k === 0 ? a : A(`${S(a)} + ${k}`);
  }

  /** The last TLB probe of the current instruction (a pair's second access reuses it). */
  private lastProbe: { at: string; size: number; write: boolean; vp: string; ti: string } | null = null;

  /**
   * The TLB probe of `va` (bound) for an access of `1 << size` bytes: the hit condition and the
   * host offset expression. The second access of a pair (`va` = the first's address + its size)
   * reuses the first's probe when both lie in one page.
   */
  private probe(raw: string, at: string, size: number, write: boolean): { hit: string; o: string; ti: string } {
    const tag = write ? 'wT' : 'rT';
    const off = write ? 'wO' : 'rO';
    const bytes = 1 << size;
    const p = this.lastProbe;
    if (p !== null && p.size === size && p.write === write && raw === `${p.at} + ${bytes}`) {
      return {
        hit: `${tag}[${p.ti}] === ${p.vp}${size > 0 ? ` && (${p.at} & ${bytes - 1}) === 0` : ''} && (${p.at} & 4095) <= ${4096 - 2 * bytes}`,
        o: `${off}[${p.ti}] + (${p.at} & 4095) + ${bytes}`,
        ti: p.ti,
      };
    }
    const vp = this.fresh('p');
    const ti = this.fresh('i');
    // Multiplying by 2^-12 is exact (a division would cost more).
    this.emit(`const ${vp} = Math.floor(${at} * 0.000244140625), ${ti} = (${vp} & 255) | tb;`);
    this.lastProbe = { at, size, write, vp, ti };
    return { hit: `${tag}[${ti}] === ${vp}${size > 0 ? ` && (${at} & ${bytes - 1}) === 0` : ''}`, o: `${off}[${ti}] + (${at} & 4095)`, ti };
  }

  load(size: number, ext: 'u' | 's32' | 's64', va: Addr): Pair {
    const at = this.bind(S(va), 'va');
    const { hit, o, ti } = this.probe(S(va), at, size, false);
    if (size === 3) {
      const lo = this.fresh('v');
      const hi = this.fresh('v');
      this.emit(`let ${lo}, ${hi}; if (${hit}) { const d = rD[${ti}], o = ${o}; ${lo} = d.getInt32(o, true); ${hi} = d.getInt32(o + 4, true); }`);
      this.emit(`else { ${this.slowEntry()} c.readSlow(${at}, 8); ${this.stopExit()} ${lo} = c.rlo; ${hi} = c.rhi; }`);
      return { lo: V(lo), hi: V(hi) };
    }
    const get = size === 0 ? 'getUint8' : size === 1 ? 'getUint16' : 'getInt32';
    const le = size === 0 ? '' : ', true';
    const t = this.fresh('v');
    this.emit(`let ${t}; if (${hit}) ${t} = rD[${ti}].${get}(${o}${le}); else { ${this.slowEntry()} ${t} = c.readSlow(${at}, ${1 << size}); ${this.stopExit()} }`);
    let v = t;
    if (ext !== 'u' && size < 2) v = this.bind(size === 0 ? `(${t} << 24) >> 24` : `(${t} << 16) >> 16`);
    return { lo: V(v), hi: V(ext === 's64' ? `(${v} >> 31)` : '0') };
  }

  store(size: number, va: Addr, v: Pair): void {
    const at = this.bind(S(va), 'va');
    const lo = this.bind(size === 0 ? `${S(v.lo)} & 255` : size === 1 ? `${S(v.lo)} & 65535` : S(v.lo));
    const hi = size === 3 ? this.bind(S(v.hi)) : '0';
    const { hit, o, ti } = this.probe(S(va), at, size, true);
    let fast: string;
    switch (size) {
      case 0:
        fast = `wD[${ti}].setUint8(${o}, ${lo});`;
        break;
      case 1:
        fast = `wD[${ti}].setUint16(${o}, ${lo}, true);`;
        break;
      case 2:
        fast = `wD[${ti}].setInt32(${o}, ${lo}, true);`;
        break;
      default:
        fast = `{ const d = wD[${ti}], o = ${o}; d.setInt32(o, ${lo}, true); d.setInt32(o + 4, ${hi}, true); }`;
    }
    this.emit(`if (${hit}) ${fast} else { ${this.slowEntry()} c.writeSlow(${at}, ${1 << size}, ${lo}, ${hi}); ${this.stopExit()} }`);
  }

  writeback(n: number, k: number): void {
    if (k === 0) return;
    this.set(n, this.addK64(this.x(n), k), false);
  }

  // ---- control flow -------------------------------------------------------------------------------

  /** Leaves the current block for `target` (after its last instruction): inside the region when it can. */
  private goto(target: number): string {
    const m = this.index.get(target);
    const done = `done += ${this.len};`;
    if (m === undefined) return `${done} c.pc = ${lit(target)}; break out;`;
    // Looping on itself: the block is running, so it is still valid (a store that dropped it stopped it).
    if (m === this.s) return `${done} continue out;`;
    return `${done} if (T[${this.blocks[m]!.slot}] !== B${m} || B${m}.key !== key || c.attn !== 0) { c.pc = ${lit(target)}; break out; } s = ${m}; continue out;`;
  }

  jump(target: number): void {
    this.left = true;
    this.emit(this.goto(target));
  }

  jumpIf(c: Cond, target: number): void {
    this.when(c, () => this.jump(target));
  }

  jumpReg(r: number, link: boolean): void {
    this.left = true;
    const t = this.z(r);
    const tv = this.bind(`${S(t.hi)} * 4294967296 + (${S(t.lo)} >>> 0)`, 'j');
    if (link) {
      const ret = this.k64(this.pc + 4);
      this.set(30, { lo: ret.lo, hi: ret.hi }, false);
    }
    this.emit(`done += ${this.len}; if ((${tv} & 3) !== 0) { c.pc = ${tv}; c.fetchVa = NaN; break out; }`);
    // A return to a block of the region (a BL's return site) stays inside.
    const sites = this.returnSites;
    if (sites.length > 0) {
      const pick = sites.map((i) => `${tv} === ${lit(this.blocks[i]!.va)} ? ${i} : `).join('') + '-1';
      this.emit(`const m = ${pick}; if (m < 0 || T[TS[m]] !== BS[m] || BS[m].key !== key || c.attn !== 0) { c.pc = ${tv}; break out; } s = m; continue out;`);
    } else this.emit(`c.pc = ${tv}; break out;`);
  }

  /** Falls off the end of the block: continue at `pc`. */
  leave(pc: number): void {
    this.out.push(`{ ${this.goto(pc)} }`);
  }

  // ---- instructions -------------------------------------------------------------------------------

  begin(pc: number, w: number, k: number): void {
    this.pc = pc;
    this.w = w;
    this.idx = k;
    this.cur = [];
    this.left = false;
    this.lastProbe = null;
  }

  commit(): void {
    if (this.left && this.idx !== this.len - 1) throw new Error('a branch before the end of a block');
    this.out.push(`{ ${this.cur.join(' ')} }`);
  }

  rollback(): void {
    this.cur = [];
    this.left = false;
  }

  call(id: number, w: number, kind: CallKind): void {
    const h = `H[${id}](c, ${w});`;
    const k = this.idx;
    switch (kind) {
      case CALL.PURE:
        this.out.push(`${SYNC_OUT} ${h} ${SYNC_IN}`);
        return;
      case CALL.END:
        // The handler sets the PC; what it wrote to the register file stands.
        this.out.push(`${this.slowEntry()} ${h} c.retired += 1; return;`);
        return;
      default:
        this.out.push(`${this.slowEntry()} ${h} ${SYNC_IN}`);
        if (kind === CALL.MEM) this.out.push(`if (c.stop !== 0) { done += ${k + 1}; c.pc = ${lit(this.pc + 4)}; break out; }`);
    }
  }
}
