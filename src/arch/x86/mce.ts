/**
 * Machine checks as KVM emulates them (arch/x86/kvm/x86.c, Linux 6.12): the MCG and bank MSRs
 * (set_msr_mce / get_msr_mce), KVM_X86_GET_MCE_CAP_SUPPORTED, KVM_X86_SETUP_MCE and
 * KVM_X86_SET_MCE (an uncorrected error raises #MC, an uncorrectable-no-action one (UCNA) the
 * LAPIC's CMCI). The state lives in the vCPU's MSR map (X86State.msrs), so it moves with the vCPU.
 * @module
 */
import type { X86State } from './state.js';
import { CR4 } from './state.js';

/** IA32_MCG_CAP bits (arch/x86/include/asm/mce.h). */
export const MCG = { CTL_P: 1n << 8n, CMCI_P: 1n << 10n, SER_P: 1n << 24n, LMCE_P: 1n << 27n } as const;
/** MCi_STATUS bits. */
const MCI_STATUS = { OVER: 1n << 62n, UC: 1n << 61n, VAL: 1n << 63n, PCC: 1n << 57n, S: 1n << 56n, AR: 1n << 55n } as const;
/** IA32_MCG_STATUS.MCIP */
const MCG_STATUS_MCIP = 1n << 2n;
/** MCi_CTL2: CMCI_EN and the threshold (bits 14:0). */
const MCI_CTL2_CMCI_EN = 1n << 30n;
const MCI_CTL2_CMCI_THRESHOLD_MASK = 0x7fffn;

/** x86.c KVM_MAX_MCE_BANKS */
export const KVM_MAX_MCE_BANKS = 32;
/**
 * kvm_caps.supported_mce_cap on VMX: MCG_CTL_P | MCG_SER_P (kvm_x86_vendor_init), plus LMCE_P and
 * CMCI_P (vmx.c hardware_setup).
 */
export const SUPPORTED_MCE_CAP = MCG.CTL_P | MCG.SER_P | MCG.LMCE_P | MCG.CMCI_P;

export const MCE_MSR = { MCG_CAP: 0x179, MCG_STATUS: 0x17a, MCG_CTL: 0x17b, MC0_CTL2: 0x280, MC0_CTL: 0x400 } as const;
const ALL1 = 0xffff_ffff_ffff_ffffn;

/** vcpu->arch.mcg_cap: KVM_MAX_MCE_BANKS banks and no capability bits until KVM_X86_SETUP_MCE. */
export function mcgCap(s: X86State): bigint {
  return s.msrs.get(MCE_MSR.MCG_CAP) ?? BigInt(KVM_MAX_MCE_BANKS);
}

/** Whether `index` is one of the MSRs set_msr_mce / get_msr_mce handle (MCG_CAP: reads only). */
export function isMceMsr(index: number): boolean {
  return (
    index === MCE_MSR.MCG_CAP ||
    index === MCE_MSR.MCG_STATUS ||
    index === MCE_MSR.MCG_CTL ||
    (index >= MCE_MSR.MC0_CTL2 && index < MCE_MSR.MC0_CTL2 + KVM_MAX_MCE_BANKS) ||
    (index >= MCE_MSR.MC0_CTL && index < MCE_MSR.MC0_CTL + 4 * KVM_MAX_MCE_BANKS)
  );
}

const get = (s: X86State, index: number) => s.msrs.get(index) ?? 0n;

/** get_msr_mce: the value, or undefined when KVM refuses the read (#GP / KVM_GET_MSRS stops). */
export function mceMsrRead(s: X86State, index: number, host: boolean): bigint | undefined {
  const cap = mcgCap(s);
  const banks = Number(cap & 0xffn);
  switch (index) {
    case MCE_MSR.MCG_CAP:
      return cap;
    case MCE_MSR.MCG_CTL:
      if (!(cap & MCG.CTL_P) && !host) return undefined;
      return get(s, index);
    case MCE_MSR.MCG_STATUS:
      return get(s, index);
  }
  if (index >= MCE_MSR.MC0_CTL2 && index < MCE_MSR.MC0_CTL2 + KVM_MAX_MCE_BANKS) {
    if (index >= MCE_MSR.MC0_CTL2 + banks) return undefined;
    if (!(cap & MCG.CMCI_P) && !host) return undefined;
    return get(s, index);
  }
  if (index >= MCE_MSR.MC0_CTL + 4 * banks) return undefined;
  return get(s, index);
}

/**
 * set_msr_mce: false when KVM refuses the write. `amd` is guest_cpuid_is_amd_compatible (where
 * HWCR.McStatusWrEn lets the guest write non-zero MCi_STATUS values); `hwcr` the vCPU's HWCR.
 */
export function mceMsrWrite(s: X86State, index: number, data: bigint, host: boolean, amd: boolean, hwcr: bigint): boolean {
  const cap = mcgCap(s);
  const banks = Number(cap & 0xffn);
  switch (index) {
    case MCE_MSR.MCG_CAP:
      return false; // read-only: kvm_set_msr_common has no case for it
    case MCE_MSR.MCG_STATUS:
      s.msrs.set(index, data);
      return true;
    case MCE_MSR.MCG_CTL:
      if (!(cap & MCG.CTL_P) && (data || !host)) return false;
      if (data !== 0n && data !== ALL1) return false;
      s.msrs.set(index, data);
      return true;
  }
  if (index >= MCE_MSR.MC0_CTL2 && index < MCE_MSR.MC0_CTL2 + KVM_MAX_MCE_BANKS) {
    if (index >= MCE_MSR.MC0_CTL2 + banks) return false;
    if (!(cap & MCG.CMCI_P) && (data || !host)) return false;
    if (data & ~(MCI_CTL2_CMCI_EN | MCI_CTL2_CMCI_THRESHOLD_MASK)) return false; // reserved bits: #GP
    s.msrs.set(index, data);
    return true;
  }
  if (index >= MCE_MSR.MC0_CTL + 4 * banks) return false;
  const reg = (index - MCE_MSR.MC0_CTL) & 3;
  // MCi_CTL: 0 or all ones, except bit 10 (the AMD K8 GART workaround) and bit 0 (UnixWare) may be clear.
  if (reg === 0 && data !== 0n && (data | (1n << 10n) | 1n) !== ALL1) return false;
  // MCi_STATUS: the guest may only clear it, unless HWCR.McStatusWrEn on an AMD-compatible CPUID.
  if (reg === 1 && !host && data !== 0n && !(amd && hwcr & (1n << 18n))) return false;
  s.msrs.set(index, data);
  return true;
}

/** kvm_vcpu_ioctl_x86_setup_mce: false for EINVAL. The caller updates the LAPIC's LVT count. */
export function setupMce(s: X86State, cap: bigint): boolean {
  const banks = Number(cap & 0xffn);
  if (!banks || banks > KVM_MAX_MCE_BANKS) return false;
  if (cap & ~(SUPPORTED_MCE_CAP | 0xffn | 0xff0000n)) return false;
  s.msrs.set(MCE_MSR.MCG_CAP, cap);
  if (cap & MCG.CTL_P) s.msrs.set(MCE_MSR.MCG_CTL, ALL1);
  for (let b = 0; b < banks; b++) {
    s.msrs.set(MCE_MSR.MC0_CTL + 4 * b, ALL1);
    if (cap & MCG.CMCI_P) s.msrs.set(MCE_MSR.MC0_CTL2 + b, 0n);
  }
  return true;
}

export interface X86Mce {
  status: bigint;
  addr: bigint;
  misc: bigint;
  mcg_status: bigint;
  bank: number;
}

/** What KVM_X86_SET_MCE asks of the vCPU after recording the error. */
export type MceAction = 'none' | 'cmci' | 'mc' | 'triple-fault';

/**
 * kvm_vcpu_ioctl_x86_set_mce: records the error in its bank; undefined for EINVAL, else what to
 * raise — the CMCI for a UCNA in a bank with CMCI enabled, #MC for an uncorrected error, a triple
 * fault when one arrives with MCIP already set or CR4.MCE clear.
 */
export function setMce(s: X86State, mce: X86Mce): MceAction | undefined {
  const cap = mcgCap(s);
  const banks = Number(cap & 0xffn);
  if (mce.bank >= banks || !(mce.status & MCI_STATUS.VAL)) return undefined;
  const at = MCE_MSR.MC0_CTL + 4 * mce.bank;
  const bankCtl = get(s, at);
  const bankStatus = get(s, at + 1);
  const setBank = (status: bigint) => {
    s.msrs.set(at + 1, status);
    s.msrs.set(at + 2, mce.addr);
    s.msrs.set(at + 3, mce.misc);
  };
  const uc = (mce.status & MCI_STATUS.UC) !== 0n;
  // is_ucna: no MCG_STATUS, not PCC/S/AR, VAL and UC.
  if (!mce.mcg_status && !(mce.status & (MCI_STATUS.PCC | MCI_STATUS.S | MCI_STATUS.AR)) && uc) {
    setBank(mce.status);
    s.msrs.set(MCE_MSR.MCG_STATUS, mce.mcg_status);
    return cap & MCG.CMCI_P && get(s, MCE_MSR.MC0_CTL2 + mce.bank) & MCI_CTL2_CMCI_EN ? 'cmci' : 'none';
  }
  // Uncorrected-error reporting disabled by MCG_CTL or the bank's MCi_CTL: dropped.
  if (uc && cap & MCG.CTL_P && get(s, MCE_MSR.MCG_CTL) !== ALL1) return 'none';
  if (uc && bankCtl !== ALL1) return 'none';
  if (uc) {
    if (get(s, MCE_MSR.MCG_STATUS) & MCG_STATUS_MCIP || !(s.cr4 & CR4.MCE)) return 'triple-fault';
    setBank(bankStatus & MCI_STATUS.VAL ? mce.status | MCI_STATUS.OVER : mce.status);
    s.msrs.set(MCE_MSR.MCG_STATUS, mce.mcg_status);
    return 'mc';
  }
  if (!(bankStatus & MCI_STATUS.VAL) || !(bankStatus & MCI_STATUS.UC)) setBank(bankStatus & MCI_STATUS.VAL ? mce.status | MCI_STATUS.OVER : mce.status);
  else s.msrs.set(at + 1, bankStatus | MCI_STATUS.OVER);
  return 'none';
}
