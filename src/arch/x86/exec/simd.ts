/**
 * Operand access shared by the SIMD handlers (SSE, MMX): the XMM and MMX registers in the vCPU's
 * FXSAVE image (X86State.fx), memory operands of up to 16 bytes with the SDM's alignment rule
 * (rows without `ua`: #GP(0) on a misaligned 16-byte operand) and no partial effects when an
 * access crosses a page (both pages are translated before any byte moves), the MMX state
 * transition, and #XM. The exception-class checks (#UD/#NM/#MF) ran before the handler
 * (exec/classes.ts).
 * @module
 */
import { Acc, VEC, type X86Cpu } from '../cpu.js';
import { F_A16, K_IMM, K_MEM, K_MMX, K_XMM, type Insn } from '../decoder.js';
import { CR4 } from '../state.js';
import { ea, type Handler } from './operands.js';

/** Word index of XMM n in the FXSAVE image (byte 160 + 16n). */
export const xw = (n: number): number => 40 + 4 * n;

/** Word index of MMX register n: the significand of physical x87 register n (ST((n - TOP) & 7)). */
export function mw(c: X86Cpu, n: number): number {
  return 8 + 4 * ((n - c.x87.top) & 7);
}

/** Word index of register operand k (XMM, or MMX wherever TOP is). */
export function regW(c: X86Cpu, i: Insn, k: number): number {
  return i.kind[k] === K_XMM ? xw(i.reg[k]!) : mw(c, i.reg[k]!);
}

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

/** Reads `size` (1, 2, 4, 8 or 16) bytes at `lin` into out[o..]: words, the last one partial. */
export function loadLin(c: X86Cpu, lin: number, size: number, out: Int32Array, o = 0): void {
  if (size < 8) {
    out[o] = c.readLin(lin, size);
    return;
  }
  out[o] = c.readLin(lin, 8);
  out[o + 1] = c.t1;
  if (size === 16) {
    out[o + 2] = c.readLin(c.wrapLin(lin + 8), 8);
    out[o + 3] = c.t1;
  }
}

/** Writes `size` (1, 2, 4, 8 or 16) bytes from words w[o..] to `lin`. */
export function storeLin(c: X86Cpu, lin: number, size: number, w: Int32Array, o = 0): void {
  if (size < 8) return c.writeLin(lin, size, w[o]!);
  c.writeLin(lin, 8, w[o]!, w[o + 1]!);
  if (size === 16) c.writeLin(c.wrapLin(lin + 8), 8, w[o + 2]!, w[o + 3]!);
}

/**
 * The source operand k into `c.sse.src` (16 bytes): a whole XMM register, an MMX register (high
 * half zero), or `size` bytes of memory (the rest zero). Returns the scratch.
 */
export function loadSrc(c: X86Cpu, i: Insn, k: number, size: number): Int32Array {
  const s = c.srcw;
  const kind = i.kind[k];
  if (kind === K_MEM) {
    s[0] = s[1] = s[2] = s[3] = 0;
    loadLin(c, simdLin(c, i, size, false), size, s);
    return s;
  }
  const w = c.fxw;
  const at = kind === K_XMM ? xw(i.reg[k]!) : mw(c, i.reg[k]!);
  s[0] = w[at]!;
  s[1] = w[at + 1]!;
  if (kind === K_XMM) {
    s[2] = w[at + 2]!;
    s[3] = w[at + 3]!;
  } else s[2] = s[3] = 0;
  return s;
}

/** Writes `size` bytes of words `w` (from o) to operand k: a register (other bytes kept) or memory. */
export function writeX(c: X86Cpu, i: Insn, k: number, size: number, w: Int32Array, o = 0): void {
  if (i.kind[k] === K_MEM) return storeLin(c, simdLin(c, i, size, true), size, w, o);
  const at = regW(c, i, k);
  const fx = c.fxw;
  for (let j = 0; j < size / 4; j++) fx[at + j] = w[o + j]!;
}

/** After an unmasked SIMD floating-point exception: #XM, or #UD when CR4.OSXMMEXCPT = 0. */
export function simdFault(c: X86Cpu): never {
  if (c.s.cr4 & CR4.OSXMMEXCPT) c.raise(VEC.XM);
  c.ud();
}

/**
 * A packed operation on register operand 0 (MMX or XMM) with the source operand 1 in `c.sse.src`
 * (`srcBytes` from memory; a register source is whole). `op` gets the destination's byte offset in
 * the image and the width (8 or 16). MMX forms enter the MMX state (TOP = 0, all tags valid) after
 * the source is read, and mark the destination written.
 */
export function packed(op: (c: X86Cpu, o: number, n: number, i: Insn) => void, srcBytes = 0): Handler {
  return (c, i) => {
    const mmx = i.kind[0] === K_MMX;
    const n = mmx ? 8 : 16;
    if (i.nops > 1 && i.kind[1] !== K_IMM) loadSrc(c, i, 1, srcBytes || (i.kind[1] === K_MEM ? i.size[1]! : n));
    const r = i.reg[0]!;
    if (mmx) c.x87.mmxEnter();
    op(c, (mmx ? 32 : 160) + 16 * r, n, i);
    if (mmx) c.x87.mmxWritten(r);
  };
}
