/**
 * The typed layer, in the spirit of rust-vmm's kvm-ioctls: `Kvm` (the /dev/kvm fd), `Vm`, `Vcpu`.
 * Built only on `Sys`, so the same code drives `virtualSys()` and `nativeSys()`.
 * @module
 */
import type { Sys } from '../sys/sys.js';
import { abi, type Arch, type IoctlName } from '../uapi/index.js';
import type { CpuidEntry } from './types.js';
import { Vm } from './vm.js';

/** The ABI tables of one arch (structs and ioctl numbers). */
export type Abi = (typeof abi)[Arch];

/** An open /dev/kvm. */
export class Kvm {
  readonly abi: Abi;
  readonly arch: Arch;

  private constructor(
    readonly sys: Sys,
    readonly fd: number,
  ) {
    this.arch = sys.arch;
    this.abi = abi[sys.arch];
  }

  /** Opens /dev/kvm (or `path`) through `sys`. */
  static open(sys: Sys, path = '/dev/kvm'): Kvm {
    return new Kvm(sys, sys.open(path));
  }

  /** The request number of a declared ioctl of this arch. */
  req(name: IoctlName): number {
    const d = (this.abi.ioctls as Record<string, { request: number }>)[name];
    if (!d) throw new Error(`${name} is not a ${this.arch} ioctl`);
    return d.request;
  }

  /** KVM_GET_API_VERSION (12). */
  apiVersion(): number {
    return this.sys.ioctl(this.fd, this.req('KVM_GET_API_VERSION'), 0);
  }

  /** KVM_CHECK_EXTENSION on the system fd: 0 when unsupported, else the cap's value. */
  checkExtension(cap: number): number {
    return this.sys.ioctl(this.fd, this.req('KVM_CHECK_EXTENSION'), cap);
  }

  /** KVM_GET_VCPU_MMAP_SIZE */
  vcpuMmapSize(): number {
    return this.sys.ioctl(this.fd, this.req('KVM_GET_VCPU_MMAP_SIZE'), 0);
  }

  /** KVM_CREATE_VM (x86: the VM type; arm64: the IPA size in bits [7:0], 0 for the default). */
  createVm(type = 0): Vm {
    return new Vm(this, this.sys.ioctl(this.fd, this.req('KVM_CREATE_VM'), type), type);
  }

  /** KVM_GET_SUPPORTED_CPUID (x86): retries with a larger array on E2BIG, as VMMs do. */
  supportedCpuid(): CpuidEntry[] {
    const S = (this.abi as (typeof abi)['x86_64']).structs;
    for (let n = 64; ; n *= 2) {
      const b = S.kvm_cpuid2.alloc(n);
      S.kvm_cpuid2.view(b).nent = n;
      try {
        this.sys.ioctl(this.fd, this.req('KVM_GET_SUPPORTED_CPUID'), b);
      } catch (e) {
        if ((e as { code?: string }).code === 'E2BIG' && n < 4096) continue;
        throw e;
      }
      const v = S.kvm_cpuid2.view(b);
      return Array.from({ length: v.nent }, (_, i) => S.kvm_cpuid_entry2.decode(b, 8 + 40 * i));
    }
  }

  /** KVM_GET_MSR_INDEX_LIST (x86). */
  msrIndexList(): number[] {
    const S = (this.abi as (typeof abi)['x86_64']).structs;
    for (let n = 64; ; n *= 2) {
      const b = S.kvm_msr_list.alloc(n);
      S.kvm_msr_list.view(b).nmsrs = n;
      try {
        this.sys.ioctl(this.fd, this.req('KVM_GET_MSR_INDEX_LIST'), b);
      } catch (e) {
        if ((e as { code?: string }).code === 'E2BIG' && n < 65536) continue;
        throw e;
      }
      const v = S.kvm_msr_list.view(b);
      return Array.from({ length: v.nmsrs }, (_, i) => v.indices.get(i));
    }
  }

  close(): void {
    this.sys.close(this.fd);
  }
}
