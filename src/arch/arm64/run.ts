/**
 * KVM_RUN on arm64. The A64 interpreter lands with the arm64 backend issue; until then every run
 * is an emulation failure.
 * @module
 */
import { exitEmulationFailure } from '../../kernel/exits.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import { KvmError } from '../../sys/error.js';

export function arm64Run(vcpu: Vcpu): number {
  if (vcpu.immediateExit) throw KvmError.of('EINTR', 'ioctl');
  exitEmulationFailure(vcpu);
  return 0;
}
