/**
 * Model-specific registers: the MSRs this vCPU implements (KVM_GET_MSR_INDEX_LIST), their
 * semantics for RDMSR/WRMSR and KVM_GET/SET_MSRS, and the KVM_X86_SET_MSR_FILTER filter.
 * @module
 */
import type { UserArg } from '../../kernel/uarg.js';
import { KvmError } from '../../sys/error.js';
import { KVM_MSR_EXIT_REASON } from '../../uapi/constants.js';
import { x86_64 } from '../../uapi/index.js';
import { isCanonical } from './cpu.js';
import { IRQCHIP_MSR_INDICES, irqchipMsrRead, irqchipMsrWrite } from './irqchip/msrs.js';
import { isMceMsr, MCE_MSR, mceMsrRead, mceMsrWrite } from './mce.js';
import type { X86Machine } from './run.js';
import { CR0, EFER, FS, GS, type X86State } from './state.js';

export const MSR = {
  TSC: 0x10,
  APIC_BASE: 0x1b,
  SYSENTER_CS: 0x174,
  SYSENTER_ESP: 0x175,
  SYSENTER_EIP: 0x176,
  MISC_ENABLE: 0x1a0,
  /** MSR_IA32_POWER_CTL: KVM keeps whatever is written (vcpu->arch.msr_ia32_power_ctl). */
  POWER_CTL: 0x1fc,
  PAT: 0x277,
  MTRRCAP: 0xfe,
  MTRR_DEF_TYPE: 0x2ff,
  TSC_DEADLINE: 0x6e0,
  EFER: 0xc0000080,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SFMASK: 0xc0000084,
  FS_BASE: 0xc0000100,
  GS_BASE: 0xc0000101,
  KERNEL_GS_BASE: 0xc0000102,
  TSC_AUX: 0xc0000103,
  /** MSR_K7_HWCR: KVM emulates it on Intel too (kvm_get/set_msr_common). */
  K7_HWCR: 0xc0010015,
} as const;

const MTRR_VAR = Array.from({ length: 16 }, (_, i) => 0x200 + i);
const MTRR_FIXED = [0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f];

/** KVM_GET_MSR_INDEX_LIST, in ascending order. */
export const MSR_INDEX_LIST: readonly number[] = [
  MSR.TSC, MSR.APIC_BASE, MSR.MTRRCAP, MSR.SYSENTER_CS, MSR.SYSENTER_ESP, MSR.SYSENTER_EIP, MSR.MISC_ENABLE,
  ...MTRR_VAR, ...MTRR_FIXED, MSR.PAT, MSR.MTRR_DEF_TYPE, MSR.TSC_DEADLINE,
  MSR.EFER, MSR.STAR, MSR.LSTAR, MSR.CSTAR, MSR.SFMASK, MSR.FS_BASE, MSR.GS_BASE, MSR.KERNEL_GS_BASE, MSR.TSC_AUX,
  // emulated_msrs_all (x86.c): MCG_STATUS and MCG_CTL of the machine-check MSRs (mce.ts), POWER_CTL, HWCR
  MCE_MSR.MCG_STATUS, MCE_MSR.MCG_CTL, MSR.POWER_CTL, MSR.K7_HWCR,
  ...IRQCHIP_MSR_INDICES.filter((i) => i !== MSR.TSC && i !== MSR.APIC_BASE && i !== MSR.TSC_DEADLINE),
].sort((a, b) => a - b);

const KNOWN = new Set(MSR_INDEX_LIST);

/** Reset values of MSRs that are not zero. */
const RESET: ReadonlyMap<number, bigint> = new Map([
  [MSR.PAT, 0x0007040600070406n],
  [MSR.MISC_ENABLE, 0x1n], // fast strings
  [MSR.MTRRCAP, 0x508n], // 8 variable ranges, fixed ranges, WC
]);

/** KVM_X86_SET_MSR_FILTER state. */
export class MsrFilter {
  constructor(
    readonly defaultDeny: boolean,
    readonly ranges: readonly { flags: number; base: number; nmsrs: number; bitmap: Uint8Array }[],
  ) {}

  /** Whether the access is allowed (the first range covering the index decides). */
  allows(index: number, write: boolean): boolean {
    const want = write ? 2 : 1;
    for (const r of this.ranges) {
      if (!(r.flags & want)) continue;
      if (index < r.base || index >= r.base + r.nmsrs) continue;
      const bit = index - r.base;
      return ((r.bitmap[bit >>> 3]! >> (bit & 7)) & 1) === 1;
    }
    return !this.defaultDeny;
  }
}

interface MsrHost {
  readonly s: X86State;
  rdtsc(): bigint;
  readonly vcpu: { vm: { archState: unknown } };
  readonly cpu: { updateMode(): void; flushTlb(): void };
}

export type MsrResult = { ok: true; value: bigint } | { ok: false; reason: number };

/**
 * A guest RDMSR/WRMSR: the value (or write success), or why KVM would refuse it
 * (KVM_MSR_EXIT_REASON_FILTER / UNKNOWN / INVAL) so the caller can #GP or exit to userspace.
 */
export function msrAccess(m: MsrHost, index: number, write: boolean, value: bigint): MsrResult {
  const filter = (m.vcpu.vm.archState as { msrFilter: MsrFilter | null }).msrFilter;
  if (filter && !filter.allows(index, write)) return { ok: false, reason: KVM_MSR_EXIT_REASON.FILTER };
  // The interrupt and time MSRs (irqchip/msrs.ts): TSC, APIC base, x2APIC, TSC deadline/adjust, kvmclock.
  if ('events' in m) {
    if (!write) {
      const v = irqchipMsrRead(m as unknown as X86Machine, index, false);
      if (v !== undefined) return v === null ? { ok: false, reason: KVM_MSR_EXIT_REASON.INVAL } : { ok: true, value: v };
    } else {
      const r = irqchipMsrWrite(m as unknown as X86Machine, index, value, false);
      if (r !== undefined) return r ? { ok: true, value } : { ok: false, reason: KVM_MSR_EXIT_REASON.INVAL };
    }
  }
  if (isMceMsr(index)) {
    // get/set_msr_mce refuse some of these (banks past MCG_CAP.Count, CTL2 without CMCI_P...).
    if (!write) {
      const v = mceMsrRead(m.s, index, false);
      return v === undefined ? { ok: false, reason: KVM_MSR_EXIT_REASON.INVAL } : { ok: true, value: v };
    }
    return writeMsr(m, index, value, false) ? { ok: true, value } : { ok: false, reason: KVM_MSR_EXIT_REASON.INVAL };
  }
  if (!KNOWN.has(index)) return { ok: false, reason: KVM_MSR_EXIT_REASON.UNKNOWN };
  if (!write) return { ok: true, value: readMsr(m, index) };
  return writeMsr(m, index, value, false) ? { ok: true, value } : { ok: false, reason: KVM_MSR_EXIT_REASON.INVAL };
}

/** KVM_GET_MSRS of one vCPU MSR (host-initiated): undefined when KVM refuses it (the scan stops). */
export function hostReadMsr(m: MsrHost, index: number): bigint | undefined {
  if (isMceMsr(index)) return mceMsrRead(m.s, index, true);
  return KNOWN.has(index) ? readMsr(m, index) : undefined;
}

/** KVM_SET_MSRS of one vCPU MSR (host-initiated): false when KVM refuses it. */
export function hostWriteMsr(m: MsrHost, index: number, v: bigint): boolean {
  return (KNOWN.has(index) || isMceMsr(index)) && writeMsr(m, index, v, true);
}

export function readMsr(m: MsrHost, index: number): bigint {
  const s = m.s;
  if ('events' in m) {
    const v = irqchipMsrRead(m as unknown as X86Machine, index, true);
    if (v !== undefined) return v ?? 0n;
  }
  switch (index) {
    case MSR.EFER:
      return BigInt(s.efer >>> 0);
    case MSR.FS_BASE:
      return s.seg[FS]!.baseRaw;
    case MSR.GS_BASE:
      return s.seg[GS]!.baseRaw;
    default:
      return s.msrs.get(index) ?? RESET.get(index) ?? 0n;
  }
}

/** Writes an MSR; `host` is KVM_SET_MSRS (host-initiated: some checks are relaxed). False = refused. */
export function writeMsr(m: MsrHost, index: number, v: bigint, host: boolean): boolean {
  const s = m.s;
  if ('events' in m) {
    const r = irqchipMsrWrite(m as unknown as X86Machine, index, v, host);
    if (r !== undefined) return r;
  }
  if (isMceMsr(index)) return mceMsrWrite(s, index, v, host, amdCompatible(m), s.msrs.get(MSR.K7_HWCR) ?? 0n);
  switch (index) {
    case MSR.EFER: {
      const allowed = BigInt(EFER.SCE | EFER.LME | EFER.LMA | EFER.NXE);
      if (v & ~allowed) return false;
      let e = Number(v);
      const paging = (s.cr0 & CR0.PG) !== 0;
      if (!host) {
        // LME cannot change while paging is on; LMA is read-only for the guest.
        if (paging && (e ^ s.efer) & EFER.LME) return false;
        e = (e & ~EFER.LMA) | (s.efer & EFER.LMA);
      }
      s.efer = e >>> 0;
      m.cpu.updateMode();
      m.cpu.flushTlb();
      return true;
    }
    case MSR.FS_BASE:
    case MSR.GS_BASE:
    case MSR.KERNEL_GS_BASE:
    case MSR.LSTAR:
    case MSR.CSTAR:
    case MSR.SYSENTER_ESP:
    case MSR.SYSENTER_EIP: {
      const n = Number(BigInt.asIntN(64, v));
      if (!isCanonical(n)) return false;
      if (index === MSR.FS_BASE || index === MSR.GS_BASE) {
        const sg = s.seg[index === MSR.FS_BASE ? FS : GS]!;
        sg.base = n;
        sg.baseRaw = v;
      } else s.msrs.set(index, v);
      return true;
    }
    case MSR.PAT: {
      // Each byte must be a valid memory type (0, 1, 4, 5, 6, 7).
      for (let k = 0n; k < 64n; k += 8n) {
        const t = Number((v >> k) & 0xffn);
        if (t === 2 || t === 3 || t > 7) return false;
      }
      s.msrs.set(index, v);
      return true;
    }
    case MSR.MTRRCAP:
      return host && v === (RESET.get(MSR.MTRRCAP) ?? 0n);
    case MSR.K7_HWCR: {
      // Flush-filter disable (6), IGNNE emulation (8) and TLB cache disable (3) are ignored;
      // McStatusWrEn (18) and TscFreqSel (24) are kept; any other bit is refused.
      const d = v & ~0x148n;
      if (d & ~((1n << 18n) | (1n << 24n))) return false;
      s.msrs.set(index, d);
      return true;
    }
    case MSR.TSC_AUX:
      if (v >> 32n) return false;
      s.msrs.set(index, v);
      return true;
    default:
      if (!KNOWN.has(index)) return false;
      s.msrs.set(index, v);
      return true;
  }
}

/** guest_cpuid_is_amd_compatible: the guest CPUID's vendor is AMD or Hygon. */
function amdCompatible(m: MsrHost): boolean {
  const e = (m as { cpuidEntries?: readonly { function: number; ebx: number }[] }).cpuidEntries?.find((x) => x.function === 0);
  return e !== undefined && (e.ebx === 0x68747541 || e.ebx === 0x6f677948); // "Auth", "Hygo"
}

const S = x86_64.structs;
/** arch/x86/kvm/x86.c MAX_IO_MSRS: msr_io() refuses nmsrs >= 256 with E2BIG before reading any entry. */
export const MAX_IO_MSRS = 256;

/**
 * The KVM_GET_MSRS / KVM_SET_MSRS entry loop (msr_io): each kvm_msr_entry in turn is read with
 * `get` (undefined: refused) or written with `set` (false: refused); the scan stops at the first
 * refusal. Returns the number of entries done. Each flavour (VMX, TDX) passes its own accessors.
 */
export function msrIo(arg: UserArg, write: boolean, get: (index: number) => bigint | undefined, set: (index: number, data: bigint) => boolean): number {
  const hdrSize = S.kvm_msrs.offsetOf('entries');
  const hdr = arg.bytes(hdrSize);
  const n = new DataView(hdr.buffer, hdr.byteOffset, hdrSize).getUint32(S.kvm_msrs.offsetOf('nmsrs'), true);
  if (n >= MAX_IO_MSRS) throw KvmError.of('E2BIG', 'ioctl', { request: arg.request, fd: arg.fd });
  const stride = S.kvm_msr_entry.size;
  const ents = arg.slice(hdrSize, stride * n);
  const dv = new DataView(ents.buffer, ents.byteOffset, ents.length);
  const indexAt = S.kvm_msr_entry.offsetOf('index');
  const dataAt = S.kvm_msr_entry.offsetOf('data');
  let done = 0;
  for (; done < n; done++) {
    const e = stride * done;
    const idx = dv.getUint32(e + indexAt, true);
    if (write) {
      if (!set(idx, dv.getBigUint64(e + dataAt, true))) break;
    } else {
      const v = get(idx);
      if (v === undefined) break;
      dv.setBigUint64(e + dataAt, v, true);
    }
  }
  return done;
}
