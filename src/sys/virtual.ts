/**
 * `virtualSys()`: the in-process KVM. Same `Sys` interface as the native backend, plus what real
 * KVM cannot offer: fault injection (make the Nth call of an ioctl fail) and a trace of every
 * ioctl and exit.
 * @module
 */
import { parseLinuxOption } from '../kernel/linux.js';
import type { ArchBackend } from '../kernel/arch.js';
import { setExitReason } from '../kernel/exits.js';
import { Kernel, type KFile } from '../kernel/kernel.js';
import type { ClockMode } from '../kernel/timer.js';
import { abi, arm64, constName, decodeWithFlex, ioctlByRequest, KVM_EXIT, type Arch } from '../uapi/index.js';
import { bufArg, checkPointerArg, eventfdArgs, fdArg, flagsArg, lengthArg, loffArg, pathArg, regionArg, requestArg, timeoutArg, ulongOf } from './args.js';
import { archBackendOf } from './backends.js';
import { bindKernel, kernelOf } from './kernel-of.js';
import { ERRNO, type ErrnoCode } from './errno.js';
import { KvmError } from './error.js';
import type { HostMemory, IoctlArg, Sys } from './sys.js';

/** Makes calls of one ioctl fail, to drive a VMM's error paths. */
export interface FaultRule {
  /** The ioctl: its C name ('KVM_RUN') or request number. */
  readonly ioctl: string | number;
  /** Which call fails first (1 = the first call of this ioctl after the Sys was created). */
  readonly nth: number;
  /** The errno to return. */
  readonly errno: ErrnoCode;
  /** How many consecutive calls fail from the nth on (default 1; Infinity for all). */
  readonly times?: number;
}

/** One traced event. */
export type TraceEvent =
  | {
      readonly type: 'ioctl';
      readonly fd: number;
      readonly fdKind: KFile['kind'] | 'bad';
      /** C name when known, else the hex request. */
      readonly name: string;
      readonly request: number;
      /**
       * The decoded argument (struct as object, or the integer) as the kernel got it; for `_IOR`
       * requests (KVM_GET_REGS...), which read nothing, what the kernel wrote back.
       */
      readonly arg: unknown;
      /** For `_IOWR` requests that succeeded (KVM_GET_MSRS, KVM_TRANSLATE...): what the kernel wrote back. */
      readonly out?: unknown;
      readonly result?: number;
      readonly error?: string;
      /** True when the failure came from a fault rule. */
      readonly injected?: boolean;
    }
  | {
      readonly type: 'exit';
      readonly fd: number;
      readonly vcpuId: number;
      readonly reason: string;
      readonly exitReason: number;
      /** The exit's union member, decoded. */
      readonly detail: unknown;
    };

export interface VirtualSysOptions {
  /** The emulated host architecture (as the host CPU decides for real KVM). Default 'x86_64'. */
  readonly arch?: Arch;
  /** Fault injection rules. */
  readonly faults?: readonly FaultRule[];
  /** Receives every ioctl and every exit. */
  readonly trace?: (event: TraceEvent) => void;
  /**
   * Instructions one KVM_RUN may retire before it returns EINTR with KVM_EXIT_INTR, as when a
   * signal interrupts a vCPU on Linux: a guest that never exits cannot hang the host thread.
   * Default 200 million.
   */
  readonly runBudget?: number;
  /**
   * Milliseconds one KVM_RUN may take before it returns EINTR with KVM_EXIT_INTR, as when a signal
   * interrupts a vCPU on Linux, whatever the guest does (Infinity: no bound). Default 100, or the
   * environment's `VKVM_RUN_TIMEOUT_MS` where set (a test suite on a loaded machine, a debugger).
   */
  readonly runTimeoutMs?: number;
  /**
   * Block JIT: translate hot guest basic blocks into cached JS functions. `false` runs the
   * interpreter only. Default true.
   */
  readonly jit?: boolean;
  /**
   * What the block JITs write hot code as: 'wasm' (WebAssembly modules over the process's shared
   * wasm memory, where guest RAM is carved; blocks it does not cover, or everything without
   * WebAssembly shared memory, as JS) or 'js' (JS functions only). Default: the environment's
   * `VKVM_JIT_ENGINE`, else each arch's own: 'wasm' on arm64, 'js' on x86 (its wasm engine,
   * hot 64-bit code only, is opt-in while it is young).
   */
  readonly jitEngine?: 'wasm' | 'js';
  /** @internal Block executions before translation (0: at first sight; tests use it). */
  readonly jitHotness?: number;
  /**
   * Bound of each vCPU's code cache, in decoded guest instructions: decoded blocks and their
   * translations. Code runs once interpreted and is cached when it runs again; when the cache
   * would pass the bound it is flushed whole, so a guest running any amount of distinct code
   * holds at most this much (x86 and arm64). Default 131072.
   */
  readonly codeCacheLimit?: number;
  /**
   * The clock guest time follows (TSC, kvmclock, CNTVCT, timer deadlines). 'host' (default): the
   * host's monotonic clock. 'deterministic': time advances with the instructions the guest retires
   * (1 ns each) and jumps to the next timer deadline when no vCPU of the VM is running, so a guest
   * driven by timer interrupts gives the same exits, interrupts and counter values on every run.
   */
  readonly clock?: ClockMode;
  /**
   * How long a halted vCPU (HLT/WFI with an in-kernel irqchip) running on this Sys's own thread
   * sleeps in one KVM_RUN before returning EINTR with KVM_EXIT_INTR, as a signal would, so the
   * thread's event loop runs (default 10 ms). vCPUs on worker threads sleep until woken.
   */
  readonly haltWaitMs?: number;
  /**
   * The Linux release ("6.12" ... "6.18", default the newest) whose KVM API the kernel presents:
   * features added after it (src/kernel/linux.ts `SINCE`) are absent, in KVM_CHECK_EXTENSION and
   * in behaviour, as on that kernel.
   */
  readonly linux?: string;
  /** @internal Replaces the arch backend (the kernel's own tests use a null arch). */
  readonly archBackend?: ArchBackend;
}

/** The exit-union member that describes each exit reason. */
const EXIT_MEMBER: Partial<Record<number, string>> = {
  [KVM_EXIT.UNKNOWN]: 'hw',
  [KVM_EXIT.FAIL_ENTRY]: 'fail_entry',
  [KVM_EXIT.EXCEPTION]: 'ex',
  [KVM_EXIT.IO]: 'io',
  [KVM_EXIT.DEBUG]: 'debug',
  [KVM_EXIT.MMIO]: 'mmio',
  [KVM_EXIT.HYPERCALL]: 'hypercall',
  [KVM_EXIT.INTERNAL_ERROR]: 'internal',
  [KVM_EXIT.SYSTEM_EVENT]: 'system_event',
  [KVM_EXIT.ARM_NISV]: 'arm_nisv',
  [KVM_EXIT.X86_RDMSR]: 'msr',
  [KVM_EXIT.X86_WRMSR]: 'msr',
  [KVM_EXIT.MEMORY_FAULT]: 'memory_fault',
  [KVM_EXIT.TDX]: 'tdx',
};

class VirtualSys implements Sys {
  readonly backend = 'virtual' as const;
  readonly arch: Arch;
  /** @internal The kernel, for the project's own white-box tests and models. */
  readonly kernel: Kernel;
  private readonly faults: { rule: FaultRule; request: number; calls: number }[];
  private readonly trace: ((e: TraceEvent) => void) | undefined;

  constructor(opts: VirtualSysOptions) {
    this.arch = opts.archBackend?.arch ?? opts.arch ?? 'x86_64';
    const backend = opts.archBackend ?? archBackendOf(this.arch);
    if (backend.arch !== this.arch) throw new Error(`backend speaks ${backend.arch}, asked for ${this.arch}`);
    this.kernel = new Kernel(backend);
    bindKernel(this, this.kernel);
    if (opts.runBudget !== undefined) {
      if (!(opts.runBudget > 0)) throw new Error('runBudget must be positive');
      this.kernel.runBudget = opts.runBudget;
    }
    const runTimeoutMs = opts.runTimeoutMs ?? envRunTimeoutMs();
    if (runTimeoutMs !== undefined) {
      if (!(runTimeoutMs > 0)) throw new Error('runTimeoutMs must be positive');
      this.kernel.deadline.timeoutMs = runTimeoutMs;
    }
    if (opts.jit !== undefined) this.kernel.jit = opts.jit;
    if (opts.jitEngine !== undefined) {
      if (opts.jitEngine !== 'wasm' && opts.jitEngine !== 'js') throw new Error("jitEngine must be 'wasm' or 'js'");
      this.kernel.jitEngine = opts.jitEngine;
    }
    if (opts.jitHotness !== undefined) this.kernel.jitHotness = opts.jitHotness;
    if (opts.codeCacheLimit !== undefined) {
      if (!(opts.codeCacheLimit >= 64)) throw new Error('codeCacheLimit must be >= 64 (one block)');
      this.kernel.codeCacheLimit = opts.codeCacheLimit;
    }
    if (opts.clock !== undefined) {
      if (opts.clock !== 'host' && opts.clock !== 'deterministic') throw new Error("clock must be 'host' or 'deterministic'");
      this.kernel.clock = opts.clock;
    }
    if (opts.haltWaitMs !== undefined) {
      if (!(opts.haltWaitMs >= 0)) throw new Error('haltWaitMs must be >= 0');
      this.kernel.haltWaitMs = opts.haltWaitMs;
    }
    if (opts.linux !== undefined) this.kernel.linux = parseLinuxOption(opts.linux);
    const ioctls = abi[this.arch].ioctls as Record<string, { request: number }>;
    this.faults = (opts.faults ?? []).map((rule) => {
      const request = typeof rule.ioctl === 'number' ? rule.ioctl >>> 0 : ioctls[rule.ioctl]?.request;
      if (request === undefined) throw new Error(`fault rule: unknown ioctl ${String(rule.ioctl)}`);
      if (!(rule.errno in ERRNO)) throw new Error(`fault rule: unknown errno ${rule.errno}`);
      if (!Number.isInteger(rule.nth) || rule.nth < 1) throw new Error('fault rule: nth counts from 1');
      return { rule, request, calls: 0 };
    });
    this.trace = opts.trace;
  }

  open(path: string, flags?: number): number {
    const p = pathArg(path);
    flagsArg(flags);
    return this.kernel.open(p);
  }

  ioctl(fd: number, request: number, arg?: IoctlArg): number {
    const req = requestArg(request);
    fdArg(fd, 'ioctl', req);
    const injected = this.injected(req);
    if (!this.trace) {
      if (injected) throw this.inject(fd, req, injected);
      checkPointerArg(this.arch, fd, req, arg);
      return this.kernel.ioctl(fd, req, arg);
    }
    const def = ioctlByRequest(this.arch, req);
    const file = this.kernel.file(fd);
    const dir = def?.dir;
    const base = { type: 'ioctl' as const, fd, fdKind: file?.kind ?? ('bad' as const), name: def?.name ?? `0x${req.toString(16)}`, request: req, arg: dir === 'r' ? undefined : decodeArg(def?.arg, arg) };
    if (injected) {
      const err = this.inject(fd, req, injected);
      this.trace({ ...base, error: injected, injected: true });
      throw err;
    }
    try {
      checkPointerArg(this.arch, fd, req, arg);
      const result = this.kernel.ioctl(fd, req, arg);
      // Read ioctls: show what the kernel wrote, not the caller's (stale) input buffer.
      if (dir === 'r') this.trace({ ...base, arg: decodeArg(def?.arg, arg), result });
      else if (dir === 'rw') this.trace({ ...base, out: decodeArg(def?.arg, arg), result });
      else this.trace({ ...base, result });
      if (file?.kind === 'vcpu' && def?.name === 'KVM_RUN') this.traceExit(fd, file.vcpu);
      return result;
    } catch (e) {
      this.trace({ ...base, error: e instanceof KvmError ? e.code : String(e) });
      throw e;
    }
  }

  /**
   * The error an injected fault returns, with the kernel's side effects: an EINTR from KVM_RUN is
   * a signal that arrived, so kvm_run.exit_reason says KVM_EXIT_INTR (vcpu_run sets it).
   */
  private inject(fd: number, request: number, errno: ErrnoCode): KvmError {
    const file = this.kernel.file(fd);
    if (errno === 'EINTR' && file?.kind === 'vcpu' && request === this.kernel.nr.KVM_RUN) setExitReason(file.vcpu, KVM_EXIT.INTR);
    return KvmError.of(errno, 'ioctl', { request, fd, message: 'injected fault' });
  }

  private injected(request: number): ErrnoCode | undefined {
    let hit: ErrnoCode | undefined;
    for (const f of this.faults) {
      if (f.request !== request) continue;
      f.calls++;
      const times = f.rule.times ?? 1;
      if (f.calls >= f.rule.nth && f.calls < f.rule.nth + times) hit ??= f.rule.errno;
    }
    return hit;
  }

  private traceExit(fd: number, vcpu: { id: number; run: Uint8Array; runDv: DataView }): void {
    const run = abi[this.arch].structs.kvm_run;
    const exitReason = vcpu.runDv.getUint32(run.offsetOf('exit_reason'), true);
    const idsr = this.arch === 'arm64' && exitReason === arm64.KVM_ARM_IDSR.KVM_EXIT_ARM_IDSR;
    const member = idsr ? 'arm_idsr' : EXIT_MEMBER[exitReason];
    const decoded = member ? (run.decode(vcpu.run) as Record<string, unknown>)[member] : undefined;
    const reason = idsr ? 'ARM_IDSR' : String(constName(KVM_EXIT, exitReason) ?? exitReason);
    this.trace!({ type: 'exit', fd, vcpuId: vcpu.id, reason, exitReason, detail: decoded });
  }

  mmap(fd: number, length: number, offset = 0): Uint8Array {
    return this.kernel.mmap(fd, length, offset);
  }

  munmap(region: Uint8Array): void {
    this.kernel.space.unmap(regionArg(region));
  }

  alloc(length: number): HostMemory {
    const m = this.kernel.space.map(lengthArg(length, 'mmap'));
    return { hva: BigInt(m.hva), bytes: m.bytes.subarray(0, length) };
  }

  close(fd: number): void {
    this.kernel.close(fd);
  }

  eventfd(initval = 0, flags = 0): number {
    return this.kernel.eventfd(...eventfdArgs(initval, flags));
  }

  read(fd: number, buf: Uint8Array): number {
    return this.kernel.read(fdArg(fd, 'read'), bufArg(buf, 'read'));
  }

  write(fd: number, buf: Uint8Array): number {
    return this.kernel.write(fdArg(fd, 'write'), bufArg(buf, 'write'));
  }

  fallocate(fd: number, mode: number, offset: number | bigint, len: number | bigint): void {
    this.kernel.fallocate(fdArg(fd, 'fallocate'), mode, loffArg(offset), loffArg(len));
  }

  async waitReadable(fd: number, timeoutMs?: number): Promise<boolean> {
    fdArg(fd, 'poll');
    timeoutMs = timeoutArg(timeoutMs);
    const f = this.kernel.file(fd);
    if (!f) throw KvmError.of('EBADF', 'poll', { fd });
    // Files without a poll method are always readable (DEFAULT_POLLMASK).
    return f.kind === 'eventfd' ? f.efd.ctx.waitReadable(timeoutMs) : true;
  }
}

function decodeArg(type: unknown, arg: IoctlArg | undefined): unknown {
  if (arg === undefined) return 0;
  if (!(arg instanceof Uint8Array)) return typeof arg === 'bigint' ? arg : (ulongOf(arg) ?? arg); // a value C could not pass: as given
  const t = type as { decode?: (b: Uint8Array) => unknown; size?: number; kind?: string } | undefined;
  if (t?.decode && t.size !== undefined && arg.length >= t.size) {
    try {
      return t.kind === 'struct' ? decodeWithFlex(t as never, arg) : t.decode(arg);
    } catch {
      /* fall through */
    }
  }
  return arg.slice();
}

/**
 * The in-process KVM: `/dev/kvm` as an emulator of an x86-64 (VMX flavour) or arm64 host.
 * Guest RAM comes from `alloc()`; everything else is the Linux KVM API.
 */
export function virtualSys(options: VirtualSysOptions = {}): Sys {
  return new VirtualSys(options);
}

export { kernelOf };

/** `VKVM_RUN_TIMEOUT_MS` from the environment (Node; absent elsewhere): the default KVM_RUN bound. */
function envRunTimeoutMs(): number | undefined {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.VKVM_RUN_TIMEOUT_MS;
  if (v === undefined || v === '') return undefined;
  const ms = Number(v);
  if (!(ms > 0)) throw new Error(`VKVM_RUN_TIMEOUT_MS must be a positive number of milliseconds (or Infinity), not ${JSON.stringify(v)}`);
  return ms;
}
