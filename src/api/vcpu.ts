import { attachVcpu, exportVcpu, type VcpuHandle } from '../sys/smp.js';
import type { HostMemory } from '../sys/sys.js';
import { isKvmError } from '../sys/error.js';
import { KVM_EXIT, kvmRegSize, type abi, type IoctlName } from '../uapi/index.js';
import { decodeExit, type VcpuExit } from './exit.js';
import type { Arm64VcpuInit, KvmRunView, X86DebugRegs, X86Fpu, X86Regs, X86Sregs, X86VcpuEvents } from './types.js';
import { Kvm } from './kvm.js';
import { Vm } from './vm.js';

type X86 = (typeof abi)['x86_64']['structs'];
type Arm = (typeof abi)['arm64']['structs'];
type DeepPartial<T> = { [K in keyof T]?: T[K] extends bigint | number | Uint8Array ? T[K] | number : DeepPartial<T[K]> };

/** A vCPU fd with its mmap'd kvm_run. */
export class Vcpu {
  /** The whole mmap area (kvm_run page first). */
  readonly area: Uint8Array;
  /** struct kvm_run, live (the mmap'd bytes). */
  readonly kvmRun: KvmRunView;
  private scratch: HostMemory | undefined;

  constructor(
    readonly vm: Vm,
    readonly fd: number,
    readonly id: number,
  ) {
    const size = vm.kvm.vcpuMmapSize();
    this.area = vm.sys.mmap(fd, size);
    this.kvmRun = vm.kvm.abi.structs.kvm_run.view(this.area) as unknown as KvmRunView;
  }

  private get sys() {
    return this.vm.sys;
  }

  private req(name: IoctlName): number {
    return this.vm.kvm.req(name);
  }

  private get x86(): X86 {
    return this.vm.kvm.abi.structs as X86;
  }

  private get arm(): Arm {
    return this.vm.kvm.abi.structs as Arm;
  }

  /**
   * KVM_RUN, decoded. Every outcome the kernel describes in kvm_run is returned as an exit, so a
   * run loop is one `switch (exit.reason)`:
   *
   * - KVM_RUN returned 0: the exit kvm_run holds (`'io'`, `'mmio'`, `'hlt'`...).
   * - EINTR (a signal, `immediate_exit`, the virtual backend's run budget, a vCPU parked on a
   *   KVMI event, an injected fault): `{ reason: 'intr' }`. Run again when ready; the kernel
   *   leaves kvm_run.exit_reason stale when `immediate_exit` stopped it before entry, so the
   *   exit is built from the errno, not read from kvm_run.
   * - EFAULT or EHWPOISON with kvm_run.exit_reason = KVM_EXIT_MEMORY_FAULT (the one exit KVM
   *   reports with -1, e.g. a TD touching memory whose private/shared attribute does not match):
   *   `{ reason: 'memory_fault', gpa, size, flags }`. Convert the range and run again.
   *
   * Every other failure throws KvmError (its `message` names the ioctl). `Sys.ioctl(fd, KVM_RUN)`
   * keeps the raw -1/errno semantics.
   */
  run(): VcpuExit {
    try {
      this.sys.ioctl(this.fd, this.req('KVM_RUN'), 0);
    } catch (e) {
      if (isKvmError(e, 'EINTR')) return { reason: 'intr', exitReason: KVM_EXIT.INTR };
      if ((isKvmError(e, 'EFAULT') || isKvmError(e, 'EHWPOISON')) && this.kvmRun.exit_reason === KVM_EXIT.MEMORY_FAULT) return this.exit();
      throw e;
    }
    return this.exit();
  }

  /** The last exit, decoded from kvm_run. */
  exit(): VcpuExit {
    return decodeExit(this.vm.kvm.arch, this.kvmRun, this.area);
  }

  /** kvm_run.immediate_exit */
  get immediateExit(): boolean {
    return this.kvmRun.immediate_exit !== 0;
  }

  set immediateExit(v: boolean) {
    this.kvmRun.immediate_exit = v ? 1 : 0;
  }

  private get_<T>(name: IoctlName, st: { alloc(): Uint8Array; decode(b: Uint8Array): T }): T {
    const b = st.alloc();
    this.sys.ioctl(this.fd, this.req(name), b);
    return st.decode(b);
  }

  private set_<T>(name: IoctlName, st: { encode(v: T): Uint8Array }, v: T): void {
    this.sys.ioctl(this.fd, this.req(name), st.encode(v));
  }

  // ---- x86 state ----------------------------------------------------------------------------

  getRegs(): X86Regs {
    return this.get_('KVM_GET_REGS', this.x86.kvm_regs);
  }

  /**
   * KVM_SET_REGS. The ioctl sets the whole struct kvm_regs; a partial object is merged into the
   * current registers first (one KVM_GET_REGS), so `setRegs({ rip: 0x1000n })` changes only RIP.
   * `KvmiClient.setRegisters` merges the same way. To set every register exactly, pass them all,
   * or call `sys.ioctl(fd, KVM_SET_REGS, kvm_regs.encode(...))`, where omitted fields are zero.
   */
  setRegs(r: DeepPartial<X86Regs>): void {
    const cur = this.getRegs() as Record<string, unknown>;
    this.set_('KVM_SET_REGS', this.x86.kvm_regs, { ...cur, ...r } as never);
  }

  getSregs(): X86Sregs {
    return this.get_('KVM_GET_SREGS', this.x86.kvm_sregs);
  }

  /**
   * KVM_SET_SREGS. A partial object is merged into the current state first (one KVM_GET_SREGS;
   * segments and descriptor tables field by field), so `setSregs({ cs: { base: 0n } })` changes
   * only CS.base. The kernel checks the merged state (EINVAL for, e.g., EFER.LME under CR0.PG
   * without EFER.LMA, or CR0 bits above 31) and changes nothing when it refuses it.
   */
  setSregs(s: DeepPartial<X86Sregs>): void {
    const cur = this.getSregs() as unknown as Record<string, unknown>;
    const merged: Record<string, unknown> = { ...cur };
    for (const [k, v] of Object.entries(s)) merged[k] = v && typeof v === 'object' && !Array.isArray(v) ? { ...(cur[k] as object), ...v } : v;
    this.set_('KVM_SET_SREGS', this.x86.kvm_sregs, merged as never);
  }

  getFpu(): X86Fpu {
    return this.get_('KVM_GET_FPU', this.x86.kvm_fpu);
  }

  setFpu(f: X86Fpu): void {
    this.set_('KVM_SET_FPU', this.x86.kvm_fpu, f as never);
  }

  getDebugRegs(): X86DebugRegs {
    return this.get_('KVM_GET_DEBUGREGS', this.x86.kvm_debugregs);
  }

  setDebugRegs(d: DeepPartial<X86DebugRegs>): void {
    this.set_('KVM_SET_DEBUGREGS', this.x86.kvm_debugregs, d as never);
  }

  getVcpuEvents(): X86VcpuEvents {
    return this.get_('KVM_GET_VCPU_EVENTS', this.x86.kvm_vcpu_events);
  }

  setVcpuEvents(e: DeepPartial<X86VcpuEvents>): void {
    this.set_('KVM_SET_VCPU_EVENTS', this.x86.kvm_vcpu_events, e as never);
  }

  /** KVM_GET_MSRS for the given indices. */
  getMsrs(indices: readonly number[]): Map<number, bigint> {
    const S = this.x86;
    const b = S.kvm_msrs.alloc(indices.length);
    S.kvm_msrs.encodeInto({ nmsrs: indices.length, entries: indices.map((index) => ({ index })) }, b);
    const n = this.sys.ioctl(this.fd, this.req('KVM_GET_MSRS'), b);
    const v = S.kvm_msrs.view(b);
    const out = new Map<number, bigint>();
    for (let i = 0; i < n; i++) out.set(v.entries.get(i).index, v.entries.get(i).data);
    return out;
  }

  /** KVM_SET_MSRS: returns how many were set (KVM stops at the first it refuses). */
  setMsrs(msrs: ReadonlyMap<number, bigint> | readonly (readonly [number, bigint])[]): number {
    const S = this.x86;
    const list = [...msrs];
    const b = S.kvm_msrs.alloc(list.length);
    S.kvm_msrs.encodeInto({ nmsrs: list.length, entries: list.map(([index, data]) => ({ index, data })) }, b);
    return this.sys.ioctl(this.fd, this.req('KVM_SET_MSRS'), b);
  }

  /** KVM_SET_CPUID2 */
  setCpuid2(entries: readonly Partial<ReturnType<X86['kvm_cpuid_entry2']['decode']>>[]): void {
    const S = this.x86;
    const b = S.kvm_cpuid2.alloc(entries.length);
    S.kvm_cpuid2.encodeInto({ nent: entries.length, entries: entries as never }, b);
    this.sys.ioctl(this.fd, this.req('KVM_SET_CPUID2'), b);
  }

  /** KVM_SET_GUEST_DEBUG. `debugreg` (x86) or `arm64` (dbg_bcr/bvr/wcr/wvr) fill the arch part. */
  setGuestDebug(control: number, arch: { debugreg?: readonly (bigint | number)[]; dbg_bcr?: readonly bigint[]; dbg_bvr?: readonly bigint[]; dbg_wcr?: readonly bigint[]; dbg_wvr?: readonly bigint[] } = {}): void {
    const st = this.vm.kvm.abi.structs.kvm_guest_debug as { encode(v: unknown): Uint8Array };
    const a = this.vm.kvm.arch === 'x86_64' ? { debugreg: (arch.debugreg ?? []).map((x) => BigInt(x)) } : { dbg_bcr: arch.dbg_bcr ?? [], dbg_bvr: arch.dbg_bvr ?? [], dbg_wcr: arch.dbg_wcr ?? [], dbg_wvr: arch.dbg_wvr ?? [] };
    this.sys.ioctl(this.fd, this.req('KVM_SET_GUEST_DEBUG'), st.encode({ control, arch: a }));
  }

  /** KVM_INTERRUPT (x86): with no in-kernel irqchip, queues external interrupt `vector` for the next KVM_RUN; with a split irqchip, an ExtINT. */
  interrupt(vector: number): void {
    this.set_('KVM_INTERRUPT', this.vm.kvm.abi.structs.kvm_interrupt, { irq: vector });
  }

  /** KVM_NMI (x86): queues an NMI. */
  nmi(): void {
    this.sys.ioctl(this.fd, this.req('KVM_NMI'), 0);
  }

  /** KVM_GET_LAPIC (x86): the in-kernel local APIC's 1024-byte register page. */
  getLapic(): Uint8Array {
    return this.get_('KVM_GET_LAPIC', this.x86.kvm_lapic_state).regs;
  }

  /** KVM_SET_LAPIC (x86). */
  setLapic(regs: Uint8Array): void {
    this.set_('KVM_SET_LAPIC', this.x86.kvm_lapic_state, { regs });
  }

  /** KVM_SET_TSC_KHZ on the vCPU (x86): the guest TSC's rate (0: the host's). */
  setTscKhz(khz: number): void {
    this.sys.ioctl(this.fd, this.req('KVM_SET_TSC_KHZ'), khz);
  }

  /** KVM_GET_TSC_KHZ on the vCPU (x86). */
  getTscKhz(): number {
    return this.sys.ioctl(this.fd, this.req('KVM_GET_TSC_KHZ'), 0);
  }

  /** KVM_KVMCLOCK_CTRL (x86): tells the guest (PVCLOCK_GUEST_STOPPED) that the VMM paused it. */
  kvmclockCtrl(): void {
    this.sys.ioctl(this.fd, this.req('KVM_KVMCLOCK_CTRL'), 0);
  }

  getMpState(): number {
    return this.get_('KVM_GET_MP_STATE', this.x86.kvm_mp_state).mp_state;
  }

  setMpState(mpState: number): void {
    this.set_('KVM_SET_MP_STATE', this.x86.kvm_mp_state, { mp_state: mpState });
  }

  // ---- arm64 --------------------------------------------------------------------------------

  /** KVM_ARM_VCPU_INIT with the preferred target and the given feature bit numbers. */
  armInit(features: readonly number[] = []): void {
    const t = this.vm.armPreferredTarget();
    const words = [0, 0, 0, 0, 0, 0, 0];
    for (const f of features) words[f >> 5]! |= 1 << (f & 31);
    const init: Arm64VcpuInit = { target: t.target, features: words };
    this.sys.ioctl(this.fd, this.req('KVM_ARM_VCPU_INIT'), this.arm.kvm_vcpu_init.encode(init));
  }

  private regBuffer(len: number): HostMemory {
    if (!this.scratch || this.scratch.bytes.length < len) this.scratch = this.sys.alloc(Math.max(4096, len));
    return this.scratch;
  }

  /** KVM_GET_ONE_REG: the register's bytes (KVM_REG_SIZE(id) long) as a bigint. */
  getOneReg(id: bigint): bigint {
    const size = kvmRegSize(id);
    const buf = this.regBuffer(size);
    buf.bytes.fill(0, 0, size);
    this.sys.ioctl(this.fd, this.req('KVM_GET_ONE_REG'), this.x86.kvm_one_reg.encode({ id, addr: buf.hva }));
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf.bytes[i]!);
    return v;
  }

  /** KVM_SET_ONE_REG */
  setOneReg(id: bigint, value: bigint | number): void {
    const size = kvmRegSize(id);
    const buf = this.regBuffer(size);
    let v = BigInt.asUintN(size * 8, BigInt(value));
    for (let i = 0; i < size; i++, v >>= 8n) buf.bytes[i] = Number(v & 0xffn);
    this.sys.ioctl(this.fd, this.req('KVM_SET_ONE_REG'), this.x86.kvm_one_reg.encode({ id, addr: buf.hva }));
  }

  /** KVM_GET_REG_LIST */
  regList(): bigint[] {
    const S = this.x86;
    for (let n = 128; ; n *= 2) {
      const b = S.kvm_reg_list.alloc(n);
      S.kvm_reg_list.view(b).n = BigInt(n);
      try {
        this.sys.ioctl(this.fd, this.req('KVM_GET_REG_LIST'), b);
      } catch (e) {
        if ((e as { code?: string }).code === 'E2BIG' && n < 65536) continue;
        throw e;
      }
      const v = S.kvm_reg_list.view(b);
      return Array.from({ length: Number(v.n) }, (_, i) => v.reg.get(i));
    }
  }

  /**
   * SMP: exports this vCPU to run on a worker thread (`exportVcpu`). Post the handle with
   * `transferList: vcpuHandleTransferList(handle)`; in the worker, `Vcpu.attach(handle)`. Until the
   * worker closes it, this object's ioctls answer EBUSY (virtual backend).
   */
  export(): VcpuHandle {
    return { ...exportVcpu(this.sys, this.fd), vcpuId: this.id, vmFd: this.vm.fd, vmType: this.vm.type };
  }

  /**
   * SMP, in a worker thread: the vCPU of a handle from `export()`, over `attachVcpu(handle)` (with a
   * Kvm and Vm over the same Sys). `close()` hands it back to the owner.
   */
  static attach(handle: VcpuHandle): Vcpu {
    const sys = attachVcpu(handle);
    const v = new Vcpu(new Vm(Kvm.open(sys), handle.vmFd, handle.vmType), handle.fd, handle.vcpuId);
    v.attached = handle.backend;
    return v;
  }

  /** Set by `attach`: how `close()` gives the vCPU back. */
  private attached: VcpuHandle['backend'] | null = null;

  /**
   * Unmaps kvm_run and closes the vCPU fd. For a vCPU from `Vcpu.attach`: also closes the /dev/kvm
   * fd `attach` opened, and hands the vCPU back to its owner (virtual) or leaves the process-wide
   * fd open for the owner (native).
   */
  close(): void {
    this.sys.munmap(this.area);
    if (this.scratch) this.sys.munmap(this.scratch.bytes);
    if (this.attached !== null) this.vm.kvm.close();
    if (this.attached !== 'native') this.sys.close(this.fd);
  }
}
