/**
 * KVM_RUN on x86: completes the exit userspace answered, honours immediate_exit, then runs the
 * guest. The interpreter lands with the x86 backend issue; until then every run is an emulation
 * failure, which is what KVM reports for an instruction it cannot emulate.
 * @module
 */
import { exitEmulationFailure } from '../../kernel/exits.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import { KvmError } from '../../sys/error.js';

export function x86Run(vcpu: Vcpu): number {
  if (vcpu.immediateExit) throw KvmError.of('EINTR', 'ioctl');
  exitEmulationFailure(vcpu);
  return 0;
}
