/**
 * Issue 19 item 2: KVMI_VCPU_TRANSLATE_GVA when the guest's page tables are outside every
 * memslot, in a memslot whose memory was munmapped, or in MMIO. The kernel's walker fails and the
 * reply is gpa ~0 (err 0), like any other untranslatable gva; nothing escapes to the VMM, the
 * socket stays up, and the next KVM_RUN works.
 */
import { describe, expect, it } from 'vitest';
import { isDone, hookInProcess, makeMachine, runTest, T, TEST_GPA, TEST_GVA } from '../kvmi/helpers.js';

const NONE = 0xffff_ffff_ffff_ffffn;

describe('KVMI translate-gva with page tables the kernel cannot read (issue 19 item 2)', () => {
  it.each([
    ['outside every memslot', 0x1000_0000],
    ['in a munmapped memslot', -1],
    ['in MMIO (beyond RAM)', 0x30_0000],
  ])('page tables %s: gpa ~0, the tool keeps working, KVM_RUN works after', async (_name, at) => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    expect(await c.translateGva(0, TEST_GVA)).toBe(BigInt(TEST_GPA));
    let cr3 = at;
    if (at < 0) {
      // A memslot whose backing the VMM unmapped: the kernel's copy from it fails (EFAULT).
      const mem = mc.sys.alloc(0x2000);
      mem.bytes.set(mc.ram.subarray(0x2000, 0x3000)); // a copy of the PML4
      mc.vm.setUserMemoryRegion({ slot: 2, guestPhysAddr: 0x80_0000, memorySize: 0x2000, userspaceAddr: mem.hva });
      mc.sys.munmap(mem.bytes);
      cr3 = 0x80_0000;
    }
    const saved = mc.vcpu.getSregs();
    mc.vcpu.setSregs({ cr3: BigInt(cr3) });
    for (let i = 0; i < 3; i++) expect(await c.translateGva(0, TEST_GVA + i * 0x1000)).toBe(NONE);
    // The socket is still served: other commands answer.
    expect((await c.getInfo()).vcpuCount).toBe(1);
    mc.vcpu.setSregs({ cr3: saved.cr3 });
    expect(await c.translateGva(0, TEST_GVA)).toBe(BigInt(TEST_GPA));
    const r = await runTest(mc, T.NOOP);
    expect(isDone(r)).toBe(true);
  });

  it('a translate-gva read by KVM_RUN itself (not the event loop) answers too, and KVM_RUN goes on', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    mc.vcpu.setSregs({ cr3: 0x1000_0000n });
    const reply = c.translateGva(0, TEST_GVA);
    // KVM_RUN reads the socket on entry: the command runs inside it.
    const e = mc.vcpu.run();
    expect(e.reason).toBe('internal_error');
    expect(await reply).toBe(NONE);
    mc.vcpu.setSregs({ cr3: 0x2000n });
    expect(await c.translateGva(0, TEST_GVA)).toBe(BigInt(TEST_GPA));
  });

  it('KVM_RUN with those page tables still answers as KVM does (no raw object escapes)', async () => {
    const mc = makeMachine();
    const c = hookInProcess(mc);
    mc.vcpu.setSregs({ cr3: 0x1000_0000n });
    expect(await c.translateGva(0, TEST_GVA)).toBe(NONE);
    // The guest's own fetch walks tables outside every memslot: KVM's emulation failure exit.
    const e = await runTest(mc, T.NOOP);
    expect(e.exit.reason).toBe('internal_error');
  });
});
