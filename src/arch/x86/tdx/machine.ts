/**
 * A TD vCPU: the x86 interpreter with the TDX module between the guest and KVM.
 *
 * - Guest physical accesses split on the shared bit: private GPAs go through the Secure EPT
 *   (MAPPED pages only; a missing leaf is an EPT violation KVM resolves with TDH.MEM.PAGE.AUG; a
 *   PENDING page is a #VE, or a dead VM with SEPT_VE_DISABLE), shared GPAs through the memslots'
 *   userspace memory; a shared GPA with no memslot is MMIO: KVM installs an MMIO SPTE with
 *   suppress-#VE clear and the guest takes #VE (EPT violation). A private/shared mismatch with the
 *   memory attributes is KVM_EXIT_MEMORY_FAULT.
 * - Instructions the TDX module does not let a TD execute natively (IN/OUT/INS/OUTS, HLT,
 *   VMCALL, CPUID outside the virtualized leaves, most RDMSR/WRMSR) raise #VE with the VE info
 *   TDG.VP.VEINFO.GET returns.
 * - TDCALL: TDG.VP.INFO, TDG.VP.VEINFO.GET, TDG.MEM.PAGE.ACCEPT and TDG.VP.VMCALL, whose GHCI
 *   sub-functions KVM handles (CPUID, MSRs, HLT) or turns into exits (IO, MMIO, MapGPA ->
 *   KVM_EXIT_HYPERCALL, GetQuote/SetupEventNotifyInterrupt/GetTdVmCallInfo -> KVM_EXIT_TDX,
 *   ReportFatalError -> KVM_EXIT_SYSTEM_EVENT).
 * @module
 */
import { KVM_EXIT_HYPERCALL_FLAG } from '../../../uapi/x86.js';
import { exitHypercall, exitIo, exitMemoryFault, exitMmio, exitSystemEvent, exitX86Msr, PIO_DATA_OFFSET, RUN, setExitReason } from '../../../kernel/exits.js';
import type { Vcpu } from '../../../kernel/vcpu.js';
import type { GuestPage } from '../../../kernel/vm.js';
import { KvmError } from '../../../sys/error.js';
import { KVM_EXIT, KVM_EXIT_IO, KVM_MEMORY_EXIT_FLAG, KVM_MP_STATE, KVM_MSR_EXIT_REASON, KVM_SYSTEM_EVENT } from '../../../uapi/constants.js';
import { EXIT, VEC, type X86Cpu } from '../cpu.js';
import { rsvdHiFor } from '../mmu.js';
import { guestCpuid } from '../cpuid.js';
import { K_IMM, mnemonic, type Insn } from '../decoder.js';
import { MSR, readMsr, writeMsr } from '../msr.js';
import { X86Machine } from '../run.js';
import { VmxServices } from '../services.js';
import { CS, DS, ES, FLAG, FS, GS, LDTR, SS, TR } from '../state.js';
import { EXIT_REASON, KVM_HC_MAP_GPA_RANGE, KVM_MAP_GPA_RANGE, TD_ATTR, TDCALL, TDVMCALL, TDVMCALL_STATUS, TDX_MAP_GPA_MAX_LEN, TDX_OPERAND_ID, TDX_STATUS, VE_VECTOR } from './abi.js';
import { moduleVirtualizes } from './caps.js';
import type { TdVcpuState, TdxVm } from './td.js';

const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSI = 6, RDI = 7, R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;
const MN_VMMCALL = mnemonic('VMMCALL');
const KVM_ENOSYS = 1000n;
const KVM_EINVAL = 22n;

/** MSRs a TD reads and writes natively (the TDX module passes them through); others are #VE. */
const NATIVE_MSRS = new Set<number>([
  MSR.TSC, MSR.SYSENTER_CS, MSR.SYSENTER_ESP, MSR.SYSENTER_EIP, MSR.PAT, MSR.EFER, MSR.STAR, MSR.LSTAR, MSR.CSTAR, MSR.SFMASK,
  MSR.FS_BASE, MSR.GS_BASE, MSR.KERNEL_GS_BASE, MSR.TSC_AUX,
]);

/**
 * MSRs KVM emulates for a TD (tdx_has_emulated_msr, within this host's MSRs): what
 * TDG.VP.VMCALL<RDMSR/WRMSR> and KVM_GET/SET_MSRS reach. KVM keeps its own copies; the guest's
 * native MSR state stays in the TDX module.
 */
export const TD_EMULATED_MSRS: ReadonlySet<number> = new Set<number>([MSR.APIC_BASE, MSR.EFER, MSR.MISC_ENABLE, MSR.PAT, MSR.MTRRCAP, MSR.MTRR_DEF_TYPE, MSR.TSC_DEADLINE, ...Array.from({ length: 16 }, (_, i) => 0x200 + i), 0x250, 0x258, 0x259, ...Array.from({ length: 8 }, (_, i) => 0x268 + i)]);
/** tdx_is_read_only_msr */
const READ_ONLY_MSRS = new Set<number>([MSR.APIC_BASE, MSR.EFER]);

/** A TDG.VP.VMCALL exit waiting for userspace; `len` is the TDCALL's length, `mask` the exposed GPRs. */
type TdPending =
  | { kind: 'io_in'; size: number; len: number; mask: bigint }
  | { kind: 'mmio_read'; size: number; len: number; mask: bigint }
  | { kind: 'simple'; len: number; mask: bigint }
  | { kind: 'map_gpa'; next: bigint; end: bigint; shared: bigint; len: number; mask: bigint }
  | { kind: 'tdx_ret'; len: number; mask: bigint }
  | { kind: 'tdvmcall_info'; len: number; mask: bigint }
  | { kind: 'msr'; write: boolean; len: number; mask: bigint }
  | { kind: 'hypercall'; len: number; mask: bigint };

/** The vCPU of a TD (vcpu_tdx + the TDX module's TDVPS, over the x86 interpreter). */
export class TdxMachine extends X86Machine implements TdVcpuState {
  state: 'UNINITIALIZED' | 'INITIALIZED' = 'UNINITIALIZED';
  index = -1;
  private tdPending: TdPending | null = null;
  /** The TDX module's #VE information for this vCPU (TDG.VP.VEINFO.GET). */
  private readonly ve = { valid: false, reason: 0, qual: 0n, gla: 0n, gpa: 0n, len: 0, info: 0 };
  /** What KVM reads as the vCPU's APIC base (x2APIC, set by KVM_TDX_INIT_VCPU). */
  private apicBaseKvm = 0n;
  /** KVM's copies of the MSRs it emulates for the TD (vcpu->arch.*), apart from the guest's own. */
  private readonly kvmMsrs = new Map<number, bigint>([
    [MSR.EFER, 0xd01n], // EFER_SCE | EFER_LME | EFER_LMA | EFER_NX (tdx_vcpu_create)
    [MSR.MISC_ENABLE, 1n],
    [MSR.PAT, 0x0007040600070406n],
    [MSR.MTRRCAP, 0x508n],
  ]);

  /** An MSR as KVM emulates it for the TD (undefined: KVM does not emulate it). */
  kvmReadMsr(index: number): bigint | undefined {
    if (!TD_EMULATED_MSRS.has(index)) return undefined;
    if (index === MSR.APIC_BASE) return this.apicBaseKvm;
    return this.kvmMsrs.get(index) ?? 0n;
  }

  /** Writes KVM's copy of an emulated MSR; `host` is KVM_SET_MSRS. False = refused. */
  kvmWriteMsr(index: number, value: bigint, host: boolean): boolean {
    if (!TD_EMULATED_MSRS.has(index)) return false;
    if (READ_ONLY_MSRS.has(index)) return host && value === this.kvmReadMsr(index);
    if (index === MSR.MTRRCAP) return host && value === this.kvmMsrs.get(index);
    if (index === MSR.PAT) {
      for (let k = 0n; k < 64n; k += 8n) {
        const t = Number((value >> k) & 0xffn);
        if (t === 2 || t === 3 || t > 7) return false;
      }
    }
    this.kvmMsrs.set(index, value);
    return true;
  }

  constructor(
    vcpu: Vcpu,
    readonly td: TdxVm,
  ) {
    super(vcpu, (m) => new TdxServices(m as TdxMachine));
    this.cpu.resolvePage = (gfn, write, lin, fetch) => this.resolve(gfn, write, lin, fetch);
  }

  /** KVM_TDX_INIT_VCPU done: the architectural state TDH.VP.INIT and the TD VMCS give the vCPU. */
  onInit(rcx: bigint, index: number, bsp: boolean): void {
    const s = this.s;
    s.r.fill(0);
    s.setReg(RBX, BigInt(this.td.gpaw));
    // A TD's guest physical addresses have GPAW bits (the shared bit is one of them).
    this.cpu.rsvdHi = rsvdHiFor(this.td.gpaw);
    s.setReg(RCX, rcx);
    s.setReg(R8, rcx);
    const leaf1 = this.td.cpuid.find((e) => e.function === 1);
    s.setReg(RDX, BigInt((leaf1?.eax ?? 0) >>> 0));
    s.setReg(RSI, BigInt(index));
    s.rip = 0xfffffff0;
    s.rflags = FLAG.FIXED1;
    const flat = (sel: number, type: number) => ({ selector: sel, base: 0, baseRaw: 0n, limit: 0xffffffff, type, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 });
    s.seg[CS] = flat(0, 11);
    for (const r of [DS, ES, FS, GS, SS]) s.seg[r] = flat(0, 3);
    s.seg[LDTR] = { selector: 0, base: 0, baseRaw: 0n, limit: 0xffff, type: 2, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1 };
    s.seg[TR] = { selector: 0, base: 0, baseRaw: 0n, limit: 0xffff, type: 11, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0 };
    s.gdt = { base: 0, baseRaw: 0n, limit: 0xffff };
    s.idt = { base: 0, baseRaw: 0n, limit: 0 };
    // CR0 = PE | NE; CR4 = MCE as the guest reads it (VMXE is host-owned); EFER = SCE | LME | NXE.
    s.cr0 = 0x21;
    s.cr4 = 0x40;
    s.efer = 0x901;
    s.dr7 = 0x400n;
    this.apicBaseKvm = 0xfee00000n | 0x800n | 0x400n | (bsp ? 0x100n : 0n);
    s.apicBase = this.apicBaseKvm;
    this.mpState = KVM_MP_STATE.RUNNABLE;
    this.index = index;
    this.cpu.updateMode();
    this.cpu.flushTlb();
    this.blocks.flush();
  }

  private get module() {
    return this.td.module;
  }

  // ------------------------------------------------------------------------------------------
  // KVM_RUN

  override run(): number {
    const td = this.td;
    if (td.dead) throw KvmError.of('EIO', 'ioctl', { message: 'the TD is dead (kvm_vm_dead)' });
    if (this.state !== 'INITIALIZED' || td.state !== 'RUNNABLE') throw KvmError.of('EINVAL', 'ioctl', { message: 'KVM_RUN needs KVM_TDX_INIT_VCPU and KVM_TDX_FINALIZE_VM' });
    try {
      const p = this.tdPending;
      this.tdPending = null;
      if (p && this.completeTdvmcall(p)) return this.memoryFaultReturn(0);
      if (this.vcpu.immediateExit) throw KvmError.of('EINTR', 'ioctl');
      if (this.mpState === KVM_MP_STATE.HALTED) return this.blockHalted();
      this.enterGuest();
      let r: number;
      try {
        r = super.run();
      } finally {
        this.module.vpExit(this.index, 'to KVM');
      }
      this.memoryFaultReturn(r);
      if (this.haltedNow) {
        // TDVMCALL<HLT> halted the vCPU inside KVM (in-kernel LAPIC): it blocks until a wake-up.
        this.haltedNow = false;
        return this.blockHalted();
      }
      return r;
    } finally {
      this.patchRunHeader();
    }
  }

  /** Set when the current KVM_RUN halted the vCPU. */
  private haltedNow = false;

  /** A halted vCPU with nothing to wake it: a signal ends KVM_RUN with EINTR (as after a run budget). */
  private blockHalted(): never {
    setExitReason(this.vcpu, KVM_EXIT.INTR);
    throw KvmError.of('EINTR', 'ioctl', { message: 'the TD vCPU is halted (TDVMCALL<HLT>) and no interrupt is pending' });
  }

  /** TDH.VP.ENTER: TLB flush when the vCPU's epoch is older than the TD's. */
  private enterGuest(): void {
    const r = this.module.vpEnter(this.index);
    if (r.status) throw KvmError.of('EIO', 'ioctl', { message: `TDH.VP.ENTER failed: 0x${r.status.toString(16)}` });
    if (r.flushed) {
      this.cpu.flushTlb();
      this.blocks.flush();
    }
  }

  /** kvm_run header fields KVM fills for a TD (it cannot see the guest's RFLAGS or TPR). */
  private patchRunHeader(): void {
    const v = this.vcpu;
    v.run[RUN.if_flag] = 0;
    v.run[RUN.ready_for_interrupt_injection] = 0;
    v.runDv.setBigUint64(RUN.cr8, 0n, true);
    v.runDv.setBigUint64(RUN.apic_base, this.apicBaseKvm, true);
  }

  // ------------------------------------------------------------------------------------------
  // Guest physical accesses

  /** Set by memoryFault(): this KVM_RUN ends with -1/EFAULT and kvm_run holds the exit. */
  private memoryFaulted = false;

  /**
   * A KVM_EXIT_MEMORY_FAULT for `gfn` (without the shared bit), then out of KVM_RUN. Like
   * kvm_prepare_memory_fault_exit + -EFAULT: the one exit KVM returns with -1 (errno EFAULT) rather
   * than 0; the faulting instruction has not retired and runs again after the conversion.
   */
  private memoryFault(gfn: number, privateAccess: boolean): never {
    this.td.stats.memoryFaultExits++;
    exitMemoryFault(this.vcpu, BigInt(gfn) << 12n, 4096, privateAccess ? BigInt(KVM_MEMORY_EXIT_FLAG.PRIVATE) : 0n);
    this.memoryFaulted = true;
    throw EXIT;
  }

  /** KVM_RUN's return: `r`, or EFAULT when the run stopped on a memory fault exit. */
  private memoryFaultReturn(r: number): number {
    if (!this.memoryFaulted) return r;
    this.memoryFaulted = false;
    const gpa = this.vcpu.runDv.getBigUint64(RUN['memory_fault.gpa'], true);
    throw KvmError.of('EFAULT', 'ioctl', { message: `KVM_EXIT_MEMORY_FAULT at gpa 0x${gpa.toString(16)} (exit_reason ${KVM_EXIT.MEMORY_FAULT})` });
  }

  private resolve(gfn: number, write: boolean, lin: number, fetch: boolean): GuestPage | 'mmio' | 'efault' {
    const td = this.td;
    const vm = this.vcpu.vm;
    const sb = td.sharedGfnBit;
    const shared = Math.floor(gfn / sb) % 2 === 1;
    const real = shared ? gfn - sb : gfn;
    const offset = lin >= 0 ? lin % 4096 : 0;
    if (!shared) {
      if (!vm.isPrivate(real)) return this.memoryFault(real, true);
      let r = this.module.lookup(real);
      if (r === 'violation') {
        // EPT violation TD exit: KVM maps the page (TDH.MEM.SEPT.ADD + TDH.MEM.PAGE.AUG).
        this.module.vpExit(this.index, 'EPT_VIOLATION');
        if (td.faultInPrivate(real) === 'memory_fault') return this.memoryFault(real, true);
        this.module.vpEnter(this.index);
        r = this.module.lookup(real);
      }
      if (r === 'pending' || r === 'violation') {
        if (td.attributes & TD_ATTR.SEPT_VE_DISABLE) {
          // "Guest access before accepting": kvm_vm_dead(), KVM_RUN fails with EIO.
          this.module.vpExit(this.index, 'EPT_VIOLATION (pending page)');
          td.dead = true;
          throw KvmError.of('EIO', 'ioctl', { message: `guest access before accepting gpa 0x${(real * 4096).toString(16)}` });
        }
        return this.raiseVe(EXIT_REASON.EPT_VIOLATION, this.eptQual(write, fetch, lin), lin, gfn * 4096 + offset, 0);
      }
      const slot = vm.slotFor(real)!;
      return { bytes: r.bytes, offset: r.offset, slot, rel: real - slot.baseGfn };
    }
    if (vm.isPrivate(real)) return this.memoryFault(real, false);
    if (fetch) {
      // KVM treats an instruction fetch from shared memory as broken hardware (KVM_BUG_ON).
      td.dead = true;
      throw KvmError.of('EIO', 'ioctl', { message: 'instruction fetch from shared memory' });
    }
    const slot = vm.slotFor(real);
    if (!slot) {
      if (!td.mmioSptes.has(real)) {
        // First access: EPT violation; KVM installs the MMIO SPTE with suppress-#VE cleared.
        this.module.vpExit(this.index, 'EPT_VIOLATION (mmio)');
        td.mmioSptes.add(real);
        td.stats.mmioSpteInstalls++;
        this.module.vpEnter(this.index);
      }
      return this.raiseVe(EXIT_REASON.EPT_VIOLATION, this.eptQual(write, fetch, lin), lin, gfn * 4096 + offset, 0);
    }
    const rel = real - slot.baseGfn;
    const page = slot.page(rel);
    if (!page) return 'efault';
    if (write) slot.markDirty(rel);
    return { bytes: page.bytes, offset: page.offset, slot, rel };
  }

  /** EPT-violation exit qualification: access bits, no permissions, GLA valid for linear accesses. */
  private eptQual(write: boolean, fetch: boolean, lin: number): bigint {
    let q = fetch ? 4n : write ? 2n : 1n;
    if (lin >= 0) q |= 0x180n;
    return q;
  }

  /** Injects #VE with its VE info (a #VE while the info is still valid is a #DF). */
  raiseVe(reason: number, qual: bigint, gla: number, gpa: number, len: number, info = 0): never {
    const st = this.td.stats.ve;
    st[reason] = (st[reason] ?? 0) + 1;
    if (this.ve.valid) return this.cpu.raise(VEC.DF, 0);
    const ve = this.ve;
    ve.valid = true;
    ve.reason = reason;
    ve.qual = qual;
    ve.gla = gla >= 0 ? BigInt.asUintN(64, BigInt(gla)) : 0n;
    ve.gpa = BigInt(gpa);
    ve.len = len;
    ve.info = info;
    return this.cpu.raise(VE_VECTOR);
  }

  /** The length of the instruction being executed (for the #VE info). */
  insnLen(fallback: number): number {
    return this.cpu.lastInsn?.len ?? fallback;
  }

  // ------------------------------------------------------------------------------------------
  // TDCALL

  /** TDCALL (TdxServices.tdcall). */
  tdcall(c: X86Cpu, i: Insn): void {
    const s = this.s;
    // 66 0F 01 CC: the operand-size prefix is part of the encoding; protected mode, CPL 0.
    const wide = c.long64 || c.def32;
    if (!c.pe || s.rflags & FLAG.VM || i.osz !== (wide ? 2 : 4)) return c.ud();
    if (c.cpl !== 0) return c.gp(0);
    const leaf = s.getReg(RAX);
    switch (leaf) {
      case BigInt(TDCALL.TDG_VP_VMCALL):
        return this.vmcall(c, i);
      case BigInt(TDCALL.TDG_VP_INFO): {
        s.setReg(RCX, BigInt(this.td.gpaw));
        s.setReg(RDX, this.td.attributes);
        s.setReg(R8, BigInt(this.td.initializedVcpus) | (BigInt(this.vcpu.vm.arch.maxVcpus) << 32n));
        s.setReg(R9, BigInt(this.index));
        s.setReg(R10, 0n);
        s.setReg(R11, 0n);
        s.setReg(RAX, TDX_STATUS.SUCCESS);
        return;
      }
      case BigInt(TDCALL.TDG_VP_VEINFO_GET): {
        const ve = this.ve;
        if (!ve.valid) {
          s.setReg(RAX, TDX_STATUS.NO_VALID_VE_INFO);
          return;
        }
        s.setReg(RCX, BigInt(ve.reason));
        s.setReg(RDX, ve.qual);
        s.setReg(R8, ve.gla);
        s.setReg(R9, ve.gpa);
        s.setReg(R10, BigInt(ve.len) | (BigInt(ve.info) << 32n));
        s.setReg(RAX, TDX_STATUS.SUCCESS);
        ve.valid = false;
        return;
      }
      case BigInt(TDCALL.TDG_MEM_PAGE_ACCEPT):
        return this.accept(s.getReg(RCX));
      default:
        s.setReg(RAX, TDX_STATUS.OPERAND_INVALID | TDX_OPERAND_ID.RAX);
    }
  }

  /** TDG.MEM.PAGE.ACCEPT: a missing Secure-EPT leaf is an EPT violation KVM resolves with AUG. */
  private accept(rcx: bigint): void {
    const s = this.s;
    const level = Number(rcx & 7n);
    const gpa = rcx & 0x000ffffffffff000n;
    let r = this.module.accept(gpa, level, this.index);
    if (r === 'violation') {
      const gfn = Number(gpa >> 12n);
      if (!this.vcpu.vm.isPrivate(gfn)) return this.memoryFault(gfn, true);
      this.module.vpExit(this.index, 'EPT_VIOLATION (accept)');
      if (this.td.faultInPrivate(gfn) === 'memory_fault') return this.memoryFault(gfn, true);
      this.module.vpEnter(this.index);
      r = this.module.accept(gpa, level, this.index);
      if (r === 'violation') throw KvmError.of('EIO', 'ioctl', { message: 'TDG.MEM.PAGE.ACCEPT after AUG still faults' });
    }
    s.setReg(RAX, r);
  }

  // ------------------------------------------------------------------------------------------
  // TDG.VP.VMCALL

  /** The GPRs the guest exposes to the VMM (RCX bitmap), and what the VMM sees of them. */
  private arg(mask: bigint, r: number): bigint {
    return (mask >> BigInt(r)) & 1n ? this.s.getReg(r) : 0n;
  }

  /** Writes a TDVMCALL output register (the TDX module copies back only exposed registers). */
  private out(mask: bigint, r: number, v: bigint): void {
    if ((mask >> BigInt(r)) & 1n) this.s.setReg(r, BigInt.asUintN(64, v));
  }

  /** Ends a TDG.VP.VMCALL that KVM handled in the kernel: status in R10, TDCALL success in RAX. */
  private done(mask: bigint, status: bigint): void {
    this.out(mask, R10, status);
    this.s.setReg(RAX, TDX_STATUS.SUCCESS);
  }

  /** Leaves KVM_RUN for userspace; the TDCALL completes on the next KVM_RUN. */
  private exitToUser(c: X86Cpu, p: TdPending): never {
    c.next = this.s.rip;
    this.tdPending = p;
    throw EXIT;
  }

  private vmcall(c: X86Cpu, i: Insn): void {
    const s = this.s;
    const mask = s.getReg(RCX);
    // RAX, RCX and RSP cannot be exposed; bits above R15 are reserved.
    if (mask & 0x13n || mask >> 16n) {
      s.setReg(RAX, TDX_STATUS.OPERAND_INVALID | TDX_OPERAND_ID.RCX);
      return;
    }
    const len = i.len;
    const a = (r: number) => this.arg(mask, r);
    const v = this.vcpu;
    this.module.vpExit(this.index, 'TDCALL');
    try {
      if (a(R10) !== 0n) return this.kvmHypercall(c, mask, len);
      const leaf = a(R11);
      switch (leaf) {
        case BigInt(TDVMCALL.CPUID): {
          const res = new Int32Array(4);
          guestCpuid(this.cpuidEntries, Number(a(R12) & 0xffffffffn), Number(a(R13) & 0xffffffffn), 0, this.apicBaseKvm, res);
          this.out(mask, R12, BigInt(res[0]! >>> 0));
          this.out(mask, R13, BigInt(res[1]! >>> 0));
          this.out(mask, R14, BigInt(res[2]! >>> 0));
          this.out(mask, R15, BigInt(res[3]! >>> 0));
          return this.done(mask, TDVMCALL_STATUS.SUCCESS);
        }
        case BigInt(TDVMCALL.HLT): {
          // kvm_emulate_halt_noskip with an in-kernel LAPIC: the vCPU halts inside KVM_RUN.
          this.done(mask, TDVMCALL_STATUS.SUCCESS);
          this.mpState = KVM_MP_STATE.HALTED;
          this.haltedNow = true;
          s.rip = c.maskIp(s.rip + len);
          throw EXIT;
        }
        case BigInt(TDVMCALL.IO): {
          const size = Number(a(R12));
          const write = a(R13);
          const port = Number(a(R14) & 0xffffn);
          if ((write !== 0n && write !== 1n) || (size !== 1 && size !== 2 && size !== 4)) return this.done(mask, TDVMCALL_STATUS.INVALID_OPERAND);
          if (write) {
            const val = a(R15);
            for (let k = 0; k < size; k++) v.area[PIO_DATA_OFFSET + k] = Number((val >> BigInt(8 * k)) & 0xffn);
          } else v.area.fill(0, PIO_DATA_OFFSET, PIO_DATA_OFFSET + size);
          exitIo(v, write ? KVM_EXIT_IO.OUT : KVM_EXIT_IO.IN, port, size, 1);
          return this.exitToUser(c, write ? { kind: 'simple', len, mask } : { kind: 'io_in', size, len, mask });
        }
        case BigInt(TDVMCALL.RDMSR):
        case BigInt(TDVMCALL.WRMSR):
          return this.msrVmcall(c, mask, len, leaf === BigInt(TDVMCALL.WRMSR));
        case BigInt(TDVMCALL.MMIO): {
          const size = Number(a(R12));
          const write = a(R13);
          const gpa = a(R14);
          if ((size !== 1 && size !== 2 && size !== 4 && size !== 8) || (write !== 0n && write !== 1n)) return this.done(mask, TDVMCALL_STATUS.INVALID_OPERAND);
          if (this.td.isPrivateGpa(gpa) || this.td.isPrivateGpa(gpa + BigInt(size) - 1n)) return this.done(mask, TDVMCALL_STATUS.INVALID_OPERAND);
          const phys = gpa & ~(1n << BigInt(this.td.gpaw - 1));
          const data = new Uint8Array(8);
          if (write) new DataView(data.buffer).setBigUint64(0, a(R15), true);
          exitMmio(v, phys, size, write === 1n, write ? data : undefined);
          return this.exitToUser(c, write ? { kind: 'simple', len, mask } : { kind: 'mmio_read', size, len, mask });
        }
        case BigInt(TDVMCALL.MAP_GPA):
          return this.mapGpa(c, mask, len);
        case BigInt(TDVMCALL.REPORT_FATAL_ERROR): {
          const regs = [EXIT_REASON.TDCALL, RCX, RDX, RBX, -1, -1, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15];
          const data = regs.map((r, k) => (k === 0 ? BigInt(r) : r < 0 ? 0n : k === 1 ? mask : a(r)));
          exitSystemEvent(v, KVM_SYSTEM_EVENT.TDX_FATAL, data);
          return this.exitToUser(c, { kind: 'simple', len, mask });
        }
        case BigInt(TDVMCALL.GET_TD_VM_CALL_INFO): {
          const sub = a(R12);
          if (sub === 0n) {
            for (const r of [R11, R12, R13, R14]) this.out(mask, r, 0n);
            return this.done(mask, TDVMCALL_STATUS.SUCCESS);
          }
          if (sub !== 1n) return this.done(mask, TDVMCALL_STATUS.INVALID_OPERAND);
          this.tdxExit(TDVMCALL.GET_TD_VM_CALL_INFO, [TDVMCALL_STATUS.SUCCESS, 1n, 0n, 0n, 0n, 0n]);
          return this.exitToUser(c, { kind: 'tdvmcall_info', len, mask });
        }
        case BigInt(TDVMCALL.GET_QUOTE): {
          const gpa = a(R12);
          if (this.td.isPrivateGpa(gpa)) return this.done(mask, TDVMCALL_STATUS.INVALID_OPERAND);
          this.tdxExit(TDVMCALL.GET_QUOTE, [TDVMCALL_STATUS.SUBFUNC_UNSUPPORTED, gpa & ~(1n << BigInt(this.td.gpaw - 1)), a(R13)]);
          return this.exitToUser(c, { kind: 'tdx_ret', len, mask });
        }
        case BigInt(TDVMCALL.SETUP_EVENT_NOTIFY_INTERRUPT): {
          const vector = a(R12);
          if (vector < 32n || vector > 255n) return this.done(mask, TDVMCALL_STATUS.INVALID_OPERAND);
          this.tdxExit(TDVMCALL.SETUP_EVENT_NOTIFY_INTERRUPT, [TDVMCALL_STATUS.SUBFUNC_UNSUPPORTED, vector]);
          return this.exitToUser(c, { kind: 'tdx_ret', len, mask });
        }
        default:
          return this.done(mask, TDVMCALL_STATUS.SUBFUNC_UNSUPPORTED);
      }
    } finally {
      if (!this.tdPending && !this.haltedNow) this.module.vpEnter(this.index);
    }
  }

  /** KVM_EXIT_TDX with `nr` and the union words (ret first). */
  private tdxExit(nr: number, words: readonly bigint[]): void {
    const v = this.vcpu;
    v.run.fill(0, RUN['tdx.flags'], RUN['tdx.flags'] + 64);
    setExitReason(v, KVM_EXIT.TDX);
    v.runDv.setBigUint64(RUN['tdx.flags'], 0n, true);
    v.runDv.setBigUint64(RUN['tdx.nr'], BigInt(nr), true);
    v.runDv.setBigUint64(RUN['tdx.unknown.ret'], words[0]!, true);
    words.slice(1).forEach((w, k) => v.runDv.setBigUint64(RUN['tdx.unknown.data'] + 8 * k, w, true));
  }

  /** TDG.VP.VMCALL<MapGPA>: KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE) per 2 MiB chunk. */
  private mapGpa(c: X86Cpu, mask: bigint, len: number): void {
    const gpa = this.arg(mask, R12);
    const size = this.arg(mask, R13);
    const vmState = this.vcpu.vm.archState as { exitHypercall: bigint };
    const fail = (st: bigint) => {
      this.out(mask, R11, gpa);
      return this.done(mask, st);
    };
    if (!(vmState.exitHypercall & (1n << BigInt(KVM_HC_MAP_GPA_RANGE)))) return fail(TDVMCALL_STATUS.SUBFUNC_UNSUPPORTED);
    const limit = 1n << BigInt(this.td.gpaw);
    const end = gpa + size;
    if (end <= gpa || gpa >= limit || end - 1n >= limit || this.td.isPrivateGpa(gpa) !== this.td.isPrivateGpa(end - 1n)) return fail(TDVMCALL_STATUS.INVALID_OPERAND);
    if (gpa & 0xfffn || size & 0xfffn) return fail(TDVMCALL_STATUS.ALIGN_ERROR);
    const p: TdPending & { kind: 'map_gpa' } = { kind: 'map_gpa', next: gpa, end, shared: 1n << BigInt(this.td.gpaw - 1), len, mask };
    this.mapGpaExit(p);
    this.exitToUser(c, p);
  }

  private mapGpaExit(p: TdPending & { kind: 'map_gpa' }): void {
    const v = this.vcpu;
    let size = p.end - p.next;
    if (size > BigInt(TDX_MAP_GPA_MAX_LEN)) size = BigInt(TDX_MAP_GPA_MAX_LEN);
    const attrs = this.td.isPrivateGpa(p.next) ? KVM_MAP_GPA_RANGE.ENCRYPTED : KVM_MAP_GPA_RANGE.DECRYPTED;
    exitHypercall(v, BigInt(KVM_HC_MAP_GPA_RANGE), [p.next & ~p.shared, size / 4096n, attrs], KVM_EXIT_HYPERCALL_FLAG.LONG_MODE);
  }

  /** TDG.VP.VMCALL<RDMSR/WRMSR>: KVM's MSR emulation for TDs, or a userspace MSR exit. */
  private msrVmcall(c: X86Cpu, mask: bigint, len: number, write: boolean): void {
    const index = Number(this.arg(mask, R12) & 0xffffffffn);
    const value = this.arg(mask, R13);
    if (TD_EMULATED_MSRS.has(index)) {
      if (!write) {
        this.out(mask, R11, this.kvmReadMsr(index)!);
        return this.done(mask, TDVMCALL_STATUS.SUCCESS);
      }
      return this.done(mask, this.kvmWriteMsr(index, value, false) ? TDVMCALL_STATUS.SUCCESS : TDVMCALL_STATUS.INVALID_OPERAND);
    }
    const vmState = this.vcpu.vm.archState as { userSpaceMsr: number };
    if (!(vmState.userSpaceMsr & KVM_MSR_EXIT_REASON.UNKNOWN)) return this.done(mask, TDVMCALL_STATUS.INVALID_OPERAND);
    exitX86Msr(this.vcpu, write, KVM_MSR_EXIT_REASON.UNKNOWN, index, write ? value : 0n);
    this.exitToUser(c, { kind: 'msr', write, len, mask });
  }

  /** TDG.VP.VMCALL with R10 != 0: a KVM hypercall (RAX=R10, RBX=R11, RCX=R12, RDX=R13, RSI=R14). */
  private kvmHypercall(c: X86Cpu, mask: bigint, len: number): void {
    const a = (r: number) => this.arg(mask, r);
    const nr = a(R10);
    const vmState = this.vcpu.vm.archState as { exitHypercall: bigint };
    if (nr === BigInt(KVM_HC_MAP_GPA_RANGE) && vmState.exitHypercall & (1n << BigInt(KVM_HC_MAP_GPA_RANGE))) {
      const gpa = a(R11);
      const npages = a(R12);
      const attrs = a(R13);
      if (gpa & 0xfffn || npages === 0n || gpa + (npages << 12n) < gpa || attrs & ~KVM_MAP_GPA_RANGE.ENCRYPTED) return this.done(mask, BigInt.asUintN(64, -KVM_EINVAL));
      exitHypercall(this.vcpu, nr, [gpa, npages, attrs], KVM_EXIT_HYPERCALL_FLAG.LONG_MODE);
      return this.exitToUser(c, { kind: 'hypercall', len, mask });
    }
    this.done(mask, BigInt.asUintN(64, -KVM_ENOSYS));
  }

  /**
   * Completes the TDG.VP.VMCALL userspace answered (complete_userspace_io). Returns true when the
   * completion itself exits again (the next MapGPA chunk).
   */
  private completeTdvmcall(p: TdPending): boolean {
    const s = this.s;
    const v = this.vcpu;
    const dv = v.runDv;
    const mask = p.mask;
    switch (p.kind) {
      case 'io_in': {
        const d = new DataView(v.area.buffer, v.area.byteOffset + PIO_DATA_OFFSET, 8);
        const val = p.size === 1 ? d.getUint8(0) : p.size === 2 ? d.getUint16(0, true) : d.getUint32(0, true);
        this.out(mask, R11, BigInt(val));
        this.done(mask, TDVMCALL_STATUS.SUCCESS);
        break;
      }
      case 'mmio_read': {
        const raw = dv.getBigUint64(RUN['mmio.data'], true);
        this.out(mask, R11, p.size === 8 ? raw : raw & ((1n << BigInt(8 * p.size)) - 1n));
        this.done(mask, TDVMCALL_STATUS.SUCCESS);
        break;
      }
      case 'simple':
        s.setReg(RAX, TDX_STATUS.SUCCESS);
        break;
      case 'tdx_ret':
        this.done(mask, dv.getBigUint64(RUN['tdx.unknown.ret'], true));
        break;
      case 'tdvmcall_info': {
        const base = RUN['tdx.unknown.data'];
        // get_tdvmcall_info: ret, leaf, r11, r12, r13, r14
        this.out(mask, R11, dv.getBigUint64(base + 8, true));
        this.out(mask, R12, dv.getBigUint64(base + 16, true));
        this.out(mask, R13, dv.getBigUint64(base + 24, true));
        this.out(mask, R14, dv.getBigUint64(base + 32, true));
        this.done(mask, dv.getBigUint64(RUN['tdx.unknown.ret'], true));
        break;
      }
      case 'msr': {
        if (v.run[RUN['msr.error']]) this.done(mask, TDVMCALL_STATUS.INVALID_OPERAND);
        else {
          if (!p.write) this.out(mask, R11, dv.getBigUint64(RUN['msr.data'], true));
          this.done(mask, TDVMCALL_STATUS.SUCCESS);
        }
        break;
      }
      case 'hypercall':
        this.done(mask, dv.getBigUint64(RUN['hypercall.ret'], true));
        break;
      case 'map_gpa': {
        if (dv.getBigUint64(RUN['hypercall.ret'], true) !== 0n) {
          this.out(mask, R11, p.next);
          this.done(mask, TDVMCALL_STATUS.INVALID_OPERAND);
          break;
        }
        p.next += BigInt(TDX_MAP_GPA_MAX_LEN);
        if (p.next < p.end) {
          this.mapGpaExit(p);
          this.tdPending = p;
          return true;
        }
        this.done(mask, TDVMCALL_STATUS.SUCCESS);
        break;
      }
    }
    s.rip = this.cpu.maskIp(s.rip + p.len);
    return false;
  }
}

/**
 * The services a TD's instructions reach: the TDX module turns CPUID outside its virtualized
 * leaves, HLT, port I/O, VMCALL and most RDMSR/WRMSR into #VE, and handles TDCALL.
 */
class TdxServices extends VmxServices {
  protected declare readonly m: TdxMachine;

  override cpuid(leaf: number, sub: number, out: Int32Array): void {
    if (moduleVirtualizes(this.m.td.cpuid, leaf)) {
      guestCpuid(this.m.td.cpuid, leaf, sub, this.m.s.cr4, this.m.s.apicBase, out);
      return;
    }
    this.m.raiseVe(EXIT_REASON.CPUID, 0n, -1, 0, this.m.insnLen(2));
  }

  override hlt(c: X86Cpu): void {
    this.m.raiseVe(EXIT_REASON.HLT, 0n, -1, 0, this.m.insnLen(1));
  }

  override io(c: X86Cpu, i: Insn, port: number, size: number, count: number, out: boolean): never {
    const string = count === 0;
    const imm = i.kind[0] === K_IMM || i.kind[1] === K_IMM;
    const qual = BigInt((size - 1) | (out ? 0 : 8) | (string ? 16 : 0) | (i.rep ? 32 : 0) | (imm ? 64 : 0)) | (BigInt(port) << 16n);
    return this.m.raiseVe(EXIT_REASON.IO_INSTRUCTION, qual, -1, 0, i.len);
  }

  override hypercall(c: X86Cpu, i: Insn): void {
    if (i.mn === MN_VMMCALL) return c.ud();
    this.m.raiseVe(EXIT_REASON.VMCALL, 0n, -1, 0, i.len);
  }

  override rdmsr(c: X86Cpu, index: number): bigint | undefined {
    if (NATIVE_MSRS.has(index >>> 0)) return readMsr(this.m, index >>> 0);
    return this.m.raiseVe(EXIT_REASON.MSR_READ, 0n, -1, 0, this.m.insnLen(2));
  }

  override wrmsr(c: X86Cpu, index: number, value: bigint): boolean {
    if (NATIVE_MSRS.has(index >>> 0)) return writeMsr(this.m, index >>> 0, value, false);
    return this.m.raiseVe(EXIT_REASON.MSR_WRITE, 0n, -1, 0, this.m.insnLen(2));
  }

  override tdcall(c: X86Cpu, i: Insn): void {
    this.m.tdcall(c, i);
  }
}
