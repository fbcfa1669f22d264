/**
 * x86 SSE/SSE2/SSE3/SSE4.1 and MMX data movement: MOVUPS/MOVUPD/MOVAPS/MOVAPD/MOVDQA/MOVDQU/LDDQU,
 * the non-temporal stores and MOVNTDQA, MOVSS/MOVSD, MOVLPS/MOVLPD/MOVHPS/MOVHPD/MOVHLPS/MOVLHPS,
 * MOVSLDUP/MOVSHDUP/MOVDDUP, MOVD/MOVQ (MMX, XMM, general registers, memory), MASKMOVQ/MASKMOVDQU,
 * PINSRx/PEXTRx, PMOVMSKB, EMMS, ANDPS/ANDPD/ORPS/ORPD/XORPS/XORPD, PREFETCHh.
 * @module
 */
import type { X86Cpu } from '../cpu.js';
import { K_MEM, K_MMX, K_REG, K_XMM, type Insn } from '../decoder.js';
import { definer, ea, type Handler, type HandlerTable } from './operands.js';
import { loadSrc, mw, simdLin, writeX, xw } from './simd.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const SSE: HandlerTable = {};
const def = definer(SSE);

/** A full-width move between operand 1 and operand 0 (16 bytes; the row says if it must be aligned). */
const move16: Handler = (c, i) => writeX(c, i, 0, 16, loadSrc(c, i, 1, 16));
for (const n of ['MOVUPS', 'MOVUPD', 'MOVAPS', 'MOVAPD', 'MOVDQA', 'MOVDQU', 'MOVNTPS', 'MOVNTPD', 'MOVNTDQ', 'MOVNTDQA', 'LDDQU']) def(n, move16);

/** MOVSS/MOVSD: register to register merges into the low lane; a load zeroes the rest; a store writes `size` bytes. */
function scalarMove(size: number): Handler {
  return (c, i) => {
    const src = loadSrc(c, i, 1, size);
    if (i.kind[0] === K_XMM && i.kind[1] !== K_XMM) writeX(c, i, 0, 16, src);
    else writeX(c, i, 0, size, src);
  };
}
def('MOVSS', scalarMove(4));
def('MOVSD', scalarMove(8));

/** The value MOVD/MOVQ moves, as two words. */
const V = new Int32Array(4);

/**
 * MOVD/MOVQ (`size` 4 or 8) between MMX registers, XMM registers, general registers and memory:
 * into an XMM register the rest is zeroed, into an MMX register zero-extended to 64 bits; any MMX
 * operand enters the MMX state.
 */
function movdq(size: number): Handler {
  return (c, i) => {
    const k0 = i.kind[0], k1 = i.kind[1];
    if (k1 === K_REG) {
      V[0] = c.getReg(i.reg[1]!, size);
      V[1] = size === 8 ? c.t1 : 0;
    } else {
      const s = loadSrc(c, i, 1, size);
      V[0] = s[0]!;
      V[1] = s[1]!;
    }
    if (size === 4) V[1] = 0;
    V[2] = V[3] = 0;
    if (k0 === K_MEM) writeX(c, i, 0, size, V);
    const mmx = k0 === K_MMX || k1 === K_MMX;
    if (mmx) c.x87.mmxEnter();
    if (k0 === K_XMM) c.fxw.set(V, xw(i.reg[0]!));
    else if (k0 === K_MMX) {
      c.fxw[8 + 4 * i.reg[0]!] = V[0]!;
      c.fxw[9 + 4 * i.reg[0]!] = V[1]!;
      c.x87.mmxWritten(i.reg[0]!);
    } else if (k0 === K_REG) c.setReg(i.reg[0]!, size, V[0]!, V[1]!);
  };
}
def('MOVD', movdq(4));
def('MOVQ', movdq(8));
def('MOVNTQ', movdq(8));
def('MOVNTI', (c, i) => {
  const size = i.size[0]!;
  const lo = c.getReg(i.reg[1]!, size);
  c.write(i.seg, ea(c, i), size, lo, size === 8 ? c.t1 : 0);
});

/** MOVLPS/MOVLPD/MOVHPS/MOVHPD: 8 bytes between memory and the low (`hi` = false) or high half. */
function halfMove(hi: boolean): Handler {
  return (c, i) => {
    const w = c.fxw;
    if (i.kind[0] === K_XMM) {
      const src = loadSrc(c, i, 1, 8);
      const at = xw(i.reg[0]!) + (hi ? 2 : 0);
      w[at] = src[0]!;
      w[at + 1] = src[1]!;
    } else writeX(c, i, 0, 8, w, xw(i.reg[1]!) + (hi ? 2 : 0));
  };
}
def('MOVLPS', halfMove(false));
def('MOVLPD', halfMove(false));
def('MOVHPS', halfMove(true));
def('MOVHPD', halfMove(true));
/** MOVHLPS: the high qword of the source to the low qword of the destination (MOVLHPS the reverse). */
function halfReg(from: number, to: number): Handler {
  return (c, i) => {
    const s = loadSrc(c, i, 1, 16);
    const d = xw(i.reg[0]!) + to;
    c.fxw[d] = s[from]!;
    c.fxw[d + 1] = s[from + 1]!;
  };
}
def('MOVHLPS', halfReg(2, 0));
def('MOVLHPS', halfReg(0, 2));

/** MOVSLDUP/MOVSHDUP: the even (odd) dwords duplicated; MOVDDUP: the low qword duplicated. */
function dup(pattern: readonly number[], bytes: number): Handler {
  return (c, i) => {
    const s = loadSrc(c, i, 1, bytes);
    const d = xw(i.reg[0]!);
    for (let k = 0; k < 4; k++) V[k] = s[pattern[k]!]!;
    c.fxw.set(V, d);
  };
}
def('MOVSLDUP', dup([0, 0, 2, 2], 16));
def('MOVSHDUP', dup([1, 1, 3, 3], 16));
def('MOVDDUP', dup([0, 1, 0, 1], 8));

function logic(op: 'and' | 'or' | 'xor'): Handler {
  return (c, i) => {
    const src = loadSrc(c, i, 1, 16);
    const w = c.fxw;
    const d = xw(i.reg[0]!);
    for (let k = 0; k < 4; k++) {
      const x = w[d + k]!;
      w[d + k] = op === 'and' ? x & src[k]! : op === 'or' ? x | src[k]! : x ^ src[k]!;
    }
  };
}
def('ANDPS', logic('and'));
def('ANDPD', logic('and'));
def('ORPS', logic('or'));
def('ORPD', logic('or'));
def('XORPS', logic('xor'));
def('XORPD', logic('xor'));

/** MASKMOVQ/MASKMOVDQU: the bytes of operand 0 whose mask byte (operand 1) has bit 7 set, to DS:rDI. */
function maskmov(c: X86Cpu, i: Insn): void {
  const n = i.kind[0] === K_MMX ? 8 : 16;
  const at0 = i.kind[0] === K_MMX ? mw(c, i.reg[0]!) : xw(i.reg[0]!);
  const at1 = i.kind[1] === K_MMX ? mw(c, i.reg[1]!) : xw(i.reg[1]!);
  const b = c.fxb;
  const di = c.regNum(7, i.asz);
  for (let k = 0; k < n; k++) {
    if (b[4 * at1 + k]! & 0x80) {
      const off = i.asz === 2 ? (di + k) & 0xffff : i.asz === 4 ? (di + k) >>> 0 : di + k;
      c.write(i.seg, off, 1, b[4 * at0 + k]!);
    }
  }
  if (n === 8) c.x87.mmxEnter();
}
def('MASKMOVQ', maskmov);
def('MASKMOVDQU', maskmov);

// ---- element inserts and extracts ----------------------------------------------------------------

/** PINSRB/PINSRW/PINSRD/PINSRQ: `size` bytes from a general register or memory into element imm. */
function pinsr(size: number): Handler {
  return (c, i) => {
    let lo: number, hi = 0;
    if (i.kind[1] === K_REG) {
      lo = c.getReg(i.reg[1]!, size === 8 ? 8 : 4);
      if (size === 8) hi = c.t1;
    } else {
      lo = c.readLin(simdLin(c, i, size, false), size);
      if (size === 8) hi = c.t1;
    }
    const mmx = i.kind[0] === K_MMX;
    if (mmx) c.x87.mmxEnter();
    const base = mmx ? 32 + 16 * i.reg[0]! : 160 + 16 * i.reg[0]!;
    const idx = i.imm & ((mmx ? 8 : 16) / size - 1);
    const o = base + idx * size;
    if (size === 1) c.fxb[o] = lo;
    else if (size === 2) c.fxh[o >> 1] = lo;
    else {
      c.fxw[o >> 2] = lo;
      if (size === 8) c.fxw[(o >> 2) + 1] = hi;
    }
    if (mmx) c.x87.mmxWritten(i.reg[0]!);
  };
}
def('PINSRB', pinsr(1));
def('PINSRW', pinsr(2));
def('PINSRD', pinsr(4));
def('PINSRQ', pinsr(8));

/** PEXTRB/PEXTRW/PEXTRD/PEXTRQ: element imm to a general register (zero-extended) or to memory. */
function pextr(size: number): Handler {
  return (c, i) => {
    const k = 1;
    const mmx = i.kind[k] === K_MMX;
    const base = 4 * (mmx ? mw(c, i.reg[k]!) : xw(i.reg[k]!));
    const o = base + (i.imm & ((mmx ? 8 : 16) / size - 1)) * size;
    const lo = size === 1 ? c.fxb[o]! : size === 2 ? c.fxh[o >> 1]! : c.fxw[o >> 2]!;
    const hi = size === 8 ? c.fxw[(o >> 2) + 1]! : 0;
    if (i.kind[0] === K_REG) c.setReg(i.reg[0]!, size === 8 ? 8 : 4, lo, hi);
    else c.writeLin(simdLin(c, i, size, true), size, lo, hi);
    if (mmx) c.x87.mmxEnter();
  };
}
def('PEXTRB', pextr(1));
def('PEXTRW', pextr(2));
def('PEXTRD', pextr(4));
def('PEXTRQ', pextr(8));

def('PMOVMSKB', (c, i) => {
  loadSrc(c, i, 1, 16);
  const mmx = i.kind[1] === K_MMX;
  c.setReg(i.reg[0]!, 4, c.sse.pmovmskb(mmx ? 8 : 16));
  if (mmx) c.x87.mmxEnter();
});

def('EMMS', (c) => c.x87.emms());

for (const n of ['PREFETCHNTA', 'PREFETCHT0', 'PREFETCHT1', 'PREFETCHT2']) def(n, () => {});
