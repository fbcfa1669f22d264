/**
 * The introspection side of one x86 vCPU: which events it sends, the event round trip, and the
 * hooks the interpreter calls (see hooks.ts).
 *
 * How a vCPU waits for an event reply. KVM blocks the vCPU thread until the tool answers. Here
 * the vCPU runs on the thread that calls KVM_RUN, which may also be the tool's thread, so:
 *  1. the event is sent and the vCPU waits up to `stream.replyWaitMs` for the reply, serving the
 *     tool's commands meanwhile (a host socket: 100 ms by default; the in-process duplex: 0);
 *  2. without a reply by then the vCPU *parks*: KVM_RUN fails with EINTR and kvm_run.exit_reason
 *     = KVM_EXIT_INTR, as when a signal interrupts KVM_RUN. The guest state is that of the
 *     interrupted instruction (RIP on it, nothing of it committed);
 *  3. every later KVM_RUN waits again (commands are served), and once the reply is there applies
 *     it and re-enters the guest: the interrupted instruction is executed again and meets the
 *     tool's decision (a granted access, the replaced CR/MSR value...).
 * A VMM loop that retries KVM_RUN on EINTR, yielding to the event loop, needs nothing else.
 * @module
 */
import { exitSimple } from '../kernel/exits.js';
import type { Vcpu } from '../kernel/vcpu.js';
import { KvmError } from '../sys/error.js';
import { KVM_EXIT } from '../uapi/constants.js';
import {
  KVMI_EVENT,
  KVMI_EVENT_ACTION,
  KVMI_HC,
  KVMI_NUM_EVENTS,
  KVMI_PAGE_ACCESS,
  kvmi_vcpu_event_breakpoint,
  kvmi_vcpu_event_cr,
  kvmi_vcpu_event_descriptor,
  kvmi_vcpu_event_msr,
  kvmi_vcpu_event_pf,
  kvmi_vcpu_event_trap,
  kvmi_vcpu_event_xsetbv,
} from '../uapi/kvmi.js';
import { KVMI_RESTART, type InsnRef, type KvmiX86Vcpu, type X86IntrospectionHooks } from './hooks.js';
import type { Kvmi } from './kvmi.js';

const { CONTINUE, RETRY, CRASH } = KVMI_EVENT_ACTION;
const EV = KVMI_EVENT;
const PAGE = 4096;
const UNMAPPED_GVA = 0xffff_ffff_ffff_ffffn;
/** `access()`'s write kind (hooks.ts: 0 read, 1 write). */
const ACC_WRITE = 1;
/** Vectors that push an error code. */
const HAS_ERROR_CODE = (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17) | (1 << 21);
/** The actions each vCPU event accepts besides CONTINUE and CRASH. */
const ACCEPTS_RETRY = new Set<number>([EV.VCPU_EVENT_BREAKPOINT, EV.VCPU_EVENT_DESCRIPTOR, EV.VCPU_EVENT_PF]);

/** The tool's answer to an event. `failed`: no answer can come (socket gone): CONTINUE, values unchanged. */
export interface Decision {
  readonly action: number;
  readonly data: Uint8Array;
  readonly failed: boolean;
}

/** An event whose reply the vCPU waits for across KVM_RUN calls. */
interface Parked {
  readonly event: number;
  /** Linear address of the interrupted instruction. */
  readonly lin: number;
  /** What the decision grants (a gfn and access bit, a CR number...). */
  readonly key: number;
  /** The value the guest wanted to write (CR, MSR). */
  readonly orig: bigint;
  readonly insnLen: number;
}

/** The kernel side of KVMI_VCPU_INJECT_EXCEPTION. */
interface Injection {
  readonly nr: number;
  readonly errorCode: number;
  readonly address: bigint;
}

export class KvmiVcpu implements X86IntrospectionHooks {
  perInsn = false;
  pending = false;
  /** Events enabled with KVMI_VCPU_CONTROL_EVENTS. */
  readonly enabled = new Uint8Array(KVMI_NUM_EVENTS);
  /** CRs enabled with KVMI_VCPU_CONTROL_CR (bit n = CRn). */
  crMask = 0;
  /** MSRs enabled with KVMI_VCPU_CONTROL_MSR. */
  readonly msrs = new Set<number>();
  pauseRequests = 0;
  /** The event sent and not answered yet (SET_REGISTERS is allowed meanwhile). */
  waiting: { readonly seq: number; readonly event: number; readonly replySize: number } | null = null;
  /** The answer, once it arrived. */
  reply: Decision | null = null;
  /** KVMI_VCPU_SET_REGISTERS, applied after the reply. */
  delayedRegs: Uint8Array | null = null;
  injection: Injection | null = null;
  parked: Parked | null = null;
  /** Accesses made while delivering an exception or interrupt (they raise no events). */
  delivering = 0;

  // Grants: decisions in force for the instruction at `grantLin` until it retires.
  private grantLin = NaN;
  private insnSeen = 0;
  private readonly grantKind: number[] = [];
  private readonly grantKey: number[] = [];
  private readonly grantVal: bigint[] = [];

  constructor(
    readonly kvmi: Kvmi,
    readonly vcpu: Vcpu,
    /** The vCPU's x86 side (src/arch/x86/kvmi.ts). */
    readonly x: KvmiX86Vcpu,
  ) {}

  /** Plugs the hooks into the vCPU (delivery of events counted in `delivering`). */
  attach(): void {
    this.x.attach(this, this);
  }

  /** Unplugs (unhook): the vCPU runs as if never introspected. */
  detach(): void {
    this.x.detach();
  }

  get index(): number {
    return this.vcpu.index;
  }

  /** The socket failed or the tool went away: nothing waits for a reply any more. */
  release(): void {
    this.pauseRequests = 0;
    this.updatePending();
    if (this.waiting) this.reply ??= { action: CONTINUE, data: new Uint8Array(this.waiting.replySize), failed: true };
  }

  updatePending(): void {
    this.pending = this.kvmi.alive && (this.injection !== null || this.pauseRequests > 0);
  }

  updatePerInsn(): void {
    this.perInsn = this.grantKind.length > 0 || this.execWatch();
  }

  private execWatch(): boolean {
    return this.kvmi.alive && this.enabled[EV.VCPU_EVENT_PF] === 1 && this.kvmi.table.execRestricted > 0;
  }

  // ------------------------------------------------------------------------------------------
  // The event round trip

  /** The vCPU mode for kvmi_vcpu_event_arch / GET_REGISTERS: 8, 4 or 2 bytes. */
  mode(): number {
    return this.x.mode();
  }

  /** kvmi_vcpu_event_arch: mode, kvm_regs, kvm_sregs and the MSRs of the event. */
  arch(): { mode: number; regs: Uint8Array; sregs: Uint8Array; msrs: Record<string, bigint> } {
    const x = this.x;
    return { mode: x.mode(), regs: x.regs(), sregs: x.sregs(), msrs: x.eventMsrs() };
  }

  /** Sends `event` and waits (bounded) for the answer: null when the vCPU has to park. */
  private send(event: number, specific: Uint8Array | null, replySize: number): Decision | null {
    const seq = this.kvmi.nextSeq();
    this.waiting = { seq, event, replySize };
    this.reply = null;
    if (!this.kvmi.sendVcpuEvent(this, event, seq, specific)) this.release();
    return this.awaitReply(this.kvmi.stream.replyWaitMs);
  }

  private awaitReply(ms: number): Decision | null {
    const end = Date.now() + ms;
    for (;;) {
      this.kvmi.pump();
      const r = this.reply;
      if (r) {
        this.reply = null;
        this.waiting = null;
        return r;
      }
      if (!this.kvmi.alive) this.release();
      else {
        const left = end - Date.now();
        if (left <= 0) return null;
        this.kvmi.stream.wait(left);
      }
    }
  }

  /** Leaves KVM_RUN with EINTR / KVM_EXIT_INTR until the reply arrives. */
  private park(p: Parked): never {
    this.parked = p;
    exitSimple(this.vcpu, KVM_EXIT.INTR);
    throw KvmError.of('EINTR', 'ioctl', { message: 'the vCPU waits for the introspection tool to answer an event' });
  }

  /** The action, with the series' rule for one the event does not accept (socket shut down). */
  private action(event: number, d: Decision): number {
    if (d.failed) return CONTINUE;
    const a = d.action;
    if (a === CONTINUE || a === CRASH || (a === RETRY && ACCEPTS_RETRY.has(event))) return a;
    this.kvmi.dead();
    return ACCEPTS_RETRY.has(event) ? RETRY : CONTINUE;
  }

  /** CRASH: the vCPU leaves KVM_RUN with KVM_EXIT_SHUTDOWN. */
  private crash(): void {
    exitSimple(this.vcpu, KVM_EXIT.SHUTDOWN);
  }

  private applyDelayedRegs(): boolean {
    const r = this.delayedRegs;
    if (!r) return false;
    this.delayedRegs = null;
    this.x.setRegs(r);
    return true;
  }

  /** Linear address of the instruction being executed. */
  private curLin(): number {
    return this.x.linearRip();
  }

  private grant(kind: number, lin: number, key: number, val: bigint, seen: boolean): void {
    if (lin !== this.grantLin) this.clearGrants();
    this.grantLin = lin;
    this.grantKind.push(kind);
    this.grantKey.push(key);
    this.grantVal.push(val);
    this.insnSeen = seen ? 1 : 0;
    this.perInsn = true;
  }

  private findGrant(kind: number, lin: number, key: number): number {
    if (lin !== this.grantLin) return -1;
    for (let i = 0; i < this.grantKind.length; i++) if (this.grantKind[i] === kind && this.grantKey[i] === key) return i;
    return -1;
  }

  private clearGrants(): void {
    this.grantKind.length = 0;
    this.grantKey.length = 0;
    this.grantVal.length = 0;
    this.grantLin = NaN;
    this.updatePerInsn();
  }

  /**
   * An event raised inside an instruction: the answer, or park. CRASH ends KVM_RUN; registers
   * the tool set while the vCPU waited make the instruction start again.
   */
  private inInsn(event: number, specific: Uint8Array, replySize: number, p: Parked): { act: number; d: Decision } {
    const d = this.send(event, specific, replySize);
    if (d === null) this.park(p);
    const act = this.action(event, d);
    if (act === CRASH) {
      this.crash();
      this.x.stop();
    }
    if (this.applyDelayedRegs()) {
      if (act === CONTINUE) this.grant(event, p.lin, p.key, this.valueOf(event, d, p.orig), false);
      throw KVMI_RESTART;
    }
    return { act, d };
  }

  private valueOf(event: number, d: Decision, orig: bigint): bigint {
    if (d.failed || (event !== EV.VCPU_EVENT_CR && event !== EV.VCPU_EVENT_MSR)) return orig;
    return new DataView(d.data.buffer, d.data.byteOffset, 8).getBigUint64(0, true);
  }

  // ------------------------------------------------------------------------------------------
  // KVM_RUN entry, requests, per-instruction hook

  enter(): boolean {
    this.kvmi.pump();
    const p = this.parked;
    if (p === null) return false;
    const d = this.awaitReply(this.kvmi.stream.replyWaitMs);
    if (d === null) this.park(p);
    this.parked = null;
    this.applyDelayedRegs();
    const act = this.action(p.event, d);
    if (act === CRASH) {
      this.crash();
      return true;
    }
    switch (p.event) {
      case EV.VCPU_EVENT_BREAKPOINT:
        if (act === CONTINUE) this.reinjectBp(p.insnLen);
        break;
      case EV.VCPU_EVENT_HYPERCALL:
        this.x.setReg(0, 0n);
        this.x.moveRip(p.insnLen);
        break;
      case EV.VCPU_EVENT_PAUSE:
      case EV.VCPU_EVENT_TRAP:
        break;
      default:
        // PF (read/write/fetch), CR, MSR, XSETBV, DESCRIPTOR: the instruction runs again.
        if (act === CONTINUE) this.grant(p.event, p.lin, p.key, this.valueOf(p.event, d, p.orig), false);
    }
    return false;
  }

  poll(): void {
    this.kvmi.pump();
  }

  requests(): void {
    // TRAP goes first (high priority); PAUSE events only when nothing else is queued.
    const inj = this.injection;
    if (inj) {
      this.injection = null;
      this.updatePending();
      this.sendTrap(inj);
    }
    while (this.pauseRequests > 0 && this.kvmi.alive) {
      this.pauseRequests--;
      this.updatePending();
      this.atBoundary(EV.VCPU_EVENT_PAUSE, null);
    }
    this.updatePending();
  }

  /** KVMI_VCPU_INJECT_EXCEPTION takes effect: queue it unless an event already needs injecting, then report what will be injected. */
  private sendTrap(inj: Injection): void {
    const x = this.x;
    let q = x.queuedException;
    let address = 0n;
    if (!q) {
      q = { vector: inj.nr, hasCode: ((HAS_ERROR_CODE >> inj.nr) & 1) === 1, code: inj.errorCode };
      x.queuedException = q;
      if (inj.nr === 14) {
        x.setExceptionAddress(inj.address);
        address = inj.address;
      }
    } else if (q.vector === 14) address = x.cr2;
    const e = kvmi_vcpu_event_trap.encode({ nr: q.vector, error_code: q.hasCode ? q.code : 0, address });
    this.atBoundary(EV.VCPU_EVENT_TRAP, e);
  }

  /** An event at an instruction boundary (PAUSE, TRAP): nothing to redo afterwards. */
  private atBoundary(event: number, specific: Uint8Array | null): void {
    const d = this.send(event, specific, 0);
    if (d === null) this.park({ event, lin: NaN, key: 0, orig: 0n, insnLen: 0 });
    this.applyDelayedRegs();
    if (this.action(event, d) === CRASH) {
      this.crash();
      this.x.stop();
    }
  }

  slowBlock(): boolean {
    if (this.grantKind.length) return true;
    if (!this.execWatch()) return false;
    // Blocks stay within a page: only one on an execute-restricted gfn needs per-instruction checks.
    const gfn = this.x.codeGfn(this.curLin());
    if (gfn < 0) return true;
    const a = this.kvmi.table.active.get(gfn);
    return a !== undefined && (a & KVMI_PAGE_ACCESS.X) === 0;
  }

  beforeInsn(insn: InsnRef): boolean {
    if (this.grantKind.length) {
      if (insn.addr !== this.grantLin || this.insnSeen) this.clearGrants();
      else this.insnSeen = 1;
    }
    if (!this.execWatch()) return false;
    const gfn = this.x.codeGfn(insn.addr);
    if (gfn < 0) return false;
    const a = this.kvmi.table.active.get(gfn);
    if (a === undefined || a & KVMI_PAGE_ACCESS.X) return false;
    const key = gfn * 8 + KVMI_PAGE_ACCESS.X;
    if (this.findGrant(EV.VCPU_EVENT_PF, insn.addr, key) >= 0) return false;
    const gpa = gfn * PAGE + (insn.addr & 0xfff);
    const e = kvmi_vcpu_event_pf.encode({ gva: BigInt.asUintN(64, BigInt(insn.addr)), gpa: BigInt(gpa), access: KVMI_PAGE_ACCESS.X });
    const d = this.send(EV.VCPU_EVENT_PF, e, 0);
    if (d === null) this.park({ event: EV.VCPU_EVENT_PF, lin: insn.addr, key, orig: 0n, insnLen: insn.len });
    const act = this.action(EV.VCPU_EVENT_PF, d);
    if (act === CRASH) {
      this.crash();
      this.x.stop();
    }
    const moved = this.applyDelayedRegs();
    if (act === CONTINUE) this.grant(EV.VCPU_EVENT_PF, insn.addr, key, 0n, !moved);
    return act !== CONTINUE || moved;
  }

  // ------------------------------------------------------------------------------------------
  // Hooks inside instructions

  access(lin: number, pa: number, acc: number): boolean {
    const gfn = Math.floor(pa / PAGE);
    const a = this.kvmi.table.active.get(gfn);
    if (a === undefined) return false;
    const bit = acc === ACC_WRITE ? KVMI_PAGE_ACCESS.W : KVMI_PAGE_ACCESS.R;
    if (a & bit) return false;
    // Restricted. Without the PF event (or while delivering an event) the access goes ahead.
    if (this.enabled[EV.VCPU_EVENT_PF] !== 1 || !this.kvmi.alive || this.delivering > 0) return true;
    const ilin = this.curLin();
    const key = gfn * 8 + bit;
    if (this.findGrant(EV.VCPU_EVENT_PF, ilin, key) >= 0) return true;
    const e = kvmi_vcpu_event_pf.encode({ gva: BigInt.asUintN(64, BigInt(lin)), gpa: BigInt(pa), access: bit });
    const { act } = this.inInsn(EV.VCPU_EVENT_PF, e, 0, { event: EV.VCPU_EVENT_PF, lin: ilin, key, orig: 0n, insnLen: 0 });
    if (act !== CONTINUE) throw KVMI_RESTART;
    this.grant(EV.VCPU_EVENT_PF, ilin, key, 0n, true);
    return true;
  }

  readTracked(gfn: number): boolean {
    const a = this.kvmi.table.active.get(gfn);
    return a !== undefined && (a & KVMI_PAGE_ACCESS.R) === 0;
  }

  cr(cr: number, oldValue: bigint, newValue: bigint): bigint {
    if (oldValue === newValue || !((this.crMask >> cr) & 1) || this.enabled[EV.VCPU_EVENT_CR] !== 1 || !this.kvmi.alive) return newValue;
    const lin = this.curLin();
    const g = this.findGrant(EV.VCPU_EVENT_CR, lin, cr);
    if (g >= 0) return this.grantVal[g]!;
    const e = kvmi_vcpu_event_cr.encode({ cr, old_value: oldValue, new_value: newValue });
    const p = { event: EV.VCPU_EVENT_CR, lin, key: cr, orig: newValue, insnLen: 0 };
    const { d } = this.inInsn(EV.VCPU_EVENT_CR, e, 8, p);
    const v = this.valueOf(EV.VCPU_EVENT_CR, d, newValue);
    this.grant(EV.VCPU_EVENT_CR, lin, cr, v, true);
    return v;
  }

  msr(index: number, value: bigint): bigint {
    if (!this.msrs.has(index) || this.enabled[EV.VCPU_EVENT_MSR] !== 1 || !this.kvmi.alive || !this.x.hasMsr(index)) return value;
    const old = this.x.readMsr(index);
    if (old === value) return value;
    const lin = this.curLin();
    const g = this.findGrant(EV.VCPU_EVENT_MSR, lin, index);
    if (g >= 0) return this.grantVal[g]!;
    const e = kvmi_vcpu_event_msr.encode({ msr: index, old_value: old, new_value: value });
    const { d } = this.inInsn(EV.VCPU_EVENT_MSR, e, 8, { event: EV.VCPU_EVENT_MSR, lin, key: index, orig: value, insnLen: 0 });
    const v = this.valueOf(EV.VCPU_EVENT_MSR, d, value);
    this.grant(EV.VCPU_EVENT_MSR, lin, index, v, true);
    return v;
  }

  xsetbv(xcr: number, oldValue: bigint, newValue: bigint): void {
    if (oldValue === newValue || this.enabled[EV.VCPU_EVENT_XSETBV] !== 1 || !this.kvmi.alive) return;
    const lin = this.curLin();
    if (this.findGrant(EV.VCPU_EVENT_XSETBV, lin, xcr) >= 0) return;
    const e = kvmi_vcpu_event_xsetbv.encode({ xcr, old_value: oldValue, new_value: newValue });
    this.inInsn(EV.VCPU_EVENT_XSETBV, e, 0, { event: EV.VCPU_EVENT_XSETBV, lin, key: xcr, orig: 0n, insnLen: 0 });
    this.grant(EV.VCPU_EVENT_XSETBV, lin, xcr, 0n, true);
  }

  descriptor(desc: number, write: boolean): void {
    if (this.enabled[EV.VCPU_EVENT_DESCRIPTOR] !== 1 || !this.kvmi.alive) return;
    const lin = this.curLin();
    const key = desc * 2 + (write ? 1 : 0);
    if (this.findGrant(EV.VCPU_EVENT_DESCRIPTOR, lin, key) >= 0) return;
    const e = kvmi_vcpu_event_descriptor.encode({ descriptor: desc, write: write ? 1 : 0 });
    const { act } = this.inInsn(EV.VCPU_EVENT_DESCRIPTOR, e, 0, { event: EV.VCPU_EVENT_DESCRIPTOR, lin, key, orig: 0n, insnLen: 0 });
    if (act !== CONTINUE) throw KVMI_RESTART; // RETRY: back to the guest without emulating
    this.grant(EV.VCPU_EVENT_DESCRIPTOR, lin, key, 0n, true);
  }

  breakpoint(insn: InsnRef): boolean {
    if (this.enabled[EV.VCPU_EVENT_BREAKPOINT] !== 1 || !this.kvmi.alive) return false;
    // As the #BP exit reports it: RIP on the INT3.
    this.x.moveRip(-insn.len);
    const pa = this.x.gpa(insn.addr);
    const gpa = pa < 0 ? UNMAPPED_GVA : BigInt(pa);
    const e = kvmi_vcpu_event_breakpoint.encode({ gpa, insn_len: insn.len });
    const d = this.send(EV.VCPU_EVENT_BREAKPOINT, e, 0);
    if (d === null) this.park({ event: EV.VCPU_EVENT_BREAKPOINT, lin: insn.addr, key: 0, orig: 0n, insnLen: insn.len });
    this.applyDelayedRegs();
    const act = this.action(EV.VCPU_EVENT_BREAKPOINT, d);
    if (act === CRASH) {
      this.crash();
      this.x.stop();
    }
    if (act === CONTINUE) this.reinjectBp(insn.len);
    return true;
  }

  /** CONTINUE on BREAKPOINT: the #BP goes to the guest, as a trap after the INT3. */
  private reinjectBp(len: number): void {
    this.x.moveRip(len);
    this.x.queuedException = { vector: 3, hasCode: false, code: 0 };
  }

  hypercall(insnLen: number): boolean {
    if (this.enabled[EV.VCPU_EVENT_HYPERCALL] !== 1 || !this.kvmi.alive) return false;
    const x = this.x;
    const r = (n: number) => x.reg(n);
    // The agent hypercall: RAX = KVM_HC_XEN_HVM_OP, arg0 = GUEST_REQUEST_VM_EVENT, arg1 = 0.
    const [a0, a1] = x.long64 ? [r(7), r(6)] : [r(3), r(1)];
    if (r(0) !== BigInt(KVMI_HC.KVM_HC_XEN_HVM_OP) || a0 !== BigInt(KVMI_HC.KVM_HC_XEN_HVM_OP_GUEST_REQUEST_VM_EVENT) || a1 !== 0n) return false;
    const lin = this.curLin();
    const d = this.send(EV.VCPU_EVENT_HYPERCALL, null, 0);
    if (d === null) this.park({ event: EV.VCPU_EVENT_HYPERCALL, lin, key: 0, orig: 0n, insnLen });
    const act = this.action(EV.VCPU_EVENT_HYPERCALL, d);
    if (act === CRASH) {
      this.crash();
      this.x.stop();
    }
    this.applyDelayedRegs();
    x.setReg(0, 0n);
    x.nextAfter(insnLen);
    return true;
  }
}
