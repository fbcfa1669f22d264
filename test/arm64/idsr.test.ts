/**
 * The IDSR seed extension ("KVM: arm64: Add support for IDSR exits to userspace", 2020):
 * KVM_CAP_ARM_IDSR_TO_USER (180) and KVM_EXIT_ARM_IDSR (29), arm64 VMs only.
 */
import { describe, expect, it } from 'vitest';
import { arm64 } from '../../src/uapi/index.js';
import { KVM_ARM_IDSR } from '../../src/uapi/arm64.js';
import { armGuest, armMachine, ENGINES, useEngine } from './helpers.js';

/** The arm64 kvm_run view (the typed API's view is the generic one). */
const idsrView = (m: ReturnType<typeof armMachine>) => arm64.structs.kvm_run.view(m.vcpu.area).arm_idsr;

const { KVM_CAP_ARM_IDSR_TO_USER: CAP, KVM_EXIT_ARM_IDSR: EXIT } = KVM_ARM_IDSR;

function records(m: ReturnType<typeof armMachine>): [number, number][] {
  const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
  return Array.from({ length: Number(m.x(19)) }, (_, i) => [Number(dv.getBigUint64(0x20000 + 64 * i, true)), Number(dv.getBigUint64(0x20000 + 64 * i + 8, true)) >>> 0]);
}

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  describe('IDSR exits', () => {
    it('the capability is reported (arm64) and enabled per VM', () => {
      const m = armMachine(armGuest('idsr'));
      expect(m.vm.checkExtension(CAP)).toBe(1);
      expect(m.kvm.checkExtension(CAP)).toBe(1);
      m.vm.enableCap(CAP);
    });

    it('read handled (Rt = regval, PC advanced), write handled, unhandled -> UNDEF at the vector, EL0 -> UNDEF', () => {
      const m = armMachine(armGuest('idsr'));
      m.vm.enableCap(CAP);
      // 1: MRS x1, S3_0_C15_C0_0
      let e = m.vcpu.run();
      expect(e).toMatchObject({ reason: 'arm_idsr', exitReason: EXIT, op0: 3, op1: 0, crn: 15, crm: 0, op2: 0, isWrite: false, regval: 0n });
      const pc1 = m.pc();
      expect(idsrView(m).is_needed).toBe(1);
      expect(idsrView(m).is_handled).toBe(0);
      if (e.reason === 'arm_idsr') e.reply({ handled: true, regval: 0x1122334455667788n });
      // 2: MSR S3_1_C11_C2_3, x2
      e = m.vcpu.run();
      expect(m.x(1)).toBe(0x1122334455667788n);
      expect(m.pc()).toBe(pc1 + 20n); // past the MRS and the four instructions loading x2
      expect(e).toMatchObject({ reason: 'arm_idsr', op0: 3, op1: 1, crn: 11, crm: 2, op2: 3, isWrite: true, regval: 0xdeadbeefcafef00dn });
      if (e.reason === 'arm_idsr') e.reply({ handled: true });
      // 3: MRS x3, S3_2_C15_C1_1 refused
      e = m.vcpu.run();
      expect(e).toMatchObject({ reason: 'arm_idsr', op0: 3, op1: 2, crn: 15, crm: 1, op2: 1, isWrite: false });
      if (e.reason === 'arm_idsr') e.reply({ handled: false });
      // 4: after the EL0 part (UNDEF without an exit), one more read at EL1
      e = m.vcpu.run();
      expect(e).toMatchObject({ reason: 'arm_idsr', op0: 3, op1: 7, crn: 15, crm: 15, op2: 7 });
      if (e.reason === 'arm_idsr') e.reply({ handled: true, regval: 5n });
      expect(m.vcpu.run()).toMatchObject({ reason: 'system_event' });
      expect(m.x(5)).toBe(5n);
      expect(records(m)).toEqual([
        [0x200, 0x02000000], // refused: UNDEF injected at the MRS, current-EL vector
        [0x400, 0x02000000], // EL0: UNDEF, no exit
        [0x400, 0x560000ff],
      ]);
    });

    it('is_needed cleared by userspace: KVM does nothing and the access exits again', () => {
      const m = armMachine(armGuest('idsr'));
      m.vm.enableCap(CAP);
      m.vcpu.run();
      const pc = m.pc();
      idsrView(m).is_needed = 0;
      const e = m.vcpu.run();
      expect(e).toMatchObject({ reason: 'arm_idsr', op1: 0, crn: 15 });
      expect(m.pc()).toBe(pc);
    });

    it('without the capability every access is UNDEF, and no IDSR exit happens', () => {
      const m = armMachine(armGuest('idsr'));
      expect(m.vcpu.run()).toMatchObject({ reason: 'system_event' });
      expect(records(m).map((r) => r[1])).toEqual([0x02000000, 0x02000000, 0x02000000, 0x02000000, 0x560000ff, 0x02000000]);
    });
  });
});
