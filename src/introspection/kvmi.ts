/**
 * KVM introspection for one VM (virt/kvm/introspection of the series): the hook ioctls, the
 * allow-lists, the receiving side of the protocol, the VM and vCPU commands and the page-access
 * table. Events and the vCPU hooks are in vcpu.ts.
 *
 * Threads. The kernel has a receiving thread per VM and runs vCPU commands on the vCPU threads.
 * Here everything runs on the thread that owns the VM: messages are read whenever that thread
 * looks (at KVM_RUN entry, every 64K guest instructions, while a vCPU waits for an event reply,
 * and from the event loop when the thread is idle), and a vCPU command runs as soon as it is
 * read - the vCPU is then either outside KVM_RUN or stopped at a safe point, which is where the
 * kernel would run the queued job. Replies go out in the order the commands came in.
 * @module
 */
import { NOT_HANDLED } from '../kernel/arch.js';
import type { UserArg } from '../kernel/uarg.js';
import type { Vcpu } from '../kernel/vcpu.js';
import type { Vm } from '../kernel/vm.js';
import { KvmError } from '../sys/error.js';
import { KVM_GUESTDBG, KVM_MP_STATE } from '../uapi/constants.js';
import {
  ioctls as KVMI_IOCTLS,
  KVM_CAP_INTROSPECTION,
  KVM_E,
  KVMI_EVENT,
  KVMI_MAX_MSG_SIZE,
  KVMI_MSG,
  KVMI_NUM_COMMANDS,
  KVMI_NUM_EVENTS,
  KVMI_VERSION,
  kvm_introspection_feature,
  kvm_introspection_hook,
  kvmi_event_hdr,
  kvmi_get_version_reply,
  kvmi_msg_hdr,
  kvmi_page_access_entry,
  kvmi_vcpu_control_cr,
  kvmi_vcpu_control_events,
  kvmi_vcpu_control_msr,
  kvmi_vcpu_control_singlestep,
  kvmi_vcpu_event,
  kvmi_vcpu_event_reply,
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
import { kvm_regs, KVM_GUESTDBG_X86 } from '../uapi/x86.js';
import type { KvmiX86Vcpu, X86IntrospectionHooks } from './hooks.js';
import { concat } from '../kernel/bytes.js';
import type { KvmiStream } from './stream.js';
import { FULL_ACCESS, PageAccessTable } from './table.js';
import { KvmiVcpu } from './vcpu.js';

const HDR = 8;
const PAGE = 4096;
/** MAX_PAUSE_REQUESTS of the series. */
const MAX_PAUSE_REQUESTS = 1001;
/** KVMI_VCPU_GET_INFO: the TSC frequency the x86 model runs at (2.4 GHz). */
const TSC_HZ = 2_400_000_000n;

const req = (name: keyof typeof KVMI_IOCTLS) => KVMI_IOCTLS[name]!.request;
const REQ = {
  HOOK: req('KVM_INTROSPECTION_HOOK'),
  UNHOOK: req('KVM_INTROSPECTION_UNHOOK'),
  COMMAND: req('KVM_INTROSPECTION_COMMAND'),
  EVENT: req('KVM_INTROSPECTION_EVENT'),
  PREUNHOOK: req('KVM_INTROSPECTION_PREUNHOOK'),
};

/** Commands that cannot be disallowed. */
const ALWAYS_ALLOWED = [KVMI_MSG.GET_VERSION, KVMI_MSG.VM_CHECK_COMMAND, KVMI_MSG.VM_CHECK_EVENT];
const VM_EVENTS = new Set<number>([KVMI_EVENT.VM_EVENT_UNHOOK]);
const VCPU_EVENTS = new Set<number>([
  KVMI_EVENT.VCPU_EVENT_PAUSE,
  KVMI_EVENT.VCPU_EVENT_HYPERCALL,
  KVMI_EVENT.VCPU_EVENT_BREAKPOINT,
  KVMI_EVENT.VCPU_EVENT_CR,
  KVMI_EVENT.VCPU_EVENT_TRAP,
  KVMI_EVENT.VCPU_EVENT_XSETBV,
  KVMI_EVENT.VCPU_EVENT_DESCRIPTOR,
  KVMI_EVENT.VCPU_EVENT_MSR,
  KVMI_EVENT.VCPU_EVENT_PF,
  KVMI_EVENT.VCPU_EVENT_SINGLESTEP,
]);

/** The kernel's socket object: an fd of the virtual process refers to it, and so does a hooked VM. */
export class KvmiSocket {
  private refs = 1;
  constructor(readonly stream: KvmiStream) {}

  ref(): void {
    this.refs++;
  }

  /** Drops one reference (close(2) of the fd, or unhook). */
  close(): void {
    if (--this.refs === 0) this.stream.close();
  }
}

const hooked = new WeakMap<Vm, Kvmi>();

/** The introspection state of a VM, if hooked. */
export function kvmiOf(vm: Vm): Kvmi | undefined {
  return hooked.get(vm);
}

const err = (code: 'EINVAL' | 'EEXIST' | 'EFAULT' | 'EPERM' | 'ENOENT', arg: UserArg, message?: string) =>
  KvmError.of(code, 'ioctl', { request: arg.request, fd: arg.fd, ...(message ? { message } : {}) });

/** The KVMI VM ioctls (x86 backend hook). NOT_HANDLED for any other request. */
export function kvmiVmIoctl(vm: Vm, request: number, arg: UserArg): number | typeof NOT_HANDLED {
  switch (request) {
    case REQ.HOOK: {
      const h = kvm_introspection_hook.decode(arg.bytes(kvm_introspection_hook.size));
      if (h.padding) throw err('EINVAL', arg, 'padding must be 0');
      if (hooked.has(vm)) throw err('EEXIST', arg, 'the VM is already hooked');
      // A TD's private memory and protected vCPU state are out of the host's reach, so out of an
      // introspection tool's (KVM_CHECK_EXTENSION(KVM_CAP_INTROSPECTION) is 0 on its VM fd).
      if (vm.arch.checkExtension(KVM_CAP_INTROSPECTION, vm) === 0) throw KvmError.of('EOPNOTSUPP', 'ioctl', { request: arg.request, fd: arg.fd, message: 'introspection is not offered for this VM type (TDX: its memory and state are private)' });
      const f = vm.kernel.file(h.fd);
      if (!f || f.kind !== 'socket') throw err('EINVAL', arg, `fd ${h.fd} is not a socket`);
      hooked.set(vm, new Kvmi(vm, f.socket as KvmiSocket));
      return 0;
    }
    case REQ.UNHOOK:
      hooked.get(vm)?.unhook();
      return 0;
    case REQ.COMMAND:
    case REQ.EVENT: {
      const f = kvm_introspection_feature.decode(arg.bytes(kvm_introspection_feature.size));
      const nbits = request === REQ.COMMAND ? KVMI_NUM_COMMANDS : KVMI_NUM_EVENTS;
      if ((f.id < 0 && f.id !== -1) || f.id >= nbits || f.allow > 1) throw err('EINVAL', arg);
      const k = hooked.get(vm);
      if (!k) throw err('EFAULT', arg, 'the VM is not hooked');
      if (request === REQ.COMMAND) {
        if (!k.allowCommand(f.id, f.allow === 1)) throw err('EPERM', arg, 'GET_VERSION, VM_CHECK_COMMAND and VM_CHECK_EVENT are always allowed');
      } else k.allowEvent(f.id, f.allow === 1);
      return 0;
    }
    case REQ.PREUNHOOK: {
      const k = hooked.get(vm);
      if (!k) throw err('EFAULT', arg, 'the VM is not hooked');
      if (!k.sendUnhookEvent()) throw err('ENOENT', arg, 'KVMI_VM_EVENT_UNHOOK is not enabled or the socket is gone');
      return 0;
    }
    default:
      return NOT_HANDLED;
  }
}

/** A vCPU was created: introspect it too when its VM is hooked. */
export function kvmiVcpuCreated(vcpu: Vcpu, x: KvmiX86Vcpu): void {
  hooked.get(vcpu.vm)?.addVcpu(vcpu, x);
}

/**
 * KVM_SET_GUEST_DEBUG asking to intercept #BP (ENABLE | USE_SW_BP) while the introspection tool
 * intercepts it (KVMI_VCPU_EVENT_BREAKPOINT enabled): EBUSY, as kvmi_monitor_bp_intercept says.
 */
export function kvmiBreakpointBusy(intro: X86IntrospectionHooks | null, control: number): boolean {
  const kv = intro as KvmiVcpu | null;
  const want = KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_X86.USE_SW_BP;
  return kv !== null && kv.enabled[KVMI_EVENT.VCPU_EVENT_BREAKPOINT] === 1 && (control & want) === want;
}

/** The VM is being destroyed (its last file closed). */
export function kvmiVmDestroyed(vm: Vm): void {
  hooked.get(vm)?.unhook();
}

/** A message read from the socket. */
interface Msg {
  readonly id: number;
  readonly size: number;
  readonly seq: number;
  /** The `size` bytes after the header. */
  readonly body: Uint8Array;
}

export class Kvmi {
  readonly stream: KvmiStream;
  readonly cmdAllowed = new Uint8Array(KVMI_NUM_COMMANDS);
  readonly evAllowed = new Uint8Array(KVMI_NUM_EVENTS);
  readonly vmEvEnabled = new Uint8Array(KVMI_NUM_EVENTS);
  /** KVMI_VM_CONTROL_CLEANUP. */
  restoreOnUnhook = true;
  /** False once the socket failed, the tool left or a hard protocol error shut it down. */
  alive = true;
  readonly table: PageAccessTable;
  private readonly vcpus = new Map<number, KvmiVcpu>();
  private evSeq = 0;
  private rx: Uint8Array = new Uint8Array(0);
  private pumping = false;
  private readonly onMemslot = () => this.memslotsChanged();

  constructor(
    readonly vm: Vm,
    private readonly sock: KvmiSocket,
  ) {
    sock.ref();
    this.stream = sock.stream;
    for (const id of ALWAYS_ALLOWED) this.cmdAllowed[id] = 1;
    this.table = new PageAccessTable(vm);
    for (const v of vm.vcpus.values()) this.addVcpu(v, (v.archState as { readonly kvmi: KvmiX86Vcpu }).kvmi);
    vm.memslotListeners.push(this.onMemslot);
    this.stream.setListener(() => this.pump());
  }

  addVcpu(vcpu: Vcpu, x: KvmiX86Vcpu): void {
    const kv = new KvmiVcpu(this, vcpu, x);
    this.vcpus.set(vcpu.index, kv);
    kv.attach();
  }

  /** KVM_INTROSPECTION_UNHOOK: everything goes, restrictions included; the tool sees EOF. */
  unhook(): void {
    if (hooked.get(this.vm) !== this) return;
    hooked.delete(this.vm);
    this.table.clear();
    for (const kv of this.vcpus.values()) kv.detach();
    this.vcpus.clear();
    this.vm.bumpMmu();
    const i = this.vm.memslotListeners.indexOf(this.onMemslot);
    if (i >= 0) this.vm.memslotListeners.splice(i, 1);
    this.stream.setListener(null);
    this.alive = false;
    this.stream.shutdown();
    this.sock.close();
  }

  /** The socket is shut down (error, tool gone): vCPUs stop waiting and send no more events. */
  dead(): void {
    if (!this.alive) return;
    this.alive = false;
    this.stream.shutdown();
    this.stream.setListener(null);
    for (const kv of this.vcpus.values()) {
      kv.release();
      kv.updatePerInsn();
    }
  }

  allowCommand(id: number, allow: boolean): boolean {
    if (allow) {
      if (id === -1) this.cmdAllowed.fill(1);
      else this.cmdAllowed[id] = 1;
      return true;
    }
    if (id === -1) {
      this.cmdAllowed.fill(0);
      for (const a of ALWAYS_ALLOWED) this.cmdAllowed[a] = 1;
      return true;
    }
    if ((ALWAYS_ALLOWED as number[]).includes(id)) return false;
    this.cmdAllowed[id] = 0;
    return true;
  }

  allowEvent(id: number, allow: boolean): void {
    if (id === -1) this.evAllowed.fill(allow ? 1 : 0);
    else this.evAllowed[id] = allow ? 1 : 0;
  }

  nextSeq(): number {
    this.evSeq = (this.evSeq + 1) >>> 0;
    return this.evSeq;
  }

  // ------------------------------------------------------------------------------------------
  // Sending

  private write(bytes: Uint8Array): boolean {
    if (!this.alive) return false;
    if (this.stream.write(bytes)) return true;
    this.dead();
    return false;
  }

  /** kvmi_msg_reply: header, error code, and the reply struct only when err == 0. */
  private reply(m: Msg, ec: number, data?: Uint8Array): boolean {
    const n = 8 + (ec === 0 && data ? data.length : 0);
    const out = new Uint8Array(HDR + n);
    kvmi_msg_hdr.encodeInto({ id: m.id, size: n, seq: m.seq }, out);
    new DataView(out.buffer).setInt32(HDR, ec, true);
    if (ec === 0 && data) out.set(data, HDR + 8);
    return this.write(out);
  }

  sendUnhookEvent(): boolean {
    if (!this.alive || !this.vmEvEnabled[KVMI_EVENT.VM_EVENT_UNHOOK]) return false;
    const out = new Uint8Array(HDR + kvmi_event_hdr.size);
    kvmi_msg_hdr.encodeInto({ id: KVMI_MSG.VM_EVENT, size: kvmi_event_hdr.size, seq: this.nextSeq() }, out);
    kvmi_event_hdr.encodeInto({ event: KVMI_EVENT.VM_EVENT_UNHOOK }, out, HDR);
    return this.write(out);
  }

  /** A vCPU event: header, kvmi_event_hdr, kvmi_vcpu_event (with the arch state), the event's struct. */
  sendVcpuEvent(kv: KvmiVcpu, event: number, seq: number, specific: Uint8Array | null): boolean {
    const extra = specific ? specific.length : 0;
    const size = kvmi_event_hdr.size + kvmi_vcpu_event.size + extra;
    const out = new Uint8Array(HDR + size);
    kvmi_msg_hdr.encodeInto({ id: KVMI_MSG.VCPU_EVENT, size, seq }, out);
    kvmi_event_hdr.encodeInto({ event }, out, HDR);
    const a = kv.arch();
    const o = HDR + kvmi_event_hdr.size;
    kvmi_vcpu_event.encodeInto({ size: kvmi_vcpu_event.size, vcpu: kv.index, arch: { mode: a.mode, msrs: a.msrs } }, out, o);
    const archOff = o + kvmi_vcpu_event.offsetOf('arch');
    out.set(a.regs, archOff + 8);
    out.set(a.sregs, archOff + 8 + a.regs.length);
    if (specific) out.set(specific, HDR + size - extra);
    return this.write(out);
  }

  // ------------------------------------------------------------------------------------------
  // Receiving

  /** Reads what the socket has and runs every complete message. */
  pump(): void {
    if (this.pumping || !this.alive) return;
    this.pumping = true;
    try {
      for (;;) {
        const d = this.stream.read();
        if (d === 'eof') {
          this.dead();
          return;
        }
        if (d === null) break;
        this.rx = this.rx.length ? concat([this.rx, d]) : d;
        if (!this.drain()) return;
      }
      this.drain();
    } finally {
      this.pumping = false;
    }
  }

  /** Runs the complete messages in `rx`; false after a hard error. */
  private drain(): boolean {
    let off = 0;
    const rx = this.rx;
    while (this.alive && rx.length - off >= HDR) {
      const dv = new DataView(rx.buffer, rx.byteOffset + off, HDR);
      const size = dv.getUint16(2, true);
      if (size > KVMI_MAX_MSG_SIZE) {
        this.dead();
        return false;
      }
      if (rx.length - off < HDR + size) break;
      const m: Msg = { id: dv.getUint16(0, true), size, seq: dv.getUint32(4, true), body: rx.slice(off + HDR, off + HDR + size) };
      off += HDR + size;
      let ok: boolean;
      try {
        ok = this.dispatch(m);
      } catch {
        // A fault of this model, never the tool's doing: end the session as the kernel's
        // receiving thread ends on a handler error, rather than throw into whoever pumped
        // (the event loop, or KVM_RUN).
        ok = false;
      }
      if (!ok) {
        this.rx = rx.subarray(off);
        this.dead();
        return false;
      }
    }
    this.rx = off === rx.length ? new Uint8Array(0) : rx.subarray(off);
    return this.alive;
  }

  /** kvmi_msg_process: false is a hard error (the socket is shut down). */
  private dispatch(m: Msg): boolean {
    const vmHandler = m.id % 2 === 0 && m.id !== KVMI_MSG.VM_EVENT ? this.vmHandlers[m.id] : undefined;
    if (vmHandler) {
      if (!this.cmdAllowed[m.id]) return this.reply(m, -KVM_E.EPERM);
      return vmHandler(m);
    }
    const vcpuHandler = m.id % 2 === 1 ? this.vcpuHandlers[m.id] : undefined;
    if (vcpuHandler) {
      if (m.id !== KVMI_MSG.VCPU_EVENT && !this.cmdAllowed[m.id]) return this.reply(m, -KVM_E.EPERM);
      const h = kvmi_vcpu_hdr.decode(fit(m.body, kvmi_vcpu_hdr.size));
      if (h.padding1 || h.padding2) return this.reply(m, -KVM_E.EINVAL);
      const kv = this.vcpus.get(h.vcpu);
      if (!kv || h.vcpu >= this.vm.vcpus.size) return this.reply(m, -KVM_E.EINVAL);
      if (kv.x.mpState === KVM_MP_STATE.UNINITIALIZED && !kv.waiting) return this.reply(m, -KVM_E.EAGAIN);
      return vcpuHandler(m, kv, m.body.subarray(kvmi_vcpu_hdr.size));
    }
    return this.reply(m, -KVM_E.ENOSYS);
  }

  private readonly vmHandlers: Partial<Record<number, (m: Msg) => boolean>> = {
    [KVMI_MSG.GET_VERSION]: (m) => this.reply(m, 0, kvmi_get_version_reply.encode({ version: KVMI_VERSION, max_msg_size: KVMI_MAX_MSG_SIZE, features: { singlestep: 0 } })),
    [KVMI_MSG.VM_CHECK_COMMAND]: (m) => {
      const r = kvmi_vm_check_command.decode(fit(m.body, 8));
      const ec = r.padding1 || r.padding2 ? -KVM_E.EINVAL : !isKnownCommand(r.id) ? -KVM_E.ENOENT : !this.cmdAllowed[r.id] ? -KVM_E.EPERM : 0;
      return this.reply(m, ec);
    },
    [KVMI_MSG.VM_CHECK_EVENT]: (m) => {
      const r = kvmi_vm_check_event.decode(fit(m.body, 8));
      const known = VM_EVENTS.has(r.id) || VCPU_EVENTS.has(r.id);
      const ec = r.padding1 || r.padding2 ? -KVM_E.EINVAL : !known ? -KVM_E.ENOENT : !this.evAllowed[r.id] ? -KVM_E.EPERM : 0;
      return this.reply(m, ec);
    },
    [KVMI_MSG.VM_GET_INFO]: (m) => this.reply(m, 0, kvmi_vm_get_info_reply.encode({ vcpu_count: this.vm.vcpus.size })),
    [KVMI_MSG.VM_CONTROL_EVENTS]: (m) => {
      const r = kvmi_vm_control_events.decode(fit(m.body, 8));
      let ec = 0;
      if (r.padding1 || r.padding2 || r.enable > 1 || !VM_EVENTS.has(r.event_id)) ec = -KVM_E.EINVAL;
      else if (!this.evAllowed[r.event_id]) ec = -KVM_E.EPERM;
      else this.vmEvEnabled[r.event_id] = r.enable;
      return this.reply(m, ec);
    },
    [KVMI_MSG.VM_READ_PHYSICAL]: (m) => {
      const r = kvmi_vm_read_physical.decode(fit(m.body, 16));
      if (invalidPageAccess(r.gpa, r.size) || r.padding1 || r.padding2) return this.reply(m, -KVM_E.EINVAL);
      const page = this.hostPage(r.gpa);
      if (!page) return this.reply(m, -KVM_E.ENOENT);
      const o = page.offset + Number(r.gpa % BigInt(PAGE));
      return this.reply(m, 0, page.bytes.slice(o, o + r.size));
    },
    [KVMI_MSG.VM_WRITE_PHYSICAL]: (m) => {
      const r = kvmi_vm_write_physical.decode(fit(m.body, 16));
      if (m.size < kvmi_vm_write_physical.size + r.size) return false; // the handler's -EINVAL: connection dropped
      let ec = 0;
      if (invalidPageAccess(r.gpa, r.size) || r.padding1 || r.padding2) ec = -KVM_E.EINVAL;
      else {
        const page = this.hostPage(r.gpa);
        if (!page) ec = -KVM_E.ENOENT;
        else {
          page.bytes.set(m.body.subarray(16, 16 + r.size), page.offset + Number(r.gpa % BigInt(PAGE)));
          // Decoded guest code on that page is stale now.
          for (const kv of this.vcpus.values()) kv.x.flushBlocks();
        }
      }
      return this.reply(m, ec);
    },
    [KVMI_MSG.VM_PAUSE_VCPU]: (m) => {
      const r = kvmi_vm_pause_vcpu.decode(fit(m.body, 8));
      let ec = 0;
      if (r.wait > 1 || r.padding1 || r.padding2) ec = -KVM_E.EINVAL;
      else if (!this.evAllowed[KVMI_EVENT.VCPU_EVENT_PAUSE]) ec = -KVM_E.EPERM;
      else {
        const kv = this.vcpus.get(r.vcpu);
        if (!kv || r.vcpu >= this.vm.vcpus.size) ec = -KVM_E.EINVAL;
        else if (kv.pauseRequests > MAX_PAUSE_REQUESTS) ec = -KVM_E.EBUSY;
        else {
          kv.pauseRequests++;
          kv.updatePending();
        }
      }
      return this.reply(m, ec);
    },
    [KVMI_MSG.VM_CONTROL_CLEANUP]: (m) => {
      const r = kvmi_vm_control_cleanup.decode(fit(m.body, 8));
      let ec = 0;
      if (r.padding.some((b) => b !== 0) || r.enable > 1) ec = -KVM_E.EINVAL;
      else this.restoreOnUnhook = r.enable === 1;
      return this.reply(m, ec);
    },
    [KVMI_MSG.VM_SET_PAGE_ACCESS]: (m) => {
      const r = kvmi_vm_set_page_access.decode(fit(m.body, 8));
      // struct_size(req, entries, count) > msg->size: the handler returns -EINVAL, which ends
      // the receiving thread (the socket is shut down, no reply), exactly as in the patch.
      if (kvmi_vm_set_page_access.size + r.count * kvmi_page_access_entry.size > m.size) return false;
      if (r.padding1 || r.padding2) return this.reply(m, -KVM_E.EINVAL);
      let ec = 0;
      for (let i = 0; i < r.count; i++) {
        const e = kvmi_page_access_entry.decode(m.body, 8 + i * kvmi_page_access_entry.size);
        let err = 0;
        if (e.access & ~FULL_ACCESS || e.padding.some((b) => b !== 0)) err = -KVM_E.EINVAL;
        else {
          const gfn = Number(e.gpa >> 12n);
          if (e.gpa >= 1n << 52n || !this.vm.slotFor(gfn)) err = -KVM_E.EINVAL;
          else this.table.set(gfn, e.access);
        }
        if (err && !ec) ec = err;
      }
      this.table.refresh();
      this.restrictionsChanged();
      return this.reply(m, ec);
    },
  };

  private readonly vcpuHandlers: Partial<Record<number, (m: Msg, kv: KvmiVcpu, body: Uint8Array) => boolean>> = {
    [KVMI_MSG.VCPU_EVENT]: (m, kv, body) => this.eventReply(m, kv, body),
    [KVMI_MSG.VCPU_GET_INFO]: (m) => this.reply(m, 0, kvmi_vcpu_get_info_reply.encode({ tsc_speed: TSC_HZ })),
    [KVMI_MSG.VCPU_CONTROL_EVENTS]: (m, kv, body) => {
      const r = kvmi_vcpu_control_events.decode(fit(body, 8));
      let ec = 0;
      if (r.padding1 || r.padding2 || r.enable > 1 || !VCPU_EVENTS.has(r.event_id)) ec = -KVM_E.EINVAL;
      else if (!this.evAllowed[r.event_id]) ec = -KVM_E.EPERM;
      else if (r.event_id === KVMI_EVENT.VCPU_EVENT_BREAKPOINT && r.enable && kv.x.swBreakpoints) {
        ec = -KVM_E.EBUSY; // userspace already intercepts #BP
      } else {
        kv.enabled[r.event_id] = r.enable;
        kv.updatePerInsn();
      }
      return this.reply(m, ec);
    },
    [KVMI_MSG.VCPU_GET_REGISTERS]: (m, kv, body) => {
      const r = kvmi_vcpu_get_registers.decode(fit(body, 8));
      const rplSize = kvmi_vcpu_get_registers_reply.size + 16 * r.nmsrs;
      if (r.padding1 || r.padding2 || 8 + 8 + 4 * r.nmsrs > m.size || 8 + rplSize > KVMI_MAX_MSG_SIZE) return this.reply(m, -KVM_E.EINVAL);
      const idx: number[] = [];
      const dv = new DataView(body.buffer, body.byteOffset + 8, 4 * r.nmsrs);
      for (let i = 0; i < r.nmsrs; i++) idx.push(dv.getUint32(4 * i, true));
      if (idx.some((i) => !kv.x.hasMsr(i))) return this.reply(m, -KVM_E.EINVAL);
      const out = new Uint8Array(rplSize);
      const regsOff = kvmi_vcpu_get_registers_reply.offsetOf('regs');
      const sregsOff = kvmi_vcpu_get_registers_reply.offsetOf('sregs');
      const msrsOff = kvmi_vcpu_get_registers_reply.offsetOf('msrs');
      new DataView(out.buffer).setUint32(0, kv.mode(), true);
      out.set(kv.x.regs(), regsOff);
      out.set(kv.x.sregs(), sregsOff);
      const odv = new DataView(out.buffer);
      odv.setUint32(msrsOff, r.nmsrs, true);
      idx.forEach((i, n) => {
        odv.setUint32(msrsOff + 8 + 16 * n, i, true);
        odv.setBigUint64(msrsOff + 8 + 16 * n + 8, kv.x.readMsr(i), true);
      });
      return this.reply(m, 0, out);
    },
    [KVMI_MSG.VCPU_SET_REGISTERS]: (m, kv, body) => {
      let ec = 0;
      if (kvmi_vcpu_hdr.size + kvm_regs.size > m.size) ec = -KVM_E.EINVAL;
      else if (!kv.waiting) ec = -KVM_E.EOPNOTSUPP;
      else kv.delayedRegs = body.slice(0, kvm_regs.size);
      return this.reply(m, ec);
    },
    [KVMI_MSG.VCPU_GET_CPUID]: (m, kv, body) => {
      const r = kvmi_vcpu_get_cpuid.decode(fit(body, 8));
      const e = kv.x.cpuid(r.function, r.index);
      if (!e) return this.reply(m, -KVM_E.ENOENT);
      return this.reply(m, 0, kvmi_vcpu_get_cpuid_reply.encode({ eax: e.eax >>> 0, ebx: e.ebx >>> 0, ecx: e.ecx >>> 0, edx: e.edx >>> 0 }));
    },
    [KVMI_MSG.VCPU_CONTROL_CR]: (m, kv, body) => {
      const r = kvmi_vcpu_control_cr.decode(fit(body, 8));
      let ec = 0;
      if (r.padding1 || r.padding2 || r.enable > 1 || (r.cr !== 0 && r.cr !== 3 && r.cr !== 4)) ec = -KVM_E.EINVAL;
      else kv.crMask = r.enable ? kv.crMask | (1 << r.cr) : kv.crMask & ~(1 << r.cr);
      return this.reply(m, ec);
    },
    [KVMI_MSG.VCPU_INJECT_EXCEPTION]: (m, kv, body) => {
      const r = kvmi_vcpu_inject_exception.decode(fit(body, 16));
      let ec = 0;
      if (!this.evAllowed[KVMI_EVENT.VCPU_EVENT_TRAP]) ec = -KVM_E.EPERM;
      else if (r.padding1 || r.padding2 || r.nr > 31) ec = -KVM_E.EINVAL;
      else if (kv.injection) ec = -KVM_E.EBUSY;
      else {
        kv.injection = { nr: r.nr, errorCode: r.error_code, address: r.address };
        kv.updatePending();
      }
      return this.reply(m, ec);
    },
    [KVMI_MSG.VCPU_GET_XCR]: (m, kv, body) => {
      const r = kvmi_vcpu_get_xcr.decode(fit(body, 8));
      if (r.xcr !== 0 || r.padding.some((b) => b !== 0)) return this.reply(m, -KVM_E.EINVAL);
      return this.reply(m, 0, kvmi_vcpu_get_xcr_reply.encode({ value: kv.x.xcr0 }));
    },
    [KVMI_MSG.VCPU_CONTROL_MSR]: (m, kv, body) => {
      const r = kvmi_vcpu_control_msr.decode(fit(body, 8));
      let ec = 0;
      if (r.padding1 || r.padding2 || r.enable > 1 || !(r.msr <= 0x1fff || (r.msr >= 0xc0000000 && r.msr <= 0xc0001fff))) ec = -KVM_E.EINVAL;
      else if (r.enable && !kv.x.msrWritable(r.msr)) ec = -KVM_E.EPERM;
      else if (r.enable) kv.msrs.add(r.msr);
      else kv.msrs.delete(r.msr);
      return this.reply(m, ec);
    },
    [KVMI_MSG.VCPU_CONTROL_SINGLESTEP]: (m, _kv, body) => {
      const r = kvmi_vcpu_control_singlestep.decode(fit(body, 8));
      let ec: number;
      if (r.padding.some((b) => b !== 0) || r.enable > 1) ec = -KVM_E.EINVAL;
      else if (!this.evAllowed[KVMI_EVENT.VCPU_EVENT_SINGLESTEP]) ec = -KVM_E.EPERM;
      else ec = -KVM_E.EOPNOTSUPP; // features.singlestep == 0: no MTF-style stepping in this model
      return this.reply(m, ec);
    },
    [KVMI_MSG.VCPU_TRANSLATE_GVA]: (m, kv, body) => {
      const r = kvmi_vcpu_translate_gva.decode(fit(body, 8));
      // kvm_mmu_gva_to_gpa_system: any walk failure (not present, page tables outside every memslot,
      // in MMIO, in unmapped or private memory) is UNMAPPED_GVA (the adapter's host walk).
      const pa = kv.x.gpa(Number(BigInt.asIntN(64, r.gva)));
      const gpa = pa < 0 ? 0xffff_ffff_ffff_ffffn : BigInt(pa);
      return this.reply(m, 0, kvmi_vcpu_translate_gva_reply.encode({ gpa }));
    },
  };

  /** An event reply: checked against what the vCPU waits for; any mismatch is a hard error. */
  private eventReply(m: Msg, kv: KvmiVcpu, body: Uint8Array): boolean {
    const w = kv.waiting;
    if (!w || kv.reply || m.seq !== w.seq) return false;
    const specific = m.size - kvmi_vcpu_hdr.size - kvmi_vcpu_event_reply.size;
    if (specific < 0 || specific > w.replySize) return false;
    const r = kvmi_vcpu_event_reply.decode(body);
    if (r.padding1 || r.padding2) return false;
    const data = new Uint8Array(w.replySize);
    data.set(body.subarray(kvmi_vcpu_event_reply.size, kvmi_vcpu_event_reply.size + specific));
    kv.reply = { action: r.action, data, failed: false };
    return true;
  }

  /**
   * The guest page behind `gpa` as get_user_pages gives it (no dirty marking, read-only slots
   * included): the memory userspace maps, never a private page (Vm.hostPage).
   */
  private hostPage(gpa: bigint): { bytes: Uint8Array; offset: number } | undefined {
    if (gpa >= 1n << 52n) return undefined;
    const p = this.vm.hostPage(Number(gpa >> 12n));
    return typeof p === 'object' ? p : undefined;
  }

  private restrictionsChanged(): void {
    this.vm.bumpMmu();
    for (const kv of this.vcpus.values()) {
      kv.x.flushTlb();
      kv.updatePerInsn();
    }
  }

  /** Memslots changed: restrictions follow the gfns (re-applied where a slot now covers them). */
  private memslotsChanged(): void {
    this.table.refresh();
    this.restrictionsChanged();
  }
}

/** Command ids with a handler (VM_CHECK_COMMAND); the event ids 0 and 1 are not commands. */
function isKnownCommand(id: number): boolean {
  return id !== KVMI_MSG.VM_EVENT && id !== KVMI_MSG.VCPU_EVENT && KNOWN_COMMANDS.has(id);
}

const KNOWN_COMMANDS = new Set<number>([
  KVMI_MSG.GET_VERSION,
  KVMI_MSG.VM_CHECK_COMMAND,
  KVMI_MSG.VM_CHECK_EVENT,
  KVMI_MSG.VM_GET_INFO,
  KVMI_MSG.VM_CONTROL_EVENTS,
  KVMI_MSG.VM_READ_PHYSICAL,
  KVMI_MSG.VM_WRITE_PHYSICAL,
  KVMI_MSG.VM_PAUSE_VCPU,
  KVMI_MSG.VM_CONTROL_CLEANUP,
  KVMI_MSG.VM_SET_PAGE_ACCESS,
  KVMI_MSG.VCPU_GET_INFO,
  KVMI_MSG.VCPU_CONTROL_EVENTS,
  KVMI_MSG.VCPU_GET_REGISTERS,
  KVMI_MSG.VCPU_SET_REGISTERS,
  KVMI_MSG.VCPU_GET_CPUID,
  KVMI_MSG.VCPU_CONTROL_CR,
  KVMI_MSG.VCPU_INJECT_EXCEPTION,
  KVMI_MSG.VCPU_GET_XCR,
  KVMI_MSG.VCPU_CONTROL_MSR,
  KVMI_MSG.VCPU_CONTROL_SINGLESTEP,
  KVMI_MSG.VCPU_TRANSLATE_GVA,
]);

/** A command body shorter than its struct reads as zero-padded (the kernel's buffers are zeroed). */
function fit(body: Uint8Array, size: number): Uint8Array {
  if (body.length >= size) return body;
  const out = new Uint8Array(size);
  out.set(body);
  return out;
}

/** Reads and writes must stay inside one page. */
function invalidPageAccess(gpa: bigint, size: number): boolean {
  const off = Number(gpa & 0xfffn);
  return size === 0 || size > PAGE || off + size > PAGE;
}
