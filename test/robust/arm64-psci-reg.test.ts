/**
 * Issue 19 item 8: KVM_REG_ARM_PSCI_VERSION as Linux has it (arch/arm64/kvm/hypercalls.c,
 * kvm_arm_set_fw_reg / kvm_psci_version): a vCPU without KVM_ARM_VCPU_PSCI_0_2 reads 0.1 and
 * accepts only 0.1 back; with it, 0.2, 1.0 and 1.1 are accepted and 0.1 is EINVAL. So a
 * save/restore of every register KVM_GET_REG_LIST lists round-trips on both kinds of vCPU.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, virtualSys } from '../../src/index.js';
import { KVM_ARM_VCPU, KVM_REG_ARM } from '../../src/uapi/arm64.js';
import { KVM_REG } from '../../src/uapi/constants.js';
import { errnoOf } from '../helpers/errno.js';

/** KVM_REG_ARM_PSCI_VERSION = KVM_REG_ARM_FW_REG(0). */
const PSCI_VERSION = KVM_REG.ARM64 | KVM_REG.SIZE_U64 | BigInt(KVM_REG_ARM.FW);

function vcpu(features: number[]) {
  const sys = virtualSys({ arch: 'arm64' });
  const vm = Kvm.open(sys).createVm();
  const v = vm.createVcpu(0);
  v.armInit(features);
  return v;
}

describe('arm64 KVM_REG_ARM_PSCI_VERSION (issue 19 item 8)', () => {
  it.each([
    ['without PSCI_0_2', [] as number[]],
    ['with PSCI_0_2', [KVM_ARM_VCPU.PSCI_0_2]],
    ['powered off, without PSCI_0_2', [KVM_ARM_VCPU.POWER_OFF]],
  ])('%s: every listed register saved then restored (same values) round-trips', (_n, features) => {
    const v = vcpu(features);
    const list = v.regList();
    expect(list).toContain(PSCI_VERSION);
    const saved = list.map((id) => [id, v.getOneReg(id)] as const);
    const failed = saved.map(([id, val]) => [id.toString(16), errnoOf(() => v.setOneReg(id, val))]).filter(([, c]) => c !== 'ok');
    expect(failed).toEqual([]);
  });

  it('without PSCI_0_2: reads 0.1, accepts 0.1 only', () => {
    const v = vcpu([]);
    expect(v.getOneReg(PSCI_VERSION)).toBe(0x1n);
    expect(errnoOf(() => v.setOneReg(PSCI_VERSION, 0x1n))).toBe('ok');
    for (const bad of [0x2n, 0x10000n, 0x10001n, 0n, 0x3n, 0x20000n]) expect([bad, errnoOf(() => v.setOneReg(PSCI_VERSION, bad))]).toEqual([bad, 'EINVAL']);
    expect(v.getOneReg(PSCI_VERSION)).toBe(0x1n);
  });

  it('with PSCI_0_2: 0.2, 1.0 and 1.1 are accepted and read back, 0.1 and others are EINVAL', () => {
    const v = vcpu([KVM_ARM_VCPU.PSCI_0_2]);
    expect(v.getOneReg(PSCI_VERSION)).toBe(0x10000n);
    for (const ok of [0x2n, 0x10001n, 0x10000n]) {
      expect(errnoOf(() => v.setOneReg(PSCI_VERSION, ok))).toBe('ok');
      expect(v.getOneReg(PSCI_VERSION)).toBe(ok);
    }
    for (const bad of [0x1n, 0n, 0x3n, 0x10002n, 0x20000n]) expect([bad, errnoOf(() => v.setOneReg(PSCI_VERSION, bad))]).toEqual([bad, 'EINVAL']);
  });
});
