/**
 * x86 ADD/OR/ADC/SBB/AND/SUB/XOR/CMP, TEST, INC/DEC, NOT, NEG (and their LOCK forms).
 * @module
 */
import type { X86Cpu } from '../cpu.js';
import { K_IMM, K_MEM, K_REG, type Insn } from '../decoder.js';
import { FOp } from '../flags.js';
import { AOp } from '../../../kernel/atomics.js';
import { lockedRmw, lockedUpdate } from '../atomic.js';
import { definer, rd, rdAt, rdSoft, rmwAddr, trunc, wrAt, type Handler, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const ALU: HandlerTable = {};
const def = definer(ALU);

/** The two-operand ALU operations in opcode order (ADD=0 ... CMP=7). */
export const Alu = {
  ADD: 0,
  OR: 1,
  ADC: 2,
  SBB: 3,
  AND: 4,
  SUB: 5,
  XOR: 6,
  CMP: 7,
} as const;
export type Alu = (typeof Alu)[keyof typeof Alu];

/** Computes a two-operand ALU op with flags; returns the low half, high half in c.t1. */
export function alu(c: X86Cpu, op: Alu, size: number, a0: number, a1: number, b0: number, b1: number): number {
  const f = c.f;
  let r0: number;
  let r1 = 0;
  switch (op) {
    case Alu.ADD:
    case Alu.ADC: {
      const cin = op === Alu.ADC ? c.cf() ? 1 : 0 : 0;
      if (size === 8) {
        const lo = (a0 >>> 0) + (b0 >>> 0) + cin;
        r0 = lo | 0;
        r1 = (a1 + b1 + (lo > 0xffffffff ? 1 : 0)) | 0;
      } else r0 = trunc(a0 + b0 + cin, size);
      f.set(op === Alu.ADC ? FOp.ADC : FOp.ADD, size, a0, a1, b0, b1, r0, r1);
      f.cin = cin;
      break;
    }
    case Alu.SUB:
    case Alu.SBB:
    case Alu.CMP: {
      const cin = op === Alu.SBB ? c.cf() ? 1 : 0 : 0;
      if (size === 8) {
        const lo = (a0 >>> 0) - (b0 >>> 0) - cin;
        r0 = lo | 0;
        r1 = (a1 - b1 - (lo < 0 ? 1 : 0)) | 0;
      } else r0 = trunc(a0 - b0 - cin, size);
      f.set(op === Alu.SBB ? FOp.SBB : FOp.SUB, size, a0, a1, b0, b1, r0, r1);
      f.cin = cin;
      break;
    }
    case Alu.AND:
      r0 = trunc(a0 & b0, size);
      r1 = size === 8 ? a1 & b1 : 0;
      f.set(FOp.LOGIC, size, a0, a1, b0, b1, r0, r1);
      break;
    case Alu.OR:
      r0 = trunc(a0 | b0, size);
      r1 = size === 8 ? a1 | b1 : 0;
      f.set(FOp.LOGIC, size, a0, a1, b0, b1, r0, r1);
      break;
    default:
      r0 = trunc(a0 ^ b0, size);
      r1 = size === 8 ? a1 ^ b1 : 0;
      f.set(FOp.LOGIC, size, a0, a1, b0, b1, r0, r1);
  }
  c.t1 = r1;
  return r0;
}

function aluInsn(op: Alu): Handler {
  const writes = op !== Alu.CMP;
  return (c, i) => {
    const size = i.size[0]!;
    if (size === 4 && i.kind[0] === K_REG && i.kind[1] !== K_MEM) {
      // The common 32-bit register form without the operand plumbing.
      const R = c.s.r;
      const d = 2 * i.reg[0]!;
      const r = alu(c, op, 4, R[d]!, 0, i.kind[1] === K_IMM ? i.imm | 0 : R[2 * i.reg[1]!]!, 0);
      if (writes) {
        R[d] = r;
        R[d + 1] = 0;
      }
      return;
    }
    const lin = writes ? rmwAddr(c, i) : -1;
    if (i.lock) return lockedAlu(c, i, op, lin);
    // CMP reads without writing: an MMIO operand exits without unwinding (rdSoft).
    const a0 = writes ? rdAt(c, i, lin) : rdSoft(c, i, 0);
    const a1 = c.t1;
    const b0 = writes ? rd(c, i, 1) : rdSoft(c, i, 1);
    const b1 = size === 8 ? c.t1 : 0;
    if (c.exitNow) return;
    // Immediates narrower than the operand are sign-extended.
    const bx0 = i.kind[1] === K_IMM ? trunc(i.imm, size) : b0;
    const bx1 = i.kind[1] === K_IMM ? (size === 8 ? i.immHi : 0) : b1;
    const r = alu(c, op, size, a0, size === 8 ? a1 : 0, bx0, bx1);
    if (writes) wrAt(c, i, lin, r, c.t1);
  };
}

def('ADD', aluInsn(Alu.ADD));
def('OR', aluInsn(Alu.OR));
def('ADC', aluInsn(Alu.ADC));
def('SBB', aluInsn(Alu.SBB));
def('AND', aluInsn(Alu.AND));
def('SUB', aluInsn(Alu.SUB));
def('XOR', aluInsn(Alu.XOR));
def('CMP', aluInsn(Alu.CMP));
def('TEST', (c, i) => {
  const size = i.size[0]!;
  const a0 = rdSoft(c, i, 0);
  const a1 = c.t1;
  const b0 = rdSoft(c, i, 1);
  const b1 = c.t1;
  if (c.exitNow) return;
  alu(c, Alu.AND, size, a0, a1, b0, b1);
});

function incdec(dec: boolean): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const lin = rmwAddr(c, i);
    if (i.lock) return lockedIncDec(c, i, lin, dec);
    const a0 = rdAt(c, i, lin);
    const r0 = incDecResult(c, size, dec, a0, size === 8 ? c.t1 : 0);
    wrAt(c, i, lin, r0, c.t1);
  };
}

/** INC/DEC of a0:a1: sets the flags (CF preserved) and returns the low half, the high half in c.t1. */
export function incDecResult(c: X86Cpu, size: number, dec: boolean, a0: number, a1: number): number {
  const cf = c.cf();
  let r0: number;
  let r1 = 0;
  if (size === 8) {
    const lo = (a0 >>> 0) + (dec ? -1 : 1);
    r0 = lo | 0;
    r1 = (a1 + (lo > 0xffffffff ? 1 : lo < 0 ? -1 : 0)) | 0;
  } else r0 = trunc(a0 + (dec ? -1 : 1), size);
  c.f.set(dec ? FOp.DEC : FOp.INC, size, a0, a1, 1, 0, r0, r1);
  c.f.cin = cf;
  c.t1 = r1;
  return r0;
}
def('INC', incdec(false));
def('DEC', incdec(true));

def('NOT', (c, i) => {
  const lin = rmwAddr(c, i);
  if (i.lock) return void lockedRmw(c, lin, i.size[0]!, AOp.XOR, -1, -1);
  const a0 = rdAt(c, i, lin);
  const a1 = c.t1;
  wrAt(c, i, lin, trunc(~a0, i.size[0]!), ~a1);
});

def('NEG', (c, i) => {
  const size = i.size[0]!;
  const lin = rmwAddr(c, i);
  if (i.lock) return lockedNeg(c, i, lin);
  const a0 = rdAt(c, i, lin);
  const a1 = size === 8 ? c.t1 : 0;
  const r = alu(c, Alu.SUB, size, 0, 0, a0, a1);
  wrAt(c, i, lin, r, c.t1);
});


// ---- LOCK forms: the memory access is one host atomic operation (atomic.ts), so it stays
// atomic when the VM's vCPUs run on several threads; flags come from the old value it returns.

function lockedAlu(c: X86Cpu, i: Insn, op: Alu, lin: number): void {
  const size = i.size[0]!;
  const b0 = rd(c, i, 1);
  const b1 = size === 8 ? c.t1 : 0;
  const bx0 = i.kind[1] === K_IMM ? trunc(i.imm, size) : b0;
  const bx1 = i.kind[1] === K_IMM ? (size === 8 ? i.immHi : 0) : b1;
  let a0: number;
  if (op === Alu.AND || op === Alu.OR || op === Alu.XOR) {
    a0 = lockedRmw(c, lin, size, op === Alu.AND ? AOp.AND : op === Alu.OR ? AOp.OR : AOp.XOR, bx0, bx1);
  } else {
    // ADD/ADC/SUB/SBB: one atomic add of the operand (plus CF; negated to subtract).
    const cin = op === Alu.ADC || op === Alu.SBB ? c.cf() : 0;
    const sub = op === Alu.SUB || op === Alu.SBB;
    if (size === 8) {
      let v = ((BigInt(bx1 | 0) << 32n) | BigInt(bx0 >>> 0)) + BigInt(cin);
      v = BigInt.asUintN(64, sub ? -v : v);
      a0 = lockedRmw(c, lin, 8, AOp.ADD, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
    } else a0 = lockedRmw(c, lin, size, AOp.ADD, sub ? -(bx0 + cin) : bx0 + cin, 0);
  }
  alu(c, op, size, a0, size === 8 ? c.t1 : 0, bx0, bx1);
}

function lockedIncDec(c: X86Cpu, i: Insn, lin: number, dec: boolean): void {
  const size = i.size[0]!;
  const a0 = lockedRmw(c, lin, size, AOp.ADD, dec ? -1 : 1, dec ? -1 : 0);
  incDecResult(c, size, dec, a0, size === 8 ? c.t1 : 0);
}

function lockedNeg(c: X86Cpu, i: Insn, lin: number): void {
  const size = i.size[0]!;
  const a0 = lockedUpdate(c, lin, size, (lo, hi, out) => {
    out.v = size === 8 ? (~hi + (lo === 0 ? 1 : 0)) | 0 : 0;
    return size === 8 ? -lo | 0 : trunc(-lo, size);
  });
  alu(c, Alu.SUB, size, 0, 0, a0, size === 8 ? c.t1 : 0);
}
