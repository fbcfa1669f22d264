/**
 * A worker thread of the interrupt tests: attaches one vCPU of the "virt" board (gic-board.ts) and
 * runs it, keeping the bytes it writes to the PL011's data register, until the guest's system
 * event or, after an EINTR, the owner's stop word. Bundled by irq-workers.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Vcpu, type VcpuHandle } from '../../src/index.js';

export interface IrqWorkerJob {
  readonly handle: VcpuHandle;
  /** [0] != 0: stop at the next EINTR. */
  readonly stop: Int32Array;
}

export interface IrqWorkerReport {
  readonly out: string;
  readonly exits: string[];
  readonly eintr: number;
  readonly error?: string;
}

const job = workerData as IrqWorkerJob;
let out = '';
const exits: string[] = [];
let eintr = 0;
let error: string | undefined;
try {
  const vcpu = Vcpu.attach(job.handle);
  for (;;) {
    const e = vcpu.run();
    if (e.reason === 'intr') {
      // EINTR
      eintr++;
      if (Atomics.load(job.stop, 0) !== 0) break;
      continue;
    }
    if (e.reason === 'mmio') {
      const a = Number(e.physAddr);
      if (e.isWrite && a === 0x0900_0000) out += String.fromCharCode(e.data[0]!);
      else if (!e.isWrite) e.data.fill(0);
      continue;
    }
    exits.push(e.reason);
    if (e.reason === 'system_event') break;
  }
  vcpu.close();
} catch (err) {
  error = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err);
}
parentPort!.postMessage({ out, exits, eintr, ...(error ? { error } : {}) } satisfies IrqWorkerReport);
