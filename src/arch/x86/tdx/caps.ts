/**
 * What the modelled TDX module offers TDs on this virtual host (TDH.SYS.RD's TD_CONF as KVM
 * reports it through KVM_TDX_CAPABILITIES), and the CPUID a TD sees (the leaves the TDX module
 * virtualizes itself; everything else is a #VE for the guest to forward with TDG.VP.VMCALL).
 * @module
 */
import { supportedCpuid, type CpuidEntry } from '../cpuid.js';
import { TD_ATTR } from './abi.js';

/** KVM_SUPPORTED_TD_ATTRS & the module's ATTRIBUTES_FIXED0 (fixed-1 bits: none). */
export const SUPPORTED_ATTRS = TD_ATTR.SEPT_VE_DISABLE;
export const ATTRIBUTES_FIXED1 = 0n;
/** XFAM: KVM's supported XCR0 (x87 | SSE on this host); x87 and SSE are fixed-1 in XFAM. */
export const SUPPORTED_XFAM = 0x3n;
export const XFAM_FIXED1 = 0x3n;

/** KVM_TDX_CPUID_NO_SUBLEAF */
const NO_SUBLEAF = 0xffffffff;

/**
 * The module's configurable CPUID leaves: for each, the bits userspace may set in
 * KVM_TDX_INIT_VM (the rest of the leaf is fixed to the platform's value).
 */
interface ConfigLeaf {
  readonly function: number;
  readonly index: number;
  readonly eax: number;
  readonly ebx: number;
  readonly ecx: number;
  readonly edx: number;
}

const CONFIG: readonly ConfigLeaf[] = [
  // POPCNT is configurable; the rest of leaf 1 is fixed.
  { function: 1, index: NO_SUBLEAF, eax: 0, ebx: 0, ecx: 1 << 23, edx: 0 },
  // No structured extended feature is offered (this host has none to give).
  { function: 7, index: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 },
  // LZCNT is configurable.
  { function: 0x80000001, index: NO_SUBLEAF, eax: 0, ebx: 0, ecx: 1 << 5, edx: 0 },
  // EAX[23:16] (guest physical address bits) is how KVM lets userspace pick GPAW.
  { function: 0x80000008, index: NO_SUBLEAF, eax: 0, ebx: 0, ecx: 0, edx: 0 },
];

/** num_cpuid_config */
export const NUM_CPUID_CONFIG = CONFIG.length;

/** td_init_cpuid_entry2: the capability entries (configurable masks; GPAW bits as 0xff). */
export function capabilityCpuid(): CpuidEntry[] {
  return CONFIG.map((c) => ({
    function: c.function,
    index: c.index === NO_SUBLEAF ? 0 : c.index,
    flags: 0,
    eax: c.function === 0x80000008 ? (c.eax & ~0xff0000) | (0xff << 16) : c.eax,
    ebx: c.ebx,
    ecx: c.ecx,
    edx: c.edx,
  }));
}

/** The configurable leaf matching a KVM_TDX_INIT_VM entry (kvm_find_cpuid_entry2 by function/index). */
export function configLeafIndex(fn: number, index: number): number {
  return CONFIG.findIndex((c) => c.function === fn >>> 0 && (c.index === NO_SUBLEAF ? index === 0 : c.index === index >>> 0));
}

/**
 * TDH.MNG.INIT's CPUID check: every configured value must stay within the leaf's configurable
 * bits. Returns the offending entry index, or -1.
 */
export function invalidCpuidValue(entries: readonly CpuidEntry[]): number {
  return entries.findIndex((e) => {
    const k = configLeafIndex(e.function, e.index);
    if (k < 0) return true;
    const c = CONFIG[k]!;
    // 0x80000008.EAX[23:16] reaches the module as 0 (KVM consumed it as GPAW).
    const eax = c.function === 0x80000008 ? e.eax & ~0xff0000 : e.eax;
    return (eax & ~c.eax) !== 0 || (e.ebx & ~c.ebx) !== 0 || (e.ecx & ~c.ecx) !== 0 || (e.edx & ~c.edx) !== 0;
  });
}

/** TSX (leaf 7.0 EBX HLE/RTM) or WAITPKG (leaf 7.0 ECX bit 5): KVM refuses them for TDs. */
export function unsupportedCpuid(e: CpuidEntry): boolean {
  return e.function === 7 && e.index === 0 && ((e.ebx & ((1 << 4) | (1 << 11))) !== 0 || (e.ecx & (1 << 5)) !== 0);
}

/**
 * The TD's CPUID as the TDX module virtualizes it: the platform's leaves (without the hypervisor
 * range) with the configurable bits taken from KVM_TDX_INIT_VM, and the guest physical address
 * width reported in 0x80000008.EAX[7:0].
 */
export function tdCpuid(configured: readonly CpuidEntry[], gpaw: number): CpuidEntry[] {
  const base = supportedCpuid().filter((e) => e.function < 0x40000000 || e.function >= 0x80000000);
  return base.map((e) => {
    const k = configLeafIndex(e.function, e.index);
    let out = { ...e };
    if (k >= 0) {
      const c = CONFIG[k]!;
      const v = configured.find((x) => configLeafIndex(x.function, x.index) === k);
      const pick = (fixed: number, mask: number, val: number) => ((fixed & ~mask) | (val & mask)) | 0;
      out = { ...e, eax: pick(e.eax, c.eax, v?.eax ?? 0), ebx: pick(e.ebx, c.ebx, v?.ebx ?? 0), ecx: pick(e.ecx, c.ecx, v?.ecx ?? 0), edx: pick(e.edx, c.edx, v?.edx ?? 0) };
    }
    if (e.function === 0x80000008) out.eax = (out.eax & ~0xff) | gpaw;
    return out;
  });
}

/** Whether the TDX module answers CPUID(leaf) itself (else the guest gets a #VE). */
export function moduleVirtualizes(entries: readonly CpuidEntry[], leaf: number): boolean {
  const l = leaf >>> 0;
  if (l >= 0x40000000 && l < 0x80000000) return false;
  const range = entries.find((e) => e.function === (l & 0x80000000));
  return range !== undefined && l <= range.eax >>> 0;
}
