/**
 * KVM_RUN on arm64 (kvm_arch_vcpu_ioctl_run): finish the exit userspace answered (MMIO read data
 * into Rt with the saved syndrome's sign extension, the IDSR reply), honour immediate_exit, then
 * run until an exit: translated blocks (jit.ts) unless the VM was created with `jit: false`, the
 * interpreter for cold code, and single instructions with their debug checks while `attn` is set.
 * MMIO exits of single-register loads/stores stop the run after the instruction (`Cpu.stop`)
 * instead of unwinding with an exception; the PC is rewound to it for the exit. A guest that never exits returns EINTR with KVM_EXIT_INTR after a
 * budget of instructions, as a signal would; so does a vCPU that would sleep in the kernel (WFI,
 * PSCI CPU_SUSPEND, a powered-off vCPU) since nothing here could wake it.
 * @module
 */
import { exitEmulationFailure, exitReason, exitSimple, RUN, setExitReason } from '../../kernel/exits.js';
import { KVM_REQ } from '../../kernel/requests.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import { KvmError } from '../../sys/error.js';
import { KVM_EXIT, KVM_GUESTDBG, KVM_MP_STATE } from '../../uapi/constants.js';
import { KVM_ARM_IDSR } from '../../uapi/arm64.js';
import { Cpu, EC, EXIT, FAULT, Pending, STOP_EXIT, type Arm64Vcpu, type Cpu as CpuT } from './cpu.js';
import { debugExit, postException, postInsn, preInsn, STEP_NONE } from './debug.js';
import { Jit, TABLE_MASK, type Block } from './blocks.js';
import { completeMmioRead } from './mmio.js';
import { FSC } from './mmu.js';
import { completeIdsr } from './sysaccess.js';
import { mpidrFor } from './sysregs.js';
import { A64 } from './table.js';

/** Instructions between polls of immediate_exit (another thread may set it) and of the budget. */
const POLL_INTERVAL = 1 << 16;

const HANDLERS = A64.handlers;

/** The memo arrays of the decoder, for the inlined lookup in the loop. */
const { memoKey: MEMO_KEY, memoVal: MEMO_VAL } = A64;

/** kvm_arch_vcpu_ioctl_run for arm64: returns 0 with an exit in kvm_run, or throws (EINTR...). */
export function arm64Run(vcpu: Vcpu): number {
  const a = vcpu.archState as Arm64Vcpu;
  if (a.resetRequest) powerOnReset(vcpu, a);
  const c = a.cpu;
  if (c.userGen !== c.syncedGen) {
    c.syncAll();
    c.syncedGen = c.userGen;
  }
  c.checkMmuGen();
  c.stop = 0;
  if (vcpu.vm.kernel.jit) {
    // A new epoch: userspace may have rewritten guest code since the last run.
    if (c.jit === null) c.jit = new Jit(c, (vcpu.vm.archState as { jitHotness: number }).jitHotness);
    c.jit.newEpoch();
  }
  let completed = false;
  const reason = exitReason(vcpu);
  if (c.pending !== Pending.NONE) {
    const p = c.pending;
    c.pending = Pending.NONE;
    if ((p === Pending.MMIO_READ || p === Pending.MMIO_WRITE) && reason === KVM_EXIT.MMIO) {
      // kvm_handle_mmio_return
      if (p === Pending.MMIO_READ) completeMmioRead(c, vcpu.run.subarray(RUN['mmio.data'], RUN['mmio.data'] + 8));
      c.pc += 4;
      completed = true;
    } else if (p === Pending.IDSR && reason === KVM_ARM_IDSR.KVM_EXIT_ARM_IDSR) {
      completeIdsr(c);
      completed = true;
    }
  }
  if (vcpu.immediateExit) throw KvmError.of('EINTR', 'ioctl');
  setExitReason(vcpu, KVM_EXIT.UNKNOWN);
  vcpu.runDv.setUint16(RUN.flags, 0, true);
  if (a.mpState === KVM_MP_STATE.STOPPED) return blocked(vcpu);
  try {
    // The instruction KVM completed counts as a step: a host single-step exits right away.
    if (completed && (c.host.control & (KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP)) === (KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP)) {
      c.insnPc = c.pc;
      debugExit(c, EC.SOFTSTP_LOW, FSC.DEBUG, 0);
    }
    return loop(vcpu, c);
  } catch (e) {
    if (e === EXIT) return 0;
    throw e;
  }
}

function blocked(vcpu: Vcpu): never {
  exitSimple(vcpu, KVM_EXIT.INTR);
  throw KvmError.of('EINTR', 'ioctl');
}

/** PSCI CPU_ON: kvm_reset_vcpu with the requested entry point and context id. */
function powerOnReset(vcpu: Vcpu, a: Arm64Vcpu): void {
  const req = a.resetRequest!;
  a.resetRequest = null;
  const old = a.cpu;
  const c = new Cpu(vcpu, a.host, mpidrFor(vcpu.id));
  c.psciVersion = old.psciVersion;
  c.cntvoff = old.cntvoff;
  c.pc = req.pc;
  c.x[0] = req.r0lo;
  c.x[1] = req.r0hi;
  a.cpu = c;
}

function loop(vcpu: Vcpu, c: CpuT): number {
  // Instructions one KVM_RUN may retire before it returns as if a signal arrived.
  const budget = vcpu.vm.kernel.runBudget;
  const start = c.retired;
  const timer = vcpu.timer;
  const requests = vcpu.requests;
  let faults = 0;
  for (;;) {
    try {
      // vcpu->requests: a kick from any thread stops the run between blocks (jitRun/fastRun check it).
      if (requests[0] !== 0) checkRequests(vcpu);
      const lim = Math.min(POLL_INTERVAL, budget - (c.retired - start + faults)); // never past the budget
      const chunk = timer.quiet ? lim : timer.budget(lim, c.retired); // nor a timer deadline
      if (c.attn !== 0) slowStep(c);
      else if (c.jit !== null) jitRun(c, chunk, requests);
      else fastRun(c, chunk, requests);
      if (!timer.quiet) timer.poll(c.retired);
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
        if (postException(c, s)) return 0;
      } else if (e === EXIT) {
        c.stepping = STEP_NONE;
        if (c.blocked) {
          c.blocked = false;
          return blocked(vcpu);
        }
        return 0;
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
    if (c.retired - start + faults >= budget) {
      exitSimple(vcpu, KVM_EXIT.INTR);
      throw KvmError.of('EINTR', 'ioctl');
    }
    if (vcpu.immediateExit) {
      exitSimple(vcpu, KVM_EXIT.INTR);
      throw KvmError.of('EINTR', 'ioctl');
    }
    // The VMM (on another thread, for a vCPU running on a worker) may have changed memslots or
    // harvested dirty pages: drop stale host translations.
    c.checkMmuGen();
  }
}

/**
 * Services vcpu->requests (src/kernel/requests.ts): KVM_REQ.SIGNAL ends KVM_RUN as a signal would.
 * [irqchip hook] the vGIC consumes KVM_REQ.EVENT here (a pending interrupt to take); until it
 * exists, the wake-up bits have nothing to do and are dropped.
 */
function checkRequests(vcpu: Vcpu): void {
  const req = Atomics.and(vcpu.requests, 0, ~(KVM_REQ.SIGNAL | KVM_REQ.EVENT | KVM_REQ.UNBLOCK));
  if (req & KVM_REQ.SIGNAL) {
    exitSimple(vcpu, KVM_EXIT.INTR);
    throw KvmError.of('EINTR', 'ioctl');
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
 */
function fastRun(c: CpuT, n: number, requests: Int32Array | null = null): number {
  let i = 0;
  try {
    for (; i < n; i++) {
      const pc = c.pc;
      let off = pc - c.fetchVa;
      if (!(off >= 0 && off < 4096)) {
        if (c.attn !== 0 || (requests !== null && requests[0] !== 0)) break;
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
function jitRun(c: CpuT, n: number, requests: Int32Array): void {
  const jit = c.jit!;
  const table = jit.table;
  const stop = c.retired + n;
  let cur: Block | null = null;
  try {
    for (;;) {
      const left = stop - c.retired;
      if (left <= 0 || c.attn !== 0 || requests[0] !== 0) return;
      const pc = c.pc;
      let b = table[(pc >>> 2) & TABLE_MASK]!;
      if (b.va !== pc || b.key !== c.jitKey) b = jit.lookup(pc);
      const fn = b.fn;
      if (fn === null || b.len > left) {
        if (b.len > left) {
          fastRun(c, left);
          return;
        }
        fastRun(c, b.len);
        if (++b.hits >= jit.hotness && b.valid) jit.compile(b);
      } else {
        cur = b;
        fn(c, left);
        cur = null;
      }
      if (c.stop !== 0) {
        if ((c.stop & STOP_EXIT) !== 0) return;
        c.stop = 0;
      }
    }
  } catch (e) {
    // The instructions of the block before the one that threw retired.
    if (cur !== null) c.retired += (c.insnPc - cur.va) / 4;
    throw e;
  }
}
