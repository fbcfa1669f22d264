/**
 * x86 instruction semantics: one handler per mnemonic of the opcode table, by family (one file
 * each, as the SDM groups them). This is where the families are composed into the table the
 * interpreter (run.ts) and the block JIT (jit.ts) index by mnemonic id. Handlers work on the
 * decoded `Insn` and the CPU; they read operands through operands.ts, raise guest faults through
 * `c.raise`, reach KVM through `c.svc` (services.ts), and leave `c.next` as the next RIP.
 * @module
 */
import { DESCS, MNEMONICS, mnemonic } from '../decoder.js';
import { checkClass } from './classes.js';
import { ALU } from './alu.js';
import { BCD } from './bcd.js';
import { BITS } from './bits.js';
import { CONTROL } from './control.js';
import { IO } from './io.js';
import { MOVE } from './move.js';
import { MULDIV } from './muldiv.js';
import type { Handler, HandlerTable } from './operands.js';
import { SHIFT } from './shift.js';
import { SSE } from './sse.js';
import { SSE_FP } from './sse-fp.js';
import { SSE_INT } from './sse-int.js';
import { STACK } from './stack.js';
import { STRING } from './string.js';
import { SYSTEM } from './system.js';
import { X87_FAMILY } from './x87.js';
import { XSAVE } from './xsave.js';

export { ea, type Handler } from './operands.js';

const FAMILIES: readonly HandlerTable[] = [ALU, MULDIV, SHIFT, BITS, MOVE, STACK, CONTROL, STRING, IO, BCD, SYSTEM, SSE, SSE_INT, SSE_FP, X87_FAMILY, XSAVE];

/** Handlers indexed by mnemonic id. */
export const HANDLERS: Handler[] = new Array<Handler>(MNEMONICS.length);
for (const family of FAMILIES) {
  for (const [name, h] of Object.entries(family)) {
    const id = mnemonic(name); // a handler for a name the table lacks throws here
    if (HANDLERS[id]) throw new Error(`x86: two handlers for ${name}`);
    HANDLERS[id] = h;
  }
}
// Every mnemonic must have a handler (a table row without one is a bug caught at load).
for (let k = 0; k < MNEMONICS.length; k++) {
  if (!HANDLERS[k]) throw new Error(`x86: no handler for ${MNEMONICS[k]}`);
}
// The SDM exception classes of the rows (#UD/#NM/#MF before any operand is touched): a mnemonic
// with any classed row runs its row's checks first — the interpreter and the JIT's handler calls alike.
for (let k = 0; k < MNEMONICS.length; k++) {
  if (!DESCS.some((d) => d.mn === k && d.exc !== 0)) continue;
  const h = HANDLERS[k]!;
  HANDLERS[k] = (c, i) => {
    const e = i.desc!.exc;
    if (e !== 0) checkClass(c, e);
    h(c, i);
  };
}
