/**
 * How a vCPU waits for an event reply without blocking a tool on the same thread (the documented
 * intermediate state), the actions beyond CONTINUE/RETRY, vCPU indexes, the VMM-side helpers and
 * what the real kernel says to the seed's numbers.
 */
import { describe, expect, it } from 'vitest';
import {
  introspectionCommand,
  introspectionEvent,
  introspectionHook,
  introspectionPreunhook,
  introspectionUnhook,
  KvmError,
  KvmiClient,
  kvmiInProcessPair,
  kvmiSocketFd,
  nativeSys,
  KVM_EXIT,
} from '../../src/index.js';
import { KVM_CAP_INTROSPECTION, KVMI_EVENT, KVMI_EVENT_ACTION, KVMI_PAGE_ACCESS } from '../../src/uapi/kvmi.js';
import { nativeX86 } from '../helpers/backends.js';
import { hookInProcess, isDone, makeMachine, PATTERN, runTest, T, TEST_GPA, tick, u64 } from './helpers.js';

/** KVM_RUN itself (the typed run() turns EINTR into an 'intr' exit). */
const rawRun = (v: { fd: number; vm: { sys: { ioctl(fd: number, r: number, a: number): number }; kvm: { req(n: string): number } } }) => v.vm.sys.ioctl(v.fd, v.vm.kvm.req('KVM_RUN'), 0);

const { CONTINUE, RETRY, CRASH } = KVMI_EVENT_ACTION;
const EV = KVMI_EVENT;

describe('a vCPU parked on an event', () => {
  it('KVM_RUN fails with EINTR / KVM_EXIT_INTR until the reply, with RIP on the interrupted instruction', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    await c.setPageAccess([{ gpa: TEST_GPA, access: KVMI_PAGE_ACCESS.R }]);
    await c.controlEvents(0, EV.VCPU_EVENT_PF, true);
    new DataView(mc.ram.buffer, mc.ram.byteOffset).setBigUint64(PATTERN, 99n, true);
    const last = mc.vcpu.exit();
    if (last.reason === 'io') new DataView(last.data.buffer, last.data.byteOffset).setUint32(0, T.PF_WRITE, true);
    const code = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return e instanceof KvmError ? e.code : String(e);
      }
    };
    expect(code(() => rawRun(mc.vcpu))).toBe('EINTR');
    expect(mc.vcpu.kvmRun.exit_reason).toBe(KVM_EXIT.INTR);
    const e = await c.nextEvent(EV.VCPU_EVENT_PF);
    expect(mc.vcpu.getRegs().rip).toBe(e.regs!.rip);
    // No reply yet: every KVM_RUN returns EINTR again and nothing of the instruction happened.
    for (let i = 0; i < 3; i++) expect(code(() => rawRun(mc.vcpu))).toBe('EINTR');
    expect(u64(mc.slot1.bytes, 0)).toBe(0n);
    // immediate_exit is honoured as usual.
    mc.vcpu.immediateExit = true;
    expect(code(() => rawRun(mc.vcpu))).toBe('EINTR');
    mc.vcpu.immediateExit = false;
    // Commands are served while it waits.
    expect((await c.getRegisters(0)).regs.rip).toBe(e.regs!.rip);
    c.reply(e, CONTINUE);
    await tick();
    const r = mc.vcpu.run();
    expect(r.reason).toBe('io');
    expect(u64(mc.slot1.bytes, 0)).toBe(99n);
  });
});

describe('actions', () => {
  it('CRASH on a CR event: KVM_EXIT_SHUTDOWN, CR4 unchanged', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    const cr4 = mc.vcpu.getSregs().cr4;
    await c.controlEvents(0, EV.VCPU_EVENT_CR, true);
    await c.controlCr(0, 4, true);
    const run = runTest(mc, T.CR);
    c.reply(await c.nextEvent(EV.VCPU_EVENT_CR), CRASH);
    expect((await run).exit.reason).toBe('shutdown');
    expect(mc.vcpu.getSregs().cr4).toBe(cr4);
  });

  it('CRASH on PAUSE and on a hypercall', async () => {
    for (const [test, ev] of [
      [T.NOOP, EV.VCPU_EVENT_PAUSE],
      [T.HYPERCALL, EV.VCPU_EVENT_HYPERCALL],
    ] as const) {
      const mc = makeMachine();
      const c = hookInProcess(mc);
      if (ev === EV.VCPU_EVENT_PAUSE) await c.pauseVcpu(0);
      else await c.controlEvents(0, ev, true);
      const run = runTest(mc, test);
      c.reply(await c.nextEvent(ev), CRASH);
      expect((await run).exit.reason).toBe('shutdown');
    }
  });

  it('an action the event does not accept (RETRY on CR) shuts the socket down; the write proceeds unchanged', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    const cr4 = mc.vcpu.getSregs().cr4;
    await c.controlEvents(0, EV.VCPU_EVENT_CR, true);
    await c.controlCr(0, 4, true);
    const run = runTest(mc, T.CR);
    c.replyValue(await c.nextEvent(EV.VCPU_EVENT_CR), cr4, RETRY);
    expect(isDone(await run)).toBe(true);
    expect(mc.vcpu.getSregs().cr4).toBe(cr4 | (1n << 18n));
    await tick();
    expect(c.closed).toBe(true);
  });
});

describe('more than one vCPU', () => {
  it('events and commands name the vCPU by its index', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    expect((await c.getInfo()).vcpuCount).toBe(1);
    const v1 = mc.vm.createVcpu(5); // vcpu_id 5, index 1, created after the hook
    v1.setSregs(mc.vcpu.getSregs());
    v1.setRegs({ rip: 0x8000n, rsp: 0x7e000n, rflags: 2n });
    expect((await c.getInfo()).vcpuCount).toBe(2);
    await c.pauseVcpu(1);
    // vCPU 0 runs without an event; vCPU 1 stops at its first entry.
    const r0 = await runTest(mc, T.NOOP);
    expect(r0.intr).toBe(0);
    let err: unknown;
    try {
      rawRun(v1);
    } catch (e) {
      err = e;
    }
    expect((err as KvmError).code).toBe('EINTR');
    const e = await c.nextEvent(EV.VCPU_EVENT_PAUSE);
    expect(e.vcpu).toBe(1);
    expect(e.regs!.rsp).toBe(0x7e000n);
    expect((await c.getRegisters(1)).regs.rsp).toBe(0x7e000n);
    c.reply(e, CONTINUE);
    await tick();
    const x = v1.run();
    expect(x.reason).toBe('io');
  });
});

describe('VMM-side helpers', () => {
  it('introspectionHook / Command / Event / Preunhook / Unhook', async () => {
    const mc = makeMachine();
    const { kernel, tool } = kvmiInProcessPair();
    const fd = kvmiSocketFd(mc.sys, kernel);
    introspectionHook(mc.sys, mc.vm.fd, fd);
    introspectionCommand(mc.sys, mc.vm.fd, -1, true);
    introspectionEvent(mc.sys, mc.vm.fd, -1, true);
    const c = new KvmiClient(tool);
    await c.controlVmEvents(EV.VM_EVENT_UNHOOK, true);
    introspectionPreunhook(mc.sys, mc.vm.fd);
    expect((await c.nextEvent(EV.VM_EVENT_UNHOOK)).data.kind).toBe('unhook');
    introspectionUnhook(mc.sys, mc.vm.fd);
    await tick();
    expect(c.closed).toBe(true);
    expect(() => introspectionCommand(mc.sys, mc.vm.fd, -1, true)).toThrow(/EFAULT/);
  });
});

describe.skipIf(!nativeX86)('the real kernel (no KVMI)', () => {
  it('reports KVM_CAP_INTROSPECTION (999) as 0 and does not know the hook ioctl', () => {
    const sys = nativeSys();
    const kvm = sys.open('/dev/kvm');
    expect(sys.ioctl(kvm, 0xae03, KVM_CAP_INTROSPECTION)).toBe(0);
    const vm = sys.ioctl(kvm, 0xae01, 0);
    let code = '';
    try {
      introspectionUnhook(sys, vm);
    } catch (e) {
      code = (e as KvmError).code;
    }
    expect(code).toBe('ENOTTY');
    sys.close(vm);
    sys.close(kvm);
  });
});
