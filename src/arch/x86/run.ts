/**
 * KVM_RUN on x86: the per-vCPU machine (CPU + decoded-block cache + pending userspace exits +
 * guest debug + event injection) and the run loop. Exit semantics follow KVM on VMX:
 * - IN/OUT (not string): exit with RIP at the instruction; it completes on the next KVM_RUN.
 * - INS/OUTS: emulated; OUTS exits per element with RSI/RCX/RIP already updated, INS reads ahead.
 * - MMIO read: exit, then the instruction is re-executed with userspace's data. MMIO write: the
 *   instruction completes, then exits.
 * - HLT: exits with RIP past the HLT (no in-kernel irqchip).
 * @module
 */
import { exitEmulationFailure, exitIo, exitMmio, exitSimple, PIO_DATA_OFFSET, RUN, setExitReason } from '../../kernel/exits.js';
import { PAGE_SIZE } from '../../kernel/hva.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import { KvmError } from '../../sys/error.js';
import { KVM_EXIT, KVM_EXIT_IO, KVM_MSR_EXIT_REASON } from '../../uapi/constants.js';
import { KVM_GUESTDBG_X86 } from '../../uapi/x86.js';
import { EMULATION_FAILURE, ERRNO_EXIT, EXIT, FAULT, VEC, X86Cpu } from './cpu.js';
import { guestCpuid, type CpuidEntry } from './cpuid.js';
import { decode, Insn, K_SEG, mnemonic, type DecodeMode } from './decoder.js';
import { HANDLERS, REP_CHUNK, setServices, type X86Services } from './exec.js';
import { MsrFilter, msrAccess } from './msr.js';
import { CS, EFER, ES, FLAG, X86State } from './state.js';
import { KVMI_RESTART, type X86IntrospectionHooks } from '../../introspection/hooks.js';
import { X86Translator, type X86BlockFn } from './jit.js';

/** Executions of a block before the JIT translates it (Kernel.jitHotness overrides). */
export const DEFAULT_HOTNESS = 8;
/** Code-page invalidations after which a frame's blocks are no longer translated. */
const SMC_LIMIT = 16;

/** Userspace exit waiting for completion on the next KVM_RUN. */
type Pending =
  | PioPending
  | { kind: 'outs'; done: boolean }
  | { kind: 'ins'; size: number; count: number; asz: number; rep: boolean }
  | { kind: 'msr_read' | 'msr_write' }
  | { kind: 'hypercall' }
  | null;

/**
 * IN/OUT waiting for userspace (complete_fast_pio_in/out): RIP stays on the instruction, whose
 * linear RIP and length are kept; the next KVM_RUN skips it only if RIP was not moved meanwhile.
 */
interface PioPending {
  kind: 'pio_out' | 'pio_in';
  size: number;
  linearRip: number;
  len: number;
}

/** A run of decoded instructions starting at one linear address. */
interface Block {
  readonly insns: Insn[];
  readonly gfn: number;
  readonly modeKey: number;
  /**
   * Links to the blocks that ran next (two successors: taken and fall-through), valid while the
   * code generation and mode key they were recorded under hold: a hit skips the translation and
   * the cache lookup.
   */
  l1: number;
  b1: Block | null;
  l2: number;
  b2: Block | null;
  linkGen: number;
  linkMode: number;
  /** The block's code bytes (cached blocks lie within one page), for revalidation. */
  readonly code: Uint8Array;
  /** The KVM_RUN epoch it was last validated in (-1: never; uncached blocks need none). */
  epoch: number;
  /** Whether it lives in the cache (uncached: crosses a page, decoded for one use). */
  readonly cached: boolean;
  /** Block JIT: the translation, executions while cold, and whether translation failed. */
  fn: X86BlockFn | null;
  hits: number;
  noJit: boolean;
}

/** Mnemonics after which a block ends (control flow, mode changes, exits). */
const BLOCK_END = new Set(
  ['JCC', 'JMP', 'CALL', 'RET', 'JMPF', 'CALLF', 'RETF', 'IRET', 'INT', 'INT3', 'INTO', 'INT1', 'HLT', 'LOOP', 'LOOPE', 'LOOPNE', 'JRCXZ', 'SYSCALL', 'SYSRET', 'POPF', 'STI', 'CLI', 'LGDT', 'LIDT', 'LLDT', 'LTR', 'LMSW', 'CLTS', 'INVLPG', 'IN', 'OUT', 'INS', 'OUTS', 'MOVS', 'STOS', 'LODS', 'CMPS', 'SCAS', 'WRMSR', 'RDMSR', 'CPUID', 'VMCALL', 'VMMCALL', 'TDCALL', 'XSETBV', 'SWAPGS', 'LSS', 'LDS', 'LES', 'LFS', 'LGS', 'ENTER', 'UD0', 'UD1', 'UD2'].map(mnemonic),
);
const MN_INT3 = mnemonic('INT3');
const MN_MOV = mnemonic('MOV');
const MN_POP = mnemonic('POP');

/** Whether a block ends after `insn`: control flow, mode changes (MOV/POP to segment, CR, DR), exits. */
function endsBlock(insn: Insn): boolean {
  if (BLOCK_END.has(insn.mn)) return true;
  if (insn.mn !== MN_MOV && insn.mn !== MN_POP) return false;
  const k = insn.kind[0];
  return k === K_SEG || k === 5 /* K_CR */ || k === 6 /* K_DR */;
}

const MAX_BLOCK = 64;

/** Instructions per KVM_RUN between checks of immediate_exit (another thread may set it). */
const POLL_INTERVAL = 1 << 16;

/** KVM hypercall numbers and errors (include/uapi/linux/kvm_para.h). */
const KVM_HC_MAP_GPA_RANGE = 12;
const KVM_ENOSYS = 1000n;
const KVM_EPERM = 1n;
const KVM_EINVAL = 22n;

/** The per-vCPU x86 machine (vcpu->arch). */
export class X86Machine implements X86Services {
  readonly s = new X86State();
  readonly cpu: X86Cpu;
  mpState = 0;
  /** KVM_SET_GUEST_DEBUG control and debugreg[]. */
  guestDebug = 0;
  readonly guestDebugRegs: bigint[] = new Array<bigint>(8).fill(0n);
  /** Guest CPUID (KVM_SET_CPUID2). */
  cpuidEntries: CpuidEntry[] = [];
  /** KVM_INTERRUPT vector waiting for IF=1 (-1 none). */
  irq = -1;
  nmiPending = false;
  /** An exception queued by KVM_SET_VCPU_EVENTS or KVM_GUESTDBG_INJECT_*. */
  queuedException: { vector: number; hasCode: boolean; code: number } | null = null;
  pending: Pending = null;
  /** The one PioPending object, reused by every IN/OUT exit. */
  private readonly pio: PioPending = { kind: 'pio_out', size: 0, linearRip: 0, len: 0 };
  /** [kvmi hook] KVM introspection of this vCPU (src/introspection), null when the VM is not hooked. */
  intro: X86IntrospectionHooks | null = null;
  private readonly blocks = new Map<number, Block>();
  private readonly blocksByGfn = new Map<number, Block[]>();
  private readonly insn = new Insn();
  /** Instructions since the last immediate_exit poll. */
  private sincePoll = 0;
  /** A guest-requested stop inside the run loop (HLT, MMIO write). Translated code reads it. */
  stopReason = 0;
  /** True while the current block was invalidated by a write to its code. Translated code reads it. */
  blockStale = false;
  /** KVM_RUN count: cached blocks are revalidated against guest memory once per epoch. */
  private epoch = 0;
  /** Block JIT translators per mode key (null map entries: never made); statistics for tests. */
  private readonly translators = new Map<number, X86Translator>();
  readonly jitStats = { compiled: 0, failed: 0, invalidated: 0, lastError: null as unknown };
  /** Instructions retired (benchmarks read this). */
  retired = 0;
  /** TSC offset so the guest TSC starts near 0 (KVM_SET_TSC_KHZ is not modelled). */
  private readonly tscBase = process.hrtime.bigint();

  constructor(readonly vcpu: Vcpu) {
    this.cpu = new X86Cpu(this.s, vcpu, vcpu.vm);
    this.cpu.onCodeWrite = (gfn) => this.invalidateCode(gfn);
    this.cpu.onMmio = (gpa, len, write, data) => {
      exitMmio(this.vcpu, gpa, len, write, data ?? undefined);
      if (write) this.stopReason = KVM_EXIT.MMIO;
    };
  }

  private get vmState(): { userSpaceMsr: number; exitHypercall: bigint; msrFilter: MsrFilter | null } {
    return this.vcpu.vm.archState as never;
  }

  // ------------------------------------------------------------------------------------------
  // Decoded-block cache

  /** The block that ran last (its links record what runs next). */
  private prevBlock: Block | null = null;

  private invalidateCode(gfn: number): void {
    this.cpu.codeGen++;
    this.codeWrites.set(gfn, (this.codeWrites.get(gfn) ?? 0) + 1);
    const list = this.blocksByGfn.get(gfn);
    if (list) {
      for (const b of list) {
        const lin = b.insns[0]!.addr;
        if (this.blocks.get(lin) === b) this.blocks.delete(lin);
      }
      this.blocksByGfn.delete(gfn);
    }
    this.cpu.codeGfns.delete(gfn);
    this.blockStale = true;
  }

  /** Drops every decoded block (memslot changes, VMM writes we cannot see). */
  flushBlocks(): void {
    this.cpu.codeGen++;
    this.prevBlock = null;
    this.blocks.clear();
    this.blocksByGfn.clear();
    this.cpu.codeGfns.clear();
  }

  private modeKey(): number {
    const c = this.cpu;
    return (c.long64 ? 1 : 0) | (c.def32 ? 2 : 0) | (c.cpl << 2);
  }

  private decodeMode(): DecodeMode {
    return { long64: this.cpu.long64, def32: this.cpu.def32 };
  }

  /** The block at the current RIP: cached (validated against the physical page) or decoded now. */
  private block(lin: number): Block {
    const c = this.cpu;
    const key = this.modeKey();
    const prev = this.prevBlock;
    if (prev !== null && prev.linkGen === c.codeGen && prev.linkMode === key) {
      let next: Block | null = null;
      if (prev.l1 === lin) next = prev.b1;
      else if (prev.l2 === lin) next = prev.b2;
      if (next !== null && (next.epoch === this.epoch || this.revalidate(next, lin))) return (this.prevBlock = next);
    }
    let b = this.lookupBlock(lin, key);
    if (b.cached && b.epoch !== this.epoch && !this.revalidate(b, lin)) b = this.lookupBlock(lin, key);
    const cached = this.blocks.get(lin) === b;
    if (prev !== null && cached) {
      if (prev.linkGen !== c.codeGen || prev.linkMode !== key) {
        prev.l1 = prev.l2 = -1;
        prev.b1 = prev.b2 = null;
        prev.linkGen = c.codeGen;
        prev.linkMode = key;
      }
      if (prev.l1 === -1) {
        prev.l1 = lin;
        prev.b1 = b;
      } else {
        prev.l2 = lin;
        prev.b2 = b;
      }
    }
    this.prevBlock = cached ? b : null;
    return b;
  }

  private lookupBlock(lin: number, key: number): Block {
    const c = this.cpu;
    const gfn = c.codeGfn(lin);
    const b = this.blocks.get(lin);
    if (b && b.gfn === gfn && b.modeKey === key) return b;
    const insns: Insn[] = [];
    const mode = this.decodeMode();
    let a = lin;
    const pageEnd = lin - (lin & 0xfff) + PAGE_SIZE;
    for (let n = 0; n < MAX_BLOCK; n++) {
      const insn = new Insn();
      decode(insn, a, mode, (k) => c.fetchByte(a + k));
      if (insn.bad === 3) break;
      insns.push(insn);
      if (insn.bad || insn.mn < 0 || endsBlock(insn)) break;
      a += insn.len;
      if (a >= pageEnd) break;
    }
    if (insns.length === 0) {
      // The very first fetch faulted: decode again to raise the fault.
      decode(this.insn, lin, mode, (k) => c.fetchByte(lin + k));
      throw EMULATION_FAILURE;
    }
    const last = insns[insns.length - 1]!;
    const crosses = last.addr + last.len > pageEnd;
    const code = new Uint8Array(last.addr + last.len - lin);
    for (const i of insns) code.set(i.bytes.subarray(0, i.len), i.addr - lin);
    const nb: Block = { insns, gfn, modeKey: key, l1: -1, b1: null, l2: -1, b2: null, linkGen: -1, linkMode: -1, code, epoch: this.epoch, cached: !crosses, fn: null, hits: 0, noJit: false };
    if (!crosses) {
      this.blocks.set(lin, nb);
      let list = this.blocksByGfn.get(gfn);
      if (!list) this.blocksByGfn.set(gfn, (list = []));
      list.push(nb);
      if (!c.codeGfns.has(gfn)) {
        c.codeGfns.add(gfn);
        c.flushWriteTlb();
      }
    }
    return nb;
  }

  /**
   * First use of a cached block in this KVM_RUN: userspace may have rewritten guest code through
   * its mapping since the last run. Returns false (and drops the page's blocks) when it did.
   */
  private revalidate(b: Block, lin: number): boolean {
    if (this.cpu.codeMatches(lin, b.code)) {
      b.epoch = this.epoch;
      return true;
    }
    this.jitStats.invalidated++;
    this.invalidateCode(b.gfn);
    this.blockStale = false;
    this.prevBlock = null;
    return false;
  }

  /** Times each guest frame's decoded code was dropped by writes (self-modifying code). */
  private readonly codeWrites = new Map<number, number>();

  /** Translates a hot block; a translation error leaves it interpreted (and is counted). */
  private compile(b: Block): void {
    // A frame whose code keeps being rewritten stays interpreted: translating it again and again
    // would cost more than it saves.
    if ((this.codeWrites.get(b.gfn) ?? 0) > SMC_LIMIT) {
      b.noJit = true;
      return;
    }
    // Undecodable bytes (#UD, too long, unknown) raise through the interpreter's checks.
    if (b.insns.some((i) => i.bad !== 0 || i.mn < 0)) {
      b.noJit = true;
      return;
    }
    try {
      let t = this.translators.get(b.modeKey);
      if (t === undefined) this.translators.set(b.modeKey, (t = new X86Translator({ long64: this.cpu.long64, def32: this.cpu.def32 })));
      b.fn = t.translate(b.insns);
      this.jitStats.compiled++;
    } catch (e) {
      b.noJit = true;
      this.jitStats.failed++;
      this.jitStats.lastError ??= e;
    }
  }

  /** Whether translated code may run now: nothing needs the interpreter's per-instruction checks. */
  private compiledOk(): boolean {
    const s = this.s;
    const c = this.cpu;
    return s.shadow === 0 && (s.rflags & FLAG.TF) === 0 && c.mmioReads.length === 0 && !c.watchOn;
  }

  /**
   * Runs translated blocks back to back, following block links, while nothing else needs the run
   * loop: no exit, no event that could be injected (no queued exception or interrupt, no
   * interrupt-window request, no introspection), the next block translated and within `lim`.
   */
  private runChain(first: Block, lim: number): number {
    const c = this.cpu;
    const s = this.s;
    const idle = this.irq < 0 && this.queuedException === null && !this.nmiPending && this.vcpu.run[0] === 0 && this.intro === null;
    let total = 0;
    let b = first;
    try {
      for (;;) {
        total += this.runCompiled(b, lim - total);
        if (!idle || total >= lim || this.stopReason !== 0 || c.faulted) break;
        const next = this.block(c.wrapLin(c.csBase + s.rip));
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
        this.deliverFault();
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
      this.softInterrupt(c.lastInsn as Insn, vec);
    }
    return n;
  }

  // ------------------------------------------------------------------------------------------
  // KVM_RUN

  run(): number {
    const v = this.vcpu;
    const c = this.cpu;
    this.epoch++;
    this.updateGuestBpArmed();
    c.syncMmu();
    this.stopReason = 0;
    // Complete the exit userspace answered.
    const p = this.pending;
    this.pending = null;
    if (p) {
      try {
        this.complete(p);
      } catch (e) {
        // Completing can touch guest memory too (INS stores through paging): the same outcomes as the run loop's.
        if (e === ERRNO_EXIT) throw KvmError.of(c.errno, 'ioctl');
        if (e instanceof KvmError) throw e;
        exitEmulationFailure(v, c.lastInsnBytes());
        this.finishExit();
        return 0;
      }
      // Completing an instruction is a step: under host single-step it traps before anything else.
      if ((this.guestDebug & 3) === 3 && p.kind !== 'ins' && p.kind !== 'outs') {
        this.debugExit(VEC.DB, BigInt.asUintN(64, BigInt(c.wrapLin(c.csBase + this.s.rip))), 0xffff4ff0n, this.effDr7());
        this.finishExit();
        return 0;
      }
      // The completion itself may have exited (an INS element written to MMIO, a fault that shut down).
      if (this.stopReason) {
        this.finishExit();
        return 0;
      }
    }
    if (c.mmioReads.length && !c.mmioReads[c.mmioReads.length - 1]!.ready) {
      // The MMIO read exit: userspace put the data in kvm_run.mmio.data.
      const last = c.mmioReads[c.mmioReads.length - 1]!;
      last.data.set(v.run.subarray(RUN['mmio.data'], RUN['mmio.data'] + 8));
      last.ready = true;
    }
    if (v.immediateExit) throw KvmError.of('EINTR', 'ioctl');
    // [kvmi hook] a vCPU parked on an introspection event waits for the reply (EINTR until then)
    if (this.intro !== null && this.intro.enter()) {
      this.finishExit();
      return 0;
    }
    setExitReason(v, KVM_EXIT.UNKNOWN);
    if (this.guestDebug & KVM_GUESTDBG_X86.INJECT_DB && this.guestDebug & 1) {
      this.guestDebug &= ~KVM_GUESTDBG_X86.INJECT_DB;
    }
    const budget = v.vm.kernel.runBudget;
    let executed = 0;
    try {
      for (;;) {
        if (this.intro !== null && this.intro.pending) this.intro.requests(); // [kvmi hook] PAUSE/TRAP events
        if (this.injectEvents()) continue;
        if (executed >= budget) {
          exitSimple(v, KVM_EXIT.INTR);
          throw KvmError.of('EINTR', 'ioctl', { message: 'run budget exhausted (as if a signal arrived)' });
        }
        const n = this.runBlock(Math.min(budget - executed, POLL_INTERVAL));
        // A block that retired nothing delivered a fault: count it, so a fault storm (a handler
        // that faults again, forever) still ends with EINTR when the budget runs out.
        executed += n || 1;
        this.retired += n;
        this.sincePoll += n;
        if (this.stopReason) {
          this.finishExit();
          return 0;
        }
        if (this.sincePoll >= POLL_INTERVAL) {
          this.sincePoll = 0;
          if (v.immediateExit) {
            exitSimple(v, KVM_EXIT.INTR);
            throw KvmError.of('EINTR', 'ioctl');
          }
          if (this.intro !== null) this.intro.poll(); // [kvmi hook] read the introspection socket
          c.syncMmu(); // [smp] a VMM on another thread changed memslots or harvested dirty pages
        }
      }
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

  /** Fills the kvm_run header fields KVM sets on every exit. */
  private finishExit(): void {
    const v = this.vcpu;
    const s = this.s;
    this.cpu.getFlags();
    const ifFlag = (s.rflags & FLAG.IF) !== 0;
    v.run[RUN.if_flag] = ifFlag ? 1 : 0;
    v.run[RUN.ready_for_interrupt_injection] = ifFlag && !s.shadow && this.irq < 0 ? 1 : 0;
    v.runDv.setBigUint64(RUN.cr8, BigInt(s.cr8), true);
    v.runDv.setBigUint64(RUN.apic_base, s.apicBase, true);
  }

  /** Runs one decoded block (or part of it, or `lim` of a looping translation); returns instructions retired. */
  private runBlock(lim: number): number {
    const c = this.cpu;
    const s = this.s;
    const lin = c.wrapLin(c.csBase + s.rip);
    c.lastInsn = null;
    let blk: Block;
    try {
      blk = this.block(lin);
    } catch (e) {
      if (e === FAULT) {
        this.deliverFault();
        return 0;
      }
      throw e;
    }
    const insns = blk.insns;
    this.blockStale = false;
    let n = 0;
    const slow = this.slowPath();
    // [kvmi hook] introspected vCPUs stay interpreted: page-access events need every access's context.
    if (!slow && blk.cached && this.vcpu.vm.kernel.jit && this.intro === null) {
      if (blk.fn === null && !blk.noJit && ++blk.hits > (this.vcpu.vm.kernel.jitHotness ?? DEFAULT_HOTNESS)) this.compile(blk);
      // Translated code skips the per-instruction checks: only with none pending.
      if (blk.fn !== null && this.compiledOk()) return this.runChain(blk, lim);
    }
    c.repOne = slow;
    for (let k = 0; k < insns.length; k++) {
      const insn = insns[k]!;
      c.lastInsn = insn;
      c.mmioIdx = 0;
      if (insn.bad) {
        if (insn.bad === 1) this.fault(VEC.UD, false, 0);
        else if (insn.bad === 2) this.fault(VEC.GP, true, 0);
        else throw EMULATION_FAILURE;
        return n;
      }
      if (slow && this.beforeInsn(insn)) return n;
      const tf = s.rflags & FLAG.TF;
      const shadowBefore = s.shadow;
      c.next = c.maskIp(s.rip + insn.len);
      try {
        HANDLERS[insn.mn]!(c, insn);
      } catch (e) {
        if (e === FAULT) {
          this.deliverFault();
          return n;
        }
        if (e === KVMI_RESTART) return n; // [kvmi hook] abandoned; it runs again from scratch
        throw e;
      }
      if (c.exitNow) {
        // An exit that completes on the next KVM_RUN (IN/OUT): the instruction has not retired.
        c.exitNow = false;
        return n;
      }
      n++;
      s.rip = c.next;
      if (shadowBefore) s.shadow = 0;
      if (c.mmioReads.length !== 0) c.mmioReads.length = 0;
      if (c.softVector >= 0) {
        const vec = c.softVector;
        c.softVector = -1;
        this.softInterrupt(insn, vec);
        // Under host single-step, the step ends at the handler's first instruction.
        if ((this.guestDebug & 3) === 3 && !this.stopReason) {
          this.debugExit(VEC.DB, BigInt.asUintN(64, BigInt(c.wrapLin(c.csBase + s.rip))), 0xffff4ff0n, this.effDr7());
        }
        return n;
      }
      if (slow || tf || c.icebp || c.watchHits) {
        if (this.afterInsn(insn, tf !== 0)) return n;
      }
      if (this.stopReason || this.blockStale) return n;
    }
    return n;
  }

  /** Whether per-instruction debug checks are needed (host debug, guest breakpoints). */
  private slowPath(): boolean {
    if (this.intro !== null && this.intro.perInsn && this.intro.slowBlock()) return true; // [kvmi hook]
    const dbg = this.guestDebug;
    if (dbg & 1 && dbg & (2 | KVM_GUESTDBG_X86.USE_HW_BP)) return true;
    return this.guestBpArmed;
  }

  /**
   * Whether the guest's DR7 enables a breakpoint: recomputed at KVM_RUN entry and on guest DR
   * writes (the only ways DR7 changes), so blocks do not test a BigInt.
   */
  private guestBpArmed = false;

  private updateGuestBpArmed(): void {
    this.guestBpArmed = (this.s.dr7 & 0xffn) !== 0n;
  }

  // ------------------------------------------------------------------------------------------
  // Guest debug

  /** Effective DR7 and breakpoint addresses: the host's while it debugs with HW BPs, else the guest's. */
  private effDr7(): bigint {
    return this.guestDebug & 1 && this.guestDebug & KVM_GUESTDBG_X86.USE_HW_BP ? this.guestDebugRegs[7]! : this.s.dr7;
  }

  private effDr(i: number): bigint {
    return this.guestDebug & 1 && this.guestDebug & KVM_GUESTDBG_X86.USE_HW_BP ? this.guestDebugRegs[i]! : this.s.db[i]!;
  }

  private hostHwBp(): boolean {
    return (this.guestDebug & 1) !== 0 && (this.guestDebug & KVM_GUESTDBG_X86.USE_HW_BP) !== 0;
  }

  /** Instruction breakpoints (faults, before the instruction). Returns true to stop the block. */
  private beforeInsn(insn: Insn): boolean {
    if (this.intro !== null && this.intro.perInsn && this.intro.beforeInsn(insn)) return true; // [kvmi hook] execute restrictions
    const s = this.s;
    const dr7 = this.effDr7();
    if (!(dr7 & 0xffn) || s.rflags & FLAG.RF) {
      s.rflags &= ~FLAG.RF;
      return false;
    }
    let hits = 0;
    const lin = BigInt.asUintN(64, BigInt(insn.addr));
    for (let i = 0; i < 4; i++) {
      if (!((dr7 >> BigInt(2 * i)) & 3n)) continue;
      const rw = Number((dr7 >> BigInt(16 + 4 * i)) & 3n);
      if (rw !== 0) continue;
      if (BigInt.asUintN(64, this.effDr(i)) === lin) hits |= 1 << i;
    }
    if (!hits) return false;
    if (this.hostHwBp()) {
      this.debugExit(VEC.DB, BigInt(insn.addr), 0xffff0ff0n | BigInt(hits), dr7);
      return true;
    }
    s.dr6 = (s.dr6 & ~0xfn) | BigInt(hits) | 0xffff0ff0n;
    this.fault(VEC.DB, false, 0);
    return true;
  }

  /** Traps after an instruction: data breakpoints, single step, TF, ICEBP. Returns true to stop. */
  private afterInsn(insn: Insn, tf: boolean): boolean {
    const c = this.cpu;
    const s = this.s;
    let dr6 = 0n;
    if (c.icebp) {
      c.icebp = false;
      this.deliverTrap(VEC.DB);
      return true;
    }
    const watch = c.watchHits;
    if (watch) {
      c.watchHits = 0;
      dr6 |= BigInt(watch);
    }
    // An instruction that already exits to userspace (MMIO write) reports no step; HLT's step wins.
    const hostStep = (this.guestDebug & 3) === 3 && (this.stopReason === 0 || this.stopReason === KVM_EXIT.HLT);
    if (hostStep) {
      this.debugExit(VEC.DB, BigInt.asUintN(64, BigInt(c.wrapLin(c.csBase + s.rip))), 0xffff0ff0n | dr6 | 0x4000n, this.effDr7());
      return true;
    }
    if (dr6 && this.hostHwBp()) {
      this.debugExit(VEC.DB, BigInt.asUintN(64, BigInt(c.wrapLin(c.csBase + s.rip))), 0xffff0ff0n | dr6, this.effDr7());
      return true;
    }
    if (tf) dr6 |= 0x4000n;
    if (dr6) {
      s.dr6 = (s.dr6 & ~0x400fn) | dr6 | 0xffff0ff0n;
      this.deliverTrap(VEC.DB);
      return true;
    }
    void insn;
    return false;
  }

  private debugExit(exception: number, pc: bigint, dr6: bigint | null, dr7: bigint | null): void {
    const v = this.vcpu;
    setExitReason(v, KVM_EXIT.DEBUG);
    const base = RUN['debug.arch'];
    v.runDv.setUint32(base, exception, true);
    v.runDv.setBigUint64(base + 8, pc, true);
    if (dr6 !== null) v.runDv.setBigUint64(base + 16, dr6, true);
    if (dr7 !== null) v.runDv.setBigUint64(base + 24, dr7, true);
    this.stopReason = KVM_EXIT.DEBUG;
  }

  /** INT n / INT3 / INTO after the instruction; INT3 under KVM_GUESTDBG_USE_SW_BP exits instead. */
  private softInterrupt(insn: Insn, vec: number): void {
    if (insn.mn === MN_INT3 && this.intro !== null && this.intro.breakpoint(insn)) return; // [kvmi hook] KVMI_VCPU_EVENT_BREAKPOINT
    const s = this.s;
    if (insn.mn === MN_INT3 && (this.guestDebug & (1 | KVM_GUESTDBG_X86.USE_SW_BP)) === (1 | KVM_GUESTDBG_X86.USE_SW_BP)) {
      // The exit reports the INT3 itself; RIP stays on it.
      s.rip = this.cpu.maskIp(s.rip - insn.len);
      this.debugExit(VEC.BP, BigInt.asUintN(64, BigInt(insn.addr)), null, null);
      return;
    }
    const ok = this.cpu.deliver(vec, false, 0, true, s.rip);
    if (!ok) this.shutdown();
  }

  /** Delivers the exception in cpu.excVector (RIP at the faulting instruction). */
  private deliverFault(): void {
    const c = this.cpu;
    this.fault(c.excVector, c.excHasCode, c.excCode);
  }

  private fault(vec: number, hasCode: boolean, code: number): void {
    const c = this.cpu;
    if (vec === VEC.PF) this.s.cr2 = BigInt.asUintN(64, BigInt(c.excAddr));
    if (vec === VEC.DB) this.s.dr7 &= ~0x2000n;
    const ok = c.deliver(vec, hasCode, code, false, this.s.rip);
    if (!ok) this.shutdown();
  }

  private deliverTrap(vec: number): void {
    const ok = this.cpu.deliver(vec, false, 0, false, this.s.rip);
    if (!ok) this.shutdown();
  }

  /** Triple fault: KVM_EXIT_SHUTDOWN. */
  private shutdown(): void {
    exitSimple(this.vcpu, KVM_EXIT.SHUTDOWN);
    this.stopReason = KVM_EXIT.SHUTDOWN;
  }

  /** Injects queued exceptions, NMIs and KVM_INTERRUPT vectors at an instruction boundary. */
  private injectEvents(): boolean {
    const s = this.s;
    const q = this.queuedException;
    if (q) {
      this.queuedException = null;
      this.fault(q.vector, q.hasCode, q.code);
      return true;
    }
    const blockIrq = (this.guestDebug & 1) !== 0 && (this.guestDebug & KVM_GUESTDBG_X86.BLOCKIRQ) !== 0;
    if (this.irq >= 0 && s.rflags & FLAG.IF && !s.shadow && !blockIrq) {
      const vec = this.irq;
      this.irq = -1;
      const ok = this.cpu.deliver(vec, false, 0, false, s.rip);
      if (!ok) this.shutdown();
      return true;
    }
    if (this.vcpu.run[0] /* request_interrupt_window */ && s.rflags & FLAG.IF && !s.shadow && this.irq < 0) {
      exitSimple(this.vcpu, KVM_EXIT.IRQ_WINDOW_OPEN);
      this.stopReason = KVM_EXIT.IRQ_WINDOW_OPEN;
      throw EXIT;
    }
    return false;
  }

  /** Completes the exit userspace answered (IO in, MSR, hypercall). */
  private complete(p: NonNullable<Pending>): void {
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
          let val = 0;
          for (let b = 0; b < p.size; b++) val |= data[k * p.size + b]! << (8 * b);
          const di = c.regNum(7, p.asz);
          try {
            c.write(ES, di, p.size, val);
          } catch (e) {
            if (e === FAULT) {
              this.deliverFault();
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
        } else s.rflags |= FLAG.RF;
        return;
      }
      case 'msr_read': {
        if (v.run[RUN['msr.error']]) return this.fault(VEC.GP, true, 0);
        const data = v.runDv.getBigUint64(RUN['msr.data'], true);
        c.setReg(0, 4, Number(data & 0xffffffffn) | 0);
        c.setReg(2, 4, Number(data >> 32n) | 0);
        s.rip = this.nextRip();
        return;
      }
      case 'msr_write':
        if (v.run[RUN['msr.error']]) return this.fault(VEC.GP, true, 0);
        s.rip = this.nextRip();
        return;
      case 'hypercall': {
        const ret = v.runDv.getBigUint64(RUN['hypercall.ret'], true);
        s.setReg(0, ret);
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
    return true;
  }

  /** RIP after the instruction at RIP (re-decoded: the exit left RIP on it). */
  private nextRip(): number {
    const c = this.cpu;
    const lin = c.wrapLin(c.csBase + this.s.rip);
    decode(this.insn, lin, this.decodeMode(), (k) => c.fetchByte(lin + k));
    return c.maskIp(this.s.rip + this.insn.len);
  }

  // ------------------------------------------------------------------------------------------
  // Services for the instruction handlers

  cpuid(leaf: number, sub: number, out: Int32Array): void {
    guestCpuid(this.cpuidEntries, leaf, sub, this.s.cr4, this.s.apicBase, out);
  }

  rdmsr(c: X86Cpu, index: number): bigint | undefined {
    const r = msrAccess(this, index >>> 0, false, 0n);
    if (r.ok) return r.value;
    this.userMsrExit(index >>> 0, false, 0n, r.reason);
    return undefined;
  }

  wrmsr(c: X86Cpu, index: number, value: bigint): boolean {
    if (this.intro !== null) value = this.intro.msr(index >>> 0, value); // [kvmi hook] KVMI_VCPU_EVENT_MSR
    const r = msrAccess(this, index >>> 0, true, value);
    if (r.ok) return true;
    this.userMsrExit(index >>> 0, true, value, r.reason);
    return false;
  }

  /** KVM_CAP_X86_USER_SPACE_MSR: forward a refused access to userspace when its reason is enabled. */
  private userMsrExit(index: number, write: boolean, value: bigint, reason: number): void {
    if (!(this.vmState.userSpaceMsr & reason)) return;
    const v = this.vcpu;
    v.run.fill(0, RUN['msr.error'], RUN['msr.error'] + 24);
    setExitReason(v, write ? KVM_EXIT.X86_WRMSR : KVM_EXIT.X86_RDMSR);
    v.runDv.setUint32(RUN['msr.reason'], reason, true);
    v.runDv.setUint32(RUN['msr.index'], index, true);
    v.runDv.setBigUint64(RUN['msr.data'], value, true);
    this.pending = { kind: write ? 'msr_write' : 'msr_read' };
    throw EXIT;
  }

  io(c: X86Cpu, i: Insn, port: number, size: number, count: number, out: boolean, data: Uint8Array): never | void {
    const v = this.vcpu;
    const s = this.s;
    if (count > 0) {
      // IN/OUT: the fast path. RIP stays on the instruction until the next KVM_RUN.
      if (out) v.area.set(data.subarray(0, size), PIO_DATA_OFFSET);
      else v.area.fill(0, PIO_DATA_OFFSET, PIO_DATA_OFFSET + size); // KVM zeroes pio_data before an IN exit
      exitIo(v, out ? KVM_EXIT_IO.OUT : KVM_EXIT_IO.IN, port, size, 1);
      c.next = s.rip;
      const p = this.pio;
      p.kind = out ? 'pio_out' : 'pio_in';
      p.size = size;
      p.linearRip = c.wrapLin(c.csBase + s.rip);
      p.len = i.len;
      this.pending = p;
      // Stop before retiring it, without unwinding: the run loop checks `exitNow` after each handler.
      c.exitNow = true;
      this.stopReason = KVM_EXIT.IO;
      return;
    }
    const rep = i.rep !== 0;
    const asz = i.asz;
    const mask = (x: number) => (asz === 2 ? x & 0xffff : asz === 4 ? x >>> 0 : x);
    const delta = s.rflags & FLAG.DF ? -size : size;
    if (out) {
      // OUTS: emulated one element per exit, with the registers already written back.
      const si = c.regNum(6, asz);
      const val = c.read(i.seg, si, size);
      for (let k = 0; k < size; k++) v.area[PIO_DATA_OFFSET + k] = (val >>> (8 * k)) & 0xff;
      c.setRegNum(6, asz, mask(si + delta));
      let left = 1;
      if (rep) {
        left = mask(c.regNum(1, asz) - 1);
        c.setRegNum(1, asz, left);
      }
      c.next = rep && left !== 0 ? s.rip : c.next;
      // KVM's emulator sets RF while a REP string instruction is in progress (the exit is inside
      // it, even for the last element) and clears it when the instruction completes.
      if (rep) {
        s.rflags |= FLAG.RF;
        this.pending = { kind: 'outs', done: left === 0 };
      } else s.rflags &= ~FLAG.RF;
      exitIo(v, KVM_EXIT_IO.OUT, port, size, 1);
      this.stopReason = KVM_EXIT.IO;
      return;
    }
    // INS: read ahead up to the end of the destination page (KVM's pio_in_emulated rule).
    const di = c.regNum(7, asz);
    let total = rep ? c.regNum(1, asz) : 1;
    if (total < 0) total += asz === 2 ? 2 ** 16 : asz === 4 ? 2 ** 32 : 2 ** 64; // (E/R)CX is unsigned
    const inPage = s.rflags & FLAG.DF ? di & 0xfff : PAGE_SIZE - (di & 0xfff);
    let n = Math.min(inPage, Math.floor(1024 / size), total);
    if (n === 0) n = 1;
    // Probe the first element's destination so a fault is raised before the exit.
    c.linear(ES, di, size, true);
    v.area.fill(0, PIO_DATA_OFFSET, PIO_DATA_OFFSET + size * n);
    exitIo(v, KVM_EXIT_IO.IN, port, size, n);
    c.next = s.rip;
    this.pending = { kind: 'ins', size, count: n, asz, rep };
    throw EXIT;
  }

  hypercall(c: X86Cpu, i: Insn): void {
    if (this.intro !== null && this.intro.hypercall(i.len)) return; // [kvmi hook] KVMI_VCPU_EVENT_HYPERCALL
    const s = this.s;
    void i;
    const nr = c.long64 ? s.getReg(0) : s.getReg(0) & 0xffffffffn;
    const arg = (r: number) => (c.long64 ? s.getReg(r) : s.getReg(r) & 0xffffffffn);
    let ret: bigint;
    if (c.cpl !== 0) ret = -KVM_EPERM;
    else if (nr === BigInt(KVM_HC_MAP_GPA_RANGE) && this.vmState.exitHypercall & (1n << BigInt(KVM_HC_MAP_GPA_RANGE))) {
      const gpa = arg(3);
      const npages = arg(1);
      const attrs = arg(2);
      if (gpa & 0xfffn || npages === 0n || gpa + (npages << 12n) < gpa || attrs & ~0x10n /* KVM_MAP_GPA_RANGE_ENCRYPTED */) ret = -KVM_EINVAL;
      else {
        const v = this.vcpu;
        v.run.fill(0, RUN['hypercall.nr'], RUN['hypercall.nr'] + 72);
        setExitReason(v, KVM_EXIT.HYPERCALL);
        v.runDv.setBigUint64(RUN['hypercall.nr'], nr, true);
        v.runDv.setBigUint64(RUN['hypercall.args'], gpa, true);
        v.runDv.setBigUint64(RUN['hypercall.args'] + 8, npages, true);
        v.runDv.setBigUint64(RUN['hypercall.args'] + 16, attrs, true);
        v.runDv.setBigUint64(RUN['hypercall.flags'], c.long64 ? 1n : 0n, true);
        c.next = s.rip;
        this.pending = { kind: 'hypercall' };
        throw EXIT;
      }
    } else ret = -KVM_ENOSYS;
    s.setReg(0, BigInt.asUintN(64, ret));
  }

  rdtsc(): bigint {
    // 2.4 GHz worth of ticks since the vCPU was created.
    return ((process.hrtime.bigint() - this.tscBase) * 12n) / 5n;
  }

  hlt(c: X86Cpu): void {
    void c;
    exitSimple(this.vcpu, KVM_EXIT.HLT);
    this.stopReason = KVM_EXIT.HLT;
  }

  paging(c: X86Cpu): void {
    c.updateMode();
    c.flushTlb();
    this.blockStale = true;
  }

  shadow(c: X86Cpu, kind: number): void {
    this.s.shadow = kind;
    void c;
  }

  debugRegs(c: X86Cpu): void {
    void c;
    this.updateGuestBpArmed();
    this.armWatchpoints();
  }

  /** Arms the CPU's data-breakpoint checks from the effective DR7 (the host's while it debugs). */
  armWatchpoints(): void {
    const host = this.hostHwBp();
    const dr7 = this.effDr7();
    const c = this.cpu;
    c.watchOn = false;
    for (let i = 0; i < 4; i++) {
      const en = (dr7 >> BigInt(2 * i)) & 3n;
      const rw = Number((dr7 >> BigInt(16 + 4 * i)) & 3n);
      const len = [1, 2, 8, 4][Number((dr7 >> BigInt(18 + 4 * i)) & 3n)]!;
      if (!en || rw === 0 || rw === 2) {
        c.watchRw[i] = 0;
        continue;
      }
      const addr = Number(BigInt.asIntN(64, host ? this.guestDebugRegs[i]! : this.s.db[i]!));
      c.watchAddr[i] = addr - (((addr % len) + len) % len);
      c.watchLen[i] = len;
      c.watchRw[i] = rw;
      c.watchOn = true;
    }
  }

  drAccess(c: X86Cpu, i: Insn): void {
    const dr7 = this.effDr7();
    if (!(dr7 & 0x2000n)) return;
    // DR7.GD: the MOV DR faults with #DB (DR6.BD) before executing.
    if (this.hostHwBp()) {
      this.debugExit(VEC.DB, BigInt.asUintN(64, BigInt(i.addr)), 0xffff2ff0n, dr7);
      c.next = this.s.rip;
      throw EXIT;
    }
    this.s.dr6 = (this.s.dr6 & ~0xe00fn) | 0x2000n | 0xffff0ff0n;
    c.raise(VEC.DB);
  }

  /** [tdx hook] TDCALL outside a trust domain is #UD (the TDX flavour overrides this). */
  tdcall(c: X86Cpu, i: Insn): void {
    void i;
    c.ud();
  }
}

/** Sets the services once (they are per-vCPU methods; handlers get the machine through the CPU). */
const dispatch: X86Services = {
  cpuid: (leaf, sub, out) => current!.cpuid(leaf, sub, out),
  rdmsr: (c, idx) => machineOf(c).rdmsr(c, idx),
  wrmsr: (c, idx, v) => machineOf(c).wrmsr(c, idx, v),
  io: (c, i, port, size, count, out, data) => machineOf(c).io(c, i, port, size, count, out, data),
  hypercall: (c, i) => machineOf(c).hypercall(c, i),
  rdtsc: () => current!.rdtsc(),
  hlt: (c) => machineOf(c).hlt(c),
  paging: (c) => machineOf(c).paging(c),
  shadow: (c, k) => machineOf(c).shadow(c, k),
  debugRegs: (c) => machineOf(c).debugRegs(c),
  drAccess: (c, i) => machineOf(c).drAccess(c, i),
  tdcall: (c, i) => machineOf(c).tdcall(c, i), // [tdx hook]
};
setServices(dispatch);

let current: X86Machine | null = null;
const machines = new WeakMap<X86Cpu, X86Machine>();
function machineOf(c: X86Cpu): X86Machine {
  return machines.get(c)!;
}

/** KVM_RUN entry point for the backend. */
export function x86Run(vcpu: Vcpu): number {
  const m = vcpu.archState as X86Machine;
  machines.set(m.cpu, m);
  current = m;
  try {
    return m.run();
  } finally {
    current = null;
  }
}

export { CS, EFER, REP_CHUNK };
