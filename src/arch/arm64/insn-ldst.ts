/**
 * A64 loads and stores: single registers (unsigned offset, unscaled, pre/post-index,
 * unprivileged, register offset, literal) for general-purpose and SIMD&FP registers, pairs, and
 * SIMD LD1/ST1 (multiple structures). Prefetches are no-ops. Exclusives, ordered accesses and the
 * LSE atomics are in insn-atomic.ts. Rows carry their handlers and, for the block JIT, the inline
 * forms of the general-purpose register accesses (emit.ts).
 * @module
 */
import { add64, R } from './alu.js';
import { EC, type Cpu } from './cpu.js';
import { withAttrs, type Encoding } from './decoder.js';
import type { Addr, Emitter, JitForm } from './emit.js';
import { SP_SLOT, WZ, ZR } from './state.js';

const TWO32 = 4294967296;

/** The address in X[rn] (31 = SP), with TBI applied and the SP alignment check. */
export function baseAddr(c: Cpu, rn: number): number {
  const x = c.x;
  const n = rn << 1;
  let hi = x[n + 1]!;
  if (c.tbi !== 0 && (c.tbi >>> ((hi >>> 23) & 1)) & 1) hi = (hi << 8) >> 8;
  if (n === SP_SLOT && c.spAlignCheck && (x[n]! & 15) !== 0) c.exception(EC.SP_ALIGN, 0);
  return hi * TWO32 + (x[n]! >>> 0);
}

/** Writes back base + off into X[rn] (31 = SP). */
function writeback(c: Cpu, rn: number, off: number): void {
  const x = c.x;
  const n = rn << 1;
  add64(x[n]!, x[n + 1]!, off | 0, off < 0 ? -1 : 0);
  x[n] = R.lo;
  x[n + 1] = R.hi;
}

/** The general-purpose register load/store of `i` (size [31:30], opc [23:22], Rt) at `va`. */
function gpr(c: Cpu, i: number, va: number): void {
  const size = i >>> 30;
  const opc = (i >>> 22) & 3;
  const rt = i & 31;
  const x = c.x;
  if (opc === 0) {
    const t = ZR[rt]!;
    switch (size) {
      case 0:
        c.write8(va, x[t]! & 0xff);
        return;
      case 1:
        c.write16(va, x[t]! & 0xffff);
        return;
      case 2:
        c.write32(va, x[t]!);
        return;
      default:
        c.write64(va, x[t]!, x[t + 1]!);
        return;
    }
  }
  const d = WZ[rt]!;
  let lo: number;
  switch (size) {
    case 0:
      lo = c.read8(va);
      if (opc >= 2) lo = (lo << 24) >> 24;
      break;
    case 1:
      lo = c.read16(va);
      if (opc >= 2) lo = (lo << 16) >> 16;
      break;
    case 2:
      lo = c.read32(va);
      break;
    default:
      c.read64(va);
      x[d] = c.rlo;
      x[d + 1] = c.rhi;
      return;
  }
  x[d] = lo;
  x[d + 1] = opc === 2 ? lo >> 31 : 0;
}

/** Bytes of a SIMD&FP access: size [31:30] with opc[1] (Q when size = 00, opc = 1x). */
const simdBytes = (i: number) => ((i >>> 23) & 1 ? 16 : 1 << (i >>> 30));

/** The SIMD&FP register load/store of `i` (Vt = Rt) at `va`, `bytes` long. */
function simd(c: Cpu, i: number, va: number, bytes: number, rt = i & 31, load = ((i >>> 22) & 1) === 1): void {
  const v = c.vr;
  const o = rt * 16;
  const dv = c.vdv;
  if (load) {
    if (bytes === 16) {
      c.read64(va);
      const l0 = c.rlo;
      const h0 = c.rhi;
      c.read64(va + 8);
      dv.setInt32(o, l0, true);
      dv.setInt32(o + 4, h0, true);
      dv.setInt32(o + 8, c.rlo, true);
      dv.setInt32(o + 12, c.rhi, true);
      return;
    }
    let lo = 0;
    let hi = 0;
    if (bytes === 8) {
      c.read64(va);
      lo = c.rlo;
      hi = c.rhi;
    } else lo = bytes === 4 ? c.read32(va) : bytes === 2 ? c.read16(va) : c.read8(va);
    v.fill(0, o, o + 16);
    dv.setInt32(o, lo, true);
    dv.setInt32(o + 4, hi, true);
    if (bytes < 4) v.fill(0, o + bytes, o + 4);
    return;
  }
  switch (bytes) {
    case 1:
      c.write8(va, v[o]!);
      return;
    case 2:
      c.write16(va, dv.getUint16(o, true));
      return;
    case 4:
      c.write32(va, dv.getInt32(o, true));
      return;
    case 8:
      c.write64(va, dv.getInt32(o, true), dv.getInt32(o + 4, true));
      return;
    default:
      // Both halves are checked before either is written (same page unless it crosses one).
      c.write64(va, dv.getInt32(o, true), dv.getInt32(o + 4, true));
      c.write64(va + 8, dv.getInt32(o + 8, true), dv.getInt32(o + 12, true));
  }
}

const isSimd = (i: number) => ((i >>> 26) & 1) === 1;
const scaleOf = (i: number) => (isSimd(i) ? (((i >>> 23) & 1) ? 4 : i >>> 30) : i >>> 30);

function access(c: Cpu, i: number, va: number): void {
  if (isSimd(i)) {
    if (!c.fpOk) c.fpTrap();
    simd(c, i, va, simdBytes(i));
  } else gpr(c, i, va);
}

// ---- single register --------------------------------------------------------------------------

function ldstUimm(c: Cpu, i: number): void {
  if (isSimd(i) && !c.fpOk) c.fpTrap();
  const va = baseAddr(c, (i >>> 5) & 31) + ((i >>> 10) & 0xfff) * (1 << scaleOf(i));
  access(c, i, va);
}

/** Hot path: LDR/STR Xt/Wt/Bt unsigned offset without the generic dispatch. */
function ldrX(c: Cpu, i: number): void {
  const va = baseAddr(c, (i >>> 5) & 31) + ((i >>> 10) & 0xfff) * 8;
  c.read64(va);
  const d = WZ[i & 31]!;
  c.x[d] = c.rlo;
  c.x[d + 1] = c.rhi;
}

function strX(c: Cpu, i: number): void {
  const va = baseAddr(c, (i >>> 5) & 31) + ((i >>> 10) & 0xfff) * 8;
  const t = ZR[i & 31]!;
  c.write64(va, c.x[t]!, c.x[t + 1]!);
}

function ldrW(c: Cpu, i: number): void {
  const va = baseAddr(c, (i >>> 5) & 31) + ((i >>> 10) & 0xfff) * 4;
  const v = c.read32(va);
  const d = WZ[i & 31]!;
  c.x[d] = v;
  c.x[d + 1] = 0;
}

function strW(c: Cpu, i: number): void {
  const va = baseAddr(c, (i >>> 5) & 31) + ((i >>> 10) & 0xfff) * 4;
  c.write32(va, c.x[ZR[i & 31]!]!);
}

function ldrB(c: Cpu, i: number): void {
  const va = baseAddr(c, (i >>> 5) & 31) + ((i >>> 10) & 0xfff);
  const v = c.read8(va);
  const d = WZ[i & 31]!;
  c.x[d] = v;
  c.x[d + 1] = 0;
}

function strB(c: Cpu, i: number): void {
  const va = baseAddr(c, (i >>> 5) & 31) + ((i >>> 10) & 0xfff);
  c.write8(va, c.x[ZR[i & 31]!]! & 0xff);
}

const simm9 = (i: number) => (i << 11) >> 23;

function ldstUnscaled(c: Cpu, i: number): void {
  if (isSimd(i) && !c.fpOk) c.fpTrap();
  access(c, i, baseAddr(c, (i >>> 5) & 31) + simm9(i));
}

function ldstPost(c: Cpu, i: number): void {
  if (isSimd(i) && !c.fpOk) c.fpTrap();
  const rn = (i >>> 5) & 31;
  access(c, i, baseAddr(c, rn));
  writeback(c, rn, simm9(i));
}

function ldstPre(c: Cpu, i: number): void {
  if (isSimd(i) && !c.fpOk) c.fpTrap();
  const rn = (i >>> 5) & 31;
  const off = simm9(i);
  access(c, i, baseAddr(c, rn) + off);
  writeback(c, rn, off);
}

/** LDTR/STTR: EL1 accesses checked with EL0 permissions. */
function ldstUnpriv(c: Cpu, i: number): void {
  const va = baseAddr(c, (i >>> 5) & 31) + simm9(i);
  const saved = c.tlbBase;
  c.tlbBase = 0;
  try {
    gpr(c, i, va);
  } finally {
    c.tlbBase = saved;
  }
}

/** Register offset: base + ExtendReg(Rm, option, S ? scale : 0). */
function regOffset(c: Cpu, i: number): number {
  const x = c.x;
  const m = ZR[(i >>> 16) & 31]!;
  const option = (i >>> 13) & 7;
  const sh = (i >>> 12) & 1 ? scaleOf(i) : 0;
  let off: number;
  if (option === 3 || option === 7) off = x[m + 1]! * TWO32 + (x[m]! >>> 0); // LSL/UXTX, SXTX
  else if (option === 2) off = x[m]! >>> 0; // UXTW
  else off = x[m]!; // SXTW
  return baseAddr(c, (i >>> 5) & 31) + off * (1 << sh);
}

function ldstReg(c: Cpu, i: number): void {
  if (isSimd(i) && !c.fpOk) c.fpTrap();
  access(c, i, regOffset(c, i));
}

// Hot register-offset forms (array indexing in compiled loops).
function ldrbReg(c: Cpu, i: number): void {
  const v = c.read8(regOffset(c, i));
  const d = WZ[i & 31]!;
  c.x[d] = v;
  c.x[d + 1] = 0;
}

function strbReg(c: Cpu, i: number): void {
  const va = regOffset(c, i);
  c.write8(va, c.x[ZR[i & 31]!]! & 0xff);
}

function ldrWReg(c: Cpu, i: number): void {
  const v = c.read32(regOffset(c, i));
  const d = WZ[i & 31]!;
  c.x[d] = v;
  c.x[d + 1] = 0;
}

function strWReg(c: Cpu, i: number): void {
  const va = regOffset(c, i);
  c.write32(va, c.x[ZR[i & 31]!]!);
}

function ldrXReg(c: Cpu, i: number): void {
  c.read64(regOffset(c, i));
  const d = WZ[i & 31]!;
  c.x[d] = c.rlo;
  c.x[d + 1] = c.rhi;
}

function strXReg(c: Cpu, i: number): void {
  const va = regOffset(c, i);
  const t = ZR[i & 31]!;
  c.write64(va, c.x[t]!, c.x[t + 1]!);
}

function ldrLiteral(c: Cpu, i: number): void {
  const opc = i >>> 30;
  const va = c.insnPc + (((i << 8) >> 13) << 2);
  const rt = i & 31;
  if (isSimd(i)) {
    if (!c.fpOk) c.fpTrap();
    simd(c, i, va, 4 << opc, rt, true);
    return;
  }
  const d = WZ[rt]!;
  if (opc === 1) {
    c.read64(va);
    c.x[d] = c.rlo;
    c.x[d + 1] = c.rhi;
  } else {
    const v = c.read32(va);
    c.x[d] = v;
    c.x[d + 1] = opc === 2 ? v >> 31 : 0;
  }
}

function nop(): void {}

// ---- pairs --------------------------------------------------------------------------------------

function ldstPair(c: Cpu, i: number): void {
  const simdPair = isSimd(i);
  if (simdPair && !c.fpOk) c.fpTrap();
  const opc = i >>> 30;
  const mode = (i >>> 23) & 3; // 0 no-allocate, 1 post, 2 offset, 3 pre
  const load = (i >>> 22) & 1;
  const scale = simdPair ? 2 + opc : 2 + (opc >>> 1);
  const bytes = 1 << scale;
  const off = ((i << 10) >> 25) * bytes;
  const rn = (i >>> 5) & 31;
  const rt = i & 31;
  const rt2 = (i >>> 10) & 31;
  const va = baseAddr(c, rn) + (mode === 1 ? 0 : off);
  const x = c.x;
  if (simdPair) {
    if (load) {
      // Read both into the scratch before writing either register.
      simd(c, i, va, bytes, 32, true);
      simd(c, i, va + bytes, bytes, rt2, true);
      c.vr.copyWithin(rt * 16, 512, 528);
    } else {
      simd(c, i, va, bytes, rt, false);
      simd(c, i, va + bytes, bytes, rt2, false);
    }
  } else if (load) {
    let l1: number;
    let h1: number;
    let l2: number;
    let h2: number;
    if (bytes === 8) {
      c.read64(va);
      l1 = c.rlo;
      h1 = c.rhi;
      c.read64(va + 8);
      l2 = c.rlo;
      h2 = c.rhi;
    } else {
      l1 = c.read32(va);
      l2 = c.read32(va + 4);
      h1 = opc === 1 ? l1 >> 31 : 0; // LDPSW sign-extends
      h2 = opc === 1 ? l2 >> 31 : 0;
    }
    const d1 = WZ[rt]!;
    const d2 = WZ[rt2]!;
    x[d1] = l1;
    x[d1 + 1] = h1;
    x[d2] = l2;
    x[d2 + 1] = h2;
  } else {
    const t1 = ZR[rt]!;
    const t2 = ZR[rt2]!;
    if (bytes === 8) {
      const a = x[t1]!;
      const b = x[t1 + 1]!;
      const e = x[t2]!;
      const f = x[t2 + 1]!;
      c.write64(va, a, b);
      c.write64(va + 8, e, f);
    } else {
      const a = x[t1]!;
      const e = x[t2]!;
      c.write32(va, a);
      c.write32(va + 4, e);
    }
  }
  if (mode === 1 || mode === 3) writeback(c, rn, off);
}

// ---- SIMD LD1/ST1 (multiple structures, 1-4 consecutive registers) ------------------------------

function ld1st1(c: Cpu, i: number): void {
  if (!c.fpOk) c.fpTrap();
  const q = (i >>> 30) & 1;
  const load = (i >>> 22) & 1;
  const post = (i >>> 23) & 1;
  const opcode = (i >>> 12) & 15;
  const nregs = opcode === 0b0111 ? 1 : opcode === 0b1010 ? 2 : opcode === 0b0110 ? 3 : 4;
  const bytes = q ? 16 : 8;
  const rn = (i >>> 5) & 31;
  const rt = i & 31;
  const va = baseAddr(c, rn);
  for (let r = 0; r < nregs; r++) simd(c, i, va + r * bytes, bytes, (rt + r) & 31, load === 1);
  if (post) {
    const rm = (i >>> 16) & 31;
    if (rm === 31) writeback(c, rn, nregs * bytes);
    else {
      const x = c.x;
      const n = rn << 1;
      add64(x[n]!, x[n + 1]!, x[rm << 1]!, x[(rm << 1) + 1]!);
      x[n] = R.lo;
      x[n + 1] = R.hi;
    }
  }
}

// ---- validity ----------------------------------------------------------------------------------

/** size/opc combinations that exist (PRFM handled by its own rows). */
const sizeOpcOk = (i: number) => {
  const size = i >>> 30;
  const opc = (i >>> 22) & 3;
  if (isSimd(i)) return opc < 2 || size === 0;
  return !(opc === 3 && size >= 2) && !(opc === 2 && size === 3);
};
const regOptOk = (i: number) => ((i >>> 13) & 2) !== 0;
const ld1Ok = (i: number) => [0b0111, 0b1010, 0b0110, 0b0010].includes((i >>> 12) & 15);

// ---- inline forms (block JIT): general-purpose registers only ------------------------------------

/** Load (sign-extending to 32/64 bits per opc) into X[t], or store from X[t]: `1 << size` bytes. */
function jitGpr(e: Emitter, size: number, opc: number, t: number, va: Addr): void {
  if (opc === 0) e.store(size, va, e.z(t));
  else e.set(t, e.load(size, size === 3 || opc === 1 ? 'u' : opc === 2 ? 's64' : 's32', va), true);
}

const jitUimm: JitForm = (e, w) => {
  if (isSimd(w)) return false;
  const size = w >>> 30;
  jitGpr(e, size, (w >>> 22) & 3, w & 31, e.base((w >>> 5) & 31, e.addr(((w >>> 10) & 0xfff) * (1 << size))));
  return true;
};

const jitUnscaled: JitForm = (e, w) => {
  if (isSimd(w)) return false;
  jitGpr(e, w >>> 30, (w >>> 22) & 3, w & 31, e.base((w >>> 5) & 31, e.addr(simm9(w))));
  return true;
};

/** Pre-index (bit 11 set) and post-index. */
const jitIndexed: JitForm = (e, w) => {
  if (isSimd(w)) return false;
  const n = (w >>> 5) & 31;
  const off = simm9(w);
  jitGpr(e, w >>> 30, (w >>> 22) & 3, w & 31, e.base(n, e.addr((w >>> 11) & 1 ? off : 0)));
  e.writeback(n, off);
  return true;
};

const jitReg: JitForm = (e, w) => {
  if (isSimd(w)) return false;
  const size = w >>> 30;
  const option = (w >>> 13) & 7;
  const scale = (w >>> 12) & 1 ? 1 << size : 1;
  const off = e.regOffset((w >>> 16) & 31, option === 3 || option === 7 ? 'x' : option === 2 ? 'u' : 's', scale);
  jitGpr(e, size, (w >>> 22) & 3, w & 31, e.base((w >>> 5) & 31, off));
  return true;
};

const jitLiteral: JitForm = (e, w, pc) => {
  if (isSimd(w)) return false;
  const opc = w >>> 30;
  const va = e.addr(pc + (((w << 8) >> 13) << 2));
  e.set(w & 31, opc === 1 ? e.load(3, 'u', va) : e.load(2, opc === 2 ? 's64' : 'u', va), true);
  return true;
};

const jitPair: JitForm = (e, w) => {
  if (isSimd(w)) return false;
  const opc = w >>> 30;
  const mode = (w >>> 23) & 3;
  const bytes = opc >>> 1 ? 8 : 4;
  const size = bytes === 8 ? 3 : 2;
  const off = ((w << 10) >> 25) * bytes;
  const n = (w >>> 5) & 31;
  const rt = w & 31;
  const rt2 = (w >>> 10) & 31;
  const va = e.base(n, e.addr(mode === 1 ? 0 : off));
  if ((w >>> 22) & 1) {
    const ext = bytes === 4 && opc === 1 ? 's64' : 'u';
    const a = e.load(size, ext, va);
    const b = e.load(size, ext, e.offset(va, bytes));
    e.set(rt, a, true);
    e.set(rt2, b, true);
  } else {
    const a = e.pairTemp(e.z(rt));
    const b = e.pairTemp(e.z(rt2));
    e.store(size, va, a);
    e.store(size, e.offset(va, bytes), b);
  }
  if (mode === 1 || mode === 3) e.writeback(n, off);
  return true;
};

/** Prefetches and other no-ops: nothing to emit. */
const jitNop: JitForm = () => true;

/** The load/store rows (they access memory). */
export const LDST_ENCODINGS: readonly Encoding[] = withAttrs({ mem: true }, [
  // Hot forms first in the table (they are also the most specific patterns).
  { name: 'LDR_uimm_64', pattern: '11 111 0 01 01 imm12:12 Rn:5 Rt:5', exec: ldrX, group: 'ldst', jit: jitUimm },
  { name: 'STR_uimm_64', pattern: '11 111 0 01 00 imm12:12 Rn:5 Rt:5', exec: strX, group: 'ldst', jit: jitUimm },
  { name: 'LDR_uimm_32', pattern: '10 111 0 01 01 imm12:12 Rn:5 Rt:5', exec: ldrW, group: 'ldst', jit: jitUimm },
  { name: 'STR_uimm_32', pattern: '10 111 0 01 00 imm12:12 Rn:5 Rt:5', exec: strW, group: 'ldst', jit: jitUimm },
  { name: 'LDRB_uimm', pattern: '00 111 0 01 01 imm12:12 Rn:5 Rt:5', exec: ldrB, group: 'ldst', jit: jitUimm },
  { name: 'STRB_uimm', pattern: '00 111 0 01 00 imm12:12 Rn:5 Rt:5', exec: strB, group: 'ldst', jit: jitUimm },
  { name: 'LDRB_reg', pattern: '00 111 0 00 01 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: ldrbReg, check: regOptOk, group: 'ldst', jit: jitReg },
  { name: 'STRB_reg', pattern: '00 111 0 00 00 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: strbReg, check: regOptOk, group: 'ldst', jit: jitReg },
  { name: 'LDR_reg_32', pattern: '10 111 0 00 01 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: ldrWReg, check: regOptOk, group: 'ldst', jit: jitReg },
  { name: 'STR_reg_32', pattern: '10 111 0 00 00 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: strWReg, check: regOptOk, group: 'ldst', jit: jitReg },
  { name: 'LDR_reg_64', pattern: '11 111 0 00 01 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: ldrXReg, check: regOptOk, group: 'ldst', jit: jitReg },
  { name: 'STR_reg_64', pattern: '11 111 0 00 00 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: strXReg, check: regOptOk, group: 'ldst', jit: jitReg },
  { name: 'PRFM_uimm', pattern: '11 111 0 01 10 imm12:12 Rn:5 Rt:5', exec: nop, group: 'ldst', jit: jitNop },
  { name: 'PRFUM', pattern: '11 111 0 00 10 0 imm9:9 00 Rn:5 Rt:5', exec: nop, group: 'ldst', jit: jitNop },
  { name: 'PRFM_reg', pattern: '11 111 0 00 10 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: nop, check: regOptOk, group: 'ldst', jit: jitNop },
  { name: 'PRFM_lit', pattern: '11 011 0 00 imm19:19 Rt:5', exec: nop, group: 'ldst', jit: jitNop },
  { name: 'LDST_uimm', pattern: 'size:2 111 V:1 01 opc:2 imm12:12 Rn:5 Rt:5', exec: ldstUimm, check: sizeOpcOk, group: 'ldst', jit: jitUimm },
  { name: 'LDST_unscaled', pattern: 'size:2 111 V:1 00 opc:2 0 imm9:9 00 Rn:5 Rt:5', exec: ldstUnscaled, check: sizeOpcOk, group: 'ldst', jit: jitUnscaled },
  { name: 'LDST_post', pattern: 'size:2 111 V:1 00 opc:2 0 imm9:9 01 Rn:5 Rt:5', exec: ldstPost, check: sizeOpcOk, group: 'ldst', jit: jitIndexed },
  { name: 'LDST_unpriv', pattern: 'size:2 111 0 00 opc:2 0 imm9:9 10 Rn:5 Rt:5', exec: ldstUnpriv, check: sizeOpcOk, group: 'ldst' },
  { name: 'LDST_pre', pattern: 'size:2 111 V:1 00 opc:2 0 imm9:9 11 Rn:5 Rt:5', exec: ldstPre, check: sizeOpcOk, group: 'ldst', jit: jitIndexed },
  { name: 'LDST_reg', pattern: 'size:2 111 V:1 00 opc:2 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: ldstReg, check: (i) => sizeOpcOk(i) && regOptOk(i), group: 'ldst', jit: jitReg },
  { name: 'LDR_lit', pattern: 'opc:2 011 V:1 00 imm19:19 Rt:5', exec: ldrLiteral, check: (i) => (isSimd(i) ? i >>> 30 !== 3 : true), group: 'ldst', jit: jitLiteral },
  { name: 'LDSTP', pattern: 'opc:2 101 V:1 0 mode:2 L:1 imm7:7 Rt2:5 Rn:5 Rt:5', exec: ldstPair, check: (i) => {
    const opc = i >>> 30;
    if (isSimd(i)) return opc !== 3;
    if (opc === 3) return false;
    if (opc === 1) return ((i >>> 22) & 1) === 1 && ((i >>> 23) & 3) !== 0; // LDPSW (no LDNPSW, no STGP)
    return true;
  }, group: 'ldst', jit: jitPair },
  { name: 'LD1_ST1_multi', pattern: '0 Q:1 0011000 L:1 000000 opcode:4 size:2 Rn:5 Rt:5', exec: ld1st1, check: ld1Ok, group: 'simd' },
  { name: 'LD1_ST1_multi_post', pattern: '0 Q:1 0011001 L:1 0 Rm:5 opcode:4 size:2 Rn:5 Rt:5', exec: ld1st1, check: ld1Ok, group: 'simd' },
]);
