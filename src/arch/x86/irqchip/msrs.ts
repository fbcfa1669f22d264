/**
 * The MSRs of the interrupt and time models, consulted by msr.ts before its own table: IA32_TSC,
 * IA32_APIC_BASE, the x2APIC registers 0x800-0x8ff, IA32_TSC_DEADLINE, IA32_TSC_ADJUST and the
 * kvmclock MSRs (arch/x86/kvm/x86.c kvm_get/set_msr_common, lapic.c kvm_x2apic_msr_read/write).
 * @module
 */
import type { X86Machine } from '../run.js';
import { APIC_BASE_MSR } from './apic.js';
import { chipOf } from './chip.js';
import { MSR_KVM, writeWallClock } from './kvmclock.js';

export const MSR_TIME = { TSC: 0x10, APIC_BASE: 0x1b, TSC_ADJUST: 0x3b, TSC_DEADLINE: 0x6e0 } as const;

/** The indices of KVM_GET_MSR_INDEX_LIST these add (emulated_msrs / msrs_to_save). */
export const IRQCHIP_MSR_INDICES: readonly number[] = [MSR_TIME.TSC, MSR_TIME.APIC_BASE, MSR_TIME.TSC_ADJUST, MSR_TIME.TSC_DEADLINE, MSR_KVM.WALL_CLOCK, MSR_KVM.SYSTEM_TIME, MSR_KVM.WALL_CLOCK_NEW, MSR_KVM.SYSTEM_TIME_NEW];

const OWN = new Set(IRQCHIP_MSR_INDICES);

/** Whether `index` is one of these MSRs (KVM_GET/SET_MSRS take the x2APIC range too). */
export function isIrqchipMsr(index: number): boolean {
  return OWN.has(index) || (index >= 0x800 && index <= 0x8ff);
}

function now(m: X86Machine): number {
  return m.vcpu.timer.now(m.retired);
}

/**
 * kvm_apic_set_base without an in-kernel LAPIC: the same checks (reserved bits above MAXPHYADDR,
 * 7:0 and 9, x2APIC enable without CPUID.X2APIC or without xAPIC enable; from the guest, x2APIC ->
 * xAPIC and disabled -> x2APIC), then the value is only stored.
 */
function setApicBaseNoLapic(m: X86Machine, v: bigint, host: boolean): boolean {
  const ev = m.events;
  const reserved = ~((1n << BigInt(ev.maxPhyAddr())) - 1n) | 0x2ffn | (ev.guestX2apic() ? 0n : BigInt(APIC_BASE_MSR.X2APIC_ENABLE));
  if (BigInt.asUintN(64, v) & BigInt.asUintN(64, reserved)) return false;
  const mode = (x: bigint) => Number(x & BigInt(APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.X2APIC_ENABLE));
  const nw = mode(v);
  if (nw === APIC_BASE_MSR.X2APIC_ENABLE) return false;
  if (!host) {
    const old = mode(m.s.apicBase);
    const x2 = APIC_BASE_MSR.ENABLE | APIC_BASE_MSR.X2APIC_ENABLE;
    if ((old === x2 && nw === APIC_BASE_MSR.ENABLE) || (old === 0 && nw === x2)) return false;
  }
  m.s.apicBase = v;
  ev.apic.postBase(v);
  return true;
}

/** IA32_APIC_BASE writes (the MSR and KVM_SET_SREGS): false when refused (#GP / EINVAL). */
export function setApicBase(m: X86Machine, v: bigint, host: boolean): boolean {
  const l = m.events.lapic;
  return l !== null ? l.setBase(v, host) : setApicBaseNoLapic(m, v, host);
}

/** RDMSR / KVM_GET_MSRS: the value, null when refused (#GP), undefined when not one of these MSRs. */
export function irqchipMsrRead(m: X86Machine, index: number, _host: boolean): bigint | null | undefined {
  const ev = m.events;
  switch (index) {
    case MSR_TIME.TSC:
      return ev.time.tscAt(now(m));
    case MSR_TIME.APIC_BASE:
      return m.s.apicBase;
    case MSR_TIME.TSC_DEADLINE:
      return ev.lapic !== null ? ev.lapic.tscDeadline : 0n;
    case MSR_TIME.TSC_ADJUST:
      return ev.time.tscAdjust;
    case MSR_KVM.WALL_CLOCK:
    case MSR_KVM.WALL_CLOCK_NEW:
      return chipOf(m.vcpu.vm).wallClock;
    case MSR_KVM.SYSTEM_TIME:
    case MSR_KVM.SYSTEM_TIME_NEW:
      return ev.time.systemTimeMsr;
    default:
      if (index >= 0x800 && index <= 0x8ff) return ev.lapic !== null ? (ev.lapic.msrRead(index) ?? null) : null;
      return undefined;
  }
}

/** WRMSR / KVM_SET_MSRS: false when refused (#GP), undefined when not one of these MSRs. */
export function irqchipMsrWrite(m: X86Machine, index: number, v: bigint, host: boolean): boolean | undefined {
  const ev = m.events;
  switch (index) {
    case MSR_TIME.TSC:
      ev.time.writeTsc(v, now(m), host);
      // A host write is kvm_synchronize_tsc with a value: it sets the VM's timeline (cur_tsc_offset)
      // that vCPUs created later join. (Its matching of nearby writes within a second is not modelled.)
      if (host && !m.vcpu.vm.kernel.mirror) chipOf(m.vcpu.vm).tscSync = { offset: ev.time.tscOffset, khz: ev.time.tscKhz };
      return true;
    case MSR_TIME.APIC_BASE:
      return setApicBase(m, v, host);
    case MSR_TIME.TSC_DEADLINE:
      if (ev.lapic !== null) ev.lapic.tscDeadline = v;
      return true;
    case MSR_TIME.TSC_ADJUST:
      // Without CPUID.TSC_ADJUST the write is dropped (and succeeds), as KVM does.
      if (ev.guestTscAdjust()) ev.time.writeTscAdjust(v, host);
      return true;
    case MSR_KVM.WALL_CLOCK:
    case MSR_KVM.WALL_CLOCK_NEW:
      chipOf(m.vcpu.vm).wallClock = v;
      if (v !== 0n) writeWallClock(m.vcpu, Number(v));
      return true;
    case MSR_KVM.SYSTEM_TIME:
    case MSR_KVM.SYSTEM_TIME_NEW:
      ev.time.writeSystemTime(v);
      return true;
    default:
      if (index >= 0x800 && index <= 0x8ff) return ev.lapic !== null ? ev.lapic.msrWrite(index, v) : false;
      return undefined;
  }
}
