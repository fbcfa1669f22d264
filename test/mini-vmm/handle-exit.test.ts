/**
 * `handleExit` with synthetic exits (as Firecracker's vmm tests feed `handle_kvm_exit`): no guest,
 * no KVM_RUN -- a hand-built `VcpuExit` and a stub vCPU, and the board's devices.
 */
import { describe, expect, it, vi } from 'vitest';
import { KVM_EXIT, KVM_GUESTDBG, KVM_SYSTEM_EVENT, KvmError, x86_64, type Vcpu, type VcpuExit } from '../../src/index.js';
import { arm64Board, ARM64_BOARD, handleExit, x86Board, X86_BOARD, type Board, type ExitContext } from '../../src/vmm/index.js';

/** A vCPU stub: the registers the board reads for reports, and a recorder of KVM_SET_GUEST_DEBUG. */
function stubVcpu(rip = 0x1234n) {
  const setGuestDebug = vi.fn();
  const regs = { rax: 1n, rbx: 0n, rcx: 0n, rdx: 0n, rsi: 0n, rdi: 0n, rsp: 0x8000n, rbp: 0n, r8: 0n, r9: 0n, r10: 0n, r11: 0n, r12: 0n, r13: 0n, r14: 0n, r15: 0n, rip, rflags: 2n };
  const vcpu = { getRegs: () => regs, getOneReg: () => 0x4000_0040n, setGuestDebug } as unknown as Vcpu;
  return { vcpu, setGuestDebug };
}

function setup(arch: 'x86_64' | 'arm64' = 'x86_64', armed?: readonly number[]) {
  const out: number[] = [];
  const board: Board = arch === 'x86_64' ? x86Board('long', (b) => out.push(b)) : arm64Board((b) => out.push(b));
  const { vcpu, setGuestDebug } = stubVcpu();
  const onBreakpoint = vi.fn();
  const ctx: ExitContext = { vcpu, describe: true, armed: armed ? board.hwBreakpoints(armed) : undefined, hits: [], onBreakpoint };
  return { board, ctx, out, setGuestDebug, onBreakpoint };
}

const io = (direction: 'in' | 'out', port: number, bytes: number[], size = 1, count = 1): VcpuExit => ({
  reason: 'io', exitReason: KVM_EXIT.IO, direction, port, size, count, data: Uint8Array.from(bytes),
});
const mmio = (isWrite: boolean, addr: number, bytes: number[]): VcpuExit => ({
  reason: 'mmio', exitReason: KVM_EXIT.MMIO, physAddr: BigInt(addr), len: bytes.length, isWrite, data: Uint8Array.from(bytes),
});

describe('handleExit: IO and MMIO complete on the board devices', () => {
  it('an OUT to COM1 THR reaches the console; no stop', () => {
    const { board, ctx, out } = setup();
    const o = handleExit(board, io('out', X86_BOARD.COM1, [0x41]), ctx);
    expect(out).toEqual([0x41]);
    expect(o).toEqual({ key: 'io out 0x3f8 uart16550', line: 'io out 0x3f8 1 41' });
  });

  it('an IN fills the exit data: LSR ready, unassigned ports read all ones, string IN per element', () => {
    const { board, ctx } = setup();
    const lsr = io('in', X86_BOARD.COM1 + 5, [0]);
    expect(handleExit(board, lsr, ctx).line).toBe('io in 0x3fd 1 -> 60');
    expect((lsr as { data: Uint8Array }).data[0]).toBe(0x60);
    const none = io('in', 0x80, [0, 0, 0, 0], 2, 2);
    const o = handleExit(board, none, ctx);
    expect(o.key).toBe('io in 0x80 unassigned');
    expect(o.line).toBe('io in 0x80 2x2 -> ffffffff');
  });

  it('MMIO on arm64: PL011 FR read, DR write, unassigned read zero', () => {
    const { board, ctx, out } = setup('arm64');
    const fr = mmio(false, ARM64_BOARD.UART + 0x18, [0, 0, 0, 0]);
    expect(handleExit(board, fr, ctx).key).toBe('mmio read 0x9000018 pl011');
    expect([...(fr as { data: Uint8Array }).data]).toEqual([0x90, 0, 0, 0]);
    handleExit(board, mmio(true, ARM64_BOARD.UART, [0x68, 0, 0, 0]), ctx);
    expect(out).toEqual([0x68]);
    const none = mmio(false, 0x0a00_0000, [0xaa, 0xbb]);
    expect(handleExit(board, none, ctx).key).toBe('mmio read 0xa000000 unassigned');
    expect([...(none as { data: Uint8Array }).data]).toEqual([0, 0]);
  });

  it('a write to the exit device stops the run with that status', () => {
    const { board, ctx } = setup();
    const o = handleExit(board, io('out', X86_BOARD.EXIT_PORT, [7, 0, 0, 0], 4), ctx);
    expect(o.stop).toEqual({ end: 'exit-device', status: 7, detail: 'the guest wrote 7 to the exit device' });
  });

  it('the result port records 32-bit writes', () => {
    const { board, ctx } = setup();
    handleExit(board, io('out', X86_BOARD.RESULT_PORT, [0x78, 0x56, 0x34, 0x12], 4), ctx);
    expect(board.result.values).toEqual([0x12345678]);
  });
});

describe('handleExit: how runs end', () => {
  it('HLT, SYSTEM_EVENT shutdown/reset/crash', () => {
    const { board, ctx } = setup('arm64');
    expect(handleExit(board, { reason: 'hlt', exitReason: KVM_EXIT.HLT }, ctx).stop?.end).toBe('halt');
    const ev = (type: number): VcpuExit => ({ reason: 'system_event', exitReason: KVM_EXIT.SYSTEM_EVENT, type, data: [] });
    expect(handleExit(board, ev(KVM_SYSTEM_EVENT.SHUTDOWN), ctx)).toMatchObject({ key: 'system_event shutdown', stop: { end: 'poweroff', status: 0 } });
    expect(handleExit(board, ev(KVM_SYSTEM_EVENT.RESET), ctx)).toMatchObject({ key: 'system_event reset', stop: { end: 'reset', status: 0 } });
    expect(handleExit(board, ev(KVM_SYSTEM_EVENT.CRASH), ctx)).toMatchObject({ key: `system_event type ${KVM_SYSTEM_EVENT.CRASH}`, stop: { end: 'guest-error', status: 1 } });
  });

  it('triple fault and emulation failure report the PC (and the instruction bytes)', () => {
    const { board, ctx } = setup();
    expect(handleExit(board, { reason: 'shutdown', exitReason: KVM_EXIT.SHUTDOWN }, ctx).stop?.detail).toBe('KVM_EXIT_SHUTDOWN (triple fault) at 0x1234');
    const ie: VcpuExit = { reason: 'internal_error', exitReason: KVM_EXIT.INTERNAL_ERROR, suberror: 1, data: [], insnBytes: Uint8Array.of(0x0f, 0x0b) };
    expect(handleExit(board, ie, ctx).stop?.detail).toBe('KVM_EXIT_INTERNAL_ERROR, suberror 1, instruction bytes 0f0b at 0x1234');
    const fe: VcpuExit = { reason: 'fail_entry', exitReason: KVM_EXIT.FAIL_ENTRY, hardwareEntryFailureReason: 0x21n, cpu: 0 };
    expect(handleExit(board, fe, ctx)).toMatchObject({ key: 'fail_entry', line: 'fail_entry 0x21', stop: { end: 'guest-error' } });
    expect(handleExit(board, { reason: 'nmi', exitReason: KVM_EXIT.NMI }, ctx).stop?.detail).toBe(`unexpected exit nmi (exit_reason ${KVM_EXIT.NMI})`);
    expect(handleExit(board, { reason: 'irq_window_open', exitReason: KVM_EXIT.IRQ_WINDOW_OPEN }, ctx)).toEqual({ key: 'irq_window_open', line: 'irq_window_open' });
  });

  it('KVM_RUN errors: EINTR is re-entered and counted, anything else ends the run uncounted', () => {
    const { board, ctx } = setup();
    expect(handleExit(board, KvmError.of('EINTR', 'ioctl'), ctx)).toEqual({ key: 'intr', line: undefined });
    const o = handleExit(board, KvmError.of('EFAULT', 'ioctl'), ctx);
    expect(o.key).toBeUndefined();
    expect(o.stop).toMatchObject({ end: 'kvm-error', status: 1 });
    expect(o.stop?.detail).toMatch(/^KVM_RUN failed: EFAULT/);
  });
});

describe('handleExit: breakpoints', () => {
  const dbg = (dr6: bigint, pc = 0x1000n): VcpuExit => ({ reason: 'debug', exitReason: KVM_EXIT.DEBUG, arch: { arch: 'x86_64', exception: 1, pc, dr6, dr7: 0x401n } });

  it('a hit is recorded and stepped over (single-step without breakpoints), then re-armed', () => {
    const { board, ctx, setGuestDebug, onBreakpoint } = setup('x86_64', [0x1000]);
    const o = handleExit(board, dbg(0xffff0ff1n), ctx);
    expect(o).toEqual({ key: 'debug breakpoint', line: 'debug breakpoint 0x1000' });
    expect(ctx.hits).toHaveLength(1);
    expect(ctx.hits[0]).toMatchObject({ addr: 0x1000n, n: 1 });
    expect(ctx.hits[0]!.regs).toMatch(/^rax=0x1 .* rip=0x1234 rflags=0x2$/);
    expect(onBreakpoint).toHaveBeenCalledWith(ctx.hits[0]);
    expect(setGuestDebug).toHaveBeenLastCalledWith(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
    expect(handleExit(board, dbg(0xffff4ff0n, 0x1001n), ctx).key).toBe('debug step');
    expect(setGuestDebug).toHaveBeenLastCalledWith(KVM_GUESTDBG.ENABLE | x86_64.KVM_GUESTDBG_X86.USE_HW_BP, { debugreg: [0x1000n, 0n, 0n, 0n, 0n, 0n, 0n, 0x401n] });
  });

  it('a debug exit with no breakpoints armed ends the run', () => {
    const { board, ctx, setGuestDebug } = setup();
    expect(handleExit(board, dbg(0xffff0ff1n), ctx).stop).toEqual({ end: 'guest-error', status: 1, detail: 'unexpected KVM_EXIT_DEBUG at 0x1000' });
    expect(setGuestDebug).not.toHaveBeenCalled();
  });
});
