/**
 * The server's system calls: native/shim/vkvm-server.c through koffi (already the FFI of
 * `nativeSys()`). Node cannot receive fds over a socket (SCM_RIGHTS), map a file, or poll raw fds
 * synchronously; these few C functions do, and koffi.view() turns a mapping into an ArrayBuffer
 * over the same memory (see the README's design notes for why not an addon or a copy).
 * @module
 */
import { createRequire } from 'node:module';
import { serverLibrary } from './build.js';

type Fn = (...args: unknown[]) => unknown;

interface Koffi {
  load(lib: string): { func(decl: string): Fn };
  view(ptr: unknown, len: number): ArrayBuffer;
}

/** Typed wrappers; every call returns >= 0 or -errno like the C. */
export interface ServerNative {
  listen(path: string): number;
  accept(fd: number): number;
  poll(fds: Int32Array, n: number, timeoutMs: number, revents: Int32Array): number;
  recvHdr(fd: number, hdr: Uint8Array, fds: Int32Array): number;
  recv(fd: number, buf: Uint8Array, len: number): number;
  send(fd: number, hdr: Uint8Array, payload: Uint8Array | null, len: number, sendFd: number): number;
  /** Maps `len` bytes of `fd` from `off` shared read/write; the bytes, or -errno. */
  mmap(fd: number, len: number, off: number): { addr: bigint; bytes: Uint8Array } | number;
  munmap(addr: bigint, len: number): number;
  /** Reserves `len` bytes of address space (no access): its address, or -errno. */
  reserve(len: number): bigint | number;
  /** Maps `len` bytes of `fd` from `off` at `addr` (MAP_FIXED, shared); fd -1: zero pages. */
  mapFixed(addr: bigint, len: number, fd: number, off: number): number;
  /** The `len` bytes at `addr` of this process as a Uint8Array of its own (byteOffset 0). */
  view(addr: bigint, len: number): Uint8Array;
  memfd(name: string, len: number): number;
  /** [st_dev, st_ino, st_size], or -errno. */
  fstat(fd: number): readonly [bigint, bigint, bigint] | number;
  close(fd: number): number;
  /** Takes a program eventfd's count without blocking: the count, 0n when it was 0, or -errno. */
  efdTake(fd: number): bigint | number;
  /** Adds to a program eventfd's count (never blocks: a count at its maximum stays). 0 or -errno. */
  efdAdd(fd: number, v: bigint): number;
  /** `stdio`: fds for the program's fds 0-2 (-1: this process's own). */
  spawn(file: string, argv: readonly string[], env: readonly string[], stdio?: readonly number[]): { pid: number; pidfd: number } | number;
  /** 1 and the raw wait status, 0 while running, or -errno. */
  wait(pid: number, block: boolean): { done: boolean; status: number } | number;
  kill(pid: number, sig: number): number;
}

let native: ServerNative | undefined;

/** Loads (building first if needed) the helper. Throws when koffi or a C compiler is missing. */
export function serverNative(): ServerNative {
  if (native) return native;
  const require = createRequire(import.meta.url);
  let koffi: Koffi;
  try {
    koffi = require('koffi') as Koffi;
  } catch (e) {
    throw new Error(`vkvm exec needs the optional dependency koffi: ${(e as Error).message}`);
  }
  const lib = koffi.load(serverLibrary());
  const f = (d: string) => lib.func(d);
  const listen = f('int vs_listen(const char *path)');
  const accept = f('int vs_accept(int l)');
  const poll = f('int vs_poll(int32_t *fds, int n, int timeout, int32_t *revents)');
  const recvHdr = f('int vs_recv_hdr(int s, uint8_t *hdr, int32_t *fds)');
  const recv = f('int vs_recv(int s, uint8_t *buf, size_t len)');
  const send = f('int vs_send(int s, uint8_t *hdr, uint8_t *payload, size_t plen, int fd)');
  const mmap = f('void *vs_mmap(int fd, uint64_t len, uint64_t off)');
  const munmap = f('int vs_munmap(void *p, uint64_t len)');
  const reserve = f('void *vs_reserve(uint64_t len)');
  const mapFixed = f('int vs_map_fixed(void *addr, uint64_t len, int fd, uint64_t off)');
  const memfd = f('int vs_memfd(const char *name, uint64_t len)');
  const fstat = f('int vs_fstat(int fd, uint64_t *out)');
  const close = f('int vs_close(int fd)');
  const efdTake = f('int vs_efd_take(int fd, uint64_t *out)');
  const efdAdd = f('int vs_efd_add(int fd, uint64_t v)');
  const efdCount = new BigUint64Array(1);
  const spawn = f('int vs_spawn(const char *file, const char *argv, int argc, const char *envp, int envc, int32_t *stdio, int32_t *out)');
  const wait = f('int vs_wait(int pid, int hang, int32_t *status)');
  const kill = f('int vs_kill(int pid, int sig)');
  const pack = (v: readonly string[]) => Buffer.concat(v.map((s) => Buffer.from(s + '\0')));
  const stat = new BigUint64Array(3);
  const out = new Int32Array(2);
  native = {
    listen: (p) => listen(p) as number,
    accept: (fd) => accept(fd) as number,
    poll: (fds, n, t, rev) => poll(fds, n, t, rev) as number,
    recvHdr: (fd, hdr, fds) => recvHdr(fd, hdr, fds) as number,
    recv: (fd, buf, len) => recv(fd, buf, len) as number,
    send: (fd, hdr, payload, len, sendFd) => send(fd, hdr, payload, len, sendFd) as number,
    mmap(fd, len, off) {
      const p = mmap(fd, len, off);
      const addr = typeof p === 'bigint' ? p : BigInt(koffiAddress(p));
      if (addr > 0xffff_ffff_ffff_f000n) return Number(addr - (1n << 64n)); // (void *)-errno
      return { addr, bytes: new Uint8Array(koffi.view(addr, len)) };
    },
    munmap: (addr, len) => munmap(addr, len) as number,
    reserve(len) {
      const p = reserve(len);
      const addr = typeof p === 'bigint' ? p : BigInt(koffiAddress(p));
      return addr > 0xffff_ffff_ffff_f000n ? Number(addr - (1n << 64n)) : addr;
    },
    mapFixed: (addr, len, fd, off) => mapFixed(addr, len, fd, off) as number,
    view: (addr, len) => new Uint8Array(koffi.view(addr, len)),
    memfd: (name, len) => memfd(name, len) as number,
    fstat(fd) {
      const r = fstat(fd, stat) as number;
      return r < 0 ? r : ([stat[0]!, stat[1]!, stat[2]!] as const);
    },
    close: (fd) => close(fd) as number,
    efdTake(fd) {
      const r = efdTake(fd, efdCount) as number;
      return r < 0 ? r : r === 1 ? efdCount[0]! : 0n;
    },
    efdAdd: (fd, v) => efdAdd(fd, v) as number,
    spawn(file, argv, env, stdio = [-1, -1, -1]) {
      const r = spawn(file, pack(argv), argv.length, pack(env), env.length, Int32Array.from(stdio), out) as number;
      return r < 0 ? r : { pid: out[0]!, pidfd: out[1]! };
    },
    wait(pid, block) {
      const st = new Int32Array(1);
      const r = wait(pid, block ? 1 : 0, st) as number;
      return r < 0 ? r : { done: r === 1, status: st[0]! };
    },
    kill: (pid, sig) => kill(pid, sig) as number,
  };
  return native;

  function koffiAddress(p: unknown): bigint {
    return (require('koffi') as { address(p: unknown): bigint }).address(p);
  }
}
