/**
 * The TDX module model on its own (the SEAMCALL state machine KVM relies on), and through a TD:
 * Secure-EPT walks, the BLOCK -> TRACK -> REMOVE discipline with epochs and vCPUs in guest mode,
 * contention (TDX_OPERAND_BUSY) and KVM's retries, and the MRTD measurement.
 */
import { describe, expect, it } from 'vitest';
import { KVM_MEMORY_ATTRIBUTE, virtualSys } from '../../src/index.js';
import { tdxModuleOf, TDX_STATUS } from '../../src/arch/x86/tdx/index.js';
import { HkidPool, TDCS_PAGES, TdxModule } from '../../src/arch/x86/tdx/module.js';
import { tdFirmware, TestTd } from './td.js';

const page = () => ({ bytes: new Uint8Array(4096), offset: 0 });
const ST = TDX_STATUS;

/** A module with a created and initialized TD (GPAW 48) and one vCPU. */
function initialized(): TdxModule {
  const m = new TdxModule(new HkidPool());
  expect(m.mngCreate(32)).toBe(ST.SUCCESS);
  expect(m.mngKeyConfig()).toBe(ST.SUCCESS);
  for (let i = 0; i < TDCS_PAGES; i++) expect(m.mngAddcx()).toBe(ST.SUCCESS);
  expect(m.mngInit({ attributes: 0n, xfam: 3n, gpaw: 48, maxVcpus: 4 })).toBe(ST.SUCCESS);
  expect(m.vpCreateAndInit().status).toBe(ST.SUCCESS);
  return m;
}

describe('TDX module model: the SEAMCALL state machine', () => {
  it('Secure-EPT tables first: a leaf SEAMCALL without them is TDX_EPT_WALK_FAILED', () => {
    const m = initialized();
    const gpa = 0x123000n;
    expect(m.pageAdd(gpa, page(), new Uint8Array(4096))).toBe(ST.EPT_WALK_FAILED | 1n);
    expect(m.missingTables(gpa)).toEqual([3, 2, 1]);
    expect(m.septAdd(gpa, 1)).toBe(ST.EPT_WALK_FAILED | 1n); // the parent (level 2) is missing
    for (const l of m.missingTables(gpa)) expect(m.septAdd(gpa, l)).toBe(ST.SUCCESS);
    expect(m.septAdd(gpa, 1)).toBe(ST.EPT_ENTRY_NOT_FREE | 1n);
    expect(m.septAdd((1n << 47n) | gpa, 1)).toBe(ST.OPERAND_INVALID | 1n); // shared GPA
    expect(m.stats.septPagesAdded).toBe(3);
  });

  it('PAGE.ADD before finalize only; AUG after finalize only; ACCEPT moves PENDING to MAPPED and zeroes', () => {
    const m = initialized();
    const gpa = 0x10000n;
    for (const l of m.missingTables(gpa)) m.septAdd(gpa, l);
    expect(m.pageAug(gpa, page())).toBe(ST.OP_STATE_INCORRECT);
    const src = new Uint8Array(4096).fill(0xab);
    const p = page();
    expect(m.pageAdd(gpa, p, src)).toBe(ST.SUCCESS);
    expect(p.bytes[100]).toBe(0xab);
    expect(m.pageAdd(gpa, page(), src)).toBe(ST.EPT_ENTRY_NOT_FREE | 1n);
    expect(m.mrFinalize()).toBe(ST.SUCCESS);
    expect(m.mrFinalize()).toBe(ST.OP_STATE_INCORRECT);
    expect(m.pageAdd(gpa + 0x1000n, page(), src)).toBe(ST.OP_STATE_INCORRECT);
    const q = page();
    q.bytes.fill(0x77);
    expect(m.pageAug(gpa + 0x1000n, q)).toBe(ST.SUCCESS);
    expect(m.lookup(0x11)).toBe('pending');
    expect(m.accept(gpa + 0x1000n, 0, 0)).toBe(ST.SUCCESS);
    expect(q.bytes.every((b) => b === 0)).toBe(true);
    expect(m.lookup(0x11)).toBe(q);
    expect(m.accept(gpa + 0x1000n, 0, 0)).toBe(ST.PAGE_ALREADY_ACCEPTED | 1n);
    expect(m.accept(gpa + 0x2000n, 0, 0)).toBe('violation'); // not mapped: an EPT violation to KVM
  });

  it('REMOVE needs BLOCK and a TRACK that no vCPU in guest mode still holds back', () => {
    const m = initialized();
    const gpa = 0x20000n;
    for (const l of m.missingTables(gpa)) m.septAdd(gpa, l);
    m.mrFinalize();
    m.pageAug(gpa, page());
    m.accept(gpa, 0, 0);
    expect(m.pageRemove(gpa).status).toBe(ST.GPA_RANGE_NOT_BLOCKED | 1n);
    // vCPU 0 enters with epoch 1 and stays in guest mode.
    expect(m.vpEnter(0)).toEqual({ status: ST.SUCCESS, flushed: false });
    expect(m.rangeBlock(gpa)).toBe(ST.SUCCESS);
    expect(m.rangeBlock(gpa)).toBe(ST.GPA_RANGE_ALREADY_BLOCKED | 1n);
    expect(m.lookup(0x20)).toBe('violation'); // no new translations for a blocked page
    expect(m.pageRemove(gpa).status).toBe(ST.TLB_TRACKING_NOT_DONE | 1n); // no TRACK yet
    expect(m.track()).toBe(ST.SUCCESS); // epoch 1 -> 2: nobody runs in epoch 0
    expect(m.epoch).toBe(2);
    expect(m.pageRemove(gpa).status).toBe(ST.TLB_TRACKING_NOT_DONE | 1n); // vCPU 0 still in epoch 1
    expect(m.track()).toBe(ST.PREVIOUS_TLB_EPOCH_BUSY); // cannot move to 3 while epoch 1 runs
    m.vpExit(0, 'test');
    const r = m.pageRemove(gpa);
    expect(r.status).toBe(ST.SUCCESS);
    expect(r.page).toBeDefined();
    // The next entry of vCPU 0 flushes its TLB: it last ran in epoch 1.
    expect(m.vpEnter(0)).toEqual({ status: ST.SUCCESS, flushed: true });
    expect(m.vcpuStats(0)).toMatchObject({ epoch: 2, flushes: 1, entries: 2 });
    expect(m.stats).toMatchObject({ pagesBlocked: 1, tracks: 1, pagesRemoved: 1, tlbFlushes: 1 });
  });

  it('HKID release and reclaim: pages come back only after KEY.FREEID', () => {
    const pool = new HkidPool();
    const m = new TdxModule(pool);
    const hkid = pool.alloc();
    m.mngCreate(hkid);
    m.mngKeyConfig();
    for (let i = 0; i < TDCS_PAGES; i++) m.mngAddcx();
    m.mngInit({ attributes: 0n, xfam: 3n, gpaw: 48, maxVcpus: 1 });
    expect(m.vpCreateAndInit().status).toBe(ST.SUCCESS);
    expect(m.vpCreateAndInit().status).toBe(ST.MAX_VCPUS_EXCEEDED);
    expect(m.reclaimAll(() => {})).toBe(ST.OP_STATE_INCORRECT); // HKID still assigned
    expect(pool.inUse).toBe(1);
    expect(m.releaseHkid()).toBe(ST.SUCCESS);
    expect(pool.inUse).toBe(0);
    expect(m.reclaimAll(() => {})).toBe(ST.SUCCESS);
    expect(m.stats.reclaimed.control).toBe(1 + 5 + TDCS_PAGES + 1);
  });
});

describe('TDX module model under KVM', () => {
  it('SEPT contention (TDX_OPERAND_BUSY) is retried by KVM, on faults and on zaps', () => {
    const sys = virtualSys();
    const td = new TestTd(sys).build();
    const dbg = tdxModuleOf(sys, td.vmFd)!;
    const m = dbg.module;
    m.injectBusy('TDH_MEM_PAGE_AUG', 2);
    m.injectBusy('TDH_MEM_SEPT_ADD', 1);
    const v = td.vcpus[0]!;
    v.run(); // GPAW
    v.run(); // ATTRIBUTES
    expect(v.run().reason).toBe('io'); // the stack page: SEPT.ADD + AUG (busy twice) + ACCEPT
    expect(m.stats.busy).toBe(3);
    expect(dbg.kvm.retries).toBe(3);
    expect(m.stats.seamcalls.TDH_MEM_PAGE_AUG).toBe(3);
    expect(m.septState(0x1ef)).toBe('MAPPED');
    // Zap with every step contended once.
    m.injectBusy('TDH_MEM_RANGE_BLOCK');
    m.injectBusy('TDH_MEM_TRACK');
    m.injectBusy('TDH_MEM_PAGE_REMOVE');
    td.vm.setMemoryAttributes(0x1ef000, 0x1000, 0);
    expect(m.septState(0x1ef)).toBeUndefined();
    expect(dbg.kvm.retries).toBe(6);
    expect(m.stats).toMatchObject({ pagesBlocked: 1, tracks: 1, pagesRemoved: 1 });
    // Converting it back and re-accepting works (the guest would see a zeroed page).
    td.vm.setMemoryAttributes(0x1ef000, 0x1000, KVM_MEMORY_ATTRIBUTE.PRIVATE);
    expect(dbg.mirrorGfns).not.toContain(0x1ef);
  });

  it('memslot deletion zaps the private pages of the slot through the module', () => {
    const sys = virtualSys();
    const td = new TestTd(sys).build();
    const dbg = tdxModuleOf(sys, td.vmFd)!;
    const v = td.vcpus[0]!;
    for (let n = 0; n < 4; n++) v.run(); // 5 RAM pages accepted
    const mapped = dbg.mirrorGfns.filter((g) => g < 0x200).length;
    expect(mapped).toBe(5);
    td.vm.setUserMemoryRegion2({ slot: 0, guestPhysAddr: 0, memorySize: 0, userspaceAddr: 0 });
    expect(dbg.mirrorGfns.filter((g) => g < 0x200)).toEqual([]);
    expect(dbg.stats.pagesRemoved).toBe(5);
    expect(dbg.stats.pagesBlocked).toBe(5);
  });

  it('MRTD: measured builds of the same image match, a changed byte or an unmeasured build does not', () => {
    const mrtd = (patch?: (fw: Uint8Array) => void, measure = true) => {
      const sys = virtualSys();
      const fw = tdFirmware().slice();
      patch?.(fw);
      const t = new TestTd(sys, { measure, firmware: fw }).build();
      return Buffer.from(tdxModuleOf(sys, t.vmFd)!.module.mrtdValue!).toString('hex');
    };
    const a = mrtd();
    expect(mrtd()).toBe(a);
    expect(mrtd((b) => (b[0xfff8] = b[0xfff8]! ^ 1))).not.toBe(a);
    expect(mrtd(undefined, false)).not.toBe(a);
    expect(a).toHaveLength(96);
  });
});
