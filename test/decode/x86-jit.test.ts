/**
 * The x86 block JIT's seam checks itself:
 * - every inline form is keyed by a mnemonic of the opcode table that also has a handler, and
 *   inlines a sample instruction of its rows (a form that always declines is dead code; a new
 *   form needs a sample here);
 * - selection goes through the X86Emitter only: a recording emitter sees the calls, no JS text.
 */
import { describe, expect, it } from 'vitest';
import { decode, Insn, MNEMONICS, mnemonic } from '../../src/arch/x86/decoder.js';
import { HANDLERS } from '../../src/arch/x86/exec/index.js';
import { INLINE, selectBlock, X86Translator } from '../../src/arch/x86/jit.js';
import type { X86Emitter } from '../../src/arch/x86/emit.js';

const MODE = { long64: true, def32: false };
const CODE = 0x401000;

/** One sample instruction (64-bit mode) per inline form, as bytes. */
const SAMPLES: Record<string, number[]> = {
  NOP: [0x90],
  MOV: [0x48, 0x89, 0xd8],
  MOVZX: [0x0f, 0xb6, 0xc3],
  MOVSX: [0x0f, 0xbe, 0xc3],
  MOVSXD: [0x48, 0x63, 0xc3],
  LEA: [0x8d, 0x04, 0x18],
  ADD: [0x48, 0x01, 0xd8],
  SUB: [0x48, 0x29, 0xd8],
  CMP: [0x48, 0x39, 0xd8],
  AND: [0x48, 0x21, 0xd8],
  TEST: [0x48, 0x85, 0xd8],
  OR: [0x48, 0x09, 0xd8],
  XOR: [0x48, 0x31, 0xd8],
  INC: [0x48, 0xff, 0xc0],
  DEC: [0x48, 0xff, 0xc8],
  SHL: [0x48, 0xc1, 0xe0, 0x03],
  SHR: [0x48, 0xc1, 0xe8, 0x03],
  SAR: [0x48, 0xc1, 0xf8, 0x03],
  IMUL: [0x0f, 0xaf, 0xc3],
  MUL: [0x48, 0xf7, 0xe3],
  DIV: [0x48, 0xf7, 0xf3],
  IDIV: [0x48, 0xf7, 0xfb],
  CWD: [0x48, 0x99],
  CMOVcc: [0x48, 0x0f, 0x44, 0xc3],
  SETcc: [0x0f, 0x94, 0xc0],
  PUSH: [0x53],
  POP: [0x5b],
  Jcc: [0x74, 0x10],
  JMP: [0xeb, 0x10],
  CALL: [0xe8, 0x10, 0, 0, 0],
  RET: [0xc3],
};

function decodeOne(bytes: number[]): Insn {
  const i = new Insn();
  decode(i, CODE, MODE, (k) => (k < bytes.length ? bytes[k]! : -1));
  return i;
}

describe('x86 JIT inline forms', () => {
  it('are keyed by table mnemonics that have handlers', () => {
    for (const name of Object.keys(INLINE)) {
      expect(MNEMONICS, name).toContain(name);
      expect(typeof HANDLERS[mnemonic(name)], name).toBe('function');
    }
  });

  it('each inline a sample of their rows (no handler call statement in the translation)', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(Object.keys(INLINE).sort());
    const t = new X86Translator(MODE);
    for (const [name, bytes] of Object.entries(SAMPLES)) {
      const i = decodeOne(bytes);
      expect(MNEMONICS[i.mn], name).toBe(name);
      expect(i.len, name).toBe(bytes.length);
      // The handler call statement (stack forms keep a guarded one for a non-canonical RSP).
      const src = t.source([i]);
      expect(src, name).not.toMatch(/^h = 1; H\[\d+\]/m);
      expect(typeof t.translate([i]), name).toBe('function');
    }
  });

  it('a LOCK-prefixed form calls its handler', () => {
    const src = new X86Translator(MODE).source([decodeOne([0xf0, 0x48, 0x01, 0x18])]);
    expect(src).toMatch(new RegExp(`^h = 1; H\\[${mnemonic('ADD')}\\]`, 'm'));
  });
});

describe('x86 JIT selection speaks only to the emitter', () => {
  /** An X86Emitter that records the calls and returns tokens as values. */
  function recorder(): { e: X86Emitter; calls: string[] } {
    const calls: string[] = [];
    const e = new Proxy({} as X86Emitter, {
      get: (_t, name: string) => (...args: unknown[]) => {
        calls.push(name);
        if (name === 'local' || name === 'reg' || name === 'scratch') return { lo: `${name}.lo`, hi: `${name}.hi` };
        void args;
        return name;
      },
    });
    return { e, calls };
  }

  it('ADD rax, rbx; CMP rax, rcx; JB: operand variables, the ALU op, the flags record and a fused compare', () => {
    const insns = [[0x48, 0x01, 0xd8], [0x48, 0x39, 0xc8], [0x72, 0x10]].map((b, k) => {
      const i = new Insn();
      decode(i, CODE + 3 * k, MODE, (j) => (j < b.length ? b[j]! : -1));
      return i;
    });
    insns[2]!.addr = CODE + 6;
    const { e, calls } = recorder();
    selectBlock(e, insns, MODE);
    expect(calls).toEqual([
      'begin', 'local', 'local', 'local', 'reg', 'assign', 'reg', 'assign', 'alu', 'setReg', 'flags',
      'begin', 'local', 'local', 'local', 'reg', 'assign', 'reg', 'assign', 'alu', 'flags',
      'begin', 'cmp', 'jumpIf', 'end',
    ]);
  });

  it('an instruction without an inline form is one handler call', () => {
    const { e, calls } = recorder();
    selectBlock(e, [decodeOne([0x0f, 0xa2])], MODE); // CPUID
    expect(calls).toEqual(['begin', 'handler', 'end']);
  });
});
