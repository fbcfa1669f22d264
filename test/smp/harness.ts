/**
 * SMP test harness: the worker script (worker.ts) bundled once with the library by esbuild (a
 * dev dependency through tsup and vitest), so worker threads can load it without a TypeScript
 * loader; and running jobs on workers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll } from 'vitest';
import { vcpuHandleTransferList, type VcpuHandle } from '../../src/index.js';
import type { WorkerJob, WorkerReport } from './worker.js';

let bundled: Promise<string> | undefined;
let dir: string | undefined;

// Each test file imports this module afresh: its bundle goes when the file is done.
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The bundled worker script (built on first use, removed after the test file). */
export function workerScript(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    dir = mkdtempSync(join(tmpdir(), 'vkvm-smp-'));
    const out = join(dir, 'worker.mjs');
    await build({
      entryPoints: [resolve(__dirname, 'worker.ts')],
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: ['koffi'],
      logLevel: 'silent',
    });
    return out;
  })();
  return bundled;
}

/** Runs one vCPU handle on a new worker; resolves with its report once the worker has exited. */
export async function runOnWorker(handle: VcpuHandle, extra: Omit<WorkerJob, 'handle'> = {}): Promise<WorkerReport> {
  const script = await workerScript();
  const w = new Worker(script, { workerData: { handle, ...extra } satisfies WorkerJob, transferList: vcpuHandleTransferList(handle) });
  let report: WorkerReport | undefined;
  w.on('message', (m: WorkerReport) => (report = m));
  await new Promise<void>((res, rej) => {
    w.on('error', rej);
    w.on('exit', () => res());
  });
  if (!report) throw new Error('the worker ended without a report');
  if (report.error) throw new Error(`worker failed: ${report.error}`);
  return report;
}
