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
