/**
 * eventfd(2) (fs/eventfd.c): a 64-bit counter the VMM and the kernel signal each other through
 * (KVM_IRQFD, KVM_IOEVENTFD, resample fds).
 *
 * The counter lives in a SharedArrayBuffer so that every thread can signal, read and wait on the
 * same eventfd without a message: a vCPU on a worker thread signals an ioeventfd with one atomic
 * add, and a VMM awaits it with `Atomics.waitAsync` (no thread blocked, no event loop held).
 * Layout of the shared block: `count` (u64) at 0, `seq` (i32) at 8 — bumped and notified on every
 * change, the word waiters sleep on — and `released` (i32) at 12.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { EFD } from '../uapi/constants.js';

const ULLONG_MAX = 0xffff_ffff_ffff_ffffn;

/** poll(2) event bits as eventfd_poll reports them. */
export const POLL = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10 } as const;

const SHARED_BYTES = 16;

/** Atomics.waitAsync (ES2024; in Node since 16): a wait that does not block the thread. */
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, timeout?: number): WaitAsyncResult }).waitAsync;

/** One eventfd counter (struct eventfd_ctx). Several JS objects (one per thread) may view the same counter. */
export class EventFdCtx {
  readonly shared: SharedArrayBuffer;
  private readonly count: BigUint64Array;
  /** [0] change sequence (waiters sleep on it), [1] 1 once the file was released. */
  private readonly words: Int32Array;
  /** This thread's wait-queue entries (irqfd_wakeup): called with the poll mask on every change made here. */
  private readonly waiters = new Set<(mask: number) => void>();

  private constructor(
    shared: SharedArrayBuffer,
    /** EFD_SEMAPHORE: a read takes 1 instead of the whole count. */
    readonly semaphore: boolean,
  ) {
    this.shared = shared;
    this.count = new BigUint64Array(shared, 0, 1);
    this.words = new Int32Array(shared, 8, 2);
  }

  /** A new counter (do_eventfd). */
  static create(initval: number, semaphore: boolean): EventFdCtx {
    const c = new EventFdCtx(new SharedArrayBuffer(SHARED_BYTES), semaphore);
    c.count[0] = BigInt(initval >>> 0);
    return c;
  }

  /** Another thread's view of the counter `shared` (from `EventFdCtx.shared`). */
  static attach(shared: SharedArrayBuffer, semaphore: boolean): EventFdCtx {
    return new EventFdCtx(shared, semaphore);
  }

  /** The counter now. */
  get value(): bigint {
    return Atomics.load(this.count, 0);
  }

  /** The change sequence (changes whenever the counter does). */
  get seq(): number {
    return Atomics.load(this.words, 0);
  }

  /** True once the last fd of the eventfd was closed. */
  get released(): boolean {
    return Atomics.load(this.words, 1) !== 0;
  }

  /** eventfd_signal: the kernel's increment, saturating at ULLONG_MAX (never fails, never blocks). */
  signal(): void {
    for (;;) {
      const c = Atomics.load(this.count, 0);
      if (c === ULLONG_MAX) break;
      if (Atomics.compareExchange(this.count, 0, c, c + 1n) === c) break;
    }
    this.wake(POLL.IN);
  }

  /**
   * write(2) of `v` (eventfd_write): EINVAL for ULLONG_MAX; when the sum would reach ULLONG_MAX,
   * EAGAIN if `nonblock`, else the calling thread sleeps until a read makes room.
   */
  write(v: bigint, nonblock: boolean): void {
    if (v === ULLONG_MAX) throw KvmError.of('EINVAL', 'write');
    for (;;) {
      const seq = Atomics.load(this.words, 0);
      const c = Atomics.load(this.count, 0);
      if (ULLONG_MAX - c > v) {
        if (Atomics.compareExchange(this.count, 0, c, c + v) !== c) continue;
        this.wake(POLL.IN);
        return;
      }
      if (nonblock) throw KvmError.of('EAGAIN', 'write');
      Atomics.wait(this.words, 0, seq);
    }
  }

  /**
   * read(2) (eventfd_read): the count (or 1 with EFD_SEMAPHORE), taken from the counter. At 0,
   * EAGAIN if `nonblock`, else the calling thread sleeps until a write or signal.
   */
  read(nonblock: boolean): bigint {
    for (;;) {
      const seq = Atomics.load(this.words, 0);
      const got = this.take();
      if (got !== 0n) return got;
      if (nonblock) throw KvmError.of('EAGAIN', 'read');
      Atomics.wait(this.words, 0, seq);
    }
  }

  /**
   * eventfd_ctx_do_read: what a reader (an irqfd) takes when the counter is non-zero — the count,
   * or 1 with EFD_SEMAPHORE. 0 when there was nothing. Wakes writers waiting for room.
   */
  take(): bigint {
    for (;;) {
      const c = Atomics.load(this.count, 0);
      if (c === 0n) return 0n;
      const n = this.semaphore ? 1n : c;
      if (Atomics.compareExchange(this.count, 0, c, c - n) !== c) continue;
      this.wake(POLL.OUT);
      return n;
    }
  }

  /** eventfd_poll: the events a poll(2) would report now. */
  poll(): number {
    const c = Atomics.load(this.count, 0);
    let ev = 0;
    if (c > 0n) ev |= POLL.IN;
    if (c === ULLONG_MAX) ev |= POLL.ERR;
    if (ULLONG_MAX - 1n > c) ev |= POLL.OUT;
    if (this.released) ev |= POLL.HUP;
    return ev;
  }

  /** This thread's wait-queue entries now (readers such as irqfds). */
  get hooked(): number {
    return this.waiters.size;
  }

  /** Adds a wait-queue entry of this thread (add_wait_queue); returns its removal. */
  addWaiter(fn: (mask: number) => void): () => void {
    this.waiters.add(fn);
    return () => this.waiters.delete(fn);
  }

  /** The last file of the eventfd went away (eventfd_release): wakes waiters with POLLHUP. */
  release(): void {
    Atomics.store(this.words, 1, 1);
    this.wake(POLL.HUP);
  }

  /**
   * Resolves true once the counter is non-zero (POLLIN), false after `timeoutMs` (undefined: no
   * limit) or once released. Never blocks the thread: any thread's change wakes it.
   */
  async waitReadable(timeoutMs?: number): Promise<boolean> {
    const end = timeoutMs === undefined ? Infinity : performance.now() + Math.max(0, timeoutMs);
    for (;;) {
      const seq = Atomics.load(this.words, 0);
      if (Atomics.load(this.count, 0) !== 0n) return true;
      if (this.released) return false;
      const left = end - performance.now();
      if (left <= 0) return false;
      const w = waitAsync(this.words, 0, seq, left === Infinity ? undefined : left);
      if (w.async) await w.value;
    }
  }

  /** Resolves once the counter changed after sequence `seq` (or right away if it already did). */
  async waitChange(seq: number): Promise<void> {
    const w = waitAsync(this.words, 0, seq);
    if (w.async) await w.value;
  }

  /** Blocks the calling thread until the counter changed after sequence `seq` (or `timeoutMs`). */
  sleep(seq: number, timeoutMs?: number): void {
    Atomics.wait(this.words, 0, seq, timeoutMs);
  }

  /** Wakes every sleeper without a change (they look again): ends a waiter that is no longer wanted. */
  kick(): void {
    Atomics.notify(this.words, 0);
  }

  /** Bumps the sequence, wakes sleepers of every thread and this thread's wait-queue entries. */
  private wake(mask: number): void {
    Atomics.add(this.words, 0, 1);
    Atomics.notify(this.words, 0);
    for (const w of this.waiters) w(mask);
  }
}

/** An open eventfd file: the counter and the file's O_NONBLOCK. */
export interface EventFdFile {
  readonly ctx: EventFdCtx;
  readonly nonblock: boolean;
}

const EFD_FLAGS_SET = EFD.SEMAPHORE | EFD.CLOEXEC | EFD.NONBLOCK;

/** do_eventfd: validates the flags (EINVAL) and makes the file. */
export function newEventFd(initval: number, flags: number): EventFdFile {
  if (!Number.isInteger(initval) || initval < 0 || initval > 0xffff_ffff || !Number.isInteger(flags) || flags & ~EFD_FLAGS_SET) {
    throw KvmError.of('EINVAL', 'eventfd');
  }
  return { ctx: EventFdCtx.create(initval, (flags & EFD.SEMAPHORE) !== 0), nonblock: (flags & EFD.NONBLOCK) !== 0 };
}

/** read(2) on an eventfd file into `buf` (at least 8 bytes, else EINVAL): returns 8. */
export function eventFdRead(f: EventFdFile, buf: Uint8Array, nonblock = f.nonblock): number {
  if (buf.length < 8) throw KvmError.of('EINVAL', 'read');
  const v = f.ctx.read(nonblock);
  new DataView(buf.buffer, buf.byteOffset, 8).setBigUint64(0, v, true);
  return 8;
}

/** write(2) on an eventfd file from `buf` (exactly 8 bytes, else EINVAL): returns 8. */
export function eventFdWrite(f: EventFdFile, buf: Uint8Array): number {
  if (buf.length !== 8) throw KvmError.of('EINVAL', 'write');
  f.ctx.write(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true), f.nonblock);
  return 8;
}
