/**
 * x86 SSE/SSE2/SSE3/SSE4.1 floating point: scalar and packed arithmetic, MIN/MAX/SQRT, the
 * RCP/RSQRT approximations, compares, COMIS/UCOMIS, conversions (incl. the MMX and general-register
 * forms), ADDSUB/HADD/HSUB, ROUND, DPPS/DPPD, shuffles and unpacks, blends, INSERTPS/EXTRACTPS,
 * MOVMSKPS/PD, ANDN. The numerics (MXCSR rounding, DAZ/FTZ, exception flags and #XM) are the fpu
 * library's (fpu/sse.ts); an unmasked exception leaves the destination alone and raises #XM (#UD
 * with CR4.OSXMMEXCPT = 0).
 * @module
 */
import type { X86Cpu } from '../cpu.js';
import { K_MEM, K_MMX, K_REG, type Insn } from '../decoder.js';
import { Fmt, FOp as SOp } from '../fpu/sse.js';
import { R } from '../fpu/f80.js';
import { definer, ea, type Handler, type HandlerTable } from './operands.js';
import { loadSrc, simdFault, simdLin, xw } from './simd.js';
import { setArithFlags } from './sse-int.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const SSE_FP: HandlerTable = {};
const def = definer(SSE_FP);

/** An XMM register the numerics may use as scratch: word 104 (bytes 416-431), beyond XMM15 and never architecturally visible. */
const SCRATCH = 16;

/** Source operand 1 into sse.src: `size` bytes from memory (the row's operand size), or the whole register. */
const src = (c: X86Cpu, i: Insn) => loadSrc(c, i, 1, i.size[1]!);

const ok = (c: X86Cpu, r: number) => {
  if (r !== 0) simdFault(c);
};

// ---- arithmetic --------------------------------------------------------------------------------

function arith(op: SOp, fmt: Fmt, packed: boolean): Handler {
  return (c, i) => {
    src(c, i);
    ok(c, c.sse.arith(op, fmt, packed, i.reg[0]!));
  };
}
const OPS: [string, SOp][] = [['ADD', SOp.ADD], ['SUB', SOp.SUB], ['MUL', SOp.MUL], ['DIV', SOp.DIV], ['MIN', SOp.MIN], ['MAX', SOp.MAX], ['SQRT', SOp.SQRT]];
for (const [name, op] of OPS) {
  def(`${name}PS`, arith(op, Fmt.F32, true));
  def(`${name}PD`, arith(op, Fmt.F64, true));
  def(`${name}SS`, arith(op, Fmt.F32, false));
  def(`${name}SD`, arith(op, Fmt.F64, false));
}
def('ADDSUBPS', (c, i) => (src(c, i), ok(c, c.sse.addsub(Fmt.F32, i.reg[0]!))));
def('ADDSUBPD', (c, i) => (src(c, i), ok(c, c.sse.addsub(Fmt.F64, i.reg[0]!))));
def('HADDPS', (c, i) => (src(c, i), ok(c, c.sse.hadd(Fmt.F32, false, i.reg[0]!))));
def('HADDPD', (c, i) => (src(c, i), ok(c, c.sse.hadd(Fmt.F64, false, i.reg[0]!))));
def('HSUBPS', (c, i) => (src(c, i), ok(c, c.sse.hadd(Fmt.F32, true, i.reg[0]!))));
def('HSUBPD', (c, i) => (src(c, i), ok(c, c.sse.hadd(Fmt.F64, true, i.reg[0]!))));
def('DPPS', (c, i) => (src(c, i), ok(c, c.sse.dp(Fmt.F32, i.imm & 0xff, i.reg[0]!))));
def('DPPD', (c, i) => (src(c, i), ok(c, c.sse.dp(Fmt.F64, i.imm & 0xff, i.reg[0]!))));
def('ROUNDPS', (c, i) => (src(c, i), ok(c, c.sse.roundTo(Fmt.F32, true, i.imm & 0xff, i.reg[0]!))));
def('ROUNDPD', (c, i) => (src(c, i), ok(c, c.sse.roundTo(Fmt.F64, true, i.imm & 0xff, i.reg[0]!))));
def('ROUNDSS', (c, i) => (src(c, i), ok(c, c.sse.roundTo(Fmt.F32, false, i.imm & 0xff, i.reg[0]!))));
def('ROUNDSD', (c, i) => (src(c, i), ok(c, c.sse.roundTo(Fmt.F64, false, i.imm & 0xff, i.reg[0]!))));

/**
 * RCPPS/RCPSS/RSQRTPS/RSQRTSS: the SDM guarantees a relative error of at most 1.5 * 2^-12 and
 * leaves the exact value to the implementation; this one returns the correctly rounded binary32
 * value (well within the bound). As the hardware: no exceptions and no MXCSR flags; a denormal
 * operand counts as zero, a result below the normal range is zero; NaNs are quieted; RSQRT of a
 * negative number is the QNaN indefinite.
 */
function approx(v: number, rsqrt: boolean): number {
  const ex = (v >>> 23) & 0xff;
  const sign = v & 0x80000000;
  if (ex === 0xff) {
    if (v & 0x7fffff) return v | 0x400000; // NaN, quieted
    if (rsqrt && sign) return 0xffc00000 | 0;
    return sign; // 1/inf = 0 (signed), 1/sqrt(+inf) = +0
  }
  if (ex === 0) return rsqrt && sign && v & 0x7fffffff ? 0xff800000 | 0 : sign | 0x7f800000; // 0 and denormals: infinity
  if (rsqrt && sign) return 0xffc00000 | 0;
  F32[0] = 0;
  I32[0] = v;
  const x = F32[0]!;
  F32[0] = rsqrt ? 1 / Math.sqrt(x) : 1 / x;
  const r = I32[0]!;
  return (r >>> 23) & 0xff ? r : r & 0x80000000; // tiny results flush to zero
}
const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);
function rcp(rsqrt: boolean, packed: boolean): Handler {
  return (c, i) => {
    src(c, i);
    const d = xw(i.reg[0]!);
    for (let k = 0; k < (packed ? 4 : 1); k++) c.fxw[d + k] = approx(c.srcw[k]!, rsqrt);
  };
}
def('RCPPS', rcp(false, true));
def('RCPSS', rcp(false, false));
def('RSQRTPS', rcp(true, true));
def('RSQRTSS', rcp(true, false));

function andn(c: X86Cpu, i: Insn): void {
  src(c, i);
  const d = xw(i.reg[0]!);
  for (let k = 0; k < 4; k++) c.fxw[d + k] = ~c.fxw[d + k]! & c.srcw[k]!;
}
def('ANDNPS', andn);
def('ANDNPD', andn);

// ---- compares ----------------------------------------------------------------------------------

function cmp(fmt: Fmt, packed: boolean): Handler {
  // Legacy SSE encodes predicates 0-7 in imm8[2:0] (the rest is ignored).
  return (c, i) => (src(c, i), ok(c, c.sse.cmp(i.imm & 7, fmt, packed, i.reg[0]!)));
}
def('CMPPS', cmp(Fmt.F32, true));
def('CMPPD', cmp(Fmt.F64, true));
def('CMPSS', cmp(Fmt.F32, false));
def('CMPSD', cmp(Fmt.F64, false));

function comi(fmt: Fmt, quiet: boolean): Handler {
  return (c, i) => {
    src(c, i);
    ok(c, c.sse.comi(fmt, quiet, i.reg[0]!));
    setArithFlags(c, c.sse.eflags);
  };
}
def('COMISS', comi(Fmt.F32, false));
def('COMISD', comi(Fmt.F64, false));
def('UCOMISS', comi(Fmt.F32, true));
def('UCOMISD', comi(Fmt.F64, true));

// ---- conversions -------------------------------------------------------------------------------

def('CVTPS2PD', (c, i) => (src(c, i), ok(c, c.sse.cvtF32toF64(true, i.reg[0]!))));
def('CVTSS2SD', (c, i) => (src(c, i), ok(c, c.sse.cvtF32toF64(false, i.reg[0]!))));
def('CVTPD2PS', (c, i) => (src(c, i), ok(c, c.sse.cvtF64toF32(true, i.reg[0]!))));
def('CVTSD2SS', (c, i) => (src(c, i), ok(c, c.sse.cvtF64toF32(false, i.reg[0]!))));
def('CVTDQ2PS', (c, i) => (src(c, i), ok(c, c.sse.cvtI32toF(Fmt.F32, i.reg[0]!))));
def('CVTDQ2PD', (c, i) => (src(c, i), ok(c, c.sse.cvtI32toF(Fmt.F64, i.reg[0]!))));
def('CVTPS2DQ', (c, i) => (src(c, i), ok(c, c.sse.cvtFtoI32(Fmt.F32, false, i.reg[0]!))));
def('CVTTPS2DQ', (c, i) => (src(c, i), ok(c, c.sse.cvtFtoI32(Fmt.F32, true, i.reg[0]!))));
def('CVTPD2DQ', (c, i) => (src(c, i), ok(c, c.sse.cvtFtoI32(Fmt.F64, false, i.reg[0]!))));
def('CVTTPD2DQ', (c, i) => (src(c, i), ok(c, c.sse.cvtFtoI32(Fmt.F64, true, i.reg[0]!))));

/** CVTPI2PS: two int32 (an MMX register enters the MMX state) into the low half; the high half kept. */
def('CVTPI2PS', (c, i) => {
  src(c, i);
  c.srcw[2] = c.srcw[3] = 0;
  const d = xw(i.reg[0]!);
  const h2 = c.fxw[d + 2]!, h3 = c.fxw[d + 3]!;
  ok(c, c.sse.cvtI32toF(Fmt.F32, i.reg[0]!));
  c.fxw[d + 2] = h2;
  c.fxw[d + 3] = h3;
  if (i.kind[1] === K_MMX) c.x87.mmxEnter();
});
def('CVTPI2PD', (c, i) => {
  src(c, i);
  ok(c, c.sse.cvtI32toF(Fmt.F64, i.reg[0]!));
  if (i.kind[1] === K_MMX) c.x87.mmxEnter();
});
/** CVT(T)PS2PI / CVT(T)PD2PI: two int32 into an MMX register (through the scratch XMM). */
function toMmx(fmt: Fmt, truncate: boolean): Handler {
  return (c, i) => {
    src(c, i);
    if (fmt === Fmt.F32) c.srcw[2] = c.srcw[3] = 0; // two lanes only: the others raise nothing
    ok(c, c.sse.cvtFtoI32(fmt, truncate, SCRATCH));
    c.x87.mmxEnter();
    const m = 8 + 4 * i.reg[0]!;
    c.fxw[m] = c.fxw[xw(SCRATCH)]!;
    c.fxw[m + 1] = c.fxw[xw(SCRATCH) + 1]!;
    c.fxw.fill(0, xw(SCRATCH), xw(SCRATCH) + 4);
    c.x87.mmxWritten(i.reg[0]!);
  };
}
def('CVTPS2PI', toMmx(Fmt.F32, false));
def('CVTTPS2PI', toMmx(Fmt.F32, true));
def('CVTPD2PI', toMmx(Fmt.F64, false));
def('CVTTPD2PI', toMmx(Fmt.F64, true));

/** CVTSI2SS/SD: a 32- or 64-bit signed integer (register or memory) into lane 0. */
function fromInt(fmt: Fmt): Handler {
  return (c, i) => {
    const size = i.size[1]!;
    let lo: number, hi: number;
    if (i.kind[1] === K_REG) {
      lo = c.getReg(i.reg[1]!, size) | 0;
      hi = size === 8 ? c.t1 : lo >> 31;
    } else {
      lo = c.read(i.seg, ea(c, i), size) | 0;
      hi = size === 8 ? c.t1 : lo >> 31;
    }
    ok(c, c.sse.cvtIntToScalar(fmt, lo, hi, i.reg[0]!));
  };
}
def('CVTSI2SS', fromInt(Fmt.F32));
def('CVTSI2SD', fromInt(Fmt.F64));
/** CVT(T)SS2SI / CVT(T)SD2SI: lane 0 to a 32- or 64-bit integer register. */
function toInt(fmt: Fmt, truncate: boolean): Handler {
  return (c, i) => {
    src(c, i);
    const bits = i.size[0] === 8 ? 64 : 32;
    ok(c, c.sse.cvtScalarToInt(fmt, bits, truncate));
    c.setReg(i.reg[0]!, bits / 8, R[0]!, R[1]!);
  };
}
def('CVTSS2SI', toInt(Fmt.F32, false));
def('CVTTSS2SI', toInt(Fmt.F32, true));
def('CVTSD2SI', toInt(Fmt.F64, false));
def('CVTTSD2SI', toInt(Fmt.F64, true));

// ---- shuffles, unpacks, blends, inserts --------------------------------------------------------

const T = new Int32Array(4);

def('SHUFPS', (c, i) => {
  src(c, i);
  const d = xw(i.reg[0]!), imm = i.imm;
  T[0] = c.fxw[d + (imm & 3)]!;
  T[1] = c.fxw[d + ((imm >>> 2) & 3)]!;
  T[2] = c.srcw[(imm >>> 4) & 3]!;
  T[3] = c.srcw[(imm >>> 6) & 3]!;
  c.fxw.set(T, d);
});
def('SHUFPD', (c, i) => {
  src(c, i);
  const d = xw(i.reg[0]!), imm = i.imm;
  T[0] = c.fxw[d + 2 * (imm & 1)]!;
  T[1] = c.fxw[d + 2 * (imm & 1) + 1]!;
  T[2] = c.srcw[2 * ((imm >>> 1) & 1)]!;
  T[3] = c.srcw[2 * ((imm >>> 1) & 1) + 1]!;
  c.fxw.set(T, d);
});
/** UNPCKL/H PS (dwords) and PD (qwords): destination and source elements interleaved. */
function unpck(qwords: boolean, high: boolean): Handler {
  return (c, i) => {
    src(c, i);
    const d = xw(i.reg[0]!), w = c.fxw, s = c.srcw;
    if (qwords) {
      const b = high ? 2 : 0;
      T[0] = w[d + b]!;
      T[1] = w[d + b + 1]!;
      T[2] = s[b]!;
      T[3] = s[b + 1]!;
    } else {
      const b = high ? 2 : 0;
      T[0] = w[d + b]!;
      T[1] = s[b]!;
      T[2] = w[d + b + 1]!;
      T[3] = s[b + 1]!;
    }
    w.set(T, d);
  };
}
def('UNPCKLPS', unpck(false, false));
def('UNPCKHPS', unpck(false, true));
def('UNPCKLPD', unpck(true, false));
def('UNPCKHPD', unpck(true, true));

def('BLENDPS', (c, i) => {
  src(c, i);
  const d = xw(i.reg[0]!);
  for (let k = 0; k < 4; k++) if ((i.imm >>> k) & 1) c.fxw[d + k] = c.srcw[k]!;
});
def('BLENDPD', (c, i) => {
  src(c, i);
  const d = xw(i.reg[0]!);
  for (let k = 0; k < 2; k++) if ((i.imm >>> k) & 1) c.fxw.set(c.srcw.subarray(2 * k, 2 * k + 2), d + 2 * k);
});
/** BLENDVPS/PD: by the sign bits of XMM0's dwords/qwords. */
def('BLENDVPS', (c, i) => {
  src(c, i);
  const d = xw(i.reg[0]!);
  for (let k = 0; k < 4; k++) if (c.fxw[40 + k]! < 0) c.fxw[d + k] = c.srcw[k]!;
});
def('BLENDVPD', (c, i) => {
  src(c, i);
  const d = xw(i.reg[0]!);
  for (let k = 0; k < 2; k++) if (c.fxw[41 + 2 * k]! < 0) c.fxw.set(c.srcw.subarray(2 * k, 2 * k + 2), d + 2 * k);
});

/** INSERTPS: a dword of the source (imm[7:6] for a register; the m32 itself) to dword imm[5:4], then zero by imm[3:0]. */
def('INSERTPS', (c, i) => {
  src(c, i);
  const d = xw(i.reg[0]!), imm = i.imm;
  const v = i.kind[1] === K_MEM ? c.srcw[0]! : c.srcw[(imm >>> 6) & 3]!;
  c.fxw[d + ((imm >>> 4) & 3)] = v;
  for (let k = 0; k < 4; k++) if ((imm >>> k) & 1) c.fxw[d + k] = 0;
});
def('EXTRACTPS', (c, i) => {
  const v = c.fxw[xw(i.reg[1]!) + (i.imm & 3)]!;
  if (i.kind[0] === K_REG) c.setReg(i.reg[0]!, 4, v);
  else c.writeLin(simdLin(c, i, 4, true), 4, v);
});

/** MOVMSKPS/PD: the lanes' sign bits into a general register (zero-extended). */
def('MOVMSKPS', (c, i) => {
  const s = xw(i.reg[1]!);
  let m = 0;
  for (let k = 0; k < 4; k++) m |= (c.fxw[s + k]! >>> 31) << k;
  c.setReg(i.reg[0]!, 4, m);
});
def('MOVMSKPD', (c, i) => {
  const s = xw(i.reg[1]!);
  c.setReg(i.reg[0]!, 4, (c.fxw[s + 1]! >>> 31) | ((c.fxw[s + 3]! >>> 31) << 1));
});
