/**
 * A worker thread of the issue-19 SMP tests (bundled by harness.ts): attaches the vCPU of
 * `workerData.handle` and does `workerData.job`, posting what happened.
 *   - 'run': KVM_RUN until kvm_run.immediate_exit stops it (or a KvmError other than the
 *     EINTR of the wall-clock bound), answering MMIO reads with zeros; posts 'running' after the
 *     first KVM_RUN returns, then a report; hands the vCPU back unless `noClose`.
 *   - 'attach-twice': attaches the handle a second time; reports the errno.
 *   - 'bad-args': Sys calls with values C cannot pass on the attached Sys; reports each errno.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attachVcpu, isKvmError, KvmError, Vcpu, type VcpuHandle } from '../../src/index.js';
import { errnoOf } from '../helpers/errno.js';

export interface RobustJob {
  readonly handle: VcpuHandle;
  readonly job: 'run' | 'attach-twice' | 'bad-args';
  readonly noClose?: boolean;
}

export type RobustMessage =
  | { readonly type: 'running' }
  | { readonly type: 'report'; readonly exits: Record<string, number>; readonly eintr: number; readonly end: string; readonly errnos?: Record<string, string> };

const { handle, job, noClose } = workerData as RobustJob;
const post = (m: RobustMessage) => parentPort!.postMessage(m);

if (job === 'attach-twice') {
  const sys = attachVcpu(handle);
  const second = errnoOf(() => attachVcpu(handle));
  sys.close(handle.fd);
  post({ type: 'report', exits: {}, eintr: 0, end: second });
} else if (job === 'bad-args') {
  const sys = attachVcpu(handle);
  const S = sys as unknown as Record<string, (...a: unknown[]) => unknown>;
  const errnos: Record<string, string> = {};
  for (const v of [1.5, NaN, Infinity, null, 'x', {}, Symbol('s')]) {
    const k = typeof v === 'symbol' ? 'symbol' : JSON.stringify(v) ?? String(v);
    errnos[`ioctl(fd=${k})`] = errnoOf(() => S.ioctl!.call(sys, v, 0xae00));
    errnos[`KVM_GET_REGS(${k}) on the vCPU`] = errnoOf(() => S.ioctl!.call(sys, handle.fd, 0x8090ae81, v));
    errnos[`KVM_CHECK_EXTENSION(${k}) forwarded`] = errnoOf(() => S.ioctl!.call(sys, handle.vmFd, 0xae03, v));
    errnos[`mmap(length=${k})`] = errnoOf(() => S.mmap!.call(sys, handle.fd, v));
    errnos[`alloc(${k})`] = errnoOf(() => S.alloc!.call(sys, v));
    errnos[`munmap(${k})`] = errnoOf(() => S.munmap!.call(sys, v));
    errnos[`close(${k})`] = errnoOf(() => S.close!.call(sys, v));
    errnos[`open(${k})`] = errnoOf(() => S.open!.call(sys, v));
    errnos[`eventfd(${k})`] = errnoOf(() => S.eventfd!.call(sys, v, 0));
    errnos[`eventfd(0, ${k})`] = errnoOf(() => S.eventfd!.call(sys, 0, v));
    errnos[`read(fd=${k})`] = errnoOf(() => S.read!.call(sys, v, new Uint8Array(8)));
    errnos[`write(fd=${k})`] = errnoOf(() => S.write!.call(sys, v, new Uint8Array(8)));
    const efd = sys.eventfd(1, 0);
    errnos[`read(buf=${k})`] = errnoOf(() => S.read!.call(sys, efd, v));
    errnos[`write(buf=${k})`] = errnoOf(() => S.write!.call(sys, efd, v));
    sys.close(efd);
  }
  sys.close(handle.fd);
  post({ type: 'report', exits: {}, eintr: 0, end: 'done', errnos });
} else {
  const vcpu = Vcpu.attach(handle);
  const exits: Record<string, number> = {};
  let eintr = 0;
  let end = 'immediate_exit';
  let first = true;
  for (;;) {
    try {
      const e = vcpu.run();
      // vcpu.run() returns EINTR as { reason: 'intr' } (it does not throw it): without this check
      // a worker told to stop by immediate_exit looped forever (the SMP fuzzer's hang).
      if (e.reason === 'intr') {
        eintr++;
        if (vcpu.kvmRun.immediate_exit) break;
      } else exits[e.reason] = (exits[e.reason] ?? 0) + 1;
      if (e.reason === 'mmio' && !e.isWrite) e.data.fill(0);
    } catch (err) {
      if (isKvmError(err, 'EINTR')) {
        eintr++;
        if (vcpu.kvmRun.immediate_exit) break;
      } else {
        end = err instanceof KvmError ? err.code : String(err);
        break;
      }
    }
    if (first) {
      first = false;
      post({ type: 'running' });
    }
  }
  post({ type: 'report', exits, eintr, end });
  if (!noClose) vcpu.close();
}
