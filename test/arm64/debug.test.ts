/**
 * Guest debug as KVM/arm64 implements it (the 2015 "guest debug, HW assisted debug support"
 * series and its successors): KVM_SET_GUEST_DEBUG with SINGLESTEP, USE_SW_BP and USE_HW, the
 * KVM_EXIT_DEBUG payload kvm_debug_exit_arch { hsr, hsr_high, far }, the HW_BPS/HW_WPS caps,
 * and the guest's own debug exceptions (the scenarios of KVM's arm64 debug-exceptions selftest).
 */
import { describe, expect, it } from 'vitest';
import type { VcpuExit } from '../../src/index.js';
import { KVM_CAP, KVM_GUESTDBG } from '../../src/uapi/constants.js';
import { KVM_GUESTDBG_ARM64 } from '../../src/uapi/arm64.js';
import { armGuest, armMachine, RAM_BASE, reg, type ArmMachine, ENGINES, useEngine } from './helpers.js';
import { runToExit } from '../helpers/run.js';

const ENABLE = KVM_GUESTDBG.ENABLE;
const STEP = KVM_GUESTDBG.SINGLESTEP;
const SW_BP = KVM_GUESTDBG_ARM64.USE_SW_BP;
const HW = KVM_GUESTDBG_ARM64.USE_HW;
/** DBGBCR: E, PMC = EL1 and EL0, BAS = 0b1111. */
const BCR = 1n | (3n << 1n) | (0xfn << 5n);
/** DBGWCR: E, PAC = EL1 and EL0, BAS = 8 bytes; LSC added per test. */
const WCR = 1n | (3n << 1n) | (0xffn << 5n);
const LSC_LOAD = 1n << 3n;
const LSC_STORE = 2n << 3n;

/** Label addresses from the table a guest keeps at +8. */
function labels(m: ArmMachine, n: number): number[] {
  const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
  return Array.from({ length: n }, (_, i) => RAM_BASE + Number(dv.getBigUint64(8 + 8 * i, true)));
}

function debugExit(e: VcpuExit): { ec: number; hsr: number; hsrHigh: number; far: bigint } {
  if (e.reason !== 'debug' || e.arch.arch !== 'arm64') throw new Error(`expected a debug exit, got ${e.reason}`);
  return { ec: e.arch.hsr >>> 26, hsr: e.arch.hsr >>> 0, hsrHigh: e.arch.hsrHigh, far: e.arch.far };
}

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  describe('KVM_CAP_GUEST_DEBUG_HW_BPS / _HW_WPS', () => {
    it('equal the BRPs / WRPs fields of the emulated ID_AA64DFR0_EL1 plus one', () => {
      const m = armMachine(new Uint8Array(4));
      const dfr0 = m.vcpu.getOneReg(reg.ID_AA64DFR0_EL1);
      expect(dfr0 & 0xfn).toBe(6n); // DebugVer: Armv8.0 debug
      expect(m.vm.checkExtension(KVM_CAP.GUEST_DEBUG_HW_BPS)).toBe(Number((dfr0 >> 12n) & 0xfn) + 1);
      expect(m.vm.checkExtension(KVM_CAP.GUEST_DEBUG_HW_WPS)).toBe(Number((dfr0 >> 20n) & 0xfn) + 1);
      expect(m.vm.checkExtension(KVM_CAP.GUEST_DEBUG_HW_BPS)).toBe(6);
      expect(m.vm.checkExtension(KVM_CAP.GUEST_DEBUG_HW_WPS)).toBe(4);
      expect(m.kvm.checkExtension(KVM_CAP.SET_GUEST_DEBUG)).toBe(1);
    });

    it('KVM_SET_GUEST_DEBUG refuses unknown control bits', () => {
      const m = armMachine(new Uint8Array(4));
      expect(() => m.vcpu.setGuestDebug(ENABLE | (1 << 3))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    });
  });

  describe('host debugging with KVM_SET_GUEST_DEBUG', () => {
    it('a hardware breakpoint at an address hits with EC 0x30 (BREAKPT_LOW) and the PC there', () => {
      const m = armMachine(armGuest('debug-host'));
      const [bp] = labels(m, 1);
      m.vcpu.setGuestDebug(ENABLE | HW | SW_BP, { dbg_bcr: [BCR], dbg_bvr: [BigInt(bp!)] });
      const d = debugExit(m.vcpu.run());
      expect(d).toEqual({ ec: 0x30, hsr: 0xc2000022, hsrHigh: 0, far: 0n });
      expect(m.vcpu.kvmRun.flags & 1).toBe(1); // KVM_DEBUG_ARCH_HSR_HIGH_VALID
      expect(m.pc()).toBe(BigInt(bp!));
      // Running again without stepping over it hits again; clearing the breakpoint lets it go.
      expect(debugExit(m.vcpu.run()).ec).toBe(0x30);
      m.vcpu.setGuestDebug(ENABLE | SW_BP);
      expect(debugExit(m.vcpu.run())).toMatchObject({ ec: 0x3c, hsr: 0xf2000042 }); // brk #0x42
    });

    it('a breakpoint honours PMC (EL0-only does not match at EL1) and BAS (A64 needs 0b1111)', () => {
      const m = armMachine(armGuest('debug-host'));
      const [bp] = labels(m, 1);
      const el0Only = 1n | (2n << 1n) | (0xfn << 5n);
      const badBas = 1n | (3n << 1n) | (0x3n << 5n);
      m.vcpu.setGuestDebug(ENABLE | HW | SW_BP, { dbg_bcr: [el0Only, badBas], dbg_bvr: [BigInt(bp!), BigInt(bp!)] });
      expect(debugExit(m.vcpu.run()).ec).toBe(0x3c); // straight to the BRK
    });

    it('a watchpoint on a store hits with EC 0x34 (WATCHPT_LOW), far = the address, before the store', () => {
      const m = armMachine(armGuest('debug-host'));
      const [, st, , , , data] = labels(m, 6);
      m.vcpu.setGuestDebug(ENABLE | HW | SW_BP, { dbg_wcr: [WCR | LSC_STORE], dbg_wvr: [BigInt(data!)] });
      const d = debugExit(m.vcpu.run());
      expect(d).toEqual({ ec: 0x34, hsr: 0xd2000062, hsrHigh: 0, far: BigInt(data!) }); // WnR | DFSC debug
      expect(m.pc()).toBe(BigInt(st!));
      const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
      expect(dv.getBigUint64(data! - RAM_BASE, true)).toBe(0n); // not stored yet
      // The load of data+8 does not match a store-only watchpoint.
      m.vcpu.setGuestDebug(ENABLE | SW_BP);
      expect(debugExit(m.vcpu.run()).ec).toBe(0x3c);
      expect(dv.getBigUint64(data! - RAM_BASE, true)).toBe(0x1234n);
    });

    it('a watchpoint on a load hits with EC 0x34, far = the address, WnR clear', () => {
      const m = armMachine(armGuest('debug-host'));
      const [, , ld, , , data] = labels(m, 6);
      // Byte-granular BAS: only byte 8 of the doubleword at data (the load of data+8 covers it).
      m.vcpu.setGuestDebug(ENABLE | HW | SW_BP, { dbg_wcr: [WCR | LSC_STORE, (WCR & ~(0xffn << 5n)) | (1n << 5n) | LSC_LOAD], dbg_wvr: [BigInt(data! + 0x100), BigInt(data! + 8)] });
      const d = debugExit(m.vcpu.run());
      expect(d).toEqual({ ec: 0x34, hsr: 0xd2000022, hsrHigh: 0, far: BigInt(data! + 8) });
      expect(m.pc()).toBe(BigInt(ld!));
    });

    it('single step walks N instructions, one KVM_EXIT_DEBUG (EC 0x32, SOFTSTP_LOW) each', () => {
      const m = armMachine(armGuest('debug-host'));
      const [, , , start, brk] = labels(m, 5);
      m.vcpu.setGuestDebug(ENABLE | HW | SW_BP, { dbg_bcr: [BCR], dbg_bvr: [BigInt(start!)] });
      expect(debugExit(m.vcpu.run()).ec).toBe(0x30);
      m.vcpu.setGuestDebug(ENABLE | STEP | SW_BP);
      const pcs: bigint[] = [];
      for (let n = 0; n < 5; n++) {
        const d = debugExit(m.vcpu.run());
        expect(d).toEqual({ ec: 0x32, hsr: 0xcb000022, hsrHigh: 0, far: 0n }); // ISV: an instruction completed
        pcs.push(m.pc());
      }
      expect(pcs).toEqual([1, 2, 3, 4, 5].map((k) => BigInt(start! + 4 * k)));
      expect(pcs[4]).toBe(BigInt(brk!));
      expect(m.x(6)).toBe(17n); // ((1 + 2) << 3) - 7
      // Stepping onto the BRK: the BRK itself exits first.
      expect(debugExit(m.vcpu.run())).toMatchObject({ ec: 0x3c, hsr: 0xf2000042 });
    });

    it('BRK with KVM_GUESTDBG_USE_SW_BP exits with EC 0x3c, the immediate in the ISS, PC at the BRK', () => {
      const m = armMachine(armGuest('debug-host'));
      const [, , , , brk] = labels(m, 5);
      m.vcpu.setGuestDebug(ENABLE | SW_BP);
      expect(debugExit(m.vcpu.run())).toEqual({ ec: 0x3c, hsr: 0xf2000042, hsrHigh: 0, far: 0n });
      expect(m.pc()).toBe(BigInt(brk!));
      // The VMM steps over its breakpoint and resumes.
      m.vcpu.setOneReg(reg.pc, m.pc() + 4n);
      m.vcpu.setGuestDebug(0);
      expect(runToExit(m.vcpu)).toMatchObject({ reason: 'system_event' });
      expect(m.x(7)).toBe(7n);
    });

    it("the guest's own debug registers survive a host debug session", () => {
      const m = armMachine(armGuest('debug-own'));
      const [ownFn, hostBp] = labels(m, 2);
      expect(m.vcpu.run()).toMatchObject({ reason: 'mmio', isWrite: true });
      m.vcpu.setGuestDebug(ENABLE | HW, { dbg_bcr: [BCR], dbg_bvr: [BigInt(hostBp!)] });
      const d = debugExit(m.vcpu.run());
      expect(d.ec).toBe(0x30);
      expect(m.pc()).toBe(BigInt(hostBp!));
      // While the host debugged, the guest read its own values, not the host's...
      expect(m.x(25)).toBe(BigInt(ownFn!));
      expect(m.x(26)).toBe(BCR & ~(3n << 1n) | (1n << 1n)); // its own BCR: PMC = EL1
      expect(m.vcpu.getOneReg(reg.DBGBVR(0))).toBe(BigInt(ownFn!)); // ONE_REG shows the guest's copy too
      m.vcpu.setGuestDebug(0);
      expect(runToExit(m.vcpu)).toMatchObject({ reason: 'system_event' });
      expect(m.x(27)).toBe(0x40001230n); // written during the session, read after it
      // ...its breakpoint did not fire during the session, and fires again after it.
      expect(m.x(19)).toBe(1n);
      const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
      expect(Number(dv.getBigUint64(0x20000 + 8, true)) >>> 26).toBe(0x31); // BREAKPT_CUR
      expect(dv.getBigUint64(0x20000 + 16, true)).toBe(BigInt(ownFn!));
    });

    it('host single step over emulated DBGBVR0/DBGWVR0 writes advances exactly 4 each step (selftest Part B)', () => {
      const m = armMachine(armGuest('debug-step'));
      const N = 200;
      m.setX(22, N);
      let begin = 0n;
      let end = 0n;
      let stepping = false;
      let steps = 0;
      let iterations = 0;
      let lastPc = -1n;
      for (;;) {
        const e = m.vcpu.run();
        if (e.reason === 'system_event') break;
        if (e.reason === 'mmio') {
          expect(e.physAddr).toBe(0x09000000n); // +8 would be the guest's failure report
          if (!begin) {
            begin = m.x(20);
            end = m.x(21);
          }
          iterations++;
          m.vcpu.setGuestDebug(ENABLE | STEP);
          stepping = true;
          lastPc = -1n;
          continue;
        }
        expect(stepping).toBe(true);
        expect(debugExit(e).ec).toBe(0x32);
        const pc = m.pc();
        if (lastPc >= begin && lastPc < end) expect(pc).toBe(lastPc + 4n);
        lastPc = pc;
        steps++;
        if (pc + 4n === end) {
          m.vcpu.setGuestDebug(ENABLE);
          stepping = false;
        }
      }
      expect(iterations).toBe(N);
      expect(steps).toBe(N * 6); // nop, lsl, 2 x MSR, 2 x MRS
    });
  });

  describe("the guest's own debug exceptions (debug-exceptions Part A)", () => {
    const combos: [number, number, number][] = [];
    for (const c of [4, 5]) for (let b = 0; b < 4; b++) for (let w = 0; w < 4; w++) combos.push([b, w, c]);

    it.each(combos)('breakpoint %i, watchpoint %i, context breakpoint %i', (b, w, c) => {
      const m = armMachine(armGuest('debug-exceptions'));
      m.setX(19, b);
      m.setX(20, w);
      m.setX(21, c);
      expect(runToExit(m.vcpu)).toMatchObject({ reason: 'system_event' });
      const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
      const at = (k: number) => Number(dv.getBigUint64(0x28000 + 8 * k, true));
      const [swBp, hwBpNop, bpSvc, bpBrk, wpStore, writeData, ssStart, osLockBrk, linkedBp, linkedWp] = Array.from({ length: 10 }, (_, k) => at(k));
      const log = Array.from({ length: Number(m.x(22)) }, (_, i) => {
        const q = (k: number) => Number(dv.getBigUint64(0x20000 + 32 * i + 8 * k, true));
        return q(0) === 0x35 ? [q(0), q(1), q(2)] : [q(0), q(1)];
      });
      expect(log).toEqual([
        [0x3c, swBp], // 1. BRK
        [0x31, hwBpNop], // 2. HW breakpoint on a NOP
        [0x31, bpSvc], // 3. HW breakpoint on SVC, then the SVC (ELR past it)
        [0x15, bpSvc! + 4],
        [0x31, bpBrk], // 4. HW breakpoint on BRK has priority, then the BRK
        [0x3c, bpBrk],
        [0x35, wpStore, writeData], // 5. watchpoint: FAR = the data address
        [0x33, ssStart], // 6. single step: ss_start, +4, +8, nothing once D is masked
        [0x33, ssStart! + 4],
        [0x33, ssStart! + 8],
        [0x3c, osLockBrk], // 7. the OS lock does not block BRK; 8-10: it blocks the rest
        [0x31, linkedBp], // 11. linked context-ID breakpoint
        [0x35, linkedWp, writeData], // 12. linked watchpoint
      ]);
      expect(m.x(23)).toBe(0x78n); // 'x': the watched store completed after the return
      expect(m.x(24)).toBe(0x79n); // 'y': not watched under the OS lock
      expect(m.x(25)).toBe(0x7an);
      expect(m.x(26) & 0xan).toBe(0xan); // OSLSR_EL1: OSLM implemented, OSLK set
    });
  });
});
