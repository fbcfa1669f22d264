/**
 * The x86 ioctls of the interrupt and time models (arch/x86/kvm/x86.c kvm_arch_vm_ioctl /
 * kvm_arch_vcpu_ioctl cases), with the kernel's errnos and the order it checks them in:
 * VM: KVM_GET/SET_IRQCHIP, KVM_CREATE_PIT(2), KVM_GET/SET_PIT(2), KVM_REINJECT_CONTROL,
 * KVM_SET_BOOT_CPU_ID, KVM_SET/GET_TSC_KHZ;
 * vCPU: KVM_GET/SET_LAPIC, KVM_INTERRUPT, KVM_NMI, KVM_GET/SET_VCPU_EVENTS, KVM_GET/SET_MP_STATE,
 * KVM_SET/GET_TSC_KHZ, KVM_KVMCLOCK_CTRL; and the capabilities that go with them.
 * @module
 */
import { NOT_HANDLED } from '../../../kernel/arch.js';
import type { UserArg } from '../../../kernel/uarg.js';
import type { Vcpu } from '../../../kernel/vcpu.js';
import type { Vm } from '../../../kernel/vm.js';
import { HOST_TSC_KHZ } from '../../../kernel/timer.js';
import { KvmError } from '../../../sys/error.js';
import { KVM_CAP, KVM_MP_STATE } from '../../../uapi/constants.js';
import { x86_64 } from '../../../uapi/index.js';
import { KVM_IRQCHIP, KVM_X2APIC_API } from '../../../uapi/x86.js';
import type { X86Machine } from '../run.js';
import { KVM_APIC_SIPI } from './apic.js';
import { chipOf } from './chip.js';
import type { LapicInterrupts } from './irq.js';
import type { PitChannel } from './i8254.js';

const I = x86_64.ioctls;
const S = x86_64.structs;
const req = (name: keyof typeof I) => I[name]!.request;

const err = (code: 'EINVAL' | 'ENXIO' | 'EEXIST' | 'EBUSY' | 'ENOENT', arg: UserArg, message?: string) => KvmError.of(code, 'ioctl', { request: arg.request, fd: arg.fd, ...(message ? { message } : {}) });

/** KVM_X2APIC_API_VALID_FLAGS */
const X2APIC_API_VALID = KVM_X2APIC_API.USE_32BIT_IDS | KVM_X2APIC_API.DISABLE_BROADCAST_QUIRK;
/**
 * kvm_caps.max_guest_tsc_khz with VMX TSC scaling: min(0x7fffffff, the host rate scaled by the
 * largest ratio, U64_MAX) = 0x7fffffff (arch/x86/kvm/x86.c:9408, Linux 6.12).
 */
const MAX_GUEST_TSC_KHZ = 0x7fffffff;

/** The capabilities the irqchip and time models add (kvm_vm_ioctl_check_extension). */
export function irqchipCheckExtension(cap: number): number | undefined {
  switch (cap) {
    case KVM_CAP.IRQCHIP:
    case KVM_CAP.HLT:
    case KVM_CAP.CLOCKSOURCE:
    case KVM_CAP.PIT:
    case KVM_CAP.NOP_IO_DELAY:
    case KVM_CAP.REINJECT_CONTROL:
    case KVM_CAP.IRQ_INJECT_STATUS:
    case KVM_CAP.IOEVENTFD_NO_LENGTH:
    case KVM_CAP.PIT2:
    case KVM_CAP.PIT_STATE2:
    case KVM_CAP.GET_TSC_KHZ:
    case KVM_CAP.KVMCLOCK_CTRL:
    case KVM_CAP.IOAPIC_POLARITY_IGNORED:
    case KVM_CAP.TSC_DEADLINE_TIMER:
    case KVM_CAP.SET_BOOT_CPU_ID:
    case KVM_CAP.SPLIT_IRQCHIP:
    case KVM_CAP.TSC_CONTROL:
    case KVM_CAP.IRQFD_RESAMPLE:
      return 1;
    case KVM_CAP.X2APIC_API:
      return X2APIC_API_VALID;
    default:
      return undefined;
  }
}

/** KVM_ENABLE_CAP on the VM for SPLIT_IRQCHIP and X2APIC_API (undefined: not these). */
export function irqchipEnableCap(vm: Vm, cap: number, args: readonly bigint[]): number | undefined {
  const chip = chipOf(vm);
  switch (cap) {
    case KVM_CAP.SPLIT_IRQCHIP:
      chip.enableSplit(args[0]!);
      return 0;
    case KVM_CAP.X2APIC_API:
      if (args[0]! & ~BigInt(X2APIC_API_VALID)) throw KvmError.of('EINVAL', 'ioctl', { message: 'unknown KVM_X2APIC_API flags' });
      if (args[0]! & BigInt(KVM_X2APIC_API.USE_32BIT_IDS)) chip.bus.x2apicFormat = true;
      if (args[0]! & BigInt(KVM_X2APIC_API.DISABLE_BROADCAST_QUIRK)) chip.bus.broadcastQuirkDisabled = true;
      return 0;
    default:
      return undefined;
  }
}

/** The x86 VM ioctls of the irqchip and time models. */
export function irqchipVmIoctl(vm: Vm, request: number, arg: UserArg): number | typeof NOT_HANDLED {
  const chip = chipOf(vm);
  switch (request) {
    case req('KVM_GET_IRQCHIP'): {
      const b = arg.bytes(S.kvm_irqchip.size); // memdup_user first: EFAULT before ENXIO
      const c = S.kvm_irqchip.decode(b);
      if (!chip.ioapicInKernel) throw err('ENXIO', arg, 'no in-kernel PIC/IOAPIC');
      switch (c.chip_id) {
        case KVM_IRQCHIP.PIC_MASTER:
        case KVM_IRQCHIP.PIC_SLAVE:
          S.kvm_irqchip.encodeInto({ chip: { pic: { ...chip.pic!.pics[c.chip_id]! } } }, b);
          return 0;
        case KVM_IRQCHIP.IOAPIC:
          S.kvm_irqchip.encodeInto({ chip: { ioapic: chip.ioapic!.getState() } }, b);
          return 0;
        default:
          throw err('EINVAL', arg, 'no such chip_id');
      }
    }
    case req('KVM_SET_IRQCHIP'): {
      const c = S.kvm_irqchip.decode(arg.bytes(S.kvm_irqchip.size));
      if (!chip.ioapicInKernel) throw err('ENXIO', arg, 'no in-kernel PIC/IOAPIC');
      let bad = false;
      switch (c.chip_id) {
        case KVM_IRQCHIP.PIC_MASTER:
        case KVM_IRQCHIP.PIC_SLAVE:
          Object.assign(chip.pic!.pics[c.chip_id]!, c.chip.pic);
          break;
        case KVM_IRQCHIP.IOAPIC:
          chip.ioapic!.setState(c.chip.ioapic);
          break;
        default:
          bad = true;
      }
      chip.pic!.updateIrq();
      if (bad) throw err('EINVAL', arg, 'no such chip_id');
      return 0;
    }
    case req('KVM_CREATE_PIT'):
      chip.createPit(1); // KVM_PIT_SPEAKER_DUMMY
      return 0;
    case req('KVM_CREATE_PIT2'): {
      const c = S.kvm_pit_config.decode(arg.bytes(S.kvm_pit_config.size));
      chip.createPit(c.flags);
      return 0;
    }
    case req('KVM_GET_PIT'): {
      const b = arg.bytes(S.kvm_pit_state.size);
      if (!chip.pit) throw err('ENXIO', arg, 'no in-kernel PIT');
      S.kvm_pit_state.encodeInto({ channels: chip.pit.getState().channels.map(chanOut) }, b);
      return 0;
    }
    case req('KVM_SET_PIT'): {
      const st = S.kvm_pit_state.decode(arg.bytes(S.kvm_pit_state.size));
      if (!chip.pit) throw err('ENXIO', arg, 'no in-kernel PIT');
      chip.pit.setState(st.channels.map(chanIn), null);
      return 0;
    }
    case req('KVM_GET_PIT2'): {
      if (!chip.pit) throw err('ENXIO', arg, 'no in-kernel PIT');
      const st = chip.pit.getState();
      arg.bytes(S.kvm_pit_state2.size).set(S.kvm_pit_state2.encode({ channels: st.channels.map(chanOut), flags: st.flags }));
      return 0;
    }
    case req('KVM_SET_PIT2'): {
      const st = S.kvm_pit_state2.decode(arg.bytes(S.kvm_pit_state2.size));
      if (!chip.pit) throw err('ENXIO', arg, 'no in-kernel PIT');
      chip.pit.setState(st.channels.map(chanIn), st.flags);
      return 0;
    }
    case req('KVM_REINJECT_CONTROL'): {
      const c = S.kvm_reinject_control.decode(arg.bytes(S.kvm_reinject_control.size));
      if (!chip.pit) throw err('ENXIO', arg, 'no in-kernel PIT');
      chip.pit.setReinject(c.pit_reinject !== 0);
      chip.scanIoapic();
      return 0;
    }
    case req('KVM_SET_BOOT_CPU_ID'): {
      const id = arg.int;
      if (vm.createdVcpus > 0) throw err('EBUSY', arg, 'vCPUs exist');
      if (id > BigInt(vm.arch.maxVcpuIds)) throw err('EINVAL', arg, 'boot CPU id past KVM_MAX_VCPU_IDS');
      const max = (vm.archState as { maxVcpuIds: number }).maxVcpuIds; // KVM_CAP_MAX_VCPU_ID, 0 unset
      if (max && id > BigInt(max)) throw err('EINVAL', arg, 'boot CPU id past KVM_CAP_MAX_VCPU_ID');
      chip.bspVcpuId = Number(id);
      return 0;
    }
    case req('KVM_SET_TSC_KHZ'): {
      let khz = Number(arg.int & 0xffffffffn);
      if (khz >= MAX_GUEST_TSC_KHZ) throw err('EINVAL', arg, 'TSC rate out of range');
      if (khz === 0) khz = HOST_TSC_KHZ;
      chip.defaultTscKhz = khz;
      return 0;
    }
    case req('KVM_GET_TSC_KHZ'):
      return chip.defaultTscKhz || HOST_TSC_KHZ;
    default:
      return NOT_HANDLED;
  }
}

function chanOut(c: PitChannel) {
  return { ...c, count_load_time: BigInt(Math.round(c.count_load_time)) };
}

function chanIn(c: ReturnType<typeof S.kvm_pit_channel_state.decode>): PitChannel {
  return { ...c, count_load_time: Number(c.count_load_time) };
}

/** The x86 vCPU ioctls of the interrupt and time models. */
export function irqchipVcpuIoctl(vcpu: Vcpu, m: X86Machine, request: number, arg: UserArg): number | typeof NOT_HANDLED {
  const ev = m.events;
  const chip = chipOf(vcpu.vm);
  switch (request) {
    case req('KVM_GET_LAPIC'): {
      if (ev.lapic === null) throw err('EINVAL', arg, 'no in-kernel LAPIC');
      arg.bytes(S.kvm_lapic_state.size).set(ev.lapic.getState(chip.bus.x2apicFormat));
      return 0;
    }
    case req('KVM_SET_LAPIC'): {
      if (ev.lapic === null) throw err('EINVAL', arg, 'no in-kernel LAPIC');
      const b = arg.bytes(S.kvm_lapic_state.size);
      if (!ev.lapic.setState(b, chip.bus.x2apicFormat)) throw err('EINVAL', arg, 'x2APIC ID does not match the vCPU id');
      ev.requestEvent();
      return 0;
    }
    case req('KVM_INTERRUPT'): {
      const irq = S.kvm_interrupt.decode(arg.bytes(S.kvm_interrupt.size)).irq;
      if (irq >= 256) throw err('EINVAL', arg, 'vector past KVM_NR_INTERRUPTS');
      if (!chip.inKernel) {
        ev.irq = irq; // kvm_queue_interrupt: injected at the next entry
        ev.requestEvent();
        return 0;
      }
      if (chip.ioapicInKernel) throw err('ENXIO', arg, 'the in-kernel PIC delivers ExtINT');
      const ic = ev.irqchip as LapicInterrupts;
      if (ic.pendingExternalVector !== -1) throw err('EEXIST', arg, 'an ExtINT vector is already pending');
      ic.pendingExternalVector = irq;
      ev.requestEvent();
      return 0;
    }
    case req('KVM_NMI'):
      ev.injectNmi();
      return 0;
    case req('KVM_GET_VCPU_EVENTS'):
      arg.bytes(S.kvm_vcpu_events.size).set(S.kvm_vcpu_events.encode(ev.getVcpuEvents()));
      return 0;
    case req('KVM_SET_VCPU_EVENTS'): {
      const e = S.kvm_vcpu_events.decode(arg.bytes(S.kvm_vcpu_events.size));
      if (!ev.setVcpuEvents(e)) throw err('EINVAL', arg, 'invalid kvm_vcpu_events');
      return 0;
    }
    case req('KVM_GET_MP_STATE'): {
      const out = arg.bytes(S.kvm_mp_state.size);
      ev.acceptEvents();
      out.set(S.kvm_mp_state.encode({ mp_state: m.mpState }));
      return 0;
    }
    case req('KVM_SET_MP_STATE'): {
      const st = S.kvm_mp_state.decode(arg.bytes(S.kvm_mp_state.size)).mp_state;
      switch (st) {
        case KVM_MP_STATE.UNINITIALIZED:
        case KVM_MP_STATE.HALTED:
        case KVM_MP_STATE.AP_RESET_HOLD:
        case KVM_MP_STATE.INIT_RECEIVED:
        case KVM_MP_STATE.SIPI_RECEIVED:
          if (ev.lapic === null) throw err('EINVAL', arg, 'this state needs an in-kernel LAPIC');
          break;
        case KVM_MP_STATE.RUNNABLE:
          break;
        default:
          throw err('EINVAL', arg, 'no such mp_state');
      }
      if (st === KVM_MP_STATE.SIPI_RECEIVED) {
        m.mpState = KVM_MP_STATE.INIT_RECEIVED;
        ev.lapic!.setPendingEvent(KVM_APIC_SIPI, true);
      } else m.mpState = st;
      ev.requestEvent();
      return 0;
    }
    case req('KVM_SET_TSC_KHZ'): {
      let khz = Number(arg.int & 0xffffffffn);
      if (khz >= MAX_GUEST_TSC_KHZ) throw err('EINVAL', arg, 'TSC rate out of range');
      if (khz === 0) khz = HOST_TSC_KHZ;
      ev.time.setTscKhz(khz);
      return 0;
    }
    case req('KVM_GET_TSC_KHZ'):
      return ev.time.tscKhz;
    case req('KVM_KVMCLOCK_CTRL'):
      if (!ev.time.setGuestPaused()) throw err('EINVAL', arg, 'kvmclock is not enabled (MSR_KVM_SYSTEM_TIME)');
      return 0;
    default:
      return NOT_HANDLED;
  }
}
