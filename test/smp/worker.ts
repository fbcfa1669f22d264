/**
 * A worker thread of the SMP tests: attaches the vCPU of `workerData.handle`, runs it until the
 * guest says it is done (HLT on x86, an MMIO write on arm64), hands it back and reports.
 * Bundled with the library by harness.ts (workers cannot load TypeScript).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KvmError, Vcpu, type VcpuExit, type VcpuHandle } from '../../src/index.js';

export interface WorkerJob {
  readonly handle: VcpuHandle;
  /** Leave without closing the vCPU (the worker's exit must hand it back). */
  readonly noClose?: boolean;
  /** Stop (and hand the vCPU back) after this many EINTR returns of KVM_RUN. */
  readonly maxEintr?: number;
  /** Answer MMIO reads with zeros and go on (instead of stopping at the first MMIO exit). */
  readonly mmioZero?: boolean;
  /** Before running: forwarded calls (open, system and VM ioctls, alloc) that add memory at this gpa holding `marker`. */
  readonly addSlot?: { readonly gpa: number; readonly marker: bigint };
  /** Never return from the guest (the test terminates the worker). */
  readonly hang?: boolean;
}

export interface WorkerReport {
  readonly exits: string[];
  readonly eintr: number;
  readonly ms: number;
  /** What the forwarded calls returned (addSlot). */
  readonly probes?: Record<string, unknown>;
  readonly error?: string;
}

const job = workerData as WorkerJob;
const exits: string[] = [];
let eintr = 0;
const t0 = performance.now();
let error: string | undefined;
let probes: Record<string, unknown> | undefined;
try {
  const vcpu = Vcpu.attach(job.handle);
  if (job.addSlot) {
    // Calls on other fds go to the owner: the system fd, the VM fd, memory from alloc().
    const sys = vcpu.vm.sys;
    const kvm = vcpu.vm.kvm;
    const mem = sys.alloc(0x1000);
    new DataView(mem.bytes.buffer, mem.bytes.byteOffset).setBigUint64(0, job.addSlot.marker, true);
    vcpu.vm.setUserMemoryRegion({ slot: 7, guestPhysAddr: job.addSlot.gpa, memorySize: 0x1000, userspaceAddr: mem.hva });
    // An error of a forwarded call comes back as the owner's KvmError.
    let badFd = 'no error';
    try {
      sys.ioctl(job.handle.fd + 1000, kvm.req('KVM_RUN'), 0);
    } catch (e) {
      badFd = (e as KvmError).code;
    }
    probes = { apiVersion: kvm.apiVersion(), mmapSize: kvm.vcpuMmapSize(), vmCap: vcpu.vm.checkExtension(3 /* KVM_CAP_USER_MEMORY */), badFd };
  }
  if (job.hang) parentPort!.postMessage({ exits: ['attached'], eintr: 0, ms: 0 } satisfies WorkerReport);
  for (let n = 0; n < 64; n++) {
    const e: VcpuExit = vcpu.run();
    if (e.reason === 'intr') {
      // EINTR (immediate_exit or the run budget)
      eintr++;
      if (job.maxEintr !== undefined && eintr >= job.maxEintr) break;
      n--;
      continue;
    }
    if (e.reason === 'mmio' && !e.isWrite && job.mmioZero) {
      e.data.fill(0);
      n--;
      continue;
    }
    exits.push(e.reason === 'mmio' ? `mmio:${e.isWrite ? 'w' : 'r'}:0x${e.physAddr.toString(16)}` : e.reason);
    if (e.reason === 'hlt' || (e.reason === 'mmio' && e.isWrite)) break;
  }
  if (!job.noClose) vcpu.close();
} catch (err) {
  error = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err);
}
parentPort!.postMessage({ exits, eintr, ms: performance.now() - t0, ...(probes ? { probes } : {}), ...(error ? { error } : {}) } satisfies WorkerReport);
