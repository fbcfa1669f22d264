/**
 * Operand access shared by the x86 instruction handlers: effective addresses, generic reads and
 * writes of the decoded operands (registers, memory, immediates), read-modify-write addressing,
 * and the per-family handler tables.
 * @module
 */
import { EMULATION_FAILURE, type X86Cpu } from '../cpu.js';
import { K_IMM, K_MEM, K_REG, type Insn } from '../decoder.js';

/** A handler: executes the decoded instruction `i` on the CPU, leaving `c.next` as the next RIP. */
export type Handler = (c: X86Cpu, i: Insn) => void;
/** A family's handlers by mnemonic (the SDM names of the opcode table). */
export type HandlerTable = Record<string, Handler>;

/** A `def(name, handler)` filling `table`; a name defined twice is a bug caught at load. */
export function definer(table: HandlerTable): (name: string, h: Handler) => void {
  return (name, h) => {
    if (table[name]) throw new Error(`x86: two handlers for ${name}`);
    table[name] = h;
  };
}

export const MASK = [0, 0xff, 0xffff, 0, 0xffffffff, 0, 0, 0, 0xffffffff];

/** The unsigned value of a <= 4-byte operand as a BigInt (size 4 values are int32 in registers). */
export function ubig(v: number, size: number): bigint {
  return BigInt(size === 4 ? v >>> 0 : v & MASK[size]!);
}

/** Signed value of a (size <= 4) operand. */
export function sx(v: number, size: number): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}

/** Truncates a 32-bit-or-less value to `size` (returns int32 for size 4). */
export function trunc(v: number, size: number): number {
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v | 0;
}

/** Effective address (segment offset) of the memory operand. */
export function ea(c: X86Cpu, i: Insn): number {
  if (i.asz === 8) return ea64(c, i);
  let a = i.disp;
  if (i.base >= 0) a += c.regNum(i.base, i.asz);
  if (i.index >= 0) a += c.regNum(i.index, i.asz) * i.scale;
  return i.asz === 2 ? a & 0xffff : a >>> 0;
}

/**
 * 64-bit effective address. Registers below 2^48 in magnitude (every canonical pointer) sum exactly
 * in a double; otherwise the sum is formed modulo 2^64 from its halves (eaHalves).
 */
function ea64(c: X86Cpu, i: Insn): number {
  const R = c.s.r;
  const b = i.base;
  const x = i.index;
  const bh = b >= 0 ? R[2 * b + 1]! : 0;
  const xh = x >= 0 ? R[2 * x + 1]! : 0;
  if (bh < 0x10000 && bh >= -0x10000 && xh < 0x10000 && xh >= -0x10000) {
    const bl = b >= 0 ? R[2 * b]! >>> 0 : 0;
    const xl = x >= 0 ? R[2 * x]! >>> 0 : 0;
    return i.disp + (bh * 0x100000000 + bl) + (xh * 0x100000000 + xl) * i.scale;
  }
  eaHalves(c, i);
  return c.eaHi * 0x100000000 + (c.eaLo >>> 0);
}

/**
 * The 64-bit effective address as exact halves in c.eaLo / c.eaHi (LEA of any 64-bit values is
 * exact modulo 2^64): the low 32 bits summed in int32 arithmetic, the high word recovered from the
 * (slightly inexact) double sum.
 */
export function eaHalves(c: X86Cpu, i: Insn): void {
  const R = c.s.r;
  const b = i.base;
  const x = i.index;
  const bh = b >= 0 ? R[2 * b + 1]! : 0;
  const xh = x >= 0 ? R[2 * x + 1]! : 0;
  const bl = b >= 0 ? R[2 * b]! >>> 0 : 0;
  const xl = x >= 0 ? R[2 * x]! >>> 0 : 0;
  const a = i.disp + (bh * 0x100000000 + bl) + (xh * 0x100000000 + xl) * i.scale;
  const lo = ((i.disp | 0) + (bl | 0) + Math.imul(xl | 0, i.scale)) | 0;
  c.eaLo = lo;
  if (bh < 0x10000 && bh >= -0x10000 && xh < 0x10000 && xh >= -0x10000) {
    c.eaHi = Math.floor(a / 0x100000000) | 0;
    return;
  }
  // The high word modulo 2^32, signed (the double's error is far below 2^31).
  c.eaHi = (Math.round((a - (lo >>> 0)) / 0x100000000) % 0x100000000) | 0;
}

/** Reads operand k (low half returned, high half in c.t1 for 8-byte operands). */
export function rd(c: X86Cpu, i: Insn, k: number): number {
  const size = i.size[k]!;
  switch (i.kind[k]) {
    case K_REG: {
      const v = c.getReg(i.reg[k]!, size);
      if (size < 8) c.t1 = 0;
      return v;
    }
    case K_MEM: {
      const v = c.read(i.seg, ea(c, i), size);
      if (size < 8) c.t1 = 0;
      return size === 4 ? v | 0 : v;
    }
    case K_IMM:
      // Iz with a 64-bit destination is sign-extended to 64 bits.
      if (size === 8 || i.size[0] === 8) {
        c.t1 = i.immHi;
        return i.imm;
      }
      c.t1 = 0;
      return trunc(i.imm, size);
    default:
      throw EMULATION_FAILURE;
  }
}

/**
 * rd for an instruction that has no other memory access and writes nothing before this read
 * (MOV/MOVZX/MOVSX/MOVSXD to a register, CMP, TEST): an MMIO read that must exit sets
 * `c.exitNow` (the caller returns at once) instead of throwing (X86Mmu.readLinSoft).
 */
export function rdSoft(c: X86Cpu, i: Insn, k: number): number {
  if (i.kind[k] !== K_MEM) return rd(c, i, k);
  const size = i.size[k]!;
  const v = c.readLinSoft(c.linear(i.seg, ea(c, i), size, false), size);
  if (size < 8) c.t1 = 0;
  return size === 4 ? v | 0 : v;
}

/** Writes operand k. */
export function wr(c: X86Cpu, i: Insn, k: number, lo: number, hi = 0): void {
  const size = i.size[k]!;
  if (i.kind[k] === K_REG) c.setReg(i.reg[k]!, size, lo, hi);
  else if (i.kind[k] === K_MEM) c.write(i.seg, ea(c, i), size, lo, hi);
  else throw EMULATION_FAILURE;
}

/**
 * Read-modify-write of operand 0: returns the linear address used (for memory) so the write goes
 * to the same place without a second segment check; -1 for a register.
 */
export function rmwAddr(c: X86Cpu, i: Insn): number {
  return i.kind[0] === K_MEM ? c.linear(i.seg, ea(c, i), i.size[0]!, true) : -1;
}

export function rdAt(c: X86Cpu, i: Insn, lin: number): number {
  const size = i.size[0]!;
  if (lin < 0 && i.kind[0] !== K_MEM) {
    const v = c.getReg(i.reg[0]!, size);
    if (size < 8) c.t1 = 0;
    return v;
  }
  const v = c.readLin(lin, size);
  if (size < 8) c.t1 = 0;
  return size === 4 ? v | 0 : v;
}

export function wrAt(c: X86Cpu, i: Insn, lin: number, lo: number, hi: number): void {
  if (i.kind[0] !== K_MEM) c.setReg(i.reg[0]!, i.size[0]!, lo, hi);
  else c.writeLin(lin, i.size[0]!, lo, hi);
}
