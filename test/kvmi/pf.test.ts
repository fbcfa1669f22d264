/**
 * The seed scenario of the issue (KVMI_VM_SET_PAGE_ACCESS + KVMI_VCPU_EVENT_PF): restrictions,
 * the three actions, forgetting, memslot moves and deletion, read/fetch restrictions, unhook.
 */
import { describe, expect, it } from 'vitest';
import { KVM_E, KVMI_EVENT, KVMI_EVENT_ACTION, KVMI_PAGE_ACCESS } from '../../src/uapi/kvmi.js';
import { EXEC_GPA, EXEC_GVA, hookInProcess, isDone, makeMachine, PATTERN, READ_RES, runTest, T, TEST_GPA, TEST_GVA, u64, type Machine } from './helpers.js';

const { CONTINUE, RETRY, CRASH } = KVMI_EVENT_ACTION;
const { R, W, X } = KVMI_PAGE_ACCESS;
const PF = KVMI_EVENT.VCPU_EVENT_PF;
const PAT = 0x0123456789abcdefn;

function setPattern(mc: Machine, v: bigint): void {
  new DataView(mc.ram.buffer, mc.ram.byteOffset).setBigUint64(PATTERN, v, true);
}

async function restricted(access: number) {
  const mc = makeMachine();
  const c = hookInProcess(mc);
  await c.setPageAccess([{ gpa: TEST_GPA, access }]);
  await c.controlEvents(0, PF, true);
  return { mc, c };
}

describe('seed scenario: read-only gpa, PF event, RETRY / CONTINUE', () => {
  it('RETRY after setting RW: the write lands and the VMM sees the pattern', async () => {
    const { mc, c } = await restricted(R);
    setPattern(mc, PAT);
    const run = runTest(mc, T.PF_WRITE);
    const e = await c.nextEvent(PF);
    expect(e.data).toEqual({ kind: 'pf', gva: BigInt(TEST_GVA), gpa: BigInt(TEST_GPA), access: W });
    expect(u64(mc.slot1.bytes, 0)).toBe(0n); // nothing written while the vCPU waits
    await c.setPageAccess([{ gpa: TEST_GPA, access: R | W }]);
    c.reply(e, RETRY);
    const r = await run;
    expect(isDone(r)).toBe(true);
    expect(r.intr).toBeGreaterThan(0); // the vCPU parked (KVM_RUN returned EINTR) until the reply
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
    // RW now: the next write goes through without an event.
    setPattern(mc, 42n);
    const r2 = await runTest(mc, T.PF_WRITE);
    expect(r2.intr).toBe(0);
    expect(u64(mc.slot1.bytes, 0)).toBe(42n);
  });

  it('CONTINUE on a still-restricted page: the access is emulated, and the next one is reported again', async () => {
    const { mc, c } = await restricted(R);
    setPattern(mc, PAT);
    const run = runTest(mc, T.PF_WRITE);
    const e = await c.nextEvent(PF);
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
    setPattern(mc, 7n);
    const run2 = runTest(mc, T.PF_WRITE);
    const e2 = await c.nextEvent(PF);
    expect(e2.data).toEqual(e.data);
    expect(e2.seq).toBeGreaterThan(e.seq);
    c.reply(e2, CONTINUE);
    expect(isDone(await run2)).toBe(true);
    expect(u64(mc.slot1.bytes, 0)).toBe(7n);
  });

  it('RETRY without changing anything: the instruction faults again', async () => {
    const { mc, c } = await restricted(R);
    setPattern(mc, PAT);
    const run = runTest(mc, T.PF_WRITE);
    const e1 = await c.nextEvent(PF);
    c.reply(e1, RETRY);
    const e2 = await c.nextEvent(PF);
    expect(e2.regs!.rip).toBe(e1.regs!.rip);
    expect(u64(mc.slot1.bytes, 0)).toBe(0n);
    c.reply(e2, CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
  });

  it('CRASH: the vCPU exits with KVM_EXIT_SHUTDOWN and the write does not happen', async () => {
    const { mc, c } = await restricted(R);
    setPattern(mc, PAT);
    const run = runTest(mc, T.PF_WRITE);
    c.reply(await c.nextEvent(PF), CRASH);
    const r = await run;
    expect(r.exit.reason).toBe('shutdown');
    expect(u64(mc.slot1.bytes, 0)).toBe(0n);
  });

  it('R|W|X forgets the gpa', async () => {
    const { mc, c } = await restricted(R);
    await c.setPageAccess([{ gpa: TEST_GPA, access: R | W | X }]);
    setPattern(mc, PAT);
    const r = await runTest(mc, T.PF_WRITE);
    expect(isDone(r)).toBe(true);
    expect(r.intr).toBe(0);
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
  });

  it('PF not enabled for the vCPU: no event, the access proceeds', async () => {
    const { mc, c } = await restricted(0);
    await c.controlEvents(0, PF, false);
    setPattern(mc, PAT);
    const r = await runTest(mc, T.PF_WRITE);
    expect(isDone(r)).toBe(true);
    expect(r.intr).toBe(0);
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
  });

  it('only restricted bits are reported: a write-protected page reads freely', async () => {
    const { mc, c } = await restricted(R | X);
    mc.slot1.bytes.set([9, 8, 7, 6, 5, 4, 3, 2]);
    const r = await runTest(mc, T.PF_READ);
    expect(r.intr).toBe(0);
    expect(u64(mc.ram, READ_RES)).toBe(0x0203040506070809n);
    void c;
  });

  it('a read of a page without R: access R, gva and gpa of the read', async () => {
    const { mc, c } = await restricted(W | X);
    mc.slot1.bytes.set([1, 2, 3, 4, 5, 6, 7, 8]);
    const run = runTest(mc, T.PF_READ);
    const e = await c.nextEvent(PF);
    expect(e.data).toEqual({ kind: 'pf', gva: BigInt(TEST_GVA), gpa: BigInt(TEST_GPA), access: R });
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(u64(mc.ram, READ_RES)).toBe(0x0807060504030201n);
  });

  it('a fetch from a page without X: access X, gva == RIP; every instruction there is reported', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    await c.setPageAccess([{ gpa: EXEC_GPA, access: R | W }]);
    await c.controlEvents(0, PF, true);
    const run = runTest(mc, T.PF_EXEC);
    const e = await c.nextEvent(PF);
    expect(e.data).toEqual({ kind: 'pf', gva: BigInt(EXEC_GVA), gpa: BigInt(EXEC_GPA), access: X });
    expect(e.regs!.rip).toBe(BigInt(EXEC_GVA));
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    // Again, this time lifting the restriction and retrying.
    const run2 = runTest(mc, T.PF_EXEC);
    const e2 = await c.nextEvent(PF);
    await c.setPageAccess([{ gpa: EXEC_GPA, access: R | W | X }]);
    c.reply(e2, RETRY);
    expect(isDone(await run2)).toBe(true);
    const r3 = await runTest(mc, T.PF_EXEC);
    expect(r3.intr).toBe(0);
  });

  it('one command, several entries: all applied, the first error returned', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    await c.controlEvents(0, PF, true);
    const err = await c.errorOf(
      0x14,
      (await import('../../src/index.js')).encodePageAccess([
        { gpa: 0x10000000, access: 0 }, // not visible
        { gpa: TEST_GPA, access: R }, // applied
        { gpa: TEST_GPA + 0x1000, access: 9 }, // bad bits
      ]),
    );
    expect(err).toBe(-KVM_E.EINVAL);
    setPattern(mc, PAT);
    const run = runTest(mc, T.PF_WRITE);
    const e = await c.nextEvent(PF);
    expect((e.data as { gpa: bigint }).gpa).toBe(BigInt(TEST_GPA));
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
  });

  it('a message too short for its entries ends the connection (the handler returns -EINVAL)', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    const body = (await import('../../src/index.js')).encodePageAccess([{ gpa: TEST_GPA, access: 0 }], 2);
    await expect(c.request(0x14, body)).rejects.toThrow(/closed/);
    expect(c.closed).toBe(true);
    // Nothing was applied: the guest writes freely.
    setPattern(mc, PAT);
    const r = await runTest(mc, T.PF_WRITE);
    expect(r.intr).toBe(0);
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
  });
});

describe('restrictions belong to gfns and follow memslots', () => {
  it('moving the slot away drops the tracking (MMIO there), moving it back re-applies it', async () => {
    const { mc, c } = await restricted(R);
    // Move slot 1 away: TEST_GPA is no longer visible.
    mc.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x800000, memorySize: 0x2000, userspaceAddr: mc.slot1.hva });
    expect(await c.errorOf(0x14, (await import('../../src/index.js')).encodePageAccess([{ gpa: TEST_GPA, access: R }]))).toBe(-KVM_E.EINVAL);
    setPattern(mc, PAT);
    const away = await runTest(mc, T.PF_WRITE);
    expect(away.exit.reason).toBe('mmio'); // no memory at TEST_GPA: an MMIO exit, no PF event
    expect(away.intr).toBe(0);
    if (away.exit.reason === 'mmio') expect(away.exit.physAddr).toBe(BigInt(TEST_GPA));
    // Move it back (the MMIO write completes on the next run first).
    mc.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: TEST_GPA, memorySize: 0x2000, userspaceAddr: mc.slot1.hva });
    const back = await runTest(mc, T.NOOP);
    expect(isDone(back)).toBe(true);
    const run = runTest(mc, T.PF_WRITE);
    const e = await c.nextEvent(PF);
    expect(e.data).toEqual({ kind: 'pf', gva: BigInt(TEST_GVA), gpa: BigInt(TEST_GPA), access: W });
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
  });

  it('a slot moved under a restricted gfn: the restriction holds for the gfn, whatever memory backs it', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    await c.controlEvents(0, PF, true);
    await c.setPageAccess([{ gpa: EXEC_GPA, access: R | X }]);
    // Slot 1 moves up a page: its first page now backs EXEC_GPA. The guest maps TEST_GVA there.
    mc.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: EXEC_GPA, memorySize: 0x2000, userspaceAddr: mc.slot1.hva });
    new DataView(mc.ram.buffer, mc.ram.byteOffset).setBigUint64(0x6000, BigInt(EXEC_GPA) | 3n, true);
    setPattern(mc, PAT);
    const run = runTest(mc, T.PF_WRITE);
    const e = await c.nextEvent(PF);
    expect(e.data).toEqual({ kind: 'pf', gva: BigInt(TEST_GVA), gpa: BigInt(EXEC_GPA), access: W });
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
  });

  it('deleting the slot keeps the entry; re-creating the slot re-applies it', async () => {
    const { mc, c } = await restricted(R);
    mc.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: TEST_GPA, memorySize: 0, userspaceAddr: mc.slot1.hva });
    mc.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: TEST_GPA, memorySize: 0x2000, userspaceAddr: mc.slot1.hva });
    setPattern(mc, PAT);
    const run = runTest(mc, T.PF_WRITE);
    const e = await c.nextEvent(PF);
    expect((e.data as { gpa: bigint }).gpa).toBe(BigInt(TEST_GPA));
    c.reply(e, CONTINUE);
    expect(isDone(await run)).toBe(true);
  });

  it('unhook clears every restriction', async () => {
    const { mc } = await restricted(0);
    mc.sys.ioctl(mc.vm.fd, 0xaec9);
    setPattern(mc, PAT);
    const r = await runTest(mc, T.PF_WRITE);
    expect(r.intr).toBe(0);
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
  });

  it('the tool closing its end releases a waiting vCPU (CONTINUE) and stops events', async () => {
    const { mc, c } = await restricted(R);
    setPattern(mc, PAT);
    const run = runTest(mc, T.PF_WRITE);
    await c.nextEvent(PF);
    c.close();
    expect(isDone(await run)).toBe(true);
    expect(u64(mc.slot1.bytes, 0)).toBe(PAT);
    setPattern(mc, 5n);
    const r2 = await runTest(mc, T.PF_WRITE);
    expect(r2.intr).toBe(0);
    expect(u64(mc.slot1.bytes, 0)).toBe(5n);
  });
});
