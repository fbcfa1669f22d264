/**
 * Code seen once (run.ts fastRun, cold: interpreted block by block, nothing cached), then again
 * (decoded into the block cache) and a third time, against the interpreter alone and the JIT
 * translating at first sight: straight-line code in blocks of 8 across three pages, with the
 * stage-1 MMU on, run at EL1 from kernel-half addresses (TTBR1) and at EL0 from the low half
 * (TTBR0), to its BRK or to a data abort at an unmapped address in its middle. Registers, the
 * data page, the exit PC, the retired count and ESR/FAR/ELR must be the same on every engine
 * and equal the values the program's layout gives.
 */
import { describe, expect, it } from 'vitest';
import { KVM_GUESTDBG } from '../../src/uapi/constants.js';
import { KVM_GUESTDBG_ARM64 } from '../../src/uapi/arm64.js';
import { runToExit } from '../helpers/run.js';
import { armMachine, ENGINES, RAM_BASE, reg, withEngine, type ArmMachine, type Engine } from './helpers.js';

const HIGH = 0xffffff8000000000n;
const PT0 = 0x10_0000; // TTBR0's L1 table (offsets in RAM)
const PT1 = 0x10_1000; // TTBR1's L1 table
const VECTORS = 0x8000;
const CODE = 0x1_0000;
const DATA = 0x2_0000;
const N = 2600; // instructions: three pages
const FAULT_AT = 1234; // the faulting load's index in the faulting variant
const BRK0 = 0xd4200000;
const ldrX5X10 = 0xf9400145; // ldr x5, [x10]: x10 holds an unmapped VA
const UNMAPPED = 0x1000n; // TTBR0 L1 entry 0 is invalid

const sys = {
  SCTLR_EL1: reg.sys(3, 0, 1, 0, 0),
  TTBR0_EL1: reg.sys(3, 0, 2, 0, 0),
  TTBR1_EL1: reg.sys(3, 0, 2, 0, 1),
  TCR_EL1: reg.sys(3, 0, 2, 0, 2),
  MAIR_EL1: reg.sys(3, 0, 10, 2, 0),
  ELR: reg.elr,
};

/** Blocks of 8 (bench/cold.ts's shapes, X9 the data pointer), the 8th a taken b.ne; then BRK. */
function program(fault: boolean): number[] {
  const w: number[] = [];
  for (let i = 0; i < N; i++) {
    if (fault && i === FAULT_AT) {
      w.push(ldrX5X10);
      continue;
    }
    switch (i & 7) {
      case 0: w.push(0x91000400 | ((i & 0xfff) << 10)); break; // add x0, x0, #imm12
      case 1: w.push(0xf9000520 | (((i >> 3) & 15) << 10)); break; // str x0, [x9, #8k]
      case 2: w.push(0x8b000401); break; // add x1, x0, x0, lsl #1
      case 3: w.push(0xca010042); break; // eor x2, x2, x1
      case 4: w.push(0xf9400523 | (((i >> 4) & 15) << 10)); break; // ldr x3, [x9, #8k]
      case 5: w.push(0xb2400000); break; // orr x0, x0, #1
      case 6: w.push(0xf1000004); break; // subs x4, x0, #0 (Z clear)
      case 7: w.push(0x54000021); break; // b.ne .+4
    }
  }
  w.push(BRK0);
  return w;
}

interface Outcome {
  x: bigint[];
  pc: bigint;
  retired: number;
  data: number[];
  esr: bigint;
  far: bigint;
  elr: bigint;
}

function retired(m: ArmMachine): number {
  const k = (m.sys as unknown as { kernel: { file(fd: number): { vcpu?: { archState: { cpu: { retired: number } } } } | undefined } }).kernel;
  return k.file(m.vcpu.fd)!.vcpu!.archState.cpu.retired;
}

/** A machine with both halves mapped onto RAM (1 GiB blocks): TTBR1 EL1-only, TTBR0 EL0 read/write. */
function machine(words: number[]): ArmMachine {
  const m = armMachine(new Uint8Array(0), { ramSize: 0x40_0000 });
  const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
  words.forEach((x, i) => dv.setUint32(CODE + 4 * i, x >>> 0, true));
  for (let v = 0; v < 0x800; v += 4) dv.setUint32(VECTORS + v, BRK0, true);
  const block = BigInt(RAM_BASE) | (1n << 10n) | (3n << 8n) | 1n; // AF, inner shareable, attr 0
  dv.setBigUint64(PT0 + 8, block | (1n << 6n), true); // AP: EL0 read/write (so PXN at EL1)
  dv.setBigUint64(PT1 + 8, block, true); // HIGH + 1 GiB -> RAM_BASE
  m.vcpu.setOneReg(sys.MAIR_EL1, 0xffn);
  m.vcpu.setOneReg(sys.TCR_EL1, 25n | (25n << 16n) | (2n << 30n) | (5n << 32n) | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 24n) | (1n << 26n) | (3n << 28n));
  m.vcpu.setOneReg(sys.TTBR0_EL1, BigInt(RAM_BASE + PT0));
  m.vcpu.setOneReg(sys.TTBR1_EL1, BigInt(RAM_BASE + PT1));
  m.vcpu.setOneReg(sys.SCTLR_EL1, m.vcpu.getOneReg(sys.SCTLR_EL1) | 1n);
  m.vcpu.setOneReg(reg.VBAR_EL1, HIGH + BigInt(RAM_BASE + VECTORS));
  m.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
  return m;
}

/** Runs the program from its start at `el` (1: kernel half; 0: low half) and records the outcome. */
function runOnce(m: ArmMachine, el: 0 | 1): Outcome {
  const base = el === 1 ? HIGH + BigInt(RAM_BASE) : BigInt(RAM_BASE);
  for (let r = 0; r < 11; r++) m.setX(r, 0);
  m.setX(9, base + BigInt(DATA));
  m.setX(10, UNMAPPED);
  m.vcpu.setOneReg(reg.pstate, el === 1 ? 0x3c5 : 0); // EL1h masked / EL0t
  m.vcpu.setOneReg(reg.pc, base + BigInt(CODE));
  m.ram.bytes.fill(0, DATA, DATA + 0x1000);
  const before = retired(m);
  const e = runToExit(m.vcpu);
  expect(e.reason).toBe('debug');
  return {
    x: Array.from({ length: 11 }, (_, r) => m.x(r)),
    pc: m.pc(),
    retired: retired(m) - before,
    data: Array.from(m.ram.bytes.subarray(DATA, DATA + 0x100)),
    esr: m.vcpu.getOneReg(reg.ESR_EL1),
    far: m.vcpu.getOneReg(reg.FAR_EL1),
    elr: m.vcpu.getOneReg(sys.ELR),
  };
}

const COLD: Engine = { name: 'jit (default hotness: cold, then cached)', jit: true };
const ALL: readonly Engine[] = [...ENGINES, COLD];

describe.each([
  { el: 1 as const, where: 'EL1, kernel-half addresses' },
  { el: 0 as const, where: 'EL0, low addresses' },
])('code seen once, $where', ({ el }) => {
  it.each([false, true])('fault %s: the same outcome on every engine, three runs each', (fault) => {
    const words = program(fault);
    const base = el === 1 ? HIGH + BigInt(RAM_BASE) : BigInt(RAM_BASE);
    const results = ALL.map((engine) =>
      withEngine(engine, () => {
        const m = machine(words);
        return [runOnce(m, el), runOnce(m, el), runOnce(m, el)];
      }),
    );
    const want = results[0]![0]!;
    // What the layout gives: the BRK, or the abort's vector with its syndrome and addresses.
    if (!fault) {
      expect(want.pc).toBe(base + BigInt(CODE + 4 * N));
      expect(want.retired).toBe(N);
    } else {
      const vector = HIGH + BigInt(RAM_BASE + VECTORS + (el === 1 ? 0x200 : 0x400));
      expect(want.pc).toBe(vector);
      expect(want.retired).toBe(FAULT_AT);
      expect(want.esr >> 26n).toBe(el === 1 ? 0x25n : 0x24n); // data abort, same / lower EL
      expect(want.far).toBe(UNMAPPED);
      expect(want.elr).toBe(base + BigInt(CODE + 4 * FAULT_AT));
    }
    expect(want.x[4]).not.toBe(0n);
    results.forEach((runs, i) => runs.forEach((got, r) => expect(got, `${ALL[i]!.name}, run ${r + 1}`).toEqual(want)));
  });
});
