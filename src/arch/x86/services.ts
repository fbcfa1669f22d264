/**
 * What the x86 instruction handlers ask of KVM: CPUID, MSRs, port I/O, hypercalls, HLT, TDCALL,
 * the TSC, and the mode, interrupt-shadow and debug-register changes the vCPU must see. The CPU
 * holds its services (`X86Cpu.svc`, set at construction); handlers call `c.svc.*`. `VmxServices`
 * is KVM on VMX; the TDX flavour subclasses it with what the TDX module turns into #VE.
 *
 * Exits follow KVM on VMX:
 * - IN/OUT (not string): exit with RIP at the instruction; it completes on the next KVM_RUN.
 * - INS/OUTS: emulated; OUTS exits per element with RSI/RCX/RIP already updated, INS reads ahead.
 * - HLT: exits with RIP past the HLT (no in-kernel irqchip).
 * @module
 */
import { exitHypercall, exitIo, exitSimple, exitX86Msr, PIO_DATA_OFFSET } from '../../kernel/exits.js';
import { PAGE_SIZE } from '../../kernel/hva.js';
import { KVM_BUS, type IoBus } from '../../kernel/iobus.js';
import { KVM_EXIT, KVM_EXIT_IO } from '../../uapi/constants.js';
import { KVM_EXIT_HYPERCALL_FLAG } from '../../uapi/x86.js';
import { EXIT, type X86Cpu } from './cpu.js';
import { guestCpuid, type GuestCaps } from './cpuid.js';
import type { Insn } from './decoder.js';
import { msrAccess } from './msr.js';
import type { X86Machine } from './run.js';
import { ES, FLAG } from './state.js';

/** Machine-level services the handlers need (CPUID, MSRs, IO, hypercalls, time). */
export interface X86Services {
  cpuid(leaf: number, sub: number, out: Int32Array): void;
  /** What the guest CPUID enables: CR4 bits it reserves, the XCR0 bits XSETBV accepts. */
  guestCaps(): GuestCaps;
  /** RDMSR: the value, or undefined when the MSR does not exist (the service may exit to userspace instead). */
  rdmsr(c: X86Cpu, index: number): bigint | undefined;
  /** WRMSR: false when the write is refused (#GP). */
  wrmsr(c: X86Cpu, index: number, value: bigint): boolean;
  /** Port I/O: for OUT, data holds the bytes; for IN, the service fills them on completion. Throws EXIT. */
  io(c: X86Cpu, i: Insn, port: number, size: number, count: number, out: boolean, data: Uint8Array): never | void;
  /** VMCALL/VMMCALL. */
  hypercall(c: X86Cpu, i: Insn): void;
  rdtsc(): bigint;
  /** HLT: stop with KVM_EXIT_HLT (throws EXIT) unless something is pending. */
  hlt(c: X86Cpu): void;
  /** A CR0/CR3/CR4/EFER write that may change the mode or paging. */
  paging(c: X86Cpu): void;
  /** STI / MOV SS / POP SS interrupt shadow. */
  shadow(c: X86Cpu, kind: number): void;
  /** MOV to DR7 or other debug-register writes (guest debug state changes). */
  debugRegs(c: X86Cpu): void;
  /** MOV from/to DRn when the host forbids it (general detect). */
  drAccess(c: X86Cpu, i: Insn): void;
  /** [tdx hook] TDCALL (66 0F 01 CC): #UD outside a TD. */
  tdcall(c: X86Cpu, i: Insn): void;
}

/** Userspace exit waiting for completion on the next KVM_RUN (vcpu->arch.complete_userspace_io). */
export type Pending =
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
export interface PioPending {
  kind: 'pio_out' | 'pio_in';
  size: number;
  linearRip: number;
  len: number;
}

/** KVM hypercall numbers and errors (include/uapi/linux/kvm_para.h). */
const KVM_HC_MAP_GPA_RANGE = 12;
const KVM_ENOSYS = 1000n;
const KVM_EPERM = 1n;
const KVM_EINVAL = 22n;

/** Per-VM state the services read (kvm->arch, see backend.ts X86VmState). */
interface VmServiceState {
  userSpaceMsr: number;
  exitHypercall: bigint;
}

/** The services of KVM on VMX for one vCPU. */
export class VmxServices implements X86Services {
  /** The VM's PIO bus (kvm->buses[KVM_PIO_BUS]): IN/OUT go there before exiting. */
  private readonly pioBus: IoBus;

  constructor(protected readonly m: X86Machine) {
    this.pioBus = m.vcpu.vm.buses[KVM_BUS.PIO]!;
  }

  private get vmState(): VmServiceState {
    return this.m.vcpu.vm.archState as VmServiceState;
  }

  cpuid(leaf: number, sub: number, out: Int32Array): void {
    const s = this.m.s;
    guestCpuid(this.m.cpuidEntries, leaf, sub, s.cr4, s.apicBase, out);
  }

  guestCaps(): GuestCaps {
    return this.m.caps;
  }

  rdmsr(c: X86Cpu, index: number): bigint | undefined {
    const r = msrAccess(this.m, index >>> 0, false, 0n);
    if (r.ok) return r.value;
    this.userMsrExit(index >>> 0, false, 0n, r.reason);
    return undefined;
  }

  wrmsr(c: X86Cpu, index: number, value: bigint): boolean {
    const intro = this.m.intro;
    if (intro !== null) value = intro.msr(index >>> 0, value); // [kvmi hook] KVMI_VCPU_EVENT_MSR
    const r = msrAccess(this.m, index >>> 0, true, value);
    if (r.ok) return true;
    this.userMsrExit(index >>> 0, true, value, r.reason);
    return false;
  }

  /** KVM_CAP_X86_USER_SPACE_MSR: forward a refused access to userspace when its reason is enabled. */
  private userMsrExit(index: number, write: boolean, value: bigint, reason: number): void {
    if (!(this.vmState.userSpaceMsr & reason)) return;
    exitX86Msr(this.m.vcpu, write, reason, index, value);
    this.m.pending = { kind: write ? 'msr_write' : 'msr_read' };
    throw EXIT;
  }

  io(c: X86Cpu, i: Insn, port: number, size: number, count: number, out: boolean, data: Uint8Array): never | void {
    const m = this.m;
    const v = m.vcpu;
    const s = m.s;
    if (count > 0) {
      // kvm_io_bus (kernel_pio): an in-kernel device (an ioeventfd...) takes it without an exit.
      if (!this.pioBus.empty && this.kernelPio(c, port, size, out, data)) return;
      // IN/OUT: the fast path. RIP stays on the instruction until the next KVM_RUN.
      if (out) v.area.set(data.subarray(0, size), PIO_DATA_OFFSET);
      else v.area.fill(0, PIO_DATA_OFFSET, PIO_DATA_OFFSET + size); // KVM zeroes pio_data before an IN exit
      exitIo(v, out ? KVM_EXIT_IO.OUT : KVM_EXIT_IO.IN, port, size, 1);
      c.next = s.rip;
      const p = m.pio;
      p.kind = out ? 'pio_out' : 'pio_in';
      p.size = size;
      p.linearRip = c.wrapLin(c.csBase + s.rip);
      p.len = i.len;
      m.pending = p;
      // Stop before retiring it, without unwinding: the run loop checks `exitNow` after each handler.
      c.exitNow = true;
      m.stopReason = KVM_EXIT.IO;
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
      // kvm_io_bus: an element an in-kernel device takes needs no exit (and RF clears when done).
      if (!this.pioBus.empty && this.pioBus.write(v, port, size, v.area.subarray(PIO_DATA_OFFSET, PIO_DATA_OFFSET + size))) {
        if (rep && left !== 0) s.rflags |= FLAG.RF;
        else s.rflags &= ~FLAG.RF;
        return;
      }
      if (rep) {
        s.rflags |= FLAG.RF;
        m.pending = { kind: 'outs', done: left === 0 };
      } else s.rflags &= ~FLAG.RF;
      exitIo(v, KVM_EXIT_IO.OUT, port, size, 1);
      m.stopReason = KVM_EXIT.IO;
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
    m.pending = { kind: 'ins', size, count: n, asz, rep };
    throw EXIT;
  }

  /** kernel_pio: IN/OUT to an in-kernel device on the PIO bus; true when one took it. */
  private kernelPio(c: X86Cpu, port: number, size: number, out: boolean, data: Uint8Array): boolean {
    const bus = this.pioBus;
    if (out) return bus.write(this.m.vcpu, port, size, data);
    if (!bus.readValue(this.m.vcpu, port, size)) return false;
    c.setReg(0, size, size === 1 ? bus.scratch[0]! : size === 2 ? bus.scratchDv.getUint16(0, true) : bus.scratchDv.getUint32(0, true));
    return true;
  }

  hypercall(c: X86Cpu, i: Insn): void {
    const m = this.m;
    if (m.intro !== null && m.intro.hypercall(i.len)) return; // [kvmi hook] KVMI_VCPU_EVENT_HYPERCALL
    const s = m.s;
    const nr = c.long64 ? s.getReg(0) : s.getReg(0) & 0xffffffffn;
    const arg = (r: number) => (c.long64 ? s.getReg(r) : s.getReg(r) & 0xffffffffn);
    let ret: bigint;
    if (c.cpl !== 0) ret = -KVM_EPERM;
    else if (nr === BigInt(KVM_HC_MAP_GPA_RANGE) && this.vmState.exitHypercall & (1n << BigInt(KVM_HC_MAP_GPA_RANGE))) {
      const gpa = arg(3);
      const npages = arg(1);
      const attrs = arg(2);
      // x86.c kvm_emulate_hypercall: page-aligned, at least one page, gfn + npages not wrapping (u64);
      // the attributes go to userspace unchecked (the selftests pass their own bits there).
      if (gpa & 0xfffn || npages === 0n || BigInt.asUintN(64, (gpa >> 12n) + npages) <= gpa >> 12n) ret = -KVM_EINVAL;
      else {
        exitHypercall(m.vcpu, nr, [gpa, npages, attrs], c.long64 ? KVM_EXIT_HYPERCALL_FLAG.LONG_MODE : 0n);
        c.next = s.rip;
        m.pending = { kind: 'hypercall' };
        throw EXIT;
      }
    } else ret = -KVM_ENOSYS;
    // kvm_emulate_hypercall: outside 64-bit mode RAX gets the low 32 bits of the result.
    s.setReg(0, BigInt.asUintN(c.long64 ? 64 : 32, ret));
  }

  rdtsc(): bigint {
    return this.m.rdtsc();
  }

  hlt(_c: X86Cpu): void {
    // With an in-kernel LAPIC the vCPU halts inside KVM_RUN (events.ts); else KVM_EXIT_HLT.
    if (this.m.events.lapic !== null) return this.m.events.halt();
    exitSimple(this.m.vcpu, KVM_EXIT.HLT);
    this.m.stopReason = KVM_EXIT.HLT;
  }

  paging(c: X86Cpu): void {
    c.updateMode();
    c.flushTlb();
    this.m.blockStale = true;
  }

  shadow(_c: X86Cpu, kind: number): void {
    this.m.s.shadow = kind;
  }

  debugRegs(_c: X86Cpu): void {
    this.m.debug.regsChanged();
  }

  drAccess(c: X86Cpu, i: Insn): void {
    this.m.debug.drAccess(c, i);
  }

  /** [tdx hook] TDCALL outside a trust domain is #UD (the TDX flavour overrides this). */
  tdcall(c: X86Cpu, _i: Insn): void {
    c.ud();
  }
}
