/**
 * CPUID: the leaves this VMX-flavoured host supports (KVM_GET_SUPPORTED_CPUID), and the guest's
 * view (what KVM_SET_CPUID2 installed, with KVM's out-of-range rule and dynamic bits).
 * The model is an Intel Core (family 6) with the features the interpreter implements.
 * @module
 */
import { KVM_CPUID_FEATURES } from './irqchip/kvmclock.js';
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
 * Leaf 1 EDX: TSC MSR PAE CX8 APIC MTRR PGE CMOV PAT CLFSH FXSR (+ PSE DE VME). Never a feature
 * whose instructions do not run: FPU, MMX, SSE and SSE2 wait for the x87/SSE opcode rows, SEP for
 * SYSENTER/SYSEXIT (test/x86/cpuid-truth.test.ts probes every advertised bit).
 */
export const LEAF1_EDX = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 9) | (1 << 12) | (1 << 13) | (1 << 15) | (1 << 16) | (1 << 19) | (1 << 24);
/** Leaf 1 ECX: X2APIC (emulated by the in-kernel LAPIC), POPCNT, XSAVE, HYPERVISOR. */
export const LEAF1_ECX = (1 << 21) | (1 << 23) | (1 << 26) | (1 << 31);

function brand(): number[] {
  const s = 'vkvm Virtual x86-64 CPU (VMX)'.padEnd(48, '\0');
  const out: number[] = [];
  for (let k = 0; k < 48; k += 4) out.push(str4(s.slice(k, k + 4)));
  return out;
}

/** KVM_GET_SUPPORTED_CPUID entries. */
export function supportedCpuid(): CpuidEntry[] {
  const e = (fn: number, index: number, eax: number, ebx: number, ecx: number, edx: number, flags = 0): CpuidEntry => ({ function: fn, index, flags, eax: eax | 0, ebx: ebx | 0, ecx: ecx | 0, edx: edx | 0 });
  const b = brand();
  return [
    e(0, 0, 0xd, str4('Genu'), str4('ntel'), str4('ineI')),
    // Family 6 model 0x8c stepping 1 (a Tiger Lake class core); CLFLUSH line 8*8 bytes.
    e(1, 0, 0x000806c1, 0x00000800, LEAF1_ECX, LEAF1_EDX),
    e(4, 0, 0x00000121, 0x01c0003f, 0x0000003f, 0, SIGNIFICANT_INDEX),
    e(4, 1, 0x00000122, 0x01c0003f, 0x0000003f, 0, SIGNIFICANT_INDEX),
    e(4, 2, 0x00000143, 0x03c0003f, 0x000003ff, 0, SIGNIFICANT_INDEX),
    e(4, 3, 0, 0, 0, 0, SIGNIFICANT_INDEX),
    // TSC_ADJUST (EBX bit 1): emulated (irqchip/kvmclock.ts).
    e(7, 0, 0, 1 << 1, 0, 0, SIGNIFICANT_INDEX),
    // XSAVE: x87 | SSE; sizes for that state (576 bytes).
    e(0xd, 0, 3, 0x240, 0x240, 0, SIGNIFICANT_INDEX),
    e(0xd, 1, 0, 0, 0, 0, SIGNIFICANT_INDEX),
    e(0x40000000, 0, 0x40000001, str4('KVMK'), str4('VMKV'), str4('M\0\0\0')),
    e(0x40000001, 0, KVM_CPUID_FEATURES, 0, 0, 0),
    e(0x80000000, 0, 0x80000008, 0, 0, 0),
    // LAHF-in-64, LZCNT (ABM); SYSCALL, NX, 1GB pages off, RDTSCP, LM.
    e(0x80000001, 0, 0, 0, (1 << 0) | (1 << 5), (1 << 11) | (1 << 20) | (1 << 27) | (1 << 29)),
    e(0x80000002, 0, b[0]!, b[1]!, b[2]!, b[3]!),
    e(0x80000003, 0, b[4]!, b[5]!, b[6]!, b[7]!),
    e(0x80000004, 0, b[8]!, b[9]!, b[10]!, b[11]!),
    e(0x80000006, 0, 0, 0, 0x01006040, 0),
    e(0x80000007, 0, 0, 0, 0, 1 << 8),
    // 39 physical, 48 virtual address bits.
    e(0x80000008, 0, 0x3027, 0, 0, 0),
  ];
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
