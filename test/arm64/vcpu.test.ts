/**
 * arm64 vCPU ioctls: KVM_ARM_PREFERRED_TARGET, KVM_ARM_VCPU_INIT features, reset state,
 * KVM_GET/SET_ONE_REG for core, FP/SIMD, system and firmware registers, KVM_GET_REG_LIST,
 * KVM_ARM_VCPU_FINALIZE, and the state a guest sees after ONE_REG writes.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, virtualSys } from '../../src/index.js';
import { KVM_REG } from '../../src/uapi/constants.js';
import { arm64 } from '../../src/uapi/index.js';
import { coreRegId, KVM_ARM_TARGET, KVM_ARM_VCPU, sysRegId } from '../../src/uapi/arm64.js';
import { armMachine, RAM_BASE, reg, ENGINES, useEngine } from './helpers.js';

function fresh() {
  const sys = virtualSys({ arch: 'arm64' });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  return { sys, kvm, vm };
}

const PSCI_VERSION_REG = 0x6030000000140000n;

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  describe('KVM_ARM_PREFERRED_TARGET / KVM_ARM_VCPU_INIT', () => {
    it('offers the generic v8 target', () => {
      const { vm } = fresh();
      expect(vm.armPreferredTarget()).toMatchObject({ target: KVM_ARM_TARGET.GENERIC_V8, features: [0, 0, 0, 0, 0, 0, 0] });
    });

    it('refuses EL1_32BIT and unknown features; ENOEXEC before init', () => {
      const { vm } = fresh();
      const v = vm.createVcpu(0);
      expect(() => v.run()).toThrow(expect.objectContaining({ code: 'ENOEXEC' }));
      expect(() => v.getOneReg(reg.pc)).toThrow(expect.objectContaining({ code: 'ENOEXEC' }));
      expect(() => v.armInit([KVM_ARM_VCPU.EL1_32BIT])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => v.armInit([KVM_ARM_VCPU.SVE])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => v.armInit([9])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      v.armInit([KVM_ARM_VCPU.PSCI_0_2]);
      expect(() => v.armInit([])).toThrow(expect.objectContaining({ code: 'EINVAL' })); // features must not change
      v.armInit([KVM_ARM_VCPU.PSCI_0_2]); // the same again resets
    });

    it('resets to EL1h with DAIF masked, MMU off, PC 0, MPIDR from the vcpu id; POWER_OFF stops it', () => {
      const { vm } = fresh();
      const v = vm.createVcpu(17);
      v.armInit([KVM_ARM_VCPU.PSCI_0_2, KVM_ARM_VCPU.POWER_OFF]);
      expect(v.getOneReg(reg.pstate)).toBe(0x3c5n);
      expect(v.getOneReg(reg.pc)).toBe(0n);
      expect(v.getOneReg(reg.SCTLR_EL1) & 1n).toBe(0n);
      expect(v.getOneReg(sysRegId(3, 0, 0, 0, 5))).toBe(0x80000101n); // Aff0 = 1, Aff1 = 1
      expect(v.getMpState()).toBe(5);
      expect(v.getOneReg(PSCI_VERSION_REG)).toBe(0x10000n);
    });

    it('KVM_ARM_VCPU_FINALIZE has nothing to finalize (no SVE): EINVAL, ENOEXEC before init', () => {
      const { sys, vm } = fresh();
      const v = vm.createVcpu(0);
      const req = arm64.ioctls.KVM_ARM_VCPU_FINALIZE!.request;
      const arg = new Uint8Array(4);
      new DataView(arg.buffer).setInt32(0, KVM_ARM_VCPU.SVE, true);
      expect(() => sys.ioctl(v.fd, req, arg)).toThrow(expect.objectContaining({ code: 'ENOEXEC' }));
      v.armInit([]);
      expect(() => sys.ioctl(v.fd, req, arg)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    });
  });

  describe('KVM_GET/SET_ONE_REG', () => {
    it('core registers round-trip; SP_EL0 and SP_EL1 are banked by PSTATE', () => {
      const m = armMachine(new Uint8Array(4));
      const v = m.vcpu;
      for (let i = 0; i < 31; i++) v.setOneReg(reg.x(i), 0x0101010101010101n * BigInt(i + 1));
      for (let i = 0; i < 31; i++) expect(v.getOneReg(reg.x(i))).toBe(BigInt.asUintN(64, 0x0101010101010101n * BigInt(i + 1)));
      v.setOneReg(reg.sp, 0x1000n);
      v.setOneReg(reg.spEl1, 0x2000n);
      v.setOneReg(reg.pstate, 0x3c4n); // EL1t: SP_EL0 is the live stack pointer
      expect([v.getOneReg(reg.sp), v.getOneReg(reg.spEl1)]).toEqual([0x1000n, 0x2000n]);
      v.setOneReg(reg.pstate, 0x0n); // EL0t
      v.setOneReg(reg.sp, 0x3000n);
      v.setOneReg(reg.pstate, 0x3c5n);
      expect([v.getOneReg(reg.sp), v.getOneReg(reg.spEl1)]).toEqual([0x3000n, 0x2000n]);
      v.setOneReg(reg.pc, 0xffff000012345678n);
      expect(v.getOneReg(reg.pc)).toBe(0xffff000012345678n);
      v.setOneReg(reg.elr, 0xfedcba9876543210n);
      expect(v.getOneReg(reg.elr)).toBe(0xfedcba9876543210n);
      v.setOneReg(reg.spsr, 0x600003c5n);
      expect(v.getOneReg(reg.spsr)).toBe(0x600003c5n);
    });

    it('PSTATE accepts only EL0t/EL1t/EL1h AArch64 modes', () => {
      const m = armMachine(new Uint8Array(4));
      expect(() => m.vcpu.setOneReg(reg.pstate, 0x3c9n)).toThrow(expect.objectContaining({ code: 'EINVAL' })); // EL2h
      expect(() => m.vcpu.setOneReg(reg.pstate, 0x3d0n)).toThrow(expect.objectContaining({ code: 'EINVAL' })); // AArch32
    });

    it('V registers are 128-bit, FPSR/FPCR 32-bit; a wrong size is EINVAL', () => {
      const m = armMachine(new Uint8Array(4));
      const v0 = coreRegId('fp_regs.vregs');
      const v7 = v0 + 7n * 4n;
      m.vcpu.setOneReg(v7, 0x00112233445566778899aabbccddeeffn);
      expect(m.vcpu.getOneReg(v7)).toBe(0x00112233445566778899aabbccddeeffn);
      m.vcpu.setOneReg(coreRegId('fp_regs.fpcr'), 0x03c00000n);
      expect(m.vcpu.getOneReg(coreRegId('fp_regs.fpcr'))).toBe(0x03c00000n);
      const wrong = (v7 & ~KVM_REG.SIZE_MASK) | KVM_REG.SIZE_U64;
      expect(() => m.vcpu.getOneReg(wrong)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    });

    it('system registers: unknown is ENOENT, ID registers take only their value, the guest sees writes', () => {
      const m = armMachine(Uint8Array.of(0x00, 0xc0, 0x38, 0xd5, 0x41, 0xd0, 0x3b, 0xd5)); // mrs x0, vbar_el1; mrs x1, tpidr_el0
      expect(() => m.vcpu.getOneReg(sysRegId(3, 0, 9, 9, 0))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(() => m.vcpu.getOneReg(sysRegId(2, 0, 1, 0, 4))).toThrow(expect.objectContaining({ code: 'ENOENT' })); // OSLAR: write-only
      const dfr0 = m.vcpu.getOneReg(reg.ID_AA64DFR0_EL1);
      m.vcpu.setOneReg(reg.ID_AA64DFR0_EL1, dfr0);
      expect(() => m.vcpu.setOneReg(reg.ID_AA64DFR0_EL1, dfr0 + 1n)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      m.vcpu.setOneReg(reg.VBAR_EL1, 0x40000800n);
      m.vcpu.setOneReg(sysRegId(3, 3, 13, 0, 2), 0x1234n);
      m.vcpu.setGuestDebug(1 | (1 << 16));
      m.vcpu.setOneReg(reg.x(0), 0);
      // run two instructions by single-stepping them
      m.vcpu.setGuestDebug(1 | 2);
      m.vcpu.run();
      m.vcpu.run();
      expect([m.x(0), m.x(1)]).toEqual([0x40000800n, 0x1234n]);
    });

    it('the virtual counter (KVM_REG_ARM_TIMER_CNT) advances and can be set', () => {
      const m = armMachine(new Uint8Array(4));
      const CNT = sysRegId(3, 3, 14, 3, 2);
      const a = m.vcpu.getOneReg(CNT);
      m.vcpu.setOneReg(CNT, 1_000_000_000n);
      const b = m.vcpu.getOneReg(CNT);
      expect(b).toBeGreaterThanOrEqual(1_000_000_000n);
      expect(b - 1_000_000_000n).toBeLessThan(62_500_000n); // within a second at CNTFRQ
      expect(a).toBeLessThan(b);
    });

    it('KVM_ARM_SET_COUNTER_OFFSET offsets both counters and makes TIMER_CNT/PTIMER_CNT writes no-ops; CTL shows ISTATUS', () => {
      // The deterministic clock stands still between runs: the counters are exact here.
      const m = armMachine(new Uint8Array(4), { sys: { clock: 'deterministic' } });
      const CNT = sysRegId(3, 3, 14, 3, 2); // KVM_REG_ARM_TIMER_CNT
      const PCNT = sysRegId(3, 3, 14, 0, 1); // KVM_REG_ARM_PTIMER_CNT
      const CVAL = sysRegId(3, 3, 14, 0, 2); // KVM_REG_ARM_TIMER_CVAL
      const CTL = sysRegId(3, 3, 14, 3, 1); // KVM_REG_ARM_TIMER_CTL
      // Without the VM offset, a CNT write moves that counter alone.
      m.vcpu.setOneReg(CNT, 1_000_000n);
      expect(m.vcpu.getOneReg(CNT)).toBe(1_000_000n);
      const p = m.vcpu.getOneReg(PCNT);
      m.vcpu.setOneReg(PCNT, p + 500n);
      expect(m.vcpu.getOneReg(PCNT)).toBe(p + 500n);
      expect(m.vcpu.getOneReg(CNT)).toBe(1_000_000n);
      // One offset for both views; the counter registers then ignore writes.
      const off = 1234n;
      m.sys.ioctl(m.vm.fd, m.kvm.req('KVM_ARM_SET_COUNTER_OFFSET'), arm64.structs.kvm_arm_counter_offset.encode({ counter_offset: off, reserved: 0n }));
      expect(m.vcpu.getOneReg(CNT)).toBe(m.vcpu.getOneReg(PCNT));
      const now = BigInt.asUintN(64, p - off); // p: the clock's ticks (the physical offset was 0)
      expect(m.vcpu.getOneReg(CNT)).toBe(now);
      m.vcpu.setOneReg(CNT, 5n);
      m.vcpu.setOneReg(PCNT, 5n);
      expect(m.vcpu.getOneReg(CNT)).toBe(now);
      // CTL: ISTATUS once the count reached CVAL, enabled or not.
      m.vcpu.setOneReg(CVAL, BigInt.asUintN(64, now + 1n));
      expect(m.vcpu.getOneReg(CTL)).toBe(0n);
      m.vcpu.setOneReg(CVAL, now);
      m.vcpu.setOneReg(CTL, 1n);
      expect(m.vcpu.getOneReg(CTL)).toBe(5n);
    });
  });

  describe('KVM_GET_REG_LIST', () => {
    it('lists core, FP, firmware and system registers (the typed API grows the array on E2BIG)', () => {
      const m = armMachine(new Uint8Array(4));
      const list = m.vcpu.regList();
      expect(list).toContain(reg.pc);
      expect(list).toContain(coreRegId('fp_regs.vregs'));
      expect(list).toContain(PSCI_VERSION_REG);
      expect(list).toContain(reg.SCTLR_EL1);
      expect(list).toContain(reg.DBGBVR(5));
      expect(list).toContain(reg.DBGWCR(3));
      // Linux 6.12 lists all 16 breakpoint and watchpoint slots (sys_regs.c DBG_BCR_BVR_WCR_WVR_EL1(0..15)).
      expect(list).toContain(reg.DBGBVR(15));
      expect(list).toContain(reg.DBGWCR(15));
      expect(list).not.toContain(sysRegId(2, 0, 1, 0, 4)); // OSLAR_EL1 is write-only
      for (const id of list) m.vcpu.getOneReg(id); // every listed register reads
      expect(new Set(list).size).toBe(list.length);
      expect(list.length).toBeGreaterThan(100);
      void RAM_BASE;
    });
  });
});
