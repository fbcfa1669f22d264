/**
 * x86 LOCK-prefixed read-modify-write instructions take their own path (one host atomic, or the
 * VM lock for split/unaligned operands, or plain exits for MMIO). On one thread they must do
 * exactly what the same instruction without LOCK does: same memory, registers, arithmetic flags
 * and exits, for every lockable instruction, operand size and kind of address.
 */
import { describe, expect, it } from 'vitest';
import { virtualSys, type Vcpu, type VcpuExit } from '../../src/index.js';
import { rng } from '../x86/alu-gen.js';
import { x86Vm } from './machines.js';

interface Form {
  readonly name: string;
  /** Opcode bytes for byte operands, and for word/dword/qword ones (null: no such size). */
  readonly op8: readonly number[] | null;
  readonly op: readonly number[] | null;
  /** ModRM.reg: a /digit, or 'r' (RBX). */
  readonly reg: number | 'r';
  readonly imm8?: boolean;
  /** Bit-offset register forms (BTS r): RBX is a small signed bit offset. */
  readonly bitReg?: boolean;
  readonly sizes?: readonly number[];
}

const alu = (name: string, base: number, n: number): Form[] => [
  { name: `${name} m,r`, op8: [base], op: [base + 1], reg: 'r' },
  { name: `${name} m,imm8`, op8: [0x80], op: [0x83], reg: n, imm8: true },
];

const FORMS: Form[] = [
  ...alu('ADD', 0x00, 0),
  ...alu('OR', 0x08, 1),
  ...alu('ADC', 0x10, 2),
  ...alu('SBB', 0x18, 3),
  ...alu('AND', 0x20, 4),
  ...alu('SUB', 0x28, 5),
  ...alu('XOR', 0x30, 6),
  { name: 'INC', op8: [0xfe], op: [0xff], reg: 0 },
  { name: 'DEC', op8: [0xfe], op: [0xff], reg: 1 },
  { name: 'NOT', op8: [0xf6], op: [0xf7], reg: 2 },
  { name: 'NEG', op8: [0xf6], op: [0xf7], reg: 3 },
  { name: 'XCHG', op8: [0x86], op: [0x87], reg: 'r' },
  { name: 'CMPXCHG', op8: [0x0f, 0xb0], op: [0x0f, 0xb1], reg: 'r' },
  { name: 'XADD', op8: [0x0f, 0xc0], op: [0x0f, 0xc1], reg: 'r' },
  { name: 'BTS m,r', op8: null, op: [0x0f, 0xab], reg: 'r', bitReg: true },
  { name: 'BTR m,r', op8: null, op: [0x0f, 0xb3], reg: 'r', bitReg: true },
  { name: 'BTC m,r', op8: null, op: [0x0f, 0xbb], reg: 'r', bitReg: true },
  { name: 'BTS m,imm8', op8: null, op: [0x0f, 0xba], reg: 5, imm8: true },
  { name: 'BTR m,imm8', op8: null, op: [0x0f, 0xba], reg: 6, imm8: true },
  { name: 'BTC m,imm8', op8: null, op: [0x0f, 0xba], reg: 7, imm8: true },
  { name: 'CMPXCHG8B', op8: null, op: [0x0f, 0xc7], reg: 1, sizes: [4] },
];

/** Encodes `[lock] [66] [REX.W] op modrm(reg, [rsi+disp32=0]) [imm8]`, then HLT. */
function encode(f: Form, size: number, lock: boolean, imm: number): Uint8Array {
  const b: number[] = [];
  if (lock) b.push(0xf0);
  if (size === 2) b.push(0x66);
  if (size === 8) b.push(0x48);
  b.push(...(size === 1 ? f.op8! : f.op!));
  b.push(0x80 | ((f.reg === 'r' ? 3 : f.reg) << 3) | 6, 0, 0, 0, 0);
  if (f.imm8) b.push(imm & 0xff);
  b.push(0xf4);
  return Uint8Array.from(b);
}

const DATA = 0x40000;
const MMIO = 0x300000;
/** Where RSI points, relative to DATA (RAM) or MMIO. */
const PLACES = [
  { name: 'aligned', base: DATA + 0x100 },
  { name: 'unaligned', base: DATA + 0x103 },
  { name: 'split across pages', base: DATA + 0x1000 - 3 },
  { name: 'MMIO', base: MMIO + 0x100 },
] as const;

/** The MMIO device: reads return bytes derived from the address; writes are recorded. */
function mmioData(gpa: bigint, len: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => Number((gpa * 37n + BigInt(i) * 101n) & 0xffn));
}

interface Outcome {
  exits: string[];
  regs: Record<string, string>;
  flags: string;
  mem: string;
}

function run(v: Vcpu, mem: Uint8Array): Outcome {
  const exits: string[] = [];
  for (let n = 0; n < 20; n++) {
    const e: VcpuExit = v.run();
    if (e.reason === 'mmio') {
      if (e.isWrite) exits.push(`w ${e.physAddr.toString(16)}/${e.len} ${Buffer.from(e.data).toString('hex')}`);
      else {
        exits.push(`r ${e.physAddr.toString(16)}/${e.len}`);
        e.data.set(mmioData(e.physAddr, e.len));
      }
      continue;
    }
    exits.push(e.reason);
    break;
  }
  const r = v.getRegs();
  const regs: Record<string, string> = {};
  for (const k of ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rip'] as const) regs[k] = r[k].toString(16);
  // The bytes any operand here can reach (bit offsets go 8 bytes below and 16 above RSI).
  const win = (a: number) => Buffer.from(mem.subarray(a - 16, a + 32)).toString('hex');
  return { exits, regs, flags: (r.rflags & 0x8d5n).toString(16), mem: PLACES.filter((p) => p.base < MMIO).map((p) => win(p.base)).join(' ') };
}

describe('x86 LOCK read-modify-write: the same result as without LOCK on one thread', () => {
  const sys = virtualSys({ arch: 'x86_64' });
  const m = x86Vm(sys, new Uint8Array(0), 1);
  const v = m.vcpus[0]!;
  const mem = m.ram.bytes;
  let codeAt = 0x10000;

  for (const f of FORMS) {
    for (const size of f.sizes ?? (f.op8 ? [1, 2, 4, 8] : [2, 4, 8])) {
      for (const place of PLACES) {
        it(`${f.name} (${size === 4 && f.name === 'CMPXCHG8B' ? 8 : size} bytes, ${place.name})`, () => {
          const rand = rng((f.name.length * 131 + size * 17 + place.base) ^ 0x5bd1e995);
          const big = () => (BigInt(rand()) << 32n) | BigInt(rand());
          for (let trial = 0; trial < 6; trial++) {
            const init = Uint8Array.from({ length: 0x1100 }, () => rand() & 0xff);
            const imm = rand() & 0xff;
            let rbx = big();
            if (f.bitReg) rbx = BigInt((rand() % 192) - 64);
            // Memory equal to RAX half of the time (CMPXCHG/CMPXCHG8B succeed).
            const at = place.base - DATA;
            const memVal = at >= 0 && at < 0x1100 - 8 ? new DataView(init.buffer).getBigUint64(at, true) : 0n;
            const rax = place.base >= MMIO ? big() : trial & 1 ? memVal : big();
            const rdx = trial & 1 && f.name === 'CMPXCHG8B' ? memVal >> 32n : big();
            const rcx = big();
            const cf = BigInt(rand() & 1);
            const results: Outcome[] = [];
            for (const lock of [false, true]) {
              const code = encode(f, size, lock, imm);
              mem.set(code, codeAt);
              mem.set(init, DATA);
              v.setRegs({ rip: codeAt, rsp: 0x7f000, rflags: 2n | cf, rax, rbx, rcx, rdx, rsi: place.base, rdi: 0 });
              codeAt += 32;
              const o = run(v, mem);
              o.regs.rip = (BigInt(`0x${o.regs.rip}`) - BigInt(codeAt - 32) - BigInt(code.length)).toString(); // relative to the end
              results.push(o);
            }
            expect(results[1]).toEqual(results[0]);
            expect(results[0]!.exits.at(-1)).toBe('hlt');
          }
        });
      }
    }
  }
});
