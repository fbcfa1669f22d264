/**
 * ROL/ROR (exec/shift.ts: int32 arithmetic, 64-bit on the two halves) against a BigInt model of
 * the SDM's definition: every operand size, counts 0..70 in CL (masked to 5 or 6 bits; a masked
 * count that is a multiple of the size still sets CF and OF from the result), random values,
 * CF and OF preset both ways; under the interpreter and the block JIT.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, type Sys } from '../../src/index.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { runToExit } from '../helpers/run.js';
import { CODE, enterMode, RAM, STACK, writeGdt, writePageTables } from '../helpers/x86.js';

const CF = 1n;
const OF = 0x800n;

interface Case {
  left: boolean;
  size: 1 | 2 | 4 | 8;
  value: bigint;
  count: number;
  flags: bigint;
}

/** The SDM's ROL/ROR: the result, and CF/OF when the masked count is not zero. */
function model(c: Case): { rax: bigint; flags: bigint } {
  const bits = BigInt(c.size * 8);
  const mask = (1n << bits) - 1n;
  const v = c.value & mask;
  const cnt = BigInt(c.count & (c.size === 8 ? 63 : 31));
  if (cnt === 0n) return { rax: c.value, flags: c.flags };
  const n = cnt % bits;
  const r = c.left ? ((v << n) | (v >> ((bits - n) % bits))) & mask : ((v >> n) | (v << ((bits - n) % bits))) & mask;
  const msb = (r >> (bits - 1n)) & 1n;
  const cf = c.left ? r & 1n : msb;
  const of = c.left ? msb ^ cf : msb ^ ((r >> (bits - 2n)) & 1n);
  // 32-bit destinations zero the upper half; 8/16-bit ones merge into RAX.
  const rax = c.size === 4 ? r : c.size === 8 ? r : (c.value & ~mask & ((1n << 64n) - 1n)) | r;
  return { rax, flags: (c.flags & ~(CF | OF)) | (cf ? CF : 0n) | (of ? OF : 0n) };
}

function code(c: Case): number[] {
  const modrm = 0xc0 | ((c.left ? 0 : 1) << 3); // ROL/ROR rAX (AL), CL
  const op = c.size === 1 ? [0xd2, modrm] : c.size === 2 ? [0x66, 0xd3, modrm] : c.size === 4 ? [0xd3, modrm] : [0x48, 0xd3, modrm];
  return [...op, 0x9c, 0x5b, 0xf4]; // PUSHFQ; POP RBX; HLT
}

function run(sys: Sys, c: Case): { rax: bigint; flags: bigint } {
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  writeGdt(ram.bytes);
  writePageTables(ram.bytes);
  ram.bytes.set(code(c), CODE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'long64');
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: c.flags, rax: c.value, rcx: BigInt(c.count) });
  expect(runToExit(vcpu).reason).toBe('hlt');
  const r = vcpu.getRegs();
  return { rax: r.rax, flags: r.rbx & (CF | OF) };
}

function cases(): Case[] {
  let s = 0x0707;
  const r32 = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const out: Case[] = [];
  for (const size of [1, 2, 4, 8] as const) {
    for (const left of [true, false]) {
      for (const count of [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 63, 64, 65, 70]) {
        const value = (BigInt(r32()) << 32n) | BigInt(r32());
        out.push({ left, size, value, count, flags: 2n | (r32() & 1 ? CF : 0n) | (r32() & 1 ? OF : 0n) });
      }
    }
  }
  return out;
}

describe.each(X86_ENGINES.map((e) => [e.name, e] as const))('ROL/ROR without BigInt (%s)', (_name, engine) => {
  it('matches the SDM model for every size, count and preset flags', () => {
    const bad: string[] = [];
    for (const c of cases()) {
      const got = run(engineSys(engine), c);
      const want = model(c);
      const rax = got.rax;
      if (rax !== want.rax || got.flags !== (want.flags & (CF | OF))) {
        bad.push(`${c.left ? 'rol' : 'ror'}${c.size * 8} 0x${c.value.toString(16)} by ${c.count}: rax 0x${got.rax.toString(16)} flags ${got.flags} (want 0x${want.rax.toString(16)} ${want.flags & (CF | OF)})`);
      }
    }
    expect(bad).toEqual([]);
  });
});
