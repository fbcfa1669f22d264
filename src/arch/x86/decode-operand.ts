/**
 * The x86 decoder's operand side (decoder.ts decodes prefixes, opcode and ModRM): the operand
 * codes the opcode table compiles to, the byte cursor, and the operand decoder.
 * @module
 */
import { K_CR, K_DR, K_IMM, K_MEM, K_MMX, K_REG, K_SEG, K_ST, K_XMM, type DecodeMode, type Insn, type OperandSpec, type OpDesc } from './decoder.js';

// Operand kind codes (OperandSpec.k), one per table kind letter or fixed operand.
export const O_E = 0, O_M = 1, O_W = 2, O_G = 3, O_R = 4, O_V = 5, O_U = 6, O_P = 7, O_Q = 8, O_N = 9, O_ST0 = 10, O_STI = 11, O_S = 12, O_C = 13,
  O_D = 14, O_Z = 15, O_I = 16, O_J = 17, O_O = 18, O_A = 19, O_X = 20, O_Y = 21, O_AL = 22, O_CL = 23, O_DX = 24, O_AX = 25, O_RAX = 26,
  O_EAX = 27, O_ONE = 28, O_SEG = 29;
const O_CODES: Record<string, number> = {
  E: O_E, M: O_M, W: O_W, G: O_G, R: O_R, V: O_V, U: O_U, P: O_P, Q: O_Q, N: O_N, ST0: O_ST0, STi: O_STI, S: O_S, C: O_C, D: O_D, Z: O_Z,
  I: O_I, J: O_J, O: O_O, A: O_A, X: O_X, Y: O_Y, AL: O_AL, CL: O_CL, DX: O_DX, AX: O_AX, rAX: O_RAX, eAX: O_EAX, ONE: O_ONE,
  ES: O_SEG, CS: O_SEG, SS: O_SEG, DS: O_SEG, FS: O_SEG, GS: O_SEG,
};
// Size letter codes (OperandSpec.s); S_NONE ('' and other letters) sizes as the operand size.
export const S_V = 0, S_B = 1, S_W = 2, S_D = 3, S_Q = 4, S_Z = 5, S_Y = 6, S_X = 7, S_P = 8, S_S = 9, S_EE = 10, S_F = 11, S_NONE = 12;
const S_CODES: Record<string, number> = { b: S_B, w: S_W, d: S_D, q: S_Q, v: S_V, z: S_Z, y: S_Y, x: S_X, p: S_P, s: S_S, e: S_EE, f: S_F };

export function spec(kind: string, size: string, bytes: number, x87?: boolean): OperandSpec {
  const k = O_CODES[kind];
  if (k === undefined) throw new Error(`x86 opcode table: operand kind ${kind}`);
  // One object shape for every operand (x87 always present): the decoder's loads stay monomorphic.
  return { kind, size, bytes, x87: x87 === true, k, s: S_CODES[size] ?? S_NONE };
}


const SEG_NAMES = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];


export const TOO_LONG = { tooLong: true };
export const FETCH_FAULT = { fetchFault: true };


/**
 * The next instruction byte; throws TOO_LONG / FETCH_FAULT. Bytes 0..avail-1 (avail <= 15) come
 * straight from the code page (decodeFrom copies them into insn.bytes at the end); later ones
 * through `fetch`, recorded here.
 */
export function byte(insn: Insn): number {
  const i = insn.pos;
  if (i < insn.avail) {
    insn.pos = i + 1;
    return insn.u8[insn.off + i]!;
  }
  return byteSlow(insn, i);
}

function byteSlow(insn: Insn, i: number): number {
  if (i >= 15) throw TOO_LONG;
  const b = insn.fetch(i);
  if (b < 0) throw FETCH_FAULT;
  insn.setByte(i, b);
  insn.pos = i + 1;
  return b;
}

export const s8 = (b: number) => (b << 24) >> 24;
export const s16 = (w: number) => (w << 16) >> 16;

export function sizeOf(code: number, insn: Insn): number {
  switch (code) {
    case S_B: return 1;
    case S_W: return 2;
    case S_D: return 4;
    case S_Q: return 8;
    case S_V: return insn.osz;
    case S_Z: return insn.osz === 2 ? 2 : 4;
    case S_Y: return insn.osz === 8 ? 8 : 4;
    case S_X: return 16;
    case S_P: return insn.osz === 2 ? 4 : insn.osz === 4 ? 6 : 10;
    case S_S: return insn.asz === 8 ? 10 : 6;
    case S_EE: return insn.osz === 2 ? 14 : 28;
    case S_F: return insn.osz === 2 ? 94 : 108;
    default: return insn.osz;
  }
}

/** A general register operand: without REX, byte registers 4-7 are AH/CH/DH/BH (16-19). */
function gprOf(insn: Insn, r: number, sz: number): number {
  return sz === 1 && !insn.rex && r >= 4 && r < 8 ? r + 12 : r;
}

export function decodeOperand(insn: Insn, k: number, op: OperandSpec, desc: OpDesc, mode: DecodeMode, index: number): void {
  const size = op.bytes || sizeOf(op.s, insn);
  insn.size[k] = size;
  insn.reg[k] = 0;
  switch (op.k) {
    case O_E:
    case O_M:
    case O_W:
      if (insn.mod === 3) {
        insn.kind[k] = op.k === O_W ? K_XMM : K_REG;
        insn.reg[k] = op.k === O_W ? insn.rm : gprOf(insn, insn.rm, size);
      } else insn.kind[k] = K_MEM;
      return;
    case O_G:
      insn.kind[k] = K_REG;
      insn.reg[k] = gprOf(insn, insn.regField, size);
      return;
    case O_R:
      insn.kind[k] = K_REG;
      insn.reg[k] = insn.rm;
      // MOV to/from CR/DR ignores mod and uses 64-bit registers in 64-bit mode, 32 otherwise.
      insn.size[k] = mode.long64 ? 8 : 4;
      return;
    case O_V:
      insn.kind[k] = K_XMM;
      insn.reg[k] = insn.regField;
      return;
    case O_U:
      insn.kind[k] = K_XMM;
      insn.reg[k] = insn.rm;
      return;
    // MMX registers ignore REX.R/REX.B (there are eight).
    case O_P:
      insn.kind[k] = K_MMX;
      insn.reg[k] = insn.regField & 7;
      return;
    case O_Q:
    case O_N:
      if (insn.mod === 3) {
        insn.kind[k] = K_MMX;
        insn.reg[k] = insn.rm & 7;
      } else insn.kind[k] = K_MEM;
      return;
    case O_ST0:
      insn.kind[k] = K_ST;
      return;
    case O_STI:
      insn.kind[k] = K_ST;
      insn.reg[k] = insn.rm & 7;
      return;
    case O_S:
      insn.kind[k] = K_SEG;
      insn.reg[k] = insn.regField & 7;
      return;
    case O_C:
      insn.kind[k] = K_CR;
      insn.reg[k] = insn.regField;
      insn.size[k] = mode.long64 ? 8 : 4;
      return;
    case O_D:
      insn.kind[k] = K_DR;
      insn.reg[k] = insn.regField;
      insn.size[k] = mode.long64 ? 8 : 4;
      return;
    case O_Z:
      insn.kind[k] = K_REG;
      insn.reg[k] = gprOf(insn, desc.low | ((insn.rex & 1) << 3), size);
      return;
    case O_I: {
      insn.kind[k] = K_IMM;
      if (op.s === S_V && insn.osz === 8) {
        // MOV r64, imm64
        insn.imm = byte(insn) | (byte(insn) << 8) | (byte(insn) << 16) | (byte(insn) << 24);
        insn.immHi = byte(insn) | (byte(insn) << 8) | (byte(insn) << 16) | (byte(insn) << 24);
        return;
      }
      const n = op.s === S_B ? 1 : op.s === S_W ? 2 : op.s === S_V ? insn.osz : op.s === S_Z ? (insn.osz === 2 ? 2 : 4) : 4;
      let v = 0;
      for (let j = 0; j < n; j++) v |= byte(insn) << (8 * j);
      v = n === 1 ? s8(v) : n === 2 ? s16(v) : v | 0;
      if (k === 1 && desc.enter) {
        insn.imm2 = v & 0xff; // ENTER Iw,Ib: the nesting level
        return;
      }
      insn.imm = v;
      insn.immHi = v < 0 ? -1 : 0;
      return;
    }
    case O_J: {
      insn.kind[k] = K_IMM;
      const n = op.s === S_B ? 1 : insn.osz === 2 ? 2 : 4;
      let v = 0;
      for (let j = 0; j < n; j++) v |= byte(insn) << (8 * j);
      insn.imm = n === 1 ? s8(v) : n === 2 ? s16(v) : v | 0;
      return;
    }
    case O_O: {
      insn.kind[k] = K_MEM;
      let v = 0;
      let hi = 0;
      for (let j = 0; j < Math.min(insn.asz, 4); j++) v |= byte(insn) << (8 * j);
      if (insn.asz === 8) for (let j = 0; j < 4; j++) hi |= byte(insn) << (8 * j);
      insn.disp = insn.asz === 8 ? hi * 0x100000000 + (v >>> 0) : v >>> 0;
      return;
    }
    case O_A: {
      insn.kind[k] = K_IMM;
      let v = 0;
      for (let j = 0; j < insn.osz; j++) v |= byte(insn) << (8 * j);
      insn.imm = insn.osz === 2 ? v & 0xffff : v >>> 0;
      insn.imm2 = byte(insn) | (byte(insn) << 8);
      return;
    }
    case O_X:
    case O_Y:
      insn.kind[k] = K_MEM;
      return;
    case O_AL:
      insn.kind[k] = K_REG;
      insn.reg[k] = 0;
      insn.size[k] = 1;
      return;
    case O_CL:
      insn.kind[k] = K_REG;
      insn.reg[k] = 1;
      insn.size[k] = 1;
      return;
    case O_DX:
      insn.kind[k] = K_REG;
      insn.reg[k] = 2;
      insn.size[k] = 2;
      return;
    case O_AX:
      insn.kind[k] = K_REG;
      insn.reg[k] = 0;
      insn.size[k] = 2;
      return;
    case O_RAX:
      insn.kind[k] = K_REG;
      insn.reg[k] = 0;
      insn.size[k] = insn.osz;
      return;
    case O_EAX:
      insn.kind[k] = K_REG;
      insn.reg[k] = 0;
      insn.size[k] = insn.osz === 2 ? 2 : 4;
      return;
    case O_ONE:
      insn.kind[k] = K_IMM;
      insn.imm = 1;
      return;
    case O_SEG:
      // PUSH/POP of a segment register named by the opcode.
      insn.kind[k] = K_SEG;
      insn.reg[k] = SEG_NAMES.indexOf(op.kind);
      insn.size[k] = 2;
      return;
    default:
      throw new Error(`x86 decoder: operand kind ${op.kind} (opcode index ${index})`);
  }
}
