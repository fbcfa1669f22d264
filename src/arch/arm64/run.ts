/**
 * KVM_RUN on arm64 (kvm_arch_vcpu_ioctl_run): finish the exit userspace answered (MMIO read data
 * into Rt with the saved syndrome's sign extension, the IDSR reply), honour immediate_exit, record
 * PV stolen time (pvtime.ts), then run until an exit: translated blocks (jit.ts) unless the VM was created with `jit: false`, the
 * interpreter for cold code, and single instructions with their debug checks while `attn` is set.
 * MMIO exits of single-register loads/stores stop the run after the instruction (`Cpu.stop`)
 * instead of unwinding with an exception; the PC is rewound to it for the exit. A guest that
 * never exits returns EINTR with KVM_EXIT_INTR after a budget of instructions, as a signal would.
 *
 * Interrupts are taken at instruction-block boundaries when an interrupt line (the vGIC's output
 * or, without one, KVM_IRQ_LINE's CPU lines) is up and PSTATE does not mask it; kicks from other
 * threads (vcpu->requests) stop translated-code chains, and the timers' deadlines are polled
 * between chunks. WFI and PSCI CPU_SUSPEND sleep until an interrupt is pending (kvm_vcpu_block),
 * a powered-off vCPU until a PSCI CPU_ON; on the thread that owns the VM a sleep ends within the
 * kernel's wait limit as a signal would (EINTR), so the VMM's event loop keeps running.
 * @module
 */
import { RUN_COST } from '../../kernel/deadline.js';
import { exitEmulationFailure, exitReason, exitSimple, RUN, RUN_EINTR, setExitReason } from '../../kernel/exits.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import { KvmError } from '../../sys/error.js';
import { kvmVcpuBlock, KVM_REQ } from '../../kernel/requests.js';
import { KVM_EXIT, KVM_GUESTDBG } from '../../uapi/constants.js';
import { KVM_ARM_IDSR } from '../../uapi/arm64.js';
import { ATTN_IRQ, Cpu, EC, EXIT, FAULT, Pending, STOP_EXIT, type Arm64Vcpu, type Arm64VmState, type Cpu as CpuT } from './cpu.js';
import { endsBlock } from './decoder.js';
import { debugExit, postException, postInsn, preInsn, STEP_NONE } from './debug.js';
import { DEFAULT_CODE_CACHE_LIMIT, ENDS, Jit, MAX_BLOCK, TABLE_MASK } from './blocks.js';
import { completeMmioRead } from './mmio.js';
import { FSC } from './mmu.js';
import { INVALID_GPA, updateStolenTime } from './pvtime.js';
import { completeIdsr } from './sysaccess.js';
import { mpidrFor, SR } from './sysregs.js';
import { A64 } from './table.js';
import { updateTimers } from './timer.js';
import { vgicMapResources, vgicOf } from './vgic/device.js';
import { GIC_V3, OWNER } from './vgic/vgic.js';
import { sharedOf, VM_FLAG } from './vmshared.js';

/** At most this many instructions per pass of the run loop, so its checks (deadline, other threads) stay frequent. */
const SLICE = 1 << 12;

const HANDLERS = A64.handlers;

/** The memo arrays of the decoder, for the inlined lookup in the loop. */
const { memoKey: MEMO_KEY, memoVal: MEMO_VAL } = A64;

/** loop() result: the vCPU powered itself off (PSCI CPU_OFF): sleep, then enter again. */
const POWERED_OFF = -1;

/** kvm_arch_vcpu_ioctl_run for arm64: returns 0 with an exit in kvm_run, or throws (EINTR...). */
export function arm64Run(vcpu: Vcpu): number {
  const a = vcpu.archState as Arm64Vcpu;
  if (!a.hasRun) firstRun(vcpu, a);
  const sh = a.cpu.shared;
  const reset = sh.takeReset(vcpu.index);
  if (reset !== null) powerOnReset(vcpu, a, reset);
  const c = a.cpu;
  enter(vcpu, c);
  let completed = false;
  const reason = exitReason(vcpu);
  if (c.pending !== Pending.NONE) {
    const p = c.pending;
    c.pending = Pending.NONE;
    if ((p === Pending.MMIO_READ || p === Pending.MMIO_WRITE) && reason === KVM_EXIT.MMIO) {
      // kvm_handle_mmio_return
      if (p === Pending.MMIO_READ) completeMmioRead(c, vcpu.run, RUN['mmio.data']);
      c.pc += 4;
      completed = true;
    } else if (p === Pending.IDSR && reason === KVM_ARM_IDSR.KVM_EXIT_ARM_IDSR) {
      completeIdsr(c);
      completed = true;
    }
  }
  if (vcpu.immediateExit) throw RUN_EINTR.signal;
  setExitReason(vcpu, KVM_EXIT.UNKNOWN);
  vcpu.runDv.setUint16(RUN.flags, 0, true);
  // check_vcpu_requests: KVM_REQ_RECORD_STEAL, which this KVM_RUN's vcpu_load made.
  if (a.steal.base !== INVALID_GPA) updateStolenTime(vcpu, a);
  let cur = c;
  for (;;) {
    // A powered-off vCPU sleeps until a PSCI CPU_ON (from any thread) or a signal; alone on the
    // thread that owns the VM, nothing could power it on: EINTR at once.
    if (sh.stopped(vcpu.index)) {
      if (!vcpu.vm.kernel.mirror && !otherVcpuMayRun(vcpu)) return intr(vcpu);
      if (blockStopped(vcpu, cur.retired, sh) === 'intr') return intr(vcpu);
      const r = sh.takeReset(vcpu.index);
      if (r !== null) powerOnReset(vcpu, a, r);
      cur = a.cpu;
      enter(vcpu, cur);
    }
    try {
      // The instruction KVM completed counts as a step: a host single-step exits right away.
      if (completed && (cur.host.control & (KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP)) === (KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP)) {
        completed = false;
        cur.insnPc = cur.pc;
        debugExit(cur, EC.SOFTSTP_LOW, FSC.DEBUG, 0);
      }
      const r = loop(vcpu, cur);
      if (r !== POWERED_OFF) return r;
    } catch (e) {
      if (e === EXIT) return 0;
      throw e;
    }
  }
}

/**
 * kvm_arch_vcpu_run_pid_change: the vGIC's frames must be complete (ENXIO, EINVAL, EBUSY), the
 * timer PPIs distinct; then the timers own their PPIs and the PPI numbers are fixed.
 */
// The closures of the run loop's rare paths are made in helpers: a closure in arm64Run or loop
// themselves would make V8 allocate their context on every KVM_RUN.
function blockStopped(vcpu: Vcpu, retired: number, sh: Arm64Vcpu['cpu']['shared']): ReturnType<typeof kvmVcpuBlock> {
  return kvmVcpuBlock(vcpu, retired, () => !sh.stopped(vcpu.index));
}
function blockWfi(vcpu: Vcpu, c: CpuT): ReturnType<typeof kvmVcpuBlock> {
  return kvmVcpuBlock(vcpu, c.retired, () => c.lines[0] !== 0);
}
function checkMmuGenOf(c: CpuT): () => void {
  return () => c.checkMmuGen(true);
}

function firstRun(vcpu: Vcpu, a: Arm64Vcpu): void {
  const vm = vcpu.vm;
  const st = vm.archState as Arm64VmState;
  if (st.vgic !== null) {
    vgicMapResources(vm);
    const [vt, pt] = st.timerPpis;
    if (vt === pt) throw KvmError.of('EINVAL', 'ioctl', { message: 'the virtual and physical timers share a PPI' });
  }
  sharedOf(st).setFlag(VM_FLAG.TIMER_PPIS_IMMUTABLE);
  a.hasRun = true;
}

/** What every KVM_RUN starts with: caches synced, the vGIC and lines this thread sees, the timers re-evaluated. */
function enter(vcpu: Vcpu, c: CpuT): void {
  if (c.userGen !== c.syncedGen) {
    c.syncAll();
    c.syncedGen = c.userGen;
  }
  c.checkMmuGen();
  c.stop = 0;
  if (vcpu.vm.kernel.jit) {
    // A new epoch: userspace may have rewritten guest code since the last run.
    if (c.jit === null) c.jit = new Jit(c, (vcpu.vm.archState as { jitHotness: number }).jitHotness, vcpu.vm.kernel.codeCacheLimit ?? DEFAULT_CODE_CACHE_LIMIT);
    c.jit.newEpoch();
  }
  const st = vcpu.vm.archState as Arm64VmState;
  const g = vgicOf(vcpu.vm);
  if (g !== c.gic) {
    c.gic = g;
    if (g !== null) {
      // The timers drive their PPIs (kvm_vgic_set_owner); userspace cannot.
      g.lock();
      try {
        for (const ppi of st.timerPpis.slice(0, 2)) g.owner[g.slot(vcpu.index, ppi)] = OWNER.TIMER;
      } finally {
        g.unlock();
      }
    }
  }
  // kvm_finalize_sys_regs: ID_AA64PFR0_EL1.GIC says "no system-register interface" unless the
  // VM has a vGICv3 (the ICC_* registers UNDEF then); a guest kernel checks it before ICC_SRE_EL1.
  if (g === null || g.model !== GIC_V3) c.sysLo[SR.ID_AA64PFR0]! &= ~(0xf << 24);
  c.lines = g !== null ? g.outView(vcpu.index) : c.shared.linesView(vcpu.index);
  c.timerPpis = st.timerPpis;
  updateTimers(c);
  c.linesChanged();
}

/** Whether another vCPU of the VM runs on another thread now (it could power this one on). */
function otherVcpuMayRun(vcpu: Vcpu): boolean {
  for (const v of vcpu.vm.vcpus.values()) if (v !== vcpu && v.away === 'attached') return true;
  return false;
}

/** KVM_RUN ends as a signal would end it. */
function intr(vcpu: Vcpu): never {
  exitSimple(vcpu, KVM_EXIT.INTR);
  throw RUN_EINTR.signal;
}

/** PSCI CPU_ON: kvm_reset_vcpu with the requested entry point and context id. */
export function powerOnReset(vcpu: Vcpu, a: Arm64Vcpu, req: { pc: number; r0lo: number; r0hi: number }): void {
  const old = a.cpu;
  const c = new Cpu(vcpu, a.host, mpidrFor(vcpu.id));
  c.psciVersion = old.psciVersion;
  c.retired = old.retired;
  c.pc = req.pc;
  c.x[0] = req.r0lo;
  c.x[1] = req.r0hi;
  a.cpu = c;
}

function loop(vcpu: Vcpu, c: CpuT): number {
  // Instructions one KVM_RUN may retire before it returns as if a signal arrived.
  const budget = vcpu.vm.kernel.runBudget;
  // ... and the wall time it may take.
  const deadline = vcpu.vm.kernel.deadline;
  deadline.start();
  const start = c.retired;
  const timer = vcpu.timer;
  if (vcpu.sync !== null) vcpu.sync.flush ??= checkMmuGenOf(c);
  let faults = 0;
  for (;;) {
    const before = c.retired;
    try {
      // An interrupt the vCPU may take now (vGIC output or CPU line, unmasked): at this boundary.
      if ((c.attn & ATTN_IRQ) !== 0) c.takeInterrupt();
      // Never past the run budget; on the deterministic clock, exactly to the next timer deadline.
      const lim = Math.min(SLICE, budget - (c.retired - start + faults));
      const n = timer.quiet ? lim : timer.budget(lim, c.retired);
      if (c.attn !== 0) slowStep(c);
      else if (c.jit !== null) jitRun(c, n);
      else fastRun(c, n, false);
      if (c.stop !== 0) {
        const exit = (c.stop & STOP_EXIT) !== 0;
        c.stop = 0;
        if (exit) {
          // An MMIO exit: the instruction waits for its completion (kvm_handle_mmio_return).
          c.pc = c.insnPc;
          return 0;
        }
      }
    } catch (e) {
      if (e === FAULT) {
        // The guest took an exception: the instruction did not retire.
        const s = c.stepping;
        c.stepping = STEP_NONE;
        faults++;
        deadline.charge(RUN_COST.EXCEPTION);
        if (postException(c, s)) return 0;
      } else if (e === EXIT) {
        c.stepping = STEP_NONE;
        if (!c.blocked) return 0;
        c.blocked = false;
        // PSCI CPU_OFF: arm64Run sleeps until a CPU_ON resets the vCPU.
        if (c.shared.stopped(c.vcpuIdx)) return POWERED_OFF;
        // WFI, PSCI CPU_SUSPEND (kvm_vcpu_wfi): sleep until an interrupt is pending for this vCPU,
        // masked or not; a signal (or the owner thread's wait limit) ends KVM_RUN with EINTR.
        // Without a vGIC, on the thread that owns the VM nothing could wake it: EINTR at once.
        if (c.gic === null && !vcpu.vm.kernel.mirror && c.lines[0] === 0) return intr(vcpu);
        if (blockWfi(vcpu, c) === 'intr') return intr(vcpu);
        c.linesChanged();
      } else if (e instanceof KvmError) {
        throw e;
      } else {
        // A bug of the emulator, never the guest's fault: report it the way KVM reports an
        // instruction it cannot emulate instead of letting a JS exception escape KVM_RUN.
        const w = c.insn;
        exitEmulationFailure(vcpu, Uint8Array.of(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, (w >>> 24) & 0xff));
        c.internalError = e;
        return 0;
      }
    }
    if (deadline.tick(c.retired - before + RUN_COST.ITERATION) || c.retired - start + faults >= budget) {
      exitSimple(vcpu, KVM_EXIT.INTR);
      throw (deadline.expired ? RUN_EINTR.limit : RUN_EINTR.budget);
    }
    if (vcpu.immediateExit) {
      exitSimple(vcpu, KVM_EXIT.INTR);
      throw RUN_EINTR.signal;
    }
    // Timers that came due (their PPIs rise), then kicks from any thread (vcpu->requests).
    if (!timer.quiet) timer.poll(c.retired);
    const req = c.req[0]!;
    if (req !== 0) {
      Atomics.and(c.req, 0, ~req);
      if (req & KVM_REQ.SIGNAL) return intr(vcpu);
      c.linesChanged();
    }
    // The VMM (on another thread, for a vCPU running on a worker) may have changed memslots or
    // harvested dirty pages: drop stale host translations; on a worker, first take the owner's
    // changes, and then acknowledge (the owner waits for it).
    const sync = vcpu.sync;
    if (sync !== null && sync.due()) {
      sync.pull();
      c.checkMmuGen(true);
      sync.ack();
    } else c.checkMmuGen();
  }
}

/** One instruction with the debug/illegal-state checks around it. */
function slowStep(c: CpuT): void {
  preInsn(c);
  const pc = c.pc;
  const w = c.fetchWords[(pc - c.fetchVa) >>> 2]!;
  c.insn = w;
  c.pc = pc + 4;
  c.exceptionTaken = false;
  HANDLERS[A64.decode(w)]!(c, w);
  c.retired++;
  const s = c.stepping;
  c.stepping = STEP_NONE;
  // An MMIO exit: the step completes with the access, on the next KVM_RUN.
  if ((c.stop & STOP_EXIT) !== 0) return;
  if (c.exceptionTaken) {
    // The handler ended in an exception without unwinding (SVC, UNALLOCATED).
    if (postException(c, s)) throw EXIT;
    return;
  }
  c.stepping = s;
  postInsn(c);
  c.stepping = STEP_NONE;
}

/**
 * The hot loop: at most `n` instructions while nothing needs per-instruction checks. `attn` is
 * looked at only when the fetch page changes (whatever sets it also invalidates `fetchVa`).
 * With `cold`, a block seen for the first time (blocks.ts `firstSight`) is run without caching
 * anything: it ends where a decoded block would (after a row that ends blocks, at the page end;
 * the caller caps `n` at MAX_BLOCK), with no separate pass over its words. One loop for both, so
 * V8 inlines one function into `jitRun`.
 */
function fastRun(c: CpuT, n: number, cold: boolean): number {
  let i = 0;
  try {
    for (; i < n; i++) {
      const pc = c.pc;
      let off = pc - c.fetchVa;
      if (!(off >= 0 && off < 4096) || (cold && i === 0 && ((pc & 3) !== 0 || c.fetchEl !== c.el))) {
        if (cold ? i !== 0 : c.attn !== 0 || c.req[0] !== 0) break;
        c.fetchSlow();
        off = pc - c.fetchVa;
      }
      const w = c.fetchWords[off >>> 2]!;
      c.insnPc = pc;
      c.insn = w;
      c.pc = pc + 4;
      const k = Math.imul(w, 0x9e3779b1) >>> 16;
      let h = MEMO_KEY[k] === w ? MEMO_VAL[k]! : 0;
      if (h === 0) h = A64.decode(w);
      HANDLERS[h]!(c, w);
      if (c.stop !== 0) {
        i++;
        break;
      }
      if (cold) {
        const e = ENDS[h]!;
        if (e !== 0 && (e === 1 || endsBlock(A64.encoding(h), w))) {
          i++;
          break;
        }
      }
    }
  } catch (e) {
    c.retired += i;
    throw e;
  }
  c.retired += i;
  return i;
}

/**
 * The block-JIT loop: at most `n` instructions, block by block, while nothing needs
 * per-instruction checks. Cold blocks run in the interpreter (and are counted towards
 * translation); a block that does not fit the remaining budget does too, instruction by
 * instruction, so the budget is exact.
 */
function jitRun(c: CpuT, n: number): void {
  const jit = c.jit!;
  const stop = c.retired + n;
  // Translated code brings c.retired up to date before anything that may throw.
  for (;;) {
    const left = stop - c.retired;
    if (left <= 0 || c.attn !== 0 || c.req[0] !== 0) return;
    const pc = c.pc;
    // (jit.table is replaced at the first cached block: read it per block.)
    let b = jit.table[(pc >>> 2) & TABLE_MASK]!;
    if ((b.va !== pc || b.key !== c.jitKey) && !(b.va === pc && jit.revalidate(b, pc))) {
      // Code seen for the first time: interpreted, nothing decoded into the cache.
      if (jit.firstSight(pc)) {
        fastRun(c, Math.min(MAX_BLOCK, left), true);
        if (c.stop !== 0) {
          if ((c.stop & STOP_EXIT) !== 0) return;
          c.stop = 0;
        }
        continue;
      }
      b = jit.lookup(pc);
    }
    const fn = b.fn;
    if (fn === null || b.len > left) {
      if (b.len > left) {
        fastRun(c, left, false);
        return;
      }
      fastRun(c, b.len, false);
      if (++b.hits >= jit.hotness && b.valid) {
        c.vcpu.vm.kernel.deadline.charge(RUN_COST.COMPILE);
        jit.compile(b);
      } else if (b.hits === jit.early && b.valid) jit.compile(b, true);
    } else fn(c, left);
    if (c.stop !== 0) {
      if ((c.stop & STOP_EXIT) !== 0) return;
      c.stop = 0;
    }
  }
}
