/**
 * Booting Linux: builds the VM for an arch's machine (machine-x86.ts, machine-arm64.ts), then runs
 * its vCPUs -- round-robin on this thread (`run`), or each on its own worker thread (`runAsync`,
 * the SMP way: the secondaries come up through the in-kernel LAPIC's INIT/SIPI or PSCI CPU_ON while
 * the others run) -- until the guest powers off, resets, or a limit is hit.
 * Each exit goes through the same `handleExit` as the mini-VMM's flat guests. With the VMM's own
 * interrupt controller the loop also drives the timers and injects interrupts between runs, and
 * sleeps while every vCPU is halted (KVM_EXIT_HLT) until the next timer event.
 * @module
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isKvmError, Kvm, KVM_CAP, nativeSys, vcpuHandleTransferList, virtualSys, type Sys, type VcpuExit } from '../../index.js';
import { GuestMemory } from '../memory.js';
import { ExitLog, handleExit, type ExitContext, type ExitStop, type RunResult } from '../vmm.js';
import { buildArm64Linux } from './machine-arm64.js';
import { buildX86Linux } from './machine-x86.js';
import { CTRL, type IrqchipMode, type LinuxMachine, type LinuxVmOptions, type VcpuWorkerData, type VcpuWorkerMessage } from './machine.js';

export type { LinuxVmOptions, IrqchipMode } from './machine.js';

const MiB = 1 << 20;

/** A booted-to-be Linux VM. */
export class LinuxVm {
  readonly sys: Sys;
  readonly kvm: Kvm;
  readonly vm: ReturnType<Kvm['createVm']>;
  readonly machine: LinuxMachine;
  readonly memSize: number;
  private readonly out: number[] = [];
  readonly mem = new GuestMemory();
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));

  constructor(readonly opts: LinuxVmOptions) {
    const memSize = opts.memSize ?? 256 * MiB;
    if (!Number.isSafeInteger(memSize) || memSize < 16 * MiB || memSize % (2 * MiB)) throw new Error(`guest memory must be a multiple of 2 MiB and at least 16 MiB (got ${memSize})`);
    const cpus = opts.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) throw new Error(`--cpus must be 1-64 (got ${cpus})`);
    this.memSize = memSize;
    this.sys =
      opts.sys ??
      (opts.backend === 'native'
        ? nativeSys()
        : virtualSys({ arch: opts.arch, ...(opts.jit !== undefined ? { jit: opts.jit } : {}), ...(opts.clock ? { clock: opts.clock } : {}), runBudget: opts.runBudget ?? 50_000 }));
    if (this.sys.arch !== opts.arch) throw new Error(`the ${this.sys.backend} backend here runs ${this.sys.arch} guests, not ${opts.arch}`);
    this.kvm = Kvm.open(this.sys, opts.devicePath ?? '/dev/kvm');
    this.vm = this.kvm.createVm();
    const irqchip = resolveIrqchip(opts, this.vm.checkExtension(KVM_CAP.IRQCHIP) > 0);
    const sink = (b: number) => {
      this.out.push(b);
      opts.console?.(b);
    };
    let slot = 0;
    const ctx = {
      opts,
      sys: this.sys,
      kvm: this.kvm,
      vm: this.vm,
      memSize,
      cpus,
      irqchip,
      mem: this.mem,
      sink,
      addRam: (gpa: number, size: number) => {
        const ram = this.sys.alloc(size);
        this.vm.setUserMemoryRegion({ slot: slot++, guestPhysAddr: gpa, memorySize: size, userspaceAddr: ram.hva });
        this.mem.add({ gpa, bytes: ram.bytes });
      },
    };
    this.machine = opts.arch === 'x86_64' ? buildX86Linux(ctx) : buildArm64Linux(ctx);
  }

  /** Runs until the guest is done or a limit is reached. */
  run(): RunResult {
    const { opts, machine } = this;
    const { board, vcpus } = machine;
    const maxExits = opts.maxExits ?? Infinity;
    const deadline = opts.timeLimitMs !== undefined ? performance.now() + opts.timeLimitMs : Infinity;
    const record = opts.recordExits ?? false;
    const trace = opts.trace;
    const log = new ExitLog(record, trace);
    const ctxs: ExitContext[] = vcpus.map((vcpu) => ({ vcpu, describe: record || trace !== undefined, armed: undefined, hits: [] }));
    const halted = vcpus.map(() => false);
    let stop: ExitStop | undefined;
    outer: while (!stop) {
      if (log.total >= maxExits) {
        stop = { end: 'max-exits', status: 1, detail: `stopped after ${log.total} exits (--max-exits)` };
        break;
      }
      if (performance.now() >= deadline) {
        stop = { end: 'time-limit', status: 1, detail: `stopped after ${opts.timeLimitMs} ms (time limit)` };
        break;
      }
      machine.tick();
      let ran = false;
      for (let i = 0; i < vcpus.length; i++) {
        if (halted[i]) {
          if (!machine.wakeable(i)) continue;
          halted[i] = false;
        }
        machine.beforeRun(i);
        let e: VcpuExit | Error;
        try {
          e = vcpus[i]!.run();
        } catch (err) {
          e = err instanceof Error ? err : new Error(String(err));
        }
        ran = true;
        const o = handleExit(board, e, ctxs[i]!);
        log.add(o, vcpus.length > 1 ? `cpu${i} ` : '');
        if (o.stop) {
          stop = o.stop;
          break outer;
        }
        if (!(e instanceof Error) && e.reason === 'hlt') halted[i] = true;
      }
      if (!ran) {
        // Every vCPU is halted: sleep until the VMM's next timer event (bounded, to poll input).
        const ns = Math.min(machine.nsUntilEvent(), 20e6, (deadline - performance.now()) * 1e6);
        if (ns > 0) Atomics.wait(this.sleeper, 0, 0, ns / 1e6);
      }
    }
    return {
      backend: this.sys.backend,
      arch: opts.arch,
      ...stop,
      console: Uint8Array.from(this.out),
      exits: log.exits,
      counts: log.counts,
      totalExits: log.total,
      results: [...board.result.values],
      breakpointHits: [],
      notes: machine.describe(),
    };
  }

  /**
   * Runs with every vCPU on its own worker thread (src/vmm/linux/vcpu-worker.ts), as a VMM runs a
   * thread per vCPU; this thread keeps the devices and the VM, and its event loop completes the
   * exits the workers hand it (and serves their forwarded calls), so it must not be blocked
   * meanwhile. Needs the in-kernel irqchip when there is more than one vCPU (as `run`).
   * `workerScript`: the built worker (default: `vcpuWorkerScript()`).
   */
  async runAsync(workerScript?: string | URL): Promise<RunResult> {
    const script = workerScript ?? (await vcpuWorkerScript());
    const { opts, machine } = this;
    const { board, vcpus } = machine;
    const maxExits = opts.maxExits ?? Infinity;
    const record = opts.recordExits ?? false;
    const trace = opts.trace;
    const log = new ExitLog(record, trace);
    let stop: ExitStop | undefined;
    const ctrls = vcpus.map(() => new Int32Array(new SharedArrayBuffer(8)));
    // What the workers report of the PC with an exit that names it (their registers are theirs).
    const pcs = vcpus.map(() => -1n);
    const boards = pcs.map((_, i) => ({ ...board, pc: () => pcs[i]! }));
    const ctxs: ExitContext[] = vcpus.map((vcpu) => ({ vcpu, describe: record || trace !== undefined, armed: undefined, hits: [] }));
    const finish = (s: ExitStop) => {
      stop ??= s;
      for (let i = 0; i < vcpus.length; i++) {
        Atomics.store(ctrls[i]!, CTRL.STOP, 1);
        Atomics.notify(ctrls[i]!, CTRL.PENDING);
        vcpus[i]!.kvmRun.immediate_exit = 1; // the shared kvm_run: KVM_RUN returns EINTR
      }
    };
    const release = (i: number) => {
      Atomics.store(ctrls[i]!, CTRL.PENDING, 0);
      Atomics.notify(ctrls[i]!, CTRL.PENDING);
    };
    const onExit = (i: number, m: Extract<VcpuWorkerMessage, { kind: 'exit' }>) => {
      if (stop) return release(i);
      if (m.pc !== undefined) pcs[i] = BigInt(m.pc);
      let e: VcpuExit | Error;
      try {
        e = vcpus[i]!.exit(); // decoded from the kvm_run the worker shares
      } catch (err) {
        e = err instanceof Error ? err : new Error(String(err));
      }
      let o: ReturnType<typeof handleExit>;
      try {
        o = handleExit(boards[i]!, e, ctxs[i]!);
      } catch (err) {
        // An exit this thread cannot complete for an attached vCPU (its registers are the worker's).
        o = { key: undefined, line: undefined, stop: { end: 'kvm-error', status: 1, detail: `vCPU ${i}: ${err instanceof Error ? err.message : String(err)}` } };
      }
      log.add(o, vcpus.length > 1 ? `cpu${i} ` : '');
      if (o.stop) finish(o.stop);
      else if (log.total >= maxExits) finish({ end: 'max-exits', status: 1, detail: `stopped after ${log.total} exits (--max-exits)` });
      machine.tick();
      release(i);
    };
    let intr = 0;
    await new Promise<void>((resolve) => {
      let live = vcpus.length;
      const ticker = setInterval(() => machine.tick(), 2);
      const limit = opts.timeLimitMs !== undefined ? setTimeout(() => finish({ end: 'time-limit', status: 1, detail: `stopped after ${opts.timeLimitMs} ms (time limit)` }), opts.timeLimitMs) : undefined;
      vcpus.forEach((vcpu, i) => {
        const handle = vcpu.export();
        const data: VcpuWorkerData = { handle, arch: opts.arch, ctrl: ctrls[i]!.buffer as SharedArrayBuffer };
        const w = new Worker(script, { workerData: data, transferList: vcpuHandleTransferList(handle) });
        w.on('message', (m: VcpuWorkerMessage) => {
          if (m.kind === 'exit') onExit(i, m);
          else if (m.kind === 'error') finish({ end: 'kvm-error', status: 1, detail: `vCPU ${i}: ${m.message}` });
          else intr += m.intr;
        });
        w.on('error', (err) => finish({ end: 'kvm-error', status: 1, detail: `vCPU ${i} thread: ${err.message}` }));
        w.on('exit', () => {
          // A thread that ends before the guest is done takes its vCPU with it: stop the others.
          if (!stop) finish({ end: 'kvm-error', status: 1, detail: `vCPU ${i} thread ended` });
          if (--live === 0) {
            clearInterval(ticker);
            if (limit) clearTimeout(limit);
            resolve();
          }
        });
      });
    });
    for (const v of vcpus) v.kvmRun.immediate_exit = 0;
    if (intr) log.counts.set('intr', intr);
    return {
      backend: this.sys.backend,
      arch: opts.arch,
      ...stop!,
      console: Uint8Array.from(this.out),
      exits: log.exits,
      counts: log.counts,
      totalExits: log.total,
      results: [...board.result.values],
      breakpointHits: [],
      notes: [...machine.describe(), `  vCPUs on ${vcpus.length} worker threads`],
    };
  }

  close(): void {
    this.machine.close();
    for (const v of this.machine.vcpus) v.close();
    this.vm.close();
    this.kvm.close();
  }
}

function resolveIrqchip(opts: LinuxVmOptions, hasKernel: boolean): IrqchipMode {
  const want = opts.irqchip ?? 'auto';
  if (want !== 'auto') {
    if (want === 'kernel' && !hasKernel) throw new Error('this KVM has no in-kernel irqchip (KVM_CAP_IRQCHIP is 0)');
    return want;
  }
  if (hasKernel) return 'kernel';
  return opts.arch === 'x86_64' ? 'userspace' : 'none';
}

/** Builds, boots on worker threads (`LinuxVm.runAsync`) and closes a Linux VM in one call. */
export async function bootLinuxAsync(opts: LinuxVmOptions, workerScript?: string | URL): Promise<RunResult> {
  const vm = new LinuxVm(opts);
  try {
    return await vm.runAsync(workerScript);
  } finally {
    vm.close();
  }
}

let bundled: Promise<string> | undefined;

/**
 * The vCPU thread's script: `linux-vcpu-worker.js` beside the built library (dist); run from the
 * TypeScript sources (tests, tsx), vcpu-worker.ts bundled once with esbuild (a dev dependency)
 * into a temporary directory.
 */
export function vcpuWorkerScript(): Promise<string> {
  const built = fileURLToPath(new URL('./linux-vcpu-worker.js', import.meta.url));
  if (existsSync(built)) return Promise.resolve(built);
  bundled ??= (async () => {
    const source = fileURLToPath(new URL('./vcpu-worker.ts', import.meta.url));
    if (!existsSync(source)) throw new Error(`the vCPU worker script is missing (looked for ${built})`);
    const { build } = await import('esbuild');
    const dir = mkdtempSync(join(tmpdir(), 'vkvm-linux-worker-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'linux-vcpu-worker.mjs');
    await build({ entryPoints: [source], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['koffi'], logLevel: 'silent' });
    return out;
  })();
  return bundled;
}

/** Builds, boots and closes a Linux VM in one call. */
export function bootLinux(opts: LinuxVmOptions): RunResult {
  const vm = new LinuxVm(opts);
  try {
    return vm.run();
  } finally {
    vm.close();
  }
}

/** True when `e` is an error the VMM reports as a usage problem (bad image, options). */
export function isSetupError(e: unknown): boolean {
  return e instanceof Error && !isKvmError(e);
}
