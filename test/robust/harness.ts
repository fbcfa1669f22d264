/**
 * Workers for the issue-19 SMP tests: worker.ts bundled with the library (workers cannot load
 * TypeScript), started with a vCPU handle and a job.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll } from 'vitest';
import { vcpuHandleTransferList, type VcpuHandle } from '../../src/index.js';
import type { RobustJob, RobustMessage } from './worker.js';

let bundled: Promise<string> | undefined;
let dir: string | undefined;

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function script(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    dir = mkdtempSync(join(tmpdir(), 'vkvm-robust-'));
    const out = join(dir, 'worker.mjs');
    await build({ entryPoints: [resolve(__dirname, 'worker.ts')], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['koffi'], logLevel: 'silent' });
    return out;
  })();
  return bundled;
}

export interface Started {
  readonly worker: Worker;
  /** Resolves with the first message of `type`. */
  next(type: RobustMessage['type']): Promise<RobustMessage>;
  /** Resolves once the thread has ended (normally or terminated). */
  readonly ended: Promise<number>;
}

export async function startWorker(handle: VcpuHandle, job: RobustJob['job'], extra: Partial<RobustJob> = {}): Promise<Started> {
  const worker = new Worker(await script(), { workerData: { handle, job, ...extra } satisfies RobustJob, transferList: vcpuHandleTransferList(handle) });
  const seen: RobustMessage[] = [];
  const waiting: { type: string; res: (m: RobustMessage) => void }[] = [];
  let failure: Error | undefined;
  worker.on('message', (m: RobustMessage) => {
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0]!.res(m);
    else seen.push(m);
  });
  worker.on('error', (e) => (failure = e));
  const ended = new Promise<number>((res) => worker.on('exit', res));
  return {
    worker,
    next(type) {
      const i = seen.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]!);
      if (failure) return Promise.reject(failure);
      return new Promise((res, rej) => {
        waiting.push({ type, res });
        worker.once('error', rej);
        void ended.then(() => setTimeout(() => rej(failure ?? new Error(`the worker ended before sending '${type}'`)), 50));
      });
    },
    ended,
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
