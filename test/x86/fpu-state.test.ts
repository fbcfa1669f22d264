/**
 * The x87 state model where the host CPU cannot serve as the oracle: KVM_GET/SET_FPU see the
 * registers the model works on (same FXSAVE image, no conversion), the real-mode and 16-bit
 * FSTENV/FSAVE layouts (SDM Vol. 1 figures 8-9 to 8-12), FXSAVE/FXRSTOR forms, and the pending
 * #MF logic (an unmasked exception is reported by the next waiting instruction).
 */
import { describe, expect, it } from 'vitest';
import { Kvm, virtualSys } from '../../src/index.js';
import { R } from '../../src/arch/x86/fpu/f80.js';
import { Sse } from '../../src/arch/x86/fpu/sse.js';
import { Const, EnvFormat, FSW, Op, X87 } from '../../src/arch/x86/fpu/x87.js';

const PI: [number, number, number] = [0x4000, 0xc90fdaa2 | 0, 0x2168c235];

function vcpuFx(sys: ReturnType<typeof virtualSys>, fd: number): Uint8Array {
  const k = (sys as unknown as { kernel: { file(fd: number): { vcpu: { archState: { s: { fx: Uint8Array } } } } } }).kernel;
  return k.file(fd).vcpu.archState.s.fx;
}

describe('x87 state in the vCPU FXSAVE image', () => {
  it('KVM_SET_FPU/KVM_GET_FPU and the model see the same registers, in stack order', () => {
    const sys = virtualSys({ arch: 'x86_64' });
    const vm = Kvm.open(sys).createVm();
    const vcpu = vm.createVcpu(0);
    const fpu = vcpu.getFpu();
    const st = (k: number) => Uint8Array.from({ length: 16 }, (_, i) => (i < 10 ? 0x10 * k + i : 0));
    vcpu.setFpu({ ...fpu, fcw: 0x37f, fsw: 5 << 11, ftwx: 0b11100000, fpr: Array.from({ length: 8 }, (_, k) => st(k)) });
    const x = new X87(vcpuFx(sys, vcpu.fd));
    expect(x.top).toBe(5);
    expect(x.isEmpty(0)).toBe(false); // physical 5
    expect(x.isEmpty(3)).toBe(true); // physical 0
    x.getST(0);
    expect([R[0]! >>> 0, R[1]! >>> 0, R[2]]).toEqual([0x03020100, 0x07060504, 0x0908]);
    // A push seen through KVM_GET_FPU: the new ST(0) first, the old ones shifted.
    x.ffree(7);
    x.fldConst(Const.PI);
    const after = vcpu.getFpu();
    expect(after.fsw >> 11 & 7).toBe(4);
    expect(after.ftwx).toBe(0b11110000);
    const f0 = new DataView(after.fpr[0]!.buffer, after.fpr[0]!.byteOffset);
    expect([f0.getUint16(8, true), f0.getUint32(4, true) | 0, f0.getUint32(0, true) | 0]).toEqual(PI);
    expect(Array.from(after.fpr[1]!.subarray(0, 10))).toEqual(Array.from(st(0).subarray(0, 10)));
    // SSE through the same image: MXCSR and XMM0.
    const s = new Sse(vcpuFx(sys, vcpu.fd));
    s.srcMem(0x3f800000, 0, 0, 0);
    expect(s.arith(0 /* ADD */, 0 /* F32 */, false, 0)).toBe(0);
    expect(vcpu.getFpu().xmm[0]![3]).toBe(0x3f);
    vcpu.close();
    vm.close();
  });

  it('a pop keeps the register bits (in ST(7)); FNINIT keeps the physical registers', () => {
    const x = new X87(new Uint8Array(512));
    x.finit();
    x.fldConst(Const.PI);
    x.fldConst(Const.ONE);
    x.pop();
    expect(x.isEmpty(7)).toBe(true);
    x.getST(7);
    expect([R[2], R[1], R[0]]).toEqual([0x3fff, 0x80000000 | 0, 0]);
    x.finit(); // TOP = 0: physical 7 (pi) is ST(7)
    x.getST(7);
    expect([R[2], R[1], R[0]]).toEqual(PI);
  });

  it('stack overflow and underflow: IE|SF with C1 = 1 / 0, indefinite when masked, nothing when unmasked', () => {
    const x = new X87(new Uint8Array(512));
    x.finit();
    for (let k = 0; k < 8; k++) x.fldConst(Const.ONE);
    x.fldConst(Const.ZERO);
    expect(x.fsw & (FSW.IE | FSW.SF | FSW.C1)).toBe(FSW.IE | FSW.SF | FSW.C1);
    x.getST(0);
    expect([R[2], R[1], R[0]]).toEqual([0xffff, 0xc0000000 | 0, 0]);
    x.finit();
    x.fldcw(0x37e); // IE unmasked
    x.arith(Op.ADD, 0, 1, false); // both empty
    expect(x.fsw & (FSW.IE | FSW.SF | FSW.C1 | FSW.ES | FSW.B)).toBe(FSW.IE | FSW.SF | FSW.ES | FSW.B);
    expect(x.isEmpty(0)).toBe(true);
    expect(x.pendingMF()).toBe(true);
  });

  it('an unmasked exception leaves the destination alone and is pending until FNCLEX; FLDCW can make one pending', () => {
    const x = new X87(new Uint8Array(512));
    x.finit();
    x.fldcw(0x37b); // ZE unmasked
    x.fldConst(Const.ZERO);
    x.fldConst(Const.ONE);
    x.arith(Op.DIV, 0, 1, false); // 1 / 0
    expect(x.fsw & 0xff).toBe(FSW.ZE | FSW.ES);
    expect(x.pendingMF()).toBe(true);
    x.getST(0);
    expect([R[2], R[1], R[0]]).toEqual([0x3fff, 0x80000000 | 0, 0]);
    x.fclex();
    expect(x.pendingMF()).toBe(false);
    x.fldcw(0x37f);
    x.arith(Op.DIV, 0, 1, false); // masked: +inf, ZE set, not pending
    expect(x.pendingMF()).toBe(false);
    x.fldcw(0x37b); // unmasking the set ZE makes it pending
    expect(x.pendingMF()).toBe(true);
    expect(x.fsw & FSW.B).toBe(FSW.B);
  });
});

describe('x87 environment images', () => {
  function setup(): X87 {
    const x = new X87(new Uint8Array(512));
    x.finit();
    x.fldcw(0x0a7f);
    x.fldConst(Const.PI);
    x.fldConst(Const.ZERO);
    x.setLast(0x5ab, 0x12345678, 0x9abcdef0);
    return x;
  }
  const word = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
  const dword = (b: Uint8Array, o: number) => (word(b, o) | (word(b, o + 2) << 16)) >>> 0;

  it('32-bit protected mode (28 bytes): pointers at 12/20, FOP in the high half at 16', () => {
    const x = setup();
    const b = new Uint8Array(28);
    expect(x.fstenv(b, 0, EnvFormat.PROT32)).toBe(28);
    expect(dword(b, 0)).toBe(0xffff0a7f);
    expect(word(b, 4)).toBe(x.fsw);
    expect(word(b, 8)).toBe(0x1fff); // physical 7: valid (00), physical 6: zero (01), the rest empty
    expect(dword(b, 12)).toBe(0x12345678);
    expect(dword(b, 16)).toBe(0x05ab0000);
    expect(dword(b, 20)).toBe(0x9abcdef0);
  });

  it('32-bit real mode: 16-bit offsets with the high bits in bits 27:12', () => {
    const x = setup();
    const b = new Uint8Array(28);
    x.fstenv(b, 0, EnvFormat.REAL32);
    expect(dword(b, 12)).toBe(0xffff5678);
    expect(dword(b, 16)).toBe(((0x1234 << 12) | 0x5ab) >>> 0);
    expect(dword(b, 20)).toBe(0xffffdef0);
    expect(dword(b, 24)).toBe((0x9abc << 12) >>> 0);
  });

  it('16-bit real mode: 20-bit addresses split as 16 + 4 bits', () => {
    const x = setup();
    const b = new Uint8Array(14);
    expect(x.fstenv(b, 0, EnvFormat.REAL16)).toBe(14);
    expect(word(b, 0)).toBe(0x0a7f);
    expect(word(b, 6)).toBe(0x5678);
    expect(word(b, 8)).toBe((0x4 << 12) | 0x5ab);
    expect(word(b, 10)).toBe(0xdef0);
    expect(word(b, 12)).toBe(0xc << 12);
  });

  for (const [fmt, size] of [[EnvFormat.PROT32, 108], [EnvFormat.REAL32, 108], [EnvFormat.PROT16, 94], [EnvFormat.REAL16, 94]] as const) {
    it(`FSAVE/FRSTOR round trip, format ${fmt} (${size} bytes)`, () => {
      const x = setup();
      const before = x.fx.slice(0, 160);
      const b = new Uint8Array(size);
      expect(x.fsave(b, 0, fmt)).toBe(size);
      expect(x.fcw).toBe(0x37f); // FSAVE reinitializes
      expect(x.ftwx).toBe(0);
      const y = new X87(new Uint8Array(512));
      expect(y.frstor(b, 0, fmt)).toBe(size);
      expect(y.fcw).toBe(0x0a7f);
      expect(y.fsw).toBe(before[2]! | (before[3]! << 8));
      expect(y.ftwx).toBe(before[4]);
      for (let i = 0; i < 8; i++) expect(Array.from(y.fx.subarray(32 + 16 * i, 42 + 16 * i))).toEqual(Array.from(before.subarray(32 + 16 * i, 42 + 16 * i)));
      // The 32-bit formats keep full pointers; the real-mode ones 20 bits; 16-bit protected 16.
      const fip = y.fx[8]! | (y.fx[9]! << 8) | (y.fx[10]! << 16) | (y.fx[11]! << 24);
      expect(fip >>> 0).toBe(fmt === EnvFormat.PROT32 || fmt === EnvFormat.REAL32 ? 0x12345678 : fmt === EnvFormat.REAL16 ? 0x45678 : 0x5678);
    });
  }
});

describe('FXSAVE/FXRSTOR', () => {
  it('64-bit and 32-bit forms, the software-available tail untouched, MXCSR reserved bits refused', () => {
    const x = new X87(new Uint8Array(512));
    x.finit();
    x.fldConst(Const.LN2);
    x.setLast(0x123, -0x7fff00001000, 0x1000);
    const img = new Uint8Array(512).fill(0xee);
    x.fxsave(img, 0, true, 16, true);
    expect(img[4]).toBe(0x80); // abridged: physical 7 valid
    expect(Array.from(img.subarray(8, 16))).toEqual([0x00, 0xf0, 0xff, 0xff, 0x00, 0x80, 0xff, 0xff]);
    expect(img[28]! | (img[29]! << 8)).toBe(0xffff); // MXCSR_MASK
    expect(img.subarray(464).every((v) => v === 0xee)).toBe(true);
    const img32 = new Uint8Array(512).fill(0xee);
    x.fxsave(img32, 0, false, 8, true);
    expect(Array.from(img32.subarray(12, 16))).toEqual([0, 0, 0, 0]); // FCS
    expect(img32.subarray(288, 464).every((v) => v === 0xee)).toBe(true); // XMM8-15 not saved
    const y = new X87(new Uint8Array(512));
    expect(y.fxrstor(img, 0, true, 16, true)).toBe(true);
    expect(Array.from(y.fx.subarray(0, 160))).toEqual(Array.from(x.fx.subarray(0, 160)).map((v, i) => (i >= 28 && i < 32 ? y.fx[i]! : v)));
    img[26] = 1; // MXCSR bit 16
    const z = new X87(new Uint8Array(512));
    expect(z.fxrstor(img, 0, true, 16, true)).toBe(false);
    expect(z.fx.every((v) => v === 0)).toBe(true);
  });
});
