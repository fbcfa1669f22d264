/**
 * The vkvm server behind the LD_PRELOAD shim: one virtual kernel serving the KVM calls of a
 * program (and its forks and threads) over a Unix socket.
 *
 * - ioctls arrive as (kernel fd, request, arg pointer) plus the _IOC_SIZE bytes at arg, and run
 *   in the kernel with the pointer as the argument: every copy_from_user resolves in the
 *   kernel's address space, where this server maps (a) the memory the shim shared (memfds, at the
 *   program's own addresses) and (b) on a miss, a copy of the program's pages fetched over the
 *   socket (VKVM_OP_CB_READ). Copies live for one request; what the kernel changed in them goes
 *   back in the reply (copy_to_user). So no ioctl needs its own marshalling.
 * - Per-ioctl knowledge is only what Linux itself gives meaning to: memslots (their memory is
 *   shared in place before the kernel sees them) and fd numbers inside structs (translated
 *   through the fd table the shim shares).
 * - vCPU mmap areas are memfds (Kernel.runArea): the vCPU fd the program holds is that memfd,
 *   so kvm_run is one shared mapping.
 * - KVM_RUN runs in time slices: a slice that ends without an exit tells the shim to call again,
 *   so the program sees Linux's behaviour (KVM_RUN returns on an exit or a signal) while other
 *   threads' calls are served between slices.
 * @module
 */
import { rmSync } from 'node:fs';
import type { Kernel, KFile } from '../kernel/kernel.js';
import { PAGE_SIZE, TASK_SIZE_MAX, type Mapping } from '../kernel/hva.js';
import { ERRNO } from '../sys/errno.js';
import { KvmError } from '../sys/error.js';
import { kernelOf, virtualSys } from '../sys/virtual.js';
import { readRunDelay } from '../kernel/sched.js';
import type { Sys } from '../sys/sys.js';
import { ioctlByRequest, type Arch, type IoctlDef } from '../uapi/index.js';
import { serverNative, type ServerNative } from './native.js';
import { SharedMemory } from './memory.js';
import { moduleParam } from './params.js';
import { EventfdBridges, type EventfdBridge } from './eventfd.js';
import { KVM_IRQFD_FLAG, KVM_MEM } from '../uapi/constants.js';
import { ARCH_ID, FDTAB_ENTRIES, HDR, HELLO, NEWFD, OP, PROTO_VERSION, REC, RECF, REPLY, SHARE } from './proto.js';
import { concat } from '../kernel/bytes.js';

export interface ShimServerOptions {
  /** The virtual host's architecture (the program's). */
  readonly arch: Arch;
  /** Block JIT (default true). */
  readonly jit?: boolean;
  /** Instructions per KVM_RUN time slice (default 2 million). */
  readonly slice?: number;
  /** The Linux release whose KVM API the kernel presents (virtualSys `linux`; default the newest). */
  readonly linux?: string;
  /** Receives one line per forwarded call (debugging). */
  readonly trace?: (line: string) => void;
}

/** POLLIN | POLLHUP | POLLERR */
const READABLE = 0x001 | 0x010 | 0x008;
/** Largest range one copy_from_user callback fetches. */
const MAX_FETCH = 64 << 20;

interface Proc {
  readonly pid: number;
  /** fdtab[process fd] = kernel fd + 1 (shared with the shim). */
  readonly table: Int32Array;
  readonly tableMap: { addr: bigint; len: number };
  readonly anchor: Conn;
}

interface Conn {
  readonly fd: number;
  proc: Proc | undefined;
  /** The program thread this connection serves (its tid, 0 when unknown). */
  tid: number;
  /** Its last reply told it to call KVM_RUN again (a vCPU thread between time slices). */
  spinning: boolean;
  /** When it was last served (`ShimServer.served` then): spinning callers go oldest first. */
  servedAt: number;
}

/** A copy of the program's memory mapped into the kernel's space for the current request. */
interface Temp {
  readonly hva: number;
  readonly bytes: Uint8Array;
  readonly snapshot: Uint8Array;
  mapping: Mapping | undefined;
}

/** fd members of ioctl structs: `in` ones are translated from process to kernel numbers, `out` ones back. */
/** fd members that name an eventfd (the program's own, bridged). */
const EVENTFD_FIELDS: ReadonlySet<string> = new Set(['fd', 'resamplefd']);

const FD_FIELDS: Readonly<Record<string, { readonly in?: readonly string[]; readonly out?: readonly string[] }>> = {
  KVM_IRQFD: { in: ['fd', 'resamplefd'] },
  KVM_IOEVENTFD: { in: ['fd'] },
  KVM_SET_USER_MEMORY_REGION2: { in: ['guest_memfd'] },
  KVM_CREATE_DEVICE: { out: ['fd'] },
};

export class ShimServer {
  readonly sys: Sys;
  readonly kernel: Kernel;
  readonly arch: Arch;
  private readonly nat: ServerNative;
  private listenFd = -1;
  private socketPath = '';
  private readonly conns = new Map<number, Conn>();
  private readonly procs = new Map<number, Proc>();
  /** Kernel fd -> processes holding it. */
  private readonly krefs = new Map<number, number>();
  /** Kernel files handed to a process already. */
  private readonly known = new Set<KFile>();
  /** vCPU mmap area (its buffer) -> the memfd behind it, until the shim has it. */
  private readonly runAreaFd = new Map<ArrayBufferLike, number>();
  private readonly mem: SharedMemory;
  /** The program's eventfds named in irqfds/ioeventfds. */
  private readonly eventfds: EventfdBridges;
  private temps: Temp[] = [];
  /** The process that created each VM (kvm->mm). */
  private readonly vmOwner = new WeakMap<object, number>();
  /** The connection whose request is being served (callbacks go there). */
  private cur: Conn | undefined;
  private readonly trace: ((line: string) => void) | undefined;

  private readonly hdr = new Uint8Array(HDR.size);
  private readonly hdv = new DataView(this.hdr.buffer);
  private readonly out = new Uint8Array(HDR.size);
  private readonly odv = new DataView(this.out.buffer);
  private rx = new Uint8Array(1 << 16);
  private readonly fdsIn = new Int32Array(8);
  private pollFds = new Int32Array(64);
  private pollRev = new Int32Array(64);
  /** Requests served so far (the clock of `Conn.servedAt`). */
  private served = 0;
  /** The fds `othersWaiting` polls, and their revents. */
  private waitFds = new Int32Array(64);
  private waitRev = new Int32Array(64);
  private stopFd = -1;
  /** The readable callers of one pass of `serve`. */
  private readonly ready: Conn[] = [];

  constructor(opts: ShimServerOptions) {
    this.arch = opts.arch;
    this.nat = serverNative();
    this.sys = virtualSys({ arch: opts.arch, jit: opts.jit ?? true, runBudget: opts.slice ?? 2_000_000, ...(opts.linux !== undefined ? { linux: opts.linux } : {}) });
    this.kernel = kernelOf(this.sys)!;
    this.trace = opts.trace;
    this.kernel.runArea = (bytes) => this.newRunArea(bytes);
    // The vCPU's task is the program thread whose KVM_RUN is being served (arm64 PV stolen time).
    this.kernel.runDelay = () => (this.cur?.tid ? readRunDelay(`/proc/${this.cur.tid}/schedstat`) : -1);
    this.kernel.space.onMiss = (hva, len) => this.fetch(hva, len);
    this.mem = new SharedMemory(this.nat, this.kernel.space, (l) => this.log(l));
    this.eventfds = new EventfdBridges(this.kernel, this.nat);
    // A vCPU's time slice ends early when another caller waits (see serve).
    this.kernel.deadline.preempt = () => this.othersWaiting();
  }

  /** Starts listening on `path` (a Unix socket path that does not exist yet). */
  listen(path: string): void {
    const fd = this.nat.listen(path);
    if (fd < 0) throw new KvmError(-fd, 'bind', { message: `cannot listen on ${path}` });
    this.listenFd = fd;
    this.socketPath = path;
  }

  /**
   * Serves until `stopFd` becomes readable (a pidfd: the program ended) or `until()` says to
   * stop; `until` runs after every wake-up and at least every `pollMs` (-1: only on wake-ups).
   */
  serve(stopFd: number, until: () => boolean, pollMs = -1): void {
    this.stopFd = stopFd;
    for (;;) {
      const watched = this.eventfds.watched();
      const nc = this.conns.size + 2;
      const n = nc + watched.length;
      if (this.pollFds.length < n) {
        this.pollFds = new Int32Array(n * 2);
        this.pollRev = new Int32Array(n * 2);
      }
      this.pollFds[0] = this.listenFd;
      this.pollFds[1] = stopFd;
      let i = 2;
      for (const fd of this.conns.keys()) this.pollFds[i++] = fd;
      for (const b of watched) this.pollFds[i++] = b.fd;
      const r = this.nat.poll(this.pollFds, n, pollMs, this.pollRev);
      if (r < 0) throw new KvmError(-r, 'poll');
      if (stopFd >= 0 && this.pollRev[1]! & READABLE) return;
      if (until()) return;
      if (this.pollRev[0]! & READABLE) {
        const c = this.nat.accept(this.listenFd);
        if (c >= 0) this.conns.set(c, { fd: c, proc: undefined, tid: 0, spinning: false, servedAt: 0 });
      }
      // The program wrote its eventfds: irqfds inject before its next call is served.
      for (let j = nc; j < n; j++) if (this.pollRev[j]! & READABLE) this.eventfds.pull(watched[j - nc] as EventfdBridge);
      // The order of the kernel's scheduler, for callers that all share this one thread: a call
      // that is not a KVM_RUN time slice (a thread that was waiting, as a woken task runs ahead
      // of spinning ones) goes first, then the vCPUs between slices, the one that waited longest
      // first. A slice another caller preempted (deadline.preempt) ends the pass.
      const ready = this.ready;
      ready.length = 0;
      for (let j = 2; j < nc; j++) {
        if (!(this.pollRev[j]! & READABLE)) continue;
        const c = this.conns.get(this.pollFds[j]!);
        if (c) ready.push(c);
      }
      ready.sort(schedOrder);
      for (const c of ready) {
        if (!this.conns.has(c.fd)) continue; // dropped meanwhile
        c.servedAt = ++this.served;
        const d = this.kernel.deadline;
        d.preempted = false;
        try {
          this.handle(c);
        } catch (e) {
          // A bug of the server, not of the program: that connection ends (the shim exits with a
          // message), the server and the program's other threads go on.
          process.stderr.write(`vkvm server: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
          try {
            this.writeBack([]); // unmaps this request's copies
          } catch {
            this.temps = [];
          }
          this.drop(c);
        }
        if (d.preempted) break;
      }
    }
  }

  /**
   * Whether a caller other than the one being served waits: a new connection, the program's end,
   * an eventfd the program wrote, or a request from a thread that is not between KVM_RUN slices.
   * Asked by the kernel while a KVM_RUN runs (RunDeadline.preempt), at most once a millisecond.
   */
  private othersWaiting(): boolean {
    const watched = this.eventfds.watched();
    const max = this.conns.size + 2 + watched.length;
    if (this.waitFds.length < max) {
      this.waitFds = new Int32Array(max * 2);
      this.waitRev = new Int32Array(max * 2);
    }
    const fds = this.waitFds;
    let n = 0;
    if (this.listenFd >= 0) fds[n++] = this.listenFd;
    if (this.stopFd >= 0) fds[n++] = this.stopFd;
    for (const c of this.conns.values()) if (!c.spinning && c !== this.cur) fds[n++] = c.fd;
    for (const b of watched) fds[n++] = b.fd;
    return this.nat.poll(fds, n, 0, this.waitRev) > 0;
  }

  /** Closes every connection and the socket. */
  close(): void {
    for (const c of [...this.conns.values()]) this.drop(c);
    this.eventfds.close();
    this.mem.close();
    if (this.listenFd >= 0) this.nat.close(this.listenFd);
    this.listenFd = -1;
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }

  // ---- messages ----

  private handle(c: Conn): void {
    const nfds = this.nat.recvHdr(c.fd, this.hdr, this.fdsIn);
    if (nfds < 0) {
      this.drop(c);
      return;
    }
    const h = this.hdv;
    const op = h.getUint32(HDR.op, true);
    const len = h.getUint32(HDR.len, true);
    const a0 = h.getBigUint64(HDR.a0, true);
    const a1 = h.getBigUint64(HDR.a0 + 8, true);
    const a2 = h.getBigUint64(HDR.a0 + 16, true);
    const a3 = h.getBigUint64(HDR.a0 + 24, true);
    const fds = Array.from(this.fdsIn.subarray(0, nfds));
    c.spinning = false;
    const payload = this.recvPayload(c, len);
    if (!payload) return;
    this.cur = c;
    try {
      switch (op) {
        case OP.HELLO:
          return this.hello(c, Number(a0), Number(a1), Number(a2), Number(a3), payload, fds);
        case OP.OPEN:
          return this.open(c, payload, Number(a0));
        case OP.IOCTL:
          return this.ioctl(c, Number(a0), Number(a1 & 0xffff_ffffn), a2, payload);
        case OP.CLOSE:
          this.closeKernelFd(Number(a0));
          return this.reply(c, 0, 0, [], -1);
        case OP.UNMAP:
          this.mem.unmap(Number(a0), Number(a0 + a1));
          return this.reply(c, 0, 0, [], -1);
        case OP.FALLOCATE:
          return this.fallocate(c, Number(a0), Number(a1 & 0xffff_ffffn), a2, a3);
        default:
          this.drop(c); // a protocol error: this connection cannot be trusted further
      }
    } finally {
      this.cur = undefined;
      for (const fd of fds) if (op !== OP.HELLO) this.nat.close(fd);
    }
  }

  private recvPayload(c: Conn, len: number): Uint8Array | undefined {
    if (len > this.rx.length) this.rx = new Uint8Array(Math.max(len, this.rx.length * 2));
    if (len && this.nat.recv(c.fd, this.rx, len) < 0) {
      this.drop(c);
      return undefined;
    }
    return this.rx.subarray(0, len);
  }

  private send(c: Conn, op: number, ret: number, a: readonly (number | bigint)[], payload: Uint8Array | null, fd: number): boolean {
    const o = this.odv;
    o.setUint32(HDR.op, op, true);
    o.setUint32(HDR.len, payload ? payload.length : 0, true);
    o.setBigInt64(HDR.ret, BigInt(ret), true);
    for (let i = 0; i < 4; i++) o.setBigUint64(HDR.a0 + 8 * i, BigInt.asUintN(64, BigInt(a[i] ?? 0)), true);
    return this.nat.send(c.fd, this.out, payload, payload ? payload.length : 0, fd) >= 0;
  }

  private reply(c: Conn, ret: number, flags: number, records: Uint8Array[], fd: number): void {
    const payload = records.length ? concat(records) : null;
    if (!this.send(c, OP.REPLY, ret, [flags], payload, fd)) this.drop(c);
  }

  private hello(c: Conn, pid: number, version: number, arch: number, flags: number, payload: Uint8Array, fds: number[]): void {
    const refuse = (errno: number) => {
      for (const fd of fds) this.nat.close(fd);
      this.reply(c, -errno, 0, [], -1);
    };
    if (version !== PROTO_VERSION) return refuse(ERRNO.EINVAL);
    if (arch !== ARCH_ID[this.arch]) return refuse(ERRNO.ENOEXEC);
    if (flags & HELLO.ANCHOR) {
      const tfd = fds[0];
      if (tfd === undefined) return refuse(ERRNO.EINVAL);
      const m = this.nat.mmap(tfd, FDTAB_ENTRIES * 4, 0);
      this.nat.close(tfd);
      if (typeof m === 'number') return refuse(-m);
      const proc: Proc = { pid, table: new Int32Array(m.bytes.buffer, m.bytes.byteOffset, FDTAB_ENTRIES), tableMap: { addr: m.addr, len: FDTAB_ENTRIES * 4 }, anchor: c };
      this.procs.get(pid)?.anchor && this.releaseProc(this.procs.get(pid)!); // a recycled pid
      this.procs.set(pid, proc);
      c.proc = proc;
      // A forked child holds its parent's files too (its table is a copy).
      if (flags & HELLO.FORKED) for (const k of distinctKernelFds(proc.table)) this.krefs.set(k, (this.krefs.get(k) ?? 0) + 1);
      this.log(`hello pid ${pid}${flags & HELLO.FORKED ? ` (fork of ${new DataView(payload.buffer, payload.byteOffset).getBigUint64(0, true)})` : ''}`);
    } else {
      const proc = this.procs.get(pid);
      if (!proc) return refuse(ERRNO.ESRCH);
      c.proc = proc;
      if (payload.length >= 8) c.tid = Number(new DataView(payload.buffer, payload.byteOffset).getBigUint64(0, true));
    }
    this.reply(c, 0, 0, [], -1);
  }

  private open(c: Conn, payload: Uint8Array, flags: number): void {
    const nul = payload.indexOf(0);
    const path = Buffer.from(payload.subarray(0, nul < 0 ? payload.length : nul)).toString();
    if (path === '/dev/kvm') {
      let fd: number;
      try {
        fd = this.kernel.open(path);
      } catch (e) {
        return this.reply(c, -errnoOf(e), 0, [], -1);
      }
      this.log(`open ${path} 0x${flags.toString(16)} = ${fd}`);
      const recs: Uint8Array[] = [];
      const sendFd = this.newFiles(fd, 0, recs);
      return this.reply(c, fd, 0, recs, sendFd);
    }
    const v = moduleParam(this.arch, path);
    this.log(`open ${path} = ${v === undefined ? 'ENOENT' : JSON.stringify(v)}`);
    if (v === undefined) return this.reply(c, -ERRNO.ENOENT, 0, [], -1);
    const bytes = Buffer.from(v);
    if (!this.send(c, OP.REPLY, bytes.length, [REPLY.CONTENTS], bytes, -1)) this.drop(c);
  }

  private ioctl(c: Conn, kfd: number, request: number, arg: bigint, pre: Uint8Array): void {
    const def = ioctlByRequest(this.arch, request);
    const name = def?.name;
    const argNum = arg > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(arg);
    if (pre.length && argNum > 0) this.mapTemp(argNum, pre.slice());
    const restore: { at: number; bytes: Uint8Array }[] = [];
    if (name && argNum > 0) {
      if (name === 'KVM_SET_USER_MEMORY_REGION' || name === 'KVM_SET_USER_MEMORY_REGION2') this.shareRegion(def!, argNum);
      const fields = FD_FIELDS[name];
      if (fields?.in && c.proc) this.translateFdsIn(def!, argNum, fields.in, c.proc, restore);
    }
    let ret: number;
    const vm = vmOf(this.kernel.file(kfd));
    if (vm && c.proc && this.vmOwner.get(vm) !== c.proc.pid) {
      // kvm_vm_ioctl/kvm_vcpu_ioctl/kvm_device_ioctl: only the VM's own mm may use it (a forked child gets EIO).
      ret = -ERRNO.EIO;
    } else {
      try {
        ret = this.kernel.ioctl(kfd, request, arg);
      } catch (e) {
        ret = -errnoOf(e);
      }
    }
    for (const r of restore) this.kernel.space.user(r.at, r.bytes.length).set(r.bytes);
    const recs: Uint8Array[] = [];
    const outAt = ret >= 0 && name && FD_FIELDS[name]?.out && argNum > 0 ? argNum + abiStruct(def!).offsetOf(FD_FIELDS[name]!.out![0]!) : 0;
    const newFdRecs: Uint8Array[] = [];
    const sendFd = this.newFiles(ret, outAt, newFdRecs);
    this.writeBack(recs);
    recs.push(...newFdRecs); // after the writes: an out fd member then holds the process's number
    let flags = 0;
    if (ret === -ERRNO.EINTR && name === 'KVM_RUN') {
      const f = this.kernel.file(kfd);
      // EINTR without immediate_exit: the slice ended (or the vCPU would block); Linux would
      // keep the thread in KVM_RUN, so the shim calls again.
      if (f?.kind === 'vcpu' && !f.vcpu.immediateExit) flags |= REPLY.RETRY;
    }
    if (this.trace && !(flags & REPLY.RETRY)) this.log(`ioctl ${kfd} ${name ?? '0x' + request.toString(16)} 0x${arg.toString(16)} = ${ret < 0 ? errnoName(-ret) : ret}`);
    c.spinning = (flags & REPLY.RETRY) !== 0;
    this.reply(c, ret, flags, recs, sendFd);
    if (sendFd >= 0) this.nat.close(sendFd); // the shim has its own reference now
  }

  /** fallocate(2) of a KVM file (a guest_memfd: kvm_gmem_fallocate). */
  private fallocate(c: Conn, kfd: number, mode: number, offset: bigint, len: bigint): void {
    let ret = 0;
    try {
      this.kernel.fallocate(kfd, mode | 0, offset, len);
    } catch (e) {
      ret = -errnoOf(e);
    }
    this.log(`fallocate ${kfd} mode 0x${(mode >>> 0).toString(16)} 0x${BigInt.asUintN(64, offset).toString(16)}+0x${BigInt.asUintN(64, len).toString(16)} = ${ret < 0 ? errnoName(-ret) : ret}`);
    this.reply(c, ret, 0, [], -1);
  }

  /**
   * Records a kernel file the last call created (its result `ret`, or the fd it stored in an out
   * member at `outAt`) for the shim to give a process fd; returns a vCPU area memfd to attach, or -1.
   */
  private newFiles(ret: number, outAt: number, recs: Uint8Array[]): number {
    let sendFd = -1;
    const candidates: [number, bigint][] = [[ret, 0n]];
    if (outAt > 0) {
      try {
        const b = this.kernel.space.user(outAt, 4);
        candidates.push([new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true), BigInt(outAt)]);
      } catch {
        /* the kernel could not write it either */
      }
    }
    for (const [fd, addr] of candidates) {
      const f = fd >= 0 ? this.kernel.file(fd) : undefined;
      if (!f || this.known.has(f)) continue;
      this.known.add(f);
      if (f.kind === 'vm' && this.cur?.proc) this.vmOwner.set(f.vm, this.cur.proc.pid);
      this.krefs.set(fd, 1);
      let flags = 0;
      if (f.kind === 'vcpu') {
        const m = this.runAreaFd.get(f.vcpu.area.buffer);
        if (m !== undefined && sendFd < 0) {
          this.runAreaFd.delete(f.vcpu.area.buffer);
          sendFd = m;
          flags |= NEWFD.RUN_AREA;
        }
      } else if (f.kind === 'guest_memfd' && sendFd < 0) {
        // fstat of the program's fd: a sparse memfd of the guest_memfd's size stands in for it.
        const m = this.nat.memfd('vkvm-guest-memfd', f.gmem.size);
        if (m >= 0) {
          sendFd = m;
          flags |= NEWFD.GMEM;
        }
      }
      recs.push(record(REC.NEWFD, addr, fd, flags, null));
    }
    return sendFd;
  }

  private closeKernelFd(kfd: number): void {
    const n = (this.krefs.get(kfd) ?? 0) - 1;
    if (n > 0) {
      this.krefs.set(kfd, n);
      return;
    }
    this.krefs.delete(kfd);
    const f = this.kernel.file(kfd);
    if (!f) return;
    this.known.delete(f);
    try {
      this.kernel.close(kfd);
    } catch {
      /* already gone */
    }
    this.log(`close ${kfd}`);
  }

  private drop(c: Conn): void {
    this.conns.delete(c.fd);
    this.nat.close(c.fd);
    if (c.proc && c.proc.anchor === c) this.releaseProc(c.proc);
  }

  /** The process is gone: its files close as at exit. */
  private releaseProc(p: Proc): void {
    if (this.procs.get(p.pid) === p) this.procs.delete(p.pid);
    for (const k of distinctKernelFds(p.table)) this.closeKernelFd(k);
    this.nat.munmap(p.tableMap.addr, p.tableMap.len);
    this.log(`exit pid ${p.pid}`);
  }

  private log(line: string): void {
    this.trace?.(line);
  }

  // ---- vCPU mmap areas ----

  private newRunArea(bytes: number): Uint8Array {
    const fd = this.nat.memfd('vkvm-kvm-run', bytes);
    if (fd < 0) throw new KvmError(-fd, 'ioctl', { message: 'memfd for the vCPU mmap area' });
    const m = this.nat.mmap(fd, bytes, 0);
    if (typeof m === 'number') {
      this.nat.close(fd);
      throw new KvmError(-m, 'ioctl', { message: 'mmap of the vCPU mmap area' });
    }
    this.runAreaFd.set(m.bytes.buffer, fd);
    return m.bytes;
  }

  // ---- the program's memory ----

  /** Maps a copy of the program's bytes at `hva` for this request. */
  private mapTemp(hva: number, bytes: Uint8Array): void {
    const mapping = this.kernel.space.mapAt(hva, bytes);
    this.temps.push({ hva, bytes, snapshot: bytes.slice(), mapping });
  }

  /** copy_from_user of [hva, hva+len) missed: fetch the program's pages there (whole pages). */
  private fetch(hva: number, len: number): void {
    const c = this.cur;
    if (!c || len > MAX_FETCH || hva + len > TASK_SIZE_MAX) return;
    let lo = Math.floor(hva / PAGE_SIZE) * PAGE_SIZE;
    let hi = Math.ceil((hva + len) / PAGE_SIZE) * PAGE_SIZE;
    // Memory the program shared: map it instead of copying.
    if (this.mem.mapKnown(lo, hi)) return;
    // This request's copies that overlap (or touch) the range merge into one mapping.
    const live: Temp[] = [];
    for (let grown = true; grown; ) {
      grown = false;
      for (const t of this.temps) {
        if (!t.mapping || live.includes(t) || !(t.hva <= hi && lo <= t.hva + t.bytes.length)) continue;
        live.push(t);
        lo = Math.min(lo, t.hva);
        hi = Math.max(hi, t.hva + t.bytes.length);
        grown = true;
      }
    }
    // Never over a shared mapping: those are the program's memory already.
    for (const m of this.kernel.space.all()) {
      if (m.hva < hi && lo < m.hva + m.length && !live.some((t) => t.mapping === m)) return;
    }
    const data = this.readProcess(c, lo, hi - lo);
    if (!data) return;
    for (const t of live) {
      data.set(t.bytes, t.hva - lo); // what the kernel wrote there this request wins
      this.kernel.space.unmapHva(t.hva);
      t.mapping = undefined;
    }
    this.mapTemp(lo, data);
  }

  /** copy_from_user over the socket. */
  private readProcess(c: Conn, addr: number, len: number): Uint8Array | undefined {
    if (!this.send(c, OP.CB_READ, 0, [addr, len], null, -1)) return undefined;
    const d = this.awaitData(c);
    if (!d || d.ret < 0 || d.payload.length !== len) return undefined;
    return d.payload.slice();
  }

  /** Waits for the shim's DATA answer to a callback. */
  private awaitData(c: Conn): { ret: number; a: bigint[]; payload: Uint8Array; fds: number[] } | undefined {
    const nfds = this.nat.recvHdr(c.fd, this.hdr, this.fdsIn);
    if (nfds < 0) return undefined;
    const h = this.hdv;
    const fds = Array.from(this.fdsIn.subarray(0, nfds));
    if (h.getUint32(HDR.op, true) !== OP.DATA) {
      for (const fd of fds) this.nat.close(fd);
      return undefined;
    }
    const ret = Number(h.getBigInt64(HDR.ret, true));
    const a = [0, 1, 2, 3].map((i) => h.getBigUint64(HDR.a0 + 8 * i, true));
    const payload = this.recvPayload(c, h.getUint32(HDR.len, true));
    if (!payload) return undefined;
    return { ret, a, payload, fds };
  }

  /** copy_to_user: the bytes the kernel changed in this request's copies, as WRITE records; drops the copies. */
  private writeBack(recs: Uint8Array[]): void {
    for (const t of this.temps) {
      const b = t.bytes;
      const s = t.snapshot;
      let i = 0;
      while (i < b.length) {
        if (b[i] === s[i]) {
          i++;
          continue;
        }
        let j = i + 1;
        // Runs closer than 16 bytes are sent as one.
        for (let gap = 0; j < b.length && gap < 16; j++) gap = b[j] === s[j] ? gap + 1 : 0;
        while (j > i && b[j - 1] === s[j - 1]) j--;
        recs.push(record(REC.WRITE, BigInt(t.hva + i), 0, 0, b.subarray(i, j)));
        i = j;
      }
      if (t.mapping) this.kernel.space.unmapHva(t.hva);
    }
    this.temps = [];
  }

  /** A memslot names [userspace_addr, +memory_size): its memory must be the program's, shared. */
  private shareRegion(def: IoctlDef, arg: number): void {
    const st = abiStruct(def);
    let bytes: Uint8Array;
    try {
      bytes = this.kernel.space.user(arg, st.size);
    } catch {
      return; // the kernel will answer EFAULT itself
    }
    const r = st.decode(bytes) as { memory_size: bigint; userspace_addr: bigint };
    const size = r.memory_size;
    const uaddr = r.userspace_addr;
    if (size === 0n || size % BigInt(PAGE_SIZE) !== 0n || uaddr % BigInt(PAGE_SIZE) !== 0n || uaddr + size > BigInt(TASK_SIZE_MAX)) return;
    const lo = Number(uaddr);
    const hi = lo + Number(size);
    // What the program shared stays exact: the shim reports every munmap and MAP_FIXED over it.
    if (this.mem.covers(lo, hi) || this.mem.mapKnown(lo, hi)) return;
    this.requestShare(lo, hi);
  }

  /** Asks the shim to make [lo, hi) shared memory, and maps it. */
  private requestShare(lo: number, hi: number): void {
    const c = this.cur!;
    if (!this.send(c, OP.CB_SHARE, 0, [lo, hi - lo], null, -1)) return;
    const d = this.awaitData(c);
    if (!d) return;
    const fd = d.fds[0];
    if (d.ret < 0 || fd === undefined || d.payload.length < 16) {
      for (const f of d.fds) this.nat.close(f);
      this.log(`share 0x${lo.toString(16)}+0x${(hi - lo).toString(16)}: ${errnoName(-d.ret)} (the kernel reaches it through copies)`);
      return;
    }
    for (const f of d.fds.slice(1)) this.nat.close(f);
    const [base, start, len] = d.a.map(Number) as [number, number, number];
    const pv = new DataView(d.payload.buffer, d.payload.byteOffset, 16);
    const file = this.mem.file(fd, pv.getBigUint64(0, true), pv.getBigUint64(8, true), (Number(d.a[3]) & SHARE.AS_FILE) !== 0);
    this.mem.know(file, base, start, start + len);
    this.mem.map(file, base, lo, hi);
    this.log(`share 0x${lo.toString(16)}+0x${(hi - lo).toString(16)} (region 0x${start.toString(16)}+0x${len.toString(16)} of inode ${file.ino}, offset 0 at 0x${base.toString(16)})`);
  }

  /** Process fd numbers in the struct's fd members become kernel fd numbers for the call. */
  private translateFdsIn(def: IoctlDef, arg: number, fields: readonly string[], proc: Proc, restore: { at: number; bytes: Uint8Array }[]): void {
    const st = abiStruct(def);
    for (const f of fields) {
      const at = arg + st.offsetOf(f);
      let b: Uint8Array;
      try {
        b = this.kernel.space.user(at, 4);
      } catch {
        continue;
      }
      const dv = new DataView(b.buffer, b.byteOffset, 4);
      const pfd = dv.getInt32(0, true);
      if (pfd < 0) continue;
      let k = pfd < FDTAB_ENTRIES ? proc.table[pfd]! - 1 : -1;
      // A file of the program's own (its eventfd): bridged to a kernel eventfd, or fd 0 of the
      // kernel (no eventfd: EINVAL) for another kind of file.
      if (k < 0 && EVENTFD_FIELDS.has(f) && this.fieldUsed(def, arg, f)) k = this.programEventfd(pfd);
      // A file of the program's own as a guest_memfd: open, but none (kvm_gmem_bind: EINVAL, as
      // the kernel's fds 0-2 answer); a closed fd stays EBADF.
      else if (k < 0 && f === 'guest_memfd' && this.fieldUsed(def, arg, f)) k = this.programHasFd(pfd) ? 0 : -1;
      restore.push({ at, bytes: b.slice() });
      // Not a file of this process: no file the kernel knows (EBADF).
      dv.setInt32(0, k >= 0 ? k : 0x7fff_ffff, true);
    }
  }

  /**
   * The kernel fd standing for the program's fd `pfd` that is no KVM file: its eventfd's bridge
   * (src/server/eventfd.ts), 0 (a kernel fd that is no eventfd: EINVAL) for another file, -1
   * when the program has no such fd (EBADF).
   */
  private programEventfd(pfd: number): number {
    const c = this.cur!;
    if (!this.send(c, OP.CB_GETFD, 0, [pfd], null, -1)) return -1;
    const d = this.awaitData(c);
    if (!d) return -1;
    const [fd, ...rest] = d.fds;
    for (const x of rest) this.nat.close(x);
    if (d.ret < 0 || fd === undefined) {
      if (fd !== undefined) this.nat.close(fd);
      return -1;
    }
    const k = this.eventfds.adopt(fd);
    this.log(`program fd ${pfd}: ${k === undefined ? 'not an eventfd' : `eventfd, kernel fd ${k}`}`);
    return k ?? 0;
  }

  /** True when the program has fd `pfd` open (asked over the socket). */
  private programHasFd(pfd: number): boolean {
    const c = this.cur!;
    if (!this.send(c, OP.CB_GETFD, 0, [pfd], null, -1)) return false;
    const d = this.awaitData(c);
    if (!d) return false;
    for (const x of d.fds) this.nat.close(x);
    return d.ret >= 0 && d.fds.length > 0;
  }

  /**
   * KVM_IRQFD reads resamplefd only with KVM_IRQFD_FLAG_RESAMPLE, KVM_SET_USER_MEMORY_REGION2
   * guest_memfd only with KVM_MEM_GUEST_MEMFD (not worth a callback otherwise).
   */
  private fieldUsed(def: IoctlDef, arg: number, field: string): boolean {
    const flag = field === 'resamplefd' ? KVM_IRQFD_FLAG.RESAMPLE : field === 'guest_memfd' ? KVM_MEM.GUEST_MEMFD : 0;
    if (!flag) return true;
    try {
      const st = abiStruct(def);
      const b = this.kernel.space.user(arg + st.offsetOf('flags'), 4);
      return (new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) & flag) !== 0;
    } catch {
      return false;
    }
  }
}

function abiStruct(def: IoctlDef): { size: number; offsetOf(p: string): number; decode(b: Uint8Array): unknown } {
  const t = def.arg as unknown as { size: number; offsetOf(p: string): number; decode(b: Uint8Array): unknown };
  return t;
}

/** The VM whose ioctls a file reaches (VM, vCPU and device files; guest_memfd has no ioctls). */
function vmOf(f: KFile | undefined): object | undefined {
  if (!f || f.kind === 'system' || f.kind === 'socket' || f.kind === 'guest_memfd') return undefined;
  if (f.kind === 'vcpu') return f.vcpu.vm;
  return (f as { vm?: object }).vm;
}

/** Waiting callers first, then spinning ones; the one served longest ago first within each. */
function schedOrder(a: Conn, b: Conn): number {
  return a.spinning === b.spinning ? a.servedAt - b.servedAt : a.spinning ? 1 : -1;
}

function distinctKernelFds(table: Int32Array): number[] {
  const s = new Set<number>();
  for (let i = 0; i < table.length; i++) if (table[i]! > 0) s.add(table[i]! - 1);
  return [...s];
}

function record(kind: number, addr: bigint, kfd: number, flags: number, data: Uint8Array | null): Uint8Array {
  const len = data ? data.length : 0;
  const r = new Uint8Array(RECF.size + ((len + 7) & ~7));
  const dv = new DataView(r.buffer);
  dv.setUint32(RECF.kind, kind, true);
  dv.setUint32(RECF.len, len, true);
  dv.setBigUint64(RECF.addr, addr, true);
  dv.setInt32(RECF.kfd, kfd, true);
  dv.setUint32(RECF.flags, flags, true);
  if (data) r.set(data, RECF.size);
  return r;
}


function errnoOf(e: unknown): number {
  if (e instanceof KvmError) return e.errno;
  // A JS exception escaping the kernel is a vkvm bug; the program sees EIO rather than a crash.
  process.stderr.write(`vkvm server: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  return ERRNO.EIO;
}

function errnoName(n: number): string {
  return Object.entries(ERRNO).find(([, v]) => v === n)?.[0] ?? String(n);
}

