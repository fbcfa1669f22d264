/**
 * vcpu->requests and the kick (virt/kvm/kvm_main.c kvm_make_request, kvm_vcpu_kick,
 * kvm_vcpu_block): a word in memory shared with whichever thread runs the vCPU. Any thread makes a
 * request with `Atomics.or` and wakes a sleeping vCPU with `Atomics.notify`; the arch run loops
 * test the word at block boundaries (a non-zero word stops translated-code chains) and service it
 * with the atomic operations here. The per-block test is a plain read (a few ns cheaper than
 * `Atomics.load` on every block): a request set meanwhile is seen at the next block.
 *
 * Sleeping (`kvmVcpuBlock`, for HLT/WFI with an in-kernel irqchip): `Atomics.wait` on the word,
 * with the next timer deadline as the timeout. On a worker thread the vCPU really sleeps until an
 * interrupt, a kick, its deadline or immediate_exit. On the thread that owns the kernel (where the
 * VMM's event loop runs, and where irqfds signalled from other threads are serviced) it sleeps at
 * most `Kernel.haltWaitMs` per KVM_RUN (less once `RunDeadline.preempt` says another caller of
 * that thread waits) and then returns like a signal would (EINTR, KVM_EXIT_INTR), so the event
 * loop is never held: the VMM runs KVM_RUN again after servicing it.
 * @module
 */
import type { Vcpu } from './vcpu.js';

/** Request bits (KVM_REQ_*). Generic bits are low; arches use bits from KVM_REQ.ARCH_BASE up. */
export const KVM_REQ = {
  /** KVM_REQ_EVENT: an interrupt may have become deliverable; re-evaluate injection. */
  EVENT: 1 << 0,
  /** KVM_REQ_UNBLOCK: wake a sleeping vCPU (timer expiry, a PSCI CPU_ON...). */
  UNBLOCK: 1 << 1,
  /** A signal for the vCPU's thread: KVM_RUN returns EINTR with KVM_EXIT_INTR (pthread_kill). */
  SIGNAL: 1 << 2,
  /** The first bit an arch may define. */
  ARCH_BASE: 1 << 8,
} as const;

/** kvm_make_request + kvm_vcpu_kick: sets `bits` and wakes the vCPU if it sleeps. Any thread. */
export function kvmMakeRequest(vcpu: Vcpu, bits: number): void {
  Atomics.or(vcpu.requests, 0, bits);
  Atomics.notify(vcpu.requests, 0);
}

/** kvm_test_request: whether any of `bits` is pending. */
export function kvmTestRequest(vcpu: Vcpu, bits: number): boolean {
  return (Atomics.load(vcpu.requests, 0) & bits) !== 0;
}

/** kvm_check_request: true (and clears them) when any of `bits` was pending. */
export function kvmCheckRequest(vcpu: Vcpu, bits: number): boolean {
  if ((Atomics.load(vcpu.requests, 0) & bits) === 0) return false;
  Atomics.and(vcpu.requests, 0, ~bits);
  return true;
}

/** Why kvmVcpuBlock returned. */
export type BlockResult = 'runnable' | 'intr';

/** Longest single sleep, so immediate_exit (set without a kick) is seen within it. */
const MAX_SLEEP_MS = 50;
/** Deadline jumps of the deterministic clock a halted worker vCPU makes before sleeping once. */
const JUMPS_PER_SLEEP = 100_000;

/**
 * kvm_vcpu_block: sleeps until `runnable()` (kvm_arch_vcpu_runnable: an interrupt to take, a wake
 * request...) holds, firing the vCPU's timers as they come due. `retired` is the arch's retired
 * instruction count (the deterministic clock). Returns 'intr' when the sleep must end as a signal
 * would end it: KVM_REQ.SIGNAL, immediate_exit, or the owner thread's wait limit
 * (`Kernel.haltWaitMs`); the caller then returns EINTR with KVM_EXIT_INTR.
 */
export function kvmVcpuBlock(vcpu: Vcpu, retired: number, runnable: () => boolean): BlockResult {
  const vm = vcpu.vm;
  const clock = vm.clock;
  const timer = vcpu.timer;
  const limit = vm.kernel.mirror ? Infinity : performance.now() + vm.kernel.haltWaitMs;
  let jumps = 0;
  if (clock.deterministic) clock.setRunning(-1);
  // On a worker: asleep, the vCPU uses no guest memory; the owner changing memslots need not wait for it.
  const sync = vcpu.sync;
  const inside = sync !== null && sync.suspend();
  try {
    for (;;) {
      const req = Atomics.load(vcpu.requests, 0);
      if (req & KVM_REQ.SIGNAL) {
        Atomics.and(vcpu.requests, 0, ~KVM_REQ.SIGNAL);
        return 'intr';
      }
      timer.poll(retired);
      if (runnable()) return 'runnable';
      if (vcpu.immediateExit) return 'intr';
      const next = timer.wakeAt;
      let ms: number;
      if (clock.deterministic) {
        // No vCPU of the VM is running: nothing else can advance time, so it jumps to the deadline.
        // A vCPU no deadline wakes (IF = 0, a masked periodic timer) would jump forever: the owner
        // thread's wait limit still ends the halt, and a worker sleeps between rounds of jumps.
        // A VM-wide deadline already reached waits for the owner thread to fire it.
        if (next !== Infinity && next <= clock.now() && next !== timer.next) ms = 1;
        else if (next !== Infinity && clock.running === 0) {
          if (jumps > 0 && performance.now() >= limit) return 'intr';
          if (++jumps % JUMPS_PER_SLEEP !== 0) {
            clock.advanceTo(next);
            continue;
          }
          ms = MAX_SLEEP_MS;
        } else ms = next === Infinity ? MAX_SLEEP_MS : 1; // others run: their instructions move time on
      } else {
        ms = next === Infinity ? MAX_SLEEP_MS : Math.max(0, (next - clock.now()) / 1e6);
      }
      const left = limit - performance.now();
      if (left <= 0) return 'intr';
      ms = Math.min(ms, left, MAX_SLEEP_MS);
      // The owner thread serves other callers too (the shim server): one waiting ends the sleep.
      if (!vm.kernel.mirror) {
        const d = vm.kernel.deadline;
        if (d.sleepPreempted()) return 'intr';
        ms = Math.min(ms, d.sleepSliceMs);
      }
      if (ms > 0) Atomics.wait(vcpu.requests, 0, req, ms);
    }
  } finally {
    if (clock.deterministic) clock.setRunning(1);
    if (inside) sync.resume();
  }
}
