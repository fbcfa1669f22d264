/**
 * Typed helpers for Intel TDX (x86 only): the KVM_MEMORY_ENCRYPT_OP sub-commands of
 * Documentation/virt/kvm/x86/intel-tdx.rst as methods, and decoders for what KVM_TDX_CAPABILITIES
 * reports. Built on `Sys`, so they drive the virtual TDX host and a real one alike.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { x86_64 } from '../uapi/index.js';
import type { CpuidEntry } from './types.js';
import type { Vcpu } from './vcpu.js';
import type { Vm } from './vm.js';

const S = x86_64.structs;
const { KVM_TDX, KVM_TDX_CAP } = x86_64;

/** TD attributes (TDX module ABI, TDCS.ATTRIBUTES): bit -> name. */
export const TD_ATTRIBUTES: Readonly<Record<string, bigint>> = {
  DEBUG: 1n << 0n,
  SEPT_VE_DISABLE: 1n << 28n,
  PKS: 1n << 30n,
  KL: 1n << 31n,
  PERFMON: 1n << 63n,
};

/** XFAM bits: the XSAVE state components a TD may enable (the XCR0/IA32_XSS numbering). */
export const XFAM_COMPONENTS: readonly string[] = [
  'X87', 'SSE', 'AVX', 'MPX_BNDREGS', 'MPX_BNDCSR', 'AVX512_OPMASK', 'AVX512_ZMM_HI256', 'AVX512_HI16_ZMM',
  'PT', 'PKRU', 'PASID', 'CET_U', 'CET_S', 'HDC', 'UINTR', 'LBR', 'HWP', 'AMX_TILECFG', 'AMX_TILEDATA', 'APX',
];

/** Names of the set bits of `v` under `names` (unknown bits as `bit<n>`). */
function bitNames(v: bigint, names: (bit: number) => string | undefined): string[] {
  const out: string[] = [];
  for (let b = 0; b < 64; b++) if ((v >> BigInt(b)) & 1n) out.push(names(b) ?? `bit${b}`);
  return out;
}

/** The names of the TD attributes set in `attrs` ('DEBUG', 'SEPT_VE_DISABLE'...). */
export function tdAttributeNames(attrs: bigint): string[] {
  return bitNames(attrs, (b) => Object.entries(TD_ATTRIBUTES).find(([, v]) => v === 1n << BigInt(b))?.[0]);
}

/** The names of the XSAVE components set in an XFAM value ('X87', 'SSE', 'AVX'...). */
export function xfamNames(xfam: bigint): string[] {
  return bitNames(xfam, (b) => XFAM_COMPONENTS[b]);
}

/** KVM_TDX_CAPABILITIES, decoded. */
export interface TdxCapabilities {
  /** Attributes a TD may have, and their names. */
  readonly supportedAttrs: bigint;
  readonly attributes: string[];
  /** XFAM bits a TD may have, and their names. */
  readonly supportedXfam: bigint;
  readonly xfam: string[];
  /** TDVMCALLs KVM handles itself / forwards to userspace (GetTdVmCallInfo leaf 1, R11 and R12). */
  readonly kernelTdvmcallinfo: { readonly r11: bigint; readonly r12: bigint };
  readonly userTdvmcallinfo: { readonly r11: bigint; readonly r12: bigint };
  /** KVM_TDX_CAP_* bits (6.18+), and whether KVM_TDX_TERMINATE_VM is among them. */
  readonly supportedCaps: bigint;
  readonly terminateVm: boolean;
  /** The CPUID bits userspace may configure in KVM_TDX_INIT_VM. */
  readonly cpuid: CpuidEntry[];
}

/** What KVM_TDX_INIT_VM takes (the measurement registers default to zero). */
export interface TdxInitVm {
  attributes?: bigint;
  xfam?: bigint;
  mrconfigid?: readonly bigint[];
  mrowner?: readonly bigint[];
  mrownerconfig?: readonly bigint[];
  /** CPUID entries configuring the TD (within what KVM_TDX_CAPABILITIES allows). */
  cpuid: readonly Partial<CpuidEntry>[];
}

/**
 * A TD's VM fd with the TDX sub-commands as methods. A failed sub-command throws the KvmError of
 * KVM_MEMORY_ENCRYPT_OP with `hwError`, the TDX module status KVM copied into
 * kvm_tdx_cmd.hw_error (0 when the failure was KVM's own).
 *
 * ```ts
 * const vm = kvm.createVm(x86_64.KVM_X86_VM.TDX_VM);
 * const td = new TdxVm(vm);
 * const caps = td.capabilities();          // caps.attributes: ['SEPT_VE_DISABLE'], caps.xfam...
 * vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, [24]);
 * td.initVm({ xfam: 3n, cpuid: [{ function: 0x80000008, eax: 48 << 16 }] });
 * const vcpu = vm.createVcpu(0);
 * td.initVcpu(vcpu);
 * // guest_memfd, memslots, KVM_SET_MEMORY_ATTRIBUTES(PRIVATE), then:
 * td.initMemRegion(vcpu, { sourceAddr: src.hva, gpa: 0xffff0000n, nrPages: 16 });
 * td.finalize();
 * ```
 */
export class TdxVm {
  constructor(readonly vm: Vm) {}

  /** KVM_MEMORY_ENCRYPT_OP(struct kvm_tdx_cmd) on `fd` (the VM's by default); returns hw_error. */
  cmd(id: number, data: bigint | number = 0, flags = 0, fd = this.vm.fd): bigint {
    const b = S.kvm_tdx_cmd.encode({ id, flags, data: BigInt(data) });
    try {
      this.vm.sys.ioctl(fd, this.vm.kvm.req('KVM_MEMORY_ENCRYPT_OP'), b);
    } catch (e) {
      if (e instanceof KvmError) Object.defineProperty(e, 'hwError', { value: S.kvm_tdx_cmd.view(b).hw_error, enumerable: true });
      throw e;
    }
    return S.kvm_tdx_cmd.view(b).hw_error;
  }

  /** KVM_TDX_CAPABILITIES (asks again with room for more CPUID entries on E2BIG). */
  capabilities(): TdxCapabilities {
    for (let nent = 32; ; nent *= 2) {
      const len = S.kvm_tdx_capabilities.size + nent * S.kvm_cpuid_entry2.size;
      const buf = this.vm.hostBuffer(len);
      buf.bytes.fill(0, 0, len);
      S.kvm_tdx_capabilities.view(buf.bytes).cpuid.nent = nent;
      try {
        this.cmd(KVM_TDX.CAPABILITIES, buf.hva);
      } catch (e) {
        if ((e as KvmError).code === 'E2BIG' && nent < 4096) continue;
        throw e;
      }
      const c = S.kvm_tdx_capabilities.decode(buf.bytes);
      const cpuid = Array.from({ length: c.cpuid.nent }, (_, i) => S.kvm_cpuid_entry2.decode(buf.bytes, S.kvm_tdx_capabilities.size + i * S.kvm_cpuid_entry2.size));
      return {
        supportedAttrs: c.supported_attrs,
        attributes: tdAttributeNames(c.supported_attrs),
        supportedXfam: c.supported_xfam,
        xfam: xfamNames(c.supported_xfam),
        kernelTdvmcallinfo: { r11: c.kernel_tdvmcallinfo_1_r11, r12: c.kernel_tdvmcallinfo_1_r12 },
        userTdvmcallinfo: { r11: c.user_tdvmcallinfo_1_r11, r12: c.user_tdvmcallinfo_1_r12 },
        supportedCaps: c.supported_caps,
        terminateVm: (c.supported_caps & BigInt(KVM_TDX_CAP.TERMINATE_VM)) !== 0n,
        cpuid,
      };
    }
  }

  /** KVM_TDX_INIT_VM: the TD's attributes, XFAM, measurement registers and CPUID. */
  initVm(o: TdxInitVm): void {
    const bytes = S.kvm_tdx_init_vm.encode({
      attributes: o.attributes ?? 0n,
      xfam: o.xfam ?? 3n,
      mrconfigid: [...(o.mrconfigid ?? [])],
      mrowner: [...(o.mrowner ?? [])],
      mrownerconfig: [...(o.mrownerconfig ?? [])],
      cpuid: { nent: o.cpuid.length, entries: o.cpuid.map((e) => ({ function: 0, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0, ...e })) as never },
    });
    const buf = this.vm.hostBuffer(bytes.length);
    buf.bytes.set(bytes);
    this.cmd(KVM_TDX.INIT_VM, buf.hva);
  }

  /** KVM_TDX_INIT_VCPU: `rcx` is the vCPU's initial RCX (what the TD firmware gets as its argument). */
  initVcpu(vcpu: Vcpu, rcx: bigint | number = 0): void {
    this.cmd(KVM_TDX.INIT_VCPU, rcx, 0, vcpu.fd);
  }

  /**
   * KVM_TDX_INIT_MEM_REGION through `vcpu`: copies `nrPages` pages from `sourceAddr` (an hva) into
   * the private pages at `gpa`, extending the measurement (MRTD) unless `measure` is false.
   */
  initMemRegion(vcpu: Vcpu, r: { sourceAddr: bigint; gpa: bigint | number; nrPages: number }, measure = true): void {
    const buf = this.vm.hostBuffer(S.kvm_tdx_init_mem_region.size);
    buf.bytes.set(S.kvm_tdx_init_mem_region.encode({ source_addr: r.sourceAddr, gpa: BigInt(r.gpa), nr_pages: BigInt(r.nrPages) }));
    this.cmd(KVM_TDX.INIT_MEM_REGION, buf.hva, measure ? KVM_TDX.MEASURE_MEMORY_REGION : 0, vcpu.fd);
  }

  /** KVM_TDX_FINALIZE_VM: the measurement is final and the TD can run. */
  finalize(): void {
    this.cmd(KVM_TDX.FINALIZE_VM);
  }

  /** KVM_TDX_GET_CPUID of `vcpu`: the CPUID the TDX module virtualizes for the TD. */
  getCpuid(vcpu: Vcpu): CpuidEntry[] {
    for (let nent = 64; ; nent *= 2) {
      const len = 8 + nent * S.kvm_cpuid_entry2.size;
      const buf = this.vm.hostBuffer(len);
      buf.bytes.fill(0, 0, len);
      new DataView(buf.bytes.buffer, buf.bytes.byteOffset).setUint32(0, nent, true);
      try {
        this.cmd(KVM_TDX.GET_CPUID, buf.hva, 0, vcpu.fd);
      } catch (e) {
        if ((e as KvmError).code === 'E2BIG' && nent < 4096) continue;
        throw e;
      }
      const n = new DataView(buf.bytes.buffer, buf.bytes.byteOffset).getUint32(0, true);
      return Array.from({ length: n }, (_, i) => S.kvm_cpuid_entry2.decode(buf.bytes, 8 + i * S.kvm_cpuid_entry2.size));
    }
  }

  /**
   * KVM_TDX_TERMINATE_VM (6.18+, when `capabilities().terminateVm`): the VM is dead from here on
   * (EIO for every VM and vCPU ioctl) and its HKID is released, so closing the guest_memfd and the
   * VM reclaims the private memory quickly.
   */
  terminate(): void {
    this.cmd(KVM_TDX.TERMINATE_VM);
  }
}
