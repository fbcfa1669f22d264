/**
 * Byte streams between the virtual kernel and an introspection tool.
 *
 * The kernel's end (`KvmiStream`) is read synchronously: KVMI runs on the thread that calls
 * KVM_RUN, so it must be able to look for data in the middle of a run and to wait a bounded time
 * for an event reply. The tool's end (`KvmiTransport`) is an ordinary asynchronous stream.
 *
 * Two kinds: an in-process duplex (`kvmiInProcessPair`, for tools in the same thread) and host
 * Unix-domain sockets (socket.ts, for tools in another process or worker).
 * @module
 */
import { concat } from '../kernel/bytes.js';

/** The kernel's end of the introspection socket. */
export interface KvmiStream {
  /** The bytes available now, without blocking: null when there are none, 'eof' when the peer is gone. */
  read(): Uint8Array | null | 'eof';
  /** Blocks the calling thread up to `ms` for data. */
  wait(ms: number): void;
  /**
   * How long a vCPU may block inside KVM_RUN for an event reply before it parks and KVM_RUN
   * returns EINTR. 0 for an in-process tool (it can only answer once the thread is free).
   */
  readonly replyWaitMs: number;
  /** Writes a whole message; false when the peer is gone. */
  write(bytes: Uint8Array): boolean;
  /** shutdown(SHUT_RDWR): the tool sees end-of-file. */
  shutdown(): void;
  /** Calls `fn` when data arrives while nothing is reading (the event loop is idle); null stops. */
  setListener(fn: (() => void) | null): void;
  /** Releases the stream (the last reference is gone). */
  close(): void;
}

/** The tool's end: an asynchronous byte stream (a net.Socket, or the in-process peer). */
export interface KvmiTransport {
  write(bytes: Uint8Array): void;
  /** Registers the data callback (chunks arrive in order, asynchronously). */
  onData(cb: (chunk: Uint8Array) => void): void;
  /** Registers the end-of-stream callback. */
  onClose(cb: () => void): void;
  /** Closes the tool's end (the kernel sees end-of-file). */
  close(): void;
}

class Side {
  inbox: Uint8Array[] = [];
  closed = false;
}

class KernelEnd implements KvmiStream {
  readonly replyWaitMs = 0;
  private listener: (() => void) | null = null;
  private scheduled = false;

  constructor(
    private readonly mine: Side,
    private readonly peer: Side,
    private readonly deliver: () => void,
  ) {}

  read(): Uint8Array | null | 'eof' {
    const q = this.mine.inbox;
    if (q.length === 0) return this.mine.closed || this.peer.closed ? 'eof' : null;
    this.mine.inbox = [];
    return q.length === 1 ? q[0]! : concat(q);
  }

  wait(_ms: number): void {
    // Nothing can arrive while this thread waits: the tool runs on it.
  }

  write(bytes: Uint8Array): boolean {
    if (this.peer.closed || this.mine.closed) return false;
    this.peer.inbox.push(bytes.slice());
    this.deliver();
    return true;
  }

  shutdown(): void {
    if (this.mine.closed) return;
    this.mine.closed = true;
    this.mine.inbox = [];
    this.deliver();
  }

  setListener(fn: (() => void) | null): void {
    this.listener = fn;
    if (fn && this.mine.inbox.length) this.notify();
  }

  /** The tool wrote: tell the kernel asynchronously (as a socket's readiness would). */
  notify(): void {
    if (this.scheduled || !this.listener) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.listener?.();
    });
  }

  close(): void {
    this.shutdown();
    this.listener = null;
  }
}

class ToolEnd implements KvmiTransport {
  private dataCb: ((chunk: Uint8Array) => void) | null = null;
  private closeCb: (() => void) | null = null;
  private scheduled = false;
  private closeSent = false;
  kernel!: KernelEnd;

  constructor(
    private readonly mine: Side,
    private readonly peer: Side,
  ) {}

  write(bytes: Uint8Array): void {
    if (this.mine.closed || this.peer.closed) return;
    this.peer.inbox.push(bytes.slice());
    this.kernel.notify();
  }

  onData(cb: (chunk: Uint8Array) => void): void {
    this.dataCb = cb;
    this.schedule();
  }

  onClose(cb: () => void): void {
    this.closeCb = cb;
    this.schedule();
  }

  close(): void {
    if (this.mine.closed) return;
    this.mine.closed = true;
    this.kernel.notify();
    this.schedule();
  }

  /** Delivers queued bytes (and end-of-stream) asynchronously, in order. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const q = this.mine.inbox;
      if (q.length && this.dataCb) {
        this.mine.inbox = [];
        for (const c of q) this.dataCb(c);
      }
      if ((this.peer.closed || this.mine.closed) && !this.closeSent && this.closeCb && this.mine.inbox.length === 0) {
        this.closeSent = true;
        this.closeCb();
      }
    });
  }
}

/**
 * An in-process duplex: `kernel` is what KVM_INTROSPECTION_HOOK takes (see `kvmiSocketFd`),
 * `tool` is what a `KvmiClient` speaks over. Delivery in both directions is asynchronous
 * (microtasks), like a socket's.
 *
 * The tool then runs on the VMM's own thread: it can only answer while the VMM yields to the
 * event loop. A vCPU waiting for the tool's reply makes KVM_RUN return EINTR (`vcpu.run()`
 * returns `{ reason: 'intr' }`); the VMM must `await` (e.g. `setImmediate`) before the next
 * KVM_RUN, or the reply never comes. A tool in another thread or process (a socket) has no
 * such need.
 *
 * ```ts
 * const { kernel, tool } = kvmiInProcessPair();
 * introspectionHook(sys, vm.fd, kvmiSocketFd(sys, kernel));
 * const client = new KvmiClient(tool);
 * for (;;) {
 *   const exit = vcpu.run();
 *   if (exit.reason === 'intr') { await new Promise((r) => setImmediate(r)); continue; }
 *   ...
 * }
 * ```
 */
export function kvmiInProcessPair(): { kernel: KvmiStream; tool: KvmiTransport } {
  const k = new Side();
  const t = new Side();
  const tool = new ToolEnd(t, k);
  const kernel = new KernelEnd(k, t, () => tool.schedule());
  tool.kernel = kernel;
  return { kernel, tool };
}

