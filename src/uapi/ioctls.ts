/**
 * The KVM ioctl tables, declared once as data: name, direction, number, argument type and the fd
 * kinds that accept it. Request numbers are computed from the argument's declared layout.
 * @module
 */
import { IOC, IOC_NONE, IOC_READ, IOC_WRITE, KVMIO } from './ioctl.js';
import { u64, ulong, s32, u32, type CType } from './layout.js';

/** The fd kinds of the KVM API (`device`: a KVM_CREATE_DEVICE fd). */
export type FdKind = 'system' | 'vm' | 'vcpu' | 'guest_memfd' | 'device';

/** One ioctl. */
export interface IoctlDef {
  /** C macro name, e.g. 'KVM_GET_REGS'. */
  readonly name: string;
  readonly request: number;
  readonly dir: 'none' | 'r' | 'w' | 'rw';
  readonly nr: number;
  /** Argument type whose size is encoded in the request (absent for `_IO`). */
  readonly arg?: CType;
  /** C spelling of the argument type, for the generated checks. */
  readonly argC?: string;
  readonly fds: readonly FdKind[];
  /** Defined only by the project's include/ headers on a 6.1 system (newer uapi or a seed patch). */
  readonly ext: boolean;
  /** The kernel's limit on the count of the argument's flexible array (see `CountLimit`). */
  readonly countLimit?: CountLimit;
}

/**
 * What the kernel does with a flexible-array count above its limit, after copying the header and
 * before touching any element: 'refuse' (E2BIG/EINVAL: no element is accessed) or 'clamp' (it
 * uses `max` instead). The argument checks (src/sys/args.ts) need only that many elements.
 */
export interface CountLimit {
  readonly max: number;
  readonly above: 'refuse' | 'clamp';
}

/** A row of an ioctl table: [suffix after KVM_, dir, nr, arg, fds, ext?, countLimit?]. */
export type IoctlRow = readonly [name: string, dir: IoctlDef['dir'], nr: number, arg: CType | null, fds: readonly FdKind[], ext?: 'ext' | null, countLimit?: CountLimit];

const DIRS = { none: IOC_NONE, r: IOC_READ, w: IOC_WRITE, rw: IOC_READ | IOC_WRITE } as const;

/**
 * The ioctl table built from `rows`, keyed by the literal C names (`KVM_` + each row's suffix), so
 * a misspelt name is a compile error wherever a name is looked up.
 */
export type IoctlTable<R extends readonly IoctlRow[], P extends string = 'KVM_'> = { readonly [Row in R[number] as `${P}${Row[0]}`]: IoctlDef };

/** Builds ioctl definitions from rows. `type` is the ioctl type byte (KVMIO for KVM). */
export function defineIoctls<const R extends readonly IoctlRow[], const P extends string = 'KVM_'>(rows: R, type = KVMIO, prefix: P = 'KVM_' as P): IoctlTable<R, P> {
  const out: Record<string, IoctlDef> = {};
  for (const [suffix, dir, nr, arg, fds, ext, countLimit] of rows) {
    const name = prefix + suffix;
    out[name] = Object.freeze({
      name,
      request: IOC(DIRS[dir], type, nr, arg ? arg.size : 0),
      dir,
      nr,
      ...(arg ? { arg, argC: arg.kind === 'scalar' ? arg.c : arg.kind === 'array' ? 'array' : `struct ${arg.tag}` } : {}),
      fds,
      ext: ext === 'ext',
      ...(countLimit ? { countLimit } : {}),
    });
  }
  return out as IoctlTable<R, P>;
}

/** Argument types that are plain C scalars in the uapi (`_IOW(KVMIO, n, __u64)` etc). */
export const scalarArgs = { u64, ulong, int: s32, u32 };

const SYS = ['system'] as const;
const VM = ['vm'] as const;
const VCPU = ['vcpu'] as const;

/** Rows valid on every architecture whose argument type does not depend on the arch. */
export function genericIoctlRows(s: {
  kvm_userspace_memory_region: CType;
  kvm_userspace_memory_region2: CType;
  kvm_dirty_log: CType;
  kvm_clear_dirty_log: CType;
  kvm_enable_cap: CType;
  kvm_irq_level: CType;
  kvm_irqfd: CType;
  kvm_ioeventfd: CType;
  kvm_irq_routing: CType;
  kvm_msi: CType;
  kvm_create_device: CType;
  kvm_device_attr: CType;
  kvm_memory_attributes: CType;
  kvm_create_guest_memfd: CType;
  kvm_mp_state: CType;
  kvm_guest_debug: CType;
  kvm_one_reg: CType;
  kvm_reg_list: CType;
  kvm_regs: CType;
  kvm_signal_mask: CType;
  kvm_coalesced_mmio_zone: CType;
}) {
  return [
    // system fd
    ['GET_API_VERSION', 'none', 0x00, null, SYS],
    ['CREATE_VM', 'none', 0x01, null, SYS],
    ['CHECK_EXTENSION', 'none', 0x03, null, ['system', 'vm']],
    ['GET_VCPU_MMAP_SIZE', 'none', 0x04, null, SYS],
    // vm fd
    ['CREATE_VCPU', 'none', 0x41, null, VM],
    ['GET_DIRTY_LOG', 'w', 0x42, s.kvm_dirty_log, VM],
    ['SET_USER_MEMORY_REGION', 'w', 0x46, s.kvm_userspace_memory_region, VM],
    ['SET_USER_MEMORY_REGION2', 'w', 0x49, s.kvm_userspace_memory_region2, VM, 'ext'],
    ['CREATE_IRQCHIP', 'none', 0x60, null, VM],
    ['IRQ_LINE', 'w', 0x61, s.kvm_irq_level, VM],
    ['REGISTER_COALESCED_MMIO', 'w', 0x67, s.kvm_coalesced_mmio_zone, VM],
    ['IRQ_LINE_STATUS', 'rw', 0x67, s.kvm_irq_level, VM],
    ['UNREGISTER_COALESCED_MMIO', 'w', 0x68, s.kvm_coalesced_mmio_zone, VM],
    ['SET_GSI_ROUTING', 'w', 0x6a, s.kvm_irq_routing, VM],
    ['IRQFD', 'w', 0x76, s.kvm_irqfd, VM],
    ['IOEVENTFD', 'w', 0x79, s.kvm_ioeventfd, VM],
    ['ENABLE_CAP', 'w', 0xa3, s.kvm_enable_cap, ['vm', 'vcpu']],
    ['SIGNAL_MSI', 'w', 0xa5, s.kvm_msi, VM],
    ['CLEAR_DIRTY_LOG', 'rw', 0xc0, s.kvm_clear_dirty_log, VM],
    ['GET_STATS_FD', 'none', 0xce, null, ['vm', 'vcpu']],
    ['SET_MEMORY_ATTRIBUTES', 'w', 0xd2, s.kvm_memory_attributes, VM, 'ext'],
    ['CREATE_GUEST_MEMFD', 'rw', 0xd4, s.kvm_create_guest_memfd, VM, 'ext'],
    ['CREATE_DEVICE', 'rw', 0xe0, s.kvm_create_device, VM],
    // device fds (and the vCPU/system attributes some arches answer with the same numbers)
    ['SET_DEVICE_ATTR', 'w', 0xe1, s.kvm_device_attr, ['device', 'vcpu', 'system']],
    ['GET_DEVICE_ATTR', 'w', 0xe2, s.kvm_device_attr, ['device', 'vcpu', 'system']],
    ['HAS_DEVICE_ATTR', 'w', 0xe3, s.kvm_device_attr, ['device', 'vcpu', 'system']],
    // vcpu fd
    ['RUN', 'none', 0x80, null, VCPU],
    ['GET_REGS', 'r', 0x81, s.kvm_regs, VCPU],
    ['SET_REGS', 'w', 0x82, s.kvm_regs, VCPU],
    // kvm_vcpu_ioctl: a len other than sizeof(sigset_t) is EINVAL before the set is read.
    ['SET_SIGNAL_MASK', 'w', 0x8b, s.kvm_signal_mask, VCPU, null, { max: 8, above: 'refuse' }],
    ['GET_MP_STATE', 'r', 0x98, s.kvm_mp_state, VCPU],
    ['SET_MP_STATE', 'w', 0x99, s.kvm_mp_state, VCPU],
    ['SET_GUEST_DEBUG', 'w', 0x9b, s.kvm_guest_debug, VCPU],
    ['GET_ONE_REG', 'w', 0xab, s.kvm_one_reg, VCPU],
    ['SET_ONE_REG', 'w', 0xac, s.kvm_one_reg, VCPU],
    ['GET_REG_LIST', 'rw', 0xb0, s.kvm_reg_list, VCPU],
  ] as const satisfies readonly IoctlRow[];
}
