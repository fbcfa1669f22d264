/**
 * x86 SSE moves and logic: MOVUPS/MOVAPS/MOVSS/MOVSD/MOVLPS/MOVHPS, MOVD/MOVQ, ANDPS/ORPS/XORPS, LDMXCSR/STMXCSR, FXSAVE/FXRSTOR.
 * @module
 */
import { VEC, type X86Cpu } from '../cpu.js';
import { K_MEM, K_XMM } from '../decoder.js';
import { CR0, CR4 } from '../state.js';
import { definer, ea, type Handler, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const SSE: HandlerTable = {};
const def = definer(SSE);

function sseOk(c: X86Cpu): void {
  const s = c.s;
  if (s.cr0 & CR0.EM || !(s.cr4 & CR4.OSFXSR)) c.ud();
  if (s.cr0 & CR0.TS) c.raise(VEC.NM);
}

/** XMM register n as four int32 lanes in the FXSAVE image (offset 160 + 16n). */
function xmmOff(n: number): number {
  return 160 + 16 * n;
}

const fxDv = new WeakMap<Uint8Array, DataView>();
function fx(c: X86Cpu): DataView {
  let dv = fxDv.get(c.s.fx);
  if (!dv) fxDv.set(c.s.fx, (dv = new DataView(c.s.fx.buffer, c.s.fx.byteOffset, 512)));
  return dv;
}

/** Moves `bytes` (4, 8 or 16) between operands 0 and 1; `zeroUpper` clears the rest of an XMM destination. */
function sseMove(bytes: number, aligned: boolean, zeroUpperFromMem: boolean): Handler {
  return (c, i) => {
    sseOk(c);
    const dv = fx(c);
    const tmp = [0, 0, 0, 0];
    const n = bytes / 4;
    // Source
    if (i.kind[1] === K_XMM) {
      const o = xmmOff(i.reg[1]!);
      for (let k = 0; k < n; k++) tmp[k] = dv.getInt32(o + 4 * k, true);
    } else if (i.kind[1] === K_MEM) {
      const a = ea(c, i);
      if (aligned && bytes === 16 && a % 16) c.gp(0);
      const lin = c.linear(i.seg, a, bytes, false);
      for (let k = 0; k < n; k += 2) {
        if (n - k >= 2) {
          tmp[k] = c.readLin(lin + 4 * k, 8);
          tmp[k + 1] = c.t1;
        } else tmp[k] = c.readLin(lin + 4 * k, 4) | 0;
      }
    } else {
      // GPR source (MOVD/MOVQ xmm, r)
      tmp[0] = c.getReg(i.reg[1]!, i.size[1]!) | 0;
      tmp[1] = i.size[1] === 8 ? c.t1 : 0;
    }
    // Destination
    if (i.kind[0] === K_XMM) {
      const o = xmmOff(i.reg[0]!);
      const fromMem = i.kind[1] !== K_XMM;
      for (let k = 0; k < 4; k++) {
        if (k < n) dv.setInt32(o + 4 * k, tmp[k]!, true);
        else if (fromMem && zeroUpperFromMem) dv.setInt32(o + 4 * k, 0, true);
      }
    } else if (i.kind[0] === K_MEM) {
      const a = ea(c, i);
      if (aligned && bytes === 16 && a % 16) c.gp(0);
      const lin = c.linear(i.seg, a, bytes, true);
      for (let k = 0; k < n; k += 2) {
        if (n - k >= 2) c.writeLin(lin + 4 * k, 8, tmp[k]!, tmp[k + 1]!);
        else c.writeLin(lin + 4 * k, 4, tmp[k]!);
      }
    } else c.setReg(i.reg[0]!, i.size[0]!, tmp[0]!, tmp[1]!);
  };
}
def('MOVUPS', sseMove(16, false, true));
def('MOVAPS', sseMove(16, true, true));
def('MOVSS', sseMove(4, false, true));
def('MOVSD', sseMove(8, false, true));
def('MOVLPS', sseMove(8, false, false));
def('MOVQ', (c, i) => {
  sseMove(8, false, true)(c, i);
  // MOVQ xmm, xmm/m64 always clears the upper half.
  if (i.kind[0] === K_XMM) {
    const dv = fx(c);
    const o = xmmOff(i.reg[0]!);
    dv.setInt32(o + 8, 0, true);
    dv.setInt32(o + 12, 0, true);
  }
});
def('MOVD', (c, i) => {
  const bytes = i.size[i.kind[0] === K_XMM ? 1 : 0] === 8 ? 8 : 4;
  sseMove(bytes, false, true)(c, i);
  if (i.kind[0] === K_XMM) {
    const dv = fx(c);
    const o = xmmOff(i.reg[0]!);
    for (let k = bytes / 4; k < 4; k++) dv.setInt32(o + 4 * k, 0, true);
  }
});
def('MOVHPS', (c, i) => {
  sseOk(c);
  const dv = fx(c);
  const a = ea(c, i);
  if (i.kind[0] === K_XMM) {
    const o = xmmOff(i.reg[0]!);
    const lin = c.linear(i.seg, a, 8, false);
    dv.setInt32(o + 8, c.readLin(lin, 8), true);
    dv.setInt32(o + 12, c.t1, true);
  } else {
    const o = xmmOff(i.reg[1]!);
    c.write(i.seg, a, 8, dv.getInt32(o + 8, true), dv.getInt32(o + 12, true));
  }
});

function sseLogic(op: 'and' | 'or' | 'xor'): Handler {
  return (c, i) => {
    sseOk(c);
    const dv = fx(c);
    const d = xmmOff(i.reg[0]!);
    const src = [0, 0, 0, 0];
    if (i.kind[1] === K_XMM) for (let k = 0; k < 4; k++) src[k] = dv.getInt32(xmmOff(i.reg[1]!) + 4 * k, true);
    else {
      const a = ea(c, i);
      if (a % 16) c.gp(0);
      const lin = c.linear(i.seg, a, 16, false);
      src[0] = c.readLin(lin, 8);
      src[1] = c.t1;
      src[2] = c.readLin(lin + 8, 8);
      src[3] = c.t1;
    }
    for (let k = 0; k < 4; k++) {
      const x = dv.getInt32(d + 4 * k, true);
      dv.setInt32(d + 4 * k, op === 'and' ? x & src[k]! : op === 'or' ? x | src[k]! : x ^ src[k]!, true);
    }
  };
}
def('ANDPS', sseLogic('and'));
def('ORPS', sseLogic('or'));
def('XORPS', sseLogic('xor'));

def('LDMXCSR', (c, i) => {
  sseOk(c);
  const v = c.read(i.seg, ea(c, i), 4);
  if (v & 0xffff0000) c.gp(0);
  fx(c).setUint32(24, v, true);
});
def('STMXCSR', (c, i) => {
  sseOk(c);
  c.write(i.seg, ea(c, i), 4, fx(c).getUint32(24, true) | 0);
});

def('FXSAVE', (c, i) => {
  if (c.s.cr0 & (CR0.EM | CR0.TS)) c.raise(c.s.cr0 & CR0.EM ? VEC.UD : VEC.NM);
  const a = ea(c, i);
  if (a % 16) c.gp(0);
  const lin = c.linear(i.seg, a, 512, true);
  const img = c.s.fx;
  for (let k = 0; k < 512; k += 4) c.writeLin(lin + k, 4, new DataView(img.buffer, img.byteOffset).getInt32(k, true));
});
def('FXRSTOR', (c, i) => {
  if (c.s.cr0 & (CR0.EM | CR0.TS)) c.raise(c.s.cr0 & CR0.EM ? VEC.UD : VEC.NM);
  const a = ea(c, i);
  if (a % 16) c.gp(0);
  const lin = c.linear(i.seg, a, 512, false);
  const tmp = new Uint8Array(512);
  const dv = new DataView(tmp.buffer);
  for (let k = 0; k < 512; k += 4) dv.setInt32(k, c.readLin(lin + k, 4) | 0, true);
  if (dv.getUint32(24, true) & 0xffff0000) c.gp(0);
  c.s.fx.set(tmp);
});
