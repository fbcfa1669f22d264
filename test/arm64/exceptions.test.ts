/**
 * The EL1/EL0 exception model and the stage-1 MMU, through the guests exceptions.S and mmu.S:
 * every exception is logged by the guest's own vector table (vectors.inc) and checked here.
 */
import { describe, expect, it } from 'vitest';
import { armGuest, armMachine, RAM_BASE, ENGINES, useEngine } from './helpers.js';

interface Rec {
  vector: number;
  esr: number;
  elr: bigint;
  far: bigint;
  spsr: number;
  wantElr: bigint;
  wantFar: bigint;
}

function log(m: ReturnType<typeof armMachine>, n: number): Rec[] {
  const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
  return Array.from({ length: n }, (_, i) => {
    const o = 0x20000 + 64 * i;
    const q = (k: number) => dv.getBigUint64(o + 8 * k, true);
    return { vector: Number(q(0)), esr: Number(q(1)), elr: q(2), far: q(3), spsr: Number(q(4)), wantElr: q(5), wantFar: q(6) };
  });
}

const ESR = (ec: number, iss: number) => ((ec << 26) | (1 << 25) | iss) >>> 0;

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  describe('exceptions to the EL1 vectors and back', () => {
    const m = armMachine(armGuest('exceptions'));
    const exit = m.vcpu.run();
    const recs = log(m, Number(m.x(19)));

    it('ends with SYSTEM_OFF at EL1 after 18 exceptions', () => {
      expect(exit).toMatchObject({ reason: 'system_event', type: 1 });
      expect(m.x(27)).toBe(4n); // CurrentEL = EL1
      expect(recs.length).toBe(18);
      expect(m.x(24)).toBe(0xffffffffffffffffn); // unknown SMCCC function: X0 = -1
    });

    it('reports ELR (and FAR where defined) exactly', () => {
      for (const r of recs) {
        expect(r.elr).toBe(r.wantElr);
        if (r.wantFar !== 0n) expect(r.far).toBe(r.wantFar);
      }
    });

    it('takes each exception with the right syndrome, vector and SPSR', () => {
      const got = recs.map((r) => [r.vector, r.esr >>> 0, r.spsr]);
      expect(got).toEqual([
        [0x200, ESR(0x15, 0x12), 0x3c5], // SVC #0x12 from EL1h
        [0x200, ESR(0x00, 0), 0x3c5], // UDF: unknown reason
        [0x200, ESR(0x3c, 0x77), 0x3c5], // BRK #0x77
        [0x200, ESR(0x25, 0x21), 0x3c5], // unaligned load, MMU off (Device): alignment fault
        [0x200, ESR(0x25, 0x61), 0x3c5], // the store (WnR)
        [0x200, ESR(0x00, 0), 0x3c5], // MRS of an unimplemented register: UNDEF
        [0x200, ESR(0x00, 0), 0x3c5], // IMPDEF register without the IDSR cap: UNDEF
        [0x200, ESR(0x22, 0), 0x3c5], // PC alignment fault
        [0x200, ESR(0x26, 0), 0x3c5], // SP alignment fault (SCTLR_EL1.SA)
        [0x400, ESR(0x15, 0x34), 0x000], // SVC from EL0: lower-EL vector
        [0x400, ESR(0x00, 0), 0x000], // HVC at EL0 is UNDEFINED
        [0x400, ESR(0x00, 0), 0x000], // MRS SCTLR_EL1 at EL0
        [0x400, ESR(0x01, 0x1e00000), 0x000], // WFI trapped (SCTLR_EL1.nTWI = 0)
        [0x400, ESR(0x00, 0), 0x000], // MSR DAIFSet at EL0 (UMA = 0)
        [0x400, ESR(0x00, 0), 0x000], // MRS CTR_EL0 at EL0 (UCT = 0)
        [0x400, ESR(0x24, 0x21), 0x000], // alignment fault from EL0
        [0x400, ESR(0x15, 0xff), 0x000], // SVC #0xff: back to EL1
        [0x200, ESR(0x0e, 0), 0x1003c5], // illegal exception return: PSTATE.IL in SPSR
      ]);
    });
  });

  describe('stage-1 MMU', () => {
    const m = armMachine(armGuest('mmu'));
    const exit = m.vcpu.run();
    const recs = log(m, Number(m.x(13)));
    const PAGES = BigInt(RAM_BASE + 0x200000);

    it('translates through TTBR0 and TTBR1 (the same page under two VAs)', () => {
      expect(exit).toMatchObject({ reason: 'system_event', type: 1 });
      expect(m.x(19)).toBe(0x1122334455667788n); // written via TTBR0, read via TTBR1
      expect(m.x(24)).toBe(0x0badc0den); // the other way round
      expect(m.x(25)).toBe(0x0adc0de1122334455n); // unaligned access to Normal memory is fine
    });

    it('raises permission, access flag, translation and alignment faults with their levels', () => {
      for (const r of recs) {
        expect(r.elr).toBe(r.wantElr);
        expect(r.far).toBe(r.wantFar);
      }
      expect(recs.map((r) => [r.vector, r.esr >>> 0])).toEqual([
        [0x200, ESR(0x25, 0x40 | 0x0f)], // write to a read-only page: permission fault, level 3
        [0x200, ESR(0x25, 0x0b)], // AF = 0: access flag fault, level 3
        [0x200, ESR(0x25, 0x07)], // invalid page: translation fault, level 3
        [0x200, ESR(0x25, 0x06)], // no level-2 entry: translation fault, level 2
        [0x200, ESR(0x25, 0x04)], // beyond T0SZ: translation fault, level 0
        [0x200, ESR(0x25, 0x21)], // unaligned access to Device memory
        [0x200, ESR(0x21, 0x0f)], // execute from an EL0-writable page at EL1: PXN implied
        [0x400, ESR(0x24, 0x0f)], // EL0 read of an EL1-only page
        [0x400, ESR(0x15, 0xff)],
      ]);
      expect(recs[0]!.far).toBe(PAGES + 0x1000n);
    });

    it('AT writes PAR_EL1; TLBI makes a new mapping visible; EL0 reads EL0 pages', () => {
      expect(m.x(27)).toBe(0xff00000000000000n | PAGES | 0x980n); // attr 0xff, SH = 3, RES1 bit 11
      expect(m.x(17)).toBe(0x800n | (0x0fn << 1n) | 1n); // F = 1, FST = permission fault level 3
      expect(m.x(16)).toBe(0x77n);
      expect(m.x(4)).toBe(0xd65f03c0n);
    });

    it('GP and DBM (descriptor bits 50-51) are no output-address bits; OA bit 48 is an address size fault', () => {
      expect(m.x(28)).toBe(0x6666n); // page G (GP|DBM) written and read back; TTBR1's block has them too
      expect(m.x(29)).toBe(0x800n | (0x03n << 1n) | 1n); // F = 1, FST = address size fault level 3
    });
  });
});
