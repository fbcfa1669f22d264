/**
 * A vCPU file (kvm_vcpu_ioctl): the kvm_run area its fd maps, KVM_RUN plumbing and the generic
 * vCPU ioctls; everything else is the arch's.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { iocType, KVMIO } from '../uapi/index.js';
import { genericStructs } from '../uapi/kvm.js';
import { NOT_HANDLED } from './arch.js';
import { RUN } from './exits.js';
import { PAGE_SIZE, type Mapping } from './hva.js';
import { VcpuTimer } from './timer.js';
import type { VcpuSync } from './smp.js';
import type { UserArg } from './uarg.js';
import type { Vm } from './vm.js';

/** sizeof(sigset_t) of the kernel (64 signals): the only KVM_SET_SIGNAL_MASK length it accepts. */
const KERNEL_SIGSET_BYTES = 8;
/** Offset of kvm_run.immediate_exit. */
const IMMEDIATE_EXIT = RUN.immediate_exit;
/**
 * Bytes of kernel-private words after the mmap area, in the same shared memory (one allocation;
 * a vCPU moved to a worker thread shares them too): [0] vcpu->requests (src/kernel/requests.ts).
 * Userspace cannot reach them: mmap backs only the area's pages.
 */
const PRIVATE_BYTES = 64;

export class Vcpu {
  /**
   * The pages the vCPU fd maps, KVM_GET_VCPU_MMAP_SIZE of them (ArchBackend.vcpuMmapPages):
   * kvm_run at 0, then the arch's (x86 PIO data at page 1, coalesced MMIO last).
   */
  readonly area: Uint8Array;
  /** struct kvm_run (the first page of the area). */
  readonly run: Uint8Array;
  readonly runDv: DataView;
  /** The arch's per-vCPU state (vcpu->arch). */
  readonly archState: unknown;
  /** vcpu->requests: KVM_REQ_* bits any thread sets (src/kernel/requests.ts). Shared with the running thread. */
  readonly requests: Int32Array;
  /** This vCPU's view of the VM clock and its timer deadlines (src/kernel/timer.ts). */
  readonly timer: VcpuTimer;
  /** KVM_SET_SIGNAL_MASK state (kept for completeness; there are no signals here). */
  sigmask: Uint8Array | null = null;
  /**
   * Set while the vCPU runs on another thread (exportVcpu, src/kernel/smp.ts): its ioctls here
   * answer EBUSY, as the kernel's would block on vcpu->mutex. 'lost' once that thread went away
   * without handing the state back (EIO from then on).
   */
  away: 'attached' | 'lost' | null = null;
  /**
   * On a worker thread's mirror: how this vCPU follows the owner's memory changes (src/kernel/smp.ts);
   * the run loops check it at block boundaries. null in the owner.
   */
  sync: VcpuSync | null = null;

  constructor(
    readonly vm: Vm,
    /** The vcpu_id given to KVM_CREATE_VCPU. */
    readonly id: number,
    /** vcpu_idx: creation order. */
    readonly index: number,
    /** A worker thread's mirror of a vCPU shares the owner's mmap area and requests (src/kernel/smp.ts). */
    shared?: { readonly area: Uint8Array; readonly requests: Int32Array },
  ) {
    const bytes = vm.arch.vcpuMmapPages * PAGE_SIZE;
    if (shared) {
      this.area = shared.area;
      this.requests = shared.requests;
    } else if (vm.kernel.runArea) {
      // The area is the program's mapping (src/server); the private words stay out of it.
      this.area = vm.kernel.runArea(bytes);
      this.requests = new Int32Array(new SharedArrayBuffer(PRIVATE_BYTES));
    } else {
      const buf = new SharedArrayBuffer(bytes + PRIVATE_BYTES);
      this.area = new Uint8Array(buf, 0, bytes);
      this.requests = new Int32Array(buf, bytes, PRIVATE_BYTES / 4);
    }
    this.timer = new VcpuTimer(vm.clock, vm.kernel.mirror ? null : vm.timers);
    this.run = this.area.subarray(0, PAGE_SIZE);
    this.runDv = new DataView(this.area.buffer, this.area.byteOffset, PAGE_SIZE);
    this.archState = vm.arch.createVcpu(this);
  }

  /** kvm_run.immediate_exit as userspace left it. */
  get immediateExit(): boolean {
    return this.run[IMMEDIATE_EXIT] !== 0;
  }

  /**
   * mmap(vcpu_fd): any page range maps (kvm_vcpu_mmap checks only the dirty ring's pages, and
   * vkvm offers no dirty ring: KVM_CAP_DIRTY_LOG_RING is 0). The area's pages in the range back
   * the mapping, the same bytes for every mapping, like the kernel's shared pages; the others have
   * none (kvm_arch_vcpu_fault: SIGBUS on access), so the view stops at the area's end and the
   * kernel's copies there fail with EFAULT.
   */
  mmap(length: number, offset: number): Mapping {
    const area = this.area;
    return this.vm.kernel.space.map(length, area.subarray(Math.min(offset, area.length)));
  }

  ioctl(request: number, arg: UserArg): number {
    if (this.vm.vmDead) throw KvmError.of('EIO', 'ioctl', { request, fd: arg.fd, message: 'the VM is dead (kvm_vm_dead)' });
    if (iocType(request) !== KVMIO) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
    if (this.away !== null) {
      throw KvmError.of(this.away === 'lost' ? 'EIO' : 'EBUSY', 'ioctl', {
        request,
        fd: arg.fd,
        message: this.away === 'lost' ? 'the thread this vCPU was attached to ended without handing it back' : 'the vCPU is attached to another thread',
      });
    }
    const nr = this.vm.kernel.nr;
    switch (request) {
      case nr.KVM_RUN:
        if (arg.int !== 0n) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
        return this.vm.clock.deterministic ? this.runCounted() : this.vm.arch.run(this);
      case nr.KVM_SET_SIGNAL_MASK:
        return this.setSignalMask(arg);
      default: {
        const r = this.vm.arch.vcpuIoctl(this, request, arg);
        if (r !== NOT_HANDLED) return r;
      }
    }
    throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
  }

  /** kvm_arch_vcpu_ioctl_run under the deterministic clock, which counts the vCPUs running. */
  private runCounted(): number {
    const clock = this.vm.clock;
    clock.setRunning(1);
    try {
      return this.vm.arch.run(this);
    } finally {
      clock.setRunning(-1);
    }
  }

  /** KVM_SET_SIGNAL_MASK: a null pointer clears the mask; otherwise len must be sizeof(sigset_t) = 8. */
  private setSignalMask(arg: UserArg): number {
    if (!arg.isBytes && arg.int === 0n) {
      this.sigmask = null;
      return 0;
    }
    const M = genericStructs.kvm_signal_mask;
    const len = M.decode(arg.bytes(M.size)).len;
    if (len !== KERNEL_SIGSET_BYTES) throw KvmError.of('EINVAL', 'ioctl', { request: arg.request, fd: arg.fd });
    this.sigmask = arg.slice(M.offsetOf('sigset'), KERNEL_SIGSET_BYTES).slice();
    return 0;
  }
}
