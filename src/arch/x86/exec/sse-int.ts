/**
 * x86 packed integer instructions on MMX and XMM registers (MMX, SSE, SSE2, SSSE3, SSE4.1,
 * SSE4.2): add/subtract (wrapping and saturating), compares, logic, multiplies, shifts, unpacks,
 * packs, shuffles, absolute value/sign, min/max, averages, sums of differences, blends, sign/zero
 * extensions, PTEST, PHMINPOSUW, MPSADBW, and PCMPxSTRx. The non-trivial lane arithmetic is the
 * fpu library's (fpu/sse.ts `Sse`); each handler fills `c.sse.src` with the source and works on
 * the destination's bytes in the FXSAVE image (`packed`, simd.ts).
 * @module
 */
import type { X86Cpu } from '../cpu.js';
import { K_IMM, type Insn } from '../decoder.js';
import { FLAG } from '../state.js';
import { definer, type HandlerTable } from './operands.js';
import { loadSrc, packed, xw } from './simd.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const SSE_INT: HandlerTable = {};
const def = definer(SSE_INT);

type Op = (c: X86Cpu, o: number, n: number, i: Insn) => void;

/** Scratch for results that read the destination while writing it. */
const T = new Int32Array(4);
const TB = new Uint8Array(T.buffer);
const TH = new Uint16Array(T.buffer);

// ---- wrapping add / subtract ---------------------------------------------------------------

function addsub(size: number, sub: boolean): Op {
  return (c, o, n) => {
    const s = sub ? -1 : 1;
    if (size === 1) for (let k = 0; k < n; k++) c.fxb[o + k] = c.fxb[o + k]! + s * c.srcb[k]!;
    else if (size === 2) for (let k = 0; k < n / 2; k++) c.fxh[(o >> 1) + k] = c.fxh[(o >> 1) + k]! + s * c.srch[k]!;
    else if (size === 4) for (let k = 0; k < n / 4; k++) c.fxw[(o >> 2) + k] = (c.fxw[(o >> 2) + k]! + s * c.srcw[k]!) | 0;
    else {
      for (let k = 0; k < n / 8; k++) {
        const d = (o >> 2) + 2 * k;
        const lo = (c.fxw[d]! >>> 0) + s * (c.srcw[2 * k]! >>> 0);
        const carry = lo < 0 ? -1 : lo > 0xffffffff ? 1 : 0;
        c.fxw[d] = lo | 0;
        c.fxw[d + 1] = (c.fxw[d + 1]! + s * c.srcw[2 * k + 1]! + carry) | 0;
      }
    }
  };
}
def('PADDB', packed(addsub(1, false)));
def('PADDW', packed(addsub(2, false)));
def('PADDD', packed(addsub(4, false)));
def('PADDQ', packed(addsub(8, false)));
def('PSUBB', packed(addsub(1, true)));
def('PSUBW', packed(addsub(2, true)));
def('PSUBD', packed(addsub(4, true)));
def('PSUBQ', packed(addsub(8, true)));

const sat = (words: boolean, unsigned: boolean, sub: boolean): Op => (c, o, n) => c.sse.addSat(o, n, words, unsigned, sub);
def('PADDSB', packed(sat(false, false, false)));
def('PADDSW', packed(sat(true, false, false)));
def('PADDUSB', packed(sat(false, true, false)));
def('PADDUSW', packed(sat(true, true, false)));
def('PSUBSB', packed(sat(false, false, true)));
def('PSUBSW', packed(sat(true, false, true)));
def('PSUBUSB', packed(sat(false, true, true)));
def('PSUBUSW', packed(sat(true, true, true)));

// ---- compares --------------------------------------------------------------------------------

function compare(size: number, gt: boolean): Op {
  return (c, o, n) => {
    if (size === 1) for (let k = 0; k < n; k++) c.fxb[o + k] = (gt ? c.fxsb[o + k]! > c.srcsb[k]! : c.fxb[o + k] === c.srcb[k]) ? 0xff : 0;
    else if (size === 2) for (let k = 0; k < n / 2; k++) c.fxh[(o >> 1) + k] = (gt ? c.fxsh[(o >> 1) + k]! > c.srcsh[k]! : c.fxh[(o >> 1) + k] === c.srch[k]) ? 0xffff : 0;
    else if (size === 4) for (let k = 0; k < n / 4; k++) c.fxw[(o >> 2) + k] = (gt ? c.fxw[(o >> 2) + k]! > c.srcw[k]! : c.fxw[(o >> 2) + k] === c.srcw[k]) ? -1 : 0;
    else {
      for (let k = 0; k < n / 8; k++) {
        const d = (o >> 2) + 2 * k;
        const al = c.fxw[d]!, ah = c.fxw[d + 1]!, bl = c.srcw[2 * k]!, bh = c.srcw[2 * k + 1]!;
        const r = gt ? ah > bh || (ah === bh && al >>> 0 > bl >>> 0) : al === bl && ah === bh;
        c.fxw[d] = c.fxw[d + 1] = r ? -1 : 0;
      }
    }
  };
}
def('PCMPEQB', packed(compare(1, false)));
def('PCMPEQW', packed(compare(2, false)));
def('PCMPEQD', packed(compare(4, false)));
def('PCMPEQQ', packed(compare(8, false)));
def('PCMPGTB', packed(compare(1, true)));
def('PCMPGTW', packed(compare(2, true)));
def('PCMPGTD', packed(compare(4, true)));
def('PCMPGTQ', packed(compare(8, true)));

// ---- logic -----------------------------------------------------------------------------------

function logic(kind: 'and' | 'andn' | 'or' | 'xor'): Op {
  return (c, o, n) => {
    const w = c.fxw, s = c.srcw;
    for (let k = 0; k < n / 4; k++) {
      const d = (o >> 2) + k;
      const x = w[d]!;
      w[d] = kind === 'and' ? x & s[k]! : kind === 'andn' ? ~x & s[k]! : kind === 'or' ? x | s[k]! : x ^ s[k]!;
    }
  };
}
def('PAND', packed(logic('and')));
def('PANDN', packed(logic('andn')));
def('POR', packed(logic('or')));
def('PXOR', packed(logic('xor')));

// ---- multiplies, averages, min/max, sums ------------------------------------------------------

def('PMULLW', packed((c, o, n) => {
  for (let k = 0; k < n / 2; k++) c.fxh[(o >> 1) + k] = Math.imul(c.fxsh[(o >> 1) + k]!, c.srcsh[k]!);
}));
def('PMULHW', packed((c, o, n) => c.sse.pmulhw(o, n, true)));
def('PMULHUW', packed((c, o, n) => c.sse.pmulhw(o, n, false)));
def('PMULHRSW', packed((c, o, n) => c.sse.pmulhrsw(o, n)));
def('PMULUDQ', packed((c, o, n) => c.sse.pmuludq(o, n)));
def('PMULLD', packed((c, o, n) => c.sse.pmulld(o, n)));
def('PMADDWD', packed((c, o, n) => c.sse.pmaddwd(o, n)));
def('PMADDUBSW', packed((c, o, n) => c.sse.pmaddubsw(o, n)));
def('PSADBW', packed((c, o, n) => c.sse.psadbw(o, n)));
def('PAVGB', packed((c, o, n) => c.sse.pavg(o, n, false)));
def('PAVGW', packed((c, o, n) => c.sse.pavg(o, n, true)));
/** PMULDQ: the signed products of dwords 0 and 2, as quadwords. */
def('PMULDQ', packed((c, o) => {
  const w = c.fxw;
  for (let k = 0; k < 2; k++) {
    const d = (o >> 2) + 2 * k;
    mul32x32(w[d]!, c.srcw[2 * k]!, true);
    w[d] = MUL[0]!;
    w[d + 1] = MUL[1]!;
  }
}));

/** a * b (32 x 32 -> 64 bits, signed or unsigned) into MUL[0] (low) and MUL[1] (high). */
export const MUL = new Int32Array(2);
export function mul32x32(a: number, b: number, signed: boolean): void {
  const ua = a >>> 0, ub = b >>> 0;
  const al = ua & 0xffff, ah = ua >>> 16, bl = ub & 0xffff, bh = ub >>> 16;
  const ll = al * bl;
  const mid = ah * bl + al * bh; // < 2^33
  const lo = ll + (mid % 0x10000) * 0x10000; // < 2^49
  let hi = ah * bh + Math.floor(mid / 0x10000) + Math.floor(lo / 0x100000000);
  if (signed) {
    if (a < 0) hi -= ub;
    if (b < 0) hi -= ua;
  }
  MUL[0] = lo | 0;
  MUL[1] = hi | 0;
}

const minmax = (size: number, unsigned: boolean, max: boolean): Op => (c, o, n) => c.sse.minmaxInt(o, n, size, unsigned, max);
def('PMINUB', packed(minmax(1, true, false)));
def('PMAXUB', packed(minmax(1, true, true)));
def('PMINSW', packed(minmax(2, false, false)));
def('PMAXSW', packed(minmax(2, false, true)));
def('PMINSB', packed(minmax(1, false, false)));
def('PMAXSB', packed(minmax(1, false, true)));
def('PMINUW', packed(minmax(2, true, false)));
def('PMAXUW', packed(minmax(2, true, true)));
def('PMINSD', packed(minmax(4, false, false)));
def('PMAXSD', packed(minmax(4, false, true)));
def('PMINUD', packed(minmax(4, true, false)));
def('PMAXUD', packed(minmax(4, true, true)));
def('PHMINPOSUW', packed((c, o) => c.sse.phminposuw(o)));
def('MPSADBW', packed((c, o, _n, i) => c.sse.mpsadbw(o, i.imm & 0xff)));

// ---- horizontal, sign, absolute value, shuffle bytes, align ----------------------------------

const hint = (dwords: boolean, sub: boolean, satd: boolean): Op => (c, o, n) => c.sse.hint(o, n, dwords, sub, satd);
def('PHADDW', packed(hint(false, false, false)));
def('PHADDD', packed(hint(true, false, false)));
def('PHADDSW', packed(hint(false, false, true)));
def('PHSUBW', packed(hint(false, true, false)));
def('PHSUBD', packed(hint(true, true, false)));
def('PHSUBSW', packed(hint(false, true, true)));
def('PSHUFB', packed((c, o, n) => c.sse.pshufb(o, n)));

function sign(size: number): Op {
  return (c, o, n) => {
    for (let k = 0; k < n / size; k++) {
      const s = size === 1 ? c.srcsb[k]! : size === 2 ? c.srcsh[k]! : c.srcw[k]!;
      if (size === 1) c.fxsb[o + k] = s < 0 ? -c.fxsb[o + k]! : s === 0 ? 0 : c.fxsb[o + k]!;
      else if (size === 2) c.fxsh[(o >> 1) + k] = s < 0 ? -c.fxsh[(o >> 1) + k]! : s === 0 ? 0 : c.fxsh[(o >> 1) + k]!;
      else c.fxw[(o >> 2) + k] = s < 0 ? -c.fxw[(o >> 2) + k]! | 0 : s === 0 ? 0 : c.fxw[(o >> 2) + k]!;
    }
  };
}
def('PSIGNB', packed(sign(1)));
def('PSIGNW', packed(sign(2)));
def('PSIGND', packed(sign(4)));

function abs(size: number): Op {
  return (c, o, n) => {
    for (let k = 0; k < n / size; k++) {
      if (size === 1) c.fxb[o + k] = Math.abs(c.srcsb[k]!);
      else if (size === 2) c.fxh[(o >> 1) + k] = Math.abs(c.srcsh[k]!);
      else c.fxw[(o >> 2) + k] = Math.abs(c.srcw[k]!) | 0;
    }
  };
}
def('PABSB', packed(abs(1)));
def('PABSW', packed(abs(2)));
def('PABSD', packed(abs(4)));

/** PALIGNR: (destination:source) shifted right by imm bytes, the low n bytes kept. */
def('PALIGNR', packed((c, o, n, i) => {
  const sh = i.imm & 0xff;
  for (let k = 0; k < n; k++) {
    const j = k + sh;
    TB[k] = j < n ? c.srcb[j]! : j < 2 * n ? c.fxb[o + j - n]! : 0;
  }
  c.fxb.set(TB.subarray(0, n), o);
}));

// ---- shifts ----------------------------------------------------------------------------------

/** The shift count: the immediate, or the source's low quadword (saturated: above 255 is "large"). */
function count(c: X86Cpu, i: Insn): number {
  if (i.kind[1] === K_IMM) return i.imm & 0xff;
  return c.srcw[1] !== 0 || c.srcw[0]! >>> 0 > 255 ? 255 : c.srcw[0]!;
}

function shift(size: number, kind: 'l' | 'r' | 'a'): Op {
  return (c, o, n, i) => {
    const cnt = count(c, i);
    const bits = size * 8;
    if (size === 8) {
      for (let k = 0; k < n / 8; k++) {
        const d = (o >> 2) + 2 * k;
        const lo = c.fxw[d]!, hi = c.fxw[d + 1]!;
        if (cnt > 63) c.fxw[d] = c.fxw[d + 1] = 0;
        else if (cnt >= 32) {
          c.fxw[d] = kind === 'l' ? 0 : hi >>> (cnt - 32);
          c.fxw[d + 1] = kind === 'l' ? lo << (cnt - 32) : 0;
        } else if (cnt > 0) {
          c.fxw[d] = kind === 'l' ? lo << cnt : (lo >>> cnt) | (hi << (32 - cnt));
          c.fxw[d + 1] = kind === 'l' ? (hi << cnt) | (lo >>> (32 - cnt)) : hi >>> cnt;
        }
      }
      return;
    }
    for (let k = 0; k < n / size; k++) {
      let v: number;
      if (size === 2) v = kind === 'a' ? c.fxsh[(o >> 1) + k]! : c.fxh[(o >> 1) + k]!;
      else v = c.fxw[(o >> 2) + k]!;
      let r: number;
      if (kind === 'a') r = v >> (cnt >= bits ? bits - 1 : cnt);
      else if (cnt >= bits) r = 0;
      else r = kind === 'l' ? v << cnt : v >>> cnt;
      if (size === 2) c.fxh[(o >> 1) + k] = r;
      else c.fxw[(o >> 2) + k] = r;
    }
  };
}
def('PSLLW', packed(shift(2, 'l')));
def('PSLLD', packed(shift(4, 'l')));
def('PSLLQ', packed(shift(8, 'l')));
def('PSRLW', packed(shift(2, 'r')));
def('PSRLD', packed(shift(4, 'r')));
def('PSRLQ', packed(shift(8, 'r')));
def('PSRAW', packed(shift(2, 'a')));
def('PSRAD', packed(shift(4, 'a')));
/** PSLLDQ/PSRLDQ: the whole register by imm bytes. */
function byteShift(left: boolean): Op {
  return (c, o, _n, i) => {
    const sh = Math.min(i.imm & 0xff, 16);
    for (let k = 0; k < 16; k++) {
      const j = left ? k - sh : k + sh;
      TB[k] = j >= 0 && j < 16 ? c.fxb[o + j]! : 0;
    }
    c.fxb.set(TB, o);
  };
}
def('PSLLDQ', packed(byteShift(true)));
def('PSRLDQ', packed(byteShift(false)));

// ---- unpack, pack, shuffle -------------------------------------------------------------------

/** PUNPCKL/H: interleaves elements of `size` bytes from the low (or high) halves of destination and source. */
function unpack(size: number, high: boolean): Op {
  return (c, o, n) => {
    const half = n / 2;
    const base = high ? half : 0;
    for (let k = 0; k < half / size; k++) {
      for (let b = 0; b < size; b++) {
        TB[2 * k * size + b] = c.fxb[o + base + k * size + b]!;
        TB[(2 * k + 1) * size + b] = c.srcb[base + k * size + b]!;
      }
    }
    c.fxb.set(TB.subarray(0, n), o);
  };
}
def('PUNPCKLBW', packed(unpack(1, false)));
def('PUNPCKLWD', packed(unpack(2, false)));
def('PUNPCKLDQ', packed(unpack(4, false)));
def('PUNPCKLQDQ', packed(unpack(8, false)));
def('PUNPCKHBW', packed(unpack(1, true)));
def('PUNPCKHWD', packed(unpack(2, true)));
def('PUNPCKHDQ', packed(unpack(4, true)));
def('PUNPCKHQDQ', packed(unpack(8, true)));

def('PACKSSWB', packed((c, o, n) => c.sse.pack(o, n, true, false)));
def('PACKUSWB', packed((c, o, n) => c.sse.pack(o, n, true, true)));
def('PACKSSDW', packed((c, o, n) => c.sse.pack(o, n, false, false)));
def('PACKUSDW', packed((c, o, n) => c.sse.pack(o, n, false, true)));

/** PSHUFW (MMX), PSHUFD: elements of the source picked by 2-bit fields of imm. */
function shuf(size: number, from: number, count4: number): Op {
  return (c, o, n, i) => {
    const imm = i.imm;
    if (size === 2) {
      for (let k = 0; k < n / 2; k++) TH[k] = c.srch[k]!;
      for (let k = 0; k < count4; k++) TH[from + k] = c.srch[from + ((imm >>> (2 * k)) & 3)]!;
      for (let k = 0; k < n / 2; k++) c.fxh[(o >> 1) + k] = TH[k]!;
    } else for (let k = 0; k < 4; k++) c.fxw[(o >> 2) + k] = c.srcw[(imm >>> (2 * k)) & 3]!;
  };
}
def('PSHUFW', packed(shuf(2, 0, 4)));
def('PSHUFD', packed(shuf(4, 0, 4)));
def('PSHUFLW', packed(shuf(2, 0, 4)));
def('PSHUFHW', packed(shuf(2, 4, 4)));

// ---- blends and extensions (SSE4.1) ------------------------------------------------------------

def('PBLENDVB', packed((c, o) => {
  for (let k = 0; k < 16; k++) if (c.fxsb[160 + k]! < 0) c.fxb[o + k] = c.srcb[k]!;
}));
def('PBLENDW', packed((c, o, _n, i) => {
  for (let k = 0; k < 8; k++) if ((i.imm >>> k) & 1) c.fxh[(o >> 1) + k] = c.srch[k]!;
}));

/** PMOVSX/PMOVZX: `count` elements of `from` bytes of the source, extended to `to` bytes. */
function extend(from: number, to: number, signed: boolean): Op {
  return (c, o) => {
    const count = 16 / to;
    for (let k = 0; k < count; k++) {
      let v: number;
      if (from === 1) v = signed ? c.srcsb[k]! : c.srcb[k]!;
      else if (from === 2) v = signed ? c.srcsh[k]! : c.srch[k]!;
      else v = signed ? c.srcw[k]! : c.srcw[k]! >>> 0;
      if (to === 2) TH[k] = v;
      else if (to === 4) T[k] = v;
      else {
        T[2 * k] = v;
        T[2 * k + 1] = signed && v < 0 ? -1 : 0;
      }
    }
    c.fxw.set(T, o >> 2);
  };
}
for (const [name, from, to] of [['BW', 1, 2], ['BD', 1, 4], ['BQ', 1, 8], ['WD', 2, 4], ['WQ', 2, 8], ['DQ', 4, 8]] as const) {
  def(`PMOVSX${name}`, packed(extend(from, to, true)));
  def(`PMOVZX${name}`, packed(extend(from, to, false)));
}

// ---- flags-producing: PTEST, PCMPxSTRx -------------------------------------------------------------

/** Sets the arithmetic flags to `bits` (CF ZF SF OF subset from Sse.eflags); the others clear. */
export function setArithFlags(c: X86Cpu, bits: number): void {
  c.setFlags(bits, FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.OF);
}

def('PTEST', packed((c, o) => {
  c.sse.ptest(o);
  setArithFlags(c, c.sse.eflags);
}));

/** PCMPESTRI/M, PCMPISTRI/M: the lengths (explicit: rAX/rDX, signed), the index in ECX or the mask in XMM0. */
function pcmpstr(implicit: boolean, mask: boolean) {
  return (c: X86Cpu, i: Insn) => {
    loadSrc(c, i, 1, 16);
    const w64 = i.rex & 8 && c.long64;
    const R = c.s.r;
    const len = (r: number) => (w64 ? R[2 * r + 1]! * 0x100000000 + (R[2 * r]! >>> 0) : R[2 * r]! | 0);
    const r = c.sse.pcmpstr(160 + 16 * i.reg[0]!, i.imm & 0xff, implicit ? 0 : len(0), implicit ? 0 : len(2), implicit, mask);
    if (!mask) c.setReg(1, 4, r);
    setArithFlags(c, c.sse.eflags);
  };
}
def('PCMPESTRI', pcmpstr(false, false));
def('PCMPESTRM', pcmpstr(false, true));
def('PCMPISTRI', pcmpstr(true, false));
def('PCMPISTRM', pcmpstr(true, true));

/** MOVQ2DQ xmm, mm: the MMX register zero-extended; MOVDQ2Q mm, xmm: the low quadword. */
def('MOVQ2DQ', (c, i) => {
  loadSrc(c, i, 1, 8);
  c.x87.mmxEnter();
  const d = xw(i.reg[0]!);
  c.fxw[d] = c.srcw[0]!;
  c.fxw[d + 1] = c.srcw[1]!;
  c.fxw[d + 2] = c.fxw[d + 3] = 0;
});
def('MOVDQ2Q', packed((c, o) => {
  c.fxw[o >> 2] = c.srcw[0]!;
  c.fxw[(o >> 2) + 1] = c.srcw[1]!;
}));
