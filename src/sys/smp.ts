/**
 * SMP: the vCPUs of one VM running on worker_threads, each calling KVM_RUN from its own thread
 * over shared guest memory.
 *
 * - Owner thread: `exportVcpu(sys, vcpuFd)` returns a structured-cloneable {@link VcpuHandle}
 *   (post it to a worker with `transferList: vcpuHandleTransferList(handle)`). From then on the
 *   vCPU's fd in the owner answers EBUSY, as the kernel's ioctls would block on vcpu->mutex while
 *   another thread runs the vCPU.
 * - Worker thread: `attachVcpu(handle)` returns a `Sys` in which the same fd number is the vCPU:
 *   KVM_RUN and every vCPU ioctl run in the worker, on a mirror of the vCPU; `mmap` gives the
 *   same kvm_run bytes (shared memory). Every other call (system and VM fds, `alloc`, `open`...)
 *   is forwarded synchronously to the owner: the worker blocks in `Atomics.wait` until the owner,
 *   from its event loop, has run it. **The owner must keep its event loop free while workers run**
 *   (await the workers; never block on them).
 * - `close(vcpuFd)` in the worker hands the vCPU back: its state returns to the owner and the
 *   owner's fd works again (the owner's fd stays open; the attached Sys is done). A worker that
 *   exits with the vCPU still attached hands it back from its `exit` event; a worker that is
 *   terminated cannot, and the owner's fd then answers EIO.
 * - Native (`nativeSys()`): fds are process-wide, so the handle is just the fd and `attachVcpu`
 *   returns `nativeSys()`. There `close(vcpuFd)` closes the process's fd, as on Linux: a worker
 *   that is done simply stops using it (the typed `Vcpu.close()` of an attached vCPU only unmaps).
 * @module
 */
import { isMainThread, MessageChannel, receiveMessageOnPort, threadId, type MessagePort, type Transferable } from 'node:worker_threads';
import { LOCK_ID } from '../kernel/atomics.js';
import { EventFdCtx } from '../kernel/eventfd.js';
import type { Kernel } from '../kernel/kernel.js';
import { KernelSmp, LINK, LINK_WORDS, mappingView, smpBlocker, VcpuMirror, vmView, type MappingView, type MirrorSpec, type RemoteVcpu } from '../kernel/smp.js';
import { UserArg } from '../kernel/uarg.js';
import type { Vcpu } from '../kernel/vcpu.js';
import type { Arch } from '../uapi/index.js';
import { bufArg, checkPointerArg, eventfdArgs, fdArg, flagsArg, lengthArg, loffArg, offsetArg, pathArg, regionArg, requestArg, timeoutArg, ulongOf } from './args.js';
import { ERRNO } from './errno.js';
import { KvmError } from './error.js';
import { nativeSys } from './native.js';
import type { HostMemory, IoctlArg, Sys } from './sys.js';
import { archBackendOf } from './backends.js';
import { kernelOf } from './kernel-of.js';

/** A vCPU of a `nativeSys()` VM: the fd is valid in every thread of the process. */
export interface NativeVcpuHandle {
  readonly backend: 'native';
  readonly arch: Arch;
  /** The vCPU fd. */
  readonly fd: number;
  /** The vcpu_id, the VM fd and type when known (the typed layer fills them; else -1, -1, 0). */
  readonly vcpuId: number;
  readonly vmFd: number;
  readonly vmType: number;
}

/** A vCPU of a `virtualSys()` VM, exported to run on another thread. */
export interface VirtualVcpuHandle extends MirrorSpec {
  readonly backend: 'virtual';
  readonly arch: Arch;
  /** The vCPU fd (the same number in the attached Sys). */
  readonly fd: number;
  /** A VM fd of the vCPU's VM in the owner (-1 when none is open). */
  readonly vmFd: number;
  /** The owner's arch backend by name (src/sys/backends.ts), when not the arch's own. */
  readonly archBackend?: string;
  /** worker_threads.threadId of the owner (attaching there would deadlock). */
  readonly ownerThread: number;
  /** Control words of the synchronous forwarding channel. */
  readonly ctrl: Int32Array;
  /** The worker's end of the forwarding channel: must be in the postMessage transfer list. */
  readonly port: MessagePort;
}

/** What `exportVcpu` returns and `attachVcpu` takes: structured-cloneable (with its port transferred). */
export type VcpuHandle = NativeVcpuHandle | VirtualVcpuHandle;

/** The transfer list a handle needs in `postMessage` / `new Worker(..., { workerData, transferList })`. */
export function vcpuHandleTransferList(handle: VcpuHandle): Transferable[] {
  return handle.backend === 'virtual' ? [handle.port, handle.push] : [];
}

// ---- the channel ---------------------------------------------------------------------------------

type Request =
  | { op: 'ioctl'; fd: number; request: number; arg: IoctlArg | undefined }
  | { op: 'open'; path: string; flags: number | undefined }
  | { op: 'close'; fd: number }
  | { op: 'mmap'; fd: number; length: number; offset: number }
  | { op: 'alloc'; length: number }
  | { op: 'munmap'; hva: number }
  | { op: 'release'; state: unknown }
  // eventfds (src/kernel/eventfd.ts) and VM-wide device operations (Vm.callOwner)
  | { op: 'eventfd'; initval: number | undefined; flags: number | undefined }
  | { op: 'read'; fd: number; length: number; nonblock: boolean }
  | { op: 'write'; fd: number; bytes: Uint8Array }
  | { op: 'fallocate'; fd: number; mode: number; offset: bigint; len: bigint }
  | { op: 'eventfdShared'; fd: number }
  | { op: 'owner'; name: string; payload: unknown; vcpuId: number };

type Reply =
  | { ok: true; result?: number; bytes?: Uint8Array; hva?: number; maps?: MappingView[]; value?: unknown; shared?: { sab: SharedArrayBuffer; semaphore: boolean; nonblock: boolean } | null }
  | { ok: false; error: { errno?: number; syscall?: string; request?: number; fd?: number; message: string } };

/** ctrl[0]: 0 while a request waits, 1 once its reply was posted. */
const CTRL_REPLY = 0;

function errorReply(e: unknown): Reply {
  if (e instanceof KvmError) return { ok: false, error: { errno: e.errno, syscall: e.syscall, ...(e.request !== undefined ? { request: e.request } : {}), ...(e.fd !== undefined ? { fd: e.fd } : {}), message: e.message } };
  return { ok: false, error: { message: e instanceof Error ? e.message : String(e) } };
}

function rethrow(error: Extract<Reply, { ok: false }>['error']): never {
  if (error.errno === undefined) throw new Error(error.message);
  const e = new KvmError(error.errno, error.syscall ?? 'ioctl', { ...(error.request !== undefined ? { request: error.request } : {}), ...(error.fd !== undefined ? { fd: error.fd } : {}) });
  e.message = error.message;
  throw e;
}

// ---- owner side ----------------------------------------------------------------------------------

/**
 * Exports the vCPU `vcpuFd` of `sys` to run on another thread (see the module comment). Virtual:
 * EBADF for a bad fd, EINVAL for a non-vCPU fd, EBUSY when it is already exported, EOPNOTSUPP
 * when the VM cannot have vCPUs on other threads (TDX and other private-memory VMs, KVMI,
 * guest_memfd memslots).
 */
export function exportVcpu(sys: Sys, vcpuFd: number): VcpuHandle {
  if (sys.backend === 'native') return { backend: 'native', arch: sys.arch, fd: vcpuFd, vcpuId: -1, vmFd: -1, vmType: 0 };
  const kernel = kernelOf(sys);
  if (!kernel) throw KvmError.of('EOPNOTSUPP', 'ioctl', { message: 'exportVcpu needs the virtualSys() that owns the vCPU (not an attached Sys)' });
  // A value no C int could be is EBADF, like a closed fd (and never a TypeError from formatting it).
  if (!Number.isSafeInteger(vcpuFd)) throw KvmError.of('EBADF', 'ioctl');
  const f = kernel.file(vcpuFd);
  if (!f) throw KvmError.of('EBADF', 'ioctl', { fd: vcpuFd });
  if (f.kind !== 'vcpu') throw KvmError.of('EINVAL', 'ioctl', { fd: vcpuFd, message: 'not a vCPU fd' });
  const vcpu = f.vcpu;
  const vm = vcpu.vm;
  if (vcpu.away === 'attached') throw KvmError.of('EBUSY', 'ioctl', { fd: vcpuFd, message: 'the vCPU is already attached to another thread' });
  if (vcpu.away === 'lost') throw KvmError.of('EIO', 'ioctl', { fd: vcpuFd });
  const why = smpBlocker(vm);
  if (why) throw KvmError.of('EOPNOTSUPP', 'ioctl', { fd: vcpuFd, message: why });
  const view = vmView(vm);
  const state = vm.arch.saveVcpu!(vcpu);
  const vmFd = kernel.findFd((g) => g.kind === 'vm' && g.vm === vm);
  const { port1, port2 } = new MessageChannel();
  const push = new MessageChannel();
  const ctrl = new Int32Array(new SharedArrayBuffer(8));
  const link = new Int32Array(new SharedArrayBuffer(4 * LINK_WORDS));
  vcpu.away = 'attached';
  const smp = (kernel.smp ??= new KernelSmp());
  const remote: RemoteVcpu = {
    vm,
    vcpu,
    words: link,
    port: push.port1,
    onLost: () => {
      // Given up: whatever its thread does from now on, the state it held is gone.
      if (vcpu.away === 'attached') vcpu.away = 'lost';
      push.port1.close();
    },
  };
  smp.add(remote);
  push.port1.unref();
  serve(sys, kernel, vcpu, port1, ctrl, remote);
  return {
    backend: 'virtual',
    arch: sys.arch,
    ...(vm.arch.name ? { archBackend: vm.arch.name } : {}),
    fd: vcpuFd,
    vmFd,
    vcpuId: vcpu.id,
    vcpuIndex: vcpu.index,
    vmType: vm.type,
    kernel: { runBudget: kernel.runBudget, runTimeoutMs: kernel.deadline.timeoutMs, jit: kernel.jit, jitEngine: kernel.jitEngine, jitHotness: kernel.jitHotness, codeCacheLimit: kernel.codeCacheLimit },
    area: vcpu.area,
    requests: vcpu.requests,
    vmShared: vm.sharedWords,
    state,
    view,
    ownerThread: threadId,
    ctrl,
    port: port2,
    link,
    push: push.port2,
  };
}

/** Answers one attached worker's forwarded calls from the owner's event loop. */
function serve(sys: Sys, kernel: Kernel, vcpu: Vcpu, port: MessagePort, ctrl: Int32Array, remote: RemoteVcpu): void {
  let released = false;
  port.on('message', (req: Request) => {
    let reply: Reply;
    try {
      reply = handle(req);
    } catch (e) {
      reply = errorReply(e);
    }
    port.postMessage(reply);
    Atomics.store(ctrl, CTRL_REPLY, 1);
    Atomics.notify(ctrl, CTRL_REPLY);
    if (released) port.close();
  });
  port.on('close', () => {
    // The worker went away without handing the vCPU back (terminated): its state is gone, and a
    // VM lock it held in the middle of an instruction is freed.
    if (!released) kernel.smp?.lose(remote);
  });
  // The channel alone does not keep the owner alive (its Worker does, while it runs).
  port.unref();

  function handle(req: Request): Reply {
    switch (req.op) {
      case 'ioctl': {
        const result = sys.ioctl(req.fd, req.request, req.arg);
        return req.arg instanceof Uint8Array ? { ok: true, result, bytes: req.arg } : { ok: true, result };
      }
      case 'open':
        return { ok: true, result: sys.open(req.path, req.flags) };
      case 'close':
        sys.close(req.fd);
        return { ok: true };
      case 'mmap': {
        const m = kernel.mmapRegion(req.fd, req.length, req.offset);
        return { ok: true, hva: m.hva, maps: [mappingView(m)] };
      }
      case 'alloc': {
        const m = kernel.space.map(lengthArg(req.length, 'mmap'));
        return { ok: true, hva: m.hva, maps: [mappingView(m)] };
      }
      case 'munmap':
        kernel.space.unmapHva(req.hva);
        return { ok: true };
      case 'release':
        kernel.smp?.remove(remote);
        remote.port.close();
        if (vcpu.away !== 'attached') throw KvmError.of('EIO', 'close', { message: 'the owner had given this vCPU up' });
        vcpu.vm.arch.loadVcpu!(vcpu, req.state);
        vcpu.timer.resync(); // the instructions it retired there were counted there
        vcpu.away = null;
        released = true;
        return { ok: true };
      case 'eventfd':
        return { ok: true, result: sys.eventfd(req.initval, req.flags) };
      case 'read': {
        const bytes = new Uint8Array(req.length);
        return { ok: true, result: kernel.read(req.fd, bytes, req.nonblock || undefined), bytes };
      }
      case 'write':
        return { ok: true, result: sys.write(req.fd, req.bytes) };
      case 'fallocate':
        sys.fallocate(req.fd, req.mode, req.offset, req.len);
        return { ok: true };
      case 'eventfdShared': {
        const f = kernel.file(req.fd);
        if (!f) throw KvmError.of('EBADF', 'poll', { fd: req.fd });
        return { ok: true, shared: f.kind === 'eventfd' ? { sab: f.efd.ctx.shared, semaphore: f.efd.ctx.semaphore, nonblock: f.efd.nonblock } : null };
      }
      case 'owner': {
        const vm = vcpu.vm;
        const f = vm.ownerOps.get(req.name);
        if (!f) throw new Error(`no owner operation ${req.name}`);
        return { ok: true, value: f(req.payload, vm.vcpus.get(req.vcpuId) ?? null) };
      }
    }
  }
}

// ---- worker side ---------------------------------------------------------------------------------

class AttachedSys implements Sys {
  readonly backend = 'virtual' as const;
  readonly arch: Arch;
  private mirror: VcpuMirror | null;
  private readonly fd: number;
  private readonly port: MessagePort;
  private readonly ctrl: Int32Array;
  private readonly push: MessagePort;
  private readonly onExit = () => this.release();

  constructor(h: VirtualVcpuHandle) {
    this.arch = h.arch;
    this.fd = h.fd;
    this.port = h.port;
    this.ctrl = h.ctrl;
    this.push = h.push;
    this.mirror = new VcpuMirror(archBackendOf(h.archBackend ?? h.arch), h);
    // VM-wide device operations of this vCPU run on the owner (Vm.callOwner).
    this.mirror.kernel.forward = (name, payload, vcpuId) => this.call({ op: 'owner', name, payload, vcpuId }).value;
    // An address the owner mapped since the last sync: its mapping is among the pushed changes
    // (read without blocking: this can happen inside KVM_RUN, where the owner may be waiting on us).
    const sync = this.mirror.vcpu.sync!;
    this.mirror.kernel.space.onMiss = () => sync.drain();
    // A worker ending with the vCPU still attached hands it back on its way out.
    if (!isMainThread) process.once('exit', this.onExit);
  }

  /** A synchronous call to the owner: post, then sleep until its reply is there. */
  private call(req: Request): Extract<Reply, { ok: true }> {
    if (this.mirror === null) throw KvmError.of('EBADF', req.op === 'ioctl' ? 'ioctl' : req.op, { message: 'this attached Sys handed its vCPU back' });
    const ctrl = this.ctrl;
    // Inside KVM_RUN (a device access of the guest): the owner may be waiting for this vCPU to
    // drop its translations while this thread waits for the owner. Step out of its way meanwhile.
    const sync = this.mirror.vcpu.sync;
    const inside = sync !== null && sync.suspend();
    let got: { message: Reply } | undefined;
    try {
      Atomics.store(ctrl, CTRL_REPLY, 0);
      this.port.postMessage(req);
      for (;;) {
        Atomics.wait(ctrl, CTRL_REPLY, 0, 1000);
        if (Atomics.load(ctrl, CTRL_REPLY) === 0) continue;
        got = receiveMessageOnPort(this.port) as { message: Reply } | undefined;
        if (got) break;
      }
    } finally {
      if (inside) sync.resume();
    }
    const r = got.message;
    if (!r.ok) rethrow(r.error);
    return r;
  }

  private get live(): VcpuMirror {
    const m = this.mirror;
    if (m === null) throw KvmError.of('EBADF', 'ioctl', { fd: this.fd });
    return m;
  }

  open(path: string, flags?: number): number {
    return this.call({ op: 'open', path: pathArg(path), flags: flagsArg(flags) }).result!;
  }

  ioctl(fd: number, request: number, arg?: IoctlArg): number {
    const req = requestArg(request);
    fdArg(fd, 'ioctl', req);
    if (fd === this.fd) {
      const m = this.live;
      checkPointerArg(this.arch, fd, req, arg);
      // While the ioctl runs, the owner waits for this thread to drop what a memory change
      // invalidates; first, catch up with the changes pushed so far.
      const sync = m.vcpu.sync!;
      sync.enter();
      try {
        return m.vcpu.ioctl(req, new UserArg(arg, m.kernel.space, req, fd));
      } finally {
        sync.leave();
      }
    }
    // Only clonable values cross the channel; any other is invalid in the owner all the same.
    const a = arg instanceof Uint8Array || ulongOf(arg) !== undefined ? arg : ({} as IoctlArg);
    const r = this.call({ op: 'ioctl', fd, request: req, arg: a });
    if (arg instanceof Uint8Array && r.bytes) arg.set(r.bytes.subarray(0, arg.length));
    return r.result!;
  }

  mmap(fd: number, length: number, offset?: number): Uint8Array {
    fdArg(fd, 'mmap');
    const r = this.call({ op: 'mmap', fd, length: lengthArg(length, 'mmap'), offset: offsetArg(offset) });
    return this.live.addMappings(r.maps!)[0]!.bytes.subarray(0, length);
  }

  munmap(region: Uint8Array): void {
    regionArg(region);
    const space = this.live.kernel.space;
    const m = space.all().find((x) => x.bytes.buffer === region.buffer && x.bytes.byteOffset === region.byteOffset);
    if (!m) throw KvmError.of('EINVAL', 'munmap', { message: 'not a region returned by mmap() or alloc() of this Sys' });
    this.call({ op: 'munmap', hva: m.hva });
    space.unmapHva(m.hva);
  }

  alloc(length: number): HostMemory {
    const r = this.call({ op: 'alloc', length: lengthArg(length, 'mmap') });
    return { hva: BigInt(r.hva!), bytes: this.live.addMappings(r.maps!)[0]!.bytes.subarray(0, length) };
  }

  close(fd: number): void {
    fdArg(fd, 'close');
    if (fd === this.fd) {
      if (this.mirror === null) throw KvmError.of('EBADF', 'close');
      this.release();
      return;
    }
    this.call({ op: 'close', fd });
  }

  eventfd(initval?: number, flags?: number): number {
    const [iv, fl] = eventfdArgs(initval, flags);
    return this.call({ op: 'eventfd', initval: iv, flags: fl }).result!;
  }

  read(fd: number, buf: Uint8Array): number {
    fdArg(fd, 'read');
    bufArg(buf, 'read');
    // A blocking read of an eventfd sleeps here, on the shared counter: blocking in the owner
    // would hold the event loop every forwarded call needs.
    const sh = this.call({ op: 'eventfdShared', fd }).shared;
    if (!sh || sh.nonblock) return this.forwardRead(fd, buf, false);
    const ctx = EventFdCtx.attach(sh.sab, sh.semaphore);
    for (;;) {
      const seq = ctx.seq;
      try {
        return this.forwardRead(fd, buf, true);
      } catch (e) {
        if (!(e instanceof KvmError && e.code === 'EAGAIN')) throw e;
      }
      ctx.sleep(seq);
    }
  }

  private forwardRead(fd: number, buf: Uint8Array, nonblock: boolean): number {
    const r = this.call({ op: 'read', fd, length: buf.length, nonblock });
    buf.set(r.bytes!.subarray(0, buf.length));
    return r.result!;
  }

  write(fd: number, buf: Uint8Array): number {
    fdArg(fd, 'write');
    return this.call({ op: 'write', fd, bytes: bufArg(buf, 'write').slice() }).result!;
  }

  fallocate(fd: number, mode: number, offset: number | bigint, len: number | bigint): void {
    this.call({ op: 'fallocate', fd: fdArg(fd, 'fallocate'), mode, offset: loffArg(offset), len: loffArg(len) });
  }

  async waitReadable(fd: number, timeoutMs?: number): Promise<boolean> {
    fdArg(fd, 'poll');
    timeoutMs = timeoutArg(timeoutMs);
    const sh = this.call({ op: 'eventfdShared', fd }).shared;
    return sh ? EventFdCtx.attach(sh.sab, sh.semaphore).waitReadable(timeoutMs) : true;
  }

  /** Hands the vCPU back to the owner (close(vcpuFd), or the worker's exit). */
  private release(): void {
    const m = this.mirror;
    if (m === null) return;
    if (!isMainThread) process.off('exit', this.onExit);
    try {
      this.call({ op: 'release', state: m.vcpu.vm.arch.saveVcpu!(m.vcpu) });
    } finally {
      this.mirror = null;
      this.port.close();
      this.push.close();
    }
  }
}

/**
 * In a worker: the `Sys` through which this thread runs the exported vCPU (the fd `handle.fd`)
 * and reaches the rest of the owner's KVM (see the module comment). Native handles give
 * `nativeSys()`.
 */
export function attachVcpu(handle: VcpuHandle): Sys {
  if (handle === null || typeof handle !== 'object') throw new KvmError(ERRNO.EINVAL, 'open', { message: 'not a vCPU handle from exportVcpu' });
  if (handle.backend === 'native') return nativeSys();
  if (handle.backend !== 'virtual' || !(handle.ctrl instanceof Int32Array) || !handle.port) {
    throw new KvmError(ERRNO.EINVAL, 'open', { message: 'not a vCPU handle from exportVcpu (was its port in the transfer list?)' });
  }
  if (handle.ownerThread === threadId) {
    // Forwarded calls wait for the owner's event loop: the owner's own thread can never answer.
    throw new KvmError(ERRNO.EDEADLK, 'open', { message: 'attachVcpu must run on another thread than the one that exported the vCPU' });
  }
  if (!(handle.link instanceof Int32Array) || !handle.push) throw new KvmError(ERRNO.EINVAL, 'open', { message: 'not a vCPU handle from exportVcpu (was its push port in the transfer list?)' });
  // One handle, one attachment (the kernel's vcpu->mutex): a second one would share its state.
  if (Atomics.compareExchange(handle.link, LINK.ATTACHED, 0, 1) !== 0) throw new KvmError(ERRNO.EBUSY, 'open', { message: 'this vCPU handle is already attached (export the vCPU again for another attachment)' });
  if (Atomics.load(handle.link, LINK.LOST) !== 0) throw new KvmError(ERRNO.EIO, 'open', { message: 'the owner gave this vCPU up' });
  Atomics.store(handle.link, LINK.HOLDER, LOCK_ID);
  return new AttachedSys(handle);
}
