/**
 * The narrow interface between the x86 interpreter and KVM introspection. An x86 vCPU holds one
 * of these (`X86Machine.intro`, `X86Cpu.kvmi`) while its VM is hooked, and null otherwise, so an
 * unhooked guest pays one null check at each call site.
 *
 * Hooks called from inside an instruction may throw: `KVMI_RESTART` (the instruction is abandoned
 * and re-executed, e.g. a PF event answered RETRY), the interpreter's `EXIT` after setting
 * KVM_EXIT_SHUTDOWN (CRASH), or a KvmError EINTR (the vCPU parks on an unanswered event, see
 * `KvmiVcpu`).
 * @module
 */

/** Thrown from inside an instruction to abandon it and execute it again from scratch. */
export const KVMI_RESTART = { kvmiRestart: true };

/** What an x86 instruction needs to know about an instruction for the per-instruction hook. */
export interface InsnRef {
  /** Linear address of the instruction. */
  readonly addr: number;
  readonly len: number;
}

export interface X86IntrospectionHooks {
  /** True while the per-instruction hook (`beforeInsn`) may be needed (execute restrictions, grants). */
  readonly perInsn: boolean;
  /** With `perInsn`: whether the block about to run (at the current RIP) needs `beforeInsn`. */
  slowBlock(): boolean;
  /** True when requests (pause, injected exception) wait for the next instruction boundary. */
  readonly pending: boolean;

  /** KVM_RUN entry. Returns true when KVM_RUN must return now (kvm_run already filled). */
  enter(): boolean;
  /** Periodic check inside KVM_RUN (reads the socket). */
  poll(): void;
  /** Serves `pending` requests at an instruction boundary. */
  requests(): void;
  /** Before an instruction executes; true stops the block without executing it. */
  beforeInsn(insn: InsnRef): boolean;

  /**
   * A guest data access to physical `pa` through linear `lin` (`acc` 0 read, 1 write).
   * Returns true when the gfn is restricted for that access (the TLB must not cache it).
   */
  access(lin: number, pa: number, acc: number): boolean;
  /** True when reads of `gfn` are restricted (instruction fetches must not leave a read TLB entry). */
  readTracked(gfn: number): boolean;
  /** MOV to CR0/CR3/CR4 about to change `oldValue` to `newValue`; returns the value to write. */
  cr(cr: number, oldValue: bigint, newValue: bigint): bigint;
  /** Guest WRMSR; returns the value to write. */
  msr(index: number, value: bigint): bigint;
  /** XSETBV about to change XCR `xcr`. */
  xsetbv(xcr: number, oldValue: bigint, newValue: bigint): void;
  /** A descriptor-table instruction (KVMI_DESC_*, write = load). */
  descriptor(desc: number, write: boolean): void;
  /** INT3 retired (RIP already past it); true when introspection took it over. */
  breakpoint(insn: InsnRef): boolean;
  /** VMCALL/VMMCALL; true when it was the agent hypercall and introspection handled it. */
  hypercall(insnLen: number): boolean;
}

/** A pending exception as KVM queues it (vector, error code). */
export interface KvmiQueuedException {
  vector: number;
  hasCode: boolean;
  code: number;
}

/**
 * What KVM introspection needs of an x86 vCPU, implemented by the arch (src/arch/x86/kvmi.ts),
 * so that src/introspection imports nothing of the x86 engine.
 */
export interface KvmiX86Vcpu {
  /** Plugs `hooks` into the vCPU; exception/interrupt delivery runs with `delivering` counted up. */
  attach(hooks: X86IntrospectionHooks, delivering: { delivering: number }): void;
  /** Unplugs them: the vCPU runs as if never introspected. */
  detach(): void;
  /** 8, 4 or 2: the code size (kvmi_vcpu_event_arch.mode). */
  mode(): number;
  /** struct kvm_regs / kvm_sregs bytes, RFLAGS current. */
  regs(): Uint8Array;
  sregs(): Uint8Array;
  /** KVMI_VCPU_SET_REGISTERS: struct kvm_regs bytes (the exit userspace would complete is dropped). */
  setRegs(regs: Uint8Array): void;
  /** The MSR list of KVM_GET_MSR_INDEX_LIST contains `index`. */
  hasMsr(index: number): boolean;
  readMsr(index: number): bigint;
  /** The VM's MSR filter lets the guest write `index`. */
  msrWritable(index: number): boolean;
  /** The MSRs of kvmi_vcpu_event_arch. */
  eventMsrs(): Record<string, bigint>;
  /** The vCPU's CPUID entry (KVM_SET_CPUID2), if any. */
  cpuid(fn: number, index: number): { eax: number; ebx: number; ecx: number; edx: number } | undefined;
  readonly xcr0: bigint;
  readonly mpState: number;
  /** Guest debug intercepts #BP (KVM_GUESTDBG_ENABLE | USE_SW_BP). */
  readonly swBreakpoints: boolean;
  readonly long64: boolean;
  /** The guest physical address of linear `lin` (supervisor read), or -1 when it does not translate. */
  gpa(lin: number): number;
  /** The guest frame of code at `lin`, or -1 when it does not translate. */
  codeGfn(lin: number): number;
  flushTlb(): void;
  /** Drops the decoded/translated code. */
  flushBlocks(): void;
  /** Linear address of the instruction at RIP. */
  linearRip(): number;
  /** RIP += delta (wrapped to the code size). */
  moveRip(delta: number): void;
  /** Inside an instruction: the next RIP is RIP + len. */
  nextAfter(len: number): void;
  /** General register n (truncated to 32 bits outside 64-bit mode). */
  reg(n: number): bigint;
  setReg(n: number, v: bigint): void;
  queuedException: KvmiQueuedException | null;
  /** Sets the exception address (CR2) an injected #PF delivers. */
  setExceptionAddress(address: bigint): void;
  readonly cr2: bigint;
  /** Leaves the instruction now (the interpreter's exit-to-userspace). */
  stop(): never;
}
