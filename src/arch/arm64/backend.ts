/**
 * The arm64 arch backend: capabilities, KVM_CREATE_VM IPA sizes, KVM_ENABLE_CAP
 * (NISV_TO_USER, the IDSR seed cap), KVM_ARM_PREFERRED_TARGET / KVM_ARM_VCPU_INIT, ONE_REG and
 * the register list, MP state, KVM_SET_GUEST_DEBUG, KVM_ARM_VCPU_FINALIZE and KVM_RUN
 * (run.ts: the A64 interpreter).
 * @module
 */
import { NOT_HANDLED, type ArchBackend } from '../../kernel/arch.js';
import type { UserArg } from '../../kernel/uarg.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import { KvmError } from '../../sys/error.js';
import { KVM_CAP, KVM_GUESTDBG, KVM_MP_STATE } from '../../uapi/constants.js';
import { arm64 } from '../../uapi/index.js';
import { KVM_ARM_IDSR, KVM_ARM_TARGET, KVM_ARM_VCPU, KVM_GUESTDBG_ARM64 } from '../../uapi/arm64.js';
import { Cpu, HostDebug, type Arm64Vcpu, type Arm64VmState } from './cpu.js';
import { DEFAULT_HOTNESS } from './blocks.js';
import { getOneReg, regList, setOneReg } from './onereg.js';
import { loadArm64Vcpu, loadArm64Vm, saveArm64Vcpu, saveArm64Vm } from './handover.js';
import { arm64Run, powerOnReset } from './run.js';
import { irqchipVmIoctl, precreateVcpu, vcpuDeviceAttr } from './irqchip.js';
import { mpidrFor, NUM_BRPS, NUM_WRPS } from './sysregs.js';
import { DEFAULT_TIMER_PPIS } from './timer.js';
import { Arm64Shared, sharedOf, VM_FLAG } from './vmshared.js';
import { INVALID_GPA, pvtimeSupported } from './pvtime.js';

const I = arm64.ioctls;
const S = arm64.structs;
const req = (name: keyof typeof I) => I[name]!.request;

/** The largest IPA size this host offers (KVM_CAP_ARM_VM_IPA_SIZE). */
export const IPA_LIMIT = 48;
const IPA_DEFAULT = 40;

export type { Arm64Vcpu, Arm64VmState };

/** Feature bits KVM_ARM_VCPU_INIT accepts here (EL1_32BIT is refused: no AArch32 EL1). */
const FEATURES_OK = (1 << KVM_ARM_VCPU.POWER_OFF) | (1 << KVM_ARM_VCPU.PSCI_0_2);
/** KVM_VCPU_MAX_FEATURES: bits at or above are EINVAL. */
const MAX_FEATURES = 7;

export const arm64Backend: ArchBackend = {
  arch: 'arm64',
  vcpuMmapPages: arm64.KVM_PAGE_OFFSET.COALESCED_MMIO + 1,
  maxVcpus: 512,
  maxVcpuIds: 512,
  userMemSlots: 32767,
  unknownVmIoctlErrno: 'EINVAL',

  checkExtension(cap) {
    switch (cap) {
      case KVM_CAP.ONE_REG:
      case KVM_CAP.ARM_PSCI:
      case KVM_CAP.ARM_PSCI_0_2:
      case KVM_CAP.READONLY_MEM:
      case KVM_CAP.MP_STATE:
      case KVM_CAP.SET_GUEST_DEBUG:
        return 1;
      case KVM_CAP.ARM_VM_IPA_SIZE:
        return IPA_LIMIT;
      case KVM_CAP.ARM_NISV_TO_USER:
      case KVM_ARM_IDSR.KVM_CAP_ARM_IDSR_TO_USER:
        return 1;
      // The counts ID_AA64DFR0_EL1 advertises (BRPs + 1, WRPs + 1).
      case KVM_CAP.GUEST_DEBUG_HW_BPS:
        return NUM_BRPS;
      case KVM_CAP.GUEST_DEBUG_HW_WPS:
        return NUM_WRPS;
      case KVM_CAP.SET_GUEST_DEBUG2:
        return KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP | KVM_GUESTDBG_ARM64.USE_SW_BP | KVM_GUESTDBG_ARM64.USE_HW;
      // Interrupts and time (irqchip.ts): the vGIC's irq-type layout with vcpu2, its legacy
      // address ioctl, the timer's vCPU attributes, KVM_ARM_SET_COUNTER_OFFSET.
      case KVM_CAP.ARM_IRQ_LINE_LAYOUT_2:
      case KVM_CAP.ARM_SET_DEVICE_ADDR:
      case KVM_CAP.VCPU_ATTRIBUTES:
      case KVM_CAP.COUNTER_OFFSET:
        return 1;
      // The PTP vendor hypercall (hypercalls.ts), PSCI SYSTEM_SUSPEND to userspace (psci.ts).
      case KVM_CAP.PTP_KVM:
      case KVM_CAP.ARM_SYSTEM_SUSPEND:
        return 1;
      // PV stolen time (pvtime.ts): where the host publishes run_delay (kvm_arm_pvtime_supported).
      case KVM_CAP.STEAL_TIME:
        return pvtimeSupported() ? 1 : 0;
      default:
        return 0;
    }
  },

  initVm(vm, type): Arm64VmState {
    if (type & ~0xff) throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_CREATE_VM'), message: 'unknown bits in the arm64 VM type' });
    const ipa = type & 0xff;
    if (ipa !== 0 && (ipa < 32 || ipa > IPA_LIMIT)) throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_CREATE_VM'), message: `IPA size ${ipa} outside 32..${IPA_LIMIT}` });
    return {
      ipaBits: ipa || IPA_DEFAULT,
      nisvToUser: false,
      idsrToUser: false,
      jitHotness: vm.kernel.jitHotness ?? DEFAULT_HOTNESS,
      shared: new Arm64Shared().mem,
      kicks: [],
      timerPpis: [...DEFAULT_TIMER_PPIS],
      vgic: null,
      smcccFilter: null,
    } satisfies Arm64VmState;
  },
  addressSpaces: () => 1,
  hasPrivateMem: () => false,
  hasReadonlyMem: () => true,
  gmemFlags: () => 0n,
  prepareMemoryRegion(vm, _kind, baseGfn, npages) {
    // kvm_arch_prepare_memory_region: no slot beyond the VM's IPA space (KVM answers EFAULT).
    if (baseGfn + npages > 2 ** ((vm.archState as Arm64VmState).ipaBits - 12)) {
      throw KvmError.of('EFAULT', 'ioctl', { message: 'memslot outside the IPA space' });
    }
  },

  vmIoctl(vm, request, arg) {
    if (request === req('KVM_ARM_PREFERRED_TARGET')) {
      arg.bytes(S.kvm_vcpu_init.size).set(S.kvm_vcpu_init.encode({ target: KVM_ARM_TARGET.GENERIC_V8 }));
      return 0;
    }
    return irqchipVmIoctl(vm, request, arg);
  },

  enableCapVm(vm, cap, flags) {
    if (flags) throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_ENABLE_CAP') });
    const st = vm.archState as Arm64VmState;
    if (cap === KVM_CAP.ARM_NISV_TO_USER) {
      st.nisvToUser = true;
      return 0;
    }
    if (cap === KVM_ARM_IDSR.KVM_CAP_ARM_IDSR_TO_USER) {
      st.idsrToUser = true;
      return 0;
    }
    if (cap === KVM_CAP.ARM_SYSTEM_SUSPEND) {
      sharedOf(st).setFlag(VM_FLAG.SYSTEM_SUSPEND);
      return 0;
    }
    throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_ENABLE_CAP') });
  },

  precreateVcpu: precreateVcpu,

  createVcpu(vcpu: Vcpu): Arm64Vcpu {
    const host = new HostDebug();
    const st = vcpu.vm.archState as Arm64VmState;
    const sh = sharedOf(st);
    const i = vcpu.index;
    // The VM's shared slot of this vCPU: its affinity, power state and kick word for every thread
    // (a worker's mirror of the vCPU finds them there already).
    if (!vcpu.vm.kernel.mirror) {
      sh.addVcpu(i, Number(mpidrFor(vcpu.id) & 0xffffffn));
      st.kicks[i] = vcpu.requests;
      vcpu.vm.bumpView();
    }
    let cpu = new Cpu(vcpu, host, mpidrFor(vcpu.id));
    return {
      get cpu() {
        return cpu;
      },
      set cpu(c: Cpu) {
        cpu = c;
      },
      features: null,
      get mpState() {
        return sh.mpState(i);
      },
      set mpState(s: number) {
        sh.setMpState(i, s);
      },
      host,
      hasRun: false,
      steal: { base: INVALID_GPA, lastSteal: 0 }, // kvm_arm_pvtime_vcpu_init
    };
  },

  vcpuIoctl(vcpu: Vcpu, request: number, arg: UserArg) {
    const v = vcpu.archState as Arm64Vcpu;
    const enoexec = () => KvmError.of('ENOEXEC', 'ioctl', { request, fd: arg.fd, message: 'vCPU not initialized (KVM_ARM_VCPU_INIT)' });
    switch (request) {
      case req('KVM_ARM_VCPU_INIT'): {
        const init = S.kvm_vcpu_init.decode(arg.bytes(S.kvm_vcpu_init.size));
        if (init.target !== KVM_ARM_TARGET.GENERIC_V8) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd, message: 'unsupported target' });
        let features = 0;
        for (let i = 0; i < init.features.length; i++) {
          const w = init.features[i]!;
          if (i > 0 ? w !== 0 : w & ~((1 << MAX_FEATURES) - 1)) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd, message: 'unknown feature bit' });
          if (i === 0) features = w;
        }
        if (features & ~FEATURES_OK) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd, message: 'feature not supported' });
        if (v.features !== null && v.features !== features) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd, message: 'features differ from the first KVM_ARM_VCPU_INIT' });
        v.features = features;
        // kvm_reset_vcpu: registers to their reset values; PSCI 0.1 unless PSCI_0_2 was asked for.
        const cpu = new Cpu(vcpu, v.host, mpidrFor(vcpu.id));
        cpu.psciVersion = features & (1 << KVM_ARM_VCPU.PSCI_0_2) ? 0x10000 : 0x1;
        v.cpu = cpu;
        sharedOf(vcpu.vm.archState as Arm64VmState).clearReset(vcpu.index);
        v.mpState = features & (1 << KVM_ARM_VCPU.POWER_OFF) ? KVM_MP_STATE.STOPPED : KVM_MP_STATE.RUNNABLE;
        return 0;
      }
      case req('KVM_GET_ONE_REG'):
      case req('KVM_SET_ONE_REG'): {
        if (v.features === null) throw enoexec();
        const r = S.kvm_one_reg.decode(arg.bytes(S.kvm_one_reg.size));
        // A reset owed to a PSCI CPU_ON happens first, so userspace reads what the vCPU will run
        // with (KVM_REQ_VCPU_RESET checked in kvm_arch_vcpu_ioctl).
        const reset = sharedOf(vcpu.vm.archState as Arm64VmState).takeReset(vcpu.index);
        if (reset !== null) powerOnReset(vcpu, v, reset);
        if (request === req('KVM_GET_ONE_REG')) getOneReg(vcpu, v.cpu, r.id, r.addr);
        else setOneReg(vcpu, v.cpu, r.id, r.addr);
        return 0;
      }
      case req('KVM_GET_REG_LIST'):
        if (v.features === null) throw enoexec();
        return regList(vcpu, arg);
      case req('KVM_GET_MP_STATE'):
        arg.bytes(4).set(S.kvm_mp_state.encode({ mp_state: v.mpState }));
        return 0;
      case req('KVM_SET_MP_STATE'): {
        const s = S.kvm_mp_state.decode(arg.bytes(4)).mp_state;
        if (s !== KVM_MP_STATE.RUNNABLE && s !== KVM_MP_STATE.STOPPED && s !== KVM_MP_STATE.SUSPENDED) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
        v.mpState = s;
        return 0;
      }
      case req('KVM_SET_GUEST_DEBUG'): {
        const d = S.kvm_guest_debug.decode(arg.bytes(S.kvm_guest_debug.size));
        if (d.control & ~(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP | KVM_GUESTDBG_ARM64.USE_SW_BP | KVM_GUESTDBG_ARM64.USE_HW)) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
        const h = v.host;
        if (d.control & KVM_GUESTDBG.ENABLE) {
          h.control = d.control;
          // Hardware-assisted breakpoints and watchpoints: external_debug_state = dbg->arch.
          if (d.control & KVM_GUESTDBG_ARM64.USE_HW) {
            const put = (dst: Int32Array, src: readonly bigint[]) =>
              src.forEach((x, i) => {
                dst[2 * i] = Number(x & 0xffffffffn) | 0;
                dst[2 * i + 1] = Number((x >> 32n) & 0xffffffffn) | 0;
              });
            put(h.bcr, d.arch.dbg_bcr);
            put(h.bvr, d.arch.dbg_bvr);
            put(h.wcr, d.arch.dbg_wcr);
            put(h.wvr, d.arch.dbg_wvr);
          }
        } else h.control = 0;
        v.cpu.updateAttn();
        return 0;
      }
      case req('KVM_SET_DEVICE_ATTR'):
      case req('KVM_GET_DEVICE_ATTR'):
      case req('KVM_HAS_DEVICE_ATTR'):
        return vcpuDeviceAttr(vcpu, request, arg);
      case req('KVM_ARM_VCPU_FINALIZE'): {
        if (v.features === null) throw enoexec();
        arg.bytes(4); // get_user(what): EFAULT on a bad pointer
        // Only SVE needs finalizing, and SVE is not offered.
        throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd, message: 'nothing to finalize' });
      }
      default:
        return NOT_HANDLED;
    }
  },

  run(vcpu: Vcpu): number {
    const v = vcpu.archState as Arm64Vcpu;
    if (v.features === null) throw KvmError.of('ENOEXEC', 'ioctl', { request: req('KVM_RUN') });
    return arm64Run(vcpu);
  },

  // SMP: vCPUs on worker threads (src/kernel/smp.ts)
  saveVcpu: saveArm64Vcpu,
  loadVcpu: loadArm64Vcpu,
  saveVm: saveArm64Vm,
  loadVm: loadArm64Vm,
};

