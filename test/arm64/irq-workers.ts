/**
 * Runs vCPUs of the interrupt tests on worker threads: irq-worker.ts bundled once with the
 * library by esbuild (workers cannot load TypeScript).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll } from 'vitest';
import { vcpuHandleTransferList, type VcpuHandle } from '../../src/index.js';
import type { IrqWorkerJob, IrqWorkerReport } from './irq-worker.js';

let bundled: Promise<string> | undefined;
let dir: string | undefined;

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function script(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    dir = mkdtempSync(join(tmpdir(), 'vkvm-irq-'));
    const out = join(dir, 'irq-worker.mjs');
    await build({ entryPoints: [resolve(__dirname, 'irq-worker.ts')], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['koffi'], logLevel: 'silent' });
    return out;
  })();
  return bundled;
}

/** Starts a vCPU handle on a new worker; `done` resolves with its report once it has exited. */
export async function startWorker(handle: VcpuHandle, stop: Int32Array): Promise<{ done: Promise<IrqWorkerReport> }> {
  const s = await script();
  const w = new Worker(s, { workerData: { handle, stop } satisfies IrqWorkerJob, transferList: vcpuHandleTransferList(handle) });
  const done = new Promise<IrqWorkerReport>((res, rej) => {
    let report: IrqWorkerReport | undefined;
    w.on('message', (m: IrqWorkerReport) => (report = m));
    w.on('error', rej);
    w.on('exit', () => (report ? (report.error ? rej(new Error(report.error)) : res(report)) : rej(new Error('no report'))));
  });
  return { done };
}
