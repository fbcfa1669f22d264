/**
 * A64 exclusives (LDXR/STXR and friends, LDXP/STXP), load-acquire/store-release (LDAR/STLR),
 * and the LSE atomics (LDADD..LDUMIN, SWP, CAS, CASP), atomic across vCPU threads through the
 * host atomics of src/kernel/atomics.ts.
 * @module
 */
import { AOp, atomicCas, atomicLoad, atomicRmw, atomicStore, lockWord, OLD, unlockWord } from '../../kernel/atomics.js';
import { R } from './alu.js';
import type { Cpu } from './cpu.js';
import { withAttrs, type Encoding } from './decoder.js';
import { baseAddr } from './insn-ldst.js';
import { WZ, ZR } from './state.js';

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

// ---- rows -------------------------------------------------------------------------------------------

/** The exclusive, ordered and atomic rows (they access memory). */
export const ATOMIC_ENCODINGS: readonly Encoding[] = withAttrs({ mem: true }, [
  { name: 'LDXR_STXR', pattern: 'size:2 001000 0 L:1 0 Rs:5 o0:1 Rt2:5 Rn:5 Rt:5', exec: exclusive, group: 'ldst-ex' },
  { name: 'LDXP_STXP', pattern: '1 sz:1 001000 0 L:1 1 Rs:5 o0:1 Rt2:5 Rn:5 Rt:5', exec: exclusive, group: 'ldst-ex' },
  { name: 'LDAR_STLR', pattern: 'size:2 001000 1 L:1 0 Rs:5 o0:1 Rt2:5 Rn:5 Rt:5', exec: ordered, group: 'ldst-ex' },
  { name: 'CAS', pattern: 'size:2 001000 1 L:1 1 Rs:5 o0:1 11111 Rn:5 Rt:5', exec: cas, group: 'ldst-lse' },
  { name: 'CASP', pattern: '0 sz:1 001000 0 L:1 1 Rs:5 o0:1 11111 Rn:5 Rt:5', exec: casp, group: 'ldst-lse' },
  { name: 'LDOP', pattern: 'size:2 111 0 00 A:1 R:1 1 Rs:5 o3:1 opc:3 00 Rn:5 Rt:5', exec: atomic, check: (i) => ((i >>> 15) & 1) === 0 || ((i >>> 12) & 7) === 0, group: 'ldst-lse' },
]);
