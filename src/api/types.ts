import type { arm64, x86_64 } from '../uapi/index.js';

/** A view of struct kvm_run (the generic members are the same on both arches). */
export type KvmRunView = ReturnType<typeof x86_64.structs.kvm_run.view>;

/** x86 register files as plain objects (u64 fields as bigint). */
export type X86Regs = ReturnType<typeof x86_64.structs.kvm_regs.decode>;
export type X86Sregs = ReturnType<typeof x86_64.structs.kvm_sregs.decode>;
export type X86Segment = X86Sregs['cs'];
export type X86Fpu = ReturnType<typeof x86_64.structs.kvm_fpu.decode>;
export type X86DebugRegs = ReturnType<typeof x86_64.structs.kvm_debugregs.decode>;
export type X86VcpuEvents = ReturnType<typeof x86_64.structs.kvm_vcpu_events.decode>;
export type CpuidEntry = ReturnType<typeof x86_64.structs.kvm_cpuid_entry2.decode>;
export type Arm64VcpuInit = ReturnType<typeof arm64.structs.kvm_vcpu_init.decode>;

/** Input for KVM_SET_USER_MEMORY_REGION(2). */
export interface MemoryRegion {
  slot: number;
  flags?: number;
  guestPhysAddr: bigint | number;
  memorySize: bigint | number;
  userspaceAddr: bigint | number;
  /** KVM_SET_USER_MEMORY_REGION2 only. */
  guestMemfd?: number;
  guestMemfdOffset?: bigint | number;
}
