/**
 * Time: the VM clock every guest-visible counter derives from (x86 TSC and kvmclock, arm64
 * CNTVCT/CNTPCT), and the deadline queues that make timers wake halted vCPUs.
 *
 * - `host` clock (default): nanoseconds of the host's monotonic clock since the VM was created,
 *   the same value on every thread (the origin is kept in the VM's shared words).
 * - `deterministic` clock (`virtualSys({ clock: 'deterministic' })`): time advances with the
 *   guest instructions the VM's vCPUs retire (1 ns each) and, when no vCPU of the VM is running,
 *   jumps to the next deadline of a halted vCPU. A guest driven by timer interrupts then gives the
 *   same exits, interrupts and counter values on every run (for vCPUs run from one thread; vCPUs
 *   running concurrently on workers interleave as the host schedules them).
 *
 * Deadlines are per vCPU (`VcpuTimer`, the arch timers: LAPIC timer, CNTV/CNTP) and per VM
 * (`VmTimers`, VM-wide devices such as the PIT, serviced on the thread that owns the VM). The run
 * loops ask `VcpuTimer.budget()` how far they may run before looking again and `poll()` to fire
 * what came due; a halted vCPU sleeps until its next deadline (src/kernel/requests.ts).
 * @module
 */
import { KVM_CLOCK } from '../uapi/constants.js';

/** The clock a VM's time follows. */
export type ClockMode = 'host' | 'deterministic';

/** Nanoseconds of guest time per retired instruction under the deterministic clock (a 1 GHz guest). */
export const NS_PER_INSN = 1;

/** The emulated host's TSC rate, kHz: the x86 guest TSC and KVM_GET_CLOCK's host_tsc tick at it. */
export const HOST_TSC_KHZ = 2_400_000;

/** Instructions a vCPU runs between looks at the host clock while a deadline is armed. */
const HOST_POLL_INSNS = 1 << 12;

/**
 * Under the deterministic clock, the most instructions a run loop retires between syncs: the arch
 * loops count retired instructions per stretch, so a counter read inside one sees the time at its
 * start. Counters then advance in steps of at most this many instructions (ns).
 */
const DETERMINISTIC_STRETCH = 256;

/** Under the deterministic clock, how often (host ms) the owner thread looks at the VM-wide deadlines. */
const DETERMINISTIC_VM_POLL_MS = 1;

// The clock's words in the VM's shared block (Vm.sharedWords), from CLOCK_BASE.
/** Byte offset of the clock's words in Vm.sharedWords. */
export const CLOCK_BASE = 128;
/** Bytes the clock needs there. */
export const CLOCK_BYTES = 64;
const F_NOW = 0; // Float64 [0]: deterministic time, ns (exact to 2^53 ns, 104 days)
const W_MODE = 2; // Int32 [2]: 1 when deterministic
const W_RUNNING = 3; // Int32 [3]: vCPUs inside KVM_RUN and not sleeping
const F_ORIGIN = 2; // Float64 [2]: epoch ms of the VM's time 0 (host clock)
const F_KVMCLOCK = 3; // Float64 [3]: kvmclock_offset, ns (KVM_SET_CLOCK)
const F_VM_NEXT = 4; // Float64 [4]: the VM-wide timers' next deadline, ns (Infinity: none)
const W_SEQ = 10; // Int32 [10]: F_NOW's sequence word: odd while a thread writes it (a seqlock)

/** The VM clock (struct kvm's view of time). One object per thread, over the VM's shared words. */
export class VmClock {
  readonly deterministic: boolean;
  private readonly words: Int32Array;
  private readonly f64: Float64Array;
  /** The VM's time 0 on this thread's performance.now() timeline, ms. */
  private readonly localOrigin: number;

  /** `mode` given: a new VM's clock starting at 0; absent: another thread's view of an existing one. */
  constructor(shared: SharedArrayBuffer, mode?: ClockMode) {
    this.words = new Int32Array(shared, CLOCK_BASE, CLOCK_BYTES / 4);
    this.f64 = new Float64Array(shared, CLOCK_BASE, CLOCK_BYTES / 8);
    if (mode !== undefined) {
      this.words[W_MODE] = mode === 'deterministic' ? 1 : 0;
      this.f64[F_ORIGIN] = performance.timeOrigin + performance.now();
    }
    if (mode !== undefined) this.f64[F_VM_NEXT] = Infinity;
    this.deterministic = this.words[W_MODE] === 1;
    this.localOrigin = this.f64[F_ORIGIN]! - performance.timeOrigin;
  }

  /** Nanoseconds since the VM was created. */
  now(): number {
    if (this.deterministic) {
      // A seqlock read: retried while a writer is in (the sequence odd) or came and went.
      const w = this.words;
      for (;;) {
        const seq = Atomics.load(w, W_SEQ);
        const ns = this.f64[F_NOW]!;
        if ((seq & 1) === 0 && Atomics.load(w, W_SEQ) === seq) return ns;
      }
    }
    return Math.floor((performance.now() - this.localOrigin) * 1e6);
  }

  /**
   * The host's wall clock (CLOCK_REALTIME, ns since the epoch) at VM time `ns`, as one snapshot
   * pairs them (ktime_get_snapshot); null under the deterministic clock, which no wall clock follows.
   */
  realtimeAt(ns: number): bigint | null {
    if (this.deterministic) return null;
    return BigInt(Math.round(this.f64[F_ORIGIN]! * 1e6)) + BigInt(ns);
  }

  /** Deterministic clock: `ns` more guest time has passed (instructions retired). */
  // The time is a double under a seqlock, not a BigInt64 word: every retired stretch advances it
  // (one call per block on x86), and a BigInt per add was most of the boot's garbage.
  advance(ns: number): void {
    if (ns > 0) this.write(this.lock() + ns);
  }

  /** Deterministic clock: time jumps forward to `ns` (never back). */
  advanceTo(ns: number): void {
    const cur = this.lock();
    this.write(Math.max(cur, Math.ceil(ns)));
  }

  /** Takes the writer side of the seqlock (the sequence goes odd); returns the time. */
  private lock(): number {
    const w = this.words;
    for (;;) {
      const seq = Atomics.load(w, W_SEQ);
      if ((seq & 1) === 0 && Atomics.compareExchange(w, W_SEQ, seq, seq + 1) === seq) return this.f64[F_NOW]!;
    }
  }

  /** Stores the time and releases the seqlock (the sequence goes even again). */
  private write(ns: number): void {
    this.f64[F_NOW] = ns;
    Atomics.add(this.words, W_SEQ, 1);
  }

  /**
   * The next deadline of the VM-wide timers (VmTimers, on the thread that owns the VM), ns: a
   * halted vCPU on a worker lets the deterministic clock jump to it, as to its own deadlines.
   */
  get vmNext(): number {
    return this.f64[F_VM_NEXT]!;
  }

  set vmNext(ns: number) {
    this.f64[F_VM_NEXT] = ns;
  }

  /** vCPUs of the VM inside KVM_RUN and not sleeping (the deterministic clock only jumps at 0). */
  get running(): number {
    return Atomics.load(this.words, W_RUNNING);
  }

  /** A vCPU entered (+1) or left (-1) the running state. */
  setRunning(delta: 1 | -1): void {
    Atomics.add(this.words, W_RUNNING, delta);
  }

  /** kvmclock: the VM clock plus the offset KVM_SET_CLOCK set, ns. */
  kvmclock(): number {
    return this.now() + this.f64[F_KVMCLOCK]!;
  }

  /** kvmclock_offset, ns. */
  get kvmclockOffset(): number {
    return this.f64[F_KVMCLOCK]!;
  }

  /** KVM_SET_CLOCK: makes kvmclock read `ns` now. */
  setKvmclock(ns: number): void {
    this.f64[F_KVMCLOCK] = ns - this.now();
  }

  /** The KVM_GET_CLOCK flags this clock can honour: a stable TSC, and wall-clock pairs on the host clock. */
  get clockFlags(): number {
    return this.deterministic ? KVM_CLOCK.TSC_STABLE | KVM_CLOCK.HOST_TSC : KVM_CLOCK.TSC_STABLE | KVM_CLOCK.REALTIME | KVM_CLOCK.HOST_TSC;
  }
}

/** One armed deadline. */
interface Deadline {
  readonly key: unknown;
  at: number;
  fire: () => void;
}

/** A deadline queue (hrtimers): a few entries, kept sorted by time. */
class DeadlineQueue {
  private readonly list: Deadline[] = [];
  /** The earliest deadline, ns (Infinity: none). */
  next = Infinity;

  /** Arms (or re-arms) the deadline `key` at VM time `at` ns. */
  arm(key: unknown, at: number, fire: () => void): void {
    this.remove(key);
    const d: Deadline = { key, at, fire };
    let i = 0;
    while (i < this.list.length && this.list[i]!.at <= at) i++;
    this.list.splice(i, 0, d);
    this.next = this.list[0]!.at;
  }

  /** Cancels the deadline `key` (hrtimer_cancel); true if it was armed. */
  cancel(key: unknown): boolean {
    const had = this.remove(key);
    this.next = this.list.length ? this.list[0]!.at : Infinity;
    return had;
  }

  /** The time `key` is armed for, or undefined. */
  armedAt(key: unknown): number | undefined {
    for (const d of this.list) if (d.key === key) return d.at;
    return undefined;
  }

  /** Fires (and disarms) every deadline at or before `now`; true if any fired. */
  expire(now: number): boolean {
    let fired = false;
    while (this.list.length && this.list[0]!.at <= now) {
      const d = this.list.shift()!;
      this.next = this.list.length ? this.list[0]!.at : Infinity;
      fired = true;
      d.fire(); // may re-arm (periodic timers)
    }
    this.next = this.list.length ? this.list[0]!.at : Infinity;
    return fired;
  }

  private remove(key: unknown): boolean {
    // A loop, not findIndex: cancel runs on every KVM_RUN (arm64 timers) and a closure per call adds up.
    const l = this.list;
    for (let i = 0; i < l.length; i++) {
      if (l[i]!.key !== key) continue;
      l.splice(i, 1);
      return true;
    }
    return false;
  }
}

/**
 * VM-wide deadlines (devices of the whole VM, such as the PIT): serviced on the thread that owns
 * the VM — by its vCPUs' run loops, and by a host timer there, so they fire while every vCPU runs
 * on workers. Under the deterministic clock that timer looks every millisecond (the workers move
 * time on), and the next deadline is published in the VM's clock words so that halted workers
 * jump to it.
 */
export class VmTimers {
  private readonly q = new DeadlineQueue();
  private hostTimer: ReturnType<typeof setTimeout> | null = null;
  /** The owner-thread vCPU timers that also service these deadlines (told when they change). */
  private readonly vcpuTimers: VcpuTimer[] = [];

  constructor(private readonly clock: VmClock) {}

  /** A vCPU timer of the owner thread: it services these deadlines too. */
  attach(t: VcpuTimer): void {
    this.vcpuTimers.push(t);
  }

  get next(): number {
    return this.q.next;
  }

  arm(key: unknown, at: number, fire: () => void): void {
    this.q.arm(key, at, fire);
    this.changed();
  }

  cancel(key: unknown): boolean {
    const r = this.q.cancel(key);
    this.changed();
    return r;
  }

  armedAt(key: unknown): number | undefined {
    return this.q.armedAt(key);
  }

  /** Fires what came due; true if anything fired. */
  poll(): boolean {
    if (this.q.next > this.clock.now()) return false;
    const r = this.q.expire(this.clock.now());
    this.changed();
    return r;
  }

  private changed(): void {
    this.clock.vmNext = this.q.next;
    this.schedule();
    for (const t of this.vcpuTimers) t.refresh();
  }

  /** Stops the host timer (VM destroyed). */
  stop(): void {
    if (this.hostTimer) clearTimeout(this.hostTimer);
    this.hostTimer = null;
  }

  private schedule(): void {
    if (this.hostTimer) clearTimeout(this.hostTimer);
    this.hostTimer = null;
    if (this.q.next === Infinity) return;
    const ms = this.clock.deterministic ? DETERMINISTIC_VM_POLL_MS : Math.max(0, (this.q.next - this.clock.now()) / 1e6);
    this.hostTimer = setTimeout(() => {
      this.hostTimer = null;
      this.poll();
      this.schedule();
    }, ms);
    this.hostTimer.unref(); // a pending device timer alone does not keep the process alive
  }
}

/** A vCPU's view of time and its deadlines (the arch timers). Per thread: a moved vCPU's arch re-arms them. */
export class VcpuTimer {
  private readonly q = new DeadlineQueue();
  /** The arch's retired-instruction count at the last sync (NaN: not synced on this thread yet). */
  private lastRetired = NaN;
  /**
   * True on the host clock with no deadline to service: the run loops then skip `budget` and
   * `poll` altogether (one field read per stretch on the hot exit path).
   */
  quiet: boolean;
  /**
   * No deadline to service (`next` is Infinity), kept by `refresh` and `arm`: the per-block
   * `budget` and `poll` test it instead of computing `next` (a double returned from a getter
   * was a heap number per block).
   */
  private idle = true;

  constructor(
    readonly clock: VmClock,
    /** The VM's timers, when this vCPU runs on the thread that owns them (else null). */
    private readonly vmTimers: VmTimers | null,
  ) {
    this.quiet = !clock.deterministic;
    vmTimers?.attach(this);
    this.idle = this.next === Infinity;
  }

  /** Recomputes `quiet` (a deadline was armed, cancelled or fired). */
  refresh(): void {
    this.idle = this.next === Infinity;
    this.quiet = !this.clock.deterministic && this.idle;
  }

  /**
   * The VM time this vCPU sees, ns. `retired` is the arch's count of retired instructions: under
   * the deterministic clock the instructions since the last call advance the VM's time.
   */
  now(retired: number): number {
    this.sync(retired);
    return this.clock.now();
  }

  /** Publishes the instructions retired since the last call (deterministic clock). */
  sync(retired: number): void {
    if (!this.clock.deterministic) return;
    const last = this.lastRetired;
    this.lastRetired = retired;
    if (last === last && retired > last) this.clock.advance((retired - last) * NS_PER_INSN);
  }

  /** Forgets the retired count (the vCPU moved between threads and its count was carried over). */
  resync(): void {
    this.lastRetired = NaN;
  }

  /** The earliest deadline this vCPU's thread must service, ns (Infinity: none). */
  get next(): number {
    const v = this.vmTimers;
    return v === null ? this.q.next : Math.min(this.q.next, v.next);
  }

  /**
   * The earliest deadline that can wake this vCPU from a halt, ns: its thread's, and on a worker
   * also the VM-wide timers' (the owner thread fires them; their interrupt then kicks the vCPU).
   */
  get wakeAt(): number {
    return this.vmTimers === null ? Math.min(this.q.next, this.clock.vmNext) : this.next;
  }

  /** Arms (or re-arms) the deadline `key` at VM time `at` ns; `fire` runs on this vCPU's thread. */
  arm(key: unknown, at: number, fire: () => void): void {
    this.q.arm(key, at, fire);
    this.quiet = false;
    this.idle = false;
  }

  cancel(key: unknown): boolean {
    const r = this.q.cancel(key);
    this.refresh();
    return r;
  }

  armedAt(key: unknown): number | undefined {
    return this.q.armedAt(key);
  }

  /**
   * How many instructions the run loop may retire (at most `max`) before it must call `poll`:
   * exactly up to the next deadline under the deterministic clock, a short stretch on the host clock.
   */
  budget(max: number, retired: number): number {
    if (!this.clock.deterministic) return this.idle ? max : Math.min(max, HOST_POLL_INSNS);
    this.sync(retired);
    if (this.idle) return Math.min(max, DETERMINISTIC_STRETCH);
    const next = this.next;
    const left = Math.ceil((next - this.clock.now()) / NS_PER_INSN);
    return Math.max(1, Math.min(max, DETERMINISTIC_STRETCH, left));
  }

  /** Fires every deadline (the vCPU's and, on the owner thread, the VM's) that came due; true if any fired. */
  poll(retired: number): boolean {
    if (this.idle) return false;
    const now = this.now(retired);
    if (this.next > now) return false;
    let fired = this.q.next <= now && this.q.expire(now);
    if (this.vmTimers !== null && this.vmTimers.poll()) fired = true;
    this.refresh();
    return fired;
  }
}
