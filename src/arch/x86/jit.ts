/**
 * The x86 block JIT: a decoded block (blocks.ts) translated into one specialised JS function
 * (`new Function`) once it is hot.
 *
 * - Inline: MOV/MOVZX/MOVSX/MOVSXD/LEA, ADD/SUB/AND/OR/XOR/CMP/TEST, INC/DEC, SHL/SHR/SAR by an
 *   immediate, IMUL, 32/64-bit MUL/DIV/IDIV and CWD/CDQ/CQO (arith64, no BigInt), NOP, and in 64-bit mode PUSH/POP of a register, near CALL/JMP/RET/Jcc. Their
 *   operand forms are fixed at translation time: registers become Int32Array slots, memory
 *   operands an address expression. Everything else calls the interpreter's handler with its
 *   decoded `Insn` (the same semantics by construction; LOCK-prefixed forms always do).
 * - Flags stay lazy (the interpreter's `Flags` record is written as it would be). A Jcc whose flags
 *   come from an inline ALU instruction of the same block tests the operands directly.
 * - A block ending in a Jcc back to its own start becomes a loop inside its function, bounded by
 *   the instruction limit it is given.
 * - RIP is written only where it can be observed: before a handler call, at the block's exits,
 *   and (through the catch) when an inline instruction faults; `c.jitN` then tells how many
 *   retired. A handler that throws leaves RIP as it set it, as in the interpreter.
 * - Stores check after themselves whether they hit translated code (self-modifying code: the
 *   block stops at once, the next instruction is decoded afresh) or MMIO (the exit follows the
 *   instruction, as in the interpreter).
 * @module
 */
import { divs128, divu128, muls64, mulu64, W } from '../arith64.js';
import { VEC, type X86Cpu } from './cpu.js';
import { K_IMM, K_MEM, K_REG, mnemonic, type Insn } from './decoder.js';
import { ea, HANDLERS } from './exec/index.js';
import { FOp, type Flags } from './flags.js';
import { cwd, imul64, muldiv } from './jit-muldiv.js';
import type { X86State } from './state.js';

/** What translated code reads of the run loop (X86Machine). */
export interface JitHost {
  /** Set when the instruction that just ran ends the run (an MMIO write, a debug exit...). */
  stopReason: number;
  /** Set when a store dropped decoded code (the rest of the block may be stale). */
  blockStale: boolean;
}

/** A translated block: runs it (looping while `lim` instructions allow) and returns instructions retired. */
export type X86BlockFn = (c: X86Cpu, s: X86State, R: Int32Array, f: Flags, m: JitHost, lim: number) => number;

type Factory = (I: readonly Insn[], H: typeof HANDLERS, K: typeof HELPERS) => X86BlockFn;

/** Execution mode a translation is specialised for (a block's modeKey decides it). */
export interface JitMode {
  readonly long64: boolean;
  readonly def32: boolean;
}

const MN = (n: string) => mnemonic(n);
export const M = {
  MOV: MN('MOV'), MOVZX: MN('MOVZX'), MOVSX: MN('MOVSX'), MOVSXD: MN('MOVSXD'), LEA: MN('LEA'),
  ADD: MN('ADD'), SUB: MN('SUB'), AND: MN('AND'), OR: MN('OR'), XOR: MN('XOR'), CMP: MN('CMP'), TEST: MN('TEST'),
  INC: MN('INC'), DEC: MN('DEC'), SHL: MN('SHL'), SHR: MN('SHR'), SAR: MN('SAR'), NOP: MN('NOP'),
  IMUL: MN('IMUL'), MUL: MN('MUL'), DIV: MN('DIV'), IDIV: MN('IDIV'), CWD: MN('CWD'), CMOVCC: MN('CMOVcc'), SETCC: MN('SETcc'),
  PUSH: MN('PUSH'), POP: MN('POP'), CALL: MN('CALL'), RET: MN('RET'), JMP: MN('JMP'), JCC: MN('Jcc'),
};

const FS = 4;
const GS = 5;
const RSP = 4;
/** Canonical address bounds (48-bit). */
const CANON_LO = -0x800000000000;
const CANON_HI = 0x800000000000;
const TWO32 = 4294967296;

/** Helpers translated code reaches through `K`. */
const HELPERS = {
  /** The interpreter's exact address path (wrap-around, non-canonical #GP/#SS, segment checks). */
  lin: (c: X86Cpu, i: Insn, size: number, write: boolean) => c.linear(i.seg, ea(c, i), size, write),
  /** 64x64 -> 128 multiply and 128/64 divide without BigInt (src/arch/arith64.ts), results in W. */
  mulu64,
  muls64,
  divu128,
  divs128,
  W,
  /** #DE (a zero divisor or a quotient that does not fit). */
  de: (c: X86Cpu): never => c.raise(VEC.DE),
};

/** Source -> factory: vCPUs (and VMs) running the same code share the compiled JS. */
const factories = new Map<string, Factory>();
const FACTORY_LIMIT = 2048;

const isCanonical = (a: number) => a >= CANON_LO && a < CANON_HI;

/** One instruction's translation context. */
export interface Ctx {
  readonly i: Insn;
  readonly k: number;
  /** Instructions in the block. */
  readonly n: number;
  /** The statement that leaves the block right after this instruction (RIP and count set). */
  readonly exitAfter: string;
  /** The statement that leaves the block before this instruction (it has not retired). */
  readonly exitBefore: string;
}

/** The last inline flag-writing instruction: its operand variables, for fused Jcc conditions. */
interface FlagSrc {
  readonly kind: 'sub' | 'add' | 'logic' | 'incdec';
  readonly size: number;
  readonly a: string;
  readonly b: string;
  readonly r: string;
  /** High halves for size 8. */
  readonly ah: string;
  readonly bh: string;
  readonly rh: string;
}

const MASKS = [0, 255, 65535, 0, -1];
const SIGNS = [0, 0x80, 0x8000, 0, 0];

/** Translates decoded blocks for one execution mode. */
export class X86Translator {
  private out: string[] = [];
  private flags: FlagSrc | null = null;
  private rip0 = false;

  constructor(private readonly mode: JitMode) {}

  /** Translates `insns` (a block starting at insns[0].addr); throws on an internal error. */
  translate(insns: readonly Insn[]): X86BlockFn {
    const src = this.source(insns);
    let factory = factories.get(src);
    if (factory === undefined) {
      factory = new Function('I', 'H', 'K', src) as Factory;
      if (factories.size >= FACTORY_LIMIT) factories.clear();
      factories.set(src, factory);
    }
    return factory(insns, HANDLERS, HELPERS);
  }

  /** The factory body (exported for tests and debugging). */
  source(insns: readonly Insn[]): string {
    this.out = [];
    this.flags = null;
    const n = insns.length;
    const last = insns[n - 1]!;
    const start = insns[0]!.addr;
    const loop = this.mode.long64 && last.mn === M.JCC && last.osz === 8 && last.imm === start && n > 1;
    this.rip0 = !this.mode.long64;
    const body: string[] = [];
    this.out = body;
    for (let k = 0; k < n; k++) {
      const i = insns[k]!;
      const ctx: Ctx = { i, k, n, exitAfter: `{ s.rip = ${this.ripAfter(insns, k)}; return n + ${k + 1}; }`, exitBefore: `{ c.exitNow = false; s.rip = ${this.ripAt(insns, i.addr)}; return n + ${k}; }` };
      if (k === n - 1 && loop) break;
      this.insn(ctx, insns, k === n - 1);
    }
    const head = [
      'return function blk(c, s, R, f, m, lim) {',
      '  var n = 0, k = 0, h = 0, L = 0, v = 0, w = 0, t = 0;',
      this.rip0 ? '  var rip0 = s.rip;' : '',
      '  try {',
    ];
    const tail: string[] = [];
    if (loop) {
      const cond = this.cond(last.cond);
      head.push('  for (;;) {');
      tail.push(`  n += ${n};`);
      tail.push(`  if (!(${cond})) { s.rip = ${last.addr + last.len}; return n; }`);
      tail.push(`  if (n + ${n} > lim) { s.rip = ${start}; return n; }`);
      tail.push('  }');
    }
    const ripOf = this.mode.long64 ? 'I[k].addr' : `K_rip(rip0, I[k].addr - ${start})`;
    const catchPart = [
      '  } catch (e) {',
      `    if (h === 0) s.rip = ${ripOf};`,
      '    c.lastInsn = I[k]; c.jitN = n + k;',
      '    throw e;',
      '  }',
      '};',
    ];
    const ripFn = this.mode.long64 ? '' : `function K_rip(r0, d) { return ${this.mode.def32 ? '(r0 + d) >>> 0' : '(r0 + d) & 65535'}; }\n`;
    return ripFn + [...head, ...body, ...tail, ...catchPart].join('\n');
  }

  // ---------------------------------------------------------------------------------------------

  /** RIP after instruction k as an expression. */
  private ripAfter(insns: readonly Insn[], k: number): string {
    const i = insns[k]!;
    return this.ripAt(insns, i.addr + i.len);
  }

  private ripAt(insns: readonly Insn[], linear: number): string {
    if (this.mode.long64) return String(linear);
    const d = linear - insns[0]!.addr;
    return this.mode.def32 ? `((rip0 + ${d}) >>> 0)` : `((rip0 + ${d}) & 65535)`;
  }

  /** (jit-muldiv.ts emits through emit, decl, read and clearFlags.) */
  emit(line: string): void {
    this.out.push(line);
  }

  clearFlags(): void {
    this.flags = null;
  }

  private insn(x: Ctx, insns: readonly Insn[], isLast: boolean): void {
    const i = x.i;
    if (i.bad || i.mn < 0 || i.lock || !this.inline(x, insns, isLast)) this.fallback(x, insns, isLast);
  }

  /** The handler call: RIP, lastInsn and next set as the interpreter does, then its checks. */
  private fallback(x: Ctx, insns: readonly Insn[], isLast: boolean): void {
    const { i, k } = x;
    this.flags = null;
    this.emit(`k = ${k}; s.rip = ${this.ripAt(insns, i.addr)}; c.lastInsn = I[${k}]; c.next = ${this.ripAfter(insns, k)};`);
    // h: a handler runs; if it throws, RIP is what it left (as in the interpreter).
    this.emit(`h = 1; H[${i.mn}](c, I[${k}]); h = 0;`);
    this.emit(`if (c.exitNow) { c.exitNow = false; return n + ${k}; }`);
    this.emit('s.rip = c.next;');
    if (isLast) this.emit(`return n + ${k + 1};`);
    else this.emit(`if (m.stopReason !== 0 || m.blockStale || c.softVector >= 0 || s.rip !== ${this.ripAfter(insns, k)}) return n + ${k + 1};`);
  }

  /** Emits the inline translation of x.i, or returns false for the handler call. */
  private inline(x: Ctx, insns: readonly Insn[], isLast: boolean): boolean {
    const i = x.i;
    const mn = i.mn;
    const long = this.mode.long64;
    let ok: boolean;
    switch (mn) {
      case M.NOP:
        ok = true;
        break;
      case M.MOV:
        ok = this.mov(x);
        break;
      case M.MOVZX:
      case M.MOVSX:
      case M.MOVSXD:
        ok = this.movx(x);
        break;
      case M.LEA:
        ok = this.lea(x);
        break;
      case M.ADD:
      case M.SUB:
      case M.AND:
      case M.OR:
      case M.XOR:
      case M.CMP:
      case M.TEST:
        ok = this.alu(x);
        break;
      case M.INC:
      case M.DEC:
        ok = this.incdec(x);
        break;
      case M.SHL:
      case M.SHR:
      case M.SAR:
        ok = this.shift(x);
        break;
      case M.IMUL:
        ok = i.nops === 1 ? muldiv(this, x) : i.size[0] === 8 ? imul64(this, x) : this.imul(x);
        break;
      case M.MUL:
      case M.DIV:
      case M.IDIV:
        ok = muldiv(this, x);
        break;
      case M.CWD:
        ok = cwd(this, x);
        break;
      case M.CMOVCC:
        ok = this.cmov(x);
        break;
      case M.SETCC:
        ok = this.setcc(x);
        break;
      case M.PUSH:
        ok = long && this.push(x);
        break;
      case M.POP:
        ok = long && this.pop(x);
        break;
      case M.JCC:
      case M.JMP:
      case M.CALL:
      case M.RET:
        if (!long || !isLast) return false;
        return this.branch(x);
      default:
        return false;
    }
    if (ok && isLast) this.emit(`s.rip = ${this.ripAfter(insns, x.k)}; return n + ${x.k + 1};`);
    return ok;
  }

  // ---- operands --------------------------------------------------------------------------------

  private regGet(r: number, size: number): string {
    switch (size) {
      case 1:
        return r >= 16 ? `((R[${2 * (r - 16)}] >>> 8) & 255)` : `(R[${2 * r}] & 255)`;
      case 2:
        return `(R[${2 * r}] & 65535)`;
      default:
        return `R[${2 * r}]`;
    }
  }

  private regSet(r: number, size: number, lo: string, hi = '0'): void {
    switch (size) {
      case 1:
        if (r >= 16) this.emit(`R[${2 * (r - 16)}] = (R[${2 * (r - 16)}] & -65281) | ((${lo} & 255) << 8);`);
        else this.emit(`R[${2 * r}] = (R[${2 * r}] & -256) | (${lo} & 255);`);
        return;
      case 2:
        this.emit(`R[${2 * r}] = (R[${2 * r}] & -65536) | (${lo} & 65535);`);
        return;
      case 4:
        this.emit(`R[${2 * r}] = ${lo}; R[${2 * r + 1}] = 0;`);
        return;
      default:
        this.emit(`R[${2 * r}] = ${lo}; R[${2 * r + 1}] = ${hi};`);
    }
  }

  /** A register's full 64-bit value as a double (exact for canonical-sized values). */
  private reg64(r: number): string {
    return `(R[${2 * r + 1}] * ${TWO32} + (R[${2 * r}] >>> 0))`;
  }

  /** Emits `L = <linear address>` of the memory operand for an access of `size`. */
  private addr(x: Ctx, size: number, write: boolean): void {
    const i = x.i;
    this.emit(`k = ${x.k};`);
    if (this.mode.long64 && i.asz === 8) {
      const terms: string[] = [String(i.disp)];
      if (i.base >= 0) terms.push(this.reg64(i.base));
      if (i.index >= 0) terms.push(i.scale === 1 ? this.reg64(i.index) : `${this.reg64(i.index)} * ${i.scale}`);
      if (i.seg === FS || i.seg === GS) terms.push(`s.seg[${i.seg}].base`);
      this.emit(`L = ${terms.join(' + ')};`);
      // Doubles are exact while the registers are below 2^48 in magnitude; base + index of huge
      // values could cancel inexactly, so those take the exact path.
      const guard = i.base >= 0 && i.index >= 0 ? ` || ((R[${2 * i.base + 1}] + 65536) | (R[${2 * i.index + 1}] + 65536)) >>> 17 !== 0` : '';
      this.emit(`if (!(L >= ${CANON_LO} && L <= ${CANON_HI - size})${guard}) L = K.lin(c, I[${x.k}], ${size}, ${write});`);
      return;
    }
    if (this.mode.long64) {
      this.emit(`L = K.lin(c, I[${x.k}], ${size}, ${write});`);
      return;
    }
    let off: string;
    if (i.asz === 4) {
      const t: string[] = [String(i.disp | 0)];
      if (i.base >= 0) t.push(`R[${2 * i.base}]`);
      if (i.index >= 0) t.push(`Math.imul(R[${2 * i.index}], ${i.scale})`);
      off = `((${t.join(' + ')}) >>> 0)`;
    } else {
      const t: string[] = [String(i.disp)];
      if (i.base >= 0) t.push(`(R[${2 * i.base}] & 65535)`);
      if (i.index >= 0) t.push(`(R[${2 * i.index}] & 65535) * ${i.scale}`);
      off = `((${t.join(' + ')}) & 65535)`;
    }
    this.emit(`L = c.linear(${i.seg}, ${off}, ${size}, ${write});`);
  }

  /**
   * Emits a read of operand `op` into `dst` (and `dst`h for size 8); values as the conventions say.
   * `soft`: the instruction has no other memory access and no effect before this read, so an MMIO
   * read that must exit leaves the block without unwinding (X86Mmu.readLinSoft), not retired.
   */
  read(x: Ctx, op: number, dst: string, size: number, memAddrDone = false, soft = false): void {
    const i = x.i;
    switch (i.kind[op]) {
      case K_REG:
        if (size === 8) this.emit(`${dst} = R[${2 * i.reg[op]!}]; ${dst}h = R[${2 * i.reg[op]! + 1}];`);
        else this.emit(`${dst} = ${this.regGet(i.reg[op]!, size)};`);
        return;
      case K_MEM: {
        if (!memAddrDone) this.addr(x, size, false);
        const fn = soft ? 'readLinSoft' : 'readLin';
        if (size === 8) this.emit(`${dst} = c.${fn}(L, 8); ${dst}h = c.t1;`);
        else this.emit(`${dst} = c.${fn}(L, ${size})${size === 4 ? ' | 0' : ''};`);
        if (soft) this.emit(`if (c.exitNow) ${x.exitBefore}`);
        return;
      }
      default: {
        // Immediates are sign-extended to the operand size.
        const lo = size === 4 || size === 8 ? i.imm | 0 : i.imm & MASKS[size]!;
        if (size === 8) this.emit(`${dst} = ${lo}; ${dst}h = ${i.immHi | 0};`);
        else this.emit(`${dst} = ${lo};`);
      }
    }
  }

  /** Emits the store of a value to memory at L, then (unless `check` is false) the stop checks. */
  private store(x: Ctx, size: number, lo: string, hi = '0', check = true): void {
    this.emit(`c.writeLin(L, ${size}, ${lo}${size === 8 ? `, ${hi}` : ''});`);
    if (check) this.stopCheck(x);
  }

  /** After a store: it hit decoded code (SMC) or MMIO, so the block ends after this instruction. */
  private stopCheck(x: Ctx): void {
    this.emit(`if (m.blockStale || m.stopReason !== 0) ${x.exitAfter}`);
  }

  private sizeOk(size: number): boolean {
    return size === 1 || size === 2 || size === 4 || size === 8;
  }

  // ---- data movement ---------------------------------------------------------------------------

  private mov(x: Ctx): boolean {
    const i = x.i;
    const k0 = i.kind[0];
    const k1 = i.kind[1];
    const size = i.size[0]!;
    if (!this.sizeOk(size)) return false;
    const v = `v${x.k}`;
    if (k0 === K_REG && (k1 === K_REG || k1 === K_IMM || k1 === K_MEM)) {
      if (k1 !== K_IMM && i.size[1] !== size) return false;
      this.decl(v, size);
      this.read(x, 1, v, size, false, true);
      this.regSet(i.reg[0]!, size, v, `${v}h`);
      return true;
    }
    if (k0 === K_MEM && (k1 === K_REG || k1 === K_IMM)) {
      if (k1 === K_REG && i.size[1] !== size) return false;
      this.decl(v, size);
      this.read(x, 1, v, size);
      this.addr(x, size, true);
      this.store(x, size, v, `${v}h`);
      return true;
    }
    return false;
  }

  decl(v: string, size: number): void {
    this.emit(size === 8 ? `var ${v} = 0, ${v}h = 0;` : `var ${v} = 0;`);
  }

  private movx(x: Ctx): boolean {
    const i = x.i;
    const ds = i.size[0]!;
    const ss = i.size[1]!;
    if (i.kind[0] !== K_REG || (i.kind[1] !== K_REG && i.kind[1] !== K_MEM)) return false;
    const v = `v${x.k}`;
    this.decl(v, 4);
    if (i.mn === M.MOVSXD) {
      if (ss !== 4 || (ds !== 8 && ds !== 4)) return false;
      this.read(x, 1, v, 4, false, true);
      if (ds === 8) this.regSet(i.reg[0]!, 8, v, `(${v} >> 31)`);
      else this.regSet(i.reg[0]!, 4, v);
      return true;
    }
    if ((ss !== 1 && ss !== 2) || (ds !== 2 && ds !== 4 && ds !== 8) || ds <= ss) return false;
    this.read(x, 1, v, ss, false, true);
    if (i.mn === M.MOVZX) {
      this.regSet(i.reg[0]!, ds, v, '0');
      return true;
    }
    const sh = ss === 1 ? 24 : 16;
    this.emit(`${v} = (${v} << ${sh}) >> ${sh};`);
    this.regSet(i.reg[0]!, ds, ds === 2 ? `(${v} & 65535)` : v, `(${v} >> 31)`);
    return true;
  }

  private lea(x: Ctx): boolean {
    const i = x.i;
    const ds = i.size[0]!;
    if (i.kind[0] !== K_REG || i.kind[1] !== K_MEM || (ds !== 2 && ds !== 4)) return false;
    const t: string[] = [String(i.disp | 0)];
    let v: string;
    if (i.asz === 2) {
      const u: string[] = [String(i.disp)];
      if (i.base >= 0) u.push(`(R[${2 * i.base}] & 65535)`);
      if (i.index >= 0) u.push(`(R[${2 * i.index}] & 65535) * ${i.scale}`);
      v = `((${u.join(' + ')}) & 65535)`;
    } else {
      // The low 32 bits of the sum, exact in int32 arithmetic (asz 4 and 8 alike).
      if (i.base >= 0) t.push(`R[${2 * i.base}]`);
      if (i.index >= 0) t.push(`Math.imul(R[${2 * i.index}], ${i.scale})`);
      v = `((${t.join(' + ')}) | 0)`;
    }
    this.regSet(i.reg[0]!, ds, v);
    return true;
  }

  // ---- arithmetic ------------------------------------------------------------------------------

  private alu(x: Ctx): boolean {
    const i = x.i;
    const mn = i.mn;
    const size = i.size[0]!;
    const k0 = i.kind[0];
    const k1 = i.kind[1];
    if (!this.sizeOk(size)) return false;
    if (k0 !== K_REG && k0 !== K_MEM) return false;
    if (k1 !== K_REG && k1 !== K_IMM && k1 !== K_MEM) return false;
    if (k0 === K_MEM && k1 === K_MEM) return false;
    if (k1 !== K_IMM && i.size[1] !== size) return false;
    const writes = mn !== M.CMP && mn !== M.TEST;
    const a = `a${x.k}`;
    const b = `b${x.k}`;
    const r = `r${x.k}`;
    this.decl(a, size);
    this.decl(b, size);
    this.decl(r, size);
    // CMP/TEST write nothing: an MMIO operand exits without unwinding.
    if (k0 === K_MEM) {
      this.addr(x, size, writes);
      this.read(x, 0, a, size, true, !writes);
    } else this.read(x, 0, a, size);
    this.read(x, 1, b, size, false, !writes);
    const kind: FlagSrc['kind'] = mn === M.ADD ? 'add' : mn === M.SUB || mn === M.CMP ? 'sub' : 'logic';
    const fop = kind === 'add' ? FOp.ADD : kind === 'sub' ? FOp.SUB : FOp.LOGIC;
    const op = mn === M.ADD ? '+' : mn === M.SUB || mn === M.CMP ? '-' : mn === M.AND || mn === M.TEST ? '&' : mn === M.OR ? '|' : '^';
    if (size === 8) {
      if (kind === 'add') {
        this.emit(`t = (${a} >>> 0) + (${b} >>> 0); ${r} = t | 0; ${r}h = (${a}h + ${b}h + (t > 4294967295 ? 1 : 0)) | 0;`);
      } else if (kind === 'sub') {
        this.emit(`t = (${a} >>> 0) - (${b} >>> 0); ${r} = t | 0; ${r}h = (${a}h - ${b}h - (t < 0 ? 1 : 0)) | 0;`);
      } else this.emit(`${r} = ${a} ${op} ${b}; ${r}h = ${a}h ${op} ${b}h;`);
    } else if (size === 4) this.emit(`${r} = (${a} ${op} ${b}) | 0;`);
    else this.emit(`${r} = (${a} ${op} ${b}) & ${MASKS[size]};`);
    // The store first (it may fault: flags unchanged), then the flags, then the stop checks.
    if (writes) {
      if (k0 === K_MEM) this.store(x, size, r, `${r}h`, false);
      else this.regSet(i.reg[0]!, size, r, `${r}h`);
    }
    this.setFlags(fop, size, a, b, r);
    if (writes && k0 === K_MEM) this.stopCheck(x);
    this.flags = { kind, size, a, b, r, ah: `${a}h`, bh: `${b}h`, rh: `${r}h` };
    return true;
  }

  private setFlags(fop: FOp, size: number, a: string, b: string, r: string): void {
    let s = `f.op = ${fop}; f.size = ${size}; f.a0 = ${a}; f.b0 = ${b}; f.r0 = ${r};`;
    if (size === 8) s += ` f.a1 = ${a}h; f.b1 = ${b}h; f.r1 = ${r}h;`;
    this.emit(s);
  }

  private incdec(x: Ctx): boolean {
    const i = x.i;
    const size = i.size[0]!;
    const k0 = i.kind[0];
    if (!this.sizeOk(size) || (k0 !== K_REG && k0 !== K_MEM)) return false;
    const dec = i.mn === M.DEC;
    const a = `a${x.k}`;
    const r = `r${x.k}`;
    this.decl(a, size);
    this.decl(r, size);
    if (k0 === K_MEM) {
      this.addr(x, size, true);
      this.read(x, 0, a, size, true);
    } else this.read(x, 0, a, size);
    if (size === 8) {
      this.emit(`t = (${a} >>> 0) ${dec ? '- 1' : '+ 1'}; ${r} = t | 0; ${r}h = (${a}h + (t > 4294967295 ? 1 : t < 0 ? -1 : 0)) | 0;`);
    } else if (size === 4) this.emit(`${r} = (${a} ${dec ? '-' : '+'} 1) | 0;`);
    else this.emit(`${r} = (${a} ${dec ? '-' : '+'} 1) & ${MASKS[size]};`);
    // CF is preserved: read it before the flags record changes.
    this.emit('w = c.cf();');
    if (k0 === K_MEM) this.store(x, size, r, `${r}h`, false);
    else this.regSet(i.reg[0]!, size, r, `${r}h`);
    let s = `f.op = ${dec ? FOp.DEC : FOp.INC}; f.size = ${size}; f.a0 = ${a}; f.b0 = 1; f.r0 = ${r}; f.cin = w;`;
    if (size === 8) s += ` f.a1 = ${a}h; f.b1 = 0; f.r1 = ${r}h;`;
    this.emit(s);
    if (k0 === K_MEM) this.stopCheck(x);
    this.flags = { kind: 'incdec', size, a, b: '1', r, ah: `${a}h`, bh: '0', rh: `${r}h` };
    return true;
  }

  private shift(x: Ctx): boolean {
    const i = x.i;
    const size = i.size[0]!;
    if (i.kind[0] !== K_REG || i.kind[1] !== K_IMM || (size !== 4 && size !== 8)) return false;
    const cnt = i.imm & (size === 8 ? 63 : 31);
    if (cnt === 0) return true; // nothing changes, flags included
    const reg = i.reg[0]!;
    const lo = `R[${2 * reg}]`;
    const hi = `R[${2 * reg + 1}]`;
    this.flags = null;
    let res: string;
    let resh = '0';
    let cf: string;
    let of: string;
    if (size === 4) {
      if (i.mn === M.SHL) {
        res = `(${lo} << ${cnt})`;
        cf = `((${lo} >>> ${32 - cnt}) & 1)`;
        of = `(((${lo} << ${cnt}) >>> 31) ^ ${cf})`;
      } else if (i.mn === M.SHR) {
        res = `((${lo} >>> ${cnt}) | 0)`;
        cf = `((${lo} >>> ${cnt - 1}) & 1)`;
        of = `(${lo} >>> 31)`;
      } else {
        res = `(${lo} >> ${cnt})`;
        cf = `((${lo} >> ${cnt - 1}) & 1)`;
        of = '0';
      }
      this.emit(`w = ${cf}; t = ${of}; v = ${res}; R[${2 * reg}] = v; R[${2 * reg + 1}] = 0;`);
      this.emit(`f.op = ${FOp.EAGER_CO}; f.size = 4; f.a0 = 0; f.b0 = 0; f.r0 = v; f.cin = w; f.ofv = t; f.afv = 0;`);
      return true;
    }
    const bit = (n: number) => (n < 32 ? `((${lo} >>> ${n}) & 1)` : `((${hi} >>> ${n - 32}) & 1)`);
    if (i.mn === M.SHL) {
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
      const sar = i.mn === M.SAR;
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
    this.emit(`f.ofv = ${of}; R[${2 * reg}] = v; R[${2 * reg + 1}] = t;`);
    this.emit(`f.op = ${FOp.EAGER_CO}; f.size = 8; f.a0 = 0; f.a1 = 0; f.b0 = 0; f.b1 = 0; f.r0 = v; f.r1 = t; f.cin = w; f.afv = 0;`);
    return true;
  }

  /** IMUL r32, r/m32 (, imm): CF = OF = the product does not fit; SF/ZF/PF from the result. */
  private imul(x: Ctx): boolean {
    const i = x.i;
    const three = i.nops === 3;
    if (i.kind[0] !== K_REG || i.size[0] !== 4 || i.size[1] !== 4 || (i.kind[1] !== K_REG && i.kind[1] !== K_MEM)) return false;
    if (three && i.kind[2] !== K_IMM) return false;
    const a = `a${x.k}`;
    this.decl(a, 4);
    this.read(x, 1, a, 4);
    const b = three ? String(i.imm | 0) : `R[${2 * i.reg[0]!}]`;
    this.flags = null;
    this.emit(`v = Math.imul(${a}, ${b}); w = ${a} * ${b} !== v ? 1 : 0; R[${2 * i.reg[0]!}] = v; R[${2 * i.reg[0]! + 1}] = 0;`);
    this.emit(`f.op = ${FOp.EAGER_CO}; f.size = 4; f.a0 = 0; f.b0 = 0; f.r0 = v; f.cin = w; f.ofv = w; f.afv = 0;`);
    return true;
  }

  /** CMOVcc r, r/m (the source is read either way; a 32-bit CMOV zero-extends even when false). */
  private cmov(x: Ctx): boolean {
    const i = x.i;
    const size = i.size[0]!;
    if (i.kind[0] !== K_REG || (size !== 4 && size !== 8) || (i.kind[1] !== K_REG && i.kind[1] !== K_MEM)) return false;
    const v = `v${x.k}`;
    this.decl(v, size);
    this.read(x, 1, v, size);
    const d = 2 * i.reg[0]!;
    if (size === 8) this.emit(`if (${this.cond(i.cond)}) { R[${d}] = ${v}; R[${d + 1}] = ${v}h; }`);
    else this.emit(`if (${this.cond(i.cond)}) R[${d}] = ${v}; R[${d + 1}] = 0;`);
    return true;
  }

  /** SETcc r/m8. */
  private setcc(x: Ctx): boolean {
    const i = x.i;
    if (i.kind[0] === K_REG) {
      this.regSet(i.reg[0]!, 1, `((${this.cond(i.cond)}) ? 1 : 0)`);
      return true;
    }
    if (i.kind[0] !== K_MEM) return false;
    this.emit(`v = (${this.cond(i.cond)}) ? 1 : 0;`);
    this.addr(x, 1, true);
    this.store(x, 1, 'v');
    return true;
  }

  // ---- stack and control flow (64-bit mode) ----------------------------------------------------

  /** Emits `L` = RSP + delta as a canonical linear address, or falls to `bail` when it is not. */
  private stackAddr(delta: number, size: number, bail: string): void {
    this.emit(`L = ${this.reg64(RSP)}${delta ? ` + ${delta}` : ''};`);
    this.emit(`if (!(L >= ${CANON_LO} && L <= ${CANON_HI - size})) ${bail}`);
  }

  /** RSP += delta (±8) on the int32 halves, carrying into the high half. */
  private rspAdjust(delta: 8 | -8): void {
    if (delta < 0) this.emit('t = R[8]; R[8] = (t - 8) | 0; if ((t >>> 0) < 8) R[9] = (R[9] - 1) | 0;');
    else this.emit('t = R[8]; R[8] = (t + 8) | 0; if ((t >>> 0) >= 4294967288) R[9] = (R[9] + 1) | 0;');
  }

  /** The handler call for the instruction (an unusual case found at run time). */
  private callHandler(x: Ctx, next: string): string {
    return `{ s.rip = ${x.i.addr}; c.lastInsn = I[${x.k}]; c.next = ${next}; h = 1; H[${x.i.mn}](c, I[${x.k}]); h = 0; s.rip = c.next; return n + ${x.k + 1}; }`;
  }

  private push(x: Ctx): boolean {
    const i = x.i;
    if (i.kind[0] !== K_REG || i.osz !== 8 || i.size[0] !== 8) return false;
    const r = i.reg[0]!;
    this.emit(`k = ${x.k};`);
    this.stackAddr(-8, 8, this.callHandler(x, String(i.addr + i.len)));
    this.emit(`c.writeLin(L, 8, R[${2 * r}], R[${2 * r + 1}]);`);
    this.rspAdjust(-8);
    this.emit(`if (m.blockStale || m.stopReason !== 0) ${x.exitAfter}`);
    return true;
  }

  private pop(x: Ctx): boolean {
    const i = x.i;
    if (i.kind[0] !== K_REG || i.osz !== 8 || i.size[0] !== 8 || i.reg[0] === RSP) return false;
    const r = i.reg[0]!;
    this.emit(`k = ${x.k};`);
    this.stackAddr(0, 8, this.callHandler(x, String(i.addr + i.len)));
    this.emit('v = c.readLin(L, 8); w = c.t1;');
    this.rspAdjust(8);
    this.emit(`R[${2 * r}] = v; R[${2 * r + 1}] = w;`);
    return true;
  }

  private branch(x: Ctx): boolean {
    const i = x.i;
    const k = x.k;
    const next = i.addr + i.len;
    if (i.osz !== 8) return false;
    switch (i.mn) {
      case M.JCC:
        if (!isCanonical(i.imm)) return false;
        this.emit(`s.rip = (${this.cond(i.cond)}) ? ${i.imm} : ${next}; return n + ${k + 1};`);
        return true;
      case M.JMP:
        if (i.kind[0] !== K_IMM || !isCanonical(i.imm)) return false;
        this.emit(`s.rip = ${i.imm}; return n + ${k + 1};`);
        return true;
      case M.CALL: {
        if (i.kind[0] !== K_IMM || !isCanonical(i.imm)) return false;
        this.emit(`k = ${k};`);
        this.stackAddr(-8, 8, this.callHandler(x, String(next)));
        this.emit(`c.writeLin(L, 8, ${next % TWO32 | 0}, ${Math.floor(next / TWO32) | 0});`);
        this.rspAdjust(-8);
        this.emit(`s.rip = ${i.imm}; return n + ${k + 1};`);
        return true;
      }
      case M.RET: {
        if (i.nops !== 0) return false;
        this.emit(`k = ${k};`);
        this.stackAddr(0, 8, this.callHandler(x, String(next)));
        this.emit('v = c.readLin(L, 8); w = c.t1; L = w * 4294967296 + (v >>> 0);');
        this.emit(`if (!(L >= ${CANON_LO} && L < ${CANON_HI})) ${this.callHandler(x, String(next))}`);
        this.rspAdjust(8);
        this.emit(`s.rip = L; return n + ${k + 1};`);
        return true;
      }
    }
    return false;
  }

  /** The condition `cc` as a JS boolean expression (fused with the last inline flag writer when possible). */
  private cond(cc: number): string {
    const g = this.flags;
    const base = cc >> 1;
    let e: string | null = null;
    if (g !== null) {
      const { a, b, r, ah, bh, rh, size } = g;
      const sgn = (v: string) => (size === 4 ? `(${v} < 0)` : `((${v} & ${SIGNS[size]}) !== 0)`);
      const sx = (v: string) => (size === 4 ? v : size === 2 ? `((${v} << 16) >> 16)` : `((${v} << 24) >> 24)`);
      const zero = size === 8 ? `(${r} === 0 && ${rh} === 0)` : `(${r} === 0)`;
      const neg = size === 8 ? `(${rh} < 0)` : sgn(r);
      if (base === 2) e = zero;
      else if (base === 4) e = neg;
      else if (g.kind === 'sub') {
        if (size === 8) {
          const ltu = `((${ah} >>> 0) < (${bh} >>> 0) || (${ah} === ${bh} && (${a} >>> 0) < (${b} >>> 0)))`;
          const lts = `(${ah} < ${bh} || (${ah} === ${bh} && (${a} >>> 0) < (${b} >>> 0)))`;
          const eq = `(${a} === ${b} && ${ah} === ${bh})`;
          if (base === 1) e = ltu;
          else if (base === 3) e = `(${ltu} || ${eq})`;
          else if (base === 6) e = lts;
          else if (base === 7) e = `(${lts} || ${eq})`;
        } else {
          const ua = size === 4 ? `(${a} >>> 0)` : a;
          const ub = size === 4 ? `(${b} >>> 0)` : b;
          if (base === 1) e = `(${ua} < ${ub})`;
          else if (base === 3) e = `(${ua} <= ${ub})`;
          else if (base === 6) e = `(${sx(a)} < ${sx(b)})`;
          else if (base === 7) e = `(${sx(a)} <= ${sx(b)})`;
        }
      } else if (g.kind === 'logic') {
        // CF = OF = 0.
        if (base === 0 || base === 1) e = 'false';
        else if (base === 3) e = zero;
        else if (base === 6) e = neg;
        else if (base === 7) e = `(${zero} || ${neg})`;
      }
    }
    if (e === null) return `${cc & 1 ? '!' : ''}c.cond(${cc & ~1})`;
    return cc & 1 ? `!${e}` : e;
  }
}
