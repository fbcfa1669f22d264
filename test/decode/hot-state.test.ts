/**
 * The hot CPU state the JITs address is declared once with the uapi layout engine (X86_HOT,
 * ARM64_HOT): the typed arrays are views of one buffer at the declared offsets, and the emitters'
 * slots come from the same declarations.
 */
import { describe, expect, it } from 'vitest';
import { X86_HOT, X86State } from '../../src/arch/x86/state.js';
import { ARM64_HOT, Arm64State, SP_SLOT } from '../../src/arch/arm64/state.js';
import { Block } from '../../src/arch/arm64/blocks.js';
import { generate } from '../../src/arch/arm64/jit.js';
import { A64 } from '../../src/arch/arm64/table.js';

describe('hot CPU state declared once', () => {
  it('x86: the GPRs and the FXSAVE image are views of one buffer at X86_HOT offsets', () => {
    const s = new X86State();
    expect(s.hot.byteLength).toBe(X86_HOT.size);
    expect(s.r.buffer).toBe(s.hot.buffer);
    expect(s.fx.buffer).toBe(s.hot.buffer);
    expect(s.r.byteOffset).toBe(X86_HOT.offsetOf('r'));
    expect(s.fx.byteOffset).toBe(X86_HOT.offsetOf('fx'));
    s.setReg(3, 0x1122334455667788n); // RBX
    const dv = new DataView(s.hot.buffer);
    expect(dv.getBigUint64(X86_HOT.offsetOf('r') + 8 * 3, true)).toBe(0x1122334455667788n);
    // The reset FCW and MXCSR land in the image, not over the registers.
    expect(dv.getUint16(X86_HOT.offsetOf('fx'), true)).toBe(0x37f);
    expect(dv.getUint32(X86_HOT.offsetOf('fx') + 24, true)).toBe(0x1f80);
    expect(s.r[0]).toBe(0);
  });

  it('arm64: the register arrays are views at ARM64_HOT offsets; the JIT addresses SP at SP_SLOT', () => {
    const s = new Arm64State();
    const views = { x: s.x, sp_bank: s.spBank, elr: s.elr, sys_lo: s.sysLo, sys_hi: s.sysHi, vr: s.vr } as const;
    for (const [name, v] of Object.entries(views)) {
      expect(v.buffer, name).toBe(s.hot.buffer);
      expect(v.byteOffset, name).toBe(ARM64_HOT.offsetOf(name));
      expect(v.byteLength, name).toBe(ARM64_HOT.fields[name as keyof typeof views].size);
    }
    // An SP-relative load: the SP alignment check reads the declared slot.
    const b = new Block(0x40001000, 1, 0, 0, Int32Array.of(0xf94003e0 | 0), Uint16Array.of(A64.decode(0xf94003e0 | 0))); // LDR X0, [SP]
    // SP lives in a local (L31/H31) loaded from the declared slot; the check tests that local.
    const src = generate(b, 0, true);
    expect(src).toContain(`L31 = x[${SP_SLOT}]`);
    expect(src).toContain('(L31 & 15) !== 0');
  });
});
