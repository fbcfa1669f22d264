/**
 * The mini-VMM: loads a guest image into a fresh VM, wires its devices to IO/MMIO exits, and runs
 * the boot vCPU until the guest halts, powers off or writes its exit device -- using only the
 * typed API (`Kvm`, `Vm`, `Vcpu`, `VcpuExit`), so the same code runs on `virtualSys()` and on
 * the real /dev/kvm through `nativeSys()`.
 * @module
 */
import { EventFd, isKvmError, Kvm, KVM_CAP, KVM_GUESTDBG, KVM_SYSTEM_EVENT, nativeSys, virtualSys, type Arch, type Sys, type Vcpu, type VcpuExit, type Vm } from '../index.js';
import { ARM64_BOARD, arm64Board, createGicV3, MAX_BREAKPOINTS, spiIrq, X86_BOARD, x86Board, type Board, type InitialRegs, type X86Mode } from './boards.js';
import type { Device } from './devices.js';
import { ImageError, loadImage } from './image.js';
import { irqfdLine, vmIrqLine } from './irq.js';
import { GuestMemory } from './memory.js';
import { VirtioEventfds, VirtioMmio } from './virtio/mmio.js';
import { VirtioRng, type EntropySource } from './virtio/rng.js';

export type Backend = 'virtual' | 'native';

export interface MiniVmmOptions {
  readonly arch: Arch;
  /** The backend to build (default 'virtual'); ignored when `sys` is given. */
  readonly backend?: Backend;
  /** An already-built `Sys` (e.g. a virtualSys with a trace hook). */
  readonly sys?: Sys;
  /** The KVM device to open (default /dev/kvm). */
  readonly devicePath?: string;
  /** The guest image: ELF or flat binary. */
  readonly image: Uint8Array;
  /** x86 entry mode; default: protected for a 32-bit ELF, long otherwise. */
  readonly x86Mode?: X86Mode;
  /** Guest-physical load address of a flat image (default: the board's). */
  readonly loadAddr?: number;
  /** Entry point (default: the ELF's e_entry, or the flat load address). */
  readonly entry?: number;
  /** Guest RAM in bytes (default 16 MiB). */
  readonly memSize?: number;
  /** Initial registers by name (applied after the board's defaults). */
  readonly regs?: InitialRegs;
  /** Hardware breakpoints (guest addresses) set with KVM_SET_GUEST_DEBUG. */
  readonly breakpoints?: readonly number[];
  /** Stop after this many exits (default 1,000,000). */
  readonly maxExits?: number;
  /** Keep the exit sequence (one line per exit) in the result (default true). */
  readonly recordExits?: boolean;
  /** UART output, byte by byte (always also collected in the result). */
  readonly console?: (byte: number) => void;
  /** One line per exit as it happens (`--trace`). */
  readonly trace?: (line: string) => void;
  /** Called at each breakpoint hit with the address, the hit number and a register dump. */
  readonly onBreakpoint?: (hit: BreakpointHit) => void;
  /**
   * The interrupt controller: 'none' (default: every device polled, HLT ends the run) or 'kernel'
   * -- x86: KVM_CREATE_IRQCHIP (PIC, IOAPIC, LAPIC), the 16550 on GSI 4 (KVM_IRQ_LINE); arm64: a
   * vGICv3, the PL011 on SPI 1 (INTID 33). HLT/WFI then wait in the kernel for an interrupt.
   */
  readonly irqchip?: 'none' | 'kernel';
  /**
   * A virtio-rng (entropy) device on virtio-mmio (needs `irqchip: 'kernel'`): x86 at 0xd0000000
   * (GSI 5), arm64 at 0x0a000000 (SPI 16, INTID 48). QueueNotify is an ioeventfd (no exit), the
   * used-buffer interrupt an irqfd. The bytes come from `entropy` (default: the host's CSPRNG).
   */
  readonly virtioRng?: boolean;
  readonly entropy?: EntropySource;
  /**
   * Bytes typed on the console: fed to the UART's receive FIFO as it has room, after each KVM_RUN
   * -- with an interrupt-driven UART only while its receive interrupt is enabled, as a person
   * types once the prompt is there (bytes typed earlier would be lost to the FIFO resets of a
   * driver's setup).
   */
  readonly consoleInput?: Uint8Array;
  /** Stop after this many milliseconds of wall-clock time (default unlimited). */
  readonly timeLimitMs?: number;
}

/** What the interrupt-driven devices did (`irqchip: 'kernel'`). */
export interface DeviceStats {
  /** Times the UART raised its line (KVM_IRQ_LINE level 1). */
  readonly uartIrqs: number;
  /** Console input bytes not yet taken by the UART at the end. */
  readonly inputLeft: number;
  readonly rng?: {
    /** Requests served and bytes given. */
    readonly requests: number;
    readonly bytes: number;
    /** Notifications that arrived through the ioeventfd, and as QueueNotify exits. */
    readonly eventfdKicks: number;
    readonly mmioKicks: number;
    /** irqfd signals (used-buffer interrupts). */
    readonly irqs: number;
  };
}

export interface BreakpointHit {
  readonly addr: bigint;
  readonly n: number;
  readonly regs: string;
}

/** How a run ended. */
export type RunEnd =
  | 'halt' // x86 HLT with nothing to wake the vCPU (no irqchip): the guest is done
  | 'exit-device' // the guest wrote its status to the exit device
  | 'poweroff' // PSCI SYSTEM_OFF (KVM_EXIT_SYSTEM_EVENT, SHUTDOWN)
  | 'reset' // PSCI SYSTEM_RESET (KVM_EXIT_SYSTEM_EVENT, RESET)
  | 'max-exits' // the exit limit was reached
  | 'time-limit' // the wall-clock limit was reached
  | 'guest-error' // triple fault, emulation failure, entry failure, unexpected exit
  | 'kvm-error'; // KVM_RUN failed with an errno

export interface RunResult {
  readonly backend: Backend;
  readonly arch: Arch;
  readonly end: RunEnd;
  /** The guest's exit status: the exit-device value; 0 for halt/poweroff; 1 for errors. */
  readonly status: number;
  /** One line on how the run ended. */
  readonly detail: string;
  /** Everything the guest wrote to its UART. */
  readonly console: Uint8Array;
  /** Exits in order (KVM_EXIT_INTR from the run budget left out), when recorded. */
  readonly exits: readonly string[];
  /** Exit counts by kind ("io out 0x3f8 uart16550", "hlt"...), in first-seen order. */
  readonly counts: ReadonlyMap<string, number>;
  /** Total exits handled (KVM_EXIT_INTR included). */
  readonly totalExits: number;
  /** Values the guest wrote to the result device. */
  readonly results: readonly number[];
  readonly breakpointHits: readonly BreakpointHit[];
  /** Machine and device notes for the summary (Linux boots: kernel, irqchip, device statistics). */
  readonly notes?: readonly string[];
  /** Interrupt-driven device statistics (flat/ELF guests with `irqchip: 'kernel'`). */
  readonly devices?: DeviceStats;
}

const hex = (v: bigint | number): string => '0x' + BigInt.asUintN(64, BigInt(v)).toString(16);
const bytesHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const MiB = 1 << 20;

/** Little-endian value of up to 8 bytes (as a number: devices here are at most 32 bits wide). */
function leValue(b: Uint8Array, off: number, size: number): number {
  let v = 0;
  for (let i = Math.min(size, 4) - 1; i >= 0; i--) v = v * 256 + b[off + i]!;
  return v;
}

function putLe(b: Uint8Array, off: number, size: number, v: number): void {
  for (let i = 0; i < size; i++) b[off + i] = i < 4 ? (v >>> (8 * i)) & 0xff : 0;
}

/** Builds the `Sys` for a backend; native failures keep their KvmError (ENOENT, EACCES...). */
export function makeSys(backend: Backend, arch: Arch): Sys {
  return backend === 'native' ? nativeSys() : virtualSys({ arch });
}

/** A VM built from an image, ready to run. */
export class MiniVmm {
  readonly sys: Sys;
  readonly kvm: Kvm;
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly board: Board;
  readonly memSize: number;
  readonly entry: number;
  readonly irqchip: 'none' | 'kernel';
  /** The virtio-rng transport and its ioeventfds (`virtioRng`). */
  readonly rng?: { readonly transport: VirtioMmio; readonly device: VirtioRng; readonly eventfds: VirtioEventfds; readonly irqfd: EventFd; readonly line: ReturnType<typeof irqfdLine> };
  private readonly uartLine?: ReturnType<typeof vmIrqLine>;
  private readonly input: number[];
  private readonly out: number[] = [];

  constructor(private readonly opts: MiniVmmOptions) {
    const memSize = opts.memSize ?? 16 * MiB;
    if (!Number.isSafeInteger(memSize) || memSize <= 0 || memSize % 4096) throw new Error(`guest memory must be a positive multiple of 4 KiB (got ${memSize})`);
    if ((opts.breakpoints?.length ?? 0) > MAX_BREAKPOINTS) throw new Error(`at most ${MAX_BREAKPOINTS} hardware breakpoints`);
    this.memSize = memSize;
    const sink = (b: number) => {
      this.out.push(b);
      opts.console?.(b);
    };
    const probe = loadImage(opts.image, 0);
    if (probe.arch && probe.arch !== opts.arch) throw new ImageError(`the image is an ${probe.arch} ELF, not ${opts.arch}`);
    if (opts.arch === 'arm64' && opts.x86Mode) throw new Error('an x86 entry mode was given for an arm64 guest');
    const mode: X86Mode = opts.x86Mode ?? (probe.elfClass === 32 ? 'protected' : 'long');
    this.irqchip = opts.irqchip ?? 'none';
    const kernelIrq = this.irqchip === 'kernel';
    if (opts.virtioRng && !kernelIrq) throw new Error('the virtio-rng device needs the in-kernel irqchip (--irqchip kernel)');
    if (opts.virtioRng && opts.arch === 'x86_64' && memSize > X86_BOARD.VIRTIO) throw new Error(`guest memory above 0x${X86_BOARD.VIRTIO.toString(16)} would cover the virtio-mmio window (use a smaller --mem)`);
    // The UART's line: KVM_IRQ_LINE on COM1's GSI / the PL011's SPI, once the VM exists.
    const uartLine = kernelIrq ? vmIrqLine(() => this.vm, opts.arch === 'x86_64' ? X86_BOARD.COM1_IRQ : spiIrq(ARM64_BOARD.UART_SPI)) : undefined;
    if (uartLine) this.uartLine = uartLine;
    this.input = opts.consoleInput ? Array.from(opts.consoleInput) : [];
    this.board = opts.arch === 'x86_64' ? x86Board(mode, sink, uartLine) : arm64Board(sink, uartLine);
    const image = loadImage(opts.image, opts.loadAddr ?? this.board.flatLoadAddr);
    this.entry = opts.entry ?? image.entry ?? image.segments[0]!.gpa;

    // Check the image against the memory map before touching KVM.
    const ramEnd = this.board.ramBase + memSize;
    for (const s of image.segments) {
      if (s.gpa < this.board.ramBase || s.gpa + s.memSize > ramEnd) {
        throw new ImageError(`image segment ${hex(s.gpa)}-${hex(s.gpa + s.memSize)} lies outside guest RAM ${hex(this.board.ramBase)}-${hex(ramEnd)} (use a larger --mem)`);
      }
      for (const [lo, hi] of this.board.reserved) {
        if (s.gpa < hi && lo < s.gpa + s.memSize) throw new ImageError(`image segment ${hex(s.gpa)}-${hex(s.gpa + s.memSize)} overlaps the VMM's boot tables at ${hex(lo)}-${hex(hi)}`);
      }
    }

    this.sys = opts.sys ?? makeSys(opts.backend ?? 'virtual', opts.arch);
    if (this.sys.arch !== opts.arch) throw new Error(`the ${this.sys.backend} backend here runs ${this.sys.arch} guests, not ${opts.arch}`);
    this.kvm = Kvm.open(this.sys, opts.devicePath ?? '/dev/kvm');
    this.vm = this.kvm.createVm();
    if (kernelIrq && this.vm.checkExtension(KVM_CAP.IRQCHIP) <= 0) throw new Error('this KVM has no in-kernel irqchip (KVM_CAP_IRQCHIP is 0)');
    if (opts.arch === 'x86_64') {
      this.vm.setTssAddr(X86_BOARD.TSS_ADDR);
      if (kernelIrq) this.vm.createIrqchip(); // before the vCPUs, as KVM requires
    }
    const ram = this.sys.alloc(memSize);
    this.board.prepareMemory(ram.bytes);
    for (const s of image.segments) ram.bytes.set(s.bytes, s.gpa - this.board.ramBase);
    this.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: this.board.ramBase, memorySize: memSize, userspaceAddr: ram.hva });
    this.vcpu = this.vm.createVcpu(0);
    // With a LAPIC the guest's CPUID says so (KVM_GET_SUPPORTED_CPUID, as VMMs pass it on).
    if (kernelIrq && opts.arch === 'x86_64') this.vcpu.setCpuid2(this.kvm.supportedCpuid());
    this.board.setupVcpu(this.vcpu, this.entry, memSize, opts.regs ?? {});
    if (kernelIrq && opts.arch === 'arm64') createGicV3(this.vm, 1); // after KVM_ARM_VCPU_INIT

    if (opts.virtioRng) {
      const x86 = opts.arch === 'x86_64';
      const base = x86 ? X86_BOARD.VIRTIO : ARM64_BOARD.VIRTIO;
      const irqfd = EventFd.create(this.sys);
      // The irqfd's GSI: x86 the IOAPIC pin; arm64 the SPI's pin of the default routing.
      this.vm.irqfd({ fd: irqfd, gsi: x86 ? X86_BOARD.VIRTIO_IRQ : ARM64_BOARD.VIRTIO_SPI });
      const line = irqfdLine(irqfd);
      const device = new VirtioRng(opts.entropy);
      const mem = new GuestMemory([{ gpa: this.board.ramBase, bytes: ram.bytes }]);
      const transport = this.board.mmio.add(new VirtioMmio(base, device, mem, line));
      this.rng = { transport, device, eventfds: new VirtioEventfds(this.vm, transport), irqfd, line };
    }
  }

  /**
   * The VMM's side of the devices, after every KVM_RUN return (an exit or EINTR): runs the
   * virtqueues whose ioeventfd was signalled and feeds console input as the UART has room. This
   * VMM is one thread: on the virtual backend a halted vCPU returns EINTR every `haltWaitMs`, so
   * it gets here while the guest waits; on /dev/kvm a halted vCPU stays in KVM_RUN until an
   * interrupt, so a guest there must make an exit (any UART access) after a notify it then waits on.
   */
  private service(): void {
    this.rng?.eventfds.service();
    const u = this.board.uart;
    if (this.input.length && u.acceptsInput && u.rxSpace) u.receive(this.input.splice(0, u.rxSpace));
  }

  /** Device statistics so far (interrupt-driven devices). */
  deviceStats(): DeviceStats | undefined {
    if (this.irqchip !== 'kernel') return undefined;
    const r = this.rng;
    return {
      uartIrqs: this.uartLine?.raises ?? 0,
      inputLeft: this.input.length + ('pendingInput' in this.board.uart ? this.board.uart.pendingInput : 0),
      ...(r
        ? { rng: { requests: r.device.stats.requests, bytes: r.device.stats.bytes, eventfdKicks: r.transport.kicks.eventfd, mmioKicks: r.transport.kicks.mmio, irqs: r.line.signals } }
        : {}),
    };
  }

  /** Runs the boot vCPU until the guest is done (or the exit limit). */
  run(): RunResult {
    const { opts, board, vcpu } = this;
    const maxExits = opts.maxExits ?? 1_000_000;
    const record = opts.recordExits ?? true;
    const trace = opts.trace;
    const log = new ExitLog(record, trace);
    const bps = opts.breakpoints ?? [];
    const ctx: ExitContext = {
      vcpu,
      // Exit lines are only built when someone reads them.
      describe: record || trace !== undefined,
      armed: bps.length > 0 ? board.hwBreakpoints(bps) : undefined,
      hits: [],
      ...(opts.onBreakpoint ? { onBreakpoint: opts.onBreakpoint } : {}),
    };
    if (ctx.armed) vcpu.setGuestDebug(ctx.armed.control, ctx.armed.arch);

    let stop: ExitStop = { end: 'max-exits', status: 1, detail: `stopped after ${maxExits} exits (--max-exits)` };
    const deadline = opts.timeLimitMs !== undefined ? performance.now() + opts.timeLimitMs : Infinity;
    this.service();
    while (log.total < maxExits) {
      if (performance.now() >= deadline) {
        stop = { end: 'time-limit', status: 1, detail: `stopped after ${opts.timeLimitMs} ms (--timeout)` };
        break;
      }
      let e: VcpuExit | Error;
      try {
        e = vcpu.run();
      } catch (err) {
        e = err instanceof Error ? err : new Error(String(err));
      }
      const o = handleExit(board, e, ctx);
      this.service();
      log.add(o);
      if (o.stop) {
        stop = o.stop;
        break;
      }
    }
    return {
      backend: this.sys.backend,
      arch: board.arch,
      ...stop,
      console: Uint8Array.from(this.out),
      exits: log.exits,
      counts: log.counts,
      totalExits: log.total,
      results: [...board.result.values],
      breakpointHits: ctx.hits,
      ...(this.irqchip === 'kernel' ? { devices: this.deviceStats()!, notes: this.notes() } : {}),
    };
  }

  private notes(): string[] {
    const d = this.deviceStats()!;
    const lines = [`devices: in-kernel irqchip; UART interrupts raised: ${d.uartIrqs}${d.inputLeft ? `, console input not taken: ${d.inputLeft} B` : ''}`];
    if (d.rng) lines.push(`  virtio-rng: ${d.rng.requests} requests (${d.rng.bytes} B), notified by ioeventfd ${d.rng.eventfdKicks}x and by QueueNotify exits ${d.rng.mmioKicks}x, ${d.rng.irqs} irqfd interrupts`);
    return lines;
  }

  close(): void {
    if (this.rng) {
      this.rng.eventfds.close();
      this.rng.irqfd.close();
    }
    this.vcpu.close();
    this.vm.close();
    this.kvm.close();
  }
}

/** How a run ends: what `handleExit` returns to stop the loop. */
export interface ExitStop {
  readonly end: RunEnd;
  /** The guest's exit status (see `RunResult.status`). */
  readonly status: number;
  readonly detail: string;
}

/** What the run loop keeps across exits for `handleExit`. */
export interface ExitContext {
  /** The vCPU the exit came from: read for PCs and register dumps, and re-armed for breakpoints. */
  readonly vcpu: Vcpu;
  /** Build the one-line description of each exit (`ExitOutcome.line`). */
  readonly describe: boolean;
  /** The KVM_SET_GUEST_DEBUG arguments of the armed hardware breakpoints, if any. */
  readonly armed: ReturnType<Board['hwBreakpoints']> | undefined;
  /** Breakpoint hits so far (appended to). */
  readonly hits: BreakpointHit[];
  readonly onBreakpoint?: (hit: BreakpointHit) => void;
}

/** What one exit did. */
export interface ExitOutcome {
  /** The exit-summary row it counts under; undefined when KVM_RUN failed (not an exit). */
  readonly key: string | undefined;
  /** One line describing it (built when `ctx.describe`; not for EINTR re-entries). */
  readonly line: string | undefined;
  /** Set when the run is over. */
  readonly stop?: ExitStop;
}

/** The exits a run counted, recorded and traced: RunResult's `exits`, `counts` and `totalExits`. */
export class ExitLog {
  readonly exits: string[] = [];
  readonly counts = new Map<string, number>();
  total = 0;

  constructor(
    private readonly record: boolean,
    private readonly trace: ((line: string) => void) | undefined,
  ) {}

  /** Accounts one handled exit; `prefix` goes before its line (the vCPU, when there are several). */
  add(o: ExitOutcome, prefix = ''): void {
    if (o.key !== undefined) {
      this.total++;
      this.counts.set(o.key, (this.counts.get(o.key) ?? 0) + 1);
    }
    if (o.line !== undefined) {
      const line = prefix + o.line;
      if (this.record) this.exits.push(line);
      if (this.trace) this.trace(`#${this.total} ${line}`);
    }
  }
}

/**
 * Handles one KVM_RUN result -- an exit, or the error KVM_RUN failed with -- on `board`'s
 * devices: completes IO/MMIO accesses in the exit's data bytes (for the next KVM_RUN to consume),
 * steps over breakpoints, and says whether the run is over. Pure with respect to the loop (as
 * Firecracker's `handle_kvm_exit`), so it is unit-tested with synthetic exits.
 */
export function handleExit(board: Board, exit: VcpuExit | Error, ctx: ExitContext): ExitOutcome {
  if (exit instanceof Error) {
    // EINTR: a signal (or the virtual backend's run budget): a VMM simply re-enters.
    if (isKvmError(exit, 'EINTR')) return { key: 'intr', line: undefined };
    return { key: undefined, line: undefined, stop: { end: 'kvm-error', status: 1, detail: `KVM_RUN failed: ${exit.message}` } };
  }
  const e = exit;
  const { vcpu, describe } = ctx;
  let key: string;
  let line: string;
  let stop: ExitStop | undefined;
  const fail = (detail: string): ExitStop => ({ end: 'guest-error', status: 1, detail });
  switch (e.reason) {
    case 'intr':
      // vcpu.run() returns EINTR as this exit: re-enter, as for the error above.
      return { key: 'intr', line: undefined };
    case 'io': {
      const dev = board.io.find(e.port);
      line = access('io', e.direction === 'out', e.port, e.size, e.count, e.data, dev, describe);
      key = `io ${e.direction} ${hex(e.port)} ${dev?.name ?? 'unassigned'}`;
      break;
    }
    case 'mmio': {
      const addr = Number(e.physAddr);
      const dev = board.mmio.find(addr);
      line = access('mmio', e.isWrite, addr, e.len, 1, e.data, dev, describe);
      key = `mmio ${e.isWrite ? 'write' : 'read'} ${hex(addr)} ${dev?.name ?? 'unassigned'}`;
      break;
    }
    case 'hlt':
      key = line = 'hlt';
      stop = board.onHlt ? board.onHlt(vcpu) : { end: 'halt', status: 0, detail: 'the guest halted (HLT, no interrupt source)' };
      break;
    case 'system_event': {
      const type = e.type === KVM_SYSTEM_EVENT.SHUTDOWN ? 'shutdown' : e.type === KVM_SYSTEM_EVENT.RESET ? 'reset' : `type ${e.type}`;
      key = line = `system_event ${type}`;
      if (e.type === KVM_SYSTEM_EVENT.SHUTDOWN) stop = { end: 'poweroff', status: 0, detail: 'the guest powered off (PSCI SYSTEM_OFF)' };
      else if (e.type === KVM_SYSTEM_EVENT.RESET) stop = { end: 'reset', status: 0, detail: 'the guest asked for a reset (PSCI SYSTEM_RESET)' };
      else stop = fail(`KVM_EXIT_SYSTEM_EVENT ${type}`);
      break;
    }
    case 'debug': {
      const kind = board.debugKind(vcpu, e);
      const pc = e.arch.arch === 'x86_64' ? e.arch.pc : board.pc(vcpu);
      line = `debug ${kind} ${hex(pc)}`;
      key = `debug ${kind}`;
      if (kind === 'breakpoint' && ctx.armed) {
        const hit = { addr: pc, n: ctx.hits.length + 1, regs: board.dumpRegs(vcpu) };
        ctx.hits.push(hit);
        ctx.onBreakpoint?.(hit);
        // Step over the breakpoint: one instruction with the breakpoints off, then re-arm.
        vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
      } else if (kind === 'step' && ctx.armed) {
        vcpu.setGuestDebug(ctx.armed.control, ctx.armed.arch);
      } else {
        stop = fail(`unexpected KVM_EXIT_DEBUG at ${hex(pc)}`);
      }
      break;
    }
    case 'irq_window_open':
      // The VMM asked for it (request_interrupt_window): it injects before the next KVM_RUN.
      key = line = 'irq_window_open';
      break;
    case 'shutdown':
      key = line = 'shutdown';
      stop = fail(`KVM_EXIT_SHUTDOWN (triple fault) at ${hex(board.pc(vcpu))}`);
      break;
    case 'internal_error':
      key = line = `internal_error suberror ${e.suberror}`;
      stop = fail(`KVM_EXIT_INTERNAL_ERROR, suberror ${e.suberror}${e.insnBytes ? `, instruction bytes ${bytesHex(e.insnBytes)}` : ''} at ${hex(board.pc(vcpu))}`);
      break;
    case 'fail_entry':
      line = `fail_entry ${hex(e.hardwareEntryFailureReason)}`;
      key = 'fail_entry';
      stop = fail(`KVM_EXIT_FAIL_ENTRY, hardware reason ${hex(e.hardwareEntryFailureReason)}`);
      break;
    default:
      key = line = e.reason;
      stop = fail(`unexpected exit ${e.reason} (exit_reason ${e.exitReason})`);
  }
  const req = board.stopRequest?.();
  if (req) stop = req;
  const status = board.exitDevice.status;
  if (status !== undefined) stop = { end: 'exit-device', status, detail: `the guest wrote ${status} to the exit device` };
  return stop ? { key, line, stop } : { key, line };
}

/**
 * Completes one IO or MMIO exit on `dev`: writes go to the device; reads fill the exit's data
 * bytes before the next KVM_RUN. `count` > 1 is a string IO (rep ins/outs): `size` bytes each.
 */
function access(bus: 'io' | 'mmio', write: boolean, addr: number, size: number, count: number, data: Uint8Array, dev: Device | undefined, describe: boolean): string {
  for (let i = 0; i < count; i++) {
    const off = i * size;
    if (write) dev?.write(addr - dev.base, size, leValue(data, off, size));
    else putLe(data, off, size, dev ? dev.read(addr - dev.base, size) : bus === 'io' ? 0xffffffff : 0);
  }
  const dir = bus === 'io' ? (write ? 'out' : 'in') : write ? 'write' : 'read';
  if (!describe) return '';
  return `${bus} ${dir} ${hex(addr)} ${size}${count > 1 ? `x${count}` : ''} ${write ? '' : '-> '}${bytesHex(data.subarray(0, size * count))}`;
}

/** Builds, runs and closes a VM in one call. */
export function runGuest(opts: MiniVmmOptions): RunResult {
  const vmm = new MiniVmm(opts);
  try {
    return vmm.run();
  } finally {
    vmm.close();
  }
}

/** The exit summary table printed after a run. */
export function formatSummary(r: RunResult): string {
  const rows = [...r.counts.entries()];
  const w = Math.max(10, ...rows.map(([k]) => k.length));
  const lines = [`exit summary (${r.backend} ${r.arch}): ${r.totalExits} exits`];
  for (const [k, n] of rows) lines.push(`  ${k.padEnd(w)}  ${String(n).padStart(8)}`);
  for (const v of r.results) lines.push(`  result device: ${hex(v)}`);
  for (const n of r.notes ?? []) lines.push(n);
  lines.push(`ended: ${r.detail}`);
  return lines.join('\n');
}
