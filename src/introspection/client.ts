/**
 * `KvmiClient`: the introspection tool's side of the KVMI protocol, in the spirit of libkvmi.
 * Commands are async calls that resolve to the decoded reply (or reject with `KvmiError`
 * carrying the kernel's -KVM_E* code); events arrive as decoded `KvmiEvent`s, through
 * `onEvent` or `nextEvent()`, and are answered with `reply()`.
 *
 * Transports: a net.Socket (`fromSocket`, `fromFd`, `connect`) for a tool in another process or
 * worker, or the in-process duplex (`kvmiInProcessPair().tool`).
 * @module
 */
import { Socket } from 'node:net';
import {
  KVM_E,
  KVMI_EVENT,
  KVMI_EVENT_ACTION,
  KVMI_MSG,
  kvmi_event_hdr,
  kvmi_get_version_reply,
  kvmi_msg_hdr,
  kvmi_page_access_entry,
  kvmi_vcpu_control_cr,
  kvmi_vcpu_control_events,
  kvmi_vcpu_control_msr,
  kvmi_vcpu_control_singlestep,
  kvmi_vcpu_event,
  kvmi_vcpu_event_breakpoint,
  kvmi_vcpu_event_cr,
  kvmi_vcpu_event_descriptor,
  kvmi_vcpu_event_msr,
  kvmi_vcpu_event_pf,
  kvmi_vcpu_event_reply,
  kvmi_vcpu_event_trap,
  kvmi_vcpu_event_xsetbv,
  kvmi_vcpu_get_cpuid,
  kvmi_vcpu_get_cpuid_reply,
  kvmi_vcpu_get_info_reply,
  kvmi_vcpu_get_registers,
  kvmi_vcpu_get_registers_reply,
  kvmi_vcpu_get_xcr,
  kvmi_vcpu_get_xcr_reply,
  kvmi_vcpu_hdr,
  kvmi_vcpu_inject_exception,
  kvmi_vcpu_translate_gva,
  kvmi_vcpu_translate_gva_reply,
  kvmi_vm_check_command,
  kvmi_vm_check_event,
  kvmi_vm_control_cleanup,
  kvmi_vm_control_events,
  kvmi_vm_get_info_reply,
  kvmi_vm_pause_vcpu,
  kvmi_vm_read_physical,
  kvmi_vm_set_page_access,
  kvmi_vm_write_physical,
} from '../uapi/kvmi.js';
import { kvm_msr_entry, kvm_regs, kvm_sregs } from '../uapi/x86.js';
import type { InputOf, ObjectOf } from '../uapi/layout.js';
import { concat } from '../kernel/bytes.js';
import type { KvmiTransport } from './stream.js';

const HDR = 8;
const EVENT_MIN = HDR + kvmi_event_hdr.size + kvmi_vcpu_event.size;

type Regs = ObjectOf<(typeof kvm_regs)['fields']>;
type Sregs = ObjectOf<(typeof kvm_sregs)['fields']>;

/** A command the kernel answered with an error: `err` is the negative KVM_E* code. */
export class KvmiError extends Error {
  constructor(
    readonly command: number,
    readonly err: number,
  ) {
    const name = Object.entries(KVM_E).find(([, v]) => v === -err)?.[0] ?? String(err);
    super(`KVMI command ${command} failed: -KVM_${name} (${err})`);
    this.name = 'KvmiError';
  }
}

/** The event-specific part, decoded by event id. */
export type KvmiEventData =
  | { readonly kind: 'pause' | 'hypercall' | 'unhook' }
  | { readonly kind: 'breakpoint'; readonly gpa: bigint; readonly insnLen: number }
  | { readonly kind: 'cr'; readonly cr: number; readonly oldValue: bigint; readonly newValue: bigint }
  | { readonly kind: 'trap'; readonly nr: number; readonly errorCode: number; readonly address: bigint }
  | { readonly kind: 'xsetbv'; readonly xcr: number; readonly oldValue: bigint; readonly newValue: bigint }
  | { readonly kind: 'descriptor'; readonly descriptor: number; readonly write: boolean }
  | { readonly kind: 'msr'; readonly msr: number; readonly oldValue: bigint; readonly newValue: bigint }
  | { readonly kind: 'pf'; readonly gva: bigint; readonly gpa: bigint; readonly access: number }
  | { readonly kind: 'unknown'; readonly bytes: Uint8Array };

/** An event from the kernel. VM events (UNHOOK) have no vCPU part and take no reply. */
export interface KvmiEvent {
  /** kvmi_event_hdr.event (KVMI_EVENT.*). */
  readonly event: number;
  /** kvmi_msg_hdr.seq (the reply must repeat it). */
  readonly seq: number;
  /** Message size after the header (kvmi_msg_hdr.size). */
  readonly size: number;
  /** vCPU index (vCPU events). */
  readonly vcpu: number;
  /** 2, 4 or 8 (vCPU events). */
  readonly mode: number;
  readonly regs: Regs | null;
  readonly sregs: Sregs | null;
  readonly msrs: Record<string, bigint> | null;
  readonly data: KvmiEventData;
  /** The whole message body. */
  readonly raw: Uint8Array;
}

type Pending = { id: number; resolve: (r: { err: number; data: Uint8Array }) => void; reject: (e: Error) => void };

/** A typed client of the KVMI protocol (the introspection tool's side). */
export class KvmiClient {
  private seq = 0;
  private rx: Uint8Array = new Uint8Array(0);
  private readonly pending = new Map<number, Pending>();
  private readonly queue: KvmiEvent[] = [];
  private readonly waiters: { match: (e: KvmiEvent) => boolean; resolve: (e: KvmiEvent) => void; reject: (e: Error) => void }[] = [];
  private handler: ((e: KvmiEvent) => void) | null = null;
  private closedErr: Error | null = null;
  private readonly closeCbs: (() => void)[] = [];

  constructor(private readonly t: KvmiTransport) {
    t.onData((c) => this.onData(c));
    t.onClose(() => this.onClosed());
  }

  /** Over a connected net.Socket. */
  static fromSocket(sock: Socket): KvmiClient {
    return new KvmiClient({
      write: (b) => void sock.write(b),
      onData: (cb) => void sock.on('data', (d: Buffer) => cb(new Uint8Array(d.buffer, d.byteOffset, d.length))),
      onClose: (cb) => {
        sock.on('close', cb);
        sock.on('error', () => undefined);
      },
      close: () => void sock.destroy(),
    });
  }

  /** Over an inherited socket fd (e.g. fd 3 of a child process). */
  static fromFd(fd: number): KvmiClient {
    return KvmiClient.fromSocket(new Socket({ fd, readable: true, writable: true }));
  }

  /** Connects to a Unix-domain socket path. */
  static connect(path: string): Promise<KvmiClient> {
    return new Promise((resolve, reject) => {
      const s = new Socket();
      s.once('error', reject);
      s.connect(path, () => {
        s.off('error', reject);
        resolve(KvmiClient.fromSocket(s));
      });
    });
  }

  /** True once the kernel shut the socket down or the client was closed. */
  get closed(): boolean {
    return this.closedErr !== null;
  }

  /** Called when the connection ends. */
  onClose(cb: () => void): void {
    if (this.closedErr) queueMicrotask(cb);
    else this.closeCbs.push(cb);
  }

  close(): void {
    this.t.close();
    this.onClosed();
  }

  // ------------------------------------------------------------------------------------------
  // Raw messages

  /** Sends bytes as they are (header included): for malformed-input tests. */
  sendRaw(bytes: Uint8Array): void {
    this.t.write(bytes);
  }

  /** Sends a message and resolves to the kernel's error code and reply data (never rejects on err). */
  request(id: number, body: Uint8Array = new Uint8Array(0), size = body.length): Promise<{ err: number; data: Uint8Array }> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    const seq = this.seq;
    this.seq = (this.seq + 1) >>> 0;
    const msg = new Uint8Array(HDR + body.length);
    kvmi_msg_hdr.encodeInto({ id, size, seq }, msg);
    msg.set(body, HDR);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { id, resolve, reject });
      this.t.write(msg);
    });
  }

  /** `request`, rejecting with KvmiError when err != 0. */
  async command(id: number, body?: Uint8Array, size?: number): Promise<Uint8Array> {
    const r = await this.request(id, body, size);
    if (r.err !== 0) throw new KvmiError(id, r.err);
    return r.data;
  }

  /** The error code of a command (0 on success): for tests of invalid input. */
  async errorOf(id: number, body?: Uint8Array, size?: number): Promise<number> {
    return (await this.request(id, body, size)).err;
  }

  private vcpuBody(vcpu: number, rest?: Uint8Array): Uint8Array {
    const out = new Uint8Array(kvmi_vcpu_hdr.size + (rest ? rest.length : 0));
    kvmi_vcpu_hdr.encodeInto({ vcpu }, out);
    if (rest) out.set(rest, kvmi_vcpu_hdr.size);
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // VM commands

  async getVersion(): Promise<{ version: number; maxMsgSize: number; singlestep: boolean }> {
    const r = kvmi_get_version_reply.decode(await this.command(KVMI_MSG.GET_VERSION));
    return { version: r.version, maxMsgSize: r.max_msg_size, singlestep: r.features.singlestep !== 0 };
  }

  checkCommand(id: number): Promise<number> {
    return this.errorOf(KVMI_MSG.VM_CHECK_COMMAND, kvmi_vm_check_command.encode({ id }));
  }

  checkEvent(id: number): Promise<number> {
    return this.errorOf(KVMI_MSG.VM_CHECK_EVENT, kvmi_vm_check_event.encode({ id }));
  }

  async getInfo(): Promise<{ vcpuCount: number }> {
    return { vcpuCount: kvmi_vm_get_info_reply.decode(await this.command(KVMI_MSG.VM_GET_INFO)).vcpu_count };
  }

  async controlVmEvents(eventId: number, enable: boolean): Promise<void> {
    await this.command(KVMI_MSG.VM_CONTROL_EVENTS, kvmi_vm_control_events.encode({ event_id: eventId, enable: enable ? 1 : 0 }));
  }

  readPhysical(gpa: bigint | number, size: number): Promise<Uint8Array> {
    return this.command(KVMI_MSG.VM_READ_PHYSICAL, kvmi_vm_read_physical.encode({ gpa, size }));
  }

  async writePhysical(gpa: bigint | number, data: Uint8Array): Promise<void> {
    const body = new Uint8Array(kvmi_vm_write_physical.size + data.length);
    kvmi_vm_write_physical.encodeInto({ gpa, size: data.length }, body);
    body.set(data, kvmi_vm_write_physical.size);
    await this.command(KVMI_MSG.VM_WRITE_PHYSICAL, body);
  }

  async pauseVcpu(vcpu: number, wait = true): Promise<void> {
    await this.command(KVMI_MSG.VM_PAUSE_VCPU, kvmi_vm_pause_vcpu.encode({ vcpu, wait: wait ? 1 : 0 }));
  }

  async controlCleanup(enable: boolean): Promise<void> {
    await this.command(KVMI_MSG.VM_CONTROL_CLEANUP, kvmi_vm_control_cleanup.encode({ enable: enable ? 1 : 0 }));
  }

  /** KVMI_VM_SET_PAGE_ACCESS: the allowed rwx bits per gpa (R|W|X forgets the gpa). */
  async setPageAccess(entries: readonly { gpa: bigint | number; access: number }[]): Promise<void> {
    await this.command(KVMI_MSG.VM_SET_PAGE_ACCESS, encodePageAccess(entries));
  }

  // ------------------------------------------------------------------------------------------
  // vCPU commands

  async vcpuGetInfo(vcpu: number): Promise<{ tscSpeed: bigint }> {
    return { tscSpeed: kvmi_vcpu_get_info_reply.decode(await this.command(KVMI_MSG.VCPU_GET_INFO, this.vcpuBody(vcpu))).tsc_speed };
  }

  async controlEvents(vcpu: number, eventId: number, enable: boolean): Promise<void> {
    await this.command(KVMI_MSG.VCPU_CONTROL_EVENTS, this.vcpuBody(vcpu, kvmi_vcpu_control_events.encode({ event_id: eventId, enable: enable ? 1 : 0 })));
  }

  async getRegisters(vcpu: number, msrs: readonly number[] = []): Promise<{ mode: number; regs: Regs; sregs: Sregs; msrs: { index: number; data: bigint }[] }> {
    const req = kvmi_vcpu_get_registers.alloc(msrs.length);
    kvmi_vcpu_get_registers.encodeInto({ nmsrs: msrs.length }, req);
    const dv = new DataView(req.buffer);
    msrs.forEach((m, i) => dv.setUint32(8 + 4 * i, m, true));
    const b = await this.command(KVMI_MSG.VCPU_GET_REGISTERS, this.vcpuBody(vcpu, req));
    const r = kvmi_vcpu_get_registers_reply.decode(b);
    const off = kvmi_vcpu_get_registers_reply.offsetOf('msrs') + 8;
    const list = Array.from({ length: r.msrs.nmsrs }, (_, i) => {
      const e = kvm_msr_entry.decode(b, off + 16 * i);
      return { index: e.index, data: e.data };
    });
    return { mode: r.mode, regs: r.regs, sregs: r.sregs, msrs: list };
  }

  /**
   * KVMI_VCPU_SET_REGISTERS (only while the vCPU waits for an event reply; applied with the reply).
   * The command sets the whole struct kvm_regs; a partial object is merged into the current
   * registers first (one KVMI_VCPU_GET_REGISTERS round trip), as `Vcpu.setRegs` merges. Pass the
   * struct's bytes (`kvm_regs.encode(...)`, 144 bytes) to set every register exactly.
   */
  async setRegisters(vcpu: number, regs: InputOf<(typeof kvm_regs)['fields']> | Uint8Array): Promise<void> {
    const b = regs instanceof Uint8Array ? regs : kvm_regs.encode({ ...(await this.getRegisters(vcpu)).regs, ...regs } as InputOf<(typeof kvm_regs)['fields']>);
    await this.command(KVMI_MSG.VCPU_SET_REGISTERS, this.vcpuBody(vcpu, b));
  }

  async getCpuid(vcpu: number, fn: number, index = 0): Promise<{ eax: number; ebx: number; ecx: number; edx: number }> {
    return kvmi_vcpu_get_cpuid_reply.decode(await this.command(KVMI_MSG.VCPU_GET_CPUID, this.vcpuBody(vcpu, kvmi_vcpu_get_cpuid.encode({ function: fn, index }))));
  }

  async controlCr(vcpu: number, cr: number, enable: boolean): Promise<void> {
    await this.command(KVMI_MSG.VCPU_CONTROL_CR, this.vcpuBody(vcpu, kvmi_vcpu_control_cr.encode({ cr, enable: enable ? 1 : 0 })));
  }

  async injectException(vcpu: number, nr: number, errorCode = 0, address: bigint | number = 0n): Promise<void> {
    await this.command(KVMI_MSG.VCPU_INJECT_EXCEPTION, this.vcpuBody(vcpu, kvmi_vcpu_inject_exception.encode({ nr, error_code: errorCode, address })));
  }

  async getXcr(vcpu: number, xcr = 0): Promise<bigint> {
    return kvmi_vcpu_get_xcr_reply.decode(await this.command(KVMI_MSG.VCPU_GET_XCR, this.vcpuBody(vcpu, kvmi_vcpu_get_xcr.encode({ xcr })))).value;
  }

  async controlMsr(vcpu: number, msr: number, enable: boolean): Promise<void> {
    await this.command(KVMI_MSG.VCPU_CONTROL_MSR, this.vcpuBody(vcpu, kvmi_vcpu_control_msr.encode({ msr, enable: enable ? 1 : 0 })));
  }

  async controlSinglestep(vcpu: number, enable: boolean): Promise<void> {
    await this.command(KVMI_MSG.VCPU_CONTROL_SINGLESTEP, this.vcpuBody(vcpu, kvmi_vcpu_control_singlestep.encode({ enable: enable ? 1 : 0 })));
  }

  /** The gpa of `gva`, or ~0 when it does not translate. */
  async translateGva(vcpu: number, gva: bigint | number): Promise<bigint> {
    return kvmi_vcpu_translate_gva_reply.decode(await this.command(KVMI_MSG.VCPU_TRANSLATE_GVA, this.vcpuBody(vcpu, kvmi_vcpu_translate_gva.encode({ gva })))).gpa;
  }

  /** A vCPU command with a raw body after kvmi_vcpu_hdr, resolving to its error code. */
  vcpuErrorOf(id: number, vcpu: number, rest?: Uint8Array): Promise<number> {
    return this.errorOf(id, this.vcpuBody(vcpu, rest));
  }

  // ------------------------------------------------------------------------------------------
  // Events

  /** Receives every event (instead of the `nextEvent` queue). */
  onEvent(handler: ((e: KvmiEvent) => void) | null): void {
    this.handler = handler;
    if (handler) while (this.queue.length) handler(this.queue.shift()!);
  }

  /** The next event (optionally of one id), in arrival order. */
  nextEvent(event?: number): Promise<KvmiEvent> {
    const match = (e: KvmiEvent) => event === undefined || e.event === event;
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    if (this.closedErr) return Promise.reject(this.closedErr);
    return new Promise((resolve, reject) => this.waiters.push({ match, resolve, reject }));
  }

  /** Answers a vCPU event: kvmi_vcpu_hdr + kvmi_vcpu_event_reply + the event's reply struct. */
  reply(e: KvmiEvent, action: number, specific?: Uint8Array): void {
    const n = kvmi_vcpu_hdr.size + kvmi_vcpu_event_reply.size + (specific ? specific.length : 0);
    const out = new Uint8Array(HDR + n);
    kvmi_msg_hdr.encodeInto({ id: KVMI_MSG.VCPU_EVENT, size: n, seq: e.seq }, out);
    kvmi_vcpu_hdr.encodeInto({ vcpu: e.vcpu }, out, HDR);
    kvmi_vcpu_event_reply.encodeInto({ action, event: e.event }, out, HDR + kvmi_vcpu_hdr.size);
    if (specific) out.set(specific, HDR + kvmi_vcpu_hdr.size + kvmi_vcpu_event_reply.size);
    this.t.write(out);
  }

  /** Answers a CR or MSR event with the value to write (CONTINUE unless told otherwise). */
  replyValue(e: KvmiEvent, newValue: bigint, action: number = KVMI_EVENT_ACTION.CONTINUE): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, newValue), true);
    this.reply(e, action, b);
  }

  // ------------------------------------------------------------------------------------------
  // Receiving

  private onData(chunk: Uint8Array): void {
    this.rx = this.rx.length ? concat([this.rx, chunk]) : chunk.slice();
    let off = 0;
    while (this.rx.length - off >= HDR) {
      const h = kvmi_msg_hdr.decode(this.rx, off);
      if (this.rx.length - off < HDR + h.size) break;
      const body = this.rx.slice(off + HDR, off + HDR + h.size);
      off += HDR + h.size;
      this.message(h.id, h.seq, h.size, body);
    }
    this.rx = this.rx.slice(off);
  }

  private message(id: number, seq: number, size: number, body: Uint8Array): void {
    const isEvent = id === KVMI_MSG.VM_EVENT || (id === KVMI_MSG.VCPU_EVENT && HDR + size >= EVENT_MIN);
    if (isEvent && !(id === KVMI_MSG.VM_EVENT && this.pending.get(seq)?.id === id)) {
      this.event(decodeEvent(id, seq, size, body));
      return;
    }
    const p = this.pending.get(seq);
    if (!p || p.id !== id) return;
    this.pending.delete(seq);
    const err = body.length >= 4 ? new DataView(body.buffer, body.byteOffset, 4).getInt32(0, true) : 0;
    p.resolve({ err, data: body.slice(8) });
  }

  private event(e: KvmiEvent): void {
    if (this.handler) {
      this.handler(e);
      return;
    }
    const i = this.waiters.findIndex((w) => w.match(e));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(e);
    else this.queue.push(e);
  }

  private onClosed(): void {
    if (this.closedErr) return;
    this.closedErr = new Error('the KVMI connection is closed');
    for (const p of this.pending.values()) p.reject(this.closedErr);
    this.pending.clear();
    for (const w of this.waiters) w.reject(this.closedErr);
    this.waiters.length = 0;
    for (const cb of this.closeCbs) cb();
  }
}

/** The body of KVMI_VM_SET_PAGE_ACCESS. */
export function encodePageAccess(entries: readonly { gpa: bigint | number; access: number; padding?: ArrayLike<number> }[], count = entries.length): Uint8Array {
  const body = kvmi_vm_set_page_access.alloc(entries.length);
  kvmi_vm_set_page_access.encodeInto({ count }, body);
  entries.forEach((e, i) => kvmi_page_access_entry.encodeInto({ gpa: e.gpa, access: e.access, padding: e.padding ?? [0, 0, 0, 0, 0, 0, 0] }, body, 8 + i * kvmi_page_access_entry.size));
  return body;
}

/** Decodes an event message body. */
export function decodeEvent(id: number, seq: number, size: number, body: Uint8Array): KvmiEvent {
  const event = kvmi_event_hdr.decode(fitTo(body, kvmi_event_hdr.size)).event;
  if (id === KVMI_MSG.VM_EVENT) {
    return { event, seq, size, vcpu: 0, mode: 0, regs: null, sregs: null, msrs: null, data: { kind: event === KVMI_EVENT.VM_EVENT_UNHOOK ? 'unhook' : 'unknown', bytes: body } as KvmiEventData, raw: body };
  }
  const common = kvmi_vcpu_event.decode(body, kvmi_event_hdr.size);
  const specOff = kvmi_event_hdr.size + common.size;
  const spec = body.subarray(specOff);
  return {
    event,
    seq,
    size,
    vcpu: common.vcpu,
    mode: common.arch.mode,
    regs: common.arch.regs,
    sregs: common.arch.sregs,
    msrs: common.arch.msrs as unknown as Record<string, bigint>,
    data: decodeSpecific(event, spec),
    raw: body,
  };
}

function fitTo(b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b;
  const o = new Uint8Array(n);
  o.set(b);
  return o;
}

function decodeSpecific(event: number, b: Uint8Array): KvmiEventData {
  const E = KVMI_EVENT;
  switch (event) {
    case E.VCPU_EVENT_PAUSE:
      return { kind: 'pause' };
    case E.VCPU_EVENT_HYPERCALL:
      return { kind: 'hypercall' };
    case E.VCPU_EVENT_BREAKPOINT: {
      const r = kvmi_vcpu_event_breakpoint.decode(fitTo(b, 16));
      return { kind: 'breakpoint', gpa: r.gpa, insnLen: r.insn_len };
    }
    case E.VCPU_EVENT_CR: {
      const r = kvmi_vcpu_event_cr.decode(fitTo(b, 24));
      return { kind: 'cr', cr: r.cr, oldValue: r.old_value, newValue: r.new_value };
    }
    case E.VCPU_EVENT_TRAP: {
      const r = kvmi_vcpu_event_trap.decode(fitTo(b, 16));
      return { kind: 'trap', nr: r.nr, errorCode: r.error_code, address: r.address };
    }
    case E.VCPU_EVENT_XSETBV: {
      const r = kvmi_vcpu_event_xsetbv.decode(fitTo(b, 24));
      return { kind: 'xsetbv', xcr: r.xcr, oldValue: r.old_value, newValue: r.new_value };
    }
    case E.VCPU_EVENT_DESCRIPTOR: {
      const r = kvmi_vcpu_event_descriptor.decode(fitTo(b, 8));
      return { kind: 'descriptor', descriptor: r.descriptor, write: r.write !== 0 };
    }
    case E.VCPU_EVENT_MSR: {
      const r = kvmi_vcpu_event_msr.decode(fitTo(b, 24));
      return { kind: 'msr', msr: r.msr, oldValue: r.old_value, newValue: r.new_value };
    }
    case E.VCPU_EVENT_PF: {
      const r = kvmi_vcpu_event_pf.decode(fitTo(b, 24));
      return { kind: 'pf', gva: r.gva, gpa: r.gpa, access: r.access };
    }
    default:
      return { kind: 'unknown', bytes: b };
  }
}
