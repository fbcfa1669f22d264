/**
 * KVM introspection's x86 adapter: the vCPU state and controls src/introspection needs
 * (KvmiX86Vcpu), over the x86 machine. Introspection imports only its own interface; the x86
 * engine imports introspection's hooks (one direction).
 * @module
 */
import type { KvmiQueuedException, KvmiX86Vcpu, X86IntrospectionHooks } from '../../introspection/hooks.js';
import { KVM_GUESTDBG } from '../../uapi/constants.js';
import { KVM_GUESTDBG_X86 } from '../../uapi/x86.js';
import { Acc, EXIT, FAULT, isCanonical, type X86Cpu } from './cpu.js';
import { hostTranslate } from './host-walk.js';
import { MSR, MSR_INDEX_LIST, readMsr, type MsrFilter } from './msr.js';
import { getRegs, getSregs, setRegs } from './regs.js';
import type { X86Machine } from './run.js';

export class X86KvmiAdapter implements KvmiX86Vcpu {
  constructor(private readonly m: X86Machine) {}

  attach(hooks: X86IntrospectionHooks, counter: { delivering: number }): void {
    const cpu = this.m.cpu;
    const orig = cpu.deliver;
    // Event delivery (stack pushes, IDT/GDT reads) raises no introspection events: mark it.
    cpu.deliver = function (this: X86Cpu, ...args: Parameters<X86Cpu['deliver']>): boolean {
      counter.delivering++;
      try {
        return orig.apply(this, args);
      } finally {
        counter.delivering--;
      }
    };
    cpu.kvmi = hooks;
    this.m.intro = hooks;
    cpu.flushTlb();
  }

  detach(): void {
    const cpu = this.m.cpu;
    delete (cpu as { deliver?: unknown }).deliver;
    cpu.kvmi = null;
    this.m.intro = null;
    cpu.flushTlb();
  }

  mode(): number {
    const c = this.m.cpu;
    return c.long64 ? 8 : c.def32 ? 4 : 2;
  }

  regs(): Uint8Array {
    this.m.cpu.getFlags();
    return getRegs(this.m.s);
  }

  sregs(): Uint8Array {
    return getSregs(this.m.s);
  }

  setRegs(r: Uint8Array): void {
    const m = this.m;
    m.cpu.getFlags();
    setRegs(m.s, r);
    m.cpu.updateMode();
    m.pending = null;
  }

  hasMsr(index: number): boolean {
    return MSR_INDEX_LIST.includes(index);
  }

  readMsr(index: number): bigint {
    return readMsr(this.m, index);
  }

  msrWritable(index: number): boolean {
    const filter = (this.m.vcpu.vm.archState as { msrFilter: MsrFilter | null }).msrFilter;
    return !filter || filter.allows(index, true);
  }

  eventMsrs(): Record<string, bigint> {
    const m = this.m;
    return {
      sysenter_cs: readMsr(m, MSR.SYSENTER_CS),
      sysenter_esp: readMsr(m, MSR.SYSENTER_ESP),
      sysenter_eip: readMsr(m, MSR.SYSENTER_EIP),
      efer: readMsr(m, MSR.EFER),
      star: readMsr(m, MSR.STAR),
      lstar: readMsr(m, MSR.LSTAR),
      cstar: readMsr(m, MSR.CSTAR),
      pat: readMsr(m, MSR.PAT),
      shadow_gs: readMsr(m, MSR.KERNEL_GS_BASE),
    };
  }

  cpuid(fn: number, index: number): { eax: number; ebx: number; ecx: number; edx: number } | undefined {
    return this.m.cpuidEntries.find((x) => x.function === fn && (!(x.flags & 1) || x.index === index));
  }

  get xcr0(): bigint {
    return this.m.s.xcr0;
  }

  get mpState(): number {
    return this.m.mpState;
  }

  get swBreakpoints(): boolean {
    const c = this.m.debug.control;
    return (c & KVM_GUESTDBG.ENABLE) !== 0 && (c & KVM_GUESTDBG_X86.USE_SW_BP) !== 0;
  }

  get long64(): boolean {
    return this.m.cpu.long64;
  }

  gpa(lin: number): number {
    // The host's walk (kvm_mmu_gva_to_gpa_system): shared memory only, every failure is -1.
    return isCanonical(lin) && Number.isSafeInteger(lin) ? hostTranslate(this.m.cpu, lin, Acc.READ) : -1;
  }

  codeGfn(lin: number): number {
    try {
      return this.m.cpu.codeGfn(lin);
    } catch (e) {
      if (e === FAULT) return -1;
      throw e;
    }
  }

  flushTlb(): void {
    this.m.cpu.flushTlb();
  }

  flushBlocks(): void {
    this.m.blocks.flush();
  }

  linearRip(): number {
    const c = this.m.cpu;
    return c.wrapLin(c.csBase + this.m.s.rip);
  }

  moveRip(delta: number): void {
    this.m.s.rip = this.m.cpu.maskIp(this.m.s.rip + delta);
  }

  nextAfter(len: number): void {
    const c = this.m.cpu;
    c.next = c.maskIp(this.m.s.rip + len);
  }

  reg(n: number): bigint {
    const v = this.m.s.getReg(n);
    return this.m.cpu.long64 ? v : v & 0xffffffffn;
  }

  setReg(n: number, v: bigint): void {
    this.m.s.setReg(n, v);
  }

  get queuedException(): KvmiQueuedException | null {
    return this.m.events.queuedException;
  }

  set queuedException(q: KvmiQueuedException | null) {
    this.m.events.queuedException = q;
  }

  setExceptionAddress(address: bigint): void {
    this.m.cpu.excAddr = Number(BigInt.asIntN(64, address));
  }

  get cr2(): bigint {
    return this.m.s.cr2;
  }

  stop(): never {
    throw EXIT;
  }
}
