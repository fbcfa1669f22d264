/**
 * Worker thread of the plumbing tests (bundled by workers.test.ts): attaches a vCPU, says it is
 * ready, then runs it until the guest stores to RESULT (an MMIO exit) or `maxRuns` exits, and
 * reports each exit with the time it came back (epoch ms, comparable across threads).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isKvmError, Vcpu, type VcpuHandle } from '../../src/index.js';

export interface PlumbingJob {
  readonly handle: VcpuHandle;
  readonly result: number;
  readonly maxRuns: number;
}

export interface PlumbingReport {
  readonly exits: { reason: string; value?: string; at: number }[];
  readonly eintr: number;
  readonly error?: string;
}

const job = workerData as PlumbingJob;
const now = () => performance.timeOrigin + performance.now();
const exits: PlumbingReport['exits'] = [];
let eintr = 0;
let error: string | undefined;
try {
  const vcpu = Vcpu.attach(job.handle);
  parentPort!.postMessage('ready');
  for (let n = 0; n < job.maxRuns; n++) {
    try {
      const e = vcpu.run();
      if (e.reason === 'intr') {
        // EINTR
        eintr++;
        exits.push({ reason: 'EINTR', at: now() });
        continue;
      }
      if (e.reason === 'mmio' && e.isWrite && e.physAddr === BigInt(job.result)) {
        exits.push({ reason: 'result', value: new DataView(e.data.buffer, e.data.byteOffset).getBigUint64(0, true).toString(), at: now() });
        break;
      }
      exits.push({ reason: e.reason, at: now() });
    } catch (err) {
      if (!isKvmError(err, 'EINTR')) throw err;
      eintr++;
      exits.push({ reason: 'EINTR', at: now() });
    }
  }
  vcpu.close();
} catch (err) {
  error = err instanceof Error ? `${err.message}\n${err.stack}` : String(err);
}
parentPort!.postMessage({ exits, eintr, ...(error ? { error } : {}) } satisfies PlumbingReport);
