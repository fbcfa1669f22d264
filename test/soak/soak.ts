/**
 * The soak (issue 19): many VM / vCPU / memslot create-run-close cycles on one `virtualSys()` per
 * arch, every `workerEvery`-th cycle with its vCPU exported to a pool of worker threads (attach,
 * run, hand back), and checks that nothing grows: the process's address space (exactly flat:
 * munmap gives it back), its open fds (exactly back to where they were), no VM lock left held,
 * and the RSS and JS heap after a full GC within a bound. Figures print at every tenth.
 * `soak.test.ts` runs a CI-sized portion; `npm run soak` the full 10^5 cycles (or `--cycles N`).
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { Kvm, vcpuHandleTransferList, virtualSys, type Sys, type Vcpu } from '../../src/index.js';
import { kernelOf } from '../../src/sys/virtual.js';
import { coreRegId } from '../../src/uapi/arm64.js';
import { runToExit } from '../helpers/run.js';
import { enterMode } from '../helpers/x86.js';

export interface SoakOptions {
  readonly cycles: number;
  /** Every n-th cycle runs its vCPU on a worker thread. Default 50. */
  readonly workerEvery?: number;
  /** Worker threads in the pool. Default 2. */
  readonly workers?: number;
  readonly log?: (line: string) => void;
}

export interface SoakSample {
  readonly cycle: number;
  readonly ms: number;
  readonly rssMiB: number;
  readonly heapMiB: number;
  /** Address space in use (bytes mapped, top of the space) per arch's Sys. */
  readonly space: { mapped: number; top: number }[];
  readonly fds: number[];
}

export interface SoakReport {
  readonly cycles: number;
  readonly onWorkers: number;
  readonly samples: SoakSample[];
  /** Cycles whose run did not end as expected, or whose VM lock was held at close. */
  readonly problems: string[];
  readonly ms: number;
}

const gc = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Real mode at 0x1000: `mov cx,100; loop $; hlt`. */
const X86_GUEST = [0xb9, 0x64, 0x00, 0xe2, 0xfe, 0xf4];
/** arm64 at 0x4000_0000: `mov x1,#0x09000000; str x0,[x1]` (an MMIO write exit). */
const ARM_GUEST = new Uint8Array(new Uint32Array([0xd2a1_2001, 0xf900_0020]).buffer);
const ARM_RAM = 0x4000_0000;

let bundled: Promise<{ file: string; dir: string }> | undefined;
function poolScript(): Promise<{ file: string; dir: string }> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    const dir = mkdtempSync(join(tmpdir(), 'vkvm-soak-'));
    const file = join(dir, 'pool-worker.mjs');
    await build({ entryPoints: [fileURLToPath(new URL('./pool-worker.ts', import.meta.url))], outfile: file, bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['koffi'], logLevel: 'silent' });
    return { file, dir };
  })();
  return bundled;
}

export async function soak(opts: SoakOptions): Promise<SoakReport> {
  const t0 = performance.now();
  const every = opts.workerEvery ?? 50;
  const { file, dir } = await poolScript();
  const pool = Array.from({ length: opts.workers ?? 2 }, () => new Worker(file));
  const pending = new Map<number, (end: string) => void>();
  /** The JS heap of each pool worker, as it last said. */
  const workerHeap = pool.map(() => 0);
  pool.forEach((w, i) =>
    w.on('message', (m: { id: number; end: string; heapMiB: number }) => {
      workerHeap[i] = m.heapMiB;
      pending.get(m.id)?.(m.end);
    }),
  );
  const systems: Sys[] = [virtualSys({ arch: 'x86_64' }), virtualSys({ arch: 'arm64' })];
  const kvms = systems.map((s) => Kvm.open(s));
  const problems: string[] = [];
  const samples: SoakSample[] = [];
  let onWorkers = 0;
  let id = 0;
  const sample = async (cycle: number) => {
    // Full GCs in the workers and here: the figures are what is still referenced.
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<string>((res) => {
            const my = id++;
            pending.set(my, res);
            w.postMessage({ id: my });
          }),
      ),
    );
    gc();
    const mu = process.memoryUsage();
    const s: SoakSample = {
      cycle,
      ms: performance.now() - t0,
      rssMiB: mu.rss / 2 ** 20,
      heapMiB: mu.heapUsed / 2 ** 20,
      space: systems.map((x) => {
        const e = kernelOf(x)!.space.extent();
        return { mapped: e.mapped, top: e.top };
      }),
      fds: systems.map((x) => kernelOf(x)!.nfiles),
    };
    samples.push(s);
    opts.log?.(
      `[soak] cycle ${cycle}: ${(s.ms / 1000).toFixed(1)} s, RSS ${s.rssMiB.toFixed(1)} MiB, heap ${s.heapMiB.toFixed(1)} MiB, ` +
        `workers' heaps ${workerHeap.map((h) => h.toFixed(1)).join(' + ')} MiB, address space ${s.space.map((x) => `${(x.mapped / 2 ** 20).toFixed(2)}/${(x.top / 2 ** 20).toFixed(2)} MiB`).join(' + ')} (mapped/top), fds ${s.fds.join(' + ')}, on workers ${onWorkers}`,
    );
  };
  try {
    for (let cycle = 0; cycle < opts.cycles; cycle++) {
      if (cycle % Math.max(1, Math.floor(opts.cycles / 10)) === 0) await sample(cycle);
      const arm = cycle % 4 === 3;
      const sys = systems[arm ? 1 : 0]!;
      const vm = kvms[arm ? 1 : 0]!.createVm();
      const ram = sys.alloc(0x1_0000);
      vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: arm ? ARM_RAM : 0, memorySize: 0x1_0000, userspaceAddr: ram.hva });
      const vcpu: Vcpu = vm.createVcpu(0);
      if (arm) {
        ram.bytes.set(ARM_GUEST);
        vcpu.armInit([]);
        vcpu.setOneReg(coreRegId('regs.pc'), ARM_RAM);
      } else {
        ram.bytes.set(X86_GUEST, 0x1000);
        enterMode(vcpu, 'real');
        vcpu.setRegs({ rip: 0x1000n, rflags: 2n });
      }
      const want = arm ? 'mmio' : 'hlt';
      let end: string;
      if (cycle % every === every - 1) {
        const handle = vcpu.export();
        const w = pool[onWorkers % pool.length]!;
        onWorkers++;
        const my = id++;
        end = await new Promise<string>((res) => {
          pending.set(my, res);
          w.postMessage({ id: my, handle }, vcpuHandleTransferList(handle));
        });
        pending.delete(my);
      } else {
        try {
          end = runToExit(vcpu).reason;
        } catch (e) {
          end = String(e);
        }
      }
      if (end !== want) problems.push(`cycle ${cycle}: ${end}, expected ${want}`);
      const k = kernelOf(sys)!.file(vm.fd);
      if (k?.kind === 'vm' && Atomics.load(k.vm.atomicLock, 0) !== 0) problems.push(`cycle ${cycle}: VM lock held at close`);
      vcpu.close();
      vm.close();
      sys.munmap(ram.bytes);
    }
    await sample(opts.cycles);
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
    rmSync(dir, { recursive: true, force: true });
    bundled = undefined;
  }
  return { cycles: opts.cycles, onWorkers, samples, problems, ms: performance.now() - t0 };
}
