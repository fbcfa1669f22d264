/**
 * The thread of one vCPU of an SMP Linux VM (`LinuxVm.runAsync`): attaches the vCPU, calls KVM_RUN
 * in a loop, and hands each exit to the VMM on the owner thread, which completes it in the shared
 * kvm_run (an IO read's data, an MMIO read's bytes) before this thread runs the vCPU again -- the
 * way a VMM's vCPU thread waits for its device model. EINTR (the run time bound, immediate_exit)
 * is handled here: the VMM sees only exits. Built as its own entry (`dist/linux-vcpu-worker.js`);
 * workers cannot load TypeScript, so from the sources it is bundled first (`vcpuWorkerScript`).
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { arm64, Vcpu, type Arch } from '../../index.js';
import { CTRL, type VcpuWorkerData, type VcpuWorkerMessage } from './machine.js';

/** Exits whose report names the guest's PC (the owner cannot read the registers of an attached vCPU). */
const WANTS_PC = new Set(['shutdown', 'internal_error', 'fail_entry']);

function pcOf(vcpu: Vcpu, arch: Arch): string {
  try {
    return (arch === 'x86_64' ? vcpu.getRegs().rip : vcpu.getOneReg(arm64.coreRegId('regs.pc'))).toString();
  } catch {
    return '-1';
  }
}

function main(data: VcpuWorkerData): void {
  const port = parentPort!;
  const ctrl = new Int32Array(data.ctrl);
  let runs = 0;
  let intr = 0;
  let vcpu: Vcpu | undefined;
  try {
    vcpu = Vcpu.attach(data.handle);
    while (Atomics.load(ctrl, CTRL.STOP) === 0) {
      const e = vcpu.run();
      runs++;
      if (e.reason === 'intr') {
        intr++;
        continue;
      }
      Atomics.store(ctrl, CTRL.PENDING, 1);
      port.postMessage({ kind: 'exit', ...(WANTS_PC.has(e.reason) ? { pc: pcOf(vcpu, data.arch) } : {}) } satisfies VcpuWorkerMessage);
      while (Atomics.load(ctrl, CTRL.PENDING) === 1 && Atomics.load(ctrl, CTRL.STOP) === 0) Atomics.wait(ctrl, CTRL.PENDING, 1, 1000);
    }
  } catch (e) {
    port.postMessage({ kind: 'error', message: e instanceof Error ? e.message : String(e) } satisfies VcpuWorkerMessage);
  } finally {
    try {
      vcpu?.close(); // hands the vCPU back to the owner
    } catch {
      // the owner is gone or the vCPU lost: nothing to hand back
    }
    port.postMessage({ kind: 'done', runs, intr } satisfies VcpuWorkerMessage);
  }
}

if (parentPort && workerData && (workerData as Partial<VcpuWorkerData>).ctrl instanceof SharedArrayBuffer) main(workerData as VcpuWorkerData);
