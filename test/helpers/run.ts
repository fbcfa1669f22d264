/**
 * KVM_RUN as a VMM loops on it: a KVM_RUN of the virtual backend returns EINTR (exit_reason
 * KVM_EXIT_INTR) once its wall-clock bound passes (`virtualSys({ runTimeoutMs })`, 100 ms by
 * default), as a signal makes it return on Linux; the VMM just runs again. Tests that want "the
 * next exit" of a guest that may compute for longer than that on a loaded machine use this.
 */
import { isKvmError, type Vcpu, type VcpuExit } from '../../src/index.js';

/** True for the EINTR of KVM_RUN's wall-clock bound (not the instruction budget, not immediate_exit). */
export function isRunTimeLimit(e: unknown): boolean {
  return isKvmError(e, 'EINTR') && e.message.includes('run time limit');
}

/** KVM_RUN until it returns something else than the EINTR of its wall-clock bound. */
export function runToExit(vcpu: Vcpu, maxRetries = 3000): VcpuExit {
  for (let n = 0; ; n++) {
    try {
      return vcpu.run();
    } catch (e) {
      if (!isRunTimeLimit(e) || n >= maxRetries) throw e;
    }
  }
}
