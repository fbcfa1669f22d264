/**
 * A64 loads and stores: single registers (unsigned offset, unscaled, pre/post-index,
 * unprivileged, register offset, literal) for general-purpose and SIMD&FP registers, pairs,
 * exclusives (LDXR/STXR and friends, LDXP/STXP), load-acquire/store-release, and the LSE
 * atomics (LDADD..LDUMIN, SWP, CAS, CASP). Prefetches are no-ops.
 * @module
 */
import { AOp, atomicCas, atomicLoad, atomicRmw, atomicStore, lockWord, OLD, unlockWord } from '../../kernel/atomics.js';
import { add64, R } from './alu.js';
import { EC, type Cpu } from './cpu.js';
import type { Encoding } from './decoder.js';
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

// ---- exclusives and ordered --------------------------------------------------------------------

/** Reads `bytes` (1-8) at va into (lo, hi) with zero extension. */
function readN(c: Cpu, va: number, bytes: number): void {
  if (bytes === 8) {
    c.read64(va);
    R.lo = c.rlo;
    R.hi = c.rhi;
    return;
  }
  R.hi = 0;
  R.lo = bytes === 4 ? c.read32(va) : bytes === 2 ? c.read16(va) : c.read8(va);
}

function writeN(c: Cpu, va: number, bytes: number, lo: number, hi: number): void {
  if (bytes === 8) c.write64(va, lo, hi);
  else if (bytes === 4) c.write32(va, lo);
  else if (bytes === 2) c.write16(va, lo & 0xffff);
  else c.write8(va, lo & 0xff);
}

const mask = (bytes: number, lo: number) => (bytes >= 4 ? lo : lo & ((1 << (8 * bytes)) - 1));

/** LDXR/LDAXR/STXR/STLXR and the pair forms LDXP/LDAXP/STXP/STLXP. */
function exclusive(c: Cpu, i: number): void {
  const size = i >>> 30;
  const load = (i >>> 22) & 1;
  const pair = (i >>> 21) & 1;
  if (pair && size < 2) c.undef(); // CASP lives there (decoded separately)
  const bytes = 1 << size;
  const total = pair ? 2 * bytes : bytes;
  const rt = i & 31;
  const rt2 = (i >>> 10) & 31;
  const rs = (i >>> 16) & 31;
  const va = baseAddr(c, (i >>> 5) & 31);
  c.requireAligned(va, total, !load);
  const x = c.x;
  const ev = c.exVal;
  if (load) {
    readN(c, va, bytes);
    const l1 = R.lo;
    const h1 = R.hi;
    let l2 = 0;
    let h2 = 0;
    if (pair) {
      readN(c, va + bytes, bytes);
      l2 = R.lo;
      h2 = R.hi;
    }
    c.exVa = va;
    c.exSize = total;
    ev[0] = l1;
    ev[1] = h1;
    ev[2] = l2;
    ev[3] = h2;
    c.loadExclusive = true;
    const d = WZ[rt]!;
    x[d] = l1;
    x[d + 1] = h1;
    if (pair) {
      const d2 = WZ[rt2]!;
      x[d2] = l2;
      x[d2 + 1] = h2;
    }
    return;
  }
  // Store-exclusive: succeeds when the monitor covers this address and memory still holds what
  // the load-exclusive saw, checked and stored as one host compare-and-swap (so another vCPU's
  // store in between makes it fail, whichever thread it runs on). Like QEMU's, this monitor
  // compares values: a store of the same value in between (ABA) does not make it fail.
  let ok = c.exVa === va && c.exSize === total;
  c.exVa = NaN;
  if (ok) {
    const t = ZR[rt]!;
    const t2 = ZR[rt2]!;
    const a = x[t]!;
    const b = x[t + 1]!;
    const e = x[t2]!;
    const f = x[t2 + 1]!;
    ok = storeIfUnchanged(c, va, bytes, pair === 1, ev, a, b, e, f);
  }
  const s = WZ[rs]!;
  x[s] = ok ? 0 : 1;
  x[s + 1] = 0;
}

/**
 * The host location of an aligned atomic access at `va`: the read is resolved first (its faults,
 * watchpoints and the NISV/ENOSYS exit of an access outside the memslots come first, as for the
 * read half of the instruction), then the write. Returns the byte offset into `LOC.buf`.
 */
function locate(c: Cpu, va: number, size: number, write: boolean): number {
  const r = c.resolve(va, size, write, 0, 0);
  LOC.buf = r.dv!.buffer;
  return r.off;
}
const LOC = { buf: new ArrayBuffer(8) as ArrayBufferLike };

/**
 * The store of a store-exclusive (or CASP): writes (a, b) [and (e, f) for a pair] at `va` when
 * memory still holds ev[0..3]; one host compare-and-swap up to 8 bytes, the VM lock for 16.
 */
function storeIfUnchanged(c: Cpu, va: number, bytes: number, pair: boolean, ev: Int32Array, a: number, b: number, e: number, f: number): boolean {
  const total = pair ? 2 * bytes : bytes;
  locate(c, va, total, false);
  const off = locate(c, va, total, true);
  const buf = LOC.buf;
  if (total <= 8) {
    // A 32-bit pair is one 64-bit word: first element low.
    const expLo = ev[0]!;
    const expHi = pair ? ev[2]! : ev[1]!;
    const newLo = a;
    const newHi = pair ? e : b;
    const old = atomicCas(buf, off, total, expLo, expHi, newLo, newHi);
    return total === 8 ? old === (expLo | 0) && OLD.hi === (expHi | 0) : old === mask(total, expLo);
  }
  // 16 bytes: no host atomic that wide; the VM lock makes it atomic against other locked accesses.
  const lock = c.vm.atomicLock;
  lockWord(lock);
  try {
    const l1 = atomicLoad(buf, off, 8);
    const h1 = OLD.hi;
    const l2 = atomicLoad(buf, off + 8, 8);
    const h2 = OLD.hi;
    if (l1 !== ev[0] || h1 !== ev[1] || l2 !== ev[2] || h2 !== ev[3]) return false;
    atomicStore(buf, off, 8, a, b);
    atomicStore(buf, off + 8, 8, e, f);
    return true;
  } finally {
    unlockWord(lock);
  }
}

/** LDAR/STLR/LDLAR/STLLR: single register, aligned, no offset. */
function ordered(c: Cpu, i: number): void {
  const size = i >>> 30;
  const bytes = 1 << size;
  const load = (i >>> 22) & 1;
  const va = baseAddr(c, (i >>> 5) & 31);
  c.requireAligned(va, bytes, !load);
  const rt = i & 31;
  if (load) {
    readN(c, va, bytes);
    const d = WZ[rt]!;
    c.x[d] = R.lo;
    c.x[d + 1] = R.hi;
  } else {
    const t = ZR[rt]!;
    writeN(c, va, bytes, c.x[t]!, c.x[t + 1]!);
  }
}

// ---- LSE atomics ---------------------------------------------------------------------------------

const sext = (bytes: number, lo: number, hi: number): void => {
  if (bytes === 8) {
    R.lo = lo;
    R.hi = hi;
  } else if (bytes === 4) {
    R.lo = lo;
    R.hi = lo >> 31;
  } else {
    const sh = 32 - 8 * bytes;
    R.lo = (lo << sh) >> sh;
    R.hi = R.lo >> 31;
  }
};

/** Signed/unsigned 64-bit compare of pairs: negative, zero, positive. */
function cmp64(alo: number, ahi: number, blo: number, bhi: number, signed: boolean): number {
  if (ahi !== bhi) return signed ? (ahi < bhi ? -1 : 1) : ahi >>> 0 < bhi >>> 0 ? -1 : 1;
  return alo === blo ? 0 : alo >>> 0 < blo >>> 0 ? -1 : 1;
}

/** LDADD/LDCLR/LDEOR/LDSET/LDSMAX/LDSMIN/LDUMAX/LDUMIN and SWP (o3 = 1, opc = 000). */
function atomic(c: Cpu, i: number): void {
  const bytes = 1 << (i >>> 30);
  const o3 = (i >>> 15) & 1;
  const opc = (i >>> 12) & 7;
  if (o3 && opc !== 0) c.undef();
  const va = baseAddr(c, (i >>> 5) & 31);
  c.requireAligned(va, bytes, true);
  const x = c.x;
  const s = ZR[(i >>> 16) & 31]!;
  const slo = x[s]!;
  const shi = x[s + 1]!;
  // One host atomic on guest memory (atomic across threads); min/max as a compare-and-swap loop.
  locate(c, va, bytes, false);
  const off = locate(c, va, bytes, true);
  const buf = LOC.buf;
  let olo: number;
  let ohi: number;
  if (o3 || opc < 4) {
    const op = o3 ? AOp.XCHG : opc === 0 ? AOp.ADD : opc === 1 ? AOp.AND : opc === 2 ? AOp.XOR : AOp.OR;
    olo = atomicRmw(buf, off, bytes, op, opc === 1 && !o3 ? ~slo : slo, opc === 1 && !o3 ? ~shi : shi);
    ohi = OLD.hi;
  } else {
    olo = atomicLoad(buf, off, bytes);
    ohi = OLD.hi;
    for (;;) {
      const n = minMax(bytes, opc, olo, ohi, slo, shi);
      const got = atomicCas(buf, off, bytes, olo, ohi, n, R.hi);
      if (got === olo && OLD.hi === ohi) break;
      olo = got;
      ohi = OLD.hi;
    }
  }
  const d = WZ[i & 31]!;
  x[d] = mask(bytes, olo);
  x[d + 1] = bytes === 8 ? ohi : 0;
}

/** LDSMAX/LDSMIN/LDUMAX/LDUMIN (opc 4-7): the value to store (low half returned, high half in R.hi). */
function minMax(bytes: number, opc: number, olo: number, ohi: number, slo: number, shi: number): number {
  const signed = opc === 4 || opc === 5;
  const max = opc === 4 || opc === 6;
  let al = olo;
  let ah = ohi;
  let bl = slo;
  let bh = shi;
  if (signed) {
    sext(bytes, olo, ohi);
    al = R.lo;
    ah = R.hi;
    sext(bytes, slo, shi);
    bl = R.lo;
    bh = R.hi;
  } else if (bytes < 8) {
    bl = mask(bytes, slo);
    bh = 0;
  }
  const r = cmp64(al, ah, bl, bh, signed);
  const pickOld = max ? r >= 0 : r <= 0;
  R.hi = pickOld ? ohi : shi;
  return pickOld ? olo : slo;
}

/** CAS/CASA/CASL/CASAL: compare Rs with memory, store Rt when equal; Rs gets the old value. */
function cas(c: Cpu, i: number): void {
  const bytes = 1 << (i >>> 30);
  const va = baseAddr(c, (i >>> 5) & 31);
  c.requireAligned(va, bytes, true);
  const x = c.x;
  const rs = (i >>> 16) & 31;
  const s = ZR[rs]!;
  const t = ZR[i & 31]!;
  // The compare reads atomically; only a matching value goes on to the write (and its faults),
  // as one host compare-and-swap that fails if another thread changed memory meanwhile.
  const roff = locate(c, va, bytes, false);
  let olo = atomicLoad(LOC.buf, roff, bytes);
  let ohi = OLD.hi;
  const elo = mask(bytes, x[s]!);
  const ehi = bytes === 8 ? x[s + 1]! : 0;
  if (olo === elo && ohi === ehi) {
    const off = locate(c, va, bytes, true);
    olo = atomicCas(LOC.buf, off, bytes, elo, ehi, x[t]!, x[t + 1]!);
    ohi = OLD.hi;
  }
  const d = WZ[rs]!;
  x[d] = olo;
  x[d + 1] = ohi;
}

const CASP_EXPECT = new Int32Array(4);

/** CASP/CASPA/CASPL/CASPAL: pair compare-and-swap (Rs, Rt even). */
function casp(c: Cpu, i: number): void {
  const bytes = (i >>> 30) & 1 ? 8 : 4;
  const rs = (i >>> 16) & 31;
  const rt = i & 31;
  if (rs & 1 || rt & 1) c.undef();
  const va = baseAddr(c, (i >>> 5) & 31);
  c.requireAligned(va, 2 * bytes, true);
  const x = c.x;
  const s1 = ZR[rs]!;
  const s2 = ZR[rs + 1]!;
  const hiOk = (v: number) => (bytes === 8 ? v : 0);
  const ev = CASP_EXPECT;
  ev[0] = x[s1]!;
  ev[1] = hiOk(x[s1 + 1]!);
  ev[2] = x[s2]!;
  ev[3] = hiOk(x[s2 + 1]!);
  const t1 = ZR[rt]!;
  const t2 = ZR[rt + 1]!;
  const a = x[t1]!;
  const b = x[t1 + 1]!;
  const e = x[t2]!;
  const f = x[t2 + 1]!;
  // The old pair as one atomic snapshot (the VM lock for 16 bytes), then the conditional store;
  // if another thread changed the pair in between, look again (a compare-and-swap loop).
  let l1: number;
  let h1: number;
  let l2: number;
  let h2: number;
  for (;;) {
    const roff = locate(c, va, 2 * bytes, false);
    if (bytes === 4) {
      l1 = atomicLoad(LOC.buf, roff, 8);
      l2 = OLD.hi;
      h1 = h2 = 0;
    } else {
      const lock = c.vm.atomicLock;
      lockWord(lock);
      try {
        l1 = atomicLoad(LOC.buf, roff, 8);
        h1 = OLD.hi;
        l2 = atomicLoad(LOC.buf, roff + 8, 8);
        h2 = OLD.hi;
      } finally {
        unlockWord(lock);
      }
    }
    if (l1 !== ev[0] || h1 !== ev[1] || l2 !== ev[2] || h2 !== ev[3]) break;
    if (storeIfUnchanged(c, va, bytes, true, ev, a, b, e, f)) break;
  }
  const d1 = WZ[rs]!;
  const d2 = WZ[rs + 1]!;
  x[d1] = l1;
  x[d1 + 1] = h1;
  x[d2] = l2;
  x[d2 + 1] = h2;
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

/** The load/store rows. */
export const LDST_ENCODINGS: readonly Encoding[] = [
  // Hot forms first in the table (they are also the most specific patterns).
  { name: 'LDR_uimm_64', pattern: '11 111 0 01 01 imm12:12 Rn:5 Rt:5', exec: ldrX, group: 'ldst' },
  { name: 'STR_uimm_64', pattern: '11 111 0 01 00 imm12:12 Rn:5 Rt:5', exec: strX, group: 'ldst' },
  { name: 'LDR_uimm_32', pattern: '10 111 0 01 01 imm12:12 Rn:5 Rt:5', exec: ldrW, group: 'ldst' },
  { name: 'STR_uimm_32', pattern: '10 111 0 01 00 imm12:12 Rn:5 Rt:5', exec: strW, group: 'ldst' },
  { name: 'LDRB_uimm', pattern: '00 111 0 01 01 imm12:12 Rn:5 Rt:5', exec: ldrB, group: 'ldst' },
  { name: 'STRB_uimm', pattern: '00 111 0 01 00 imm12:12 Rn:5 Rt:5', exec: strB, group: 'ldst' },
  { name: 'LDRB_reg', pattern: '00 111 0 00 01 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: ldrbReg, check: regOptOk, group: 'ldst' },
  { name: 'STRB_reg', pattern: '00 111 0 00 00 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: strbReg, check: regOptOk, group: 'ldst' },
  { name: 'LDR_reg_32', pattern: '10 111 0 00 01 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: ldrWReg, check: regOptOk, group: 'ldst' },
  { name: 'STR_reg_32', pattern: '10 111 0 00 00 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: strWReg, check: regOptOk, group: 'ldst' },
  { name: 'LDR_reg_64', pattern: '11 111 0 00 01 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: ldrXReg, check: regOptOk, group: 'ldst' },
  { name: 'STR_reg_64', pattern: '11 111 0 00 00 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: strXReg, check: regOptOk, group: 'ldst' },
  { name: 'PRFM_uimm', pattern: '11 111 0 01 10 imm12:12 Rn:5 Rt:5', exec: nop, group: 'ldst' },
  { name: 'PRFUM', pattern: '11 111 0 00 10 0 imm9:9 00 Rn:5 Rt:5', exec: nop, group: 'ldst' },
  { name: 'PRFM_reg', pattern: '11 111 0 00 10 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: nop, check: regOptOk, group: 'ldst' },
  { name: 'PRFM_lit', pattern: '11 011 0 00 imm19:19 Rt:5', exec: nop, group: 'ldst' },
  { name: 'LDST_uimm', pattern: 'size:2 111 V:1 01 opc:2 imm12:12 Rn:5 Rt:5', exec: ldstUimm, check: sizeOpcOk, group: 'ldst' },
  { name: 'LDST_unscaled', pattern: 'size:2 111 V:1 00 opc:2 0 imm9:9 00 Rn:5 Rt:5', exec: ldstUnscaled, check: sizeOpcOk, group: 'ldst' },
  { name: 'LDST_post', pattern: 'size:2 111 V:1 00 opc:2 0 imm9:9 01 Rn:5 Rt:5', exec: ldstPost, check: sizeOpcOk, group: 'ldst' },
  { name: 'LDST_unpriv', pattern: 'size:2 111 0 00 opc:2 0 imm9:9 10 Rn:5 Rt:5', exec: ldstUnpriv, check: sizeOpcOk, group: 'ldst' },
  { name: 'LDST_pre', pattern: 'size:2 111 V:1 00 opc:2 0 imm9:9 11 Rn:5 Rt:5', exec: ldstPre, check: sizeOpcOk, group: 'ldst' },
  { name: 'LDST_reg', pattern: 'size:2 111 V:1 00 opc:2 1 Rm:5 option:3 S:1 10 Rn:5 Rt:5', exec: ldstReg, check: (i) => sizeOpcOk(i) && regOptOk(i), group: 'ldst' },
  { name: 'LDR_lit', pattern: 'opc:2 011 V:1 00 imm19:19 Rt:5', exec: ldrLiteral, check: (i) => (isSimd(i) ? i >>> 30 !== 3 : true), group: 'ldst' },
  { name: 'LDSTP', pattern: 'opc:2 101 V:1 0 mode:2 L:1 imm7:7 Rt2:5 Rn:5 Rt:5', exec: ldstPair, check: (i) => {
    const opc = i >>> 30;
    if (isSimd(i)) return opc !== 3;
    if (opc === 3) return false;
    if (opc === 1) return ((i >>> 22) & 1) === 1 && ((i >>> 23) & 3) !== 0; // LDPSW (no LDNPSW, no STGP)
    return true;
  }, group: 'ldst' },
  { name: 'LDXR_STXR', pattern: 'size:2 001000 0 L:1 0 Rs:5 o0:1 Rt2:5 Rn:5 Rt:5', exec: exclusive, group: 'ldst-ex' },
  { name: 'LDXP_STXP', pattern: '1 sz:1 001000 0 L:1 1 Rs:5 o0:1 Rt2:5 Rn:5 Rt:5', exec: exclusive, group: 'ldst-ex' },
  { name: 'LDAR_STLR', pattern: 'size:2 001000 1 L:1 0 Rs:5 o0:1 Rt2:5 Rn:5 Rt:5', exec: ordered, group: 'ldst-ex' },
  { name: 'CAS', pattern: 'size:2 001000 1 L:1 1 Rs:5 o0:1 11111 Rn:5 Rt:5', exec: cas, group: 'ldst-lse' },
  { name: 'CASP', pattern: '0 sz:1 001000 0 L:1 1 Rs:5 o0:1 11111 Rn:5 Rt:5', exec: casp, group: 'ldst-lse' },
  { name: 'LDOP', pattern: 'size:2 111 0 00 A:1 R:1 1 Rs:5 o3:1 opc:3 00 Rn:5 Rt:5', exec: atomic, check: (i) => ((i >>> 15) & 1) === 0 || ((i >>> 12) & 7) === 0, group: 'ldst-lse' },
  { name: 'LD1_ST1_multi', pattern: '0 Q:1 0011000 L:1 000000 opcode:4 size:2 Rn:5 Rt:5', exec: ld1st1, check: ld1Ok, group: 'simd' },
  { name: 'LD1_ST1_multi_post', pattern: '0 Q:1 0011001 L:1 0 Rm:5 opcode:4 size:2 Rn:5 Rt:5', exec: ld1st1, check: ld1Ok, group: 'simd' },
];

