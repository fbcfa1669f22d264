/**
 * The x86 arch backend (VMX flavour): KVM_CREATE_VM types, capabilities, the x86 system/VM/vCPU
 * ioctls and KVM_RUN. Like vmx/main.c, a VM's flavour (plain VMX or TDX) picks the implementation.
 * @module
 */
import { NOT_HANDLED, type ArchBackend } from '../../kernel/arch.js';
import type { UserArg } from '../../kernel/uarg.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import type { Vm } from '../../kernel/vm.js';
import { KvmError } from '../../sys/error.js';
import { GUEST_MEMFD_FLAG, KVM_CAP, KVM_MEMORY_EXIT_FLAG, KVM_MP_STATE, KVM_MSR_EXIT_REASON } from '../../uapi/constants.js';
import { x86_64 } from '../../uapi/index.js';
import { KVM_GUESTDBG_X86, KVM_MSR_FILTER, KVM_SREGS2_FLAGS, KVM_X86_VM } from '../../uapi/x86.js';
import { Acc, ERRNO_EXIT, isCanonical, VEC } from './cpu.js';
import { exitMemoryFault } from '../../kernel/exits.js';
import { hostTranslate } from './host-walk.js';
import { supportedCpuid, type CpuidEntry } from './cpuid.js';
import { hostReadMsr, hostWriteMsr, MsrFilter, MSR_INDEX_LIST, msrIo } from './msr.js';
import { KVM_MAX_MCE_BANKS, mcgCap, MCG, setMce, setupMce, SUPPORTED_MCE_CAP } from './mce.js';
import { chipOf, X86Irqchip } from './irqchip/chip.js';
import { APIC } from './irqchip/apic.js';
import { irqchipCheckExtension, irqchipEnableCap, irqchipVcpuIoctl, irqchipVmIoctl } from './irqchip/ioctls.js';
import { irqchipMsrRead, irqchipMsrWrite, isIrqchipMsr, setApicBase } from './irqchip/msrs.js';
import { cpuidHas, cpuidMaxPhyAddr, getRegs, getSregs, setRegs, setSregs, sregsInvalid, type SregsModel } from './regs.js';
import { loadX86Vcpu, loadX86Vm, saveX86Vcpu, saveX86Vm, x86SmpBlocker } from './handover.js';
import { X86Machine, x86Run } from './run.js';
import { validXcr0 } from './exec/xsave.js';
import { getXsave, KVM_XSAVE_SIZE, setXsave } from './xstate.js';
import { tdx } from './tdx/index.js'; // [tdx hook] the TDX flavour (tdx/)
import { kvmiBreakpointBusy, kvmiVcpuCreated, kvmiVmDestroyed, kvmiVmIoctl } from '../../introspection/kvmi.js'; // [kvmi hook]
import { KVM_CAP_INTROSPECTION, KVMI_VERSION } from '../../uapi/kvmi.js'; // [kvmi hook]

const I = x86_64.ioctls;
const S = x86_64.structs;
const req = (name: keyof typeof I) => I[name]!.request;

/** Per-VM x86 state (kvm->arch). */
export interface X86VmState {
  readonly type: number;
  /** KVM_CAP_X86_USER_SPACE_MSR reasons enabled. */
  userSpaceMsr: number;
  /** KVM_CAP_EXIT_HYPERCALL enabled hypercalls mask. */
  exitHypercall: bigint;
  msrFilter: MsrFilter | null;
  /** kvm->arch.max_vcpu_ids: 0 until KVM_CAP_MAX_VCPU_ID or the first vCPU fixes it. */
  maxVcpuIds: number;
  /** The in-kernel irqchip, time and APIC delivery state (irqchip/chip.ts). */
  readonly irq: X86Irqchip;
}

/** KVM_GUESTDBG_VALID_MASK on x86. */
const GUESTDBG_VALID = 0x1 | 0x2 | KVM_GUESTDBG_X86.USE_SW_BP | KVM_GUESTDBG_X86.USE_HW_BP | KVM_GUESTDBG_X86.INJECT_DB | KVM_GUESTDBG_X86.INJECT_BP | KVM_GUESTDBG_X86.BLOCKIRQ;

/** VM types this host supports (TDX arrives with the TDX flavour). */
const VM_TYPES = (1 << KVM_X86_VM.DEFAULT_VM) | (1 << KVM_X86_VM.SW_PROTECTED_VM) | tdx.vmTypeBit; // [tdx hook]

/** KVM_HC_MAP_GPA_RANGE is the only hypercall KVM forwards (KVM_EXIT_HYPERCALL_VALID_MASK). */
const EXIT_HYPERCALL_VALID = 1n << 12n;
/** KVM_MIN_ALLOC_MMU_PAGES: KVM_SET_NR_MMU_PAGES refuses fewer. */
const KVM_MIN_ALLOC_MMU_PAGES = 64n;
const USER_SPACE_MSR_VALID = KVM_MSR_EXIT_REASON.INVAL | KVM_MSR_EXIT_REASON.UNKNOWN | KVM_MSR_EXIT_REASON.FILTER;

/** kvm_cpuid2: header size (entries start) and entry stride, from the declaration. */
const CPUID2_HDR = S.kvm_cpuid2.offsetOf('entries');
const CPUID_ENTRY = S.kvm_cpuid_entry2.size;

/** KVM_MAX_CPUID_ENTRIES */
const MAX_CPUID_ENTRIES = 256;

const einval = (arg: UserArg, message?: string) => KvmError.of('EINVAL', 'ioctl', { request: arg.request, fd: arg.fd, ...(message ? { message } : {}) });
const e2big = (arg: UserArg) => KvmError.of('E2BIG', 'ioctl', { request: arg.request, fd: arg.fd });

let maxGfnCache = 0;
/** kvm_mmu_max_gfn with EPT: the host MAXPHYADDR (CPUID 0x80000008 EAX[7:0]) in pages, minus one. */
function maxGfn(): number {
  if (!maxGfnCache) {
    const bits = (supportedCpuid().find((e) => e.function === 0x80000008)?.eax ?? 36) & 0xff;
    maxGfnCache = 2 ** (bits - 12) - 1;
  }
  return maxGfnCache;
}

/**
 * Writes `entries` into a kvm_cpuid2 argument (kvm_dev_ioctl_get_cpuid, kvm_vcpu_ioctl_get_cpuid2):
 * E2BIG when they do not fit, leaving nent as it was (the header is copied back only on success).
 * `atLeastOne`: KVM_GET_SUPPORTED/EMULATED_CPUID refuse nent 0 even when nothing would be written.
 */
function putCpuid(arg: UserArg, entries: readonly CpuidEntry[], atLeastOne = false): number {
  const hdr = arg.bytes(CPUID2_HDR);
  const dv = new DataView(hdr.buffer, hdr.byteOffset, CPUID2_HDR);
  const nentAt = S.kvm_cpuid2.offsetOf('nent');
  const nent = dv.getUint32(nentAt, true);
  if (nent < entries.length || (atLeastOne && nent < 1)) throw e2big(arg);
  const out = arg.slice(CPUID2_HDR, entries.length * CPUID_ENTRY);
  entries.forEach((e, i) => S.kvm_cpuid_entry2.encodeInto({ ...e, padding: [0, 0, 0] }, out, i * CPUID_ENTRY));
  dv.setUint32(nentAt, entries.length, true);
  return 0;
}

/** Writes a u32 index list into a kvm_msr_list argument (E2BIG with nmsrs updated when too small). */
function putMsrList(arg: UserArg, list: readonly number[]): number {
  const hdrSize = S.kvm_msr_list.offsetOf('indices');
  const hdr = arg.bytes(hdrSize);
  const dv = new DataView(hdr.buffer, hdr.byteOffset, hdrSize);
  const nAt = S.kvm_msr_list.offsetOf('nmsrs');
  const n = dv.getUint32(nAt, true);
  dv.setUint32(nAt, list.length, true);
  if (n < list.length) throw e2big(arg);
  const stride = S.kvm_msr_list.fields.indices.elem.size;
  const out = arg.slice(hdrSize, stride * list.length);
  const odv = new DataView(out.buffer, out.byteOffset, out.length);
  list.forEach((x, i) => odv.setUint32(stride * i, x, true));
  return 0;
}

export const x86Backend: ArchBackend = {
  arch: 'x86_64',
  vcpuMmapPages: x86_64.KVM_PAGE_OFFSET.COALESCED_MMIO + 1,
  maxVcpus: 1024,
  maxVcpuIds: 4096,
  userMemSlots: 32764,
  unknownVmIoctlErrno: 'ENOTTY',

  checkExtension(cap, vm) {
    const td = tdx.checkExtension(cap, vm); // [tdx hook]
    if (td !== undefined) return td;
    switch (cap) {
      case KVM_CAP.SET_GUEST_DEBUG:
      case KVM_CAP.READONLY_MEM:
      case KVM_CAP.MP_STATE:
      case KVM_CAP.SREGS2:
      case KVM_CAP.EXT_CPUID:
      case KVM_CAP.DEBUGREGS:
      case KVM_CAP.VCPU_EVENTS:
      case KVM_CAP.X86_MSR_FILTER:
      case KVM_CAP.INTR_SHADOW:
      case KVM_CAP.XCRS:
      case KVM_CAP.XSAVE:
      case KVM_CAP.SET_TSS_ADDR:
      case KVM_CAP.SET_IDENTITY_MAP_ADDR:
      case KVM_CAP.USER_NMI:
      case KVM_CAP.MEMORY_FAULT_INFO: // x86.c: KVM_EXIT_MEMORY_FAULT with -EFAULT (TDX, private memory)
      case KVM_CAP.ENABLE_CAP: // the vCPU's KVM_ENABLE_CAP exists (x86.c; it refuses every cap without Hyper-V)
      case KVM_CAP.MMU_SHADOW_CACHE_CONTROL: // KVM_SET_NR_MMU_PAGES
        return 1;
      case KVM_CAP.MCE:
        return KVM_MAX_MCE_BANKS;
      case KVM_CAP.X86_USER_SPACE_MSR:
        return 1;
      case KVM_CAP.XSAVE2:
        return KVM_XSAVE_SIZE;
      case KVM_CAP.EXIT_HYPERCALL:
        return Number(EXIT_HYPERCALL_VALID);
      case KVM_CAP.SET_GUEST_DEBUG2:
        return GUESTDBG_VALID;
      case KVM_CAP.VM_TYPES:
        return VM_TYPES;
      case KVM_CAP_INTROSPECTION: // [kvmi hook] the KVMI seed extension
        return KVMI_VERSION;
      default:
        return irqchipCheckExtension(cap) ?? 0;
    }
  },

  initVm(_vm, type): X86VmState {
    if (type < 0 || type > 31 || !(VM_TYPES & (1 << type))) {
      throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_CREATE_VM'), message: `VM type ${type} is not supported` });
    }
    tdx.initVm(_vm, type); // [tdx hook]
    return { type, userSpaceMsr: 0, exitHypercall: 0n, msrFilter: null, maxVcpuIds: 0, irq: new X86Irqchip(_vm) };
  },
  addressSpaces: () => 1,
  hasPrivateMem: (vm) => !vm || (vm.archState as X86VmState).type === KVM_X86_VM.SW_PROTECTED_VM || tdx.isTd(vm), // [tdx hook]
  hasReadonlyMem: (vm) => !tdx.isTd(vm), // [tdx hook] has_protected_state VMs have no read-only memory
  gmemFlags: (vm) => (vm && (vm.archState as X86VmState).type !== KVM_X86_VM.DEFAULT_VM ? 0n : BigInt(GUEST_MEMFD_FLAG.MMAP | GUEST_MEMFD_FLAG.INIT_SHARED)),
  prepareMemoryRegion(_vm, kind, baseGfn, npages) {
    // kvm_arch_prepare_memory_region: with EPT a slot must end below 2^MAXPHYADDR (kvm_mmu_max_gfn).
    if ((kind === 'create' || kind === 'move') && baseGfn + npages - 1 > maxGfn()) {
      throw KvmError.of('EINVAL', 'ioctl', { message: 'memslot ends above the largest guest physical address' });
    }
  },

  devIoctl(_kernel, request, arg) {
    switch (request) {
      case req('KVM_GET_SUPPORTED_CPUID'):
        return putCpuid(arg, supportedCpuid(), true);
      case req('KVM_GET_EMULATED_CPUID'):
        return putCpuid(arg, [], true);
      case req('KVM_GET_MSR_INDEX_LIST'):
        return putMsrList(arg, MSR_INDEX_LIST);
      case req('KVM_GET_MSR_FEATURE_INDEX_LIST'):
        return putMsrList(arg, []);
      case req('KVM_X86_GET_MCE_CAP_SUPPORTED'):
      {
        const b = arg.bytes(8);
        new DataView(b.buffer, b.byteOffset, 8).setBigUint64(0, SUPPORTED_MCE_CAP, true);
        return 0;
      }
      case req('KVM_GET_MSRS'):
        // msr_io on the system fd (feature MSRs): the count limit, the entries copied in, then
        // none is implemented, so the first entry stops the scan.
        return msrIo(arg, false, () => undefined, () => false);
      default:
        return NOT_HANDLED;
    }
  },

  vmIoctl(vm, request, arg) {
    const td = tdx.vmIoctl(vm, request, arg); // [tdx hook]
    if (td !== NOT_HANDLED) return td;
    const st = vm.archState as X86VmState;
    switch (request) {
      case req('KVM_SET_TSS_ADDR'):
        // kvm_vm_ioctl_set_tss_addr: the three pages must end below 4 GiB.
        if (arg.int > 0xffffd000n) throw einval(arg);
        return 0;
      case req('KVM_SET_NR_MMU_PAGES'):
        // kvm_vm_ioctl_set_nr_mmu_pages: a size hint for the shadow-page cache; with no MMU page
        // pool here, only its lower bound is checked.
        if (arg.int < KVM_MIN_ALLOC_MMU_PAGES) throw einval(arg, 'fewer than KVM_MIN_ALLOC_MMU_PAGES');
        return 0;
      case req('KVM_SET_IDENTITY_MAP_ADDR'):
        // Only before the first vCPU (kvm->created_vcpus), then the u64 is copied in.
        if (vm.createdVcpus > 0) throw einval(arg);
        arg.bytes(8);
        return 0;
      case req('KVM_X86_SET_MSR_FILTER'): {
        // kvm_vm_ioctl_set_msr_filter / kvm_add_msr_filter
        const f = S.kvm_msr_filter.decode(arg.bytes(S.kvm_msr_filter.size));
        if (f.flags & ~KVM_MSR_FILTER.DEFAULT_DENY) throw einval(arg, `unknown flags 0x${f.flags.toString(16)}`);
        if (f.flags & KVM_MSR_FILTER.DEFAULT_DENY && f.ranges.every((r) => !r.nmsrs)) throw einval(arg, 'KVM_MSR_FILTER_DEFAULT_DENY with no range');
        const ranges: { flags: number; base: number; nmsrs: number; bitmap: Uint8Array }[] = [];
        for (const r of f.ranges) {
          if (!r.nmsrs) continue; // a range without MSRs is skipped, whatever its flags
          if (r.flags & ~(KVM_MSR_FILTER.READ | KVM_MSR_FILTER.WRITE) || !r.flags) throw einval(arg, `range flags 0x${r.flags.toString(16)}`);
          // The bitmap is copied in whole longs: BITS_TO_LONGS(nmsrs) * 8 bytes, at most 0x600.
          const bytes = Math.ceil(r.nmsrs / 64) * 8;
          if (bytes > KVM_MSR_FILTER.MAX_BITMAP_SIZE) throw einval(arg, `a ${r.nmsrs}-MSR range needs a bitmap over KVM_MSR_FILTER_MAX_BITMAP_SIZE`);
          ranges.push({ flags: r.flags, base: r.base, nmsrs: r.nmsrs, bitmap: vm.kernel.space.user(r.bitmap, bytes).slice() });
        }
        st.msrFilter = f.flags & 1 || ranges.length ? new MsrFilter((f.flags & 1) !== 0, ranges) : null;
        return 0;
      }
      default: {
        const r = irqchipVmIoctl(vm, request, arg);
        if (r !== NOT_HANDLED) return r;
        return kvmiVmIoctl(vm, request, arg); // [kvmi hook] KVM_INTROSPECTION_* (NOT_HANDLED otherwise)
      }
    }
  },

  enableCapVm(vm: Vm, cap, flags, args) {
    const st = vm.archState as X86VmState;
    const bad = () => KvmError.of('EINVAL', 'ioctl', { request: req('KVM_ENABLE_CAP') });
    if (flags) throw bad();
    const td = tdx.enableCap(vm, cap, args); // [tdx hook]
    if (td !== undefined) return td;
    const ic = irqchipEnableCap(vm, cap, args);
    if (ic !== undefined) return ic;
    switch (cap) {
      case KVM_CAP.X86_USER_SPACE_MSR:
        if (args[0]! & ~BigInt(USER_SPACE_MSR_VALID)) throw bad();
        st.userSpaceMsr = Number(args[0]);
        return 0;
      case KVM_CAP.EXIT_HYPERCALL:
        if (args[0]! & ~EXIT_HYPERCALL_VALID) throw bad();
        st.exitHypercall = args[0]!;
        return 0;
      case KVM_CAP.MAX_VCPU_ID: {
        // x86.c kvm_vm_ioctl_enable_cap: at most KVM_MAX_VCPU_IDS, not below the boot CPU's id, and
        // once only (the first vCPU fixes it too); setting the same value again is fine.
        const n = args[0]!;
        if (n > BigInt(x86Backend.maxVcpuIds) || BigInt(chipOf(vm).bspVcpuId) > n) throw bad();
        if (st.maxVcpuIds === Number(n)) return 0;
        if (st.maxVcpuIds) throw bad();
        st.maxVcpuIds = Number(n);
        return 0;
      }
      default:
        throw bad();
    }
  },

  precreateVcpu(vm: Vm, id: number) {
    // kvm_arch_vcpu_precreate: the first vCPU fixes max_vcpu_ids (KVM_MAX_VCPU_IDS unless set).
    const st = vm.archState as X86VmState;
    if (!st.maxVcpuIds) st.maxVcpuIds = x86Backend.maxVcpuIds;
    if (id >= st.maxVcpuIds) throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_CREATE_VCPU'), message: `vcpu id ${id} >= KVM_CAP_MAX_VCPU_ID (${st.maxVcpuIds})` });
  },

  createVcpu(vcpu: Vcpu): X86Machine {
    const m = tdx.createVcpu(vcpu) ?? new X86Machine(vcpu); // [tdx hook]
    if ((vcpu.vm.archState as X86VmState).type === KVM_X86_VM.SW_PROTECTED_VM) swProtectedFaults(m);
    kvmiVcpuCreated(vcpu, m.kvmi); // [kvmi hook]
    const vm = vcpu.vm;
    const chip = chipOf(vm);
    const bsp = vcpu.id === chip.bspVcpuId;
    if (chip.defaultTscKhz) m.events.time.setTscKhz(chip.defaultTscKhz);
    if (!vm.kernel.mirror) {
      // kvm_arch_vcpu_postcreate -> kvm_synchronize_tsc(vcpu, NULL)
      chip.tscSync = m.events.time.synchronizeAtCreate(chip.tscSync, vcpu.timer.now(m.retired));
      // kvm_vcpu_reset(RESET): IA32_APIC_BASE is the default base, enabled, BSP only on the boot vCPU.
      m.s.apicBase = 0xfee00800n | (bsp ? 0x100n : 0n);
      m.events.apic.postBase(m.s.apicBase);
      if (chip.inKernel) {
        // kvm_create_lapic; APs wait for INIT/SIPI (KVM_MP_STATE_UNINITIALIZED).
        const l = m.events.createLapic();
        m.cpu.localMmio = l;
        chip.vcpusChanged();
        l.reset(false);
        if (!bsp) m.mpState = KVM_MP_STATE.UNINITIALIZED;
      }
      vm.bumpView(); // workers learn the new vCPU's APIC page
    }
    return m;
  },

  vcpuIoctl(vcpu: Vcpu, request: number, arg: UserArg) {
    const td = tdx.vcpuIoctl(vcpu, request, arg); // [tdx hook]
    if (td !== NOT_HANDLED) return td;
    const m = vcpu.archState as X86Machine;
    const s = m.s;
    const ic = irqchipVcpuIoctl(vcpu, m, request, arg);
    if (ic !== NOT_HANDLED) return ic;
    switch (request) {
      case req('KVM_GET_REGS'):
        arg.bytes(S.kvm_regs.size).set(getRegs(s));
        return 0;
      case req('KVM_SET_REGS'): {
        m.cpu.getFlags();
        const rip = s.rip;
        setRegs(s, arg.bytes(S.kvm_regs.size));
        m.cpu.updateMode();
        // A REP INS still on its instruction completes with the registers as set (KVM's
        // complete_emulated_pio resumes the emulator, which reloads them: userspace_io_test
        // lowers RCX there); other pending exits are dropped.
        if (!(m.pending?.kind === 'ins' && s.rip === rip)) m.pending = null;
        return 0;
      }
      case req('KVM_GET_SREGS'): {
        const out = getSregs(s);
        if (m.events.irq >= 0) S.kvm_sregs.view(out).interrupt_bitmap.set(m.events.irq >> 6, 1n << BigInt(m.events.irq & 63));
        arg.bytes(S.kvm_sregs.size).set(out);
        return 0;
      }
      case req('KVM_SET_SREGS'): {
        const b = arg.bytes(S.kvm_sregs.size);
        const why = sregsInvalid(S.kvm_sregs.decode(b), sregsModel(m));
        if (why) throw einval(arg, why);
        // Then kvm_apic_set_base (host-initiated): a bad base is EINVAL with nothing changed.
        const base = S.kvm_sregs.decode(b).apic_base;
        const old = s.apicBase;
        if (!setApicBase(m, base, true)) throw einval(arg);
        setSregs(s, b);
        s.apicBase = old;
        setApicBase(m, base, true);
        const bm = S.kvm_sregs.decode(b).interrupt_bitmap;
        m.events.irq = -1;
        for (let w = 0; w < 4; w++) for (let bit = 0; bit < 64; bit++) if ((bm[w]! >> BigInt(bit)) & 1n && m.events.irq < 0) m.events.irq = w * 64 + bit;
        sregsChanged(m);
        return 0;
      }
      case req('KVM_GET_SREGS2'): {
        const base = getSregs(s);
        const out = S.kvm_sregs2.alloc();
        out.set(base.subarray(0, S.kvm_sregs.offsetOf('interrupt_bitmap')));
        arg.bytes(S.kvm_sregs2.size).set(out);
        return 0;
      }
      case req('KVM_SET_SREGS2'): {
        const b = arg.bytes(S.kvm_sregs2.size);
        const r = S.kvm_sregs2.decode(b);
        const PDPTRS_VALID = BigInt(KVM_SREGS2_FLAGS.PDPTRS_VALID);
        if (r.flags & ~PDPTRS_VALID) throw einval(arg);
        // PDPTRS_VALID only for PAE paging (CR0.PG, CR4.PAE, not EFER.LMA).
        const pae = r.cr0 & 0x80000000n && r.cr4 & 0x20n && !(r.efer & 0x400n);
        if (r.flags & PDPTRS_VALID && !pae) throw einval(arg, 'KVM_SREGS2_FLAGS_PDPTRS_VALID without PAE paging');
        const why = sregsInvalid(r, sregsModel(m));
        if (why) throw einval(arg, why);
        const legacy = S.kvm_sregs.alloc();
        legacy.set(b.subarray(0, S.kvm_sregs.offsetOf('interrupt_bitmap')));
        const base = S.kvm_sregs.decode(legacy).apic_base;
        const old = s.apicBase;
        if (!setApicBase(m, base, true)) throw einval(arg);
        setSregs(s, legacy);
        s.apicBase = old;
        setApicBase(m, base, true);
        sregsChanged(m);
        return 0;
      }
      case req('KVM_GET_FPU'): {
        const fx = s.fx;
        const dv = new DataView(fx.buffer, fx.byteOffset, 512);
        arg.bytes(S.kvm_fpu.size).set(
          S.kvm_fpu.encode({
            fpr: Array.from({ length: 8 }, (_, i) => fx.slice(32 + 16 * i, 48 + 16 * i)),
            fcw: dv.getUint16(0, true),
            fsw: dv.getUint16(2, true),
            ftwx: fx[4]!,
            last_opcode: dv.getUint16(6, true),
            last_ip: dv.getBigUint64(8, true),
            last_dp: dv.getBigUint64(16, true),
            xmm: Array.from({ length: 16 }, (_, i) => fx.slice(160 + 16 * i, 176 + 16 * i)),
            mxcsr: dv.getUint32(24, true),
          }),
        );
        return 0;
      }
      case req('KVM_SET_FPU'): {
        const f = S.kvm_fpu.decode(arg.bytes(S.kvm_fpu.size));
        const fx = s.fx;
        const dv = new DataView(fx.buffer, fx.byteOffset, 512);
        dv.setUint16(0, f.fcw, true);
        dv.setUint16(2, f.fsw, true);
        fx[4] = f.ftwx;
        dv.setUint16(6, f.last_opcode, true);
        dv.setBigUint64(8, f.last_ip, true);
        dv.setBigUint64(16, f.last_dp, true);
        dv.setUint32(24, f.mxcsr, true);
        f.fpr.forEach((r, i) => fx.set(r, 32 + 16 * i));
        f.xmm.forEach((r, i) => fx.set(r, 160 + 16 * i));
        return 0;
      }
      case req('KVM_GET_MSRS'):
      case req('KVM_SET_MSRS'):
        return msrIo(
          arg,
          request === req('KVM_SET_MSRS'),
          (idx) => (isIrqchipMsr(idx) ? (irqchipMsrRead(m, idx, true) ?? undefined) : hostReadMsr(m, idx)),
          (idx, v) => (isIrqchipMsr(idx) ? irqchipMsrWrite(m, idx, v, true) === true : hostWriteMsr(m, idx, v)),
        );
      case req('KVM_SET_CPUID2'): {
        const hdr = arg.bytes(CPUID2_HDR);
        const n = new DataView(hdr.buffer, hdr.byteOffset, CPUID2_HDR).getUint32(S.kvm_cpuid2.offsetOf('nent'), true);
        if (n > MAX_CPUID_ENTRIES) throw e2big(arg); // kvm_vcpu_ioctl_set_cpuid2: before any entry is read
        const ents = arg.slice(CPUID2_HDR, CPUID_ENTRY * n);
        const entries = Array.from({ length: n }, (_, i) => {
          const e = S.kvm_cpuid_entry2.decode(ents, CPUID_ENTRY * i);
          return runtimeCpuid(m, { function: e.function, index: e.index, flags: e.flags, eax: e.eax | 0, ebx: e.ebx | 0, ecx: e.ecx | 0, edx: e.edx | 0 });
        });
        // kvm_set_cpuid: after the first KVM_RUN only the same CPUID is accepted (kvm_cpuid_check_equal,
        // compared after the runtime bits are updated), as VMMs that reuse vCPU fds send it again.
        if (m.hasRun) {
          const cur = m.cpuidEntries.map((e) => runtimeCpuid(m, e));
          const same = cur.length === n && cur.every((e, i) => (Object.keys(e) as (keyof CpuidEntry)[]).every((k) => e[k] === entries[i]![k]));
          if (!same) throw einval(arg, 'KVM_SET_CPUID2 after KVM_RUN with a CPUID different from the current one');
          return 0;
        }
        // kvm_check_cpuid: linear address width 48 or 57 (or not given).
        const va = ((entries.find((e) => e.function === 0x80000008)?.eax ?? 0) >> 8) & 0xff;
        if (va !== 0 && va !== 48 && va !== 57) throw einval(arg, `CPUID.80000008H reports ${va} linear address bits`);
        m.cpuidEntries = entries;
        // The reset RDX follows CPUID.1.EAX once userspace sets CPUID (as KVM does at vCPU reset).
        m.events.cpuidChanged(); // kvm_vcpu_after_set_cpuid: LAPIC timer modes and version
        return 0;
      }
      case req('KVM_GET_CPUID2'):
        return putCpuid(arg, m.cpuidEntries.map((e) => runtimeCpuid(m, e)));
      case req('KVM_GET_DEBUGREGS'):
        arg.bytes(S.kvm_debugregs.size).set(S.kvm_debugregs.encode({ db: s.db, dr6: s.dr6, dr7: s.dr7, flags: 0n }));
        return 0;
      case req('KVM_SET_DEBUGREGS'): {
        const d = S.kvm_debugregs.decode(arg.bytes(S.kvm_debugregs.size));
        if (d.flags || d.dr6 >> 32n || d.dr7 >> 32n) throw einval(arg);
        d.db.forEach((v, i) => (s.db[i] = v));
        s.dr6 = d.dr6 | 0xffff0ff0n;
        s.dr7 = (d.dr7 & 0xffffffffn) | 0x400n;
        m.debug.armWatchpoints();
        return 0;
      }
      case req('KVM_TRANSLATE'): {
        const b = arg.bytes(S.kvm_translation.size);
        const t = S.kvm_translation.decode(b);
        const lin = Number(BigInt.asIntN(64, t.linear_address));
        // Page tables as the kernel reads them for the host: shared memory only (host-walk.ts).
        const pa = hostTranslate(m.cpu, lin, Acc.READ);
        const writeable = pa >= 0 && hostTranslate(m.cpu, lin, Acc.WRITE) >= 0 ? 1 : 0;
        const valid = pa >= 0 && isCanonical(lin);
        S.kvm_translation.encodeInto({ physical_address: valid ? BigInt(pa) : 0xffffffffffffffffn, valid: valid ? 1 : 0, writeable, usermode: 0 }, b);
        return 0;
      }
      case req('KVM_SET_GUEST_DEBUG'): {
        const d = S.kvm_guest_debug.decode(arg.bytes(S.kvm_guest_debug.size));
        if (d.control & ~GUESTDBG_VALID) throw einval(arg);
        if (d.control & (KVM_GUESTDBG_X86.INJECT_DB | KVM_GUESTDBG_X86.INJECT_BP)) {
          if (m.events.queuedException) throw KvmError.of('EBUSY', 'ioctl', { request, fd: arg.fd });
          m.events.queuedException = { vector: d.control & KVM_GUESTDBG_X86.INJECT_DB ? VEC.DB : VEC.BP, hasCode: false, code: 0 };
        }
        if (kvmiBreakpointBusy(m.intro, d.control)) throw KvmError.of('EBUSY', 'ioctl', { request, fd: arg.fd }); // [kvmi hook] #BP owned by the tool
        m.debug.control = d.control & 1 ? d.control : 0;
        d.arch.debugreg.forEach((r, i) => (m.debug.regs[i] = r));
        m.debug.armWatchpoints();
        return 0;
      }
      case req('KVM_X86_SETUP_MCE'): {
        const hadCmci = (mcgCap(s) & MCG.CMCI_P) !== 0n;
        const b = arg.bytes(8);
        if (!setupMce(s, new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true))) throw einval(arg, 'MCG_CAP with no bank, too many banks or an unsupported capability');
        m.events.lapic?.afterSetMcgCap(hadCmci); // kvm_apic_after_set_mcg_cap: LVT CMCI comes or goes
        return 0;
      }
      case req('KVM_X86_SET_MCE'): {
        const e = S.kvm_x86_mce.decode(arg.bytes(S.kvm_x86_mce.size));
        const act = setMce(s, e);
        if (act === undefined) throw einval(arg, 'bank past MCG_CAP.Count or MCi_STATUS.VAL clear');
        if (act === 'cmci') m.events.lapic?.localDeliver(APIC.LVTCMCI);
        else if (act === 'mc') m.events.queuedException = { vector: VEC.MC, hasCode: false, code: 0 };
        else if (act === 'triple-fault') m.events.requestTripleFault();
        return 0;
      }
      case req('KVM_GET_XSAVE'):
      case req('KVM_GET_XSAVE2'):
        getXsave(m, arg.bytes(S.kvm_xsave.size));
        return 0;
      case req('KVM_SET_XSAVE'):
        if (!setXsave(m, arg.bytes(S.kvm_xsave.size))) throw einval(arg);
        return 0;
      case req('KVM_GET_XCRS'):
        arg.bytes(S.kvm_xcrs.size).set(S.kvm_xcrs.encode({ nr_xcrs: 1, xcrs: [{ xcr: 0, value: s.xcr0 }] }));
        return 0;
      case req('KVM_SET_XCRS'): {
        // kvm_vcpu_ioctl_x86_set_xcrs: the first XCR0 entry is set (__kvm_set_xcr), other XCRs
        // are ignored. x87 is always allowed; other state components only as the guest's CPUID
        // leaf 0xD allows (none before KVM_SET_CPUID2), and AVX (YMM) needs SSE.
        const x = S.kvm_xcrs.decode(arg.bytes(S.kvm_xcrs.size));
        if (x.nr_xcrs > 16 || x.flags) throw einval(arg);
        // Only XCR0 exists: its first entry is applied as XSETBV would (__kvm_set_xcr), others ignored.
        for (let i = 0; i < x.nr_xcrs; i++) {
          const e = x.xcrs[i]!;
          if (e.xcr !== 0) continue;
          if (!validXcr0(e.value, m.caps.xcr0)) throw einval(arg);
          s.xcr0 = e.value;
          break;
        }
        return 0;
      }
      case req('KVM_ENABLE_CAP'):
        S.kvm_enable_cap.decode(arg.bytes(S.kvm_enable_cap.size));
        throw einval(arg);
      default:
        return NOT_HANDLED;
    }
  },

  run(vcpu: Vcpu): number {
    // last_vmentry_cpu: with immediate_exit set KVM_RUN returns before entering the guest.
    if (!vcpu.immediateExit) (vcpu.archState as X86Machine).hasRun = true;
    return x86Run(vcpu);
  },

  destroyVm(vm: Vm): void {
    chipOf(vm).destroy();
    kvmiVmDestroyed(vm); // [kvmi hook]
    tdx.destroyVm(vm); // [tdx hook]
  },

  // SMP: vCPUs on worker threads (src/kernel/smp.ts)
  smpBlocker: x86SmpBlocker,
  saveVcpu: saveX86Vcpu,
  loadVcpu: loadX86Vcpu,
  saveVm: saveX86Vm,
  loadVm: loadX86Vm,
};

/**
 * KVM_X86_SW_PROTECTED_VM: an access to a gfn whose attributes say private, where no memslot or a
 * slot without guest_memfd backs it, is KVM_EXIT_MEMORY_FAULT (flags PRIVATE, the page) with
 * KVM_RUN failing EFAULT (mmu.c kvm_mmu_page_fault sets PFERR_PRIVATE_ACCESS from the attributes;
 * kvm_faultin_pfn_private: !kvm_slot_can_be_private -> kvm_mmu_prepare_memory_fault_exit).
 */
function swProtectedFaults(m: X86Machine): void {
  const vm = m.vcpu.vm;
  m.cpu.resolvePage = (gfn, write) => {
    if (vm.isPrivate(gfn) && !vm.slotFor(gfn)?.gmem) {
      exitMemoryFault(m.vcpu, BigInt(gfn) << 12n, 4096, BigInt(KVM_MEMORY_EXIT_FLAG.PRIVATE));
      m.cpu.errno = 'EFAULT';
      throw ERRNO_EXIT;
    }
    return vm.guestPage(gfn, write);
  };
}

/** After KVM_SET_SREGS(2): the mode, paging and decoded code may all have changed. */
function sregsChanged(m: X86Machine): void {
  m.cpu.updateMode();
  m.cpu.flushTlb();
  m.blocks.flush();
  m.pending = null;
}

let hostHas: ReturnType<typeof cpuidHas> | undefined;
/** The CPU model KVM_SET_SREGS checks against: this host's features, then the guest's CPUID once set. */
function sregsModel(m: X86Machine): SregsModel {
  const set = m.cpuidEntries.length > 0;
  return { host: (hostHas ??= cpuidHas(supportedCpuid())), guest: set ? cpuidHas(m.cpuidEntries) : null, maxPhyAddr: set ? cpuidMaxPhyAddr(m.cpuidEntries) : 36 };
}

/** __kvm_update_cpuid_runtime: CPUID.1 OSXSAVE follows CR4.OSXSAVE, APIC the APIC base enable bit. */
function runtimeCpuid(m: X86Machine, e: CpuidEntry): CpuidEntry {
  if (e.function !== 1) return e;
  const ecx = m.s.cr4 & 0x40000 ? e.ecx | (1 << 27) : e.ecx & ~(1 << 27);
  const edx = m.s.apicBase & 0x800n ? e.edx | (1 << 9) : e.edx & ~(1 << 9);
  return { ...e, ecx, edx };
}
