/**
 * Userspace exits of the arm64 vCPU: MMIO with a valid syndrome (every size, sign extension,
 * completion on the next KVM_RUN), KVM_EXIT_ARM_NISV, PSCI system events and CPU_ON, immediate
 * exit, the run budget and the "no JS exception escapes KVM_RUN" rule.
 */
import { describe, expect, it } from 'vitest';
import { KvmError } from '../../src/index.js';
import { KVM_CAP } from '../../src/uapi/constants.js';
import { KVM_ARM_VCPU } from '../../src/uapi/arm64.js';
import { armGuest, armMachine, MMIO, RAM_BASE, reg, ENGINES, useEngine } from './helpers.js';

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  describe('MMIO', () => {
    /** The VMM's device: reads return bytes 0x80 + (address & 0x7f) + i. */
    const devByte = (a: bigint, i: number) => (0x80 + Number(a & 0x7fn) + i) & 0xff;

    it('loads and stores of every size, with sign extension, complete on the next KVM_RUN', () => {
      const m = armMachine(armGuest('mmio'));
      const seen: string[] = [];
      for (;;) {
        const pcAtExit = m.pc();
        const e = m.vcpu.run();
        if (e.reason !== 'mmio') {
          expect(e).toMatchObject({ reason: 'system_event', type: 1 });
          break;
        }
        // The PC still points at the access while userspace handles it.
        const pc = m.pc();
        expect(pc).toBeGreaterThanOrEqual(pcAtExit);
        const word = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset).getUint32(Number(pc) - RAM_BASE, true);
        expect(word).not.toBe(0);
        if (e.isWrite) seen.push(`w${e.len}@${(e.physAddr - BigInt(MMIO)).toString(16)}=${Buffer.from(e.data).toString('hex')}`);
        else {
          seen.push(`r${e.len}@${(e.physAddr - BigInt(MMIO)).toString(16)}`);
          for (let i = 0; i < e.len; i++) e.data[i] = devByte(e.physAddr, i);
        }
      }
      expect(seen).toEqual([
        'r1@0', 'r2@10', 'r4@20', 'r8@30', 'r1@40', 'r1@50', 'r2@60', 'r2@70', 'r4@80', 'r8@-8', 'r4@90', 'r8@0', 'r4@a0',
        'w1@b0=88', 'w2@c0=8877', 'w4@d0=88776655', 'w8@e0=8877665544332211', 'w8@0=8877665544332211', 'w8@f0=0000000000000000', 'r8@100',
      ]);
      expect(m.x(4)).toBe(0x80n); // LDRB
      expect(m.x(5)).toBe(0x9190n); // LDRH
      expect(m.x(6)).toBe(0xa3a2a1a0n); // LDR W
      expect(m.x(7)).toBe(0xb7b6b5b4b3b2b1b0n); // LDR X
      expect(m.x(8)).toBe(0xffffffc0n); // LDRSB W: sign-extended to 32 bits only
      expect(m.x(9)).toBe(0xffffffffffffffd0n); // LDRSB X
      expect(m.x(10)).toBe(0xffffe1e0n); // LDRSH W
      expect(m.x(11)).toBe(0xfffffffffffff1f0n); // LDRSH X
      expect(m.x(12)).toBe(0xffffffff83828180n); // LDRSW (0x80 + 0x00 for address 0x..80)
      expect(m.x(14)).toBe(0x93929190n); // register offset
      expect(m.x(15)).toBe(0x8786858483828180n); // LDAR
      expect(m.x(16)).toBe(0xa3a2a1a0n); // LDTR
    });

    it('does not complete a read when userspace changed exit_reason, and honours immediate_exit after completing', () => {
      const m = armMachine(armGuest('mmio'));
      const e = m.vcpu.run();
      expect(e).toMatchObject({ reason: 'mmio', len: 1, isWrite: false });
      const pc = m.pc();
      if (e.reason === 'mmio') e.data[0] = 0x42;
      m.vcpu.immediateExit = true;
      expect(m.vcpu.run().reason).toBe('intr'); // EINTR
      // Completed (Rt written, PC advanced) before EINTR, as kvm_arch_vcpu_ioctl_run orders it.
      expect(m.x(4)).toBe(0x42n);
      expect(m.pc()).toBe(pc + 4n);
      m.vcpu.immediateExit = false;
      expect(m.vcpu.run()).toMatchObject({ reason: 'mmio', len: 2 });
    });
  });

  describe('data aborts without a valid syndrome', () => {
    const NISV = [
      { ipa: 0n, iss: 0x05n }, // LDP: translation fault level 1 (no memslot in that GiB)
      { ipa: 0x10n, iss: 0x45n }, // STP: WnR
      { ipa: 0x20n, iss: 0x05n }, // LDR pre-index (writeback)
      { ipa: 0n, iss: 0x05n }, // LDXR (the skipped pre-index did not write x1 back)
      { ipa: 0n, iss: 0x05n }, // LDADD
      { ipa: 0n, iss: 0x05n }, // LDR Q
    ];

    it('exit with KVM_EXIT_ARM_NISV when KVM_CAP_ARM_NISV_TO_USER is enabled', () => {
      const m = armMachine(armGuest('nisv'));
      expect(m.vm.checkExtension(KVM_CAP.ARM_NISV_TO_USER)).toBe(1);
      expect(m.vm.checkExtension(KVM_CAP.ENABLE_CAP)).toBe(0); // arm.c's check_extension has no KVM_CAP_ENABLE_CAP (6.12)
      m.vm.enableCap(KVM_CAP.ARM_NISV_TO_USER);
      const got: { ipa: bigint; iss: bigint }[] = [];
      for (;;) {
        const e = m.vcpu.run();
        if (e.reason !== 'arm_nisv') {
          expect(e).toMatchObject({ reason: 'system_event' });
          break;
        }
        got.push({ ipa: e.faultIpa - BigInt(MMIO), iss: e.esrIss });
        // The VMM emulates (here: skips) the access itself, as with any NISV exit.
        m.vcpu.setOneReg(reg.pc, m.pc() + 4n);
      }
      expect(got).toEqual(NISV);
    });

    it('fail KVM_RUN with ENOSYS otherwise (the kernel has no syndrome to decode)', () => {
      const m = armMachine(armGuest('nisv'));
      expect(() => m.vcpu.run()).toThrow(expect.objectContaining({ code: 'ENOSYS' }));
      expect(m.pc()).toBe(BigInt(RAM_BASE + 0x1c)); // still at the LDP
    });
  });

  describe('PSCI', () => {
    it('reports its version and features, powers a secondary on and off, and shuts down', () => {
      const m = armMachine(armGuest('psci'));
      const v1 = m.vm.createVcpu(1);
      v1.armInit([KVM_ARM_VCPU.PSCI_0_2, KVM_ARM_VCPU.POWER_OFF]);
      expect(v1.getMpState()).toBe(5); // STOPPED
      expect(v1.run().reason).toBe('intr'); // EINTR
      const e = m.vcpu.run();
      expect(e).toMatchObject({ reason: 'mmio', isWrite: true, physAddr: BigInt(MMIO) });
      expect(v1.getMpState()).toBe(0); // RUNNABLE after CPU_ON
      // vCPU 1 runs from the entry point with the context id in X0, at EL1 with the MMU off, then
      // CPU_OFF blocks it (EINTR here, where nothing could wake it).
      expect(v1.run().reason).toBe('intr'); // EINTR
      expect(v1.getMpState()).toBe(5);
      const e2 = m.vcpu.run();
      expect(e2).toMatchObject({ reason: 'system_event', type: 1, data: [0n] });
      const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
      const slot = (n: number) => BigInt.asIntN(64, dv.getBigUint64(0x20000 + 8 * n, true));
      expect(Array.from({ length: 12 }, (_, n) => slot(n))).toEqual([
        0x10000n, // PSCI_VERSION 1.0
        0n, // PSCI_FEATURES(CPU_ON64)
        -1n, // PSCI_FEATURES(SYSTEM_SUSPEND): not supported
        0x10001n, // SMCCC_VERSION 1.1
        1n, // AFFINITY_INFO: off
        0n, // CPU_ON: success
        0n, // AFFINITY_INFO: on
        -4n, // CPU_ON again: already on
        -2n, // CPU_ON of a vCPU that does not exist: invalid parameters
        -1n, // MIGRATE: not supported
        2n, // MIGRATE_INFO_TYPE: no migration needed
        1n, // AFFINITY_INFO: off again
      ]);
      expect([slot(16), slot(17), slot(18) & 1n]).toEqual([0x5ec0n, 4n, 0n]); // x0 = context, EL1, MMU off
      // SYSTEM_OFF preloaded X0 with INTERNAL_FAILURE and stopped every vCPU.
      expect(m.x(0)).toBe(BigInt.asUintN(64, -6n));
      expect(m.vcpu.getMpState()).toBe(5);
      expect(m.vcpu.run().reason).toBe('intr'); // EINTR
    });

    it('SYSTEM_RESET exits with KVM_SYSTEM_EVENT_RESET', () => {
      const m = armMachine(armGuest('psci'));
      m.setX(0, 1);
      expect(m.vcpu.run()).toMatchObject({ reason: 'system_event', type: 2, data: [0n] });
    });

    it('a PSCI 0.1 vCPU (no PSCI_0_2 feature) reports version 0.1 through the firmware register', () => {
      const m = armMachine(armGuest('psci'), { features: [] });
      expect(m.vcpu.getOneReg(0x6030000000140000n)).toBe(1n);
    });
  });

  describe('KVM_RUN always returns', () => {
    it('a guest spinning forever returns EINTR with KVM_EXIT_INTR after the budget', () => {
      const m = armMachine(Uint8Array.of(0x00, 0x00, 0x00, 0x14), { runBudget: 100_000 }); // b .
      expect(m.vcpu.run().reason).toBe('intr'); // EINTR
      expect(m.vcpu.exit()).toMatchObject({ reason: 'intr' });
    });

    it('WFI at EL1 returns EINTR with the PC past it (the vCPU would sleep in the kernel)', () => {
      const m = armMachine(Uint8Array.of(0x7f, 0x20, 0x03, 0xd5)); // wfi
      expect(m.vcpu.run().reason).toBe('intr'); // EINTR
      expect(m.pc()).toBe(BigInt(RAM_BASE + 4));
    });

    it('random bytes as code never throw anything but a KvmError out of KVM_RUN', () => {
      let seed = 0x12345678;
      const rnd = () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed;
      };
      const outcomes = new Map<string, number>();
      for (let t = 0; t < 200; t++) {
        const code = new Uint8Array(4096);
        for (let i = 0; i < code.length; i++) code[i] = rnd() & 0xff;
        const m = armMachine(code, { ramSize: 0x10000, runBudget: 5_000 });
        // Vectors point into the random code too; enable FP sometimes; run a few exits.
        m.vcpu.setOneReg(reg.VBAR_EL1, BigInt(RAM_BASE + (rnd() & 0xf800)));
        if (t & 1) m.vcpu.setOneReg(reg.sys(3, 0, 1, 0, 2), 3n << 20n);
        for (let n = 0; n < 4; n++) {
          let r: string;
          try {
            const e = m.vcpu.run();
            r = e.reason;
            if (e.reason === 'mmio' && !e.isWrite) e.data.fill(0xa5);
            if (e.reason === 'internal_error') throw new Error(`emulator bug: ${String((m.vcpu as unknown as { vm: unknown }).vm)}`);
          } catch (err) {
            if (!(err instanceof KvmError)) throw err;
            r = err.code;
          }
          outcomes.set(r, (outcomes.get(r) ?? 0) + 1);
          if (r === 'system_event') break;
        }
      }
      expect(outcomes.has('internal_error')).toBe(false);
      expect([...outcomes.keys()].every((k) => ['mmio', 'system_event', 'intr', 'ENOSYS', 'arm_nisv', 'debug', 'EFAULT'].includes(k))).toBe(true);
    }, 60_000); // 200 VMs: seconds on a loaded machine
  });
});
