/**
 * The x86 wasm engine's exactness against the interpreter (and the JS JIT beside it): seeded loop
 * programs that run long enough for their blocks to be written into modules, in the kernel half at
 * CPL 0 and in the low half at CPL 3, whose loops also take MMIO exits (plain loads, soft loads,
 * read-modify-write), port I/O exits, page faults on the N-th round (not present, and a supervisor
 * page at CPL 3: triple faults, since the IDT is empty), stores into their own code, INVLPG and CR3
 * reloads, PUSHF, 64-bit MUL/IMUL/DIV through the handler and CALL/RET. Every exit's reason,
 * payload, registers and CR2, and guest RAM at the end must be the interpreter's.
 */
import { virtualSys, type Sys, type VirtualSysOptions } from '../../src/index.js';
import type { X86WasmEngine } from '../../src/arch/x86/emit-wasm-run.js';
import type { X86Machine } from '../../src/arch/x86/run.js';
import { halfGuest, le32 } from '../helpers/x86.js';
import { runToExit, TEST_RUN_TIMEOUT_MS } from '../helpers/run.js';
import { rng } from './alu-gen.js';

const CODE = 0x8000;
const DATA = 0x20000;
const STACK = 0x7f000;
const MMIO = 0x300000;
/** PD entry 5 (linear 0xa00000, both halves) is made not present; entry 6 supervisor-only. */
const ABSENT = 0xa00000;
const SUPER = 0xc00000;

/** Registers the random body uses: RAX RCX RDX RBX RBP RSI RDI R13 R14 (R8 data base, R9 counter, R10-R12 fault address, RSP stack). */
const BODY = [0, 1, 2, 3, 5, 6, 7, 13, 14];
const R8 = 8;

interface Prog {
  readonly code: Uint8Array;
  readonly regs: Record<string, bigint>;
  readonly data: Uint8Array;
  readonly listing: string[];
}

/** A loop program for CPL 3 (`user`) or the kernel half at CPL 0. */
export function exactProgram(seed: number, user: boolean): Prog {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[r() % a.length]!;
  const out: number[] = [];
  const listing: string[] = [];
  const rounds = 20 + (r() % 60);
  const rex = (w: boolean, reg: number, rm: number, x = 0) => 0x40 | (w ? 8 : 0) | ((reg >> 3) << 2) | (x << 1) | (rm >> 3);
  /** op reg, [r8 + disp] (or the reverse by opcode). */
  const memOp = (o: number[], size: number, opc: number[], reg: number, disp: number) => {
    if (size === 2) o.push(0x66);
    o.push(rex(size === 8, reg, R8), ...opc, 0x80 | ((reg & 7) << 3), ...le32(disp));
  };
  const regOp = (o: number[], size: number, opc: number[], reg: number, rm: number) => {
    if (size === 2) o.push(0x66);
    o.push(rex(size === 8, reg, rm), ...opc, 0xc0 | ((reg & 7) << 3) | (rm & 7));
  };
  const dataOff = () => (r() % 5 === 0 ? -3 - (r() % 6) : (r() % 31) * 8 + (r() % 4 === 0 ? r() % 8 : 0));
  let patchSite = -1;
  const faultPage = user && r() % 2 ? SUPER : ABSENT;
  let fault = r() % 3 === 0;
  const faultRound = 1 + (r() % rounds);
  let smc = r() % 3 === 0;
  const one = (): { b: number[]; s: string } => {
    const o: number[] = [];
    const sizes = [1, 2, 4, 8];
    const size = pick(sizes);
    const byte = size === 1 ? 0 : 1;
    const a = pick(BODY);
    const b = pick(BODY);
    switch (r() % 24) {
      case 0:
      case 1: {
        const op = r() % 8;
        regOp(o, size, [(op << 3) | byte], b, a);
        return { b: o, s: `alu${op}/${size} r${a}, r${b}` };
      }
      case 2:
      case 3: {
        const op = r() % 8;
        const d = dataOff();
        memOp(o, size, [(op << 3) | byte | (r() & 2)], a, d);
        return { b: o, s: `alu${op}/${size} mem(D${d}) r${a}` };
      }
      case 4: {
        const d = dataOff();
        memOp(o, size, [0x8a | byte], a, d);
        return { b: o, s: `mov/${size} r${a}, [D${d}]` };
      }
      case 5: {
        const d = dataOff();
        memOp(o, size, [0x88 | byte], a, d);
        return { b: o, s: `mov/${size} [D${d}], r${a}` };
      }
      case 6: {
        const kind = pick([4, 5, 7, 0]);
        const sz = size < 4 ? 4 : size;
        regOp(o, sz, [0xc1], kind, a);
        o.push(1 + (r() % (sz * 8 - 1)));
        return { b: o, s: `shift${kind}/${sz} r${a}` };
      }
      case 7:
        regOp(o, size, [0xfe | byte], r() & 1, a);
        return { b: o, s: `inc/dec/${size} r${a}` };
      case 8: {
        // lea a, [b + c*4 + disp8]
        const c = pick(BODY);
        o.push(rex(true, a, b, c >> 3), 0x8d, 0x44 | ((a & 7) << 3), (2 << 6) | ((c & 7) << 3) | (b & 7), r() & 0xff);
        return { b: o, s: `lea r${a}, [r${b}+r${c}*4+d8]` };
      }
      case 9:
        o.push(...(a >= 8 ? [0x41] : []), 0x50 + (a & 7), ...(b >= 8 ? [0x41] : []), 0x58 + (b & 7));
        return { b: o, s: `push r${a}; pop r${b}` };
      case 10: {
        // MMIO: a load, a soft load (CMP), a store or a read-modify-write.
        const d = MMIO - DATA + (r() % 64) * 8;
        const f = r() % 4;
        memOp(o, size, [[0x8a, 0x3a, 0x88, 0x00][f]! | byte], a, d);
        return { b: o, s: `mmio${['load', 'cmp', 'store', 'add'][f]}/${size} r${a}` };
      }
      case 11:
        if (user) return { b: [0x90], s: 'nop' };
        o.push(r() & 1 ? 0xe6 : 0xe4, 0x80);
        return { b: o, s: 'out/in 0x80, al' };
      case 12:
        // pushfq; pop a
        o.push(0x9c, ...(a >= 8 ? [0x41] : []), 0x58 + (a & 7));
        return { b: o, s: `pushf; pop r${a}` };
      case 13: {
        // imul a, b (64-bit: the handler) / mul b
        if (r() & 1) regOp(o, 8, [0x0f, 0xaf], a, b);
        else regOp(o, 8, [0xf7], 4, b);
        return { b: o, s: `imul/mul64 r${a}, r${b}` };
      }
      case 14: {
        // xor edx, edx; div b (b != 0 forced by OR 1 first)
        regOp(o, 8, [0x83], 1, b);
        o.push(1);
        if (b === 2) return { b: o, s: 'or rdx, 1' };
        o.push(0x31, 0xd2);
        regOp(o, size < 4 ? 4 : size, [0xf7], 6, b);
        return { b: o, s: `div/${size < 4 ? 4 : size} r${b}` };
      }
      case 15:
        if (user) return { b: [0x90], s: 'nop' };
        if (r() & 1) {
          o.push(0x41, 0x0f, 0x01, 0xb8, ...le32(r() % 4 ? 0 : MMIO - DATA));
          return { b: o, s: 'invlpg [r8]' };
        }
        // mov rbx, cr3; mov cr3, rbx
        o.push(0x0f, 0x20, 0xdb, 0x0f, 0x22, 0xdb);
        return { b: o, s: 'mov cr3, cr3' };
      case 16: {
        // movzx / movsxd from data
        const d = dataOff();
        if (r() & 1) memOp(o, 8, [0x0f, 0xb6 | (r() & 1)], a, d);
        else memOp(o, 8, [0x63], a, d);
        return { b: o, s: `movzx/movsxd r${a}, [D${d}]` };
      }
      case 17: {
        const cc = r() % 16;
        regOp(o, size < 4 ? 4 : size, [0x0f, 0x40 + cc], a, b);
        return { b: o, s: `cmov${cc} r${a}, r${b}` };
      }
      case 18: {
        const cc = r() % 16;
        o.push(rex(false, 0, a), 0x0f, 0x90 + cc, 0xc0 | (a & 7));
        return { b: o, s: `set${cc} r${a}b` };
      }
      case 19:
        // A negative (kernel-half) or positive 32-bit immediate into a register, sign-extended.
        o.push(rex(true, 0, a), 0xc7, 0xc0 | (a & 7), ...le32(r()));
        return { b: o, s: `mov r${a}, simm32` };
      default:
        regOp(o, size, [0x84 | byte], b, a);
        return { b: o, s: `test/${size} r${a}, r${b}` };
    }
  };
  const top = 0;
  const n = 6 + (r() % 14);
  for (let k = 0; k < n; k++) {
    const x = one();
    if (r() % 6 === 0) {
      // Jcc over the next instruction (the loop body splits into blocks).
      const y = one();
      const cc = r() % 16;
      out.push(0x70 + cc, y.b.length, ...y.b);
      listing.push(`j${cc} +${y.b.length}; ${y.s}`);
      continue;
    }
    out.push(...x.b);
    listing.push(x.s);
    if (fault && r() % 4 === 0) {
      // On round faultRound the access goes to the absent or supervisor page.
      out.push(0x4d, 0x89, 0xe2); // mov r10, r12 (0)
      out.push(0x49, 0x83, 0xf9, faultRound); // cmp r9, faultRound
      out.push(0x4d, 0x0f, 0x44, 0xd3); // cmove r10, r11
      const w = r() & 1;
      out.push(0x4b, w ? 0x89 : 0x8b, 0x04, 0x10); // mov [r8 + r10], rax / mov rax, [r8 + r10]
      listing.push(`${w ? 'store' : 'load'} faulting on round ${faultRound}`);
      fault = false;
    }
    if (smc && r() % 4 === 0) {
      if (patchSite < 0 || r() & 1) {
        patchSite = out.length;
        out.push(0x48, 0x81, 0xc3, ...le32(r())); // add rbx, imm32
        listing.push('add rbx, imm32 (patched)');
      } else {
        // mov dword [r8 + (imm32 of the ADD - DATA)], esi
        memOp(out, 4, [0x89], 6, CODE + patchSite + 3 - DATA);
        listing.push('mov [add rbx imm32], esi');
        smc = false;
      }
    }
  }
  // call f; dec r9; jnz top; hlt; f: lea rax, [rax + rdx*2 + 5]; ret
  const callAt = out.length;
  out.push(0xe8, 0, 0, 0, 0);
  out.push(0x49, 0xff, 0xc9);
  const rel = top - (out.length + 6);
  out.push(0x0f, 0x85, ...le32(rel), 0xf4);
  const f = out.length;
  out.push(0x48, 0x8d, 0x44, 0x50, 0x05, 0xc3);
  out.splice(callAt + 1, 4, ...le32(f - (callAt + 5)));
  listing.push('call f; dec r9; jnz top; hlt');
  const regs: Record<string, bigint> = {};
  const names = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
  for (const i of BODY) regs[names[i]!] = (BigInt(r()) << 32n) | BigInt(r() % 3 === 0 ? r() & 0xff : r());
  regs.r9 = BigInt(rounds);
  regs.r11 = BigInt(faultPage - DATA);
  regs.r12 = 0n;
  const data = new Uint8Array(256);
  for (let i = 0; i < data.length; i++) data[i] = r() & 0xff;
  return { code: Uint8Array.from(out), regs, data, listing };
}

export const machineOf = (sys: Sys, fd: number) => (sys as unknown as { kernel: { file(fd: number): { vcpu: { archState: X86Machine } } } }).kernel.file(fd).vcpu.archState;
export const hookOf = (sys: Sys, fd: number) => (machineOf(sys, fd).blocks as unknown as { hook: X86WasmEngine | null }).hook;

const hex = (v: bigint) => v.toString(16);

/** Runs `p` under `opts` and records every exit (reason, payload, registers, CR2) and a hash of RAM. */
export function runExact(opts: VirtualSysOptions, p: Prog, user: boolean): { trace: string[]; wasmInsns: number } {
  const sys = virtualSys({ arch: 'x86_64', runTimeoutMs: TEST_RUN_TIMEOUT_MS, ...opts });
  const { vcpu, ram, base } = halfGuest(sys, p.code, CODE, user);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, ram.bytes.length);
  dv.setBigUint64(0x4000 + 5 * 8, 0n, true);
  dv.setBigUint64(0x4000 + 6 * 8, (6n << 21n) | 0x83n, true);
  ram.bytes.set(p.data, DATA);
  const regs: Record<string, bigint> = { ...p.regs, rip: base + BigInt(CODE), rsp: base + BigInt(STACK), rflags: 2n, r8: base + BigInt(DATA) };
  for (const k of Object.keys(regs)) regs[k] = BigInt.asUintN(64, regs[k]!);
  vcpu.setRegs(regs);
  const trace: string[] = [];
  for (let n = 0; n < 400; n++) {
    let e;
    try {
      e = runToExit(vcpu);
    } catch (err) {
      trace.push(`errno ${(err as { code?: string }).code ?? String(err)}`);
      break;
    }
    const rr = vcpu.getRegs();
    const s = vcpu.getSregs();
    const regLine = Object.entries(rr).map(([k, v]) => `${k}=${hex(v as bigint)}`).join(' ');
    let what: string = e.reason;
    if (e.reason === 'mmio') {
      what = `mmio ${e.isWrite ? 'w' : 'r'} ${hex(e.physAddr)} ${e.len} ${e.isWrite ? Buffer.from(e.data.subarray(0, e.len)).toString('hex') : ''}`;
      if (!e.isWrite) for (let i = 0; i < e.len; i++) e.data[i] = Number((e.physAddr + BigInt(i) * 3n + BigInt(n)) & 0xffn);
    } else if (e.reason === 'io') {
      what = `io ${e.direction} ${e.port} ${e.size} ${e.direction === 'out' ? Buffer.from(e.data).toString('hex') : ''}`;
      if (e.direction === 'in') e.data.forEach((_, i) => (e.data[i] = (n * 7 + i) & 0xff));
    }
    trace.push(`${what} | ${regLine} cr2=${hex(s.cr2)}`);
    if (e.reason !== 'mmio' && e.reason !== 'io') break;
  }
  let h = 0x811c9dc5;
  const w = new Int32Array(ram.bytes.buffer, ram.bytes.byteOffset, ram.bytes.length / 4);
  for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w[i]!, 0x01000193);
  trace.push(`ram ${(h >>> 0).toString(16)}`);
  return { trace, wasmInsns: hookOf(sys, vcpu.fd)?.wasmInsns() ?? 0 };
}

