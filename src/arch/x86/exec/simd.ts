/**
 * Operand access shared by the SIMD handlers (SSE, MMX): the XMM and MMX registers in the vCPU's
 * FXSAVE image (X86State.fx, as int32 words), and memory operands of up to 16 bytes with the SDM's
 * alignment rule (rows without `ua`: #GP(0) on a misaligned 16-byte operand) and no partial
 * effects when an access crosses a page (both pages are translated before any byte moves).
 * The exception class checks (#UD/#NM/#MF) ran before the handler (exec/index.ts).
 * @module
 */
import { Acc, type X86Cpu } from '../cpu.js';
import { F_A16, K_MEM, K_MMX, K_XMM, type Insn } from '../decoder.js';
import { ea } from './operands.js';

/** Word index of XMM n in the FXSAVE image (byte 160 + 16n). */
export const xw = (n: number): number => 40 + 4 * n;

/**
 * The linear address of the memory operand for an access of `size` bytes: segment checks, the
 * row's alignment rule, and for an access crossing a page both pages translated first.
 */
export function simdLin(c: X86Cpu, i: Insn, size: number, write: boolean): number {
  const lin = c.linear(i.seg, ea(c, i), size, write);
  if (i.desc!.flags & F_A16 && lin % 16 !== 0) c.gp(0);
  if ((lin & 0xfff) + size > 0x1000) {
    c.translate(lin, write ? Acc.WRITE : Acc.READ);
    c.translate(c.wrapLin(lin + size - 1), write ? Acc.WRITE : Acc.READ);
  }
  return lin;
}

/** Reads `size` (4, 8 or 16) bytes at `lin` into out[0..size/4). */
export function loadLin(c: X86Cpu, lin: number, size: number, out: Int32Array, o = 0): void {
  if (size === 4) {
    out[o] = c.readLin(lin, 4);
    return;
  }
  out[o] = c.readLin(lin, 8);
  out[o + 1] = c.t1;
  if (size === 16) {
    out[o + 2] = c.readLin(c.wrapLin(lin + 8), 8);
    out[o + 3] = c.t1;
  }
}

/** Writes words w[o..o+size/4) to `lin`. */
export function storeLin(c: X86Cpu, lin: number, size: number, w: Int32Array, o = 0): void {
  if (size === 4) return c.writeLin(lin, 4, w[o]!);
  c.writeLin(lin, 8, w[o]!, w[o + 1]!);
  if (size === 16) c.writeLin(c.wrapLin(lin + 8), 8, w[o + 2]!, w[o + 3]!);
}

/** Scratch for source operands (never held across handlers). */
export const SRC = new Int32Array(4);

/**
 * Operand k of `size` bytes (XMM register or memory) into SRC; returns the word index of the data
 * in `c.fxw` for a register (so callers can read it in place), or -1 when it is in SRC.
 */
export function readX(c: X86Cpu, i: Insn, k: number, size: number): number {
  if (i.kind[k] === K_XMM) return xw(i.reg[k]!);
  if (i.kind[k] === K_MMX) return mw(c, i.reg[k]!);
  loadLin(c, simdLin(c, i, size, false), size, SRC);
  return -1;
}

/** SRC filled from operand k (register or memory), `size` bytes; the rest of SRC is left alone. */
export function srcX(c: X86Cpu, i: Insn, k: number, size: number): Int32Array {
  const at = readX(c, i, k, size);
  if (at >= 0) {
    const w = c.fxw;
    for (let j = 0; j < size / 4; j++) SRC[j] = w[at + j]!;
  }
  return SRC;
}

/** Writes `size` bytes of words `w` to operand k: an XMM register (other bytes kept) or memory. */
export function writeX(c: X86Cpu, i: Insn, k: number, size: number, w: Int32Array, o = 0): void {
  if (i.kind[k] === K_MEM) return storeLin(c, simdLin(c, i, size, true), size, w, o);
  const at = i.kind[k] === K_XMM ? xw(i.reg[k]!) : mw(c, i.reg[k]!);
  const fx = c.fxw;
  for (let j = 0; j < size / 4; j++) fx[at + j] = w[o + j]!;
}

/** Word index of MMX register n: the low 64 bits of physical x87 register n (fpu/x87.ts mmOff). */
export function mw(c: X86Cpu, n: number): number {
  const top = (c.fxw[0]! >>> 27) & 7; // FSW.TOP (bits 13:11 of the word at byte 2)
  return 8 + 4 * ((n - top) & 7);
}
