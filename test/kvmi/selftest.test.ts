/**
 * The KVMI series' selftest (tools/testing/selftests/kvm/x86_64/kvmi_test.c, v12 order), case by
 * case, over the in-process duplex, plus the invalid-input cases of every command.
 */
import { describe, expect, it } from 'vitest';
import { KVM_CAP_INTROSPECTION, KVM_E, KVMI_DESC, KVMI_EVENT, KVMI_EVENT_ACTION, KVMI_MAX_MSG_SIZE, KVMI_MSG, KVMI_PAGE_ACCESS, KVMI_VERSION } from '../../src/uapi/kvmi.js';
import * as K from '../../src/uapi/kvmi.js';
import { encodePageAccess, kvmiInProcessPair, kvmiSocketFd, x86_64 } from '../../src/index.js';
import {
  errnoOf,
  EXEC_GPA,
  EXEC_GVA,
  feature,
  HC_RESULT,
  hookFd,
  hookInProcess,
  IOCTL,
  isDone,
  LAST_VEC,
  makeMachine,
  PATTERN,
  runTest,
  T,
  TEST_GPA,
  TEST_GVA,
  tick,
  u32,
  VEC_COUNT,
  type Machine,
} from './helpers.js';

const { CONTINUE, RETRY } = KVMI_EVENT_ACTION;
const EV = KVMI_EVENT;
const M = KVMI_MSG;
const vcpuHdr = (vcpu = 0, padding1 = 0, padding2 = 0) => K.kvmi_vcpu_hdr.encode({ vcpu, padding1, padding2 });
const cat = (...p: Uint8Array[]) => {
  const o = new Uint8Array(p.reduce((n, x) => n + x.length, 0));
  let k = 0;
  for (const x of p) {
    o.set(x, k);
    k += x.length;
  }
  return o;
};

function setup(): { mc: Machine; c: ReturnType<typeof hookInProcess> } {
  const mc = makeMachine();
  return { mc, c: hookInProcess(mc) };
}

describe('KVMI selftest (kvmi_test.c), case by case', () => {
  it('hook_introspection: the hook and allow-list ioctls', () => {
    const mc = makeMachine();
    const kvmFd = mc.sys.open('/dev/kvm');
    expect(mc.sys.ioctl(kvmFd, x86_64.ioctls.KVM_CHECK_EXTENSION!.request, KVM_CAP_INTROSPECTION)).toBe(KVMI_VERSION);
    expect(mc.vm.checkExtension(KVM_CAP_INTROSPECTION)).toBe(KVMI_VERSION);
    expect([IOCTL.HOOK, IOCTL.UNHOOK, IOCTL.COMMAND, IOCTL.EVENT, IOCTL.PREUNHOOK]).toEqual([0x4018aec8, 0xaec9, 0x4008aeca, 0x4008aecb, 0xaecc]);
    // Before HOOK: valid arguments fail with EFAULT, invalid ones with EINVAL.
    expect(feature(mc, IOCTL.COMMAND, -1, 1)).toBe('EFAULT');
    expect(feature(mc, IOCTL.EVENT, -1, 1)).toBe('EFAULT');
    expect(feature(mc, IOCTL.COMMAND, -1, 2)).toBe('EINVAL');
    expect(errnoOf(() => mc.sys.ioctl(mc.vm.fd, IOCTL.PREUNHOOK))).toBe('EFAULT');
    expect(errnoOf(() => mc.sys.ioctl(mc.vm.fd, IOCTL.UNHOOK))).toBe(0);
    // HOOK: not a socket, bad padding, then success, then EEXIST.
    expect(hookFd(mc, -1)).toBe('EINVAL');
    expect(hookFd(mc, mc.vm.fd)).toBe('EINVAL');
    const { kernel } = kvmiInProcessPair();
    const fd = kvmiSocketFd(mc.sys, kernel);
    expect(hookFd(mc, fd, 1)).toBe('EINVAL');
    expect(hookFd(mc, fd)).toBe(0);
    expect(hookFd(mc, fd)).toBe('EEXIST');
    // The always-allowed commands cannot be disallowed.
    expect(feature(mc, IOCTL.COMMAND, M.GET_VERSION, 0)).toBe('EPERM');
    expect(feature(mc, IOCTL.COMMAND, M.VM_CHECK_COMMAND, 0)).toBe('EPERM');
    expect(feature(mc, IOCTL.COMMAND, M.VM_CHECK_EVENT, 0)).toBe('EPERM');
    expect(feature(mc, IOCTL.COMMAND, -1, 2)).toBe('EINVAL');
    expect(feature(mc, IOCTL.COMMAND, -2, 1)).toBe('EINVAL');
    expect(feature(mc, IOCTL.COMMAND, K.KVMI_NUM_COMMANDS, 1)).toBe('EINVAL');
    expect(feature(mc, IOCTL.COMMAND, -1, 0)).toBe(0);
    expect(feature(mc, IOCTL.COMMAND, -1, 1)).toBe(0);
    expect(feature(mc, IOCTL.EVENT, -1, 2)).toBe('EINVAL');
    expect(feature(mc, IOCTL.EVENT, K.KVMI_NUM_EVENTS, 1)).toBe('EINVAL');
    expect(feature(mc, IOCTL.EVENT, -1, 0)).toBe(0);
    expect(feature(mc, IOCTL.EVENT, -1, 1)).toBe(0);
    // The socket fd takes no KVM ioctls.
    expect(errnoOf(() => mc.sys.ioctl(fd, IOCTL.UNHOOK))).toBe('ENOTTY');
    expect(errnoOf(() => mc.sys.ioctl(mc.vm.fd, IOCTL.UNHOOK))).toBe(0);
    expect(feature(mc, IOCTL.COMMAND, -1, 1)).toBe('EFAULT');
    // After UNHOOK the same socket fd can hook again.
    expect(hookFd(mc, fd)).toBe(0);
  });

  it('after HOOK only the always-allowed commands work', async () => {
    const mc = makeMachine();
    const { kernel, tool } = kvmiInProcessPair();
    expect(hookFd(mc, kvmiSocketFd(mc.sys, kernel))).toBe(0);
    const c = new (await import('../../src/index.js')).KvmiClient(tool);
    expect((await c.getVersion()).version).toBe(1);
    expect(await c.errorOf(M.VM_GET_INFO)).toBe(-KVM_E.EPERM);
    expect(await c.checkCommand(M.VM_GET_INFO)).toBe(-KVM_E.EPERM);
    expect(await c.checkEvent(EV.VCPU_EVENT_PF)).toBe(-KVM_E.EPERM);
    expect(await c.vcpuErrorOf(M.VCPU_GET_INFO, 0)).toBe(-KVM_E.EPERM);
    expect(feature(mc, IOCTL.COMMAND, M.VM_GET_INFO, 1)).toBe(0);
    expect((await c.getInfo()).vcpuCount).toBe(1);
  });

  it('test_cmd_invalid: an unknown message id gets -KVM_ENOSYS', async () => {
    const { c } = setup();
    expect(await c.errorOf(0xffff)).toBe(-KVM_E.ENOSYS);
    expect(await c.errorOf(M.NEXT_VM_MESSAGE + 1)).toBe(-KVM_E.ENOSYS);
    expect(await c.errorOf(M.VCPU_GET_XSAVE, vcpuHdr())).toBe(-KVM_E.ENOSYS); // not implemented here
    // The reply repeats id and seq and carries only the error code.
    const r = await c.request(0xffff);
    expect(r.data.length).toBe(0);
  });

  it('test_cmd_get_version', async () => {
    const { c } = setup();
    const v = await c.getVersion();
    expect(v).toEqual({ version: KVMI_VERSION, maxMsgSize: KVMI_MAX_MSG_SIZE, singlestep: false });
    const raw = await c.request(M.GET_VERSION);
    expect(raw.err).toBe(0);
    expect(raw.data.length).toBe(K.kvmi_get_version_reply.size);
  });

  it('test_cmd_vm_check_command', async () => {
    const { mc, c } = setup();
    expect(await c.checkCommand(M.VM_GET_INFO)).toBe(0);
    expect(await c.checkCommand(M.VCPU_GET_REGISTERS)).toBe(0);
    expect(await c.checkCommand(0xffff)).toBe(-KVM_E.ENOENT);
    expect(await c.checkCommand(M.VCPU_EVENT)).toBe(-KVM_E.ENOENT);
    expect(feature(mc, IOCTL.COMMAND, M.VM_GET_INFO, 0)).toBe(0);
    expect(await c.checkCommand(M.VM_GET_INFO)).toBe(-KVM_E.EPERM);
    expect(feature(mc, IOCTL.COMMAND, M.VM_GET_INFO, 1)).toBe(0);
    expect(await c.errorOf(M.VM_CHECK_COMMAND, K.kvmi_vm_check_command.encode({ id: M.VM_GET_INFO, padding2: 1 }))).toBe(-KVM_E.EINVAL);
  });

  it('test_cmd_vm_check_event', async () => {
    const { mc, c } = setup();
    expect(await c.checkEvent(0xffff)).toBe(-KVM_E.ENOENT);
    expect(await c.checkEvent(EV.VM_EVENT_UNHOOK)).toBe(0);
    expect(await c.checkEvent(EV.VCPU_EVENT_PF)).toBe(0);
    expect(feature(mc, IOCTL.EVENT, EV.VM_EVENT_UNHOOK, 0)).toBe(0);
    expect(await c.checkEvent(EV.VM_EVENT_UNHOOK)).toBe(-KVM_E.EPERM);
    expect(await c.errorOf(M.VM_CHECK_EVENT, K.kvmi_vm_check_event.encode({ id: EV.VCPU_EVENT_PF, padding1: 1 }))).toBe(-KVM_E.EINVAL);
  });

  it('test_cmd_vm_get_info', async () => {
    const { mc, c } = setup();
    expect((await c.getInfo()).vcpuCount).toBe(1);
    mc.vm.createVcpu(1);
    expect((await c.getInfo()).vcpuCount).toBe(2);
  });

  it('test_event_unhook: PREUNHOOK sends KVMI_VM_EVENT_UNHOOK once enabled', async () => {
    const { mc, c } = setup();
    expect(errnoOf(() => mc.sys.ioctl(mc.vm.fd, IOCTL.PREUNHOOK))).toBe('ENOENT');
    await c.controlVmEvents(EV.VM_EVENT_UNHOOK, true);
    expect(errnoOf(() => mc.sys.ioctl(mc.vm.fd, IOCTL.PREUNHOOK))).toBe(0);
    const e = await c.nextEvent();
    expect(e.event).toBe(EV.VM_EVENT_UNHOOK);
    expect(e.size).toBe(K.kvmi_event_hdr.size);
    expect(e.data.kind).toBe('unhook');
    await c.controlVmEvents(EV.VM_EVENT_UNHOOK, false);
    expect(errnoOf(() => mc.sys.ioctl(mc.vm.fd, IOCTL.PREUNHOOK))).toBe('ENOENT');
  });

  it('test_cmd_vm_control_events', async () => {
    const { mc, c } = setup();
    const ctl = (event_id: number, enable: number, extra: object = {}) => c.errorOf(M.VM_CONTROL_EVENTS, K.kvmi_vm_control_events.encode({ event_id, enable, ...extra }));
    expect(await ctl(EV.VM_EVENT_UNHOOK, 1)).toBe(0);
    expect(await ctl(EV.VM_EVENT_UNHOOK, 0)).toBe(0);
    expect(await ctl(EV.VM_EVENT_UNHOOK, 2)).toBe(-KVM_E.EINVAL);
    expect(await ctl(0xffff, 1)).toBe(-KVM_E.EINVAL);
    expect(await ctl(EV.VCPU_EVENT_PF, 1)).toBe(-KVM_E.EINVAL); // a vCPU event
    expect(await ctl(EV.VM_EVENT_UNHOOK, 1, { padding2: 3 })).toBe(-KVM_E.EINVAL);
    expect(feature(mc, IOCTL.EVENT, EV.VM_EVENT_UNHOOK, 0)).toBe(0);
    expect(await ctl(EV.VM_EVENT_UNHOOK, 1)).toBe(-KVM_E.EPERM);
  });

  it('test_memory_access: WRITE/READ_PHYSICAL and their invalid arguments', async () => {
    const { mc, c } = setup();
    const pw = new Uint8Array(4096).fill(1);
    await c.writePhysical(TEST_GPA, pw);
    expect(mc.slot1.bytes.subarray(0, 4096)).toEqual(pw);
    expect(await c.readPhysical(TEST_GPA, 4096)).toEqual(pw);
    mc.slot1.bytes[17] = 0x5a;
    expect((await c.readPhysical(TEST_GPA + 16, 2))[1]).toBe(0x5a);
    const rd = (gpa: number, size: number, extra: object = {}) => c.errorOf(M.VM_READ_PHYSICAL, K.kvmi_vm_read_physical.encode({ gpa, size, ...extra }));
    const wr = (gpa: number, size: number, extra: object = {}) => {
      const b = new Uint8Array(16 + size);
      K.kvmi_vm_write_physical.encodeInto({ gpa, size, ...extra }, b);
      return c.errorOf(M.VM_WRITE_PHYSICAL, b);
    };
    expect(await rd(TEST_GPA, 0)).toBe(-KVM_E.EINVAL);
    expect(await wr(TEST_GPA, 0)).toBe(-KVM_E.EINVAL);
    expect(await rd(TEST_GPA + 0xff8, 16)).toBe(-KVM_E.EINVAL); // crosses a page
    expect(await wr(TEST_GPA + 0xff8, 16)).toBe(-KVM_E.EINVAL);
    expect(await rd(TEST_GPA, 8, { padding1: 1 })).toBe(-KVM_E.EINVAL);
    expect(await wr(TEST_GPA, 8, { padding2: 1 })).toBe(-KVM_E.EINVAL);
    // A gfn no memslot covers (the selftest uses max_gfn).
    expect(await wr(0x10000000, 1)).toBe(-KVM_E.ENOENT);
    expect(await rd(0x10000000, 1)).toBe(-KVM_E.ENOENT);
    // A write whose data the message does not hold: the handler's -EINVAL ends the connection.
    const short = new Uint8Array(16 + 4);
    K.kvmi_vm_write_physical.encodeInto({ gpa: TEST_GPA, size: 64 }, short);
    await expect(c.request(M.VM_WRITE_PHYSICAL, short)).rejects.toThrow(/closed/);
    expect(c.closed).toBe(true);
  });

  it('test_cmd_vcpu_get_info', async () => {
    const { c } = setup();
    expect((await c.vcpuGetInfo(0)).tscSpeed).toBe(2_400_000_000n);
    expect(await c.vcpuErrorOf(M.VCPU_GET_INFO, 99)).toBe(-KVM_E.EINVAL);
    expect(await c.errorOf(M.VCPU_GET_INFO, vcpuHdr(0, 1))).toBe(-KVM_E.EINVAL);
  });

  it('test_pause: PAUSE_VCPU produces one PAUSE event per command', async () => {
    const { mc, c } = setup();
    const pause = (vcpu: number, wait: number, extra: object = {}) => c.errorOf(M.VM_PAUSE_VCPU, K.kvmi_vm_pause_vcpu.encode({ vcpu, wait, ...extra }));
    expect(await pause(0, 1)).toBe(0);
    const run = runTest(mc, T.NOOP);
    const e = await c.nextEvent(EV.VCPU_EVENT_PAUSE);
    expect(e.vcpu).toBe(0);
    expect(e.regs!.rip).toBe(mc.vcpu.getRegs().rip); // parked before entering the guest
    expect(e.mode).toBe(8);
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    // Two requests, two events.
    expect(await pause(0, 1)).toBe(0);
    expect(await pause(0, 0)).toBe(0);
    const run2 = runTest(mc, T.NOOP);
    c.reply(await c.nextEvent(EV.VCPU_EVENT_PAUSE), CONTINUE);
    c.reply(await c.nextEvent(EV.VCPU_EVENT_PAUSE), CONTINUE);
    expect(isDone(await run2)).toBe(true);
    expect(await pause(0, 2)).toBe(-KVM_E.EINVAL);
    expect(await pause(0, 1, { padding2: 1 })).toBe(-KVM_E.EINVAL);
    expect(await pause(7, 1)).toBe(-KVM_E.EINVAL);
    expect(feature(mc, IOCTL.EVENT, EV.VCPU_EVENT_PAUSE, 0)).toBe(0);
    expect(await pause(0, 0)).toBe(-KVM_E.EPERM);
  });

  it('test_cmd_vcpu_control_events', async () => {
    const { mc, c } = setup();
    const ctl = (event_id: number, enable: number, extra: object = {}) => c.vcpuErrorOf(M.VCPU_CONTROL_EVENTS, 0, K.kvmi_vcpu_control_events.encode({ event_id, enable, ...extra }));
    expect(await ctl(EV.VCPU_EVENT_PAUSE, 1)).toBe(0);
    expect(await ctl(EV.VCPU_EVENT_PAUSE, 0)).toBe(0);
    expect(await ctl(EV.VCPU_EVENT_PAUSE, 2)).toBe(-KVM_E.EINVAL);
    expect(await ctl(0xffff, 1)).toBe(-KVM_E.EINVAL);
    expect(await ctl(EV.VM_EVENT_UNHOOK, 1)).toBe(-KVM_E.EINVAL); // a VM event
    expect(await ctl(EV.VCPU_EVENT_PF, 1, { padding1: 1 })).toBe(-KVM_E.EINVAL);
    expect(feature(mc, IOCTL.EVENT, EV.VCPU_EVENT_PAUSE, 0)).toBe(0);
    expect(await ctl(EV.VCPU_EVENT_PAUSE, 1)).toBe(-KVM_E.EPERM);
    // #BP has one owner: BREAKPOINT while userspace intercepts #BP is EBUSY, and the other way round.
    mc.vcpu.setGuestDebug(0x1 | 0x10000);
    expect(await ctl(EV.VCPU_EVENT_BREAKPOINT, 1)).toBe(-KVM_E.EBUSY);
    mc.vcpu.setGuestDebug(0);
    expect(feature(mc, IOCTL.EVENT, EV.VCPU_EVENT_PAUSE, 1)).toBe(0);
    expect(await ctl(EV.VCPU_EVENT_BREAKPOINT, 1)).toBe(0);
    expect(errnoOf(() => mc.vcpu.setGuestDebug(0x1 | 0x10000))).toBe('EBUSY');
  });

  it('test_cmd_vcpu_get_registers', async () => {
    const { mc, c } = setup();
    const r = await c.getRegisters(0, [0xc0000080, 0x174]);
    const regs = mc.vcpu.getRegs();
    expect(r.mode).toBe(8);
    expect(r.regs.rip).toBe(regs.rip);
    expect(r.regs.rsp).toBe(regs.rsp);
    expect(r.sregs.cr3).toBe(0x2000n);
    expect(r.msrs).toEqual([
      { index: 0xc0000080, data: 0x500n },
      { index: 0x174, data: 0n },
    ]);
    const getRegs = (nmsrs: number, idx: number[], extra: object = {}) => {
      const b = new Uint8Array(8 + 4 * idx.length);
      K.kvmi_vcpu_get_registers.encodeInto({ nmsrs, ...extra }, b);
      idx.forEach((x, i) => new DataView(b.buffer).setUint32(8 + 4 * i, x, true));
      return c.vcpuErrorOf(M.VCPU_GET_REGISTERS, 0, b);
    };
    expect(await getRegs(1, [0xffffffff])).toBe(-KVM_E.EINVAL);
    // A reply that would not fit in a message.
    const big = (KVMI_MAX_MSG_SIZE - 16) / 4;
    expect(await getRegs(big, new Array<number>(big).fill(0x174))).toBe(-KVM_E.EINVAL);
    // nmsrs larger than the message.
    expect(await getRegs(3, [0x174])).toBe(-KVM_E.EINVAL);
    expect(await getRegs(0, [], { padding1: 1 })).toBe(-KVM_E.EINVAL);
  });

  it('test_cmd_vcpu_set_registers: only while the vCPU waits for an event reply', async () => {
    const { mc, c } = setup();
    const regs = (await c.getRegisters(0)).regs;
    expect(await c.vcpuErrorOf(M.VCPU_SET_REGISTERS, 0, x86_64.structs.kvm_regs.encode(regs))).toBe(-KVM_E.EOPNOTSUPP);
    expect(await c.vcpuErrorOf(M.VCPU_SET_REGISTERS, 0, new Uint8Array(100))).toBe(-KVM_E.EINVAL);
    await c.pauseVcpu(0);
    const run = runTest(mc, T.NOOP);
    const e = await c.nextEvent(EV.VCPU_EVENT_PAUSE);
    await c.setRegisters(0, { ...e.regs!, r15: 0xfeedn });
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(mc.vcpu.getRegs().r15).toBe(0xfeedn);
  });

  it('setRegisters merges a partial object into the current registers, as Vcpu.setRegs does', async () => {
    const { mc, c } = setup();
    await c.pauseVcpu(0);
    const run = runTest(mc, T.NOOP);
    const e = await c.nextEvent(EV.VCPU_EVENT_PAUSE);
    expect(e.regs!.rip).not.toBe(0n);
    await c.setRegisters(0, { r14: 0xabcdn }); // RIP, RSP, RFLAGS... stay what they were
    c.reply(e, CONTINUE);
    // Zeroed RIP/RSP would have sent the guest astray; it finishes its test instead.
    expect(isDone(await run)).toBe(true);
    expect(mc.vcpu.getRegs().r14).toBe(0xabcdn);
  });

  it('test_cmd_vcpu_get_cpuid', async () => {
    const { c } = setup();
    const r = await c.getCpuid(0, 0, 0);
    expect(r.eax).toBe(0x16); // the highest basic leaf: 0x15/0x16 give the TSC rate
    expect(Buffer.from(new Uint32Array([r.ebx, r.edx, r.ecx]).buffer).toString()).toBe('GenuineIntel');
    expect(await c.vcpuErrorOf(M.VCPU_GET_CPUID, 0, K.kvmi_vcpu_get_cpuid.encode({ function: 0x1234 }))).toBe(-KVM_E.ENOENT);
  });

  it('test_event_hypercall', async () => {
    const { mc, c } = setup();
    const dv = new DataView(mc.ram.buffer, mc.ram.byteOffset);
    // Not enabled: KVM's answer to an unknown hypercall.
    expect(isDone(await runTest(mc, T.HYPERCALL))).toBe(true);
    expect(dv.getBigInt64(HC_RESULT, true)).toBe(-1000n);
    await c.controlEvents(0, EV.VCPU_EVENT_HYPERCALL, true);
    const run = runTest(mc, T.HYPERCALL);
    const e = await c.nextEvent(EV.VCPU_EVENT_HYPERCALL);
    expect(e.data.kind).toBe('hypercall');
    expect(e.regs!.rax).toBe(34n);
    expect(e.regs!.rdi).toBe(24n);
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(dv.getBigInt64(HC_RESULT, true)).toBe(0n);
    await c.controlEvents(0, EV.VCPU_EVENT_HYPERCALL, false);
  });

  it('test_event_breakpoint: RETRY after moving RIP past the INT3', async () => {
    const { mc, c } = setup();
    await c.controlEvents(0, EV.VCPU_EVENT_BREAKPOINT, true);
    const run = runTest(mc, T.BP);
    const e = await c.nextEvent(EV.VCPU_EVENT_BREAKPOINT);
    expect(e.data).toMatchObject({ kind: 'breakpoint', insnLen: 1 });
    const rip = e.regs!.rip;
    expect(mc.ram[Number(rip)]).toBe(0xcc); // the event reports RIP on the INT3, and its gpa
    expect((e.data as { gpa: bigint }).gpa).toBe(rip);
    await c.setRegisters(0, { ...e.regs!, rip: rip + 1n });
    c.reply(e, RETRY);
    expect(isDone(await run)).toBe(true);
    expect(u32(mc.ram, VEC_COUNT)).toBe(0); // #BP never reached the guest
  });

  it('BREAKPOINT CONTINUE re-injects #BP into the guest', async () => {
    const { mc, c } = setup();
    await c.controlEvents(0, EV.VCPU_EVENT_BREAKPOINT, true);
    const run = runTest(mc, T.BP);
    c.reply(await c.nextEvent(EV.VCPU_EVENT_BREAKPOINT), CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(mc.ram[LAST_VEC]).toBe(3);
    expect(u32(mc.ram, VEC_COUNT)).toBe(1);
  });

  it('test_cmd_vm_control_cleanup', async () => {
    const { c } = setup();
    const ctl = (enable: number, padding = [0, 0, 0, 0, 0, 0, 0]) => c.errorOf(M.VM_CONTROL_CLEANUP, K.kvmi_vm_control_cleanup.encode({ enable, padding }));
    expect(await ctl(2)).toBe(-KVM_E.EINVAL);
    expect(await ctl(1)).toBe(0);
    expect(await ctl(0)).toBe(0);
    expect(await ctl(1, [0, 0, 1, 0, 0, 0, 0])).toBe(-KVM_E.EINVAL);
  });

  it('test_cmd_vcpu_control_cr: the reply value is what gets written', async () => {
    const { mc, c } = setup();
    const cr4 = mc.vcpu.getSregs().cr4;
    await c.controlEvents(0, EV.VCPU_EVENT_CR, true);
    await c.controlCr(0, 4, true);
    const run = runTest(mc, T.CR);
    const e = await c.nextEvent(EV.VCPU_EVENT_CR);
    expect(e.data).toEqual({ kind: 'cr', cr: 4, oldValue: cr4, newValue: cr4 | (1n << 18n) });
    c.replyValue(e, cr4); // block the change
    expect(isDone(await run)).toBe(true);
    expect(mc.vcpu.getSregs().cr4).toBe(cr4);
    // CONTINUE with the new value lets it through.
    const run2 = runTest(mc, T.CR);
    const e2 = await c.nextEvent(EV.VCPU_EVENT_CR);
    c.replyValue(e2, (e2.data as { newValue: bigint }).newValue);
    expect(isDone(await run2)).toBe(true);
    expect(mc.vcpu.getSregs().cr4).toBe(cr4 | (1n << 18n));
    // Not enabled for CR0: no event.
    const ctl = (cr: number, enable: number, extra: object = {}) => c.vcpuErrorOf(M.VCPU_CONTROL_CR, 0, K.kvmi_vcpu_control_cr.encode({ cr, enable, ...extra }));
    expect(await ctl(4, 2)).toBe(-KVM_E.EINVAL);
    expect(await ctl(99, 1)).toBe(-KVM_E.EINVAL);
    expect(await ctl(2, 1)).toBe(-KVM_E.EINVAL);
    expect(await ctl(0, 1, { padding2: 1 })).toBe(-KVM_E.EINVAL);
    expect(await ctl(4, 0)).toBe(0);
  });

  it('test_cmd_vcpu_inject_exception: TRAP reports what was injected', async () => {
    const { mc, c } = setup();
    const inj = (nr: number, extra: object = {}) => c.vcpuErrorOf(M.VCPU_INJECT_EXCEPTION, 0, K.kvmi_vcpu_inject_exception.encode({ nr, ...extra }));
    expect(feature(mc, IOCTL.EVENT, EV.VCPU_EVENT_TRAP, 0)).toBe(0);
    expect(await inj(6)).toBe(-KVM_E.EPERM);
    expect(feature(mc, IOCTL.EVENT, EV.VCPU_EVENT_TRAP, 1)).toBe(0);
    expect(await inj(6, { padding1: 1 })).toBe(-KVM_E.EINVAL);
    // #UD: the TRAP event says 6 and the guest's handler sees 6.
    expect(await inj(6)).toBe(0);
    expect(await inj(13)).toBe(-KVM_E.EBUSY);
    const run = runTest(mc, T.NOOP);
    const t = await c.nextEvent(EV.VCPU_EVENT_TRAP);
    expect(t.data).toMatchObject({ kind: 'trap', nr: 6 });
    c.reply(t, CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(mc.ram[LAST_VEC]).toBe(6);
    // #BP pending re-injection wins over the tool's #UD.
    await c.controlEvents(0, EV.VCPU_EVENT_BREAKPOINT, true);
    const run2 = runTest(mc, T.BP);
    const bp = await c.nextEvent(EV.VCPU_EVENT_BREAKPOINT);
    await c.setRegisters(0, { ...bp.regs!, rip: bp.regs!.rip + 1n });
    expect(await inj(6)).toBe(0);
    c.reply(bp, CONTINUE);
    const t2 = await c.nextEvent(EV.VCPU_EVENT_TRAP);
    expect(t2.data).toMatchObject({ kind: 'trap', nr: 3 });
    c.reply(t2, CONTINUE);
    expect(isDone(await run2)).toBe(true);
    expect(mc.ram[LAST_VEC]).toBe(3);
  });

  it('test_event_xsetbv', async () => {
    const { mc, c } = setup();
    await c.controlEvents(0, EV.VCPU_EVENT_XSETBV, true);
    const run = runTest(mc, T.XSETBV);
    const e = await c.nextEvent(EV.VCPU_EVENT_XSETBV);
    expect(e.data).toEqual({ kind: 'xsetbv', xcr: 0, oldValue: 1n, newValue: 3n });
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(await c.getXcr(0, 0)).toBe(3n);
  });

  it('test_cmd_vcpu_get_xcr', async () => {
    const { c } = setup();
    expect(await c.getXcr(0, 0)).toBe(1n);
    expect(await c.vcpuErrorOf(M.VCPU_GET_XCR, 0, K.kvmi_vcpu_get_xcr.encode({ xcr: 1 }))).toBe(-KVM_E.EINVAL);
  });

  it('test_event_descriptor: store then load, for GDTR and IDTR', async () => {
    const { mc, c } = setup();
    await c.controlEvents(0, EV.VCPU_EVENT_DESCRIPTOR, true);
    for (const [test, desc] of [
      [T.DESCRIPTOR, KVMI_DESC.GDTR],
      [T.IDT, KVMI_DESC.IDTR],
    ] as const) {
      const run = runTest(mc, test);
      const a = await c.nextEvent(EV.VCPU_EVENT_DESCRIPTOR);
      expect(a.data).toEqual({ kind: 'descriptor', descriptor: desc, write: false });
      c.reply(a, CONTINUE);
      const b = await c.nextEvent(EV.VCPU_EVENT_DESCRIPTOR);
      expect(b.data).toEqual({ kind: 'descriptor', descriptor: desc, write: true });
      c.reply(b, CONTINUE);
      expect(isDone(await run)).toBe(true);
    }
    // RETRY re-enters without emulating: the same instruction traps again.
    const run = runTest(mc, T.DESCRIPTOR);
    const a = await c.nextEvent(EV.VCPU_EVENT_DESCRIPTOR);
    c.reply(a, RETRY);
    const again = await c.nextEvent(EV.VCPU_EVENT_DESCRIPTOR);
    expect(again.regs!.rip).toBe(a.regs!.rip);
    expect(again.data).toEqual(a.data);
    c.reply(again, CONTINUE);
    c.reply(await c.nextEvent(EV.VCPU_EVENT_DESCRIPTOR), CONTINUE);
    expect(isDone(await run)).toBe(true);
  });

  it('test_cmd_vcpu_control_msr: a tracked MSR write waits for the tool', async () => {
    const { mc, c } = setup();
    const MSR = 0x174;
    await c.controlEvents(0, EV.VCPU_EVENT_MSR, true);
    await c.controlMsr(0, MSR, true);
    const run = runTest(mc, T.MSR);
    const e = await c.nextEvent(EV.VCPU_EVENT_MSR);
    expect(e.data).toEqual({ kind: 'msr', msr: MSR, oldValue: 0n, newValue: 1n });
    c.replyValue(e, 0n); // keep the old value
    expect(isDone(await run)).toBe(true);
    expect(mc.vcpu.getMsrs([MSR]).get(MSR)).toBe(0n);
    const ctl = (msr: number, enable: number, extra: object = {}) => c.vcpuErrorOf(M.VCPU_CONTROL_MSR, 0, K.kvmi_vcpu_control_msr.encode({ msr, enable, ...extra }));
    expect(await ctl(MSR, 2)).toBe(-KVM_E.EINVAL);
    expect(await ctl(0xffffffff, 1)).toBe(-KVM_E.EINVAL);
    expect(await ctl(0x2000, 1)).toBe(-KVM_E.EINVAL);
    expect(await ctl(MSR, 1, { padding2: 1 })).toBe(-KVM_E.EINVAL);
    // Writes the userspace MSR filter forbids cannot be tracked.
    const S = x86_64.structs;
    const bitmap = mc.sys.alloc(4096);
    mc.sys.ioctl(mc.vm.fd, x86_64.ioctls.KVM_X86_SET_MSR_FILTER!.request, S.kvm_msr_filter.encode({ flags: 0, ranges: [{ flags: 2, nmsrs: 8, base: 0x170, bitmap: bitmap.hva }] }));
    expect(await ctl(MSR, 1)).toBe(-KVM_E.EPERM);
  });

  it('test_cmd_vm_set_page_access', async () => {
    const { c } = setup();
    await c.setPageAccess([{ gpa: 0, access: 0 }]);
    await c.setPageAccess([{ gpa: 0, access: KVMI_PAGE_ACCESS.R | KVMI_PAGE_ACCESS.W | KVMI_PAGE_ACCESS.X }]);
    const set = (entries: { gpa: number; access: number; padding?: number[] }[], extra: object = {}) => {
      const b = encodePageAccess(entries);
      K.kvmi_vm_set_page_access.encodeInto(extra, b);
      return c.errorOf(M.VM_SET_PAGE_ACCESS, b);
    };
    expect(await set([{ gpa: TEST_GPA, access: 8 }])).toBe(-KVM_E.EINVAL);
    expect(await set([{ gpa: TEST_GPA, access: 1, padding: [0, 0, 0, 1, 0, 0, 0] }])).toBe(-KVM_E.EINVAL);
    expect(await set([{ gpa: 0x10000000, access: 1 }])).toBe(-KVM_E.EINVAL);
    expect(await set([{ gpa: TEST_GPA, access: 1 }], { padding1: 1 })).toBe(-KVM_E.EINVAL);
    expect(await set([])).toBe(0);
  });

  it('test_event_pf: read-only page, the tool grants W and retries', async () => {
    const { mc, c } = setup();
    await c.setPageAccess([{ gpa: TEST_GPA, access: KVMI_PAGE_ACCESS.R }]);
    await c.controlEvents(0, EV.VCPU_EVENT_PF, true);
    new DataView(mc.ram.buffer, mc.ram.byteOffset).setBigUint64(PATTERN, 0xa5n, true);
    const run = runTest(mc, T.PF_WRITE);
    const e = await c.nextEvent(EV.VCPU_EVENT_PF);
    expect(e.data).toEqual({ kind: 'pf', gva: BigInt(TEST_GVA), gpa: BigInt(TEST_GPA), access: KVMI_PAGE_ACCESS.W });
    await c.setPageAccess([{ gpa: TEST_GPA, access: KVMI_PAGE_ACCESS.R | KVMI_PAGE_ACCESS.W }]);
    c.reply(e, RETRY);
    expect(isDone(await run)).toBe(true);
    expect(mc.slot1.bytes[0]).toBe(0xa5);
    await c.controlEvents(0, EV.VCPU_EVENT_PF, false);
    await c.setPageAccess([{ gpa: TEST_GPA, access: 7 }]);
  });

  it('test_cmd_vcpu_control_singlestep: not supported here (features.singlestep == 0)', async () => {
    const { c } = setup();
    expect((await c.getVersion()).singlestep).toBe(false);
    const ctl = (enable: number) => c.vcpuErrorOf(M.VCPU_CONTROL_SINGLESTEP, 0, K.kvmi_vcpu_control_singlestep.encode({ enable }));
    expect(await ctl(1)).toBe(-KVM_E.EOPNOTSUPP);
    expect(await ctl(2)).toBe(-KVM_E.EINVAL);
  });

  it('test_cmd_translate_gva', async () => {
    const { c } = setup();
    expect(await c.translateGva(0, TEST_GVA)).toBe(BigInt(TEST_GPA));
    expect(await c.translateGva(0, EXEC_GVA + 5)).toBe(BigInt(EXEC_GPA + 5));
    expect(await c.translateGva(0, 0x50000000)).toBe(0xffffffffffffffffn); // not mapped
    expect(await c.translateGva(0, -1n & 0xffffffffffffffffn)).toBe(0xffffffffffffffffn);
  });

  it('unhook_introspection: restrictions and events go, the tool sees the end', async () => {
    const { mc, c } = setup();
    await c.setPageAccess([{ gpa: TEST_GPA, access: 0 }]);
    await c.controlEvents(0, EV.VCPU_EVENT_PF, true);
    let closed = false;
    c.onClose(() => (closed = true));
    expect(errnoOf(() => mc.sys.ioctl(mc.vm.fd, IOCTL.UNHOOK))).toBe(0);
    await tick();
    expect(closed).toBe(true);
    new DataView(mc.ram.buffer, mc.ram.byteOffset).setBigUint64(PATTERN, 0x77n, true);
    const r = await runTest(mc, T.PF_WRITE);
    expect(isDone(r)).toBe(true);
    expect(r.intr).toBe(0);
    expect(mc.slot1.bytes[0]).toBe(0x77);
  });
});

describe('the wire', () => {
  it('a vCPU event is hdr + kvmi_event_hdr + kvmi_vcpu_event (544 bytes) + the event struct; replies echo id and seq', async () => {
    const { mc, c } = setup();
    await c.setPageAccess([{ gpa: TEST_GPA, access: KVMI_PAGE_ACCESS.R }]);
    await c.controlEvents(0, EV.VCPU_EVENT_PF, true);
    const run = runTest(mc, T.PF_WRITE);
    const e = await c.nextEvent();
    expect(e.size).toBe(8 + 544 + 24);
    expect(K.kvmi_vcpu_event.decode(e.raw, 8).size).toBe(544);
    expect(e.seq).toBeGreaterThan(0);
    expect(e.msrs!.efer).toBe(0x500n);
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    const r = await c.request(M.VM_GET_INFO);
    expect(r).toEqual({ err: 0, data: K.kvmi_vm_get_info_reply.encode({ vcpu_count: 1 }) });
  });

  it('an event reply with the wrong seq, or a larger reply struct, shuts the socket down', async () => {
    for (const bad of ['seq', 'size'] as const) {
      const { mc, c } = setup();
      await c.pauseVcpu(0);
      const run = runTest(mc, T.NOOP);
      const e = await c.nextEvent(EV.VCPU_EVENT_PAUSE);
      if (bad === 'seq') c.reply({ ...e, seq: e.seq + 1 }, CONTINUE);
      else c.reply(e, CONTINUE, new Uint8Array(8)); // PAUSE takes no reply struct
      // The vCPU is released (as with CONTINUE) and the connection ends.
      expect(isDone(await run)).toBe(true);
      await tick();
      expect(c.closed).toBe(true);
    }
  });

  it('a header announcing more than KVMI_MAX_MSG_SIZE drops the connection', async () => {
    const { c } = setup();
    c.sendRaw(K.kvmi_msg_hdr.encode({ id: M.GET_VERSION, size: KVMI_MAX_MSG_SIZE + 1, seq: 9 }));
    await tick();
    await tick();
    expect(c.closed).toBe(true);
  });

  it('shorter commands read as zero-padded (older tools keep working)', async () => {
    const { c } = setup();
    // VM_CHECK_COMMAND with only the id (2 bytes).
    expect(await c.errorOf(M.VM_CHECK_COMMAND, new Uint8Array([M.VM_GET_INFO, 0]))).toBe(0);
    expect(await c.errorOf(M.VM_CHECK_COMMAND, cat(new Uint8Array([0xff, 0xff])))).toBe(-KVM_E.ENOENT);
  });
});
