/**
 * The arch backend interface: the hooks the generic kernel calls, as kvm_main.c calls
 * kvm_arch_*. The generic kernel never switches on the architecture itself.
 * @module
 */
import type { Arch } from '../uapi/index.js';
import type { KvmDeviceOps } from './device.js';
import type { ArchRoute, MsiMessage, RoutingEntryInput } from './irq.js';
import type { Kernel } from './kernel.js';
import type { Vcpu } from './vcpu.js';
import type { Vm } from './vm.js';
import type { UserArg } from './uarg.js';


/** Returned by an arch ioctl hook that does not handle the request. */
export const NOT_HANDLED = Symbol('not handled');

export interface ArchBackend {
  /** The ABI (uapi layouts and ioctl numbers) this backend speaks. */
  readonly arch: Arch;
  /** The backend's name in the static table of backends (src/sys/backends.ts); default: `arch`. */
  readonly name?: string;
  /**
   * True once the arch's exit points consult the VM's I/O buses before building an exit
   * (src/kernel/iobus.ts): then ioeventfds work and KVM_CAP_IOEVENTFD (+ ANY_LENGTH) are reported.
   */
  readonly ioBus?: boolean;
  /**
   * Pages of the vCPU mmap area, KVM_GET_VCPU_MMAP_SIZE / PAGE_SIZE: kvm_run, then the arch's
   * pages up to the coalesced MMIO one (x86: PIO data, coalesced MMIO; arm64: coalesced MMIO).
   */
  readonly vcpuMmapPages: number;
  /** KVM_MAX_VCPUS */
  readonly maxVcpus: number;
  /** KVM_MAX_VCPU_IDS */
  readonly maxVcpuIds: number;
  /** KVM_USER_MEM_SLOTS */
  readonly userMemSlots: number;

  /** kvm_vm_ioctl_check_extension for arch caps (`vm` null on the system fd); 0 when unsupported. */
  checkExtension(cap: number, vm: Vm | null): number;

  /** kvm_arch_init_vm: validates the KVM_CREATE_VM type (throw EINVAL) and returns arch VM state. */
  initVm(vm: Vm, type: number): unknown;
  /** kvm_arch_destroy_vm */
  destroyVm?(vm: Vm): void;
  /** kvm_arch_nr_memslot_as_ids */
  addressSpaces(vm: Vm): number;
  /** kvm_arch_has_private_mem (`null`: whether any VM type of this host has private memory). */
  hasPrivateMem(vm: Vm | null): boolean;
  /** kvm_arch_has_readonly_mem */
  hasReadonlyMem(vm: Vm): boolean;
  /** Supported guest_memfd creation flags for this VM (`null`: the system fd's answer). */
  gmemFlags(vm: Vm | null): bigint;
  /**
   * kvm_arch_prepare_memory_region: refuse (throw the kernel's errno) a slot the arch cannot map,
   * e.g. one ending above the largest guest physical address.
   */
  prepareMemoryRegion?(vm: Vm, kind: 'create' | 'move' | 'flags', baseGfn: number, npages: number, flags: number): void;

  /** kvm_arch_dev_ioctl: system-fd ioctls the arch owns. */
  devIoctl?(kernel: Kernel, request: number, arg: UserArg): number | typeof NOT_HANDLED;
  /** kvm_arch_vm_ioctl */
  vmIoctl?(vm: Vm, request: number, arg: UserArg): number | typeof NOT_HANDLED;
  /** The errno of an unknown VM ioctl (x86 answers ENOTTY, arm64 EINVAL). */
  readonly unknownVmIoctlErrno: 'ENOTTY' | 'EINVAL';
  /** kvm_vm_ioctl_enable_cap: throw EINVAL for unsupported caps or bad args. */
  enableCapVm(vm: Vm, cap: number, flags: number, args: readonly bigint[]): number;

  /** kvm_arch_vcpu_precreate: refuses a new vCPU (throw the errno: arm64 EBUSY once its vGIC is initialized). */
  precreateVcpu?(vm: Vm, id: number): void;
  /** kvm_arch_vcpu_create: arch vCPU state (registers at their reset values). */
  createVcpu(vcpu: Vcpu): unknown;
  /** kvm_arch_vcpu_ioctl */
  vcpuIoctl(vcpu: Vcpu, request: number, arg: UserArg): number | typeof NOT_HANDLED;
  /**
   * kvm_arch_vcpu_ioctl_run: completes any exit userspace has answered, honours immediate_exit,
   * runs the guest until the next exit and fills kvm_run. Returns 0 or throws a KvmError (EINTR...).
   */
  run(vcpu: Vcpu): number;

  // ---- In-kernel irqchip and devices (src/kernel/{irq,irqfd,device}.ts). All optional: an arch
  // without them answers as the kernel does for a VM with no in-kernel irqchip (IRQ_LINE ENXIO,
  // SIGNAL_MSI / SET_GSI_ROUTING / IRQFD EINVAL, CREATE_DEVICE ENODEV), and KVM_CREATE_IRQCHIP
  // is an unknown ioctl. The capabilities that need an irqchip (IRQFD, IRQ_ROUTING, SIGNAL_MSI,
  // IRQFD_RESAMPLE) are reported only when `setRoutingEntry` exists. ----
  /** KVM_NR_IRQCHIPS: irqchips a routing entry can name (x86 3: PIC master, slave, IOAPIC; arm64 1). */
  readonly nrIrqchips?: number;
  /** KVM_IRQCHIP_NUM_PINS: pins per irqchip (x86 24, arm64 988 SPIs). */
  readonly irqchipPins?: number;
  /**
   * KVM_CREATE_IRQCHIP: creates the in-kernel irqchip and installs its default routing
   * (`setDefaultIrqRouting`), or throws the kernel's errno (x86: EEXIST twice, EINVAL once a vCPU
   * exists). Absent: the request is an unknown VM ioctl.
   */
  createIrqchip?(vm: Vm): void;
  /** irqchip_in_kernel (kvm_arch_irqchip_in_kernel): absent means never. */
  irqchipInKernel?(vm: Vm): boolean;
  /** kvm_arch_intc_initialized: KVM_IRQFD answers EAGAIN until it holds (arm64: vGIC initialized). Absent: true. */
  intcInitialized?(vm: Vm): boolean;
  /** kvm_arch_irqfd_allowed (absent: irqchipInKernel; x86 also needs a full irqchip to resample). */
  irqfdAllowed?(vm: Vm, resample: boolean): boolean;
  /** kvm_arch_can_set_irq_routing: KVM_SET_GSI_ROUTING is EINVAL otherwise (absent: irqchipInKernel). */
  canSetIrqRouting?(vm: Vm): boolean;
  /**
   * kvm_set_routing_entry: validates a routing entry (throw EINVAL) and gives the callback that
   * drives its irqchip pin or MSI: the arch's setIrq for that route.
   */
  setRoutingEntry?(vm: Vm, e: RoutingEntryInput): ArchRoute;
  /** kvm_set_msi: delivers an MSI (KVM_SIGNAL_MSI and MSI routes); the result as kvm_set_irq's. */
  setMsi?(vm: Vm, msi: MsiMessage, irqSourceId: number, level: number, lineStatus: boolean): number;
  /**
   * kvm_vm_ioctl_irq_line: KVM_IRQ_LINE(_STATUS), returning the status. Absent: `routedIrqLine`
   * (x86's: ENXIO without an irqchip, else kvm_set_irq on the GSI). arm64 decodes its irq-type layout.
   */
  irqLine?(vm: Vm, irq: number, level: number, lineStatus: boolean): number;
  /** kvm_arch_post_irq_routing_update: the GSI routing table was replaced. */
  irqRoutingUpdated?(vm: Vm): void;
  /** kvm_arch_post_irq_ack_notifier_list_update: an ack notifier was registered or removed. */
  ackNotifiersChanged?(vm: Vm): void;
  /** kvm_device_ops_table: the KVM_CREATE_DEVICE types this arch has (undefined: ENODEV). */
  deviceOps?(type: number): KvmDeviceOps | undefined;

  // ---- SMP: vCPUs running on worker threads (src/kernel/smp.ts); absent: not supported ----
  /** Why this VM's vCPUs cannot run on another thread (undefined: they can). */
  smpBlocker?(vm: Vm): string | undefined;
  /**
   * vcpu->arch as structured-cloneable data: everything a vCPU needs to go on running elsewhere
   * (registers, pending exit completions, debug state), none of its caches.
   */
  saveVcpu?(vcpu: Vcpu): unknown;
  /** Loads what saveVcpu produced, into a fresh mirror vCPU or back into the owner's. */
  loadVcpu?(vcpu: Vcpu, state: unknown): void;
  /** The kvm->arch a running vCPU reads (enabled capabilities, MSR filter...), cloneable. */
  saveVm?(vm: Vm): unknown;
  /** Loads what saveVm produced into a worker thread's mirror of the VM. */
  loadVm?(vm: Vm, state: unknown): void;
}
