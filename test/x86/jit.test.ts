/**
 * The x86 block JIT against the interpreter: self-modifying code, code the VMM rewrites between
 * runs, run budgets ending inside translated loops, and seeded random programs with loops and
 * every Jcc condition after every flag-writing form (the fused conditions) — final registers,
 * full RFLAGS and memory must be identical under both engines.
 */
import { runToExit } from '../helpers/run.js';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isKvmError, Kvm, virtualSys, type VcpuExit } from '../../src/index.js';
import { bootGuest, image, MIX, runGuest } from '../../bench/guests.js';
import { engineSys, X86_ENGINES, x86JitStats, type X86Engine } from '../helpers/engines.js';
import { CODE, DATA, enterMode, RAM, runProgram, STACK, writeGdt, writePageTables } from '../helpers/x86.js';
import { generate, rng } from './alu-gen.js';

const ROOT = resolve(__dirname, '../..');
const SMC = new Uint8Array(readFileSync(join(ROOT, 'test/guests/x86/jit/smc.bin')));

/** A long-mode machine with `code` at CODE (the helpers' GDT and identity page tables). */
function machine(engine: X86Engine, code: Uint8Array, budget?: number) {
  const sys = virtualSys({ ...engine.opts, ...(budget ? { runBudget: budget } : {}) });
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  writeGdt(ram.bytes);
  writePageTables(ram.bytes);
  ram.bytes.set(code, CODE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'long64');
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
  return { sys, vm, vcpu, ram: ram.bytes };
}

function ioValue(e: VcpuExit): number {
  if (e.reason !== 'io') throw new Error(`expected an IO exit, got ${e.reason}`);
  let v = 0;
  for (let k = e.size - 1; k >= 0; k--) v = v * 256 + e.data[k]!;
  return v;
}

describe.each(X86_ENGINES.map((e) => [e.name, e] as const))('x86 code changes (%s)', (_name, engine) => {
  it('a store to the next instruction of the same block takes effect at once', () => {
    const m = machine(engine, SMC);
    const e = runToExit(m.vcpu);
    expect(e).toMatchObject({ reason: 'io', port: 0x80 });
    expect(ioValue(e)).toBe(0x42);
  });

  it('a hot loop rewriting its own instruction every iteration sees each new byte', () => {
    const m = machine(engine, SMC);
    runToExit(m.vcpu);
    const e = runToExit(m.vcpu);
    expect(e).toMatchObject({ reason: 'io', port: 0x81, size: 4 });
    let sum = 0;
    for (let c = 200; c >= 1; c--) sum += (c << 24) >> 24;
    expect(ioValue(e)).toBe(sum >>> 0);
    const st = x86JitStats(m.sys, m.vcpu.fd)!;
    expect(st.failed).toBe(0);
  });

  it('code the VMM rewrites between runs is seen by the next KVM_RUN, also once the loop is hot', () => {
    const m = machine(engine, SMC);
    runToExit(m.vcpu);
    runToExit(m.vcpu);
    let e = runToExit(m.vcpu);
    expect(e).toMatchObject({ reason: 'io', port: 0x82 });
    expect(ioValue(e)).toBe(1);
    const rip = Number(m.vcpu.getRegs().rip);
    const immGpa = rip - 2 + 1; // mov al, imm8 right before the OUT
    for (let n = 2; n < 60; n++) {
      m.ram[immGpa] = n;
      e = runToExit(m.vcpu);
      expect(ioValue(e), `run ${n}`).toBe(n);
    }
    const st = x86JitStats(m.sys, m.vcpu.fd)!;
    expect(st.failed).toBe(0);
    if (engine.opts.jit) {
      expect(st.compiled).toBeGreaterThan(0);
      expect(st.invalidated).toBeGreaterThan(50);
    }
  });
});

describe('x86 JIT agrees with the interpreter', () => {
  it('a run budget ending inside a translated loop stops at the same instruction', () => {
    // l: inc rax; cmp rax, rbx; jne l  (rbx huge: the loop never ends by itself)
    const code = Uint8Array.of(0x48, 0xff, 0xc0, 0x48, 0x39, 0xd8, 0x75, 0xf8, 0xf4);
    const out = X86_ENGINES.map((engine) => {
      const m = machine(engine, code, 1000);
      m.vcpu.setRegs({ ...m.vcpu.getRegs(), rbx: 1n << 40n });
      let errno = '';
      try {
        if (m.vcpu.run().reason === 'intr') errno = 'EINTR';
      } catch (err) {
        errno = isKvmError(err) ? err.code : String(err);
      }
      const r = m.vcpu.getRegs();
      return { errno, rax: r.rax, rip: r.rip, rflags: r.rflags };
    });
    expect(out[0]!.errno).toBe('EINTR');
    for (const o of out.slice(1)) expect(o).toEqual(out[0]);
  });

  it('the benchmark workload translates without a failure and computes the host checksum', { timeout: 60_000 }, () => {
    const expect8 = /rounds=8 mask=0 checksum=0x([0-9a-f]+)/.exec(readFileSync(join(ROOT, 'bench/guests/work.expect'), 'utf8'))!;
    const sys = engineSys(X86_ENGINES[1]!);
    const g = bootGuest(sys, 'x86_64', image(ROOT, 'x86_64'), 8, MIX);
    const r = runGuest(g);
    expect(r.checksum >>> 0).toBe(parseInt(expect8[1]!, 16));
    const st = x86JitStats(sys, g.vcpu.fd)!;
    expect(st.failed, String(st.lastError)).toBe(0);
    expect(st.compiled).toBeGreaterThan(50);
    g.close();
  });

  // Translated code defers the flags record until it can be observed: an access that leaves the
  // block from its slow path (here an MMIO read after a CMP, the load of the ALU form unwinding,
  // MOV's exiting softly; a fault takes the same paths) must see the CMP's flags, not older ones.
  it.each([
    ['add edx, [rsi] (unwinds)', [0x03, 0x16]],
    ['mov eax, [rsi] (soft exit)', [0x8b, 0x06]],
    ['add [rsi], edx (read-modify-write, unwinds)', [0x01, 0x16]],
  ])('flags are exact when %s leaves a translated block at MMIO', (_name, access) => {
    // top: add rsi, 8; xor edi, edi; cmp ecx, ebx; <access>; test esi, esi; jmp top
    const body = [0x48, 0x83, 0xc6, 0x08, 0x31, 0xff, 0x39, 0xd9, ...access, 0x85, 0xf6];
    const code = Uint8Array.of(...body, 0xeb, (-(body.length + 2)) & 0xff);
    const out = X86_ENGINES.map((engine) => {
      const m = machine(engine, code);
      // RAM ends at 2 MiB: the 1001st access is the first past it (MMIO).
      m.vcpu.setRegs({ ...m.vcpu.getRegs(), rsi: BigInt(RAM - 8 * 1001), rcx: 5n, rbx: 7n });
      const e = runToExit(m.vcpu);
      const r = m.vcpu.getRegs();
      const st = x86JitStats(m.sys, m.vcpu.fd);
      return { reason: e.reason, rip: r.rip, rsi: r.rsi, rflags: r.rflags, compiled: (st?.compiled ?? 0) > 0 };
    });
    expect(out[0]!.reason).toBe('mmio');
    expect(out[0]!.rsi).toBe(BigInt(RAM));
    // CF, AF, SF set and ZF, PF, OF clear, as CMP left them (5 - 7 = 0xfffffffe).
    expect(out[0]!.rflags & 0x8d5n).toBe(0x091n);
    for (const o of out.slice(1)) {
      expect(o.compiled).toBe(true);
      expect({ ...o, compiled: false }).toEqual({ ...out[0], compiled: false });
    }
  });

  const N = Number(process.env.JIT_PROGRAMS ?? 600);
  it(`${N} seeded programs with loops and fused Jcc conditions end in the same state`, { timeout: 120_000 }, () => {
    const failures: string[] = [];
    let compiled = 0;
    for (let p = 0; p < N; p++) {
      const prog = loopProgram(0x7ac0 + p * 104729);
      const res = X86_ENGINES.map((engine) => {
        const sys = engineSys(engine);
        const t = runProgram(sys, { mode: 'long64', code: prog.code, regs: prog.regs, mem: [[DATA, prog.mem]], maxExits: 4 });
        return JSON.stringify({ end: t.end, last: t.exits[t.exits.length - 1], data: t.data });
      });
      res.forEach((r, e) => {
        if (r !== res[0]) failures.push(`program ${p}:\n  ${prog.listing.join('\n  ')}\n  interpreter ${res[0]}\n  ${X86_ENGINES[e]!.name.padEnd(11)} ${r}`);
      });
      compiled++;
    }
    expect(compiled).toBe(N);
    expect(failures.slice(0, 2)).toEqual([]);
  });
});

const REG_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/**
 * A loop around a random straight-line body (alu-gen) with a random flag-writing instruction and
 * a Jcc over an `inc rax` inside, counted down in memory (so the body may use every register).
 */
function loopProgram(seed: number): { code: Uint8Array; regs: Record<string, bigint>; mem: Uint8Array; listing: string[] } {
  const r = rng(seed);
  const body = generate(seed, 6);
  const code: number[] = [];
  const listing = [...body.listing];
  const bodyBytes = Array.from(body.code.subarray(0, body.code.length - 1)); // without its HLT
  code.push(...bodyBytes);
  // flag writer: ALU r, r / r, imm8 / INC / DEC in size 1, 2, 4 or 8
  const size = [1, 2, 4, 8][r() % 4]!;
  const a = r() % 16 === 4 ? 0 : r() % 16;
  // A third of the time both operands are the same register: equal values test the edges of <, <=.
  const b = r() % 3 === 0 ? (a === 4 ? 0 : a) : r() % 16;
  const form = r() % 4;
  const rex = (w: number, reg: number, rm: number) => 0x40 | w | (((reg >> 3) & 1) << 2) | ((rm >> 3) & 1);
  const pre = () => {
    if (size === 2) code.push(0x66);
    code.push(rex(size === 8 ? 8 : 0, form === 0 ? b : 0, a === 4 ? 0 : a));
  };
  const dst = a === 4 ? 0 : a;
  if (form === 0) {
    const op = [0, 5, 7, 4, 1, 6, 8][r() % 7]!; // add sub cmp and or xor test
    pre();
    code.push(op === 8 ? (size === 1 ? 0x84 : 0x85) : (op << 3) | (size === 1 ? 0 : 1), 0xc0 | ((b & 7) << 3) | (dst & 7));
    listing.push(`${['add', 'or', '', '', 'and', 'sub', 'xor', 'cmp', 'test'][op]} ${REG_NAMES[dst]}/${size}, ${REG_NAMES[b]}`);
  } else if (form === 1) {
    const op = [0, 5, 7, 4][r() % 4]!;
    pre();
    code.push(size === 1 ? 0x80 : 0x83, 0xc0 | (op << 3) | (dst & 7), r() & 0xff);
    listing.push(`${['add', '', '', '', 'and', 'sub', '', 'cmp'][op]} ${REG_NAMES[dst]}/${size}, imm8`);
  } else {
    pre();
    code.push(size === 1 ? 0xfe : 0xff, 0xc0 | ((form - 2) << 3) | (dst & 7));
    listing.push(`${form === 2 ? 'inc' : 'dec'} ${REG_NAMES[dst]}/${size}`);
  }
  const cc = r() % 16;
  code.push(0x70 + cc, 3, 0x48, 0xff, 0xc0); // jcc +3; inc rax
  listing.push(`j${cc} over inc rax`);
  // dec qword [DATA + 0x100]; jnz top
  const cnt = DATA + 0x100;
  code.push(0x48, 0xff, 0x0c, 0x25, cnt & 0xff, (cnt >> 8) & 0xff, (cnt >> 16) & 0xff, 0);
  const rel = -(code.length + 6);
  code.push(0x0f, 0x85, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >> 24) & 0xff);
  code.push(0xf4);
  listing.push('dec qword [count]; jnz top; hlt');
  const mem = new Uint8Array(0x108);
  mem.set(body.mem, 0);
  mem[0x100] = 2 + (r() % 20);
  return { code: Uint8Array.from(code), regs: body.regs, mem, listing };
}
