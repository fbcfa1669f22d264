/**
 * The wall-clock bound of one KVM_RUN. Linux returns from KVM_RUN with EINTR and exit_reason
 * KVM_EXIT_INTR when a signal is pending; here time plays the signal: whatever the guest does
 * (an exception storm, a loop rewriting its own code, a vCPU spinning at its reset state), KVM_RUN
 * returns within `timeoutMs` (plus the cost of the instruction in progress) — `virtualSys({
 * runTimeoutMs })`, 100 ms by default — beside the instruction budget (`runBudget`).
 *
 * Reading the clock costs tens of nanoseconds, so the run loops count work instead and read the
 * clock once per QUANTUM units: an instruction is one unit, a loop iteration a few more, and the
 * slow paths (exception delivery, self-modifying-code invalidation, a JIT translation) charge
 * what they cost, so that no stretch of QUANTUM units takes more than a few milliseconds.
 * One per thread's kernel: KVM_RUNs of one thread never overlap.
 * @module
 */

/** Work units between two clock reads. */
const QUANTUM = 1 << 12;

/** What slow paths charge (units of roughly a fast instruction's cost, ~5-30 ns). */
export const RUN_COST = {
  /** One pass of a run loop (block lookup, checks). */
  ITERATION: 8,
  /** Delivering a guest exception or interrupt (IDT/vector walk, stack pushes): 2-15 us. */
  EXCEPTION: 512,
  /** A store into a page holding decoded or translated code (invalidation): ~5 us. */
  CODE_WRITE: 512,
  /** Translating a block into a JS function (`new Function`): 100 us and more. */
  COMPILE: QUANTUM,
} as const;

export class RunDeadline {
  /** performance.now() at which the KVM_RUN in progress has to return. */
  private end = Infinity;
  /** Work done since the clock was last read. */
  private work = 0;
  /** True once the deadline passed: the run loop returns EINTR at the next instruction boundary. */
  expired = false;

  constructor(
    /** The bound, in milliseconds (Infinity: none). */
    public timeoutMs = 100,
  ) {}

  /** A KVM_RUN begins. */
  start(): void {
    this.end = performance.now() + this.timeoutMs;
    this.work = 0;
    this.expired = false;
  }

  /** Counts `units` of work done at an instruction boundary; true once the deadline has passed. */
  tick(units: number): boolean {
    if ((this.work += units) < QUANTUM) return this.expired;
    this.work = 0;
    return (this.expired = performance.now() >= this.end);
  }

  /** Reads the clock now (a long instruction between its elements); true once the deadline has passed. */
  passed(): boolean {
    this.work = 0;
    return (this.expired = performance.now() >= this.end);
  }

  /** A slow path charges its cost; the clock is read at the next `tick` once a quantum is full. */
  charge(units: number): void {
    this.work += units;
  }
}
