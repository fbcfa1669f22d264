/**
 * x86 MUL, IMUL (one, two and three operands), DIV and IDIV of every size, register and memory
 * divisors, in one translated loop per form: each round loads RAX, RBX, RDX and RFLAGS from a
 * table, runs the instruction and stores RAX, RDX and RFLAGS. The operands are every pair of
 * edge values (0, 1, -1, 2^63, 2^64 - 1, the 2^21 / 2^32 / 2^53 boundaries...) and random ones,
 * with RDX zero or RAX's sign (the inline divide paths after XOR / CQO) or a 128-bit dividend.
 * Results against the BigInt model (RAX, RDX, CF = OF; DIV leaves the flags as they were), and
 * every stored byte equal under the interpreter, the JS JIT and the wasm engine; at CPL 0 in the
 * kernel half and at CPL 3. Then #DE on each inline path: RIP on the divide, registers and flags
 * as the instructions before it left them.
 */
import { describe, expect, it } from 'vitest';
import { EDGE, M64, model, OPEXT, rand64, type Op } from '../helpers/muldiv.js';
import { engineSys, X86_ENGINES, type X86Engine } from '../helpers/engines.js';
import { runToExit } from '../helpers/run.js';
import { exitLine, halfGuest, le32, MMIO_BASE, STACK } from '../helpers/x86.js';
import { Rng } from '../fuzz/rng.js';
import type { Sys } from '../../src/index.js';
import type { X86WasmEngine } from '../../src/arch/x86/emit-wasm-run.js';
import type { X86Machine } from '../../src/arch/x86/run.js';

const ENGINES: readonly X86Engine[] = [...X86_ENGINES, { name: 'wasm', opts: { arch: 'x86_64', jit: true, jitHotness: 0, jitEngine: 'wasm' } }];

const CODE_OFF = 0x10000;
const IN_OFF = 0x40000; // cases: RAX, RBX, RDX, RFLAGS (32 bytes each)
const OUT_OFF = 0x100000; // results: RAX, RDX, RFLAGS (24 bytes each)
const ARITH = 0x8d5n; // CF PF AF ZF SF OF

interface Form {
  op: Op;
  size: number;
  mem: boolean;
  imm: number;
}

/** The instruction: the source RBX (or qword/dword [rsi-24], the case's RBX slot), destination RAX for IMUL r, r/m. */
function insn(f: Form): number[] {
  const pre = f.size === 2 ? [0x66] : f.size === 8 ? [0x48] : [];
  const rm = (reg: number) => (f.mem ? [0x46 | (reg << 3), 0xe8] : [0xc3 | (reg << 3)]);
  if (f.op === 'imul2') return [...pre, 0x0f, 0xaf, ...rm(0)];
  if (f.op === 'imul3') return [...pre, 0x69, ...rm(0), ...(f.size === 2 ? [f.imm & 0xff, (f.imm >>> 8) & 0xff] : le32(f.imm))];
  return [...pre, f.size === 1 ? 0xf6 : 0xf7, ...rm(OPEXT[f.op]!)];
}

/** The loop over RBP cases (RSI: the cases, RDI: the results), then a store to MMIO (an exit at any CPL). */
function loopCode(f: Form): number[] {
  const head = [0x48, 0x8b, 0x06, 0x48, 0x8b, 0x5e, 0x08, 0x48, 0x8b, 0x56, 0x10, 0xff, 0x76, 0x18, 0x48, 0x83, 0xc6, 0x20, 0x9d]; // mov rax,[rsi]; mov rbx,[rsi+8]; mov rdx,[rsi+16]; push qword [rsi+24]; add rsi,32; popfq
  const tail = [0x9c, 0x8f, 0x47, 0x10, 0x48, 0x89, 0x07, 0x48, 0x89, 0x57, 0x08, 0x48, 0x83, 0xc7, 0x18, 0x48, 0xff, 0xcd]; // pushfq; pop qword [rdi+16]; mov [rdi],rax; mov [rdi+8],rdx; add rdi,24; dec rbp
  const body = [...head, ...insn(f), ...tail];
  return [...body, 0x75, (-(body.length + 2)) & 0xff, 0x88, 0x04, 0x25, ...le32(MMIO_BASE)]; // jnz; mov [MMIO_BASE], al
}

interface Case {
  rax: bigint;
  rbx: bigint;
  rdx: bigint;
  flags: bigint;
}

/** Every pair of edge values and random ones, with RDX for the form; no case raises #DE. */
function cases(f: Form, seed: number): Case[] {
  const r = new Rng(seed);
  const bits = BigInt(f.size * 8);
  const m = (1n << bits) - 1n;
  const div = f.op === 'div' || f.op === 'idiv';
  const pairs: [bigint, bigint][] = [];
  for (const a of EDGE) for (const b of EDGE) pairs.push([a, b]);
  for (let n = 0; n < 400; n++) pairs.push([rand64(r), rand64(r)]);
  const out: Case[] = [];
  for (const [rax, rbx] of pairs) {
    // RDX: zero or RAX's sign (a dividend of one register: mostly), a high half below the divisor, any.
    const k = r.int(4);
    const neg = (rax >> (bits - 1n)) & 1n;
    let rdx = rand64(r);
    if (div && k < 2) rdx = f.op === 'idiv' && neg ? M64 : 0n;
    else if (div && k === 2 && (rbx & m) !== 0n) rdx = (rdx & m) % (rbx & m);
    const c = { rax, rbx, rdx, flags: (BigInt(r.u32()) & ARITH) | 2n };
    if (model(f.op, f.size, rax, rdx, rbx, f.imm) !== 'DE') out.push(c);
  }
  return out;
}

/** Instructions the vCPU ran in wasm (white-box: the x86 wasm engine's hook on the block cache). */
function wasmInsns(sys: Sys, fd: number): number {
  const m = (sys as unknown as { kernel: { file(fd: number): { vcpu: { archState: X86Machine } } } }).kernel.file(fd).vcpu.archState;
  return (m.blocks as unknown as { hook: X86WasmEngine | null }).hook?.wasmInsns() ?? 0;
}

/** Runs the form's loop over `cs` under `engine` (CPL 0 in the kernel half, or CPL 3); the result bytes, the instructions run in wasm. */
function runForm(engine: X86Engine, f: Form, cs: readonly Case[], cpl3: boolean): { exit: string; out: Uint8Array; inWasm: number } {
  const sys = engineSys(engine);
  const { vcpu, ram, base } = halfGuest(sys, loopCode(f), CODE_OFF, cpl3);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, ram.bytes.byteLength);
  cs.forEach((c, i) => [c.rax, c.rbx, c.rdx, c.flags].forEach((v, j) => dv.setBigUint64(IN_OFF + 32 * i + 8 * j, v, true)));
  vcpu.setRegs({ rip: base + BigInt(CODE_OFF), rsp: base + BigInt(STACK), rsi: base + BigInt(IN_OFF), rdi: base + BigInt(OUT_OFF), rbp: BigInt(cs.length), rflags: 2n });
  const e = runToExit(vcpu);
  return { exit: exitLine(e), out: ram.bytes.slice(OUT_OFF, OUT_OFF + 24 * cs.length), inWasm: wasmInsns(sys, vcpu.fd) };
}

const FORMS: Form[] = [];
for (const op of ['mul', 'imul', 'div', 'idiv'] as const) for (const size of [1, 2, 4, 8]) FORMS.push({ op, size, mem: false, imm: 0 });
for (const size of [2, 4, 8]) {
  FORMS.push({ op: 'imul2', size, mem: false, imm: 0 });
  for (const imm of [-7, 0x9e3779b9 | 0, 0x7fffffff]) FORMS.push({ op: 'imul3', size, mem: false, imm });
}
for (const op of ['mul', 'imul', 'div', 'idiv', 'imul2'] as const) for (const size of [4, 8]) FORMS.push({ op, size, mem: true, imm: 0 });

const name = (f: Form) => `${f.op}${f.size * 8}${f.mem ? ' mem' : ''}${f.op === 'imul3' ? ` ${f.imm}` : ''}`;

describe('x86 MUL/IMUL/DIV/IDIV in a translated loop vs the BigInt model, every engine', () => {
  for (const cpl3 of [false, true])
    it(`${cpl3 ? 'CPL 3, user half' : 'CPL 0, kernel half'}: edge and random operands, every form`, { timeout: 300_000 }, () => {
      const failures: string[] = [];
      let checked = 0;
      let inWasm = 0;
      FORMS.forEach((f, fi) => {
        const cs = cases(f, 0x3d1 + fi);
        const runs = ENGINES.map((engine) => ({ engine: engine.name, ...runForm(engine, f, cs, cpl3) }));
        const ref = runs[0]!;
        inWasm += runs[runs.length - 1]!.inWasm;
        for (const r of runs) {
          if (r.exit !== `mmio w ${MMIO_BASE.toString(16)} 1`) failures.push(`${name(f)} ${r.engine}: exit ${r.exit}`);
          // Every byte the same as the interpreter's (also the flags the SDM leaves undefined).
          else if (Buffer.compare(r.out, ref.out) !== 0) {
            const i = r.out.findIndex((b, j) => b !== ref.out[j]);
            const c = cs[Math.floor(i / 24)]!;
            failures.push(`${name(f)} ${r.engine} differs from ${ref.engine} at case rax=${c.rax.toString(16)} rbx=${c.rbx.toString(16)} rdx=${c.rdx.toString(16)}`);
          }
        }
        const dv = new DataView(ref.out.buffer, ref.out.byteOffset, ref.out.byteLength);
        cs.forEach((c, i) => {
          const want = model(f.op, f.size, c.rax, c.rdx, c.rbx, f.imm);
          if (want === 'DE') return;
          const [rax, rdx, flags] = [0, 8, 16].map((o) => dv.getBigUint64(24 * i + o, true)) as [bigint, bigint, bigint];
          const cfof = want.cfof === undefined ? c.flags & 0x801n : want.cfof ? 0x801n : 0n;
          const ok = rax === want.rax && rdx === want.rdx && (flags & 0x801n) === cfof && (want.cfof !== undefined || (flags & ARITH) === (c.flags & ARITH));
          if (!ok) failures.push(`${name(f)} rax=${c.rax.toString(16)} rbx=${c.rbx.toString(16)} rdx=${c.rdx.toString(16)}: want ${want.rax.toString(16)} ${want.rdx.toString(16)} cf=of=${want.cfof}, got ${rax.toString(16)} ${rdx.toString(16)} rflags ${flags.toString(16)}`);
          checked++;
        });
      });
      expect(failures.slice(0, 5)).toEqual([]);
      expect(checked).toBeGreaterThan(FORMS.length * 1000);
      // The loops ran in wasm (its 64-bit forms), not only in the JS the engine falls back to.
      expect(inWasm).toBeGreaterThan(FORMS.length * 1000);
    });
});

/** The #DE cases: RAX, RDX, RBX and the divide (on RBX, or on [RSI-24] holding RBX). */
const DE_CASES: { what: string; op: Op; size: number; mem?: boolean; rax: bigint; rdx: bigint; rbx: bigint }[] = [
  { what: 'DIV r64 by zero, RDX zero', op: 'div', size: 8, rax: 5n, rdx: 0n, rbx: 0n },
  { what: 'DIV m64 by zero', op: 'div', size: 8, mem: true, rax: M64, rdx: 0n, rbx: 0n },
  { what: 'DIV r64, RDX = the divisor', op: 'div', size: 8, rax: 0n, rdx: 0xffff0001n, rbx: 0xffff0001n },
  { what: 'IDIV r64 INT64_MIN / -1 after CQO', op: 'idiv', size: 8, rax: 1n << 63n, rdx: M64, rbx: M64 },
  { what: 'IDIV r64 by zero after CQO', op: 'idiv', size: 8, rax: M64, rdx: M64, rbx: 0n },
  { what: 'IDIV r64 128-bit dividend, quotient 2^64', op: 'idiv', size: 8, rax: 0n, rdx: 1n, rbx: 1n },
  { what: 'DIV r32, EDX = the divisor', op: 'div', size: 4, rax: 0n, rdx: 7n, rbx: 7n },
  { what: 'DIV m32 by zero', op: 'div', size: 4, mem: true, rax: 1n, rdx: 0n, rbx: 0n },
  { what: 'IDIV r32 -2^31 / -1 (a double division)', op: 'idiv', size: 4, rax: 0x8000_0000n, rdx: 0xffff_ffffn, rbx: 0xffff_ffffn },
  { what: 'IDIV r32 2^62 / 1 (EDX:EAX past 2^53)', op: 'idiv', size: 4, rax: 0n, rdx: 0x4000_0000n, rbx: 1n },
  { what: 'IDIV r32 by zero', op: 'idiv', size: 4, rax: 3n, rdx: 0n, rbx: 0n },
];

describe('x86 #DE from translated DIV/IDIV, every engine', () => {
  // mov rcx, 0x8000000000000001; add rcx, rcx (CF = OF = 1, RCX = 2); the divide; MMIO store.
  const pre = [0x48, 0xb9, 1, 0, 0, 0, 0, 0, 0, 0x80, 0x48, 0x01, 0xc9];
  for (const cpl3 of [false, true])
    it(`${cpl3 ? 'CPL 3' : 'CPL 0, kernel half'}: RIP on the divide, registers and flags as before it`, () => {
      for (const c of DE_CASES) {
        const code = [...pre, ...insn({ op: c.op, size: c.size, mem: c.mem ?? false, imm: 0 }), 0x88, 0x04, 0x25, ...le32(MMIO_BASE)];
        const results = ENGINES.map((engine) => {
          const { vcpu, ram, base } = halfGuest(engineSys(engine), code, CODE_OFF, cpl3);
          new DataView(ram.bytes.buffer, ram.bytes.byteOffset).setBigUint64(IN_OFF, c.rbx, true); // [rsi-24]
          vcpu.setRegs({ rip: base + BigInt(CODE_OFF), rsp: base + BigInt(STACK), rsi: base + BigInt(IN_OFF + 24), rax: c.rax, rdx: c.rdx, rbx: c.rbx, rflags: 2n });
          const e = runToExit(vcpu);
          return { engine: engine.name, exit: exitLine(e), regs: vcpu.getRegs(), base };
        });
        for (const r of results) {
          const tag = `${c.what} (${r.engine})`;
          expect(r.exit, tag).toBe('shutdown');
          expect(r.regs.rip, tag).toBe(r.base + BigInt(CODE_OFF + pre.length));
          expect([r.regs.rax, r.regs.rdx, r.regs.rcx], tag).toEqual([c.rax, c.rdx, 2n]);
          expect(r.regs.rflags & ARITH, tag).toBe(0x801n);
          expect(r.regs, tag).toEqual(results[0]!.regs);
        }
      }
    });
});
