/**
 * kvm_run's header fields after every KVM_RUN return, EINTR included: the kernel's
 * post_kvm_run_save runs on every way out of kvm_arch_vcpu_ioctl_run, so if_flag and
 * ready_for_interrupt_injection describe the guest as it stopped, not as it was at the previous
 * exit. A VMM with its own PIC (the mini-VMM's Linux machine with `irqchip: 'userspace'`) decides
 * from them after an EINTR whether it may KVM_INTERRUPT; stale values let it inject while the guest
 * runs with IF=0, and VMX refuses that entry (KVM_EXIT_FAIL_ENTRY) -- the x86 Linux boot on the
 * userspace irqchip ended that way. Both engines, the EINTR of the run budget and of immediate_exit.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, virtualSys } from '../../src/index.js';
import { X86_ENGINES } from '../helpers/engines.js';
import { TEST_RUN_TIMEOUT_MS } from '../helpers/run.js';
import { CODE, enterMode, RAM, STACK, writeGdt, writePageTables } from '../helpers/x86.js';

// sti; nop; out 0x10, al; cli; jmp $     (IF=1, past the STI shadow, at the I/O exit; then spins with IF=0)
const STI_OUT_CLI_SPIN = [0xfb, 0x90, 0xe6, 0x10, 0xfa, 0xeb, 0xfe];
// cli; out 0x10, al; sti; nop; jmp $-1   (IF=0 at the I/O exit, then spins with IF=1)
const CLI_OUT_STI_SPIN = [0xfa, 0xe6, 0x10, 0xfb, 0x90, 0xeb, 0xfe];

function machine(engine: (typeof X86_ENGINES)[number], code: number[]) {
  // (The run budget ends the spin; the wall-clock bound is the tests' own, so a loaded host's slow
  // first translation cannot end the first KVM_RUN before its I/O exit.)
  const sys = virtualSys({ runTimeoutMs: TEST_RUN_TIMEOUT_MS, ...engine.opts, runBudget: 20_000 });
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  writeGdt(ram.bytes);
  writePageTables(ram.bytes);
  ram.bytes.set(code, CODE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'long64');
  vcpu.setSregs({ idt: { base: 0n, limit: 0 } }); // any interrupt: #GP, #DF, shutdown
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
  return vcpu;
}

describe.each(X86_ENGINES)('kvm_run header after EINTR ($name)', (engine) => {
  it('IF=1 at an I/O exit, then CLI and EINTR (run budget): if_flag and ready_for_interrupt_injection are 0', () => {
    const v = machine(engine, STI_OUT_CLI_SPIN);
    expect(v.run().reason).toBe('io');
    expect(v.kvmRun.if_flag).toBe(1);
    expect(v.kvmRun.ready_for_interrupt_injection).toBe(1);
    expect(v.run().reason).toBe('intr');
    expect(v.getRegs().rflags & 0x200n).toBe(0n);
    expect(v.kvmRun.if_flag).toBe(0);
    expect(v.kvmRun.ready_for_interrupt_injection).toBe(0);
    // What a VMM that trusted the stale fields did: VMX refuses to inject with IF=0.
    v.interrupt(0x20);
    expect(v.run().reason).toBe('fail_entry');
  });

  it('IF=0 at an I/O exit, then STI and EINTR: if_flag and ready_for_interrupt_injection are 1, and KVM_INTERRUPT is taken', () => {
    const v = machine(engine, CLI_OUT_STI_SPIN);
    expect(v.run().reason).toBe('io');
    expect(v.kvmRun.if_flag).toBe(0);
    expect(v.kvmRun.ready_for_interrupt_injection).toBe(0);
    expect(v.run().reason).toBe('intr');
    expect(v.kvmRun.if_flag).toBe(1);
    expect(v.kvmRun.ready_for_interrupt_injection).toBe(1);
    // The VMM's rule (if_flag && ready_for_interrupt_injection) now injects: the entry takes it
    // (with an empty IDT the delivery ends in a triple fault).
    v.interrupt(0x20);
    expect(v.run().reason).toBe('shutdown');
  });

  it('immediate_exit: EINTR before entry still reports the guest as it is', () => {
    const v = machine(engine, STI_OUT_CLI_SPIN);
    expect(v.run().reason).toBe('io');
    expect(v.kvmRun.if_flag).toBe(1);
    v.setRegs({ rflags: 2n }); // userspace clears IF (KVM_SET_REGS)
    v.kvmRun.immediate_exit = 1;
    expect(v.run().reason).toBe('intr');
    expect(v.kvmRun.if_flag).toBe(0);
    expect(v.kvmRun.ready_for_interrupt_injection).toBe(0);
  });
});
