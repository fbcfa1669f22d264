/**
 * KVM_RUN as a VMM loops on it: a KVM_RUN of the virtual backend returns EINTR (exit_reason
 * KVM_EXIT_INTR) once its wall-clock bound passes (`virtualSys({ runTimeoutMs })`, 100 ms by
 * default), as a signal makes it return on Linux; the VMM just runs again. Tests that want "the
 * next exit" of a guest that may compute for longer than that on a loaded machine use this.
 */
import { isKvmError, KVM_EXIT, type Vcpu, type VcpuExit } from '../../src/index.js';

/**
 * The KVM_RUN bound of the engine helpers (x86 `engineSys`, arm64 `armSys`): tests of guest
 * semantics expect one KVM_RUN of a few instructions to reach its exit, and a loaded 2-core
 * machine can stall one past the default 100 ms. test/robust/run-timeout.test.ts tests the default.
 */
export const TEST_RUN_TIMEOUT_MS = 2000;

/** True for the EINTR of KVM_RUN's wall-clock bound (not the instruction budget, not immediate_exit). */
export function isRunTimeLimit(e: unknown): boolean {
  return isKvmError(e, 'EINTR') && e.message.includes('run time limit');
}

/**
 * KVM_RUN until it returns something else than the EINTR of its wall-clock bound. The raw ioctl,
 * since `vcpu.run()` turns every EINTR into `{ reason: 'intr' }` and so hides which one it was;
 * any other outcome is decoded as `vcpu.run()` does.
 */
export function runToExit(vcpu: Vcpu, maxRetries = 3000): VcpuExit {
  const sys = vcpu.vm.sys;
  const KVM_RUN = vcpu.vm.kvm.req('KVM_RUN');
  for (let n = 0; ; n++) {
    try {
      sys.ioctl(vcpu.fd, KVM_RUN, 0);
    } catch (e) {
      if (isRunTimeLimit(e) && n < maxRetries) continue;
      if (isKvmError(e, 'EINTR')) return { reason: 'intr', exitReason: KVM_EXIT.INTR };
      if ((isKvmError(e, 'EFAULT') || isKvmError(e, 'EHWPOISON')) && vcpu.kvmRun.exit_reason === KVM_EXIT.MEMORY_FAULT) return vcpu.exit();
      throw e;
    }
    return vcpu.exit();
  }
}
