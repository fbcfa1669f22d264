/**
 * arm64 divergences Linux's KVM selftests found (test/selftests, README "Linux's KVM selftests
 * through `vkvm exec`"), pinned with what Linux 6.12 answers (Debian linux-source 6.12.118):
 *
 * - aarch32_id_regs: on an AArch64-only vCPU the AArch32 ID registers are RAZ and userspace writes
 *   are ignored (arch/arm64/kvm/sys_regs.c:1637 aa32_id_visibility -> REG_RAZ | REG_USER_WI;
 *   kvm_sys_reg_set_user 4540); ID_AFR0/ID_DFR1 (ID_HIDDEN) and unallocated ID slots are RAZ and
 *   take only 0 (set_id_reg 1910 -> arm64_check_features 1462: E2BIG, reported as EINVAL).
 * - get-reg-list: KVM_GET_REG_LIST has the whole ID space (CRm 1-7, sys_reg_descs 2386-2470),
 *   AIDR_EL1 (4396), DISR_EL1 (2615), DACR32/IFSR32/FPEXC32_EL2 (2888-2906), DBGVCR32_EL2 (2379),
 *   all 16 breakpoint/watchpoint slots (1313 DBG_BCR_BVR_WCR_WVR_EL1), the SMCCC workaround and
 *   feature-bitmap firmware registers (hypercalls.c:383); not DCZID_EL0 (trap only).
 * - The firmware registers' semantics: hypercalls.c:477 kvm_arm_get_fw_reg, 552 kvm_arm_set_fw_reg,
 *   511 kvm_arm_set_fw_reg_bmap (unsupported bit EINVAL; a different value once the VM ran EBUSY).
 * - vgic_init: a redistributor region that gives an existing vCPU its redistributor is refused when
 *   the distributor overlaps a region (vgic/vgic-mmio-v3.c:967 vgic_v3_set_redist_base -> 787
 *   vgic_register_redist_iodev -> vgic-v3.c:496 vgic_v3_check_base); GICR_TYPER.Last follows the
 *   regions alone, with or without a distributor address (vgic-mmio-v3.c vgic_mmio_vcpu_rdist_is_last);
 *   the first KVM_RUN is EINVAL when a region, at its size for every vCPU, ends past the IPA space
 *   (vgic-v3.c vgic_v3_map_resources -> vgic_v3_check_base).
 * - arch_timer_edge_cases.c:550 (GUEST_ASSERT(timer_get_tval(timer) <= 0), with the counter set
 *   near 2^63): the counter offsets are u64 (arch_timer.c:163 timer_set_offset, from 1054
 *   kvm_arm_timer_set_reg KVM_REG_ARM_TIMER_CNT and 1648 kvm_vm_ioctl_set_counter_offset), so any
 *   counter value is exact: CNT reads back as written, and TVAL = -1 (CVAL = CNT - 1) reads <= 0
 *   (float64 offsets rounded CNT - 1 to CNT above 2^53).
 * - arch_timer_edge_cases.c:540/550/561 (timers_sanity_checks with use_sched: a userspace exit
 *   between programming the timer and reading it back): the counter runs on across the exit and
 *   the completions KVM_RUN with immediate_exit makes (get_ucall's vcpu_run_complete_io), neither
 *   stopping nor stepping back, so the three asserts hold exactly when fewer than wait_ms (10 ms
 *   of counter, 625000 ticks) pass between the read before the exit and the read after it — and,
 *   as on Linux, not when userspace keeps the vCPU out for longer (what made the selftest flaky
 *   here: the program under qemu-aarch64 on a loaded 2-core host, 5-18 ms per exit measured).
 */
import { describe, expect, it } from 'vitest';
import { Kvm, virtualSys, type Device, type Vm } from '../../src/index.js';
import { KVM_DEV_TYPE, KVM_REG } from '../../src/uapi/constants.js';
import { coreRegId, KVM_ARM_VCPU, KVM_DEV_ARM_VGIC, KVM_VGIC, sysRegId } from '../../src/uapi/arm64.js';
import { armMachine, reg, ENGINES, runUntil, useEngine } from './helpers.js';
import { errnoOf } from '../helpers/errno.js';

const FW = (r: bigint) => KVM_REG.ARM64 | KVM_REG.SIZE_U64 | (0x0014n << 16n) | r;
const BMAP = (r: bigint) => KVM_REG.ARM64 | KVM_REG.SIZE_U64 | (0x0016n << 16n) | r;
const WA = [FW(1n), FW(2n), FW(3n)];
const [STD_BMAP, STD_HYP_BMAP, VENDOR_HYP_BMAP] = [BMAP(0n), BMAP(1n), BMAP(2n)];

const AA32 = [[1, 0], [1, 1], [1, 2], [1, 4], [1, 5], [1, 6], [1, 7], [2, 0], [2, 1], [2, 2], [2, 3], [2, 4], [2, 5], [2, 6], [2, 7], [3, 0], [3, 1], [3, 2], [3, 4], [3, 6]] as const;
const RAZ_ONLY = [[1, 3], [3, 3], [3, 5], [3, 7], [4, 3], [4, 5], [5, 2], [6, 7], [7, 7]] as const;

/** A64: x0 = 0x86000000 (ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID); hvc #0; x19 = x0; PSCI SYSTEM_OFF. */
const VENDOR_FEATURES_THEN_OFF = new Uint8Array(new Uint32Array([0xd2b0c000, 0xd4000002, 0xaa0003f3, 0xd2b08000, 0xf2800100, 0xd4000002]).buffer);

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  it('AArch32 ID registers: RAZ, and a KVM_SET_ONE_REG of any value succeeds without effect', () => {
    const { vcpu } = armMachine(new Uint8Array(4));
    for (const [crm, op2] of AA32) {
      const id = sysRegId(3, 0, 0, crm, op2);
      expect([crm, op2, vcpu.getOneReg(id)]).toEqual([crm, op2, 0n]);
      expect([crm, op2, errnoOf(() => vcpu.setOneReg(id, 0x1badc0den))]).toEqual([crm, op2, 'ok']);
      expect(vcpu.getOneReg(id)).toBe(0n);
    }
  });

  it('hidden and unallocated ID registers: RAZ, 0 accepted, anything else EINVAL', () => {
    const { vcpu } = armMachine(new Uint8Array(4));
    for (const [crm, op2] of RAZ_ONLY) {
      const id = sysRegId(3, 0, 0, crm, op2);
      expect(vcpu.getOneReg(id)).toBe(0n);
      expect([crm, op2, errnoOf(() => vcpu.setOneReg(id, 0x1badc0den))]).toEqual([crm, op2, 'EINVAL']);
      expect(errnoOf(() => vcpu.setOneReg(id, 0n))).toBe('ok');
    }
  });

  it("KVM_GET_REG_LIST lists what 6.12's get-reg-list expects, and not DCZID_EL0", () => {
    const { vcpu } = armMachine(new Uint8Array(4));
    const list = new Set(vcpu.regList());
    const want = [
      ...WA, STD_BMAP, STD_HYP_BMAP, VENDOR_HYP_BMAP,
      sysRegId(3, 1, 0, 0, 7), // AIDR_EL1
      sysRegId(3, 0, 12, 1, 1), // DISR_EL1
      sysRegId(3, 4, 3, 0, 0), sysRegId(3, 4, 5, 0, 1), sysRegId(3, 4, 5, 3, 0), // DACR32, IFSR32, FPEXC32
      sysRegId(2, 4, 0, 7, 0), // DBGVCR32_EL2
      ...Array.from({ length: 16 }, (_, n) => [4, 5, 6, 7].map((op2) => sysRegId(2, 0, 0, n, op2))).flat(),
      ...Array.from({ length: 7 }, (_, k) => Array.from({ length: 8 }, (_, op2) => sysRegId(3, 0, 0, k + 1, op2))).flat(),
    ];
    expect(want.filter((id) => !list.has(id)).map((id) => id.toString(16))).toEqual([]);
    expect(list.has(sysRegId(3, 3, 0, 0, 7))).toBe(false);
    expect(vcpu.getOneReg(sysRegId(3, 4, 5, 3, 0))).toBe(0x700n); // FPEXC32_EL2 reset
    expect(vcpu.getOneReg(reg.DBGBVR(12))).toBe(0n);
    vcpu.setOneReg(reg.DBGBVR(12), 0x1234n);
    expect(vcpu.getOneReg(reg.DBGBVR(12))).toBe(0x1234n);
  });

  it('SMCCC workaround registers: level 0 (no firmware mitigation), only levels up to it are accepted', () => {
    const { vcpu } = armMachine(new Uint8Array(4));
    for (const id of WA) expect(vcpu.getOneReg(id)).toBe(0n);
    const set = (i: number, v: bigint) => errnoOf(() => vcpu.setOneReg(WA[i]!, v));
    expect([set(0, 0n), set(0, 1n), set(0, 0x10n), set(2, 0n), set(2, 2n)]).toEqual(['ok', 'EINVAL', 'EINVAL', 'ok', 'EINVAL']);
    // WORKAROUND_2: UNKNOWN counts as NOT_AVAIL; AVAIL/NOT_REQUIRED need a higher level; ENABLED only with AVAIL; 4+ EINVAL
    expect([set(1, 0n), set(1, 1n), set(1, 2n), set(1, 3n), set(1, 0x11n), set(1, 4n), set(1, 0x20n)]).toEqual(['ok', 'ok', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL']);
  });

  it('SMCCC feature bitmaps: every service at VM creation, the vendor bits gate the KVM vendor calls, EBUSY once the VM ran', () => {
    const run = (clear: boolean) => {
      const m = armMachine(VENDOR_FEATURES_THEN_OFF);
      expect(m.vcpu.getOneReg(VENDOR_HYP_BMAP)).toBe(3n); // FUNC_FEAT | PTP
      if (clear) m.vcpu.setOneReg(VENDOR_HYP_BMAP, 0n);
      expect(runUntil(m).reason).toBe('system_event');
      return m;
    };
    const a = run(false);
    expect(a.x(19)).toBe(3n); // ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID returns the bitmap
    expect(errnoOf(() => a.vcpu.setOneReg(VENDOR_HYP_BMAP, 0n))).toBe('EBUSY');
    expect(errnoOf(() => a.vcpu.setOneReg(VENDOR_HYP_BMAP, 3n))).toBe('ok');
    const b = run(true);
    expect(b.x(19)).toBe(0xffff_ffff_ffff_ffffn); // SMCCC_RET_NOT_SUPPORTED
    expect(b.vcpu.getOneReg(VENDOR_HYP_BMAP)).toBe(0n);
    // TRNG (STD bit 0) and PV time (STD_HYP bit 0) are offered; bits past them are refused.
    expect([STD_BMAP, STD_HYP_BMAP].map((id) => [a.vcpu.getOneReg(id), errnoOf(() => a.vcpu.setOneReg(id, 2n))])).toEqual([[1n, 'EINVAL'], [1n, 'EINVAL']]);
    expect(errnoOf(() => b.vcpu.setOneReg(VENDOR_HYP_BMAP, 4n))).toBe('EINVAL');
  });
});

describe.each(ENGINES)('$name: counters above 2^53 (arch_timer_edge_cases)', (engine) => {
  useEngine(engine);
  const TIMER_CNT = sysRegId(3, 3, 14, 3, 2);
  const PTIMER_CNT = sysRegId(3, 3, 14, 0, 1);
  // movn x19, #0 (-1); msr cntv_tval_el0, x19; mrs x20, cntv_tval_el0; mrs x21, cntvct_el0; PSCI SYSTEM_OFF
  // (x0-x3 are the call's results: the values live in x19-x21)
  const TVAL_MINUS_ONE = new Uint8Array(new Uint32Array([0x92800013, 0xd51be313, 0xd53be314, 0xd53be055, 0xd2800100, 0xf2b08000, 0xd4000002]).buffer);

  it.each([0x7fff_ffff_ffff_fc01n, 0x8000_0000_0000_0003n, 0xffff_ffff_ffff_fffen, 0x20_0000_0000_0001n])('CNT = %s reads back exactly; the guest sees TVAL -1 as <= 0', (v) => {
    // The deterministic clock: no tick passes between the ioctls.
    const m = armMachine(TVAL_MINUS_ONE, { sys: { clock: 'deterministic' } });
    m.vcpu.setOneReg(TIMER_CNT, v);
    m.vcpu.setOneReg(PTIMER_CNT, v ^ 0x5n);
    expect([m.vcpu.getOneReg(TIMER_CNT), m.vcpu.getOneReg(PTIMER_CNT)]).toEqual([v, v ^ 0x5n]);
    expect(runUntil(m).reason).toBe('system_event');
    expect(BigInt.asIntN(32, m.x(20)) <= 0n).toBe(true);
    const since = BigInt.asUintN(64, m.x(21) - v); // ticks the guest's few instructions took
    expect(since).toBeLessThan(1000n);
  });

  /*
   * arch_timer_edge_cases' timers_sanity_checks(use_sched): t.S (x9 = an address outside every
   * memslot, so each `str xzr, [x9]` is an MMIO exit to userspace; W = 625000 ticks = 10 ms):
   *   mov x9, #0x10000000; ldr x1, =TVAL_MAX + W; ldr x3, =2 * TVAL_MAX + W
   *   mrs x19, cntvct_el0; add x2, x19, x1; msr cntv_cval_el0, x2; str xzr, [x9]; isb; mrs x20, cntv_tval_el0
   *   mrs x21, cntvct_el0; add x2, x21, x3; msr cntv_cval_el0, x2; str xzr, [x9]; isb; mrs x22, cntv_tval_el0
   *   mrs x25, cntvct_el0; movn x4, #0; msr cntv_tval_el0, x4; str xzr, [x9]; isb; mrs x23, cntv_cval_el0; mrs x24, cntvct_el0
   *   PSCI SYSTEM_OFF; .ltorg
   */
  const SANITY_WITH_EXITS = new Uint8Array(
    new Uint32Array([
      0xd2a20009, 0x58000321, 0x58000343, 0xd53be053, 0x8b010262, 0xd51be342, 0xf900013f, 0xd5033fdf, 0xd53be314, 0xd53be055, 0x8b0302a2, 0xd51be342, 0xf900013f, 0xd5033fdf, 0xd53be316,
      0xd53be059, 0x92800004, 0xd51be304, 0xf900013f, 0xd5033fdf, 0xd53be357, 0xd53be058, 0xd2800100, 0xf2b08000, 0xd4000002, 0x00000000, 0x80098967, 0x00000000, 0x00098966, 0x00000001,
    ]).buffer,
  );
  const W = 625_000n;
  const DEF_CNT = (1n << 63n) - 1n; // the selftest's CVAL_MAX / 2

  /** Runs the sequence; at each MMIO exit `out()` plays userspace, then KVM_RUN with immediate_exit twice (get_ucall, twice per exit). */
  function sanity(clock: 'deterministic' | 'host', out: () => void) {
    const m = armMachine(SANITY_WITH_EXITS, { sys: { clock } });
    m.vcpu.setOneReg(TIMER_CNT, DEF_CNT); // reset_timer_state: set_counter(DEF_CNT)
    let exits = 0;
    const e = runUntil(m, (x) => {
      if (x.reason !== 'mmio') return false;
      exits++;
      out();
      m.vcpu.immediateExit = true;
      expect(m.vcpu.run().reason).toBe('intr');
      expect(m.vcpu.run().reason).toBe('intr');
      m.vcpu.immediateExit = false;
      return true;
    });
    expect([e.reason, exits]).toEqual(['system_event', 3]);
    const tval = (r: number) => BigInt.asIntN(32, m.x(r));
    return {
      /** line 550: TVAL after CVAL = CNT + TVAL_MAX + W (as int32) and the ticks that passed. */
      l550: { tval: tval(20), elapsed: m.x(21) - m.x(19) },
      /** line 561: TVAL after CVAL = CNT + 2 * TVAL_MAX + W (as the selftest compares it: int32 to u64). */
      l561: { tvalU64: BigInt.asUintN(64, tval(22)) },
      /** line 540: CVAL (CNT - 1 at the TVAL write) and CNT after the exit. */
      l540: { cval: m.x(23), cnt: m.x(24), before: m.x(25) },
    };
  }

  it('timers_sanity_checks across userspace exits: the counter neither stops nor steps back; asserts 540/550/561 hold exactly', () => {
    const r = sanity('deterministic', () => {});
    // The counter is continuous (a few instructions' ticks) from the read before each exit to the read after it.
    expect(r.l550.elapsed).toBeGreaterThanOrEqual(0n);
    expect(r.l550.elapsed).toBeLessThan(100n);
    // 550: TVAL_MAX + W - elapsed wraps to a negative int32 while elapsed < W.
    // (elapsed, read after the TVAL read, bounds the ticks before it.)
    expect(r.l550.tval).toBeLessThanOrEqual(BigInt.asIntN(32, 0x7fff_ffffn + W));
    expect(r.l550.tval).toBeGreaterThanOrEqual(BigInt.asIntN(32, 0x7fff_ffffn + W - r.l550.elapsed));
    expect(r.l550.tval <= 0n).toBe(true);
    // 561: 2 * TVAL_MAX + W - elapsed = W - 2 - elapsed (mod 2^32): <= W as the selftest compares it.
    expect(r.l561.tvalU64 <= W).toBe(true);
    expect(r.l561.tvalU64).toBeGreaterThan(W - 100n);
    // 540: CVAL = CNT - 1 at the write; CNT read after the exit is past it (from 2^63 - 1 on).
    expect(r.l540.cval < r.l540.cnt).toBe(true);
    expect(r.l540.cnt - r.l540.before).toBeLessThan(100n);
    expect(r.l540.before >= DEF_CNT).toBe(true);
  });

  it('the counter keeps running while userspace holds the vCPU (as on Linux): 12 ms out turns 550 and 561 false, never 540', () => {
    const r = sanity('host', () => {
      const until = performance.now() + 12;
      while (performance.now() < until); // userspace busy for 12 ms (a slow exit)
    });
    expect(r.l550.elapsed).toBeGreaterThanOrEqual((12n * W) / 10n); // >= 12 ms of counter (62.5 MHz)
    expect(r.l550.tval > 0n).toBe(true); // GUEST_ASSERT(timer_get_tval(timer) <= 0) fails
    expect(r.l561.tvalU64 > W).toBe(true); // negative TVAL as u64: GUEST_ASSERT(... <= W) fails
    expect(r.l540.cval < r.l540.cnt).toBe(true);
  });

  it('KVM_ARM_SET_COUNTER_OFFSET near 2^64: CNT = ticks - offset modulo 2^64, exact', () => {
    const m = armMachine(new Uint8Array(4), { sys: { clock: 'deterministic' } });
    const before = m.vcpu.getOneReg(TIMER_CNT); // the offset is 0: the ticks
    const off = 0xffff_ffff_ffff_f001n;
    m.sys.ioctl(m.vm.fd, m.kvm.req('KVM_ARM_SET_COUNTER_OFFSET'), new Uint8Array(new BigUint64Array([off, 0n]).buffer));
    expect(m.vcpu.getOneReg(TIMER_CNT)).toBe(BigInt.asUintN(64, before - off));
    expect(m.vcpu.getOneReg(PTIMER_CNT)).toBe(BigInt.asUintN(64, before - off));
  });
});

describe('vGICv3 redistributor regions (vgic_init)', () => {
  const G = KVM_DEV_ARM_VGIC;
  /** A VM with `ids` vCPUs (created in that order) and a GICv3. */
  const gic = (ids: readonly number[]) => {
    const sys = virtualSys({ arch: 'arm64' });
    const vm: Vm = Kvm.open(sys).createVm();
    const ram = sys.alloc(1 << 16);
    new Uint32Array(ram.bytes.buffer, ram.bytes.byteOffset, 3).set([0xd2800100, 0xf2b08000, 0xd4000002]); // PSCI SYSTEM_OFF
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0x4000_0000, memorySize: 1 << 16, userspaceAddr: ram.hva });
    const vcpus = ids.map((id) => {
      const v = vm.createVcpu(id);
      v.armInit([KVM_ARM_VCPU.PSCI_0_2]);
      v.setOneReg(coreRegId('regs.pc'), 0x4000_0000);
      return v;
    });
    const d: Device = vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3)!;
    return { vm, vcpus, d };
  };
  const addr = (d: Device, type: number, a: bigint | number) => d.setAttr({ group: G.GRP_ADDR, attr: type }, a);
  const region = (base: number, count: number, index: number) => BigInt(base) | (BigInt(count) << 52n) | BigInt(index);
  const typer = (d: Device, id: number) => Number(new DataView(d.getAttrBytes({ group: G.GRP_REDIST_REGS, attr: (BigInt(id) << 32n) | 0x8n }, 4).buffer).getUint32(0, true));

  it('a region placing a vCPU over the distributor is EINVAL (vgic_v3_check_base); without a vCPU to place it is accepted', () => {
    const { d } = gic([0, 1, 2, 3]);
    addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(0x200000, 2, 0));
    addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(0x240000, 1, 1));
    addr(d, KVM_VGIC.V3_ADDR_TYPE_DIST, 0x260000);
    expect(outcomeOf(() => addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(0x260000, 1, 2)))).toBe('EINVAL');
    // The refused region left nothing behind: index 2 is still free, elsewhere.
    expect(outcomeOf(() => addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(0x280000, 1, 2)))).toBe('ok');
    const { d: d2 } = gic([0]);
    addr(d2, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(0x200000, 1, 0));
    addr(d2, KVM_VGIC.V3_ADDR_TYPE_DIST, 0x260000);
    expect(outcomeOf(() => addr(d2, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(0x260000, 1, 1)))).toBe('ok');
  });

  it('GICR_TYPER.Last: per region, a contiguous region in use continues it; no distributor address needed', () => {
    const { d } = gic([0, 3, 5, 4, 1, 2]);
    d.setAttr({ group: G.GRP_CTRL, attr: G.CTRL_INIT });
    addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(0x100000, 2, 0));
    expect([typer(d, 0), typer(d, 3), typer(d, 5)]).toEqual([0x000, 0x310, 0x500]); // vCPU 5 has no region yet
    addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(0x240000, 2, 1));
    addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION, region(0x200000, 2, 2));
    expect([0, 1, 2, 3, 5, 4].map((id) => typer(d, id))).toEqual([0x000, 0x100, 0x200, 0x310, 0x500, 0x410]);
  });

  it('the first KVM_RUN is EINVAL when the legacy region, sized for every vCPU, ends past the IPA space', () => {
    const { vm, vcpus, d } = gic([0]);
    addr(d, KVM_VGIC.V3_ADDR_TYPE_REDIST, 2 ** 40 - 3 * 0x20000); // room for 3 redistributors
    addr(d, KVM_VGIC.V3_ADDR_TYPE_DIST, 0);
    for (let i = 1; i < 4; i++) {
      const v = vm.createVcpu(i);
      v.armInit([KVM_ARM_VCPU.PSCI_0_2]);
      vcpus.push(v);
    }
    d.setAttr({ group: G.GRP_CTRL, attr: G.CTRL_INIT });
    expect(outcomeOf(() => vcpus[2]!.run())).toBe('EINVAL');
  });
});

function outcomeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as { code: string }).code;
  }
}
