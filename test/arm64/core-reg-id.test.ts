/**
 * `coreRegId()` takes what the C macro KVM_REG_ARM_CORE_REG() takes (member paths with array
 * indices) plus the short names, and gives the ids C computes: checked against
 * aarch64-linux-gnu-gcc compiling the kernel's own macros where it is installed.
 */
import { describe, expect, it } from 'vitest';
import { arm64 } from '../../src/index.js';
import { ccFor, compileC } from '../helpers/toolchain.js';

const { coreRegId } = arm64;

/** [C member path, KVM_REG_SIZE_* suffix] for every core register. */
const CORE: [string, string][] = [
  ...Array.from({ length: 31 }, (_, i): [string, string] => [`regs.regs[${i}]`, 'U64']),
  ['regs.sp', 'U64'],
  ['regs.pc', 'U64'],
  ['regs.pstate', 'U64'],
  ['sp_el1', 'U64'],
  ['elr_el1', 'U64'],
  ...Array.from({ length: 5 }, (_, i): [string, string] => [`spsr[${i}]`, 'U64']),
  ...Array.from({ length: 32 }, (_, i): [string, string] => [`fp_regs.vregs[${i}]`, 'U128']),
  ['fp_regs.fpsr', 'U32'],
  ['fp_regs.fpcr', 'U32'],
];

describe('coreRegId', () => {
  it('accepts the C macro paths and the short names', () => {
    expect(coreRegId('regs.regs[5]')).toBe(0x603000000010000an);
    expect(coreRegId('x5')).toBe(coreRegId('regs.regs[5]'));
    expect(coreRegId('x30')).toBe(coreRegId('regs.regs[30]'));
    expect(coreRegId('regs.regs')).toBe(coreRegId('x0')); // an array alone is its element 0
    expect(coreRegId('spsr[0]')).toBe(coreRegId('spsr'));
    expect(coreRegId('pc')).toBe(coreRegId('regs.pc'));
    expect(coreRegId('sp')).toBe(coreRegId('regs.sp')); // SP_EL0
    expect(coreRegId('fp_regs.vregs[0]')).toBe(0x6040000000100054n);
    expect(coreRegId('v31')).toBe(coreRegId('fp_regs.vregs[31]'));
    expect(coreRegId('fp_regs.fpcr') >> 52n).toBe(0x602n); // 32 bits
  });

  it('refuses what is not a core register', () => {
    expect(() => coreRegId('regs.regs[31]')).toThrow(RangeError);
    expect(() => coreRegId('x31')).toThrow(RangeError);
    expect(() => coreRegId('regs')).toThrow(/not a core register/);
    expect(() => coreRegId('fp_regs.__reserved[5]')).toThrow(RangeError);
    expect(() => coreRegId('nope')).toThrow(RangeError);
  });

  const cc = ccFor('arm64');
  it.skipIf(!cc)('matches KVM_REG_ARM64 | KVM_REG_SIZE_* | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG() of <asm/kvm.h>', () => {
    const lines = CORE.map(([p, sz], i) => `_Static_assert((KVM_REG_ARM64 | KVM_REG_SIZE_${sz} | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(${p})) == 0x${coreRegId(p).toString(16)}ULL, "${p} (${i})");`);
    const src = ['#include <stddef.h>', '#include <linux/kvm.h>', ...lines, 'int main(void) { return 0; }'].join('\n');
    const r = compileC(cc!, src);
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
    // The check can fail: a wrong id does not compile.
    expect(compileC(cc!, src.replace(/== 0x6030000000100000ULL/, '== 0x6030000000100002ULL')).ok).toBe(false);
  });
});
