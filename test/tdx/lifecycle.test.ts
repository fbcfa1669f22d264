/**
 * A complete TD lifecycle on the virtual backend: KVM_CREATE_VM(KVM_X86_TDX_VM) to a TD guest that
 * accepts memory, does port IO and MMIO through TDG.VP.VMCALL and through #VE, converts pages
 * private -> shared with MapGPA, talks to the VMM with KVM_EXIT_TDX, reports a fatal error and
 * halts; then VM destruction. Every exit's fields and the TDX module's counters are asserted.
 */
import { describe, expect, it } from 'vitest';
import { KVM_EXIT, KVM_MEMORY_ATTRIBUTE, KVM_MEMORY_EXIT_FLAG, KVM_MP_STATE, KVM_SYSTEM_EVENT, virtualSys, x86_64, type VcpuExit } from '../../src/index.js';
import { tdxModuleOf } from '../../src/arch/x86/tdx/index.js';
import { KVM_TDX } from '../../src/uapi/x86.js';
import { KVM_HC_MAP_GPA_RANGE, TestTd } from './td.js';

const TDVMCALL_SUBFUNC_UNSUPPORTED = 0x8000000000000003n;

/** Expects an OUT of 4 bytes to the guest's report port and returns the value. */
function report(e: VcpuExit): number {
  expect(e.reason).toBe('io');
  if (e.reason !== 'io') throw new Error('not io');
  expect({ port: e.port, direction: e.direction, size: e.size, count: e.count }).toEqual({ port: 0xe0, direction: 'out', size: 4, count: 1 });
  return new DataView(e.data.buffer, e.data.byteOffset, 4).getUint32(0, true);
}

function narrow<R extends VcpuExit['reason']>(e: VcpuExit, reason: R): Extract<VcpuExit, { reason: R }> {
  expect(e.reason).toBe(reason);
  return e as Extract<VcpuExit, { reason: R }>;
}

const str4 = (v: number) => String.fromCharCode(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);

describe('TDX: a TD from KVM_CREATE_VM to destruction', () => {
  it('runs the lifecycle guest and the TDX module does what the TDP MMU patch says', () => {
    const sys = virtualSys();
    const td = new TestTd(sys, { vcpus: 2, scenario: (i) => i }).build();
    const dbg = tdxModuleOf(sys, td.vmFd)!;
    expect(dbg.state).toBe('RUNNABLE');
    const st = dbg.stats;
    // The build: 16 firmware pages added and measured (16 x 256-byte TDH.MR.EXTEND each).
    expect(st.pagesAdded).toBe(16);
    expect(st.mrExtends).toBe(16 * 16);
    expect(dbg.module.mrtdValue).toHaveLength(48);
    expect(st.seamcalls.TDH_MNG_CREATE).toBe(1);
    expect(st.seamcalls.TDH_VP_INIT).toBe(2);
    // Page 0x1c0000 stays shared for the implicit-conversion step.
    td.vm.setMemoryAttributes(0x1c0000, 4096, 0);

    const [v0, v1] = td.vcpus as [typeof td.vcpus[0], typeof td.vcpus[0]];
    // vCPU 1 enters once (its TLB epoch is the TD's first epoch) and reports its index.
    const e1 = narrow(v1.run(), 'io');
    expect({ port: e1.port, value: e1.data[0] }).toEqual({ port: 0xe1, value: 1 });
    expect(dbg.module.vcpuStats(1)).toMatchObject({ epoch: 1, flushes: 0 });

    // 1. TDG.VP.INFO: GPAW and ATTRIBUTES.
    expect(report(v0.run())).toBe(48);
    expect(report(v0.run())).toBe(0);
    // 2. TDG.MEM.PAGE.ACCEPT of a page KVM has not mapped: EPT violation -> SEPT.ADD + AUG -> success.
    const augBefore = st.pagesAugmented;
    expect(report(v0.run())).toBe(0);
    // ... then four data pages; a second accept is TDX_PAGE_ALREADY_ACCEPTED (0x00000B0A << 32).
    expect(report(v0.run())).toBe(0xb0a);
    expect(st.pagesAugmented - augBefore).toBe(5);
    expect(st.pagesAccepted).toBe(5);
    expect(dbg.module.septCounts()).toMatchObject({ MAPPED: 16 + 5, PENDING: 0 });

    // 3. Port IO through TDG.VP.VMCALL<Instruction.IO>: OUT then IN (data through the PIO page).
    let e = narrow(v0.run(), 'io');
    expect({ port: e.port, dir: e.direction, size: e.size, count: e.count, data: [...e.data] }).toEqual({ port: 0x80, dir: 'out', size: 1, count: 1, data: [0x42] });
    expect(v0.kvmRun.io.data_offset).toBe(4096n);
    e = narrow(v0.run(), 'io');
    expect({ port: e.port, dir: e.direction, size: e.size }).toEqual({ port: 0x81, dir: 'in', size: 2 });
    e.data.set([0xef, 0xbe]);
    expect(report(v0.run())).toBe(0xbeef);

    // 4. Port IO through #VE: the guest's OUT/IN trap, its #VE handler forwards them.
    e = narrow(v0.run(), 'io');
    expect({ port: e.port, dir: e.direction, size: e.size, data: [...e.data] }).toEqual({ port: 0x82, dir: 'out', size: 1, data: [0x77] });
    e = narrow(v0.run(), 'io');
    expect({ port: e.port, dir: e.direction, size: e.size }).toEqual({ port: 0x83, dir: 'in', size: 1 });
    e.data[0] = 0x5a;
    expect(report(v0.run())).toBe(0x5a);
    expect(dbg.kvm.ve[30]).toBe(2);

    // 5. MMIO through TDG.VP.VMCALL<#VE.RequestMMIO>: phys_addr without the shared bit.
    let m = narrow(v0.run(), 'mmio');
    expect({ addr: m.physAddr, len: m.len, write: m.isWrite, data: [...m.data] }).toEqual({ addr: 0xc0000000n, len: 4, write: true, data: [0xbe, 0xba, 0xfe, 0xca] });
    m = narrow(v0.run(), 'mmio');
    expect({ addr: m.physAddr, len: m.len, write: m.isWrite }).toEqual({ addr: 0xc0000008n, len: 8, write: false });
    new DataView(m.data.buffer, m.data.byteOffset, 8).setBigUint64(0, 0x1122334455667788n, true);
    expect(report(v0.run())).toBe(0x55667788);
    expect(report(v0.run())).toBe(0x11223344);

    // 6. MMIO through #VE: the first access installs the MMIO SPTE (suppress-#VE clear), the guest
    //    takes #VE(EPT violation), TDG.VP.VEINFO.GET gives it the GPA, it issues TDVMCALL<MMIO>.
    const veBefore = dbg.kvm.ve[48] ?? 0;
    m = narrow(v0.run(), 'mmio');
    expect({ addr: m.physAddr, len: m.len, write: m.isWrite, data: [...m.data] }).toEqual({ addr: 0xc0000010n, len: 4, write: true, data: [0xed, 0xfe, 0x0d, 0xd0] });
    expect(dbg.kvm.mmioSpteInstalls).toBe(1);
    m = narrow(v0.run(), 'mmio');
    expect({ addr: m.physAddr, len: m.len, write: m.isWrite }).toEqual({ addr: 0xc0000010n, len: 4, write: false });
    m.data.set([0x0d, 0xf0, 0x0d, 0x60]);
    expect(report(v0.run())).toBe(0x600df00d);
    expect((dbg.kvm.ve[48] ?? 0) - veBefore).toBe(2);
    expect(dbg.kvm.mmioSpteInstalls).toBe(1); // the second access hits the installed SPTE

    // 7. CPUID: leaf 0 from the TDX module, 0x40000000 from KVM (TDVMCALL and #VE paths).
    expect(str4(report(v0.run()))).toBe('Genu');
    expect(str4(report(v0.run()))).toBe('KVMK');
    expect(str4(report(v0.run()))).toBe('KVMK');
    expect(dbg.kvm.ve[10]).toBe(1);

    // 8. MSRs: IA32_APIC_BASE as KVM emulates it for a TD (x2APIC, enabled, BSP), MISC_ENABLE via #VE.
    expect(report(v0.run())).toBe(0xfee00d00);
    expect(report(v0.run())).toBe(1);
    expect(dbg.kvm.ve[31]).toBe(1);

    // 9. GetTdVmCallInfo(1) -> KVM_EXIT_TDX with the get_tdvmcall_info layout.
    let t = narrow(v0.run(), 'tdx');
    expect({ flags: t.flags, nr: t.nr, ret: t.ret, leaf: t.data[0] }).toEqual({ flags: 0n, nr: 0x10000n, ret: 0n, leaf: 1n });
    expect(t.call).toMatchObject({ kind: 'get_tdvmcall_info', leaf: 1n });
    if (t.call.kind === 'get_tdvmcall_info') t.call.setInfo({ r11: 0x2n });
    expect(v0.kvmRun.tdx.get_tdvmcall_info.r11).toBe(0x2n);
    expect(report(v0.run())).toBe(0); // R10
    expect(report(v0.run())).toBe(2); // R11 from userspace

    // 10. SetupEventNotifyInterrupt -> KVM_EXIT_TDX (ret preset SUBFUNC_UNSUPPORTED, vector).
    t = narrow(v0.run(), 'tdx');
    expect({ nr: t.nr, ret: t.ret, vector: v0.kvmRun.tdx.setup_event_notify.vector }).toEqual({ nr: 0x10004n, ret: TDVMCALL_SUBFUNC_UNSUPPORTED, vector: 0xecn });
    expect(t.call).toEqual({ kind: 'setup_event_notify', vector: 0xecn });
    t.setRet(0n);
    expect(v0.kvmRun.tdx.setup_event_notify.ret).toBe(0n);
    expect(report(v0.run())).toBe(0);

    // 11. MapGPA of three accepted private pages -> KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE).
    const h = narrow(v0.run(), 'hypercall');
    expect({ nr: h.nr, gpa: h.args[0], npages: h.args[1], attrs: h.args[2], flags: h.flags, ret: v0.kvmRun.hypercall.ret }).toEqual({ nr: BigInt(KVM_HC_MAP_GPA_RANGE), gpa: 0x100000n, npages: 3n, attrs: 0n, flags: 1n, ret: 0n });
    const before = { block: st.pagesBlocked, track: st.tracks, remove: st.pagesRemoved, epoch: dbg.module.epoch, seq: dbg.module.events.at(-1)!.seq };
    // The VMM flips the attributes; KVM zaps the private mappings through the TDX module.
    td.vm.setMemoryAttributes(h.args[0]!, h.args[1]! * 4096n, 0);
    const N = 3;
    expect(st.pagesBlocked - before.block).toBe(N);
    expect(st.tracks - before.track).toBeGreaterThanOrEqual(1);
    expect(dbg.module.epoch - before.epoch).toBe(st.tracks - before.track);
    expect(st.pagesRemoved - before.remove).toBe(N);
    // Per page: BLOCK, then TRACK, then REMOVE (the order tdx_sept_remove_private_spte issues them).
    const zapLog = dbg.module.events.filter((x) => x.seq > before.seq).map((x) => x.leaf).filter((l) => l.startsWith('TDH_MEM_'));
    expect(zapLog).toEqual(Array.from({ length: N }, () => ['TDH_MEM_RANGE_BLOCK', 'TDH_MEM_TRACK', 'TDH_MEM_PAGE_REMOVE']).flat());
    expect(dbg.mirrorGfns).not.toContain(0x100);
    h.setRet(0n);
    expect(report(v0.run())).toBe(0); // R10 = success
    // Every vCPU is flushed before its next entry: vCPU 0 just re-entered, vCPU 1 does now.
    expect(dbg.module.vcpuStats(0)).toMatchObject({ epoch: dbg.module.epoch, flushes: 1 });
    const flushes1 = dbg.module.vcpuStats(1)!.flushes;
    const e1b = narrow(v1.run(), 'io');
    expect(e1b.port).toBe(0xe1);
    expect(dbg.module.vcpuStats(1)).toMatchObject({ epoch: dbg.module.epoch, flushes: flushes1 + 1 });
    const v1Log = dbg.module.events.filter((x) => x.seq > before.seq && x.vcpu === 1).map((x) => x.leaf);
    expect(v1Log.slice(0, 2)).toEqual(['TLB_FLUSH', 'TDH_VP_ENTER']);

    // 12. GetQuote on the shared page -> KVM_EXIT_TDX with the get_quote layout (gpa w/o shared bit).
    t = narrow(v0.run(), 'tdx');
    // Before it, the guest wrote "HELLO" through the shared alias: the VMM sees it in its memory.
    expect(new TextDecoder().decode(td.ram.bytes.subarray(0x100000, 0x100005))).toBe('HELLO');
    expect({ nr: t.nr, ret: t.ret, gpa: v0.kvmRun.tdx.get_quote.gpa, size: v0.kvmRun.tdx.get_quote.size }).toEqual({ nr: 0x10002n, ret: TDVMCALL_SUBFUNC_UNSUPPORTED, gpa: 0x100000n, size: 0x1000n });
    expect(t.call).toEqual({ kind: 'get_quote', gpa: 0x100000n, size: 0x1000n });
    new DataView(td.ram.bytes.buffer, td.ram.bytes.byteOffset).setUint32(0x100010, 0x0071a7e5, true);
    t.setRet(0n);
    expect(report(v0.run())).toBe(0);
    expect(report(v0.run())).toBe(0x0071a7e5);

    // 13. Implicit conversions: KVM_EXIT_MEMORY_FAULT for a private access to a shared gfn ...
    let f = narrow(v0.run(), 'memory_fault');
    expect({ flags: f.flags, gpa: f.gpa, size: f.size }).toEqual({ flags: BigInt(KVM_MEMORY_EXIT_FLAG.PRIVATE), gpa: 0x1c0000n, size: 4096n });
    td.vm.setMemoryAttributes(0x1c0000, 4096, KVM_MEMORY_ATTRIBUTE.PRIVATE);
    expect(report(v0.run())).toBe(0x11111111);
    // ... and for a shared access to a private gfn.
    f = narrow(v0.run(), 'memory_fault');
    expect({ flags: f.flags, gpa: f.gpa, size: f.size }).toEqual({ flags: 0n, gpa: 0x1d0000n, size: 4096n });
    td.vm.setMemoryAttributes(0x1d0000, 4096, 0);
    expect(report(v0.run())).toBe(0x22222222);
    expect(new DataView(td.ram.bytes.buffer, td.ram.bytes.byteOffset).getUint32(0x1d0000, true)).toBe(0x22222222);
    expect(dbg.kvm.memoryFaultExits).toBe(2);

    // 14. A never-accepted private page: AUG (PENDING), #VE, the guest accepts, the read gives 0.
    const pendingVe = dbg.kvm.ve[48]!;
    expect(report(v0.run())).toBe(0);
    expect(dbg.kvm.ve[48]! - pendingVe).toBe(1);
    expect(dbg.module.septState(0x180)).toBe('MAPPED');

    // 15. ReportFatalError -> KVM_EXIT_SYSTEM_EVENT(TDX_FATAL) with 16 GPRs in VCPU_REGS order.
    const fe = narrow(v0.run(), 'system_event');
    expect(fe.type).toBe(KVM_SYSTEM_EVENT.TDX_FATAL);
    expect(fe.data).toHaveLength(16);
    expect(fe.data[0]).toBe(77n); // vp_enter_ret: EXIT_REASON_TDCALL
    expect(fe.data[1]).toBe(0xffccn); // RCX: the exposed-register bitmap
    expect(fe.data[3]).toBe(0xb0bn); // RBX
    expect([fe.data[4], fe.data[5]]).toEqual([0n, 0n]); // RSP, RBP are never exposed
    expect(fe.data[11]).toBe(0x10003n); // R11: the leaf
    expect(fe.data[12]).toBe(0xdeadn); // R12: the error code

    // 16. HLT (#VE -> TDVMCALL<HLT>): the vCPU halts in KVM (in-kernel LAPIC) until woken.
    let intr = '';
    try {
      sys.ioctl(v0.fd, x86_64.ioctls.KVM_RUN!.request, 0);
    } catch (err) {
      intr = (err as { code: string }).code;
    }
    expect(intr).toBe('EINTR');
    expect(v0.run().reason).toBe('intr');
    expect(v0.kvmRun.exit_reason).toBe(KVM_EXIT.INTR);
    expect(v0.getMpState()).toBe(KVM_MP_STATE.HALTED);
    expect(dbg.kvm.ve[12]).toBe(1);
    v0.setMpState(KVM_MP_STATE.RUNNABLE);
    expect(report(v0.run())).toBe(0x600d);

    // kvm_run header fields KVM fills for a TD: no view of RFLAGS/TPR; the x2APIC base.
    expect(v0.kvmRun.if_flag).toBe(0);
    expect(v0.kvmRun.apic_base).toBe(0xfee00d00n);

    // Teardown with KVM_TDX_TERMINATE_VM: HKID released first, then every page reclaimed without
    // flushing. (Closing the guest_memfd first would zap each private page with BLOCK/TRACK/REMOVE:
    // teardown.test.ts.)
    const mapped = dbg.module.septCounts();
    const septTables = dbg.module.septTableCount;
    const wbinvdBefore = st.wbinvd;
    const removeBefore = st.pagesRemoved;
    const module = dbg.module;
    td.vmCmd(KVM_TDX.TERMINATE_VM);
    for (const v of td.vcpus) v.close();
    sys.close(td.gmemFd);
    td.vm.close();
    expect(module.opState).toBe('RECLAIMED');
    expect(module.hkid).toBe(-1);
    expect(st.seamcalls.TDH_VP_FLUSH).toBe(2);
    expect(st.seamcalls.TDH_MNG_VPFLUSHDONE).toBe(1);
    expect(st.seamcalls.TDH_MNG_KEY_FREEID).toBe(1);
    expect(st.reclaimed.guest).toBe(mapped.MAPPED + mapped.PENDING);
    expect(st.reclaimed.sept).toBe(septTables);
    expect(st.reclaimed.control).toBe(2 * 6 + 4 + 1); // TDVPR+TDCX per vCPU, TDCS, TDR
    expect(st.pagesRemoved).toBe(removeBefore); // no BLOCK/TRACK/REMOVE at teardown
    expect(st.wbinvd - wbinvdBefore).toBe(1); // only the TDR
    const order = module.events.map((x) => x.leaf);
    expect(order.lastIndexOf('TDH_MNG_KEY_FREEID')).toBeLessThan(order.indexOf('TDH_PHYMEM_PAGE_RECLAIM'));
  });
});
