/**
 * Host atomics for the guest's atomic instructions (x86 LOCK and XCHG, arm64 exclusives and LSE),
 * so they stay atomic when vCPUs of one VM run on several threads over shared guest memory.
 *
 * - A naturally aligned access of 1, 2, 4 or 8 bytes is one JS `Atomics` operation on a typed
 *   view of the (Shared)ArrayBuffer behind guest RAM: atomic with respect to every other access of
 *   every thread, plain stores included.
 * - Anything else (a split or unaligned x86 locked access, a 16-byte compare-and-swap) runs under
 *   the VM's lock word (`Vm.atomicLock`, a futex-style mutex in shared memory): atomic with
 *   respect to the other accesses that take the lock, not to plain accesses of the same bytes
 *   (documented in the README).
 *
 * Values travel as int32 halves like the interpreters keep them: `lo` (int32 for 4 and 8 bytes,
 * unsigned for 1 and 2) and `hi` (the upper half of 8-byte values, else 0). Old values come back
 * as the return value (low half) and `OLD.hi`.
 * @module
 */
import { threadId } from 'node:worker_threads';

/** The operation of {@link atomicRmw}. */
export const AOp = { ADD: 0, AND: 1, OR: 2, XOR: 3, XCHG: 4 } as const;
export type AOp = (typeof AOp)[keyof typeof AOp];

/** High half of the old value returned by the last atomic helper call (this thread). */
export const OLD = { hi: 0 };

interface Views {
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
}

const viewCache = new WeakMap<ArrayBufferLike, Views>();

/** Typed views over a whole buffer, for Atomics (one set per buffer). */
function viewsOf(buf: ArrayBufferLike): Views {
  let v = viewCache.get(buf);
  if (!v) {
    const n = buf.byteLength;
    v = {
      u8: new Uint8Array(buf, 0, n),
      u16: new Uint16Array(buf, 0, Math.floor(n / 2)),
      i32: new Int32Array(buf, 0, Math.floor(n / 4)),
      i64: new BigInt64Array(buf, 0, Math.floor(n / 8)),
    };
    viewCache.set(buf, v);
  }
  return v;
}

const toBig = (lo: number, hi: number): bigint => (BigInt(hi | 0) << 32n) | BigInt(lo >>> 0);

function fromBig(v: bigint): number {
  OLD.hi = Number(BigInt.asIntN(32, v >> 32n));
  return Number(BigInt.asIntN(32, v));
}

/** True when an access of `size` at byte offset `off` can be one host atomic operation. */
export function canAtomic(off: number, size: number): boolean {
  return (size === 1 || size === 2 || size === 4 || size === 8) && off % size === 0;
}

/**
 * Atomically applies `op` with operand (lo, hi) to the `size` bytes at `off` of `buf` (which
 * {@link canAtomic} accepted). Returns the old value (low half; high half in OLD.hi).
 */
export function atomicRmw(buf: ArrayBufferLike, off: number, size: number, op: AOp, lo: number, hi: number): number {
  const v = viewsOf(buf);
  OLD.hi = 0;
  switch (size) {
    case 1: {
      const a = v.u8;
      const b = lo & 0xff;
      return op === AOp.ADD ? Atomics.add(a, off, b) : op === AOp.AND ? Atomics.and(a, off, b) : op === AOp.OR ? Atomics.or(a, off, b) : op === AOp.XOR ? Atomics.xor(a, off, b) : Atomics.exchange(a, off, b);
    }
    case 2: {
      const a = v.u16;
      const i = off >>> 1;
      const b = lo & 0xffff;
      return op === AOp.ADD ? Atomics.add(a, i, b) : op === AOp.AND ? Atomics.and(a, i, b) : op === AOp.OR ? Atomics.or(a, i, b) : op === AOp.XOR ? Atomics.xor(a, i, b) : Atomics.exchange(a, i, b);
    }
    case 4: {
      const a = v.i32;
      const i = off >>> 2;
      return op === AOp.ADD ? Atomics.add(a, i, lo) : op === AOp.AND ? Atomics.and(a, i, lo) : op === AOp.OR ? Atomics.or(a, i, lo) : op === AOp.XOR ? Atomics.xor(a, i, lo) : Atomics.exchange(a, i, lo);
    }
    default: {
      const a = v.i64;
      const i = off / 8;
      const b = toBig(lo, hi);
      return fromBig(op === AOp.ADD ? Atomics.add(a, i, b) : op === AOp.AND ? Atomics.and(a, i, b) : op === AOp.OR ? Atomics.or(a, i, b) : op === AOp.XOR ? Atomics.xor(a, i, b) : Atomics.exchange(a, i, b));
    }
  }
}

/**
 * Atomic compare-and-swap of the `size` bytes at `off` (accepted by {@link canAtomic}): stores
 * (newLo, newHi) when memory holds (expLo, expHi). Returns the old value (low half; OLD.hi);
 * the swap happened iff it equals the expected value.
 */
export function atomicCas(buf: ArrayBufferLike, off: number, size: number, expLo: number, expHi: number, newLo: number, newHi: number): number {
  const v = viewsOf(buf);
  OLD.hi = 0;
  switch (size) {
    case 1:
      return Atomics.compareExchange(v.u8, off, expLo & 0xff, newLo & 0xff);
    case 2:
      return Atomics.compareExchange(v.u16, off >>> 1, expLo & 0xffff, newLo & 0xffff);
    case 4:
      return Atomics.compareExchange(v.i32, off >>> 2, expLo | 0, newLo | 0);
    default:
      return fromBig(Atomics.compareExchange(v.i64, off / 8, toBig(expLo, expHi), toBig(newLo, newHi)));
  }
}

/** Atomic load of the `size` bytes at `off` (accepted by {@link canAtomic}); high half in OLD.hi. */
export function atomicLoad(buf: ArrayBufferLike, off: number, size: number): number {
  const v = viewsOf(buf);
  OLD.hi = 0;
  switch (size) {
    case 1:
      return Atomics.load(v.u8, off);
    case 2:
      return Atomics.load(v.u16, off >>> 1);
    case 4:
      return Atomics.load(v.i32, off >>> 2);
    default:
      return fromBig(Atomics.load(v.i64, off / 8));
  }
}

/** Atomic store of (lo, hi) to the `size` bytes at `off` (accepted by {@link canAtomic}). */
export function atomicStore(buf: ArrayBufferLike, off: number, size: number, lo: number, hi: number): void {
  const v = viewsOf(buf);
  switch (size) {
    case 1:
      Atomics.store(v.u8, off, lo & 0xff);
      return;
    case 2:
      Atomics.store(v.u16, off >>> 1, lo & 0xffff);
      return;
    case 4:
      Atomics.store(v.i32, off >>> 2, lo | 0);
      return;
    default:
      Atomics.store(v.i64, off / 8, toBig(lo, hi));
  }
}

// ---- the VM lock: a futex-style mutex in shared memory, owned by a thread -------------------------
//
// w[0]: 0 when free, else the holder's id (its threadId + 1) with WAITERS set once someone sleeps
// on it. w[1]: acquisitions so far (a waiter tells "held all along" from "taken again"); a lock
// of one word (the vGIC's) has no count and is never taken over, only recovered.
// A thread can die holding it (a worker terminated in the middle of a locked instruction): the
// owner of the VM frees it when it learns of that death (recoverLock), and a waiter that sees the
// same acquisition held for LOCK_GRACE_MS takes it over, since a live holder keeps it for one
// emulated instruction only.

/** This thread's holder id. */
export const LOCK_ID = threadId + 1;
/** Locks this thread freed for a dead holder (recoverLock) or took over from a presumed-dead one. */
export const LOCK_STATS = { recovered: 0, takenOver: 0 };
const WAITERS = 1 << 30;
const ID_MASK = WAITERS - 1;
/** Spins before sleeping: the lock is only ever held for one emulated instruction. */
const SPINS = 200;
/**
 * How long one acquisition may be held before waiters presume its holder dead. A live holder keeps
 * it for one instruction, but a thread descheduled on a loaded host (or paused by its GC) can keep
 * it for hundreds of ms: at 500 ms an SMP test at load 15 on 2 cores lost increments to takeovers
 * of live holders. As long as the owner's wait for an unacknowledging worker (ACK_GRACE_MS).
 */
export const LOCK_GRACE_MS = 3000;

function acquired(w: Int32Array): void {
  if (w.length > 1) Atomics.add(w, 1, 1);
}

/** Takes the lock word `w` (Atomics.wait is allowed on Node's main thread too). */
export function lockWord(w: Int32Array): void {
  if (Atomics.compareExchange(w, 0, 0, LOCK_ID) === 0) return acquired(w);
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(w, 0) === 0 && Atomics.compareExchange(w, 0, 0, LOCK_ID) === 0) return acquired(w);
  }
  let held = -1;
  let heldSeq = -1;
  let since = 0;
  for (;;) {
    const cur = Atomics.load(w, 0);
    if (cur === 0) {
      // Taken with WAITERS set: others may still sleep on it (as a futex mutex's state 2).
      if (Atomics.compareExchange(w, 0, 0, LOCK_ID | WAITERS) === 0) return acquired(w);
      continue;
    }
    if (!(cur & WAITERS) && Atomics.compareExchange(w, 0, cur, cur | WAITERS) !== cur) continue;
    const seq = w.length > 1 ? Atomics.load(w, 1) : -2;
    const now = performance.now();
    if ((cur & ID_MASK) !== (held & ID_MASK) || seq !== heldSeq) {
      held = cur;
      heldSeq = seq;
      since = now;
    } else if (seq !== -2 && now - since > LOCK_GRACE_MS) {
      // The same acquisition, held far longer than an instruction: its holder is gone.
      if (Atomics.compareExchange(w, 0, cur | WAITERS, LOCK_ID | WAITERS) === (cur | WAITERS)) {
        LOCK_STATS.takenOver++;
        return acquired(w);
      }
      continue;
    }
    Atomics.wait(w, 0, cur | WAITERS, 10);
  }
}

/** Releases the lock word taken by {@link lockWord} (unless it was taken over meanwhile). */
export function unlockWord(w: Int32Array): void {
  if (Atomics.compareExchange(w, 0, LOCK_ID, 0) === LOCK_ID) return;
  if (Atomics.compareExchange(w, 0, LOCK_ID | WAITERS, 0) === (LOCK_ID | WAITERS)) Atomics.notify(w, 0, 1);
}

/** Frees the lock word if `holder` (a dead thread's LOCK_ID) holds it. True if it did. */
export function recoverLock(w: Int32Array, holder: number): boolean {
  for (;;) {
    const cur = Atomics.load(w, 0);
    if (cur === 0 || (cur & ID_MASK) !== holder) return false;
    if (Atomics.compareExchange(w, 0, cur, 0) === cur) {
      LOCK_STATS.recovered++;
      Atomics.notify(w, 0);
      return true;
    }
  }
}
