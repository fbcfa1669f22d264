/**
 * The instruction TLB (Cpu.xTag: virtual page -> frame, filled by instruction fetches) follows
 * the guest's page tables as the data TLBs do: a code page remapped by the guest, then TLBI and
 * ISB, runs the new frame's instructions at the next fetch, under both engines.
 */
import { describe, expect, it } from 'vitest';
import { KVM_GUESTDBG } from '../../src/index.js';
import { KVM_GUESTDBG_ARM64 } from '../../src/uapi/arm64.js';
import { runToExit } from '../helpers/run.js';
import { armMachine, ENGINES, RAM_BASE, reg, useEngine } from './helpers.js';

const L1 = RAM_BASE + 0x10000;
const L2 = RAM_BASE + 0x11000;
const L3 = RAM_BASE + 0x12000;
const PA_A = RAM_BASE + 0x20000;
const PA_B = RAM_BASE + 0x21000;
/** Not in the same TLB set as the code at RAM_BASE (which would evict its entry). */
const TARGET_VA = 0x80005000;

const MAIN = [
  0xd63f0040, // blr x2             (the page at TARGET_VA: x0 = 1)
  0xaa0003ea, // mov x10, x0
  0xf9001464, // str x4, [x3, #40]  (its level-3 descriptor now points at PA_B)
  0xd5033b9f, // dsb ish
  0xd5088725, // tlbi vae1, x5
  0xd5033b9f, // dsb ish
  0xd5033fdf, // isb
  0xd63f0040, // blr x2             (x0 = 2)
  0xd4200000, // brk #0
];

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  it('a code page the guest remaps (then TLBI, ISB) runs the new frame at once', () => {
    const m = armMachine(new Uint8Array(0), { ramSize: 0x100000 });
    const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
    MAIN.forEach((w, i) => dv.setUint32(4 * i, w, true));
    // movz x0, #1 / #2; ret
    dv.setUint32(PA_A - RAM_BASE, 0xd2800020, true);
    dv.setUint32(PA_A - RAM_BASE + 4, 0xd65f03c0, true);
    dv.setUint32(PA_B - RAM_BASE, 0xd2800040, true);
    dv.setUint32(PA_B - RAM_BASE + 4, 0xd65f03c0, true);
    const q = (a: number, v: bigint) => dv.setBigUint64(a - RAM_BASE, v, true);
    // 39-bit VA (T0SZ 25): [1] = 1 GiB block identity-mapping RAM; [2] -> L2 -> L3, whose entry 5 maps PA_A.
    q(L1 + 8, BigInt(RAM_BASE) | 0x401n);
    q(L1 + 16, BigInt(L2) | 3n);
    q(L2, BigInt(L3) | 3n);
    q(L3 + 40, BigInt(PA_A) | 0x403n);
    const v = m.vcpu;
    v.setOneReg(reg.sys(3, 0, 10, 2, 0), 0xffn); // MAIR_EL1: attr 0 Normal WB
    v.setOneReg(reg.sys(3, 0, 2, 0, 2), 25n | (1n << 23n) | (5n << 32n)); // TCR_EL1: T0SZ 25, EPD1, IPS 48
    v.setOneReg(reg.sys(3, 0, 2, 0, 0), BigInt(L1)); // TTBR0_EL1
    v.setOneReg(reg.SCTLR_EL1, 0x30d00800n | 1n); // RES1 bits, M
    m.setX(2, TARGET_VA);
    m.setX(3, L3);
    m.setX(4, BigInt(PA_B) | 0x403n);
    m.setX(5, TARGET_VA / 4096);
    v.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
    expect(runToExit(v).reason).toBe('debug');
    expect(m.pc()).toBe(BigInt(RAM_BASE + 4 * (MAIN.length - 1)));
    expect([m.x(10), m.x(0)]).toEqual([1n, 2n]);
  });
});
