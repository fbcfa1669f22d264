/**
 * The x86 block JIT's inline MUL, IMUL, DIV, IDIV and CWD/CDQ/CQO (jit.ts calls these): 32- and
 * 64-bit products and quotients through src/arch/arith64.ts (the translated code reaches it as
 * K.mulu64/muls64/divu128/divs128 with results in K.W), the same results, flags and #DE as
 * exec/muldiv.ts.
 * @module
 */
import { K_IMM, K_MEM, K_REG } from './decoder.js';
import { FOp } from './flags.js';
import { M, type Ctx } from './jit.js';

/** What these forms use of the translator. */
export interface MulDivHost {
  emit(line: string): void;
  decl(v: string, size: number): void;
  read(x: Ctx, op: number, dst: string, size: number): void;
  /** The flags no longer come from an inline ALU instruction (no fused Jcc on them). */
  clearFlags(): void;
}

/**
 * IMUL r64, r/m64 (, imm): the truncated signed product through arith64's muls64; CF = OF =
 * the high half is not the sign extension of the low half (exec/muldiv.ts imulTrunc).
 */
export function imul64(t: MulDivHost, x: Ctx): boolean {
  const i = x.i;
  const three = i.nops === 3;
  if (i.kind[0] !== K_REG || i.size[1] !== 8 || (i.kind[1] !== K_REG && i.kind[1] !== K_MEM)) return false;
  if (three && i.kind[2] !== K_IMM) return false;
  const a = `a${x.k}`;
  t.decl(a, 8);
  t.read(x, 1, a, 8);
  const d = 2 * i.reg[0]!;
  const b = three ? `${i.imm | 0}, ${i.immHi | 0}` : `R[${d}], R[${d + 1}]`;
  t.clearFlags();
  t.emit(`K.muls64(${a}, ${a}h, ${b}); v = K.W[0]; t = K.W[1]; w = K.W[2] !== t >> 31 || K.W[3] !== t >> 31 ? 1 : 0; R[${d}] = v; R[${d + 1}] = t;`);
  mulFlags(t, 8);
  return true;
}

/** The flags MUL/IMUL leave (exec/muldiv.ts setMulFlags): the product in v (t), overflow in w. */
function mulFlags(t: MulDivHost, size: number): void {
  t.emit(`f.op = ${FOp.EAGER_CO}; f.size = ${size}; f.a0 = 0; f.a1 = 0; f.b0 = 0; f.b1 = 0; f.r0 = v; f.r1 = ${size === 8 ? 't' : '0'}; f.cin = w; f.ofv = w; f.afv = 0;`);
}

/**
 * MUL, IMUL (one operand), DIV, IDIV of 32 and 64 bits: rDX:rAX through arith64 (no BigInt),
 * #DE as the interpreter raises it (exec/muldiv.ts), DIV/IDIV leaving the flags as they were.
 */
export function muldiv(t: MulDivHost, x: Ctx): boolean {
  const i = x.i;
  const size = i.size[0]!;
  if ((size !== 4 && size !== 8) || (i.kind[0] !== K_REG && i.kind[0] !== K_MEM)) return false;
  const b = `b${x.k}`;
  t.decl(b, size);
  t.read(x, 0, b, size);
  const mn = i.mn;
  if (mn === M.MUL || mn === M.IMUL) {
    t.clearFlags();
    const signed = mn === M.IMUL;
    if (size === 8) {
      t.emit(`K.${signed ? 'muls64' : 'mulu64'}(R[0], R[1], ${b}, ${b}h); v = K.W[0]; t = K.W[1];`);
      t.emit(signed ? 'w = K.W[2] !== t >> 31 || K.W[3] !== t >> 31 ? 1 : 0;' : 'w = (K.W[2] | K.W[3]) !== 0 ? 1 : 0;');
      t.emit('R[4] = K.W[2]; R[5] = K.W[3]; R[0] = v; R[1] = t;');
    } else {
      if (signed) t.emit(`K.muls64(R[0], R[0] >> 31, ${b}, ${b} >> 31); v = K.W[0]; w = K.W[1] !== v >> 31 ? 1 : 0;`);
      else t.emit(`K.mulu64(R[0], 0, ${b}, 0); v = K.W[0]; w = K.W[1] !== 0 ? 1 : 0;`);
      t.emit('R[0] = v; R[1] = 0; R[4] = K.W[1]; R[5] = 0;');
    }
    mulFlags(t, size);
    return true;
  }
  const signed = mn === M.IDIV;
  // k: the instruction a #DE is raised at (the catch puts RIP on it).
  t.emit(`k = ${x.k};`);
  if (size === 8) t.emit(`if (!K.${signed ? 'divs128' : 'divu128'}(R[0], R[1], R[4], R[5], ${b}, ${b}h)) K.de(c);`);
  else if (signed) t.emit(`if (!K.divs128(R[0], R[4], R[4] >> 31, R[4] >> 31, ${b}, ${b} >> 31) || K.W[1] !== K.W[0] >> 31) K.de(c);`);
  else t.emit(`if (!K.divu128(R[0], R[4], 0, 0, ${b}, 0) || K.W[1] !== 0) K.de(c);`);
  if (size === 8) t.emit('R[4] = K.W[2]; R[5] = K.W[3]; R[0] = K.W[0]; R[1] = K.W[1];');
  else t.emit('R[4] = K.W[2]; R[5] = 0; R[0] = K.W[0]; R[1] = 0;');
  return true;
}

/** CWD/CDQ/CQO: rDX = the sign of rAX. */
export function cwd(t: MulDivHost, x: Ctx): boolean {
  const osz = x.i.osz;
  if (osz === 8) t.emit('R[4] = R[5] = R[1] >> 31;');
  else if (osz === 4) t.emit('R[4] = R[0] >> 31; R[5] = 0;');
  else t.emit('R[4] = (R[4] & -65536) | (R[0] & 32768 ? 65535 : 0);');
  return true;
}

