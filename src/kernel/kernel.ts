/**
 * The virtual kernel: the fd table and the system-fd ioctls of /dev/kvm (kvm_dev_ioctl), with the
 * VM and vCPU files of vm.ts and vcpu.ts. One instance per `virtualSys()`; nothing is global.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { FALLOC_FL } from '../uapi/constants.js';
import type { IoctlArg } from '../sys/sys.js';
import { abi, iocType, KVM_API_VERSION, KVMIO, type IoctlDef, type IoctlName, type IoctlNumbers } from '../uapi/index.js';
import { NOT_HANDLED, type ArchBackend } from './arch.js';
import { genericCheckExtension } from './caps.js';
import type { KvmDevice } from './device.js';
import { eventFdRead, eventFdWrite, newEventFd, type EventFdCtx, type EventFdFile } from './eventfd.js';
import type { GuestMemfd } from './gmem.js';
import { RunDeadline } from './deadline.js';
import { threadRunDelay } from './sched.js';
import { LINUX_LATEST, linuxVersion, SINCE } from './linux.js';
import type { ClockMode } from './timer.js';
import { FdNumbers } from './fdtable.js';
import { AddressSpace, PAGE_SIZE, type Mapping } from './hva.js';
import type { KernelSmp } from './smp.js';
import { UserArg } from './uarg.js';
import type { Vcpu } from './vcpu.js';
import { Vm } from './vm.js';

/** An open file of the virtual process. */
export type KFile =
  | { readonly kind: 'system' }
  | { readonly kind: 'vm'; readonly vm: Vm }
  | { readonly kind: 'vcpu'; readonly vcpu: Vcpu }
  | { readonly kind: 'guest_memfd'; readonly gmem: GuestMemfd; readonly vm: Vm }
  // KVMI (src/introspection): a stream socket to an introspection tool, for KVM_INTROSPECTION_HOOK
  | { readonly kind: 'socket'; readonly socket: { close(): void } }
  // eventfd(2): KVM_IRQFD / KVM_IOEVENTFD counters (src/kernel/eventfd.ts)
  | { readonly kind: 'eventfd'; readonly efd: EventFdFile }
  // KVM_CREATE_DEVICE (src/kernel/device.ts)
  | { readonly kind: 'device'; readonly dev: KvmDevice; readonly vm: Vm };

/** fds 0-2: stdio of a real process, open but nothing KVM knows (eventfd lookups answer EINVAL). */
const STDIO_FDS = 3;

/** RLIMIT_NOFILE of the virtual process. */
const MAX_FDS = 1 << 20;

/** What the block JITs write hot code as (`Kernel.jitEngine`, `virtualSys({ jitEngine })`). */
export type JitEngine = 'wasm' | 'js';

/** VKVM_JIT_ENGINE=js|wasm, else undefined (each arch's default). */
export function envJitEngine(): JitEngine | undefined {
  const e = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.VKVM_JIT_ENGINE;
  return e === 'js' || e === 'wasm' ? e : undefined;
}

export class Kernel {
  readonly space = new AddressSpace();
  private readonly files = new Map<number, KFile>();
  private readonly fds = new FdNumbers(STDIO_FDS, MAX_FDS);
  /** ioctl numbers of this kernel's ABI, by name (a misspelt `case nr.KVM_...` does not compile). */
  readonly nr: IoctlNumbers;

  /** Instructions a KVM_RUN may retire before returning EINTR/KVM_EXIT_INTR (as a signal would). */
  runBudget = 200_000_000;

  /** vCPUs of this kernel's VMs attached on other threads (src/kernel/smp.ts), once there were any. */
  smp: KernelSmp | null = null;

  /** The wall-clock bound of a KVM_RUN of this thread (`virtualSys({ runTimeoutMs })`). */
  readonly deadline = new RunDeadline();

  /** Translate hot guest code into cached JS functions (block JIT); false interprets only. */
  jit = true;

  /**
   * What the block JITs write hot code as: 'wasm' (modules over the process's wasm memory, where
   * WebAssembly shared memory exists; the JS translation for what it does not cover) or 'js'.
   * Undefined: each arch's default (arm64 'wasm', x86 'js'). Default: VKVM_JIT_ENGINE.
   */
  jitEngine: JitEngine | undefined = envJitEngine();

  /** Executions of a decoded block before the JIT translates it (undefined: the arch's default). */
  jitHotness: number | undefined = undefined;

  /**
   * Decoded guest instructions a vCPU's code cache (decoded blocks and their translations) holds
   * at most; past it the cache is flushed whole (undefined: the arch's default).
   */
  codeCacheLimit: number | undefined = undefined;

  /** The Linux release whose KVM API this kernel presents (src/kernel/linux.ts), as linuxVersion(). */
  linux = linuxVersion(LINUX_LATEST);

  /** Whether this kernel presents `feature` (its release is at or after the one that added it). */
  has(feature: keyof typeof SINCE): boolean {
    return this.linux >= linuxVersion(SINCE[feature]);
  }

  /** kvm_gmem_get_supported_flags: the arch's guest_memfd flags, none before SINCE.gmemFlags. */
  gmemFlags(vm: Vm | null): bigint {
    return this.has('gmemFlags') ? this.arch.gmemFlags(vm) : 0n;
  }

  /** The clock new VMs follow (src/kernel/timer.ts). */
  clock: ClockMode = 'host';

  /**
   * How long a halted vCPU running on this kernel's own thread may sleep in one KVM_RUN before it
   * returns EINTR/KVM_EXIT_INTR, ms (src/kernel/requests.ts): the thread's event loop must run.
   */
  haltWaitMs = 10;

  /**
   * A worker thread's mirror kernel (src/kernel/smp.ts): true there. Its VM-wide device
   * operations go to the owner through `forward`.
   */
  mirror = false;

  /** Mirror kernels: runs a VM-wide device operation on the owner thread (set by the attached Sys). */
  forward: ((op: string, payload: unknown, vcpuId: number) => unknown) | null = null;

  /**
   * Where vCPU mmap areas come from (zeroed, starting at offset 0 of their buffer); unset:
   * SharedArrayBuffers. The preload shim's server (src/server) puts them on memfds that the
   * program maps, so kvm_run is one shared mapping.
   */
  runArea: ((bytes: number) => Uint8Array) | undefined = undefined;

  /**
   * `current->sched_info.run_delay` of the task issuing the vCPU ioctl, ns, or -1 (src/kernel/
   * sched.ts): the calling thread's by default; the preload shim's server (src/server) answers
   * for the program thread whose request it serves.
   */
  runDelay: () => number = threadRunDelay;

  /** The live VMs of this kernel (their memslots reference the address space). */
  readonly vms = new Set<Vm>();

  constructor(readonly arch: ArchBackend) {
    // munmap, as the kernel's MMU notifiers: no vCPU of a VM with a memslot over the range may use
    // it once munmap returned (attached vCPUs on other threads included: smp.ts).
    this.space.listener = {
      mapped: (m) => this.smp?.mapped(m),
      unmapped: (m) => {
        this.smp?.unmapped(m);
        for (const vm of this.vms) if (vm.maps(m.hva, m.length)) vm.flushRemoteTlbs();
      },
    };
    this.nr = Object.fromEntries(Object.values(abi[arch.arch].ioctls as Record<string, IoctlDef>).map((d) => [d.name, d.request])) as IoctlNumbers;
  }

  /** `ioctl number of` a declared ioctl (throws at setup time for a typo, never at run time). */
  req(name: IoctlName): number {
    const n = this.nr[name];
    if (n === undefined) throw new Error(`no ioctl ${name} in the ${this.arch.arch} ABI`);
    return n;
  }

  /** Installs a file at the lowest free fd (>= 3, as 0-2 are stdio). */
  install(file: KFile): number {
    const fd = this.fds.take();
    if (fd < 0) throw KvmError.of('EMFILE', 'open');
    this.files.set(fd, file);
    return fd;
  }

  /** Open files of the virtual process (leak checks). */
  get nfiles(): number {
    return this.files.size;
  }

  file(fd: number): KFile | undefined {
    return Number.isInteger(fd) ? this.files.get(fd) : undefined;
  }

  /** The lowest open fd whose file satisfies `pred`, or -1. */
  findFd(pred: (f: KFile) => boolean): number {
    let best = -1;
    for (const [fd, f] of this.files) if ((best < 0 || fd < best) && pred(f)) best = fd;
    return best;
  }

  open(path: string): number {
    if (path !== '/dev/kvm') throw KvmError.of('ENOENT', 'open', { path, message: 'no such file or directory (only /dev/kvm exists in the virtual backend)' });
    return this.install({ kind: 'system' });
  }

  close(fd: number): void {
    const f = this.file(fd);
    if (!f) throw KvmError.of('EBADF', 'close');
    this.files.delete(fd);
    this.fds.free(fd);
    if (f.kind === 'vm') f.vm.fileClosed();
    else if (f.kind === 'vcpu') f.vcpu.vm.fileClosed();
    else if (f.kind === 'guest_memfd') f.vm.gmemReleased(f.gmem); // kvm_gmem_release: zap, unbind, drop the kvm reference
    else if (f.kind === 'socket') f.socket.close(); // KVMI: drops the fd's reference
    else if (f.kind === 'eventfd') f.efd.ctx.release(); // eventfd_release: POLLHUP to irqfds
    else if (f.kind === 'device') {
      f.dev.ops.release?.(f.dev); // kvm_device_release
      f.vm.fileClosed();
    }
  }

  /** eventfd(2): a new eventfd file (EINVAL for unknown flags). */
  eventfd(initval: number, flags: number): number {
    return this.install({ kind: 'eventfd', efd: newEventFd(initval, flags) });
  }

  /**
   * read(2): eventfds only here (EBADF for a closed fd, EINVAL for files without read).
   * `nonblock` overrides the file's O_NONBLOCK (a worker's forwarded read: it sleeps on its side).
   */
  read(fd: number, buf: Uint8Array, nonblock?: boolean): number {
    const f = this.file(fd);
    if (!f) throw KvmError.of('EBADF', 'read', { fd });
    if (f.kind !== 'eventfd') throw KvmError.of('EINVAL', 'read', { fd });
    return eventFdRead(f.efd, buf, nonblock);
  }

  /** write(2): eventfds only here (EBADF for a closed fd, EINVAL for files without write). */
  write(fd: number, buf: Uint8Array): number {
    const f = this.file(fd);
    if (!f) throw KvmError.of('EBADF', 'write', { fd });
    if (f.kind !== 'eventfd') throw KvmError.of('EINVAL', 'write', { fd });
    return eventFdWrite(f.efd, buf);
  }

  /**
   * fallocate(2): vfs_fallocate's checks (fs/open.c), then the file's own fallocate. Only a
   * guest_memfd has one (kvm_gmem_fallocate, virt/kvm/guest_memfd.c:227): KEEP_SIZE, with
   * PUNCH_HOLE to drop pages; every other KVM file is no regular file (ENODEV). `offset` and
   * `len` are loff_t (signed 64-bit).
   */
  fallocate(fd: number, mode: number, offset: bigint, len: bigint): void {
    const f = this.file(fd);
    const fail = (code: 'EINVAL' | 'EOPNOTSUPP' | 'ENODEV' | 'EFBIG') => KvmError.of(code, 'fallocate', { fd });
    if (!f) throw KvmError.of('EBADF', 'fallocate', { fd });
    offset = BigInt.asIntN(64, offset);
    len = BigInt.asIntN(64, len);
    mode >>>= 0;
    const FL = FALLOC_FL;
    // vfs_fallocate, in its order
    if (offset < 0n || len <= 0n) throw fail('EINVAL');
    if (mode & ~(FL.KEEP_SIZE | FL.PUNCH_HOLE | FL.COLLAPSE_RANGE | FL.ZERO_RANGE | FL.INSERT_RANGE | FL.UNSHARE_RANGE)) throw fail('EOPNOTSUPP');
    if ((mode & (FL.PUNCH_HOLE | FL.ZERO_RANGE)) === (FL.PUNCH_HOLE | FL.ZERO_RANGE)) throw fail('EOPNOTSUPP');
    if (mode & FL.PUNCH_HOLE && !(mode & FL.KEEP_SIZE)) throw fail('EOPNOTSUPP');
    if (mode & FL.COLLAPSE_RANGE && mode & ~FL.COLLAPSE_RANGE) throw fail('EINVAL');
    if (mode & FL.INSERT_RANGE && mode & ~FL.INSERT_RANGE) throw fail('EINVAL');
    if (mode & FL.UNSHARE_RANGE && mode & ~(FL.UNSHARE_RANGE | FL.KEEP_SIZE)) throw fail('EINVAL');
    // (every KVM file is open read-write: no EBADF for FMODE_WRITE)
    // /dev/kvm is a character device, the others anonymous inodes; guest_memfd's is S_IFREG.
    if (f.kind !== 'guest_memfd') throw fail('ENODEV');
    const sum = offset + len;
    if (sum > 0x7fff_ffff_ffff_ffffn) throw fail('EFBIG'); // check_add_overflow; s_maxbytes is MAX_LFS_FILESIZE
    // kvm_gmem_fallocate
    if (!(mode & FL.KEEP_SIZE)) throw fail('EOPNOTSUPP');
    if (mode & ~(FL.KEEP_SIZE | FL.PUNCH_HOLE)) throw fail('EOPNOTSUPP');
    const PAGE = BigInt(PAGE_SIZE);
    if (offset % PAGE !== 0n || len % PAGE !== 0n) throw fail('EINVAL');
    const g = f.gmem;
    if (mode & FL.PUNCH_HOLE) {
      // kvm_gmem_punch_hole: mappings of the range are zapped first (kvm_gmem_invalidate_begin),
      // so the next access faults in a fresh (zero) page.
      if (offset < BigInt(g.size)) {
        g.punchHole(Number(offset), Number(sum < BigInt(g.size) ? sum : BigInt(g.size)));
        f.vm.flushRemoteTlbs();
      }
      return;
    }
    // kvm_gmem_allocate: "dedicated guest is immutable by default", no growing. The pages here
    // are committed on first touch, so allocating has nothing more to do.
    if (sum > BigInt(g.size)) throw fail('EINVAL');
  }

  /** eventfd_ctx_fdget: the eventfd behind `fd` (EBADF when not open, EINVAL when not an eventfd). */
  eventfdCtx(fd: number): EventFdCtx {
    const f = this.file(fd);
    if (!f) throw KvmError.of(Number.isInteger(fd) && fd >= 0 && fd < STDIO_FDS ? 'EINVAL' : 'EBADF', 'ioctl', { message: `fd ${fd} is not an eventfd` });
    if (f.kind !== 'eventfd') throw KvmError.of('EINVAL', 'ioctl', { message: `fd ${fd} is not an eventfd` });
    return f.efd.ctx;
  }

  /**
   * mmap(2) of `fd`: the bytes of the new mapping (`length` of them, or fewer: a vCPU fd's
   * pages past the ones the kernel backs are not in the view).
   */
  mmap(fd: number, length: number, offset: number): Uint8Array {
    return this.mmapRegion(fd, length, offset).bytes.subarray(0, length);
  }

  /** mmap(2) of `fd`: the new mapping itself (its hva, its page-rounded bytes, Mapping.reserved). */
  mmapRegion(fd: number, length: number, offset: number): Mapping {
    const f = this.file(fd);
    if (!f) throw KvmError.of('EBADF', 'mmap');
    if (!Number.isSafeInteger(length) || length <= 0 || !Number.isSafeInteger(offset) || offset < 0 || offset % PAGE_SIZE !== 0) {
      throw KvmError.of('EINVAL', 'mmap');
    }
    if (f.kind === 'vcpu') return f.vcpu.mmap(length, offset);
    // /dev/kvm, VM, eventfd and device fds have no mmap; guest_memfd without GUEST_MEMFD_FLAG_MMAP neither.
    throw KvmError.of('ENODEV', 'mmap');
  }

  ioctl(fd: number, request: number, raw: IoctlArg | undefined): number {
    const f = this.file(fd);
    if (!f) throw KvmError.of('EBADF', 'ioctl', { request, fd });
    const arg = new UserArg(raw, this.space, request, fd);
    try {
      switch (f.kind) {
        case 'system':
          return this.devIoctl(request, arg);
        case 'vm':
          return f.vm.ioctl(request, arg);
        case 'vcpu':
          return f.vcpu.ioctl(request, arg);
        case 'device':
          return f.dev.ioctl(request, arg);
        case 'guest_memfd':
        case 'socket': // KVMI socket
        case 'eventfd':
          throw KvmError.of('ENOTTY', 'ioctl', { request, fd });
      }
    } catch (e) {
      // Errors raised deep in a handler name the ioctl and fd like the others.
      throw e instanceof KvmError ? KvmError.forIoctl(e, request, fd) : e;
    }
  }

  /** kvm_dev_ioctl */
  private devIoctl(request: number, arg: UserArg): number {
    const nr = this.nr;
    switch (request) {
      case nr.KVM_GET_API_VERSION:
        if (arg.int !== 0n) break;
        return KVM_API_VERSION;
      case nr.KVM_CREATE_VM:
        return this.createVm(arg.int);
      case nr.KVM_CHECK_EXTENSION:
        return this.checkExtension(arg.int, null);
      case nr.KVM_GET_VCPU_MMAP_SIZE:
        if (arg.int !== 0n) break;
        return this.arch.vcpuMmapPages * PAGE_SIZE;
      default: {
        const r = this.arch.devIoctl?.(this, request, arg) ?? NOT_HANDLED;
        if (r !== NOT_HANDLED) return r;
      }
    }
    throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
  }

  /** KVM_CHECK_EXTENSION on the system fd (`vm` null) or a VM fd. */
  checkExtension(cap: bigint, vm: Vm | null): number {
    if (cap < 0n || cap > 0x7fffffffn) return 0;
    const c = Number(cap);
    const g = genericCheckExtension(this, c, vm);
    return g ?? this.arch.checkExtension(c, vm);
  }

  private createVm(type: bigint): number {
    if (type > 0xffff_ffffn) throw KvmError.of('EINVAL', 'ioctl', { request: this.nr.KVM_CREATE_VM });
    const vm = new Vm(this, Number(type));
    return this.install({ kind: 'vm', vm });
  }

  /** True for requests of the KVM ioctl type (vCPU fds refuse the rest with EINVAL). */
  static isKvmType(request: number): boolean {
    return iocType(request) === KVMIO;
  }
}
