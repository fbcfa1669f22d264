/**
 * Test helper: builds a trust domain through the Sys interface exactly as a VMM does on Linux
 * (QEMU's order): KVM_CREATE_VM(KVM_X86_TDX_VM), KVM_TDX_CAPABILITIES, KVM_CAP_SPLIT_IRQCHIP,
 * KVM_CAP_EXIT_HYPERCALL, KVM_TDX_INIT_VM, vCPUs + KVM_TDX_INIT_VCPU + KVM_SET_CPUID2, guest_memfd
 * memslots, KVM_SET_MEMORY_ATTRIBUTES(PRIVATE), KVM_TDX_INIT_MEM_REGION of the firmware,
 * KVM_TDX_FINALIZE_VM.
 */
import { Kvm, KVM_CAP, KVM_MEM, KVM_MEMORY_ATTRIBUTE, x86_64, type HostMemory, type Sys, type Vcpu, type Vm } from '../../src/index.js';
import { KVM_TDX, KVM_X86_VM } from '../../src/uapi/x86.js';
import { guest } from '../helpers/guests.js';

const S = x86_64.structs;
export const KVM_HC_MAP_GPA_RANGE = 12;
export const RAM_SIZE = 0x200000;
export const FW_BASE = 0xffff0000;
export const FW_SIZE = 0x10000;
export const SHARED = 1n << 47n;

/** The committed TD firmware (test/guests/x86/tdx/td-guest.asm). */
export const tdFirmware = () => guest('x86/tdx/td-guest.bin');

/** KVM_MEMORY_ENCRYPT_OP with a struct kvm_tdx_cmd; returns the cmd bytes (hw_error is written back). */
export function tdxCmd(sys: Sys, fd: number, id: number, data: bigint | number = 0, flags = 0, hwError = 0n): Uint8Array {
  const cmd = S.kvm_tdx_cmd.encode({ id, flags, data: BigInt(data), hw_error: hwError });
  sys.ioctl(fd, x86_64.ioctls.KVM_MEMORY_ENCRYPT_OP!.request, cmd);
  return cmd;
}

/** The errno code an operation throws ('' when it succeeds). */
export function errnoOf(f: () => unknown): string {
  try {
    f();
    return '';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

export interface TdOptions {
  attributes?: bigint;
  xfam?: bigint;
  gpaw?: 48 | 52;
  vcpus?: number;
  /** Initial RCX of each vCPU (KVM_TDX_INIT_VCPU data): the guest's scenario. */
  scenario?: (index: number) => number;
  /** Stop after this step (for ordering tests). */
  upTo?: 'vm' | 'init_vm' | 'vcpus' | 'memory' | 'finalized';
  /** Skip KVM_CAP_SPLIT_IRQCHIP. */
  noSplitIrqchip?: boolean;
  /** Measure the firmware (KVM_TDX_MEASURE_MEMORY_REGION). Default true. */
  measure?: boolean;
  /** The firmware image (default the committed TD guest). */
  firmware?: Uint8Array;
}

/** A TD under construction/run, with its VMM-side memory. */
export class TestTd {
  readonly kvm: Kvm;
  vm!: Vm;
  readonly vcpus: Vcpu[] = [];
  /** Shared backing of the RAM slot (what the VMM can see of guest RAM). */
  ram!: HostMemory;
  /** Shared backing of the firmware slot. */
  fwShared!: HostMemory;
  gmemFd = -1;
  /** Userspace scratch for pointer arguments. */
  readonly buf: HostMemory;

  constructor(
    readonly sys: Sys,
    readonly opts: TdOptions = {},
  ) {
    this.kvm = Kvm.open(sys);
    this.buf = sys.alloc(0x20000);
  }

  get vmFd(): number {
    return this.vm.fd;
  }

  /** KVM_MEMORY_ENCRYPT_OP on the VM fd. */
  vmCmd(id: number, data: bigint | number = 0, flags = 0): Uint8Array {
    return tdxCmd(this.sys, this.vm.fd, id, data, flags);
  }

  /** KVM_MEMORY_ENCRYPT_OP on a vCPU fd. */
  vcpuCmd(i: number, id: number, data: bigint | number = 0, flags = 0): Uint8Array {
    return tdxCmd(this.sys, this.vcpus[i]!.fd, id, data, flags);
  }

  /** KVM_TDX_CAPABILITIES into this.buf; returns the decoded struct and its entries. */
  capabilities(nent = 16): { caps: ReturnType<typeof S.kvm_tdx_capabilities.decode>; entries: ReturnType<typeof S.kvm_cpuid_entry2.decode>[] } {
    const b = this.buf.bytes;
    b.fill(0, 0, S.kvm_tdx_capabilities.size + nent * 40);
    S.kvm_tdx_capabilities.view(b).cpuid.nent = nent;
    this.vmCmd(KVM_TDX.CAPABILITIES, this.buf.hva);
    const caps = S.kvm_tdx_capabilities.decode(b);
    const entries = Array.from({ length: caps.cpuid.nent }, (_, i) => S.kvm_cpuid_entry2.decode(b, S.kvm_tdx_capabilities.size + 40 * i));
    return { caps, entries };
  }

  /** Writes a kvm_tdx_init_vm (with CPUID entries) at this.buf and returns its hva. */
  initVmArg(over: { attributes?: bigint; xfam?: bigint; gpaw?: number; entries?: { function: number; index?: number; eax?: number; ebx?: number; ecx?: number; edx?: number }[]; reserved0?: bigint; padding?: number } = {}): bigint {
    const entries = over.entries ?? [{ function: 0x80000008, index: 0, eax: (over.gpaw ?? this.opts.gpaw ?? 48) << 16 }];
    const bytes = S.kvm_tdx_init_vm.encode({
      attributes: over.attributes ?? this.opts.attributes ?? 0n,
      xfam: over.xfam ?? this.opts.xfam ?? 3n,
      reserved: [over.reserved0 ?? 0n],
      cpuid: { nent: entries.length, padding: over.padding ?? 0, entries: entries.map((e) => ({ index: 0, eax: 0, ebx: 0, ecx: 0, edx: 0, ...e })) as never },
    });
    this.buf.bytes.fill(0, 0, bytes.length + 64);
    this.buf.bytes.set(bytes);
    return this.buf.hva;
  }

  /** Builds the TD up to `opts.upTo` (default: finalized). */
  build(): this {
    const o = this.opts;
    const stop = o.upTo ?? 'finalized';
    this.vm = this.kvm.createVm(KVM_X86_VM.TDX_VM);
    if (!o.noSplitIrqchip) this.vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, [24]);
    this.vm.enableCap(KVM_CAP.EXIT_HYPERCALL, [1n << BigInt(KVM_HC_MAP_GPA_RANGE)]);
    if (stop === 'vm') return this;
    this.vmCmd(KVM_TDX.INIT_VM, this.initVmArg());
    if (stop === 'init_vm') return this;
    const cpuid = this.kvm.supportedCpuid();
    for (let i = 0; i < (o.vcpus ?? 1); i++) {
      const v = this.vm.createVcpu(i);
      this.vcpus.push(v);
      this.vcpuCmd(i, KVM_TDX.INIT_VCPU, BigInt(o.scenario?.(i) ?? 0));
      v.setCpuid2(cpuid);
    }
    if (stop === 'vcpus') return this;
    this.addMemory();
    if (stop === 'memory') return this;
    this.vmCmd(KVM_TDX.FINALIZE_VM);
    return this;
  }

  /** guest_memfd + two memslots (RAM at 0, firmware at 4 GiB - 64 KiB), all private, firmware added. */
  addMemory(): void {
    this.ram = this.sys.alloc(RAM_SIZE);
    this.fwShared = this.sys.alloc(FW_SIZE);
    this.gmemFd = this.vm.createGuestMemfd(RAM_SIZE + FW_SIZE);
    this.vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: RAM_SIZE, userspaceAddr: this.ram.hva, guestMemfd: this.gmemFd, guestMemfdOffset: 0 });
    this.vm.setUserMemoryRegion2({ slot: 1, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: FW_BASE, memorySize: FW_SIZE, userspaceAddr: this.fwShared.hva, guestMemfd: this.gmemFd, guestMemfdOffset: RAM_SIZE });
    this.vm.setMemoryAttributes(0, RAM_SIZE, KVM_MEMORY_ATTRIBUTE.PRIVATE);
    this.vm.setMemoryAttributes(FW_BASE, FW_SIZE, KVM_MEMORY_ATTRIBUTE.PRIVATE);
    const fw = this.opts.firmware ?? tdFirmware();
    const src = this.sys.alloc(FW_SIZE);
    src.bytes.set(fw);
    this.initMemRegion(0, src.hva, BigInt(FW_BASE), FW_SIZE / 4096, this.opts.measure ?? true);
  }

  /** KVM_TDX_INIT_MEM_REGION through vCPU `i`; returns the (written back) region. */
  initMemRegion(i: number, source: bigint, gpa: bigint, nrPages: number, measure: boolean): ReturnType<typeof S.kvm_tdx_init_mem_region.decode> {
    const at = this.buf.bytes.subarray(0x10000);
    at.set(S.kvm_tdx_init_mem_region.encode({ source_addr: source, gpa, nr_pages: BigInt(nrPages) }));
    try {
      this.vcpuCmd(i, KVM_TDX.INIT_MEM_REGION, this.buf.hva + 0x10000n, measure ? KVM_TDX.MEASURE_MEMORY_REGION : 0);
    } finally {
      this.lastRegion = S.kvm_tdx_init_mem_region.decode(at);
    }
    return this.lastRegion;
  }

  lastRegion: ReturnType<typeof S.kvm_tdx_init_mem_region.decode> | null = null;
}
