/**
 * A long-lived worker of the soak test: for each vCPU handle it is sent, attaches it, runs it to
 * HLT (or the arm64 exit), hands it back and says so; a message without a handle asks for a
 * full GC (before the soak measures). Bundled by soak.ts.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { isKvmError, Vcpu, type VcpuHandle } from '../../src/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

parentPort!.on('message', (m: { id: number; handle?: VcpuHandle }) => {
  if (!m.handle) {
    // Before the soak measures the process: a full GC here too, so what is measured is what is
    // still referenced (a worker's isolate collects the shared buffers it received lazily).
    gc();
    parentPort!.postMessage({ id: m.id, end: 'gc', heapMiB: process.memoryUsage().heapUsed / 2 ** 20 });
    return;
  }
  let end = 'none';
  try {
    const vcpu = Vcpu.attach(m.handle);
    for (let n = 0; n < 1000; n++) {
      try {
        const e = vcpu.run();
        // vcpu.run() returns EINTR (the run time limit under load) as 'intr': run again.
        if (e.reason === 'intr' && !vcpu.kvmRun.immediate_exit) continue;
        end = e.reason;
        if (e.reason === 'mmio' && !e.isWrite) {
          e.data.fill(0);
          continue;
        }
        break;
      } catch (err) {
        if (isKvmError(err, 'EINTR') && !vcpu.kvmRun.immediate_exit) continue;
        end = isKvmError(err) ? err.code : String(err);
        break;
      }
    }
    vcpu.close();
  } catch (err) {
    end = `attach: ${String(err)}`;
  }
  parentPort!.postMessage({ id: m.id, end, heapMiB: process.memoryUsage().heapUsed / 2 ** 20 });
});
