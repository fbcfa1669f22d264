/**
 * CPUID says what the engine implements, derived from the opcode table (never hand-kept): every
 * instruction-feature bit KVM_GET_SUPPORTED_CPUID reports has its whole SDM instruction list in
 * the table with handlers, every row's feature names an instruction of that feature, and no bit
 * is set that is neither such a feature nor a declared system feature.
 */
import { describe, expect, it } from 'vitest';
import { implementedFeatures, supportedCpuid, TSC_KHZ, XCR0_SUPPORTED } from '../../src/arch/x86/cpuid.js';
import { DESCS, mnemonic } from '../../src/arch/x86/decoder.js';
import { HANDLERS } from '../../src/arch/x86/exec/index.js';
import { FEATURES, type FeatureName } from '../../src/arch/x86/features.js';

const entries = supportedCpuid();
const leaf = (fn: number, sub = 0) => entries.find((e) => e.function === fn && e.index === sub);
const reg = (fn: number, sub: number, r: number) => {
  const e = leaf(fn, sub);
  return e ? [e.eax, e.ebx, e.ecx, e.edx][r]! : 0;
};
const advertised = (f: FeatureName) => (reg(FEATURES[f].leaf, FEATURES[f].sub, FEATURES[f].reg) >>> FEATURES[f].bit) & 1;

describe('x86 CPUID from the opcode table', () => {
  it('every advertised instruction feature is implemented in full, and every implemented one is advertised', () => {
    const impl = new Set(implementedFeatures());
    for (const f of Object.keys(FEATURES) as FeatureName[]) {
      expect(advertised(f), f).toBe(impl.has(f) ? 1 : 0);
      if (!impl.has(f)) continue;
      for (const m of FEATURES[f].insns) {
        expect(DESCS.some((d) => d.name === m && d.feature === f), `${f}: ${m} has a row`).toBe(true);
        expect(typeof HANDLERS[mnemonic(m)], `${f}: ${m} has a handler`).toBe('function');
      }
    }
  });

  it("every row's feature lists the row's mnemonic", () => {
    for (const d of DESCS) if (d.feature) expect(FEATURES[d.feature].insns, d.row).toContain(d.name);
  });

  it('no feature bit is set that is neither an implemented instruction feature nor a declared system feature', () => {
    const system: Record<string, number> = { '1:0:3': 0x0001324c, '1:0:2': 0x80200000, '2147483649:0:3': 0x20100000, '2147483655:0:3': 0x100, '7:0:1': (1 << 13) | (1 << 1) };
    const allowed = new Map<string, number>(Object.entries(system));
    for (const f of implementedFeatures()) {
      const k = `${FEATURES[f].leaf}:${FEATURES[f].sub}:${FEATURES[f].reg}`;
      allowed.set(k, (allowed.get(k) ?? 0) | (1 << FEATURES[f].bit));
    }
    for (const [fn, sub, r] of [[1, 0, 2], [1, 0, 3], [7, 0, 1], [7, 0, 2], [7, 0, 3], [0xd, 1, 0], [0x80000001, 0, 2], [0x80000001, 0, 3], [0x80000007, 0, 3]] as const) {
      const v = reg(fn, sub, r) >>> 0;
      const ok = (allowed.get(`${fn}:${sub}:${r}`) ?? 0) >>> 0;
      expect((v & ~ok) >>> 0, `leaf ${fn.toString(16)}.${sub} reg ${r}`).toBe(0);
    }
    // VME is not implemented (no virtual-8086 mode extensions): never advertised.
    expect(reg(1, 0, 3) & 2).toBe(0);
  });

  it('leaf 0xD exists only with XSAVE, and then says XCR0 = x87 | SSE', () => {
    if (advertised('XSAVE')) {
      expect(leaf(0xd, 0)?.eax).toBe(XCR0_SUPPORTED);
      expect(XCR0_SUPPORTED).toBe(3);
      expect(leaf(0xd, 0)?.edx).toBe(0);
    } else expect(leaf(0xd, 0)).toBeUndefined();
  });

  it('leaves 0x15 and 0x16 give the TSC rate', () => {
    const l15 = leaf(0x15)!;
    expect((l15.ecx * l15.ebx) / l15.eax).toBe(TSC_KHZ * 1000);
    expect(leaf(0x16)!.eax).toBe(TSC_KHZ / 1000);
    expect(leaf(0)!.eax).toBeGreaterThanOrEqual(0x16);
  });
});
