/**
 * x86 SSE/SSE2 data movement and logic: MOVUPS/MOVUPD/MOVAPS/MOVAPD/MOVDQA/MOVDQU, MOVSS/MOVSD,
 * MOVLPS/MOVLPD/MOVHPS/MOVHPD/MOVHLPS/MOVLHPS, MOVNTPS/MOVNTPD/MOVNTDQ, MOVD/MOVQ,
 * ANDPS/ANDPD/ORPS/ORPD/XORPS/XORPD/PXOR, LDMXCSR/STMXCSR, FXSAVE/FXRSTOR, PREFETCHh.
 * @module
 */
import { K_MEM, K_XMM, type Insn } from '../decoder.js';
import { Acc, type X86Cpu } from '../cpu.js';
import { definer, ea, type Handler, type HandlerTable } from './operands.js';
import { simdLin, SRC, srcX, writeX, xw } from './simd.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const SSE: HandlerTable = {};
const def = definer(SSE);

/** A full-width move between operand 1 and operand 0 (16 bytes; the row says if it must be aligned). */
const move16: Handler = (c, i) => writeX(c, i, 0, 16, srcX(c, i, 1, 16));
for (const n of ['MOVUPS', 'MOVUPD', 'MOVAPS', 'MOVAPD', 'MOVDQA', 'MOVDQU', 'MOVNTPS', 'MOVNTPD', 'MOVNTDQ']) def(n, move16);

/**
 * A scalar move of `size` bytes: register to register merges into the low bytes; a load from
 * memory (or a GPR) zeroes the rest of the XMM register; a store writes `size` bytes.
 */
function scalarMove(size: number, zeroFromReg = false): Handler {
  return (c, i) => {
    const src = srcX(c, i, 1, size);
    const fromReg = i.kind[1] === K_XMM;
    if (i.kind[0] === K_XMM && (!fromReg || zeroFromReg)) {
      for (let j = size / 4; j < 4; j++) src[j] = 0;
      writeX(c, i, 0, 16, src);
    } else writeX(c, i, 0, size, src);
  };
}
def('MOVSS', scalarMove(4));
def('MOVSD', scalarMove(8));

/** MOVD/MOVQ: GPR or memory to XMM (zero-extended), XMM to GPR or memory; MOVQ xmm, xmm/m64 zero-extends too. */
function movdq(size: number): Handler {
  const scalar = scalarMove(size, true);
  return (c, i) => {
    if (i.kind[0] === K_XMM && i.kind[1] !== K_XMM && i.kind[1] !== K_MEM) {
      // From a general register.
      SRC[0] = c.getReg(i.reg[1]!, size);
      SRC[1] = size === 8 ? c.t1 : 0;
      SRC[2] = SRC[3] = 0;
      if (size === 4) SRC[1] = 0;
      return writeX(c, i, 0, 16, SRC);
    }
    if (i.kind[0] !== K_XMM && i.kind[0] !== K_MEM) {
      // To a general register.
      const w = c.fxw;
      const at = xw(i.reg[1]!);
      return c.setReg(i.reg[0]!, size, w[at]!, size === 8 ? w[at + 1]! : 0);
    }
    scalar(c, i);
  };
}
def('MOVD', movdq(4));
def('MOVQ', movdq(8));

/** MOVLPS/MOVLPD/MOVHPS/MOVHPD: 8 bytes between memory and the low (`hi` = false) or high half. */
function halfMove(hi: boolean): Handler {
  return (c, i) => {
    const w = c.fxw;
    if (i.kind[0] === K_XMM) {
      const src = srcX(c, i, 1, 8);
      const at = xw(i.reg[0]!) + (hi ? 2 : 0);
      w[at] = src[0]!;
      w[at + 1] = src[1]!;
    } else {
      const at = xw(i.reg[1]!) + (hi ? 2 : 0);
      writeX(c, i, 0, 8, w, at);
    }
  };
}
def('MOVLPS', halfMove(false));
def('MOVLPD', halfMove(false));
def('MOVHPS', halfMove(true));
def('MOVHPD', halfMove(true));
/** MOVHLPS: the high qword of the source to the low qword of the destination (and MOVLHPS the reverse). */
function halfReg(from: number, to: number): Handler {
  return (c, i) => {
    const w = c.fxw;
    const s = xw(i.reg[1]!) + from;
    const d = xw(i.reg[0]!) + to;
    const a = w[s]!;
    const b = w[s + 1]!;
    w[d] = a;
    w[d + 1] = b;
  };
}
def('MOVHLPS', halfReg(2, 0));
def('MOVLHPS', halfReg(0, 2));

function logic(op: 'and' | 'or' | 'xor'): Handler {
  return (c, i) => {
    const src = srcX(c, i, 1, 16);
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
def('PXOR', logic('xor'));

/** MXCSR (FXSAVE image byte 24): the bits this CPU implements (DAZ included). */
const MXCSR_MASK = 0xffff;

def('LDMXCSR', (c, i) => {
  const v = c.read(i.seg, ea(c, i), 4);
  if (v & ~MXCSR_MASK) c.gp(0);
  c.fxw[6] = v;
});
def('STMXCSR', (c, i) => c.write(i.seg, ea(c, i), 4, c.fxw[6]!));

def('FXSAVE', (c, i) => fxImage(c, i, true));
def('FXRSTOR', (c, i) => fxImage(c, i, false));
def('FXSAVE64', (c, i) => fxImage(c, i, true));
def('FXRSTOR64', (c, i) => fxImage(c, i, false));

/** FXSAVE/FXRSTOR: the 512-byte image, 16-byte aligned (#GP(0)); a reserved MXCSR bit in the image is #GP(0). */
function fxImage(c: X86Cpu, i: Insn, save: boolean): void {
  const a = ea(c, i);
  const lin = c.linear(i.seg, a, 512, save);
  if (lin % 16) c.gp(0);
  // No partial image: the second page (if any) is translated before the first byte moves.
  c.translate(c.wrapLin(lin + 511), save ? Acc.WRITE : Acc.READ);
  const w = c.fxw;
  if (save) {
    for (let k = 0; k < 512; k += 8) c.writeLin(c.wrapLin(lin + k), 8, w[k / 4]!, w[k / 4 + 1]!);
    return;
  }
  const tmp = new Int32Array(128);
  for (let k = 0; k < 512; k += 8) {
    tmp[k / 4] = c.readLin(c.wrapLin(lin + k), 8);
    tmp[k / 4 + 1] = c.t1;
  }
  if (tmp[6]! & ~MXCSR_MASK) c.gp(0);
  w.set(tmp);
}

for (const n of ['PREFETCHNTA', 'PREFETCHT0', 'PREFETCHT1', 'PREFETCHT2']) def(n, () => {});
