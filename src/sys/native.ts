/**
 * `nativeSys()`: the real /dev/kvm through libc, called with koffi (an FFI that ships prebuilt
 * binaries; see the README's design notes for why not ffi-napi). Linux only.
 * @module
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { createRequire } from 'node:module';
import { hostArch, type Arch } from '../uapi/index.js';
import { bufArg, checkPointerArg, eventfdArgs, fdArg, flagsArg, ioctlArg, lengthArg, loffArg, offsetArg, pathArg, regionArg, requestArg, timeoutArg } from './args.js';
import { KvmError } from './error.js';
import { O_CLOEXEC, O_RDWR, PAGE_SIZE, type HostMemory, type IoctlArg, type Sys } from './sys.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

// Minimal shape of the koffi API this module uses (koffi ships its own types, but it is optional).
interface KoffiFn {
  (...args: unknown[]): unknown;
  /** The same call on a libuv pool thread; `cb(err, result)` on this thread's event loop. */
  async(...args: unknown[]): void;
}
interface Koffi {
  load(lib: string): { func(decl: string): KoffiFn };
  errno(value?: number): number;
  view(ptr: unknown, len: number): ArrayBuffer;
}

interface Libc {
  open: KoffiFn;
  ioctlInt: KoffiFn;
  ioctlPtr: KoffiFn;
  mmap: KoffiFn;
  munmap: KoffiFn;
  close: KoffiFn;
  eventfd: KoffiFn;
  read: KoffiFn;
  write: KoffiFn;
  fallocate: KoffiFn;
  poll: KoffiFn;
  koffi: Koffi;
}

let libc: Libc | undefined;
let loadError: Error | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  if (loadError) throw loadError;
  try {
    if (process.platform !== 'linux') throw new Error(`the native backend needs Linux (this is ${process.platform})`);
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    libc = {
      koffi,
      open: lib.func('int open(const char *path, int flags)'),
      // ioctl is variadic in C; two fixed-arity aliases cover its two argument shapes on LP64.
      ioctlInt: lib.func('int ioctl(int fd, unsigned long request, unsigned long arg)'),
      ioctlPtr: lib.func('int ioctl(int fd, unsigned long request, void *arg)'),
      mmap: lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)'),
      munmap: lib.func('int munmap(void *addr, size_t length)'),
      close: lib.func('int close(int fd)'),
      eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
      read: lib.func('long read(int fd, void *buf, unsigned long count)'),
      write: lib.func('long write(int fd, void *buf, unsigned long count)'),
      fallocate: lib.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
      // struct pollfd[] as bytes: { int fd; short events; short revents; } (8 bytes each).
      poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
    };
    return libc;
  } catch (e) {
    loadError = e instanceof Error ? e : new Error(String(e));
    throw loadError;
  }
}

/**
 * True when the native backend can work here: Linux on a KVM arch, the FFI loads, and /dev/kvm
 * exists and is readable and writable by this process.
 */
export function isNativeAvailable(path = '/dev/kvm'): boolean {
  if (!hostArch()) return false;
  try {
    loadLibc();
    accessSync(path, fsConstants.R_OK | fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Why the native backend is unavailable, or undefined when it is available. */
export function nativeUnavailableReason(path = '/dev/kvm'): string | undefined {
  if (!hostArch()) return `KVM is not available on ${process.arch}`;
  try {
    loadLibc();
  } catch (e) {
    return `FFI unavailable: ${(e as Error).message}`;
  }
  try {
    accessSync(path, fsConstants.R_OK | fsConstants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${path} does not exist (no KVM on this machine)` : `${path} is not accessible (${code}); add this user to the kvm group`;
  }
  return undefined;
}

interface Mapping {
  readonly addr: bigint;
  readonly length: number;
}

class NativeSys implements Sys {
  readonly backend = 'native' as const;
  readonly arch: Arch;
  private readonly c: Libc;
  private readonly mappings = new WeakMap<ArrayBufferLike, Mapping>();

  constructor() {
    const arch = hostArch();
    if (!arch) throw KvmError.of('ENODEV', 'open', { message: `KVM is not available on ${process.arch}` });
    this.arch = arch;
    try {
      this.c = loadLibc();
    } catch (e) {
      throw KvmError.of('ENOSYS', 'open', { message: `native backend unavailable: ${(e as Error).message}` });
    }
  }

  private fail(syscall: string, detail?: { request?: number; fd?: number; path?: string }): never {
    throw new KvmError(this.c.koffi.errno(), syscall, detail);
  }

  open(path: string, flags?: number): number {
    const fd = this.c.open(pathArg(path), flagsArg(flags) ?? O_RDWR | O_CLOEXEC) as number;
    if (fd < 0) this.fail('open', { path });
    return fd;
  }

  ioctl(fd: number, request: number, arg?: IoctlArg): number {
    const req = requestArg(request);
    fdArg(fd, 'ioctl', req);
    checkPointerArg(this.arch, fd, req, arg);
    const a = ioctlArg(fd, req, arg);
    const r = (a instanceof Uint8Array ? this.c.ioctlPtr(fd, req, a) : this.c.ioctlInt(fd, req, a)) as number;
    if (r < 0) this.fail('ioctl', { request: req, fd });
    return r;
  }

  mmap(fd: number, length: number, offset?: number): Uint8Array {
    fdArg(fd, 'mmap');
    const off = offsetArg(offset);
    lengthArg(length, 'mmap');
    const addr = this.c.mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off) as bigint;
    if (addr === MAP_FAILED) this.fail('mmap', { fd });
    return this.wrap(addr, length);
  }

  munmap(region: Uint8Array): void {
    const m = this.mappings.get(regionArg(region).buffer);
    if (!m) throw KvmError.of('EINVAL', 'munmap', { message: 'not a region returned by mmap() or alloc() of this Sys' });
    this.mappings.delete(region.buffer);
    if ((this.c.munmap(m.addr, m.length) as number) < 0) this.fail('munmap');
  }

  alloc(length: number): HostMemory {
    lengthArg(length, 'mmap');
    const len = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    const addr = this.c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) as bigint;
    if (addr === MAP_FAILED) this.fail('mmap');
    return { hva: addr, bytes: this.wrap(addr, len).subarray(0, length) };
  }

  close(fd: number): void {
    fdArg(fd, 'close');
    if ((this.c.close(fd) as number) < 0) this.fail('close', { fd });
  }

  eventfd(initval = 0, flags = 0): number {
    [initval, flags] = eventfdArgs(initval, flags);
    const fd = this.c.eventfd(initval, flags) as number;
    if (fd < 0) this.fail('eventfd');
    return fd;
  }

  read(fd: number, buf: Uint8Array): number {
    fdArg(fd, 'read');
    bufArg(buf, 'read');
    const r = Number(this.c.read(fd, buf, buf.length));
    if (r < 0) this.fail('read', { fd });
    return r;
  }

  write(fd: number, buf: Uint8Array): number {
    fdArg(fd, 'write');
    bufArg(buf, 'write');
    const r = Number(this.c.write(fd, buf, buf.length));
    if (r < 0) this.fail('write', { fd });
    return r;
  }

  fallocate(fd: number, mode: number, offset: number | bigint, len: number | bigint): void {
    fdArg(fd, 'fallocate');
    if ((this.c.fallocate(fd, mode | 0, loffArg(offset), loffArg(len)) as number) < 0) this.fail('fallocate', { fd });
  }

  async waitReadable(fd: number, timeoutMs?: number): Promise<boolean> {
    fdArg(fd, 'poll');
    timeoutMs = timeoutArg(timeoutMs);
    return (poller ??= new NativePoller(this.c)).wait(fd, timeoutMs);
  }

  private wrap(addr: bigint, length: number): Uint8Array {
    const buf = this.c.koffi.view(addr, length);
    this.mappings.set(buf, { addr, length });
    return new Uint8Array(buf);
  }
}

const POLLIN = 0x1;
const POLLNVAL = 0x20;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;

interface PollWait {
  readonly fd: number;
  readonly deadline: number;
  readonly resolve: (readable: boolean) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * The waits of this thread's event loop on native fds: one poll(2) at a time over all of them, on
 * a libuv pool thread (koffi's async call), restarted through a control eventfd when the set
 * changes. One pool thread per JS thread however many fds are awaited.
 */
class NativePoller {
  private readonly waits = new Set<PollWait>();
  private ctl = -1;
  private inflight = false;

  constructor(private readonly c: Libc) {}

  wait(fd: number, timeoutMs: number | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const deadline = timeoutMs === undefined ? Infinity : performance.now() + Math.max(0, timeoutMs);
      this.waits.add({ fd, deadline, resolve, reject });
      this.kick();
    });
  }

  /** Starts a poll, or makes the one in flight return so the next one sees the new set. */
  private kick(): void {
    if (this.ctl < 0) {
      this.ctl = this.c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number;
      if (this.ctl < 0) {
        const e = new KvmError(this.c.koffi.errno(), 'eventfd');
        for (const w of this.waits) w.reject(e);
        this.waits.clear();
        return;
      }
    }
    if (this.inflight) {
      const one = new Uint8Array(8);
      one[0] = 1;
      this.c.write(this.ctl, one, 8);
      return;
    }
    this.start();
  }

  private start(): void {
    if (this.waits.size === 0) return;
    const list = [...this.waits];
    const fds = new Uint8Array(8 * (list.length + 1));
    const dv = new DataView(fds.buffer);
    dv.setInt32(0, this.ctl, true);
    dv.setInt16(4, POLLIN, true);
    list.forEach((w, i) => {
      dv.setInt32(8 * (i + 1), w.fd, true);
      dv.setInt16(8 * (i + 1) + 4, POLLIN, true);
    });
    const first = Math.min(...list.map((w) => w.deadline));
    const timeout = first === Infinity ? -1 : Math.max(0, Math.ceil(first - performance.now()));
    this.inflight = true;
    this.c.poll.async(fds, list.length + 1, timeout, (err: unknown) => {
      this.inflight = false;
      const drain = new Uint8Array(8);
      if (dv.getInt16(6, true) & POLLIN) this.c.read(this.ctl, drain, 8);
      const now = performance.now();
      list.forEach((w, i) => {
        if (!this.waits.has(w)) return;
        const rev = dv.getInt16(8 * (i + 1) + 6, true);
        if (err) w.reject(err);
        else if (rev & POLLNVAL) w.reject(KvmError.of('EBADF', 'poll', { fd: w.fd }));
        else if (rev !== 0) w.resolve(true); // POLLIN, or POLLERR/POLLHUP: a read will not block
        else if (w.deadline <= now) w.resolve(false);
        else return;
        this.waits.delete(w);
      });
      this.start();
    });
  }
}

let poller: NativePoller | undefined;

/**
 * The real /dev/kvm. Throws KvmError(ENOSYS) when the FFI cannot load and ENODEV on a non-KVM
 * arch; a missing or forbidden /dev/kvm shows up as the errno of `open` (ENOENT, EACCES).
 */
export function nativeSys(): Sys {
  return new NativeSys();
}
