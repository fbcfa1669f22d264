/**
 * x86 state save/restore: FXSAVE/FXRSTOR(64), LDMXCSR/STMXCSR, and the XSAVE feature set for the
 * components this CPU has (XCR0 = x87 | SSE): XSAVE/XRSTOR(64) in the standard format,
 * XSAVEOPT(64) (the init optimization), XSAVEC(64) (compacted header; the two legacy components
 * keep their legacy-region offsets). Images travel through a byte buffer the fpu library fills
 * (fpu/x87.ts fxsave/fxrstor); both ends of a 512/576-byte area are translated before any byte
 * moves, so a page fault leaves memory and state untouched.
 * @module
 */
import { Acc, type X86Cpu } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { CR4 } from '../state.js';
import { XCR0_SUPPORTED } from '../cpuid.js';
import { definer, ea, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const XSAVE: HandlerTable = {};
const def = definer(XSAVE);

/** MXCSR bits this CPU implements (MXCSR_MASK, DAZ included). */
export const MXCSR_MASK = 0xffff;
/** The legacy region and the XSAVE header. */
const AREA = 576;
const BUF = new Uint8Array(AREA);
const BUFW = new Int32Array(BUF.buffer);
/** The state before an XRSTOR (components it does not load are put back from here). */
const OLD = new Uint8Array(512);

def('LDMXCSR', (c, i) => {
  const v = c.read(i.seg, ea(c, i), 4);
  if (v & ~MXCSR_MASK) c.gp(0);
  c.fxw[6] = v;
});
def('STMXCSR', (c, i) => c.write(i.seg, ea(c, i), 4, c.fxw[6]!));

/** The linear address of a state area of `size` bytes aligned to `align`, both ends translated. */
function area(c: X86Cpu, i: Insn, size: number, align: number, write: boolean): number {
  const lin = c.linear(i.seg, ea(c, i), size, write);
  if (lin % align) c.gp(0);
  c.translate(lin, write ? Acc.WRITE : Acc.READ);
  c.translate(c.wrapLin(lin + size - 1), write ? Acc.WRITE : Acc.READ);
  return lin;
}

function readArea(c: X86Cpu, lin: number, from: number, to: number): void {
  for (let k = from; k < to; k += 8) {
    BUFW[k >> 2] = c.readLin(c.wrapLin(lin + k), 8);
    BUFW[(k >> 2) + 1] = c.t1;
  }
}
function writeArea(c: X86Cpu, lin: number, from: number, to: number): void {
  for (let k = from; k < to; k += 8) c.writeLin(c.wrapLin(lin + k), 8, BUFW[k >> 2]!, BUFW[(k >> 2) + 1]!);
}

/** XMM registers the state instructions move: 16 in 64-bit mode, 8 otherwise. */
const xmmCount = (c: X86Cpu) => (c.long64 ? 16 : 8);
const rex64 = (c: X86Cpu, i: Insn) => c.long64 && (i.rex & 8) !== 0;

function fxsave(c: X86Cpu, i: Insn): void {
  const lin = area(c, i, 512, 16, true);
  const sse = (c.s.cr4 & CR4.OSFXSR) !== 0;
  // Bytes the instruction does not write keep their contents: read them first.
  const end = sse ? 160 + 16 * xmmCount(c) : 160;
  readArea(c, lin, 0, end);
  c.x87.fxsave(BUF, 0, rex64(c, i), xmmCount(c), sse);
  writeArea(c, lin, 0, end);
}
function fxrstor(c: X86Cpu, i: Insn): void {
  const lin = area(c, i, 512, 16, false);
  readArea(c, lin, 0, 512);
  if (!c.x87.fxrstor(BUF, 0, rex64(c, i), xmmCount(c), (c.s.cr4 & CR4.OSFXSR) !== 0)) c.gp(0);
}
def('FXSAVE', fxsave);
def('FXSAVE64', fxsave);
def('FXRSTOR', fxrstor);
def('FXRSTOR64', fxrstor);

// ---- XSAVE ---------------------------------------------------------------------------------------

/** The requested-feature bitmap: XCR0 & EDX:EAX (only bits 0 and 1 exist here). */
const rfbm = (c: X86Cpu) => Number(c.s.xcr0 & 3n) & c.getReg(0, 4);

/**
 * XINUSE: bit 0 when the x87 state is not in its initial configuration (FCW 37FH, FSW 0, all
 * empty, FOP/FIP/FDP 0, registers 0), bit 1 when an XMM register is not zero or MXCSR is not
 * 1F80H (which the SDM lets count as in use).
 */
export function xinuse(c: X86Cpu): number {
  const w = c.fxw;
  let x87 = (w[0]! !== 0x37f) || c.fxb[4] !== 0 || c.fxh[3] !== 0 || (w[2]! | w[3]! | w[4]! | w[5]!) !== 0;
  for (let k = 0; k < 8 && !x87; k++) x87 = (w[8 + 4 * k]! | w[9 + 4 * k]! | (w[10 + 4 * k]! & 0xffff)) !== 0;
  let sse = w[6] !== 0x1f80;
  for (let k = 40; k < 104 && !sse; k++) sse = w[k] !== 0;
  return (x87 ? 1 : 0) | (sse ? 2 : 0);
}

/**
 * XSAVE (`opt` false), XSAVEOPT and XSAVEC (`opt`: components in their initial configuration are
 * not written; `compact`: XCOMP_BV = bit 63 | RFBM and XSTATE_BV's other bits cleared).
 */
function xsave(opt: boolean, compact: boolean) {
  return (c: X86Cpu, i: Insn): void => {
    const lin = area(c, i, AREA, 64, true);
    const rf = rfbm(c);
    const use = xinuse(c);
    const save = opt ? rf & use : rf;
    readArea(c, lin, 0, AREA);
    const keep = OLD;
    keep.set(BUF.subarray(0, 512));
    c.x87.fxsave(BUF, 0, rex64(c, i), xmmCount(c), true);
    // Put back what this save does not write: x87 (0-23 but MXCSR, 32-159), MXCSR (24-31), XMM.
    if (!(save & 1)) {
      BUF.set(keep.subarray(0, 24), 0);
      BUF.set(keep.subarray(32, 160), 32);
    }
    if (!(compact ? save & 2 : rf & 2)) BUF.set(keep.subarray(24, 32), 24);
    if (!(save & 2)) BUF.set(keep.subarray(160, 416), 160);
    else if (!c.long64) BUF.set(keep.subarray(288, 416), 288);
    BUF.set(keep.subarray(416, 512), 416);
    const bv = BUFW[128]!;
    BUFW[128] = compact ? use & rf : (bv & ~rf) | (use & rf);
    if (compact) {
      BUFW[129] = 0;
      BUFW[130] = rf;
      BUFW[131] = 0x80000000 | 0;
    }
    writeArea(c, lin, 0, AREA);
  };
}
def('XSAVE', xsave(false, false));
def('XSAVE64', xsave(false, false));
def('XSAVEOPT', xsave(true, false));
def('XSAVEOPT64', xsave(true, false));
def('XSAVEC', xsave(true, true));
def('XSAVEC64', xsave(true, true));

/** XRSTOR: the header checked (#GP), then each requested component loaded or initialised. */
function xrstor(c: X86Cpu, i: Insn): void {
  const lin = area(c, i, AREA, 64, false);
  readArea(c, lin, 0, AREA);
  const xcr0 = Number(c.s.xcr0 & 0xffffffffn);
  const bvLo = BUFW[128]!, bvHi = BUFW[129]!, compLo = BUFW[130]!, compHi = BUFW[131]!;
  const compact = compHi < 0;
  if (bvHi !== 0) c.gp(0);
  for (let k = 132; k < 144; k++) if (BUFW[k] !== 0) c.gp(0);
  if (compact) {
    if ((compHi & 0x7fffffff) !== 0 || compLo & ~xcr0 || bvLo & ~compLo) c.gp(0);
  } else if (compLo !== 0 || compHi !== 0 || bvLo & ~xcr0) c.gp(0);
  const rf = rfbm(c);
  const loadMxcsr = compact ? (rf & 2 && bvLo & 2) !== 0 : (rf & 2) !== 0;
  if (loadMxcsr && BUFW[6]! & ~MXCSR_MASK) c.gp(0);
  OLD.set(c.fxb.subarray(0, 512));
  const mxcsr = c.fxw[6]!;
  const newMxcsr = BUFW[6]!;
  BUFW[6] = mxcsr; // MXCSR follows its own rule below
  c.x87.fxrstor(BUF, 0, rex64(c, i), xmmCount(c), true);
  const fx = c.fxb;
  if (!(rf & 1)) {
    fx.set(OLD.subarray(0, 24), 0);
    fx.set(OLD.subarray(32, 160), 32);
  } else if (!(bvLo & 1)) {
    c.x87.finit();
    fx.fill(0, 32, 160);
  }
  if (!(rf & 2)) fx.set(OLD.subarray(160, 416), 160);
  else if (!(bvLo & 2)) fx.fill(0, 160, 160 + 16 * xmmCount(c));
  if (!c.long64) fx.set(OLD.subarray(288, 416), 288);
  c.fxw[6] = loadMxcsr ? newMxcsr : compact && rf & 2 ? 0x1f80 : mxcsr;
}
def('XRSTOR', xrstor);
def('XRSTOR64', xrstor);

/**
 * XCR0 values XSETBV and KVM_SET_XCRS accept (__kvm_set_xcr): x87 set, and only bits of
 * `guestXcr0` (the guest CPUID's leaf 0xD within what this CPU implements, x87 always).
 */
export function validXcr0(v: bigint, guestXcr0: number): boolean {
  return (v & 1n) === 1n && (v & ~BigInt(guestXcr0 & XCR0_SUPPORTED)) === 0n;
}
