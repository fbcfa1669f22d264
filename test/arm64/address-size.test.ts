/**
 * Stage-1 output addresses beyond the PA size: an Address size fault at the level of the
 * descriptor (DFSC 0b0000ll), as the architecture defines for an OA above TCR_EL1.IPS (or the
 * 48-bit PARange), never an access to that address. The x86 counterpart (paging entries above
 * MAXPHYADDR: #PF with RSVD) is in test/x86/fidelity.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { KVM_GUESTDBG } from '../../src/index.js';
import { KVM_GUESTDBG_ARM64 } from '../../src/uapi/arm64.js';
import { armMachine, ENGINES, RAM_BASE, reg, useEngine } from './helpers.js';

const L1 = RAM_BASE + 0x10000;
const L2 = RAM_BASE + 0x11000;
const L3 = RAM_BASE + 0x12000;
const VBAR = RAM_BASE + 0x2000;
const TARGET_VA = 0x80000000;
const ESR = reg.ESR_EL1;
const FAR = reg.FAR_EL1;

/** ldr x1, [x2]; brk #0 at RAM_BASE; the synchronous-exception vector (current EL, SPx) is brk #1. */
function mmuGuest(leafOa: bigint, ips: number) {
  const words: [number, number][] = [
    [RAM_BASE, 0xf9400041],
    [RAM_BASE + 4, 0xd4200000],
    [VBAR + 0x200, 0xd4200020],
  ];
  const m = armMachine(new Uint8Array(0), { ramSize: 0x100000 });
  const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
  for (const [a, w] of words) dv.setUint32(a - RAM_BASE, w, true);
  const q = (a: number, v: bigint) => dv.setBigUint64(a - RAM_BASE, v, true);
  // 39-bit VA (T0SZ 25): level 1 first. [1] = 1 GiB block identity-mapping RAM; [2] -> L2 -> L3.
  q(L1 + 8, BigInt(RAM_BASE) | 0x401n); // block, AF, attr 0
  q(L1 + 16, BigInt(L2) | 3n);
  q(L2, BigInt(L3) | 3n);
  q(L3, leafOa | 0x403n); // page, AF
  const v = m.vcpu;
  v.setOneReg(reg.sys(3, 0, 10, 2, 0), 0xffn); // MAIR_EL1: attr 0 Normal WB
  v.setOneReg(reg.sys(3, 0, 2, 0, 2), 25n | (1n << 23n) | (BigInt(ips) << 32n)); // TCR_EL1: T0SZ 25, EPD1, IPS
  v.setOneReg(reg.sys(3, 0, 2, 0, 0), BigInt(L1)); // TTBR0_EL1
  v.setOneReg(reg.VBAR_EL1, BigInt(VBAR));
  v.setOneReg(reg.SCTLR_EL1, 0x30d00800n | 1n); // RES1 bits, M
  m.setX(2, TARGET_VA);
  v.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
  return m;
}

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  it('IPS = 32 bits: a page at 2^36 is an Address size fault at level 3 (DFSC 3), FAR the VA', () => {
    const m = mmuGuest(1n << 36n, 0);
    const e = m.vcpu.run();
    expect(e.reason).toBe('debug');
    expect(m.pc()).toBe(BigInt(VBAR + 0x200)); // the data abort vector
    const esr = m.vcpu.getOneReg(ESR);
    expect(Number(esr >> 26n)).toBe(0x25); // data abort, same EL
    expect(Number(esr & 0x3fn)).toBe(0b000011); // address size fault, level 3
    expect(m.vcpu.getOneReg(FAR)).toBe(BigInt(TARGET_VA));
  });

  it('IPS = 48 bits: the same page is an address (no memory there: an MMIO exit)', () => {
    const m = mmuGuest(1n << 36n, 5);
    expect(m.vcpu.run()).toMatchObject({ reason: 'mmio', physAddr: 1n << 36n, isWrite: false });
  });

  it('an output address with bits [51:48] set is an Address size fault whatever IPS says', () => {
    const m = mmuGuest(1n << 48n, 6); // IPS 52 bits, capped at PARange (48)
    m.vcpu.run();
    expect(Number(m.vcpu.getOneReg(ESR) & 0x3fn)).toBe(0b000011);
  });
});
