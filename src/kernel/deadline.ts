/**
 * The wall-clock bound of one KVM_RUN. Linux returns from KVM_RUN with EINTR and exit_reason
 * KVM_EXIT_INTR when a signal is pending; here time plays the signal: whatever the guest does
 * (an exception storm, a loop rewriting its own code, a vCPU spinning at its reset state), KVM_RUN
 * returns within `timeoutMs` (plus the cost of the instruction in progress) — `virtualSys({
 * runTimeoutMs })`, 100 ms by default — beside the instruction budget (`runBudget`).
 *
 * Reading the clock costs tens of nanoseconds, so the run loops count work instead and read the
 * clock once per QUANTUM units (the first time FIRST_READ units into the run): an instruction is
 * one unit, a loop iteration a few more, and the slow paths (exception delivery,
 * self-modifying-code invalidation, a JIT translation) charge what they cost, so that no stretch
 * of QUANTUM units takes more than a few milliseconds.
 * One per thread's kernel: KVM_RUNs of one thread never overlap.
 *
 * A kernel that serves several threads' calls from one JS thread (the shim server) can also set
 * `preempt`: asked at most every PREEMPT_MS while a KVM_RUN runs, it ends the run early (EINTR,
 * as the time bound does) when another caller waits — the scheduler's wakeup preemption, so
 * that one spinning vCPU does not hold the other threads' calls for a whole time slice.
 * @module
 */

/** Work units between two clock reads. */
const QUANTUM = 1 << 12;

/**
 * Work units before a KVM_RUN's first clock read, from which its bound counts: a run that exits
 * sooner (an MMIO or PIO round trip: a few instructions) reads no clock at all, and a longer one
 * is bounded from a few microseconds after it began.
 */
const FIRST_READ = 256;

/** Least time between two `preempt` questions, ms. */
const PREEMPT_MS = 1;

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
  /** performance.now() at which the KVM_RUN in progress has to return (NaN until its first clock read). */
  private end = Infinity;
  /** Work done since the clock was last read. */
  private work = 0;
  /** True once the deadline passed: the run loop returns EINTR at the next instruction boundary. */
  expired = false;
  /** True when the last run ended because `preempt` said so. */
  preempted = false;
  /** performance.now() at which `preempt` is asked next. */
  private nextPreempt = Infinity;
  /** Asked while a KVM_RUN runs: true ends it now (another caller waits). Null: never. */
  preempt: (() => boolean) | null = null;

  constructor(
    /** The bound, in milliseconds (Infinity: none). */
    public timeoutMs = 100,
  ) {}

  /** A KVM_RUN begins. */
  start(): void {
    this.end = NaN;
    this.work = QUANTUM - FIRST_READ;
    this.expired = false;
    this.preempted = false;
  }

  /** Counts `units` of work done at an instruction boundary; true once the deadline has passed. */
  tick(units: number): boolean {
    if ((this.work += units) < QUANTUM) return this.expired;
    return this.passed();
  }

  /** Reads the clock now (a long instruction between its elements); true once the deadline has passed. */
  passed(): boolean {
    this.work = 0;
    const now = performance.now();
    if (this.end !== this.end) {
      // The run's first clock read (see FIRST_READ).
      this.end = now + this.timeoutMs;
      this.nextPreempt = this.preempt === null ? Infinity : now + PREEMPT_MS;
    }
    if (now >= this.nextPreempt) {
      this.nextPreempt = now + PREEMPT_MS;
      if (this.preempt !== null && this.preempt()) this.preempted = true;
    }
    return (this.expired = this.preempted || now >= this.end);
  }

  /**
   * A vCPU sleeping in HLT/WFI on the owner thread: whether another caller waits (`preempt`), so
   * the sleep ends as the time slice would; records it in `preempted`.
   */
  sleepPreempted(): boolean {
    if (this.preempt === null || !this.preempt()) return false;
    this.preempted = true;
    return true;
  }

  /** Longest single sleep of a halted vCPU while `preempt` is set, ms. */
  get sleepSliceMs(): number {
    return this.preempt === null ? Infinity : PREEMPT_MS;
  }

  /** A slow path charges its cost; the clock is read at the next `tick` once a quantum is full. */
  charge(units: number): void {
    this.work += units;
  }
}
