/**
 * EventFd: an eventfd(2) as a VMM uses it with KVM_IRQFD (the VMM signals, the guest gets an
 * interrupt) and KVM_IOEVENTFD (the guest writes, the VMM is woken). One code path for both
 * backends: `Sys.eventfd/read/write/waitReadable` are the real calls on `nativeSys()` and a
 * shared-memory counter on `virtualSys()`; waiting never blocks the thread.
 * @module
 */
import { isKvmError } from '../sys/error.js';
import type { Sys } from '../sys/sys.js';
import { EFD } from '../uapi/constants.js';

/** Options of {@link EventFd.create}. */
export interface EventFdOptions {
  /** The initial count (default 0). */
  readonly initval?: number;
  /** EFD_SEMAPHORE: each read takes 1 (default false). */
  readonly semaphore?: boolean;
}

/** An eventfd, non-blocking (EFD_NONBLOCK | EFD_CLOEXEC, as VMMs open theirs). */
export class EventFd {
  private readonly buf = new Uint8Array(8);
  private readonly dv = new DataView(this.buf.buffer);

  constructor(
    readonly sys: Sys,
    /** The eventfd's fd: what KVM_IRQFD and KVM_IOEVENTFD take. */
    readonly fd: number,
  ) {}

  /** eventfd(2) with EFD_NONBLOCK | EFD_CLOEXEC (and EFD_SEMAPHORE when asked). */
  static create(sys: Sys, opts: EventFdOptions = {}): EventFd {
    const flags = EFD.NONBLOCK | EFD.CLOEXEC | (opts.semaphore ? EFD.SEMAPHORE : 0);
    return new EventFd(sys, sys.eventfd(opts.initval ?? 0, flags));
  }

  /** Adds `n` (default 1) to the counter: write(2) of 8 bytes. Throws EAGAIN if it would overflow. */
  signal(n: bigint | number = 1n): void {
    this.dv.setBigUint64(0, BigInt(n), true);
    this.sys.write(this.fd, this.buf);
  }

  /** Takes the count (1 with EFD_SEMAPHORE), or null when it is 0. */
  tryRead(): bigint | null {
    try {
      this.sys.read(this.fd, this.buf);
    } catch (e) {
      if (isKvmError(e, 'EAGAIN')) return null;
      throw e;
    }
    return this.dv.getBigUint64(0, true);
  }

  /**
   * Waits until the counter is non-zero, then takes it: the count, or null after `timeoutMs`
   * (default: no limit). Another reader (an irqfd, another wait) may take it first: then it waits on.
   */
  async wait(timeoutMs?: number): Promise<bigint | null> {
    const end = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      const left = end - performance.now();
      if (left <= 0) return null;
      if (!(await this.sys.waitReadable(this.fd, left === Infinity ? undefined : left))) return null;
      const n = this.tryRead();
      if (n !== null) return n;
    }
  }

  /** Calls `fn(count)` for each signal until the returned function is called (or the fd closes). */
  onSignal(fn: (count: bigint) => void): () => void {
    let on = true;
    void (async () => {
      while (on) {
        let n: bigint | null;
        try {
          n = await this.wait(100); // a bounded wait: a stopped loop ends soon after
        } catch {
          return; // the fd was closed
        }
        if (on && n !== null) fn(n);
      }
    })();
    return () => {
      on = false;
    };
  }

  /** close(2). */
  close(): void {
    this.sys.close(this.fd);
  }
}
