/**
 * x87 instructions (D8-DF and WAIT): loads and stores of every memory format, arithmetic,
 * compares (FCOM*, FUCOM*, FCOMI*, FICOM*, FTST, FXAM), transcendentals, stack and control
 * instructions, the environment and FSAVE images. The semantics are the fpu library's
 * (fpu/x87.ts over the FXSAVE image); handlers fetch and store the memory operands, keep FOP, FIP
 * and FDP for non-control instructions, and never change the x87 state when a memory access
 * faults (stores are translated before the operation). The #NM/#MF checks ran before (the
 * rows' x87 class, exec/classes.ts).
 * @module
 */
import { Acc, VEC, type X86Cpu } from '../cpu.js';
import { K_MEM, K_ST, type Insn } from '../decoder.js';
import { R } from '../fpu/f80.js';
import { Const, EnvFormat, Op, type X87 } from '../fpu/x87.js';
import { CR0, FLAG } from '../state.js';
import { definer, ea, type Handler, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const X87_FAMILY: HandlerTable = {};
const def = definer(X87_FAMILY);

/** FOP (low 3 bits of the opcode, then ModRM), FIP (RIP) and FDP (the memory operand's offset). */
function last(c: X86Cpu, i: Insn, dp: number | null): void {
  c.x87.setLast(((i.desc!.opcode & 7) << 8) | (i.modrm & 0xff), c.s.rip, dp);
}

/** The linear address of a memory operand of `size` bytes; for a store both ends are translated (no partial effects). */
function addr(c: X86Cpu, i: Insn, size: number, write: boolean): number {
  const lin = c.linear(i.seg, ea(c, i), size, write);
  if (write || (lin & 0xfff) + size > 0x1000) {
    c.translate(lin, write ? Acc.WRITE : Acc.READ);
    c.translate(c.wrapLin(lin + size - 1), write ? Acc.WRITE : Acc.READ);
  }
  return lin;
}

/** Memory-operand kinds of the library's arithMem/fcomMem: 0 m32fp, 1 m64fp, 2 m16int, 3 m32int. */
function memKind(i: Insn): 0 | 1 | 2 | 3 {
  const o = i.desc!.opcode;
  return o === 0xd8 ? 0 : o === 0xdc ? 1 : o === 0xde ? 2 : 3;
}

/** Reads a memory operand of the arithmetic/compare forms into lo (and c.t1 = hi for m64fp). */
function readOperand(c: X86Cpu, i: Insn, kind: number): number {
  const size = kind === 1 ? 8 : kind === 2 ? 2 : 4;
  const v = c.readLin(addr(c, i, size, false), size);
  if (size < 8) c.t1 = 0;
  return kind === 2 ? (v << 16) >> 16 : v | 0;
}

/** The operand memOperand read last: low word, and high word (m64fp; else 0). */
let opLo = 0, opHi = 0;
/** The memory form of an arithmetic/compare: reads the operand (opLo/opHi), records FOP/FIP/FDP; returns its kind. */
function memOperand(c: X86Cpu, i: Insn): 0 | 1 | 2 | 3 {
  const kind = memKind(i);
  opLo = readOperand(c, i, kind);
  opHi = c.t1;
  last(c, i, ea(c, i));
  return kind;
}

// ---- arithmetic ----------------------------------------------------------------------------------

function arith(op: Op, pop: boolean): Handler {
  return (c, i) => {
    if (i.kind[0] === K_MEM) {
      const kind = memOperand(c, i);
      return c.x87.arithMem(op, kind, opLo, opHi);
    }
    last(c, i, null);
    // (ST(0), ST(i)): ST(0) = ST(0) op ST(i); (ST(i), ST(0)): ST(i) = ST(i) op ST(0).
    const dst = i.reg[0]!, src = i.reg[1]!;
    c.x87.arith(op, dst, src, pop);
  };
}
for (const [name, op] of [['ADD', Op.ADD], ['MUL', Op.MUL], ['SUB', Op.SUB], ['SUBR', Op.SUBR], ['DIV', Op.DIV], ['DIVR', Op.DIVR]] as const) {
  def(`F${name}`, arith(op, false));
  def(`F${name}P`, arith(op, true));
  def(`FI${name}`, arith(op, false));
}

// ---- compares ------------------------------------------------------------------------------------

function fcom(pops: number, quiet: boolean): Handler {
  return (c, i) => {
    if (i.kind[0] === K_MEM) {
      const kind = memOperand(c, i);
      return c.x87.fcomMem(kind, opLo, opHi, pops > 0);
    }
    last(c, i, null);
    c.x87.fcom(i.nops ? i.reg[0]! : 1, pops, quiet);
  };
}
def('FCOM', fcom(0, false));
def('FCOMP', fcom(1, false));
def('FCOMPP', fcom(2, false));
def('FUCOM', fcom(0, true));
def('FUCOMP', fcom(1, true));
def('FUCOMPP', fcom(2, true));
def('FICOM', fcom(0, false));
def('FICOMP', fcom(1, false));

function fcomi(pop: boolean, quiet: boolean): Handler {
  return (c, i) => {
    last(c, i, null);
    const f = c.x87.fcomi(i.reg[1]!, pop, quiet);
    c.setFlags(f, FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.OF);
  };
}
def('FCOMI', fcomi(false, false));
def('FCOMIP', fcomi(true, false));
def('FUCOMI', fcomi(false, true));
def('FUCOMIP', fcomi(true, true));

/** FCMOVcc: DA /0-/3 B, E, BE, U; DB /0-/3 their negations (as the Jcc condition codes). */
const FCMOV_CC = [2, 4, 6, 10];
def('FCMOVcc', (c, i) => {
  last(c, i, null);
  const cc = FCMOV_CC[i.desc!.reg]! + (i.desc!.opcode === 0xdb ? 1 : 0);
  c.x87.fcmov(i.reg[1]!, c.cond(cc));
});

// ---- loads ---------------------------------------------------------------------------------------

const BCD = new Uint8Array(10);

def('FLD', (c, i) => {
  if (i.kind[0] === K_ST) {
    last(c, i, null);
    return c.x87.fld(i.reg[0]!);
  }
  const size = i.size[0]!;
  const lin = addr(c, i, size, false);
  const lo = c.readLin(lin, size === 4 ? 4 : 8);
  const hi = c.t1;
  const se = size === 10 ? c.readLin(c.wrapLin(lin + 8), 2) : 0;
  last(c, i, ea(c, i));
  if (size === 4) c.x87.fldF32(lo | 0);
  else if (size === 8) c.x87.fldF64(lo, hi);
  else c.x87.fldX(se, hi, lo);
});
def('FILD', (c, i) => {
  const size = i.size[0]!;
  const v = c.readLin(addr(c, i, size, false), size);
  const hi = size === 8 ? c.t1 : 0;
  last(c, i, ea(c, i));
  c.x87.fild(size === 2 ? (v << 16) >> 16 : v | 0, size === 8 ? hi : 0, size * 8);
});
def('FBLD', (c, i) => {
  const lin = addr(c, i, 10, false);
  for (let k = 0; k < 10; k++) BCD[k] = c.readLin(c.wrapLin(lin + k), 1);
  last(c, i, ea(c, i));
  c.x87.fbld(BCD, 0);
});
for (const [name, k] of [['FLD1', Const.ONE], ['FLDL2T', Const.L2T], ['FLDL2E', Const.L2E], ['FLDPI', Const.PI], ['FLDLG2', Const.LG2], ['FLDLN2', Const.LN2], ['FLDZ', Const.ZERO]] as const) {
  def(name, (c, i) => {
    last(c, i, null);
    c.x87.fldConst(k);
  });
}

// ---- stores --------------------------------------------------------------------------------------

function fst(pop: boolean): Handler {
  return (c, i) => {
    if (i.kind[0] === K_ST) {
      last(c, i, null);
      return c.x87.fst(i.reg[0]!, pop);
    }
    const size = i.size[0]!;
    const lin = addr(c, i, size, true);
    last(c, i, ea(c, i));
    const x = c.x87;
    if (size === 4) {
      if (x.fstF32(pop)) c.writeLin(lin, 4, R[0]!);
    } else if (size === 8) {
      if (x.fstF64(pop)) c.writeLin(lin, 8, R[0]!, R[1]!);
    } else if (x.fstX(pop)) {
      c.writeLin(lin, 8, R[0]!, R[1]!);
      c.writeLin(c.wrapLin(lin + 8), 2, R[2]!);
    }
  };
}
def('FST', fst(false));
def('FSTP', fst(true));

function fist(pop: boolean, truncate: boolean): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const lin = addr(c, i, size, true);
    last(c, i, ea(c, i));
    if (c.x87.fist(size * 8, pop, truncate)) c.writeLin(lin, size, R[0]!, R[1]!);
  };
}
def('FIST', fist(false, false));
def('FISTP', fist(true, false));
def('FISTTP', fist(true, true));
def('FBSTP', (c, i) => {
  const lin = addr(c, i, 10, true);
  last(c, i, ea(c, i));
  if (c.x87.fbstp(BCD, 0)) for (let k = 0; k < 10; k++) c.writeLin(c.wrapLin(lin + k), 1, BCD[k]!);
});

// ---- stack, constants, one-operand functions --------------------------------------------------------

const unary = (f: (c: X86Cpu) => void): Handler => (c, i) => {
  last(c, i, null);
  f(c);
};
def('FXCH', (c, i) => (last(c, i, null), c.x87.fxch(i.reg[0]!)));
def('FFREE', (c, i) => (last(c, i, null), c.x87.ffree(i.reg[0]!)));
/** FFREEP (DF C0+i): FFREE, then pop. */
def('FFREEP', (c, i) => {
  last(c, i, null);
  c.x87.ffree(i.reg[0]!);
  c.x87.pop();
});
def('FNOP', unary(() => {}));
def('FINCSTP', unary((c) => c.x87.fincstp()));
def('FDECSTP', unary((c) => c.x87.fdecstp()));
def('FCHS', unary((c) => c.x87.fchs()));
def('FABS', unary((c) => c.x87.fabs()));
def('FTST', unary((c) => c.x87.ftst()));
def('FXAM', unary((c) => c.x87.fxam()));
def('FSQRT', unary((c) => c.x87.fsqrt()));
def('FRNDINT', unary((c) => c.x87.frndint()));
def('FSCALE', unary((c) => c.x87.fscale()));
def('FXTRACT', unary((c) => c.x87.fxtract()));
def('FPREM', unary((c) => c.x87.fprem(false)));
def('FPREM1', unary((c) => c.x87.fprem(true)));
def('F2XM1', unary((c) => c.x87.f2xm1()));
def('FYL2X', unary((c) => c.x87.fyl2x()));
def('FYL2XP1', unary((c) => c.x87.fyl2xp1()));
def('FPATAN', unary((c) => c.x87.fpatan()));
def('FPTAN', unary((c) => c.x87.fptan()));
def('FSIN', unary((c) => c.x87.fsin()));
def('FCOS', unary((c) => c.x87.fcos()));
def('FSINCOS', unary((c) => c.x87.fsincos()));

// ---- control (FOP/FIP/FDP untouched) -------------------------------------------------------------

def('FNINIT', (c) => c.x87.finit());
def('FNCLEX', (c) => c.x87.fclex());
/** FNENI/FNDISI (8087) and FNSETPM (80287): no operation since the 80387. */
for (const n of ['FNENI', 'FNDISI', 'FNSETPM']) def(n, () => {});
def('FLDCW', (c, i) => c.x87.fldcw(c.read(i.seg, ea(c, i), 2)));
def('FNSTCW', (c, i) => c.write(i.seg, ea(c, i), 2, c.x87.fcw));
def('FNSTSW', (c, i) => {
  if (i.kind[0] === K_MEM) c.write(i.seg, ea(c, i), 2, c.x87.fsw);
  else c.setReg(0, 2, c.x87.fsw);
});

const ENV = new Uint8Array(108);

/** The environment layout: 16- or 32-bit (operand size), real/virtual-8086 or protected mode. */
function envFormat(c: X86Cpu, i: Insn): EnvFormat {
  const real = !c.pe || (c.s.rflags & FLAG.VM) !== 0;
  return i.osz === 2 ? (real ? EnvFormat.REAL16 : EnvFormat.PROT16) : real ? EnvFormat.REAL32 : EnvFormat.PROT32;
}

function readEnv(c: X86Cpu, lin: number, n: number): void {
  for (let k = 0; k < n; k += 2) {
    const v = c.readLin(c.wrapLin(lin + k), 2);
    ENV[k] = v;
    ENV[k + 1] = v >>> 8;
  }
}
function writeEnv(c: X86Cpu, lin: number, n: number): void {
  for (let k = 0; k < n; k += 2) c.writeLin(c.wrapLin(lin + k), 2, ENV[k]! | (ENV[k + 1]! << 8));
}

/** FLDENV / FRSTOR: the image is read whole (a fault leaves the x87 state alone), then loaded. */
function loadImage(load: (x: X87, fmt: EnvFormat) => void): Handler {
  return (c, i) => {
    const n = i.size[0]!;
    readEnv(c, addr(c, i, n, false), n);
    load(c.x87, envFormat(c, i));
  };
}
/** FNSTENV / FNSAVE: both ends of the image translated first, then the state is written out. */
function storeImage(store: (x: X87, fmt: EnvFormat) => void): Handler {
  return (c, i) => {
    const n = i.size[0]!;
    const lin = addr(c, i, n, true);
    store(c.x87, envFormat(c, i));
    writeEnv(c, lin, n);
  };
}
def('FLDENV', loadImage((x, fmt) => x.fldenv(ENV, 0, fmt)));
def('FNSTENV', storeImage((x, fmt) => x.fstenv(ENV, 0, fmt)));
def('FRSTOR', loadImage((x, fmt) => x.frstor(ENV, 0, fmt)));
def('FNSAVE', storeImage((x, fmt) => x.fsave(ENV, 0, fmt)));

/** WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set, then #MF for a pending x87 exception. */
def('FWAIT', (c) => {
  if ((c.s.cr0 & (CR0.MP | CR0.TS)) === (CR0.MP | CR0.TS)) c.raise(VEC.NM);
  if (c.x87.fwait()) c.raise(VEC.MF);
});
