/**
 * CPUID: the leaves this VMX-flavoured host supports (KVM_GET_SUPPORTED_CPUID), and the guest's
 * view (what KVM_SET_CPUID2 installed, with KVM's out-of-range rule and dynamic bits).
 * The model is an Intel Core (family 6). Instruction feature bits are derived from the opcode
 * table (features.ts): a feature is advertised only when every instruction it provides has a row.
 * @module
 */
import { DESCS } from './decoder.js';
import { KVM_CPUID_FEATURES } from './irqchip/kvmclock.js';
import { FEATURES, REG, type FeatureName } from './features.js';
import { CR4 } from './state.js';

export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

const SIGNIFICANT_INDEX = 1;
const str4 = (s: string) => s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24);

/**
 * Feature bits that are not instructions (paging, APIC, MSRs, the hypervisor range...), each
 * implemented elsewhere in the engine: [leaf, subleaf, register, bit].
 */
const SYSTEM_FEATURES: readonly (readonly [number, number, number, number])[] = [
  [1, 0, REG.EDX, 2], // DE: CR4.DE (DR4/DR5 #UD), exec/system.ts movDr
  [1, 0, REG.EDX, 3], // PSE: 4 MiB pages, mmu.ts
  [1, 0, REG.EDX, 6], // PAE, mmu.ts
  [1, 0, REG.EDX, 9], // APIC (mirrors IA32_APIC_BASE.EN)
  [1, 0, REG.EDX, 12], // MTRR: the MTRR MSRs, msr.ts
  [1, 0, REG.EDX, 13], // PGE, mmu.ts
  [1, 0, REG.EDX, 16], // PAT: IA32_PAT, msr.ts
  [1, 0, REG.ECX, 21], // X2APIC: the in-kernel LAPIC's x2APIC mode (irqchip/)
  [7, 0, REG.EBX, 1], // TSC_ADJUST: IA32_TSC_ADJUST (irqchip/kvmclock.ts)
  [1, 0, REG.ECX, 31], // HYPERVISOR
  [0x80000001, 0, REG.EDX, 20], // NX, mmu.ts
  [0x80000001, 0, REG.EDX, 29], // LM
  [0x80000007, 0, REG.EDX, 8], // invariant TSC
];

/**
 * The instruction features whose whole SDM instruction list the opcode table implements
 * (features.ts): these, and only these, are advertised.
 */
export function implementedFeatures(): FeatureName[] {
  const have = new Set(DESCS.filter((d) => d.feature !== null).map((d) => `${d.feature}:${d.name}`));
  return (Object.keys(FEATURES) as FeatureName[]).filter((f) => FEATURES[f].insns.every((m) => have.has(`${f}:${m}`)));
}

/** Feature bits by leaf/subleaf/register: system features plus the implemented instruction features. */
function featureWords(): Map<string, number> {
  const words = new Map<string, number>();
  const set = (leaf: number, sub: number, reg: number, bit: number) => {
    const k = `${leaf}:${sub}:${reg}`;
    words.set(k, (words.get(k) ?? 0) | (1 << bit));
  };
  for (const [leaf, sub, reg, bit] of SYSTEM_FEATURES) set(leaf, sub, reg, bit);
  const impl = implementedFeatures();
  for (const f of impl) set(FEATURES[f].leaf, FEATURES[f].sub, FEATURES[f].reg, FEATURES[f].bit);
  // CPUID.(7,0):EBX[13]: the x87 state model keeps no FCS/FDS (fpu/README.md).
  if (impl.includes('FPU')) set(7, 0, REG.EBX, 13);
  return words;
}

/** The TSC rate the vCPU's TSC runs at (X86Machine.rdtsc: 2.4 GHz), for CPUID 0x15/0x16. */
export const TSC_KHZ = 2_400_000;
/** The core crystal clock CPUID 0x15 reports (TSC = crystal * EBX / EAX). */
const CRYSTAL_HZ = 24_000_000;

/** XCR0 components this CPU implements (x87 | SSE; no AVX): CPUID 0xD and XSETBV agree. */
export const XCR0_SUPPORTED = 3;
/** XSAVE area size for the legacy region (512) and header (64): x87 and SSE only. */
export const XSAVE_SIZE = 576;

function brand(): number[] {
  const s = 'vkvm Virtual x86-64 CPU (VMX)'.padEnd(48, '\0');
  const out: number[] = [];
  for (let k = 0; k < 48; k += 4) out.push(str4(s.slice(k, k + 4)));
  return out;
}

/** KVM_GET_SUPPORTED_CPUID entries. */
export function supportedCpuid(): CpuidEntry[] {
  const e = (fn: number, index: number, eax: number, ebx: number, ecx: number, edx: number, flags = 0): CpuidEntry => ({ function: fn, index, flags, eax: eax | 0, ebx: ebx | 0, ecx: ecx | 0, edx: edx | 0 });
  const w = featureWords();
  const bits = (leaf: number, sub: number, reg: number) => w.get(`${leaf}:${sub}:${reg}`) ?? 0;
  const b = brand();
  const xsave = (bits(1, 0, REG.ECX) & (1 << FEATURES.XSAVE.bit)) !== 0;
  const out = [
    e(0, 0, 0x16, str4('Genu'), str4('ntel'), str4('ineI')),
    // Family 6 model 0x8c stepping 1 (a Tiger Lake class core); CLFLUSH line 8*8 bytes.
    e(1, 0, 0x000806c1, 0x00000800, bits(1, 0, REG.ECX), bits(1, 0, REG.EDX)),
    e(4, 0, 0x00000121, 0x01c0003f, 0x0000003f, 0, SIGNIFICANT_INDEX),
    e(4, 1, 0x00000122, 0x01c0003f, 0x0000003f, 0, SIGNIFICANT_INDEX),
    e(4, 2, 0x00000143, 0x03c0003f, 0x000003ff, 0, SIGNIFICANT_INDEX),
    e(4, 3, 0, 0, 0, 0, SIGNIFICANT_INDEX),
    e(7, 0, 0, bits(7, 0, REG.EBX), bits(7, 0, REG.ECX), bits(7, 0, REG.EDX), SIGNIFICANT_INDEX),
  ];
  if (xsave) {
    // XCR0 may hold x87 | SSE; EBX (the size for the XCR0 in force) is updated at run time.
    out.push(e(0xd, 0, XCR0_SUPPORTED, XSAVE_SIZE, XSAVE_SIZE, 0, SIGNIFICANT_INDEX));
    out.push(e(0xd, 1, bits(0xd, 1, REG.EAX), bits(0xd, 1, REG.EAX) & (1 << FEATURES.XSAVEC.bit) ? XSAVE_SIZE : 0, 0, 0, SIGNIFICANT_INDEX));
  }
  out.push(
    // TSC = crystal * EBX / EAX; 0x16: base/max MHz and the bus (reference) MHz.
    e(0x15, 0, 1, TSC_KHZ / (CRYSTAL_HZ / 1000), CRYSTAL_HZ, 0),
    e(0x16, 0, TSC_KHZ / 1000, TSC_KHZ / 1000, 100, 0),
    e(0x40000000, 0, 0x40000001, str4('KVMK'), str4('VMKV'), str4('M\0\0\0')),
    e(0x40000001, 0, KVM_CPUID_FEATURES, 0, 0, 0),
    e(0x80000000, 0, 0x80000008, 0, 0, 0),
    e(0x80000001, 0, 0, 0, bits(0x80000001, 0, REG.ECX), bits(0x80000001, 0, REG.EDX)),
    e(0x80000002, 0, b[0]!, b[1]!, b[2]!, b[3]!),
    e(0x80000003, 0, b[4]!, b[5]!, b[6]!, b[7]!),
    e(0x80000004, 0, b[8]!, b[9]!, b[10]!, b[11]!),
    e(0x80000006, 0, 0, 0, 0x01006040, 0),
    e(0x80000007, 0, 0, 0, 0, bits(0x80000007, 0, REG.EDX)),
    // 39 physical, 48 virtual address bits.
    e(0x80000008, 0, 0x3027, 0, 0, 0),
  );
  return out;
}

/**
 * What a guest CPUID (KVM_SET_CPUID2) enables, as kvm_vcpu_after_set_cpuid derives it: the CR4
 * bits it leaves reserved (__cr4_reserved_bits: OSXSAVE without XSAVE, FSGSBASE without
 * FSGSBASE) and the XCR0 bits XSETBV and KVM_SET_XCRS accept (guest_supported_xcr0: leaf 0xD.0
 * EDX:EAX within what this CPU implements; x87 always).
 */
export interface GuestCaps {
  readonly cr4Reserved: number;
  readonly xcr0: number;
}

export function guestCaps(entries: readonly CpuidEntry[]): GuestCaps {
  const find = (fn: number, idx: number) => entries.find((x) => x.function === fn && (!(x.flags & SIGNIFICANT_INDEX) || x.index === idx));
  let cr4Reserved = 0;
  if (!((find(1, 0)?.ecx ?? 0) & (1 << FEATURES.XSAVE.bit))) cr4Reserved |= CR4.OSXSAVE;
  if (!((find(7, 0)?.ebx ?? 0) & (1 << FEATURES.FSGSBASE.bit))) cr4Reserved |= CR4.FSGSBASE;
  const d = find(0xd, 0);
  return { cr4Reserved, xcr0: ((d?.eax ?? 0) & XCR0_SUPPORTED) | 1 };
}

/** The guest-visible CPUID (kvm_cpuid): exact entry, else Intel's out-of-range rule, else zeros. */
export function guestCpuid(entries: readonly CpuidEntry[], leaf: number, sub: number, cr4: number, apicBase: bigint, out: Int32Array): void {
  const find = (fn: number, idx: number) => entries.find((x) => x.function === fn && (!(x.flags & SIGNIFICANT_INDEX) || x.index === idx));
  let fn = leaf >>> 0;
  let ent = find(fn, sub);
  if (!ent) {
    const basic = find(0, 0);
    const amd = basic && basic.ebx === str4('Auth') && basic.ecx === str4('cAMD') && basic.edx === str4('enti');
    if (basic && !amd) {
      const cls = fn >= 0x40000000 && fn <= 0x4fffffff ? find(fn & 0xffffff00, 0) : fn >= 0xc0000000 ? find(0xc0000000, 0) : find(fn & 0x80000000, 0);
      if (!(cls && fn <= cls.eax >>> 0)) {
        fn = basic.eax >>> 0;
        ent = find(fn, sub);
      }
    }
  }
  if (!ent) {
    out.fill(0);
    return;
  }
  out[0] = ent.eax;
  out[1] = ent.ebx;
  out[2] = ent.ecx;
  out[3] = ent.edx;
  if (fn === 1) {
    // OSXSAVE mirrors CR4.OSXSAVE; APIC mirrors the APIC base enable bit.
    out[2] = cr4 & CR4.OSXSAVE ? out[2]! | (1 << 27) : out[2]! & ~(1 << 27);
    out[3] = apicBase & 0x800n ? out[3]! : out[3]! & ~(1 << 9);
  }
}
