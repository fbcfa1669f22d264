/**
 * The x86 opcode table checks itself: every mnemonic has a handler, every row decodes back to
 * itself (no row is shadowed by another), the mandatory-prefix column behaves as the hardware
 * does (measured on the host: a prefix a row does not list is #UD, never a silent alias), and the
 * attributes the engine relies on (block end, exception class, alignment) come from the rows.
 */
import { describe, expect, it } from 'vitest';
import { decode, DESCS, EXC_MMX, EXC_NM, EXC_SSE, EXC_X87, F_A16, F_END, F_I64, Insn, MNEMONICS, PFX_66, PFX_F2, PFX_F3, PFX_NONE, PFX_NP, type OpDesc } from '../../src/arch/x86/decoder.js';
import { HANDLERS } from '../../src/arch/x86/exec/index.js';

const LONG = { long64: true, def32: false };
const PROT = { long64: false, def32: true };

function decodeBytes(bytes: number[], mode = LONG): Insn {
  const insn = new Insn();
  decode(insn, 0x1000, mode, (k) => (k < bytes.length ? bytes[k]! : 0));
  return insn;
}

/** Bytes that select row `d` (a ModRM satisfying its selector, a SIB/displacement as needed). */
function encode(d: OpDesc): number[] {
  const out: number[] = [];
  if (d.prefix === PFX_66) out.push(0x66);
  if (d.prefix === PFX_F3) out.push(0xf3);
  if (d.prefix === PFX_F2) out.push(0xf2);
  if (d.w === 1) out.push(0x48);
  else if (d.name === 'XCHG' && d.opcode === 0x90 && d.low === 0) out.push(0x41); // 90 is NOP; 41 90 is XCHG r8d, eax
  if (d.map >= 1) out.push(0x0f);
  if (d.map === 2) out.push(0x38);
  if (d.map === 3) out.push(0x3a);
  out.push(d.opcode + d.low);
  if (d.modrm) {
    if (d.full >= 0) out.push(d.full);
    else {
      const reg = d.reg >= 0 ? d.reg : 1;
      out.push(d.mod === 1 ? (reg << 3) | 3 /* [rbx] */ : (3 << 6) | (reg << 3) | 1);
    }
  }
  return [...out, 0, 0, 0, 0, 0, 0, 0, 0];
}

describe('x86 opcode table', () => {
  it('every mnemonic has a handler, and every row decodes to itself', () => {
    expect(HANDLERS.length).toBe(MNEMONICS.length);
    for (let k = 0; k < MNEMONICS.length; k++) expect(typeof HANDLERS[k], MNEMONICS[k]).toBe('function');
    let checked = 0;
    for (const d of DESCS) {
      if (d.flags & F_I64) continue;
      const i = decodeBytes(encode(d), LONG);
      expect(i.bad, d.row).toBe(0);
      expect(i.desc, d.row).toBe(d);
      checked++;
    }
    for (const d of DESCS.filter((x) => x.flags & F_I64)) {
      const i = decodeBytes(encode(d), PROT);
      expect(i.desc, d.row).toBe(d);
      checked++;
    }
    expect(checked).toBe(DESCS.length);
  });

  it('a mandatory prefix the row does not list is #UD (as measured on the host CPU)', () => {
    // Each of these raised SIGILL natively; the listed forms ran.
    const ud = ['f3 0f 54 c0', 'f2 0f 54 c0', 'f2 0f 28 c0', 'f2 0f 6f c0', 'f2 0f 7e c0', 'f3 0f ef c0', 'f2 0f ef c0', '0f c7 c8'];
    const ok: [string, string][] = [['0f 54 c0', 'ANDPS'], ['66 0f 54 c0', 'ANDPD'], ['f3 0f 6f c0', 'MOVDQU'], ['66 f3 0f 6f c0', 'MOVDQU'], ['f3 66 0f 6f c0', 'MOVDQU'], ['66 0f 18 00', 'PREFETCHNTA'], ['f3 0f 18 00', 'PREFETCHNTA'], ['f3 0f b8 c0', 'POPCNT'], ['66 0f ef c0', 'PXOR']];
    const bytes = (s: string) => s.split(' ').map((x) => parseInt(x, 16));
    for (const s of ud) expect(decodeBytes(bytes(s)).bad, s).toBe(1);
    for (const [s, name] of ok) expect(decodeBytes(bytes(s)).desc?.name, s).toBe(name);
  });

  it('a mandatory 66 is not an operand-size prefix; with F3 it still is (POPCNT r16)', () => {
    expect(decodeBytes([0x66, 0x0f, 0x6e, 0xc0]).osz).toBe(4);
    const p = decodeBytes([0x66, 0xf3, 0x0f, 0xb8, 0xc0]);
    expect(p.desc?.name).toBe('POPCNT');
    expect(p.osz).toBe(2);
    expect(p.rep).toBe(0);
  });

  it('REX.W selects MOVD or MOVQ; W is 0 outside 64-bit mode', () => {
    expect(decodeBytes([0x66, 0x0f, 0x6e, 0xc0]).desc?.name).toBe('MOVD');
    expect(decodeBytes([0x66, 0x48, 0x0f, 0x6e, 0xc0]).desc?.name).toBe('MOVQ');
    expect(decodeBytes([0x66, 0x0f, 0x6e, 0xc0], PROT).desc?.name).toBe('MOVD');
  });

  it('rows carry block end, exception class and alignment', () => {
    const row = (name: string) => DESCS.find((d) => d.name === name)!;
    for (const n of ['Jcc', 'JMP', 'RET', 'IRET', 'SYSCALL', 'CPUID', 'WRMSR', 'LGDT', 'HLT']) expect(row(n).flags & F_END, n).toBeTruthy();
    for (const n of ['ADD', 'MOV', 'MOVAPS', 'PXOR', 'NOP']) expect(DESCS.filter((d) => d.name === n).every((d) => !(d.flags & F_END) || d.operands[0]?.kind === 'S' || d.operands[0]?.kind === 'C' || d.operands[0]?.kind === 'D'), n).toBe(true);
    expect(row('MOVAPS').exc).toBe(EXC_SSE);
    expect(row('MOVAPS').flags & F_A16).toBeTruthy();
    expect(row('MOVUPS').flags & F_A16).toBeFalsy();
    expect(row('MOVSS').flags & F_A16).toBeFalsy();
    expect(row('LDMXCSR').exc).toBe(EXC_SSE);
    expect(row('FXSAVE').exc).toBe(EXC_NM);
    expect(row('ADD').exc).toBe(0);
    expect(row('POPCNT').exc).toBe(0);
    void EXC_MMX;
    void EXC_X87;
    void PFX_NONE;
    void PFX_NP;
  });
});
