/**
 * The SMP fuzzer (issue 19): worker-thread vCPUs of one VM storing into their memslots while the
 * owner, at random moments, deletes, moves, re-creates and munmaps those memslots, harvests the
 * dirty log, allocates and frees other memory, stops workers with immediate_exit and terminates
 * them at random points (also in the middle of split-locked instructions).
 *
 * Some cases' writers also store to a device on the owner's PIO/MMIO bus at every iteration
 * (forwarded to the owner's event loop, which may be busy waiting for them).
 *
 * Oracle:
 *   - no byte of a memslot's old memory changes once the owner's delete/move/munmap returned;
 *   - the dirty log of the slot that stays: a copy kept up to date by harvests while the vCPUs
 *     run, completed by a last harvest after they stopped, equals the memory (the migration
 *     recipe loses no write);
 *   - every owner call returns (at once while every worker lives; within the presumed-dead grace
 *     of a terminated worker), no live worker is given up, and every call throws
 *     nothing but KvmErrors; workers end only as the run loop allows (immediate_exit, EFAULT
 *     after a munmap, EIO once given up) or by termination;
 *   - after all that, the owner's own vCPU still gets the VM lock (x86 split `lock inc`).
 * Each case derives its generator from `(seed, index)`.
 * @module
 */
import { isKvmError, KVM_MEM, KvmError, virtualSys, type HostMemory, type Sys, type Vcpu, type Vm } from '../../src/index.js';
import { KVM_BUS } from '../../src/kernel/iobus.js';
import type { Vm as KVm } from '../../src/kernel/vm.js';
import { kernelOf } from '../../src/sys/kernel-of.js';
import { reg } from '../arm64/helpers.js';
import { guest } from '../helpers/guests.js';
import { runToExit } from '../helpers/run.js';
import { startWorker, sleep, type Started } from '../robust/harness.js';
import { arm64Vm, x86Vm } from '../smp/machines.js';
import { Findings, Tally, type Finding } from './oracle.js';
import { mixSeed, Rng } from './rng.js';

export interface SmpFuzzOptions {
  readonly seed: number;
  readonly cases: number;
  readonly firstCase?: number;
  /** Owner actions per case. Default 10. */
  readonly actions?: number;
  readonly onFinding?: (f: Finding) => void;
  /** The per-case watchdog, ms. Default CASE_LIMIT_MS. */
  readonly caseLimitMs?: number;
}

export interface SmpFuzzReport {
  readonly seed: number;
  cases: number;
  readonly actions: Tally;
  readonly workerEnds: Tally;
  readonly findings: Findings;
  /** The slowest owner call, ms (memslot changes wait for workers). */
  maxCallMs: number;
  elapsedMs: number;
}

const PAGES = 64;
const SLOT_BYTES = PAGES * 4096;
/** An owner call may wait this long for a terminated worker to be presumed gone (ACK_GRACE_MS + slack). */
const CALL_LIMIT_MS = 8000;
/** ... and this long while every worker lives (they acknowledge at their next block, or are waiting on us). */
const LIVE_CALL_LIMIT_MS = 2500;
/** A whole case (10 actions, each bounded by the limits above, on a loaded 2-core machine). */
const CASE_LIMIT_MS = 120_000;
/** The arm64 writer-io's device register (x4). */
const DEVICE_MMIO = 0x0900_1000;

interface Slot {
  readonly id: number;
  gpa: number;
  mem: HostMemory;
  plugged: boolean;
  readonly logged: boolean;
}

interface Runner {
  readonly vcpu: Vcpu;
  worker: Started | null;
  terminated: boolean;
  /** A terminated worker's end (the owner hears of it from its channel's close event, later). */
  ended?: Promise<number>;
}

export async function fuzzSmp(opts: SmpFuzzOptions): Promise<SmpFuzzReport> {
  const report: SmpFuzzReport = { seed: opts.seed, cases: 0, actions: new Tally(), workerEnds: new Tally(), findings: new Findings(), maxCallMs: 0, elapsedMs: 0 };
  const t0 = performance.now();
  for (let k = 0; k < opts.cases; k++) {
    const index = (opts.firstCase ?? 0) + k;
    // A per-case watchdog: a case that never ends (a worker and the owner waiting on each other)
    // is a finding naming its seed and index, not a test hanging until CI's own timeout.
    const live = new Set<Started>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = await Promise.race([
      runCase(new Rng(mixSeed(opts.seed, index)), index, opts, report, live).then(() => false),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(true), opts.caseLimitMs ?? CASE_LIMIT_MS))),
    ]);
    clearTimeout(timer);
    if (hung) {
      const f: Finding = { kind: 'hang', seed: opts.seed, index, step: -1, what: 'case', detail: `did not end within ${opts.caseLimitMs ?? CASE_LIMIT_MS} ms (replay: FUZZ_SEED=${opts.seed} firstCase ${index})` };
      report.findings.add(f);
      opts.onFinding?.(f);
      await Promise.all([...live].map((w) => w.worker.terminate()));
      break; // its owner calls may still be pending: the next cases would not be independent
    }
    report.cases++;
  }
  report.elapsedMs = performance.now() - t0;
  return report;
}

async function runCase(rng: Rng, index: number, opts: SmpFuzzOptions, report: SmpFuzzReport, live: Set<Started>): Promise<void> {
  let step = 0;
  const found = (kind: Finding['kind'], what: string, detail: string) => {
    const f: Finding = { kind, seed: opts.seed, index, step, what, detail };
    report.findings.add(f);
    opts.onFinding?.(f);
  };
  const arch = rng.chance(0.6) ? 'x86_64' : 'arm64';
  const sys: Sys = virtualSys({ arch });
  const nWriters = rng.range(1, 2);
  // Sometimes the writers also reach a device of the owner's buses at every store: each such
  // access is forwarded to the owner's event loop while the owner may be waiting for them.
  const withDevice = rng.chance(0.4);
  const program = withDevice ? 'writer-io' : 'writer';
  const m = arch === 'x86_64' ? x86Vm(sys, guest(`x86/robust/${program}.bin`), nWriters + 1) : arm64Vm(sys, guest(`arm64/robust/${program}.bin`), nWriters);
  const vm: Vm = m.vm;
  if (withDevice) {
    const kvm = (kernelOf(sys)!.file(vm.fd) as { vm: KVm }).vm;
    if (arch === 'x86_64') kvm.buses[KVM_BUS.PIO]!.register(0x80, 1, { write: () => true });
    else kvm.buses[KVM_BUS.MMIO]!.register(DEVICE_MMIO, 4, { write: () => true });
  }
  /** No worker was terminated (so none may be given up, and no owner call may wait long). */
  let noneTerminated = true;
  const slotBase = arch === 'x86_64' ? 0x30_0000 : 0x4100_0000;
  // Slot 1 keeps dirty logging and is never removed (the migration check); slots 2.. are fuzzed.
  const slots: Slot[] = Array.from({ length: nWriters + 1 }, (_, i) => ({ id: i + 1, gpa: slotBase + i * 0x10_0000, mem: sys.alloc(SLOT_BYTES), plugged: false, logged: i === 0 }));
  /** Old memory that must stay as it was when the call returned: [what, bytes, snapshot]. */
  const watched: [string, Uint8Array, Uint8Array][] = [];
  const call = <T>(what: string, f: () => T): T | undefined => {
    const t = performance.now();
    try {
      return f();
    } catch (e) {
      if (!(e instanceof KvmError)) found('escape', what, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      return undefined;
    } finally {
      const ms = performance.now() - t;
      if (ms > report.maxCallMs) report.maxCallMs = ms;
      if (ms > (noneTerminated ? LIVE_CALL_LIMIT_MS : CALL_LIMIT_MS)) found('hang', what, `${ms.toFixed(0)} ms${noneTerminated ? ' with every worker alive' : ''}`);
    }
  };
  const plug = (s: Slot) => {
    if (call(`plug slot ${s.id}`, () => vm.setUserMemoryRegion({ slot: s.id, flags: s.logged ? KVM_MEM.LOG_DIRTY_PAGES : 0, guestPhysAddr: s.gpa, memorySize: SLOT_BYTES, userspaceAddr: s.mem.hva })) !== undefined) s.plugged = true;
  };
  slots.forEach(plug);
  const dest = new Uint8Array(SLOT_BYTES);
  const harvest = () => {
    const bits = call('KVM_GET_DIRTY_LOG(1)', () => vm.getDirtyLog(1, PAGES));
    if (!bits) return;
    for (let p = 0; p < PAGES; p++) if ((bits[p >> 3]! >> (p & 7)) & 1) dest.set(slots[0]!.mem.bytes.subarray(p * 4096, (p + 1) * 4096), p * 4096);
  };
  harvest();

  // Writers: vCPU i stores into slot i+1 (vCPU 0 into the logged slot).
  const runners: Runner[] = [];
  for (let i = 0; i < nWriters; i++) {
    const v = m.vcpus[i]!;
    const base = BigInt(slots[i]!.gpa);
    if (arch === 'x86_64') v.setRegs({ rbx: base, rcx: BigInt(rng.int(1000)) });
    else {
      v.setOneReg(reg.x(1), base);
      v.setOneReg(reg.x(2), BigInt(rng.int(1000)));
      v.setOneReg(reg.x(4), BigInt(DEVICE_MMIO));
    }
    runners.push({ vcpu: v, worker: null, terminated: false });
  }
  const start = async (r: Runner) => {
    if (r.worker || r.terminated) return;
    r.vcpu.kvmRun.immediate_exit = 0;
    const h = call('exportVcpu', () => r.vcpu.export());
    if (h) {
      r.worker = await startWorker(h, 'run');
      live.add(r.worker);
    }
  };
  const stop = async (r: Runner) => {
    if (!r.worker) return;
    r.vcpu.kvmRun.immediate_exit = 1;
    const rep = await r.worker.next('report').catch(() => undefined);
    await r.worker.ended;
    r.worker = null;
    const end = rep && rep.type === 'report' ? rep.end : 'no report';
    report.workerEnds.add(end);
    if (!['immediate_exit', 'EFAULT', 'EIO'].includes(end)) found('escape', `worker of vCPU ${r.vcpu.id}`, `ended with ${end}`);
    else if (end === 'EIO' && noneTerminated) found('errno', `worker of vCPU ${r.vcpu.id}`, 'given up (EIO) though no worker was terminated');
  };
  for (const r of runners) await start(r);
  await sleep(rng.int(30));

  const nActions = opts.actions ?? 10;
  for (step = 0; step < nActions; step++) {
    const s = rng.pick(slots.slice(1).length ? slots.slice(1) : slots);
    const act = rng.weighted<string>([
      [s.logged ? 0 : 3, 'delete'],
      [s.logged ? 0 : 2, 'move'],
      [s.logged ? 0 : 2, 'munmap'],
      [3, 'replug'],
      [4, 'harvest'],
      [2, 'alloc-free'],
      [2, 'stop-start'],
      [1, 'terminate'],
      [2, 'sleep'],
    ]);
    report.actions.add(act);
    switch (act) {
      case 'delete':
        if (!s.plugged) break;
        if (call(`delete slot ${s.id}`, () => vm.setUserMemoryRegion({ slot: s.id, guestPhysAddr: s.gpa, memorySize: 0, userspaceAddr: s.mem.hva })) !== undefined) {
          s.plugged = false;
          watched.push([`slot ${s.id} after delete (step ${step})`, s.mem.bytes, s.mem.bytes.slice()]);
          s.mem = sys.alloc(SLOT_BYTES);
        }
        break;
      case 'move': {
        if (!s.plugged) break;
        const to = s.gpa + (rng.chance(0.5) ? 0x8_0000 : -0x8_0000);
        if (call(`move slot ${s.id}`, () => vm.setUserMemoryRegion({ slot: s.id, guestPhysAddr: to, memorySize: SLOT_BYTES, userspaceAddr: s.mem.hva })) !== undefined) {
          s.gpa = to;
          // The guest stores to the old gpa only: the memory must not change any more.
          watched.push([`slot ${s.id} after move (step ${step})`, s.mem.bytes, s.mem.bytes.slice()]);
        }
        break;
      }
      case 'munmap': {
        const old = s.mem.bytes;
        if (call(`munmap slot ${s.id}`, () => sys.munmap(old)) !== undefined || true) {
          // Bytes carved out of the process's wasm memory are handed to a later mapping (zeroed), as
          // Linux reuses an unmapped range: only a mapping's own buffer can be watched after munmap.
          if (old.byteOffset === 0 && old.buffer.byteLength === old.length) watched.push([`slot ${s.id} after munmap (step ${step})`, old, old.slice()]);
          if (s.plugged) call(`delete slot ${s.id} (unmapped)`, () => vm.setUserMemoryRegion({ slot: s.id, guestPhysAddr: s.gpa, memorySize: 0, userspaceAddr: s.mem.hva }));
          s.plugged = false;
          s.mem = sys.alloc(SLOT_BYTES);
        }
        break;
      }
      case 'replug':
        if (!s.plugged) {
          s.gpa = slotBase + (s.id - 1) * 0x10_0000;
          plug(s);
        }
        break;
      case 'harvest':
        harvest();
        break;
      case 'alloc-free': {
        const x = call('alloc', () => sys.alloc(rng.range(1, 64) * 4096));
        if (x) call('munmap', () => sys.munmap(x.bytes));
        break;
      }
      case 'stop-start': {
        const r = rng.pick(runners);
        await stop(r);
        await start(r);
        break;
      }
      case 'terminate': {
        const r = rng.pick(runners);
        if (!r.worker) break;
        const w = r.worker;
        r.worker = null;
        r.terminated = true;
        r.ended = w.ended;
        noneTerminated = false;
        report.workerEnds.add('terminated');
        if (rng.chance(0.5)) await w.worker.terminate();
        else void w.worker.terminate(); // and go on at once: the owner has not heard of it yet
        break;
      }
      default:
        await sleep(rng.int(20));
    }
    if (rng.chance(0.5)) await sleep(rng.int(10));
  }
  // Stop everything; the last harvest completes the copy of slot 1.
  for (const r of runners) await stop(r);
  harvest();
  const logged = slots[0]!;
  if (runners[0] && !runners[0].terminated) {
    const lost: number[] = [];
    for (let p = 0; p < PAGES; p++) if (Buffer.compare(dest.subarray(p * 4096, (p + 1) * 4096), logged.mem.bytes.subarray(p * 4096, (p + 1) * 4096)) !== 0) lost.push(p);
    if (lost.length) found('stale', 'dirty log of slot 1', `pages changed but not reported dirty: ${lost.join(', ')}`);
  }
  for (const [what, bytes, snap] of watched) {
    const at = bytes.findIndex((b, i) => b !== snap[i]);
    if (at >= 0) found('stale', what, `byte ${at} changed after the call returned`);
  }
  // The VM lock: the owner's own vCPU does split-locked increments (x86).
  if (arch === 'x86_64') {
    const v = m.vcpus[nWriters]!;
    const ram = (m as { ram: HostMemory }).ram;
    v.setRegs({ rip: 0x8000n, rbx: 0x2_0ffen, rdi: 2000n });
    ram.bytes.set(guest('x86/robust/splitlock.bin'), 0x8000 + 0x100);
    v.setRegs({ rip: 0x8100n });
    const t = performance.now();
    const e = call('split-locked increments in the owner', () => runToExit(v));
    if (e && e.reason !== 'hlt') found('exit', 'split-locked increments in the owner', `ended with ${e.reason}`);
    if (performance.now() - t > CALL_LIMIT_MS) found('hang', 'VM lock', 'the owner waited too long for the VM lock');
  }
  for (const r of runners) if (!r.terminated) call(`getRegs vCPU ${r.vcpu.id}`, () => r.vcpu.getRegs());
  // The owner learns of a termination from the worker's channel closing, once its event loop runs.
  for (const r of runners) if (r.ended) await r.ended;
  if (!noneTerminated) await sleep(50);
  for (const r of runners) if (r.terminated && !isKvmError(catching(() => r.vcpu.getRegs()), 'EIO')) found('errno', `vCPU ${r.vcpu.id} after its worker was terminated`, 'expected EIO');
}

function catching(f: () => unknown): unknown {
  try {
    f();
    return undefined;
  } catch (e) {
    return e;
  }
}
