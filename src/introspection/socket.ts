/**
 * Host Unix-domain stream sockets for introspection: the kernel's end is a non-blocking OS fd
 * read and written synchronously (fs.readSync/writeSync) and waited on with poll(2), so the vCPU
 * thread can serve the tool in the middle of KVM_RUN, exactly where the kernel's receiving thread
 * and vCPU thread would. socketpair/socket/connect/poll come from libc through koffi (the FFI the
 * native backend uses); without it, `isKvmiSocketAvailable()` is false.
 * @module
 */
import { closeSync, readSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { KvmiStream } from './stream.js';

interface KoffiFn {
  (...args: unknown[]): number;
}
interface Libc {
  socketpair: KoffiFn;
  socket: KoffiFn;
  connect: KoffiFn;
  poll: KoffiFn;
  fcntl: KoffiFn;
  shutdown: KoffiFn;
  errno: () => number;
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const POLLIN = 1;
const POLLOUT = 4;
const SHUT_RDWR = 2;

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    if (process.platform !== 'linux') throw new Error('linux only');
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as { load(l: string): { func(d: string): KoffiFn }; errno(): number };
    const l = koffi.load('libc.so.6');
    libc = {
      socketpair: l.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)'),
      socket: l.func('int socket(int domain, int type, int protocol)'),
      connect: l.func('int connect(int fd, void *addr, unsigned int len)'),
      poll: l.func('int poll(void *fds, unsigned long nfds, int timeout)'),
      fcntl: l.func('int fcntl(int fd, int cmd, int arg)'),
      shutdown: l.func('int shutdown(int fd, int how)'),
      errno: () => koffi.errno(),
    };
  } catch {
    libc = null;
  }
  return libc;
}

function need(): Libc {
  const c = loadLibc();
  if (!c) throw new Error('KVMI host sockets need Linux and the koffi FFI (an optional dependency)');
  return c;
}

/** True when host sockets for introspection can be made here (Linux, koffi installed). */
export function isKvmiSocketAvailable(): boolean {
  return loadLibc() !== null;
}

/**
 * socketpair(AF_UNIX, SOCK_STREAM): two connected OS fds (close-on-exec). One becomes the
 * kernel's end (`kvmiSocketFd(sys, fds[0])`), the other goes to the tool (e.g. as a child
 * process's fd 3, then `KvmiClient.fromFd(3)`).
 */
export function hostSocketpair(): [number, number] {
  const c = need();
  const sv = new Int32Array(2);
  if (c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) !== 0) throw new Error(`socketpair failed: errno ${c.errno()}`);
  return [sv[0]!, sv[1]!];
}

/** socket + connect to a Unix-domain stream socket path where a tool listens; returns the OS fd. */
export function connectUnix(path: string): number {
  const c = need();
  const name = Buffer.from(path);
  if (name.length >= 108) throw new Error('socket path too long');
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket failed: errno ${c.errno()}`);
  if (c.connect(fd, addr, 2 + name.length + 1) !== 0) {
    const e = c.errno();
    closeSync(fd);
    throw new Error(`connect(${path}) failed: errno ${e}`);
  }
  return fd;
}

/** Options of a host-socket stream. */
export interface FdStreamOptions {
  /** See `KvmiStream.replyWaitMs`. Default 100 ms. */
  readonly replyWaitMs?: number;
  /** How often the idle listener looks for data (default 2 ms). */
  readonly idlePollMs?: number;
}

/** The kernel's end over a connected host stream socket (the fd is owned from now on). */
export class FdStream implements KvmiStream {
  readonly replyWaitMs: number;
  private readonly buf = Buffer.alloc(16384);
  private readonly pfd = new Int32Array(2);
  private eof = false;
  private closed = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly idlePollMs: number;

  constructor(
    readonly fd: number,
    opts: FdStreamOptions = {},
  ) {
    const c = need();
    const fl = c.fcntl(fd, F_GETFL, 0);
    if (fl < 0 || c.fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) throw new Error(`fd ${fd} is not usable: errno ${c.errno()}`);
    this.replyWaitMs = opts.replyWaitMs ?? 100;
    this.idlePollMs = opts.idlePollMs ?? 2;
  }

  read(): Uint8Array | null | 'eof' {
    if (this.eof || this.closed) return 'eof';
    const parts: Uint8Array[] = [];
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
        this.eof = true;
        break;
      }
      if (n === 0) {
        this.eof = true;
        break;
      }
      parts.push(this.buf.subarray(0, n).slice());
      if (n < this.buf.length) break;
    }
    if (parts.length === 0) return this.eof ? 'eof' : null;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  wait(ms: number): void {
    if (this.eof || this.closed || ms <= 0) return;
    this.pfd[0] = this.fd;
    this.pfd[1] = POLLIN;
    need().poll(this.pfd, 1, Math.ceil(ms));
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    let off = 0;
    while (off < bytes.length) {
      try {
        off += writeSync(this.fd, bytes, off, bytes.length - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return false;
        this.pfd[0] = this.fd;
        this.pfd[1] = POLLOUT;
        need().poll(this.pfd, 1, 100);
      }
    }
    return true;
  }

  shutdown(): void {
    if (this.closed) return;
    need().shutdown(this.fd, SHUT_RDWR);
    this.eof = true;
  }

  setListener(fn: (() => void) | null): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!fn || this.closed) return;
    // The fd is never handed to libuv (its reads would race ours): look for data on a timer.
    this.timer = setInterval(() => {
      if (this.eof) return;
      this.pfd[0] = this.fd;
      this.pfd[1] = POLLIN;
      if (need().poll(this.pfd, 1, 0) > 0) fn();
    }, this.idlePollMs);
    this.timer.unref();
  }

  close(): void {
    if (this.closed) return;
    this.setListener(null);
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      /* already gone */
    }
  }
}
