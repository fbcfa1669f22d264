/**
 * A vCPU that is not running (KVM_MP_STATE_INIT_RECEIVED or UNINITIALIZED with the in-kernel
 * irqchip) but has an event that kvm_vcpu_has_events() counts (an NMI, a queued #BP) does not
 * sleep in vcpu_block, and the event cannot be delivered either: Linux's vcpu_run loops until a
 * signal ends KVM_RUN with EINTR. vkvm's loop once re-ran the injection point forever without
 * looking at its wall-clock bound (a CI ioctl-fuzzer run spun for 9+ minutes); KVM_RUN must end
 * with EINTR / KVM_EXIT_INTR at the bound, the vCPU still in its state, the event still pending.
 * Virtual backend only (the semantics are from arch/x86/kvm/x86.c: vcpu_run, vcpu_block,
 * kvm_vcpu_has_events).
 */
import { describe, expect, it } from 'vitest';
import { KVM_EXIT, KVM_MP_STATE, Kvm, virtualSys, type Vcpu } from '../../src/index.js';

const HANG_MS = 5000;
const KVM_GUESTDBG_ENABLE = 1;
const KVM_GUESTDBG_INJECT_BP = 0x20000;

function apIn(state: number): { ap: Vcpu; bsp: Vcpu } {
  const sys = virtualSys();
  const vm = Kvm.open(sys).createVm();
  vm.createIrqchip();
  const ram = sys.alloc(0x20000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x20000, userspaceAddr: ram.hva });
  const bsp = vm.createVcpu(0);
  const ap = vm.createVcpu(1);
  ap.setMpState(state);
  return { ap, bsp };
}

/** One KVM_RUN (vcpu.run() turns EINTR into reason 'intr'), timed. */
function runOnce(v: Vcpu): { reason: string; exitReason: number; ms: number } {
  const t = performance.now();
  const r = v.run();
  return { reason: r.reason, exitReason: r.exitReason, ms: performance.now() - t };
}

describe('an event a non-running vCPU cannot take ends KVM_RUN at the bound (virtual)', () => {
  const STATES = [
    ['INIT_RECEIVED', KVM_MP_STATE.INIT_RECEIVED],
    ['UNINITIALIZED', KVM_MP_STATE.UNINITIALIZED],
  ] as const;
  for (const [name, state] of STATES) {
    it(`KVM_NMI on an AP in ${name}: intr, still ${name}, the NMI still pending`, () => {
      const { ap } = apIn(state);
      ap.nmi();
      const r = runOnce(ap);
      expect(r.reason).toBe('intr');
      expect(r.exitReason).toBe(KVM_EXIT.INTR);
      expect(r.ms).toBeLessThan(HANG_MS);
      expect(ap.getMpState()).toBe(state);
      expect(ap.getVcpuEvents().nmi.pending).toBe(1);
    });
    it(`KVM_GUESTDBG_INJECT_BP on an AP in ${name}: intr, still ${name}`, () => {
      const { ap } = apIn(state);
      ap.setGuestDebug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_INJECT_BP);
      const r = runOnce(ap);
      expect(r.reason).toBe('intr');
      expect(r.ms).toBeLessThan(HANG_MS);
      expect(ap.getMpState()).toBe(state);
    });
  }
  it('an exception KVM_SET_VCPU_EVENTS marks injected does not wake a halted vCPU (kvm_is_exception_pending)', () => {
    const { ap } = apIn(KVM_MP_STATE.HALTED);
    ap.setVcpuEvents({ exception: { injected: 1, nr: 13, has_error_code: 1, error_code: 0 }, flags: 0 });
    const r = runOnce(ap);
    expect(r.reason).toBe('intr');
    expect(ap.getMpState()).toBe(KVM_MP_STATE.HALTED);
    expect(ap.getVcpuEvents().exception).toMatchObject({ injected: 1, nr: 13 });
  });
});
