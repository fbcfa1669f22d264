import type { arm64, x86_64 } from '../uapi/index.js';

/** A view of struct kvm_run (the generic members are the same on both arches). */
export type KvmRunView = ReturnType<typeof x86_64.structs.kvm_run.view>;

/**
 * x86 register files as plain objects (u64 fields as bigint). The typed setters (`Vcpu.setRegs`,
 * `setSregs`, `KvmiClient.setRegisters`) take partial objects and merge them into the current
 * state; the struct encoders (`x86_64.structs.kvm_regs.encode`) zero what is omitted.
 */
export type X86Regs = ReturnType<typeof x86_64.structs.kvm_regs.decode>;
export type X86Sregs = ReturnType<typeof x86_64.structs.kvm_sregs.decode>;
export type X86Segment = X86Sregs['cs'];
export type X86Fpu = ReturnType<typeof x86_64.structs.kvm_fpu.decode>;
export type X86DebugRegs = ReturnType<typeof x86_64.structs.kvm_debugregs.decode>;
export type X86VcpuEvents = ReturnType<typeof x86_64.structs.kvm_vcpu_events.decode>;
export type CpuidEntry = ReturnType<typeof x86_64.structs.kvm_cpuid_entry2.decode>;
/** struct kvm_irqchip, decoded (`chip.pic` or `chip.ioapic` by chip_id). */
export type X86Irqchip = ReturnType<typeof x86_64.structs.kvm_irqchip.decode>;
/** struct kvm_pit_state2, decoded. */
export type X86PitState2 = ReturnType<typeof x86_64.structs.kvm_pit_state2.decode>;
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

/** A GSI route for KVM_SET_GSI_ROUTING: to an irqchip pin, or an MSI message. */
export type GsiRoute =
  | { readonly gsi: number; readonly type: 'irqchip'; readonly irqchip: number; readonly pin: number }
  | { readonly gsi: number; readonly type: 'msi'; readonly addressLo: number; readonly addressHi?: number; readonly data: number; readonly devid?: number; readonly flags?: number }
  /** Any other entry, as its C fields (type KVM_IRQ_ROUTING_*, the union as u32 words). */
  | { readonly gsi: number; readonly type: number; readonly flags?: number; readonly u?: readonly number[] };

/** An MSI message (struct kvm_msi) for KVM_SIGNAL_MSI. */
export interface MsiMessage {
  readonly addressLo: number;
  readonly addressHi?: number;
  readonly data: number;
  /** KVM_MSI_VALID_DEVID when `devid` is meaningful. */
  readonly flags?: number;
  readonly devid?: number;
}

/** Arguments of KVM_IRQFD. */
export interface IrqfdOptions {
  /** The eventfd (an `EventFd` or its fd). */
  readonly fd: number | { readonly fd: number };
  readonly gsi: number;
  /** KVM_IRQFD_FLAG_RESAMPLE with this eventfd: a level interrupt, lowered (and this signalled) at the guest's EOI. */
  readonly resamplefd?: number | { readonly fd: number };
  /** KVM_IRQFD_FLAG_DEASSIGN */
  readonly deassign?: boolean;
  /** Raw flags added to the ones the options imply (to test bad input). */
  readonly flags?: number;
}

/** Arguments of KVM_IOEVENTFD. */
export interface IoeventfdOptions {
  /** The eventfd (an `EventFd` or its fd). */
  readonly fd: number | { readonly fd: number };
  /** A guest physical address (MMIO) or a port (`pio: true`). */
  readonly addr: bigint | number;
  /** Access length 1, 2, 4 or 8; 0 matches any length (KVM_CAP_IOEVENTFD_ANY_LENGTH). */
  readonly len: number;
  /** KVM_IOEVENTFD_FLAG_DATAMATCH with this value: only writes of it signal. */
  readonly datamatch?: bigint | number;
  /** KVM_IOEVENTFD_FLAG_PIO */
  readonly pio?: boolean;
  /** KVM_IOEVENTFD_FLAG_DEASSIGN */
  readonly deassign?: boolean;
  /** Raw flags added to the ones the options imply. */
  readonly flags?: number;
}

/** struct kvm_clock_data, decoded (KVM_GET_CLOCK / KVM_SET_CLOCK, x86). */
export interface KvmClock {
  /** kvmclock, ns. */
  readonly clock: bigint;
  /** KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC */
  readonly flags: number;
  /** Wall-clock ns at the same instant (KVM_CLOCK_REALTIME). */
  readonly realtime: bigint;
  /** The host TSC at the same instant (KVM_CLOCK_HOST_TSC). */
  readonly hostTsc: bigint;
}
