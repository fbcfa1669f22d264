/**
 * Row shapes of the opcode table: where many rows differ only in an opcode byte and a mnemonic
 * (the MMX/SSE2 integer rows, the SSE arithmetic quadruples, the x87 ModRM.reg groups), the shape
 * is written once and the rows are generated from a list, in the list's order. The output is
 * ordinary table rows (opcodes.ts has the notation).
 * @module
 */

/**
 * Rows of one shape. `shape` is a table row with `@` for what varies (an opcode byte, or the
 * digits of a ModRM selector), `$` for the mnemonic and `%` for the CPUID feature (or another
 * attribute); `entries` are comma-separated `@ [$] [feature]`, the feature defaulting to `feature`.
 */
export function rows(shape: string, entries: string, feature = ''): string {
  const named = shape.includes('$');
  return entries
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e)
    .map((e) => {
      const t = e.split(/\s+/);
      const name = named ? t[1]! : '';
      const feat = t[named ? 2 : 1] ?? feature;
      return shape.replace('@', t[0]!).replace('$', name).replace('%', feat).replace(/\s+/g, ' ').trim();
    })
    .join('\n');
}

/**
 * An SSE floating-point operation at one 0F opcode in its four forms: packed single (NP, SSE),
 * packed double (66, SSE2), scalar single (F3, SSE) and scalar double (F2, SSE2). `imm` appends
 * an imm8 operand (CMPPS...).
 */
export function fp4(op: string, name: string, imm = ''): string {
  return [
    `NP 0F ${op} /r ${name}PS Vx,Wx${imm} SSE`,
    `66 0F ${op} /r ${name}PD Vx,Wx${imm} SSE2`,
    `F3 0F ${op} /r ${name}SS Vx,Wd${imm} SSE`,
    `F2 0F ${op} /r ${name}SD Vx,Wq${imm} SSE2`,
  ].join('\n');
}

/** An SSE packed operation in its single (NP, SSE) and double (66, SSE2) forms at one 0F opcode. */
export function ps2(op: string, name: string, operands = 'Vx,Wx', attrs = ''): string {
  const a = attrs ? ` ${attrs}` : '';
  return `NP 0F ${op} /r ${name}PS ${operands} SSE${a}\n66 0F ${op} /r ${name}PD ${operands} SSE2${a}`;
}

const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/**
 * An ALU operation of the 00-3F block at `base`: Eb,Gb and Ev,Gv (lockable but for CMP), Gb,Eb,
 * Gv,Ev, then AL,Ib and rAX,Iz.
 */
export function alu(base: number, name: string): string {
  const l = name === 'CMP' ? '' : ' L';
  return [
    `${hex(base)} /r ${name} Eb,Gb${l}`,
    `${hex(base + 1)} /r ${name} Ev,Gv${l}`,
    `${hex(base + 2)} /r ${name} Gb,Eb`,
    `${hex(base + 3)} /r ${name} Gv,Ev`,
    `${hex(base + 4)} ${name} AL,Ib`,
    `${hex(base + 5)} ${name} rAX,Iz`,
  ].join('\n');
}

/** Group 1 (80-83 by ModRM.reg): the eight ALU operations, lockable but for CMP. */
export const GROUP1 = '0 ADD L, 1 OR L, 2 ADC L, 3 SBB L, 4 AND L, 5 SUB L, 6 XOR L, 7 CMP';
/** Group 2 (C0, C1, D0-D3 by ModRM.reg): the rotates and shifts (the undocumented /6 decodes as SHL). */
export const GROUP2 = '0 ROL, 1 ROR, 2 RCL, 3 RCR, 4 SHL, 5 SHR, 6 SHL, 7 SAR';
