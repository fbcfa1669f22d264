/**
 * The memory side of x86 locked read-modify-write instructions (a LOCK prefix, or XCHG with a
 * memory operand), atomic across vCPUs running on several threads (src/kernel/smp.ts):
 *
 * - RAM, naturally aligned: one host `Atomics` operation on the guest memory buffer (atomic with
 *   respect to every access of every thread, plain stores included).
 * - RAM, split across pages or unaligned: read and write under the VM's lock word (atomic with
 *   respect to other locked accesses; see src/kernel/atomics.ts).
 * - MMIO: the plain read and write (each an exit to userspace, as before).
 *
 * Values follow the handlers' conventions (exec/operands.ts `rdAt`): sizes 1 and 2 unsigned, size 4 int32,
 * size 8 int32 low half with the high half in `c.t1`.
 * @module
 */
import { AOp, atomicCas, atomicLoad, atomicRmw, canAtomic, lockWord, OLD, unlockWord } from '../../kernel/atomics.js';
import { PAGE_SIZE } from '../../kernel/hva.js';
import { Acc, ERRNO_EXIT, REF, type X86Cpu } from './cpu.js';


/** Where a locked access lands (see {@link locate}). */
const Where = {
  /** RAM, one host atomic at LOC.buf/LOC.off. */
  ATOMIC: 0,
  /** RAM, but split or unaligned: under the VM lock. */
  LOCKED: 1,
  /** MMIO (or a page the plain path must handle): plain accesses. */
  PLAIN: 2,
} as const;
type Where = (typeof Where)[keyof typeof Where];

const LOC = { buf: new ArrayBuffer(8) as ArrayBufferLike, off: 0 };

/**
 * Resolves the linear address of a locked access for writing (a locked RMW faults as a write),
 * records data-breakpoint hits, drops decoded code on the page, and says how to access it.
 */
function locate(c: X86Cpu, lin: number, size: number): Where {
  if (c.watchOn) {
    for (let i = 0; i < 4; i++) {
      if (!c.watchRw[i]) continue;
      const a = c.watchAddr[i]!;
      if (lin < a + c.watchLen[i]! && lin + size > a) c.watchHits |= 1 << i;
    }
  }
  if (c.kvmi !== null) return Where.PLAIN; // [kvmi hook] page restrictions live on the plain path
  if ((lin & (PAGE_SIZE - 1)) + size > PAGE_SIZE) return Where.LOCKED;
  if (c.writeRef(lin)) {
    // A write-TLB hit (or fill): RAM, writable, not a code page.
    const off = REF.dv.byteOffset + REF.off;
    if (!canAtomic(off, size)) return Where.LOCKED;
    LOC.buf = REF.dv.buffer;
    LOC.off = off;
    return Where.ATOMIC;
  }
  // The slow way: MMIO, a read-only slot (both: the plain path) or a page holding decoded code.
  const pa = c.translate(lin, Acc.WRITE);
  const gfn = Math.floor(pa / PAGE_SIZE);
  const p = c.resolvePage(gfn, true, lin, false);
  if (p === 'efault') {
    c.errno = 'EFAULT';
    throw ERRNO_EXIT;
  }
  if (p === 'mmio') return Where.PLAIN;
  if (c.codeGfns.has(gfn)) c.onCodeWrite(gfn);
  const off = p.bytes.byteOffset + p.offset + (pa % PAGE_SIZE);
  if (!canAtomic(off, size)) return Where.LOCKED;
  LOC.buf = p.bytes.buffer;
  LOC.off = off;
  return Where.ATOMIC;
}

/** The plain read of the handlers' conventions. */
function plainRead(c: X86Cpu, lin: number, size: number): number {
  const v = c.readLin(lin, size);
  if (size < 8) c.t1 = 0;
  return size === 4 ? v | 0 : v;
}

/** (a + b) or a op b on (lo, hi) pairs: the new value's low half, high half in HI.v. */
function compute(op: AOp, size: number, a0: number, a1: number, b0: number, b1: number): number {
  switch (op) {
    case AOp.ADD: {
      if (size !== 8) {
        HI.v = 0;
        return a0 + b0;
      }
      const lo = (a0 >>> 0) + (b0 >>> 0);
      HI.v = (a1 + b1 + (lo > 0xffffffff ? 1 : 0)) | 0;
      return lo | 0;
    }
    case AOp.AND:
      HI.v = a1 & b1;
      return a0 & b0;
    case AOp.OR:
      HI.v = a1 | b1;
      return a0 | b0;
    case AOp.XOR:
      HI.v = a1 ^ b1;
      return a0 ^ b0;
    default:
      HI.v = b1;
      return b0;
  }
}
const HI = { v: 0 };

/**
 * Atomically applies `op` with operand (lo, hi) to the `size` bytes at linear `lin` (already
 * segment-checked). Returns the old value (high half in c.t1).
 */
export function lockedRmw(c: X86Cpu, lin: number, size: number, op: AOp, lo: number, hi: number): number {
  const where = locate(c, lin, size);
  if (where === Where.ATOMIC) {
    const old = atomicRmw(LOC.buf, LOC.off, size, op, lo, hi);
    c.t1 = OLD.hi;
    return old;
  }
  const lock = where === Where.LOCKED ? c.vm.atomicLock : null;
  if (lock) lockWord(lock);
  try {
    const a0 = plainRead(c, lin, size);
    const a1 = c.t1;
    const n0 = compute(op, size, a0, a1, lo, hi);
    c.writeLin(lin, size, n0, HI.v);
    c.t1 = a1;
    return a0;
  } finally {
    if (lock) unlockWord(lock);
  }
}

/**
 * Atomic compare-and-exchange: stores (newLo, newHi) when memory holds (expLo, expHi). Returns the
 * old value (high half in c.t1); the store happened iff it equals the expected value. On MMIO the
 * old value is written back when the comparison fails, as the plain path always did.
 */
export function lockedCas(c: X86Cpu, lin: number, size: number, expLo: number, expHi: number, newLo: number, newHi: number): number {
  if (size === 4) expLo |= 0; // registers read unsigned, memory as int32
  const where = locate(c, lin, size);
  if (where === Where.ATOMIC) {
    const old = atomicCas(LOC.buf, LOC.off, size, expLo, expHi, newLo, newHi);
    c.t1 = OLD.hi;
    return old;
  }
  const lock = where === Where.LOCKED ? c.vm.atomicLock : null;
  if (lock) lockWord(lock);
  try {
    const a0 = plainRead(c, lin, size);
    const a1 = c.t1;
    const eq = a0 === expLo && (size !== 8 || a1 === expHi);
    if (eq) c.writeLin(lin, size, newLo, newHi);
    else if (!lock) c.writeLin(lin, size, a0, a1);
    c.t1 = a1;
    return a0;
  } finally {
    if (lock) unlockWord(lock);
  }
}

/**
 * Atomically replaces the value at `lin` by `f(old)` (a compare-and-swap loop; `f` returns the
 * new low half and leaves the high half in its second argument's `v`). Returns the old value
 * (high half in c.t1).
 */
export function lockedUpdate(c: X86Cpu, lin: number, size: number, f: (lo: number, hi: number, out: { v: number }) => number): number {
  const where = locate(c, lin, size);
  if (where === Where.ATOMIC) {
    const buf = LOC.buf;
    const off = LOC.off;
    let a0 = atomicLoad(buf, off, size);
    let a1 = OLD.hi;
    for (;;) {
      const n0 = f(a0, a1, HI);
      const got = atomicCas(buf, off, size, a0, a1, n0, HI.v);
      if (got === a0 && OLD.hi === a1) break;
      a0 = got;
      a1 = OLD.hi;
    }
    c.t1 = a1;
    return a0;
  }
  const lock = where === Where.LOCKED ? c.vm.atomicLock : null;
  if (lock) lockWord(lock);
  try {
    const a0 = plainRead(c, lin, size);
    const a1 = c.t1;
    const n0 = f(a0, a1, HI);
    c.writeLin(lin, size, n0, HI.v);
    c.t1 = a1;
    return a0;
  } finally {
    if (lock) unlockWord(lock);
  }
}
