/**
 * KVM_RUN on x86: the per-vCPU machine (vcpu->arch) and its run loop, with the completion of the
 * exits userspace answered (complete_userspace_io). The machine composes the CPU (cpu.ts), its
 * services (services.ts: CPUID, MSR, I/O, hypercalls, HLT), pending events (events.ts), guest
 * debug (debug.ts) and the decoded-block cache with the block JIT (blocks.ts). Exit semantics
 * follow KVM on VMX:
 * - IN/OUT (not string): exit with RIP at the instruction; it completes on the next KVM_RUN.
 * - INS/OUTS: emulated; OUTS exits per element with RSI/RCX/RIP already updated, INS reads ahead.
 * - MMIO read: exit, then the instruction is re-executed with userspace's data. MMIO write: the
 *   instruction completes, then exits.
 * - HLT: exits with RIP past the HLT (no in-kernel irqchip).
 * @module
 */
import { RUN_COST, type RunDeadline } from '../../kernel/deadline.js';
import { exitEmulationFailure, exitMmio, exitSimple, PIO_DATA_OFFSET, RUN, RUN_EINTR, setExitReason } from '../../kernel/exits.js';
import { KVM_REQ } from '../../kernel/requests.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import { KvmError } from '../../sys/error.js';
import { KVM_EXIT } from '../../uapi/constants.js';
import { KVM_GUESTDBG_X86, KVM_X86_SHADOW_INT } from '../../uapi/x86.js';
import { KVMI_RESTART, type X86IntrospectionHooks } from '../../introspection/hooks.js';
import { BlockCache, DEFAULT_CODE_CACHE_LIMIT, DEFAULT_HOTNESS, DEFAULT_REGION_AT, DEFAULT_WASM_HOTNESS, REGION_FACTOR, type Block } from './blocks.js';
import { X86WasmEngine } from './emit-wasm-run.js';
import { EMULATION_FAILURE, ERRNO_EXIT, EXIT, FAULT, VEC, X86Cpu } from './cpu.js';
import { guestCaps, type CpuidEntry, type GuestCaps } from './cpuid.js';
import { X86Debug } from './debug.js';
import { X86KvmiAdapter } from './kvmi.js';
import { decode, decodePage, F_END, Insn } from './decoder.js';
import { quickRun, QUICK_END } from './quick.js';
import { X86Events } from './events.js';
import { HANDLERS } from './exec/index.js';
import { VmxServices, type Pending, type PioPending, type X86Services } from './services.js';
import { ES, FLAG, X86State } from './state.js';

export { DEFAULT_HOTNESS };

/** The interrupt shadow a MOV SS / POP SS leaves. */
const SHADOW_MOV_SS = KVM_X86_SHADOW_INT.MOV_SS;

/** Instructions per KVM_RUN between checks of immediate_exit (another thread may set it). */
const POLL_INTERVAL = 1 << 16;

/** step(): the instruction did not retire / retired, stop / retired, go on. */
const STEP_HALT = 0, STEP_STOP = 1, STEP_ON = 2;

/** At most this many instructions per pass of the run loop (a looping translation), so the loop's checks stay frequent. */
const SLICE = 1 << 12;

/** The per-vCPU x86 machine (vcpu->arch). */
export class X86Machine {
  readonly s = new X86State();
  /** What the instruction handlers ask of KVM (the TDX flavour brings its own). */
  readonly svc: X86Services;
  readonly cpu: X86Cpu;
  readonly events = new X86Events(this);
  readonly debug = new X86Debug(this);
  readonly blocks: BlockCache;
  /** Block executions before translation unless Kernel.jitHotness says (the wasm engine has its own). */
  private defaultHotness = DEFAULT_HOTNESS;
  mpState = 0;
  private cpuid: CpuidEntry[] = [];
  /** What the guest CPUID enables (reserved CR4 bits, XSETBV's XCR0 bits), kept with it. */
  caps: GuestCaps = guestCaps([]);
  /** Guest CPUID (KVM_SET_CPUID2). */
  get cpuidEntries(): CpuidEntry[] {
    return this.cpuid;
  }
  set cpuidEntries(e: CpuidEntry[]) {
    this.cpuid = e;
    this.caps = guestCaps(e);
  }
  /** kvm_vcpu_has_run: KVM_RUN entered the guest once (KVM_SET_CPUID2 may then only repeat the CPUID). */
  hasRun = false;
  /** The exit the next KVM_RUN completes (complete_userspace_io). */
  pending: Pending = null;
  /** The one PioPending object, reused by every IN/OUT exit. */
  readonly pio: PioPending = { kind: 'pio_out', size: 0, linearRip: 0, len: 0 };
  /** [kvmi hook] KVM introspection of this vCPU (src/introspection), null when the VM is not hooked. */
  intro: X86IntrospectionHooks | null = null;
  /** [kvmi hook] What introspection reads and controls of this vCPU (kvmi.ts). */
  readonly kvmi = new X86KvmiAdapter(this);
  private readonly insn = new Insn();
  /** Instructions since the last immediate_exit poll. */
  private sincePoll = 0;
  /** A guest-requested stop inside the run loop (HLT, MMIO write). Translated code reads it. */
  stopReason = 0;
  /** True while the current block was invalidated by a write to its code. Translated code reads it. */
  blockStale = false;
  /** Translated code called an interpreter handler (JitHost.handled): runChain checks everything again. */
  handled = false;
  /** Instructions retired (benchmarks read this). */
  retired = 0;

  /** `services` builds the flavour's services for this machine (VMX by default). */
  constructor(
    readonly vcpu: Vcpu,
    services: (m: X86Machine) => X86Services = (m) => new VmxServices(m),
  ) {
    this.svc = services(this);
    this.cpu = new X86Cpu(this.s, vcpu, vcpu.vm, this.svc);
    const k = vcpu.vm.kernel;
    // With translation at first sight (jitHotness 0) blocks are cached at first sight too.
    this.blocks = new BlockCache(this.cpu, this, k.jit && k.jitHotness === 0, k.codeCacheLimit ?? DEFAULT_CODE_CACHE_LIMIT);
    this.cpu.onCodeWrite = (gfn) => this.blocks.invalidate(gfn);
    if (k.jit && k.jitEngine === 'wasm') {
      this.defaultHotness = DEFAULT_WASM_HOTNESS;
      this.blocks.hook = new X86WasmEngine(this.cpu, k.jitHotness ?? DEFAULT_WASM_HOTNESS);
    }
    this.cpu.onMmio = (gpa, len, write, data) => {
      exitMmio(this.vcpu, gpa, len, write, data ?? undefined);
      // A write ends after its instruction; a read that did not throw (readLinSoft) before it.
      this.stopReason = KVM_EXIT.MMIO;
    };
  }

  /** Block JIT statistics (tests and benchmarks read them). */
  get jitStats(): BlockCache['jitStats'] {
    return this.blocks.jitStats;
  }

  /** The guest TSC: the VM clock (src/kernel/timer.ts) at the vCPU's TSC rate, plus its offset (irqchip/kvmclock.ts). */
  rdtsc(): bigint {
    return this.events.time.tscAt(this.vcpu.timer.now(this.retired));
  }

  // ------------------------------------------------------------------------------------------
  // KVM_RUN

  /**
   * KVM_RUN. Every return fills kvm_run's header fields (if_flag, ready_for_interrupt_injection,
   * cr8, apic_base), an error return such as EINTR too: the kernel's post_kvm_run_save runs on
   * every way out of kvm_arch_vcpu_ioctl_run, and a VMM with its own PIC decides from if_flag and
   * ready_for_interrupt_injection after an EINTR whether it may KVM_INTERRUPT (stale values from
   * an earlier exit let it inject while the guest has IF=0: VMX then refuses the entry).
   */
  run(): number {
    try {
      return this.enter();
    } catch (e) {
      if (e instanceof KvmError) this.finishExit();
      throw e;
    }
  }

  private enter(): number {
    const v = this.vcpu;
    const c = this.cpu;
    this.blocks.newEpoch();
    this.debug.updateGuestBpArmed();
    c.syncMmu();
    this.stopReason = 0;
    // Complete the exit userspace answered.
    const p = this.pending;
    this.pending = null;
    if (p) {
      let retired = true;
      try {
        retired = this.complete(p) !== false;
      } catch (e) {
        // Completing can touch guest memory too (INS stores through paging): the same outcomes as the run loop's.
        if (e === ERRNO_EXIT) throw KvmError.of(c.errno, 'ioctl');
        if (e instanceof KvmError) throw e;
        exitEmulationFailure(v, c.lastInsnBytes());
        this.finishExit();
        return 0;
      }
      // Completing an instruction is a step: under host single-step it traps before anything else
      // (kvm_skip_emulated_instruction, and complete_emulated_pio for INS once the instruction is
      // done). Not after OUTS: KVM's emulator finished it before the exit and does not step it
      // (its "FIXME: return into emulator if single-stepping"), so the next instruction runs first.
      if (this.debug.singleStep() && retired && p.kind !== 'outs') {
        this.debug.stepExit(0xffff4ff0n);
        this.finishExit();
        return 0;
      }
      // The completion itself may have exited (an INS element written to MMIO, a fault that shut down).
      if (this.stopReason) {
        this.finishExit();
        return 0;
      }
    }
    if (c.mmioCount !== 0 && !c.mmioReads[c.mmioCount - 1]!.ready) {
      // The MMIO read exit: userspace put the data in kvm_run.mmio.data.
      const last = c.mmioReads[c.mmioCount - 1]!;
      for (let k = 0; k < 8; k++) last.data[k] = v.run[RUN['mmio.data'] + k]!;
      last.ready = true;
    }
    if (v.immediateExit) throw RUN_EINTR.signal;
    this.events.time.checkOffset(); // KVM_SET_CLOCK moved kvmclock: the pvclock page follows
    // [kvmi hook] a vCPU parked on an introspection event waits for the reply (EINTR until then)
    if (this.intro !== null && this.intro.enter()) {
      this.finishExit();
      return 0;
    }
    setExitReason(v, KVM_EXIT.UNKNOWN);
    if (this.debug.control & KVM_GUESTDBG_X86.INJECT_DB && this.debug.control & 1) {
      this.debug.control &= ~KVM_GUESTDBG_X86.INJECT_DB;
    }
    const budget = v.vm.kernel.runBudget;
    // The wall-clock bound (src/kernel/deadline.ts), and on a worker thread the owner's memory changes.
    const deadline = v.vm.kernel.deadline;
    deadline.start();
    const sync = v.sync;
    if (sync !== null) sync.flush ??= () => c.syncMmu(true);
    try {
      // The loop is a method of its own: V8 compiles it on-stack (OSR), and an exception caught in
      // the same function (EINTR every 100 ms, exits) deoptimized that code each time without
      // discarding it (~1000 deopts per Linux boot); thrown out of it, nothing deoptimizes.
      return this.loop(budget, deadline, sync);
    } catch (e) {
      if (e === EXIT) {
        this.finishExit();
        return 0;
      }
      c.getFlags();
      if (e === ERRNO_EXIT) throw KvmError.of(c.errno, 'ioctl');
      if (e === EMULATION_FAILURE) {
        exitEmulationFailure(v, c.lastInsnBytes());
        this.finishExit();
        return 0;
      }
      if (e instanceof KvmError) {
        c.getFlags();
        throw e;
      }
      // A bug in the emulator must not take the host down: report it as KVM would an emulation failure.
      exitEmulationFailure(v, c.lastInsnBytes());
      this.finishExit();
      return 0;
    }
  }

  /** The run loop of KVM_RUN: blocks until an exit (returns 0) or a throw (EXIT, EINTR, faults: enter's handler). */
  private loop(budget: number, deadline: RunDeadline, sync: Vcpu['sync']): number {
    const v = this.vcpu;
    const c = this.cpu;
    let executed = 0;
    for (;;) {
      if (this.intro !== null && this.intro.pending) this.intro.requests(); // [kvmi hook] PAUSE/TRAP events
      if (v.requests[0] !== 0) this.checkRequests(); // vcpu->requests: a kick from any thread
      // An injection retires nothing: it still counts toward the wall-clock bound, so an event that
      // is injected again and again (seen from the ioctl fuzzer) cannot hold KVM_RUN forever.
      if (this.events.inject() && !deadline.tick(RUN_COST.EXCEPTION)) continue;
      if (executed >= budget || deadline.expired) {
        exitSimple(v, KVM_EXIT.INTR);
        throw (deadline.expired ? RUN_EINTR.limit : RUN_EINTR.budget);
      }
      const timer = v.timer;
      const lim = Math.min(budget - executed, SLICE);
      const n = this.runBlock(timer.quiet ? lim : timer.budget(lim, this.retired));
      // The IRET that ends an NMI handler unblocks NMIs (blocks end at IRET).
      if (this.events.nmiMasked && X86Events.isIret(c.lastInsn as Insn | null)) this.events.iretDone();
      // A block that retired nothing delivered a fault: count it, so a fault storm (a handler
      // that faults again, forever) still ends with EINTR when the budget runs out.
      executed += n || 1;
      deadline.tick(n + RUN_COST.ITERATION);
      // [smp] on a worker thread: the owner changed memory and waits until we stop using what we cached
      if (sync !== null && sync.due()) {
        sync.pull();
        c.syncMmu(true);
        sync.ack();
      }
      this.retired += n;
      this.sincePoll += n;
      if (!timer.quiet) timer.poll(this.retired); // the vCPU's timer deadlines
      if (this.stopReason) {
        this.finishExit();
        return 0;
      }
      if (this.sincePoll >= POLL_INTERVAL) {
        this.sincePoll = 0;
        if (v.immediateExit) {
          exitSimple(v, KVM_EXIT.INTR);
          throw RUN_EINTR.signal;
        }
        if (this.intro !== null) this.intro.poll(); // [kvmi hook] read the introspection socket
        c.syncMmu(); // [smp] a VMM on another thread changed memslots or harvested dirty pages
      }
    }
  }

  /**
   * Services vcpu->requests (src/kernel/requests.ts): KVM_REQ.SIGNAL ends KVM_RUN as a signal
   * would; the others (KVM_REQ_EVENT, NMI, clock updates) go to events.ts.
   */
  private checkRequests(): void {
    const v = this.vcpu;
    const req = Atomics.exchange(v.requests, 0, 0);
    if (req & KVM_REQ.SIGNAL) {
      if (req & ~KVM_REQ.SIGNAL) this.events.onRequests(req);
      exitSimple(v, KVM_EXIT.INTR);
      throw RUN_EINTR.signal;
    }
    this.events.onRequests(req);
  }

  /** Fills the kvm_run header fields KVM sets on every exit. */
  private finishExit(): void {
    const v = this.vcpu;
    const s = this.s;
    this.cpu.getFlags();
    const ifFlag = (s.rflags & FLAG.IF) !== 0;
    v.run[RUN.if_flag] = ifFlag ? 1 : 0;
    v.run[RUN.ready_for_interrupt_injection] = this.events.readyForInjection() ? 1 : 0;
    // CR8 is 4 bits: two words, no BigInt per exit.
    v.runDv.setUint32(RUN.cr8, s.cr8 >>> 0, true);
    v.runDv.setUint32(RUN.cr8 + 4, 0, true);
    v.runDv.setBigUint64(RUN.apic_base, s.apicBase, true);
  }

  /** Runs one decoded block (or part of it, or `lim` of a looping translation); returns instructions retired. */
  private runBlock(lim: number): number {
    const c = this.cpu;
    const lin = c.wrapLin(c.csBase + this.s.rip);
    c.lastInsn = null;
    const slow = this.slowPath();
    let blk: Block;
    try {
      blk = this.blocks.get(lin, !slow);
    } catch (e) {
      if (e === FAULT) {
        this.events.deliverFault();
        return 0;
      }
      throw e;
    }
    if (blk === this.blocks.stream) return this.runStream(lin, lim);
    const insns = blk.insns;
    this.blockStale = false;
    // [kvmi hook] introspected vCPUs stay interpreted: page-access events need every access's context.
    if (!slow && blk.cached && this.vcpu.vm.kernel.jit && this.intro === null) {
      const hot = this.vcpu.vm.kernel.jitHotness ?? this.defaultHotness;
      if (blk.fn === null && !blk.noJit && ++blk.hits > hot) this.blocks.compile(blk, hot === 0 && c.long64);
      // Translated code skips the per-instruction checks: only with none pending.
      if (blk.fn !== null && this.compiledOk()) return this.runChain(blk, lim);
    }
    c.repOne = slow;
    let n = 0;
    for (let k = 0; k < insns.length; k++) {
      const r = this.step(insns[k]!, slow);
      if (r === STEP_HALT) return n;
      n++;
      if (r === STEP_STOP) return n;
    }
    return n;
  }

  /**
   * Runs code seen for the first time: each instruction is decoded as it is reached (into one
   * reused record) and executed, across block ends while the next block is on the same page, new
   * too, and nothing needs the run loop (as runChain for translated blocks) — no block list is
   * built for code that may never run again. The same per-instruction checks as runBlock.
   */
  private runStream(lin: number, lim: number): number {
    const c = this.cpu;
    const s = this.s;
    const bc = this.blocks;
    this.blockStale = false;
    c.repOne = false;
    bc.beginStream(lin);
    // As runChain: no event that could be injected, no introspection, no interrupt-window request.
    const idle = this.events.idle() && this.vcpu.run[0] === 0 && this.intro === null;
    const page = lin - (lin & 0xfff);
    const pageEnd = page + 0x1000;
    // The page's bytes as beginStream found them: most instructions decode in one call here.
    const insn = bc.streamInsn;
    const mode = bc.sMode;
    const u8 = bc.sU8;
    const off0 = bc.sOff0;
    const direct = bc.sDirect;
    // 64-bit code (CS base 0, RIP = the linear address) read from the page: the one-pass forms
    // (quick.ts) run without a record or a handler while no per-instruction check is due.
    const quick = idle && direct && mode.long64;
    let n = 0;
    let a = lin;
    for (;;) {
      // (No data breakpoint armed, no MMIO read being replayed: quick.ts's memory forms need
      // neither; only a handler (step) changes them, or the shadow, TF and CPL.)
      if (quick && pageEnd - a >= 15 && s.shadow === 0 && (s.rflags & FLAG.TF) === 0 && !c.watchOn && c.mmioCount === 0) {
        const user = c.cpl === 3 ? 1 : 0;
        for (;;) {
          const q = quickRun(c, u8, off0, a, pageEnd, lim - n, user);
          const k = q & (QUICK_END - 1);
          if (k === 0) break;
          c.lastInsn = null;
          n += k;
          if (n >= lim) return n;
          a = s.rip;
          // Stopped before an instruction that is not a form, or before the page's last 15 bytes
          // (quickRun runs none there, so RIP is still on this page): the decoder takes it.
          if ((q & QUICK_END) === 0) break;
          // After a branch (a block end): on only into new code on this page, as below.
          if (this.vcpu.requests[0] !== 0 || !bc.streamOn(a)) return n;
          if (pageEnd - a < 15) break;
        }
      }
      try {
        if (!direct || pageEnd - a < 15 || !decodePage(insn, a, mode, u8, (off0 + a) | 0)) bc.streamNext(a);
      } catch (e) {
        // The fetch of a page-crossing instruction's bytes faulted: that instruction faults.
        if (e === FAULT) {
          this.events.deliverFault();
          return n;
        }
        // (An emulation failure, e.g. code running into MMIO: no instruction bytes, as when a
        // block's first fetch fails — not the bytes of the instruction before.)
        c.lastInsn = null;
        throw e;
      }
      const r = this.step(insn, false);
      if (r === STEP_HALT) return n;
      n++;
      if (r === STEP_STOP || n >= lim) return n;
      // (From RIP, not addr + len: IP wraps at 64 KiB in 16-bit code.)
      a = c.wrapLin(c.csBase + s.rip);
      if ((insn.desc!.flags & F_END) !== 0) {
        // A block ends: go on only into new code on this page with nothing for the run loop to do.
        if (!idle || this.vcpu.requests[0] !== 0 || !bc.streamOn(a)) return n;
      } else if (a < page || a >= pageEnd) return n; // (two compares, no double-to-int conversion)
    }
  }

  /**
   * Executes one decoded instruction with the interpreter's per-instruction checks: STEP_HALT
   * when it did not retire (a fault delivered, an exit to complete, a debug trap before it),
   * STEP_STOP when it retired and the run loop must look at something, STEP_ON otherwise.
   */
  private step(insn: Insn, slow: boolean): number {
    const c = this.cpu;
    const s = this.s;
    c.lastInsn = insn;
    c.mmioIdx = 0;
    if (insn.bad !== 0) return this.badInsn(insn);
    if (slow && this.debug.beforeInsn(insn)) return STEP_HALT;
    const tf = s.rflags & FLAG.TF;
    // An STI / MOV SS shadow covers this one instruction: it ends as it executes, and the
    // instruction may start a new one (STI; MOV SS). It stays if the instruction does not retire.
    const shadowBefore = s.shadow;
    if (shadowBefore !== 0) s.shadow = 0;
    c.next = c.maskIp(s.rip + insn.len);
    try {
      HANDLERS[insn.mn]!(c, insn);
    } catch (e) {
      return this.handlerThrew(e, shadowBefore);
    }
    if (c.exitNow) {
      // An exit that completes on the next KVM_RUN (IN/OUT): the instruction has not retired.
      c.exitNow = false;
      s.shadow = shadowBefore;
      return STEP_HALT;
    }
    s.rip = c.next;
    c.mmioCount = 0;
    if (c.softVector >= 0) return this.softAfter(insn);
    if ((slow || tf || c.icebp || c.watchHits) && this.debugAfter(shadowBefore, tf)) return STEP_STOP;
    if (this.stopReason || this.blockStale) return STEP_STOP;
    // An STI / MOV SS shadow just ended with an event waiting: the window opens here, exactly.
    if (shadowBefore !== 0 && this.events.windowWatch()) return STEP_STOP;
    return STEP_ON;
  }

  // step's rare paths, apart so that step stays small enough for V8 to inline into its loops.

  /** Undecodable bytes: #UD, #GP (too long), or an emulation failure. */
  private badInsn(insn: Insn): number {
    if (insn.bad === 1) this.events.fault(VEC.UD, false, 0);
    else if (insn.bad === 2) this.events.fault(VEC.GP, true, 0);
    else throw EMULATION_FAILURE;
    return STEP_HALT;
  }

  /** A handler threw: a guest fault is delivered; otherwise the shadow stays, and exits go on up. */
  private handlerThrew(e: unknown, shadowBefore: number): number {
    if (e === FAULT) {
      this.events.deliverFault();
      return STEP_HALT;
    }
    this.s.shadow = shadowBefore;
    if (e === KVMI_RESTART) return STEP_HALT; // [kvmi hook] abandoned; it runs again from scratch
    throw e;
  }

  /** INT n / INT3 / INTO retired: deliver it. */
  private softAfter(insn: Insn): number {
    const c = this.cpu;
    const vec = c.softVector;
    c.softVector = -1;
    this.events.softInterrupt(insn, vec);
    // Under host single-step, the step ends at the handler's first instruction.
    if (this.debug.singleStep() && !this.stopReason) {
      this.debug.stepExit(0xffff4ff0n);
    }
    return STEP_STOP;
  }

  /** Debug traps after an instruction (single step, TF, ICEBP, data breakpoints): true when one was taken. */
  private debugAfter(shadowBefore: number, tf: number): boolean {
    // MOV SS / POP SS: debug traps (single step, TF, data breakpoints) wait until after the
    // next instruction (the first of a run of them only).
    const held = !shadowBefore && (this.s.shadow & SHADOW_MOV_SS) !== 0 && !this.cpu.icebp;
    return !held && this.debug.afterInsn(tf !== 0);
  }

  /** Whether translated code may run now: nothing needs the interpreter's per-instruction checks. */
  private compiledOk(): boolean {
    const s = this.s;
    const c = this.cpu;
    return s.shadow === 0 && (s.rflags & FLAG.TF) === 0 && c.mmioCount === 0 && !c.watchOn;
  }

  /**
   * Runs translated blocks back to back, following block links, while nothing else needs the run
   * loop: no exit, no event that could be injected (no queued exception or interrupt, no
   * interrupt-window request, no introspection), the next block translated and within `lim`.
   */
  private runChain(first: Block, lim: number): number {
    const c = this.cpu;
    const s = this.s;
    const idle = this.events.idle() && this.vcpu.run[0] === 0 && this.intro === null;
    let total = 0;
    let b = first;
    this.handled = false;
    try {
      const hot = this.vcpu.vm.kernel.jitHotness;
      const regionAt = hot === undefined ? DEFAULT_REGION_AT : hot * REGION_FACTOR;
      for (;;) {
        const n = this.runCompiled(b, lim - total);
        total += n;
        // A block that keeps running is translated again with its region (64-bit mode).
        if (!b.region && (b.ran += n) > regionAt && c.long64 && !c.faulted && !this.blockStale) this.blocks.compile(b, true);
        if (!idle || total >= lim || this.stopReason !== 0 || c.faulted || this.blockStale || this.vcpu.requests[0] !== 0) break;
        // Inline code alone changes none of what slowPath/compiledOk/the mode key look at: the
        // block's links decide the next one.
        if (!this.handled) {
          const linked = this.blocks.follow(b, c.wrapLin(c.csBase + s.rip));
          if (linked !== null) {
            b = linked;
            continue;
          }
        }
        this.handled = false;
        let next: Block;
        try {
          next = this.blocks.get(c.wrapLin(c.csBase + s.rip));
        } catch (e) {
          // Fetching the next block faulted (#PF on demand-paged text): deliver it as the
          // interpreter's loop does, and end the chain.
          if (e !== FAULT) throw e;
          this.events.deliverFault();
          break;
        }
        if (next.fn === null || this.slowPath() || !this.compiledOk()) break;
        b = next;
      }
    } catch (e) {
      // An exit thrown from a later block: the blocks before it retired.
      this.retired += total;
      throw e;
    }
    c.faulted = false;
    return total;
  }

  /** Runs a translated block; the same outcomes as the interpreter's loop. */
  private runCompiled(b: Block, lim: number): number {
    const c = this.cpu;
    const s = this.s;
    c.mmioIdx = 0;
    let n: number;
    try {
      n = b.fn!(c, s, s.r, c.f, this, lim);
    } catch (e) {
      if (e === FAULT) {
        this.events.deliverFault();
        c.faulted = true;
        return c.jitN;
      }
      if (e === KVMI_RESTART) {
        c.faulted = true;
        return c.jitN; // [kvmi hook]
      }
      throw e;
    }
    if (c.softVector >= 0) {
      c.faulted = true; // ends the chain: the run loop looks at events after a delivery
      // INT n / INT3 / INTO ran through its handler as the block's last instruction.
      const vec = c.softVector;
      c.softVector = -1;
      this.events.softInterrupt(c.lastInsn as Insn, vec);
    }
    return n;
  }

  /** Whether per-instruction checks are needed (host debug, guest breakpoints, introspection). */
  private slowPath(): boolean {
    if (this.intro !== null && this.intro.perInsn && this.intro.slowBlock()) return true; // [kvmi hook]
    return this.debug.hostPerInsn() || this.debug.guestBpArmed;
  }

  // ------------------------------------------------------------------------------------------
  // Exit completion

  /** Completes the exit userspace answered (IO in, MSR, hypercall); false while a REP INS goes on. */
  private complete(p: NonNullable<Pending>): boolean | void {
    const c = this.cpu;
    const s = this.s;
    const v = this.vcpu;
    switch (p.kind) {
      case 'pio_out':
        this.skipPio(p);
        return;
      case 'outs':
        if (p.done) s.rflags &= ~FLAG.RF;
        return;
      case 'pio_in': {
        const dv = new DataView(v.area.buffer, v.area.byteOffset + PIO_DATA_OFFSET, 8);
        const val = p.size === 1 ? dv.getUint8(0) : p.size === 2 ? dv.getUint16(0, true) : dv.getUint32(0, true);
        if (this.skipPio(p)) c.setReg(0, p.size, val);
        return;
      }
      case 'ins': {
        const data = v.area.subarray(PIO_DATA_OFFSET, PIO_DATA_OFFSET + p.size * p.count);
        const delta = s.rflags & FLAG.DF ? -p.size : p.size;
        const mask = (x: number) => (p.asz === 2 ? x & 0xffff : p.asz === 4 ? x >>> 0 : x);
        for (let k = 0; k < p.count; k++) {
          // The emulator checks the count before each element: userspace may have lowered RCX
          // during the exit, and the read-ahead left over is dropped (x86 emulate.c, String ops).
          if (p.rep && c.regNum(1, p.asz) === 0) break;
          let val = 0;
          for (let b = 0; b < p.size; b++) val |= data[k * p.size + b]! << (8 * b);
          const di = c.regNum(7, p.asz);
          try {
            c.write(ES, di, p.size, val);
          } catch (e) {
            if (e === FAULT) {
              this.events.deliverFault();
              return;
            }
            throw e;
          }
          c.setRegNum(7, p.asz, mask(di + delta));
          if (p.rep) c.setRegNum(1, p.asz, mask(c.regNum(1, p.asz) - 1));
        }
        if (!p.rep || c.regNum(1, p.asz) === 0) {
          s.rip = this.nextRip();
          s.rflags &= ~FLAG.RF;
          return true;
        }
        s.rflags |= FLAG.RF;
        return false; // more repetitions: not done yet
      }
      case 'msr_read': {
        if (v.run[RUN['msr.error']]) return this.events.fault(VEC.GP, true, 0);
        const data = v.runDv.getBigUint64(RUN['msr.data'], true);
        c.setReg(0, 4, Number(data & 0xffffffffn) | 0);
        c.setReg(2, 4, Number(data >> 32n) | 0);
        s.rip = this.nextRip();
        return;
      }
      case 'msr_write':
        if (v.run[RUN['msr.error']]) return this.events.fault(VEC.GP, true, 0);
        s.rip = this.nextRip();
        return;
      case 'hypercall': {
        // complete_hypercall_exit: a hypercall made outside 64-bit mode gets the low 32 bits.
        const ret = v.runDv.getBigUint64(RUN['hypercall.ret'], true);
        s.setReg(0, this.cpu.long64 ? ret : ret & 0xffffffffn);
        s.rip = this.nextRip();
        return;
      }
    }
  }

  /** Skips the IN/OUT an exit left RIP on, unless userspace moved RIP (kvm_is_linear_rip). */
  private skipPio(p: PioPending): boolean {
    const c = this.cpu;
    if (c.wrapLin(c.csBase + this.s.rip) !== p.linearRip) return false;
    this.s.rip = c.maskIp(this.s.rip + p.len);
    this.s.shadow = 0; // the instruction retired (kvm_skip_emulated_instruction ends the shadow)
    return true;
  }

  /** RIP after the instruction at RIP (re-decoded: the exit left RIP on it), which retires now (its shadow ends). */
  private nextRip(): number {
    this.s.shadow = 0;
    const c = this.cpu;
    const lin = c.wrapLin(c.csBase + this.s.rip);
    decode(this.insn, lin, { long64: c.long64, def32: c.def32 }, (k) => c.fetchByte(lin + k));
    return c.maskIp(this.s.rip + this.insn.len);
  }
}

/** KVM_RUN entry point for the backend. */
export function x86Run(vcpu: Vcpu): number {
  return (vcpu.archState as X86Machine).run();
}
