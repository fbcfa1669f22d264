/**
 * Divergences Linux's KVM selftests found (test/selftests, README "Linux's KVM selftests through
 * `vkvm exec`"), each pinned here with the answer Linux 6.12 gives; the line cited is where
 * arch/x86/kvm decides it (Debian linux-source 6.12.118). Each row failed before its fix. Runs on
 * the virtual backend, and on /dev/kvm where present (an Intel host: VMX's MCE capabilities).
 *
 * - hwcr_msr_test: MSR_K7_HWCR (x86.c:3436 set, 4056 get; listed in emulated_msrs_all 427).
 * - max_vcpuid_cap_test: KVM_CAP_MAX_VCPU_ID (x86.c:6241), KVM_SET_BOOT_CPU_ID (6789),
 *   kvm_arch_vcpu_precreate (11521).
 * - set_memory_region_test: KVM_SET_NR_MMU_PAGES (x86.c:6620 -> 5895).
 * - ucna_injection_test: KVM_X86_GET_MCE_CAP_SUPPORTED (x86.c:4494, vmx.c:8555), KVM_X86_SETUP_MCE
 *   (4789), KVM_X86_SET_MCE (4855, UCNA 4836), set_msr_mce (3060) / get_msr_mce (3734), the LAPIC's
 *   LVT CMCI (lapic.c:581 kvm_apic_calc_nr_lvt_entries, 607 kvm_apic_after_set_mcg_cap, 1659).
 * - userspace_msr_exit_test: MSR_IA32_POWER_CTL is emulated (x86.c:3516 / 3841), so with the filter
 *   removed a guest WRMSR to it no longer exits as unknown.
 * - private_mem_kvm_exits_test: in a KVM_X86_SW_PROTECTED_VM, an access to a gfn whose attributes
 *   say private but that no guest_memfd slot backs is KVM_EXIT_MEMORY_FAULT with KVM_RUN -EFAULT
 *   (mmu/mmu.c kvm_mmu_page_fault: PFERR_PRIVATE_ACCESS from the attributes; kvm_faultin_pfn_private:
 *   !kvm_slot_can_be_private -> kvm_mmu_prepare_memory_fault_exit).
 * - private_mem_conversions_test: KVM_HC_MAP_GPA_RANGE passes its attributes to userspace unchecked
 *   and refuses only an unaligned gpa, no pages or a wrapping gfn range (x86.c:9671); outside
 *   64-bit mode the result in RAX is 32 bits (9727, complete_hypercall_exit 9603).
 * - private_mem_conversions_test (kvm_util.c:1225 vm_guest_mem_fallocate), guest_memfd_test
 *   (test_fallocate, test_invalid_punch_hole): fallocate(2) of a guest_memfd is
 *   kvm_gmem_fallocate (virt/kvm/guest_memfd.c:227): FALLOC_FL_KEEP_SIZE is required (231) and
 *   only PUNCH_HOLE may join it (234), offset and len are page-aligned (237); allocating past the
 *   size is EINVAL (kvm_gmem_allocate 187), punching past it is a no-op; a punched page reads zero
 *   (kvm_gmem_punch_hole 154 zaps, then truncates). vfs_fallocate (fs/open.c) refuses len <= 0
 *   (EINVAL) and, on a file that is no regular file (a VM fd), ENODEV.
 * - set_memory_region_test (test_add_private_memory_region, 484-488): a guest_memfd member naming
 *   an open file that is no guest_memfd is EINVAL, a closed fd EBADF (guest_memfd.c:488, 490).
 * - userspace_io_test: a REP INS whose count userspace lowers during the exit stops at RCX = 0 (the
 *   emulator tests the count before each element; arch/x86/kvm/emulate.c x86_emulate_insn,
 *   "rep_prefix && (d & String)"), instead of wrapping RCX and running on.
 */
import { describe, expect, it } from 'vitest';
import { KVM_CAP, KVM_EXIT, KVM_MSR_EXIT_REASON, Kvm, x86_64, type Sys, type Vcpu, type Vm } from '../../src/index.js';
import { outcome, x86Backends } from '../helpers/backends.js';
import { runToExit } from '../helpers/run.js';

const { ioctls: I, structs: S } = x86_64;
const r = (n: keyof typeof I) => I[n]!.request;

const MSR = { HWCR: 0xc0010015, POWER_CTL: 0x1fc, MCG_CAP: 0x179, MCG_STATUS: 0x17a, MCG_CTL: 0x17b, MC0_CTL2: 0x280, MC0_CTL: 0x400 } as const;
const MCG = { CTL_P: 1n << 8n, CMCI_P: 1n << 10n, SER_P: 1n << 24n, LMCE_P: 1n << 27n } as const;
const ALL1 = 0xffff_ffff_ffff_ffffn;
const MCI_STATUS = { VAL: 1n << 63n, UC: 1n << 61n, EN: 1n << 60n, MISCV: 1n << 59n, ADDRV: 1n << 58n, PCC: 1n << 57n } as const;
/** xAPIC registers in the KVM_GET/SET_LAPIC page. */
const APIC = { LVR: 0x30, SPIV: 0xf0, IRR: 0x200, LVTCMCI: 0x2f0 } as const;

interface Env {
  sys: Sys;
  kvm: Kvm;
  vm: Vm;
}

const env = (sys: Sys): Env => {
  const kvm = Kvm.open(sys);
  return { sys, kvm, vm: kvm.createVm() };
};

const u64 = (v: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
};
const setupMce = (e: Env, v: Vcpu, cap: bigint) => e.sys.ioctl(v.fd, r('KVM_X86_SETUP_MCE'), u64(cap));
const setMce = (e: Env, v: Vcpu, m: { status: bigint; addr?: bigint; misc?: bigint; mcg_status?: bigint; bank: number }) =>
  e.sys.ioctl(v.fd, r('KVM_X86_SET_MCE'), S.kvm_x86_mce.encode({ addr: 0n, misc: 0n, mcg_status: 0n, ...m }));
const reg32 = (page: Uint8Array, off: number) => new DataView(page.buffer, page.byteOffset).getUint32(off, true);
const setReg32 = (page: Uint8Array, off: number, v: number) => new DataView(page.buffer, page.byteOffset).setUint32(off, v >>> 0, true);
/** One KVM_GET_MSRS entry: the value, or 'refused' when the scan stopped on it. */
const getMsr = (v: Vcpu, index: number) => v.getMsrs([index]).get(index) ?? 'refused';

/** A UCNA as ucna_injection_test injects it: VAL|UC|EN|MISCV|ADDRV, MSCOD 1, MCACOD 0x90. */
const UCNA = MCI_STATUS.VAL | MCI_STATUS.UC | MCI_STATUS.EN | MCI_STATUS.MISCV | MCI_STATUS.ADDRV | 0x10090n;

const FL = { KEEP: 1, PUNCH: 2, ZERO_RANGE: 0x10, COLLAPSE: 0x08 } as const;
/** A KVM_X86_SW_PROTECTED_VM's guest_memfd of 4 pages. */
const gmem = (e: Env) => {
  const vm = e.kvm.createVm(x86_64.KVM_X86_VM.SW_PROTECTED_VM);
  return { vm, fd: vm.createGuestMemfd(0x4000) };
};
const falloc = (e: Env, mode: number, offset: number, len: number) => {
  const g = gmem(e);
  e.sys.fallocate(g.fd, mode, offset, len);
  return 'done';
};

const gmemSlot = (e: Env, guestMemfd: number, vm = e.kvm.createVm(x86_64.KVM_X86_VM.SW_PROTECTED_VM)) =>
  vm.setUserMemoryRegion2({ slot: 0, flags: 4, guestPhysAddr: 0, memorySize: 0x200000, userspaceAddr: 0, guestMemfd, guestMemfdOffset: 0 });

const cases: [string, string, (e: Env) => unknown][] = [
  // ---- fallocate(2) of a guest_memfd (guest_memfd.c:227 kvm_gmem_fallocate)
  ['fallocate KEEP_SIZE of the whole file', 'ok:done', (e) => falloc(e, FL.KEEP, 0, 0x4000)],
  ['fallocate PUNCH_HOLE|KEEP_SIZE of one page', 'ok:done', (e) => falloc(e, FL.KEEP | FL.PUNCH, 0x1000, 0x1000)],
  ['fallocate PUNCH_HOLE|KEEP_SIZE at the size (nothing there)', 'ok:done', (e) => falloc(e, FL.KEEP | FL.PUNCH, 0x4000, 0x1000)],
  ['fallocate PUNCH_HOLE|KEEP_SIZE past the size', 'ok:done', (e) => falloc(e, FL.KEEP | FL.PUNCH, 0x5000, 0x1000)],
  ['fallocate KEEP_SIZE at the size (231: immutable size)', 'EINVAL', (e) => falloc(e, FL.KEEP, 0x4000, 0x1000)],
  ['fallocate KEEP_SIZE reaching past the size', 'EINVAL', (e) => falloc(e, FL.KEEP, 0x3000, 0x2000)],
  ['fallocate PUNCH_HOLE at an unaligned offset (237)', 'EINVAL', (e) => falloc(e, FL.KEEP | FL.PUNCH, 0xfff, 0x1000)],
  ['fallocate PUNCH_HOLE of an unaligned length', 'EINVAL', (e) => falloc(e, FL.KEEP | FL.PUNCH, 0x1000, 0xfff)],
  ['fallocate mode 0 (no KEEP_SIZE, 231)', 'EOPNOTSUPP', (e) => falloc(e, 0, 0, 0x1000)],
  ['fallocate ZERO_RANGE|KEEP_SIZE (234)', 'EOPNOTSUPP', (e) => falloc(e, FL.KEEP | FL.ZERO_RANGE, 0, 0x1000)],
  ['fallocate PUNCH_HOLE without KEEP_SIZE (vfs_fallocate)', 'EOPNOTSUPP', (e) => falloc(e, FL.PUNCH, 0, 0x1000)],
  ['fallocate COLLAPSE_RANGE|KEEP_SIZE (vfs_fallocate: exclusive)', 'EINVAL', (e) => falloc(e, FL.COLLAPSE | FL.KEEP, 0, 0x1000)],
  ['fallocate an unknown mode bit', 'EOPNOTSUPP', (e) => falloc(e, FL.KEEP | 0x80, 0, 0x1000)],
  ['fallocate of length 0 (vfs_fallocate)', 'EINVAL', (e) => falloc(e, FL.KEEP, 0, 0)],
  ['fallocate at a negative offset', 'EINVAL', (e) => falloc(e, FL.KEEP, -0x1000, 0x1000)],
  ['fallocate whose end passes 2^63 (EFBIG)', 'EFBIG', (e) => { const g = gmem(e); e.sys.fallocate(g.fd, FL.KEEP | FL.PUNCH, 0x7fff_ffff_ffff_f000n, 0x2000n); }],
  ['fallocate of a VM fd (no regular file)', 'ENODEV', (e) => e.sys.fallocate(e.vm.fd, FL.KEEP, 0, 0x1000)],
  // ---- set_memory_region_test: kvm_gmem_bind (guest_memfd.c:488 fget -> EBADF, 490 not a guest_memfd -> EINVAL)
  ['KVM_SET_USER_MEMORY_REGION2 with guest_memfd = fd 0 (open, not a guest_memfd)', 'EINVAL', (e) => gmemSlot(e, 0)],
  ['KVM_SET_USER_MEMORY_REGION2 with guest_memfd = the VM fd', 'EINVAL', (e) => { const g = gmem(e); gmemSlot(e, g.vm.fd, g.vm); }],
  ['KVM_SET_USER_MEMORY_REGION2 with guest_memfd = a closed fd', 'EBADF', (e) => gmemSlot(e, 999)],
  // ---- MSR_K7_HWCR (x86.c:3436): bits 3, 6 and 8 are dropped, 18 and 24 kept, any other refused
  ['HWCR is in KVM_GET_MSR_INDEX_LIST', 'ok:true', (e) => String(e.kvm.msrIndexList().includes(MSR.HWCR))],
  ['KVM_SET_MSRS HWCR = bit 18 (McStatusWrEn)', 'ok:1', (e) => e.vm.createVcpu(0).setMsrs([[MSR.HWCR, 1n << 18n]])],
  ['KVM_SET_MSRS HWCR = bit 2', 'ok:0', (e) => e.vm.createVcpu(0).setMsrs([[MSR.HWCR, 1n << 2n]])],
  ['KVM_SET_MSRS HWCR = bit 63', 'ok:0', (e) => e.vm.createVcpu(0).setMsrs([[MSR.HWCR, 1n << 63n]])],
  ['HWCR reads back 0x1000000 after writing bits 3|6|8|24', 'ok:16777216', (e) => { const v = e.vm.createVcpu(0); v.setMsrs([[MSR.HWCR, 0x1000148n]]); return getMsr(v, MSR.HWCR); }],
  // ---- MSR_IA32_POWER_CTL (x86.c:3516): any value is kept
  ['KVM_SET_MSRS POWER_CTL = 0x1234 reads back', 'ok:4660', (e) => { const v = e.vm.createVcpu(0); v.setMsrs([[MSR.POWER_CTL, 0x1234n]]); return getMsr(v, MSR.POWER_CTL); }],
  // ---- KVM_CAP_MAX_VCPU_ID (x86.c:6241-6256, 6795, 11521)
  ['KVM_CAP_MAX_VCPU_ID above KVM_MAX_VCPU_IDS', 'EINVAL', (e) => e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [e.vm.checkExtension(KVM_CAP.MAX_VCPU_ID) + 1])],
  ['KVM_CAP_MAX_VCPU_ID = KVM_MAX_VCPU_IDS', 'ok:0', (e) => e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [e.vm.checkExtension(KVM_CAP.MAX_VCPU_ID)])],
  ['KVM_CAP_MAX_VCPU_ID below the boot CPU id', 'EINVAL', (e) => { e.vm.setBootCpuId(3); return e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [2]); }],
  ['KVM_CAP_MAX_VCPU_ID equal to the boot CPU id', 'ok:0', (e) => { e.vm.setBootCpuId(3); return e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [3]); }],
  ['KVM_CAP_MAX_VCPU_ID twice with the same value', 'ok:0', (e) => { e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [3]); return e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [3]); }],
  ['KVM_CAP_MAX_VCPU_ID twice with another value', 'EINVAL', (e) => { e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [3]); return e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [4]); }],
  ['KVM_CAP_MAX_VCPU_ID after a vCPU fixed it at KVM_MAX_VCPU_IDS', 'EINVAL', (e) => { e.vm.createVcpu(0); return e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [8]); }],
  ['KVM_CREATE_VCPU with id = KVM_CAP_MAX_VCPU_ID', 'EINVAL', (e) => { e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [3]); return e.vm.createVcpu(3); }],
  ['KVM_CREATE_VCPU with id below KVM_CAP_MAX_VCPU_ID', 'ok:object', (e) => { e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [3]); return e.vm.createVcpu(2); }],
  ['KVM_SET_BOOT_CPU_ID past KVM_CAP_MAX_VCPU_ID', 'EINVAL', (e) => { e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [3]); e.vm.setBootCpuId(4); }],
  ['KVM_SET_BOOT_CPU_ID equal to KVM_CAP_MAX_VCPU_ID', 'ok:undefined', (e) => { e.vm.enableCap(KVM_CAP.MAX_VCPU_ID, [3]); e.vm.setBootCpuId(3); }],
  // ---- KVM_SET_NR_MMU_PAGES (x86.c:5898: fewer than KVM_MIN_ALLOC_MMU_PAGES, 64)
  ['KVM_CAP_MMU_SHADOW_CACHE_CONTROL', 'ok:1', (e) => e.vm.checkExtension(KVM_CAP.MMU_SHADOW_CACHE_CONTROL)],
  ['KVM_SET_NR_MMU_PAGES 63', 'EINVAL', (e) => e.sys.ioctl(e.vm.fd, r('KVM_SET_NR_MMU_PAGES'), 63)],
  ['KVM_SET_NR_MMU_PAGES 64', 'ok:0', (e) => e.sys.ioctl(e.vm.fd, r('KVM_SET_NR_MMU_PAGES'), 64)],
  // ---- machine checks: capabilities (x86.c:4335 KVM_CAP_MCE; 4494 + vmx.c:8555-8556)
  ['KVM_CAP_MCE', 'ok:32', (e) => e.kvm.checkExtension(KVM_CAP.MCE)],
  ['KVM_X86_GET_MCE_CAP_SUPPORTED', `ok:${MCG.CTL_P | MCG.CMCI_P | MCG.SER_P | MCG.LMCE_P}`, (e) => {
    const b = new Uint8Array(8);
    e.sys.ioctl(e.kvm.fd, r('KVM_X86_GET_MCE_CAP_SUPPORTED'), b);
    return new DataView(b.buffer).getBigUint64(0, true);
  }],
  // KVM_X86_SETUP_MCE (x86.c:4796 bank count, 4798 capability bits)
  ['KVM_X86_SETUP_MCE with no bank', 'EINVAL', (e) => setupMce(e, e.vm.createVcpu(0), MCG.CTL_P)],
  ['KVM_X86_SETUP_MCE with 33 banks', 'EINVAL', (e) => setupMce(e, e.vm.createVcpu(0), 33n)],
  ['KVM_X86_SETUP_MCE with MCG_EXT_P (bit 9)', 'EINVAL', (e) => setupMce(e, e.vm.createVcpu(0), (1n << 9n) | 4n)],
  ['KVM_X86_SETUP_MCE with bits 23:16 (extended MSR count) set', 'ok:0', (e) => setupMce(e, e.vm.createVcpu(0), 0xff0000n | 4n)],
  ['MCG_CAP before KVM_X86_SETUP_MCE: KVM_MAX_MCE_BANKS banks', 'ok:32', (e) => getMsr(e.vm.createVcpu(0), MSR.MCG_CAP)],
  ['MCG_CAP after KVM_X86_SETUP_MCE', `ok:${MCG.CTL_P | MCG.CMCI_P | 10n}`, (e) => { const v = e.vm.createVcpu(0); setupMce(e, v, MCG.CTL_P | MCG.CMCI_P | 10n); return getMsr(v, MSR.MCG_CAP); }],
  ['MCG_CTL and MC9_CTL are all ones after KVM_X86_SETUP_MCE with MCG_CTL_P', 'ok:true', (e) => { const v = e.vm.createVcpu(0); setupMce(e, v, MCG.CTL_P | 10n); return String(getMsr(v, MSR.MCG_CTL) === ALL1 && getMsr(v, MSR.MC0_CTL + 36) === ALL1); }],
  ['KVM_SET_MSRS of MCG_CAP (read-only)', 'ok:0', (e) => e.vm.createVcpu(0).setMsrs([[MSR.MCG_CAP, 4n]])],
  // set_msr_mce / get_msr_mce (x86.c:3073, 3081, 3085, 3088, 3096, 3109; 3757-3772)
  ['KVM_GET_MSRS of a bank past MCG_CAP.Count', 'ok:refused', (e) => { const v = e.vm.createVcpu(0); setupMce(e, v, 4n); return getMsr(v, MSR.MC0_CTL + 16); }],
  ['KVM_SET_MSRS MCG_CTL = 0 without MCG_CTL_P (host)', 'ok:1', (e) => e.vm.createVcpu(0).setMsrs([[MSR.MCG_CTL, 0n]])],
  ['KVM_SET_MSRS MCG_CTL = ~0 without MCG_CTL_P', 'ok:0', (e) => e.vm.createVcpu(0).setMsrs([[MSR.MCG_CTL, ALL1]])],
  ['KVM_SET_MSRS MCG_CTL = 1 with MCG_CTL_P', 'ok:0', (e) => { const v = e.vm.createVcpu(0); setupMce(e, v, MCG.CTL_P | 4n); return v.setMsrs([[MSR.MCG_CTL, 1n]]); }],
  ['KVM_SET_MSRS MC0_CTL2 = CMCI_EN without MCG_CMCI_P', 'ok:0', (e) => e.vm.createVcpu(0).setMsrs([[MSR.MC0_CTL2, 1n << 30n]])],
  ['KVM_SET_MSRS MC0_CTL2 = CMCI_EN | threshold with MCG_CMCI_P', 'ok:1', (e) => { const v = e.vm.createVcpu(0); setupMce(e, v, MCG.CMCI_P | 4n); return v.setMsrs([[MSR.MC0_CTL2, (1n << 30n) | 0x7fffn]]); }],
  ['KVM_SET_MSRS MC0_CTL2 reserved bit 29 with MCG_CMCI_P', 'ok:0', (e) => { const v = e.vm.createVcpu(0); setupMce(e, v, MCG.CMCI_P | 4n); return v.setMsrs([[MSR.MC0_CTL2, 1n << 29n]]); }],
  ['KVM_SET_MSRS MC1_CTL = ~0 with bits 10 and 0 clear', 'ok:1', (e) => e.vm.createVcpu(0).setMsrs([[MSR.MC0_CTL + 4, ALL1 & ~0x401n]])],
  ['KVM_SET_MSRS MC1_CTL = 0x2', 'ok:0', (e) => e.vm.createVcpu(0).setMsrs([[MSR.MC0_CTL + 4, 2n]])],
  ['KVM_SET_MSRS MC1_STATUS non-zero (host-initiated)', 'ok:1', (e) => e.vm.createVcpu(0).setMsrs([[MSR.MC0_CTL + 5, 5n]])],
  // KVM_X86_SET_MCE (x86.c:4862 bank / VAL)
  ['KVM_X86_SET_MCE to a bank past MCG_CAP.Count', 'EINVAL', (e) => { const v = e.vm.createVcpu(0); setupMce(e, v, 4n); return setMce(e, v, { status: UCNA, bank: 4 }); }],
  ['KVM_X86_SET_MCE without MCi_STATUS.VAL', 'EINVAL', (e) => setMce(e, e.vm.createVcpu(0), { status: MCI_STATUS.UC, bank: 0 })],
  ['KVM_X86_SET_MCE of a UCNA records status, addr and misc in the bank', 'ok:true', (e) => {
    const v = e.vm.createVcpu(0);
    setupMce(e, v, MCG.CMCI_P | 8n);
    setMce(e, v, { status: UCNA, addr: 0xdeadbeefn, misc: 0x8cn, bank: 7 });
    const m = v.getMsrs([MSR.MC0_CTL + 29, MSR.MC0_CTL + 30, MSR.MC0_CTL + 31]);
    return String(m.get(MSR.MC0_CTL + 29) === UCNA && m.get(MSR.MC0_CTL + 30) === 0xdeadbeefn && m.get(MSR.MC0_CTL + 31) === 0x8cn);
  }],
  ['a corrected error over a valid corrected one sets OVER', `ok:${MCI_STATUS.VAL | (1n << 62n) | 2n}`, (e) => {
    const v = e.vm.createVcpu(0);
    setMce(e, v, { status: MCI_STATUS.VAL | 1n, bank: 0 });
    setMce(e, v, { status: MCI_STATUS.VAL | 2n, bank: 0 });
    return getMsr(v, MSR.MC0_CTL + 1);
  }],
];

describe('Linux selftests divergences, fixed (x86)', () => {
  describe.each(x86Backends)('$name', (backend) => {
    it.each(cases)('%s -> %s', (_name, expected, action) => {
      expect(outcome(() => action(env(backend.make())))).toBe(expected);
    });

    it('LVT CMCI comes with MCG_CMCI_P: LVR counts 7 entries, the new one masked, a UCNA raises its vector', () => {
      const e = env(backend.make());
      e.vm.createIrqchip();
      const v = e.vm.createVcpu(0);
      const maxLvt = () => (reg32(v.getLapic(), APIC.LVR) >>> 16) & 0xff;
      expect(maxLvt()).toBe(5);
      setupMce(e, v, MCG.CTL_P | MCG.CMCI_P | 8n);
      expect(maxLvt()).toBe(6);
      expect(reg32(v.getLapic(), APIC.LVTCMCI)).toBe(0x10000);
      // Software-enable the APIC, unmask LVT CMCI with vector 0xa9, enable CMCI in bank 7.
      const page = v.getLapic();
      setReg32(page, APIC.SPIV, 0x1ff);
      setReg32(page, APIC.LVTCMCI, 0xa9);
      v.setLapic(page);
      expect(v.setMsrs([[MSR.MC0_CTL2 + 7, 1n << 30n]])).toBe(1);
      setMce(e, v, { status: UCNA, addr: 0xdeadbeefn, bank: 7 });
      const irr = (vec: number) => (reg32(v.getLapic(), APIC.IRR + 0x10 * (vec >> 5)) >>> (vec & 31)) & 1;
      expect(irr(0xa9)).toBe(1);
      // Without CMCI_EN in the bank, the second UCNA is only recorded (kvm_vcpu_x86_set_ucna).
      const p2 = v.getLapic();
      setReg32(p2, APIC.IRR + 0x10 * (0xa9 >> 5), 0);
      v.setLapic(p2);
      v.setMsrs([[MSR.MC0_CTL2 + 7, 0n]]);
      setMce(e, v, { status: UCNA, addr: 0xcafeb0ban, bank: 7 });
      expect(irr(0xa9)).toBe(0);
      expect(getMsr(v, MSR.MC0_CTL + 30)).toBe(0xcafeb0ban);
    });

    it('an uncorrected error with CR4.MCE clear is a triple fault: the next KVM_RUN exits with SHUTDOWN', () => {
      const e = env(backend.make());
      const v = e.vm.createVcpu(0);
      const mem = e.sys.alloc(0x2000);
      mem.bytes[0x1000] = 0xf4; // hlt
      e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: mem.hva });
      v.setSregs({ cs: { base: 0n, selector: 0 } });
      v.setRegs({ rip: 0x1000n });
      setupMce(e, v, MCG.CTL_P | 4n);
      setMce(e, v, { status: MCI_STATUS.VAL | MCI_STATUS.UC | MCI_STATUS.PCC, bank: 1 });
      expect(runToExit(v).reason).toBe('shutdown');
    });

    it('with CR4.MCE set it queues #MC (vector 18) and records the error', () => {
      const e = env(backend.make());
      const v = e.vm.createVcpu(0);
      setupMce(e, v, MCG.CTL_P | 4n);
      v.setSregs({ cr4: 0x40n });
      setMce(e, v, { status: MCI_STATUS.VAL | MCI_STATUS.UC | MCI_STATUS.PCC, addr: 0x1000n, mcg_status: 5n, bank: 1 });
      const ev = v.getVcpuEvents();
      expect([ev.exception.injected, ev.exception.nr]).toEqual([1, 18]);
      expect(getMsr(v, MSR.MCG_STATUS)).toBe(5n);
      expect(getMsr(v, MSR.MC0_CTL + 6)).toBe(0x1000n);
    });

    it('SW_PROTECTED_VM: a private gfn in a slot without guest_memfd, or in none, is KVM_EXIT_MEMORY_FAULT with EFAULT', () => {
      const kvm = Kvm.open(backend.make());
      const vm = kvm.createVm(x86_64.KVM_X86_VM.SW_PROTECTED_VM);
      const mem = vm.sys.alloc(0x4000);
      mem.bytes.set([0xa0, 0x00, 0x30, 0xf4], 0x1000); // mov al, [0x3000]; hlt (real mode)
      vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: mem.hva });
      const v = vm.createVcpu(0);
      v.setSregs({ cs: { base: 0n, selector: 0 }, ds: { base: 0n, selector: 0 } });
      v.setRegs({ rip: 0x1000n });
      vm.setMemoryAttributes(0x3000, 0x1000, 8); // KVM_MEMORY_ATTRIBUTE_PRIVATE
      let errno = 'ok';
      try {
        vm.sys.ioctl(v.fd, kvm.req('KVM_RUN'), 0);
      } catch (e) {
        errno = (e as { code: string }).code;
      }
      expect(errno).toBe('EFAULT');
      expect(v.kvmRun.exit_reason).toBe(KVM_EXIT.MEMORY_FAULT);
      expect(v.exit()).toMatchObject({ reason: 'memory_fault', flags: 8n, gpa: 0x3000n, size: 0x1000n });
      // Shared again: the read completes.
      vm.setMemoryAttributes(0x3000, 0x1000, 0);
      expect(runToExit(v).reason).toBe('hlt');
      // No memslot at all for a private gfn: the same exit, not MMIO.
      vm.setMemoryAttributes(0x8000, 0x1000, 8);
      mem.bytes.set([0xa0, 0x00, 0x80, 0xf4], 0x1000);
      v.setRegs({ rip: 0x1000n });
      expect(() => vm.sys.ioctl(v.fd, kvm.req('KVM_RUN'), 0)).toThrow(expect.objectContaining({ code: 'EFAULT' }));
      expect(v.exit()).toMatchObject({ reason: 'memory_fault', gpa: 0x8000n });
    });

    it('a private page punched out of its guest_memfd reads zero; the shared page and the other private one keep their bytes', () => {
      const kvm = Kvm.open(backend.make());
      const vm = kvm.createVm(x86_64.KVM_X86_VM.SW_PROTECTED_VM);
      const mem = vm.sys.alloc(0x4000);
      // mov byte [0x2000], 0x5a; mov byte [0x3000], 0x6b; hlt; mov al, [0x2000]; mov ah, [0x3000]; hlt (real mode)
      mem.bytes.set([0xc6, 0x06, 0x00, 0x20, 0x5a, 0xc6, 0x06, 0x00, 0x30, 0x6b, 0xf4, 0xa0, 0x00, 0x20, 0x8a, 0x26, 0x00, 0x30, 0xf4], 0x1000);
      mem.bytes[0x2000] = 0x11;
      const fd = vm.createGuestMemfd(0x4000);
      vm.setUserMemoryRegion2({ slot: 0, flags: 4, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: mem.hva, guestMemfd: fd, guestMemfdOffset: 0 });
      vm.setMemoryAttributes(0x2000, 0x2000, 8); // pages 2 and 3 private
      const v = vm.createVcpu(0);
      v.setSregs({ cs: { base: 0n, selector: 0 }, ds: { base: 0n, selector: 0 } });
      v.setRegs({ rip: 0x1000n });
      expect(runToExit(v).reason).toBe('hlt');
      expect(mem.bytes[0x2000]).toBe(0x11); // private stores stay in guest_memfd
      vm.sys.fallocate(fd, FL.KEEP | FL.PUNCH, 0x2000, 0x1000);
      expect(runToExit(v).reason).toBe('hlt');
      expect(Number(v.getRegs().rax & 0xffffn).toString(16)).toBe('6b00');
    });

    it('KVM_HC_MAP_GPA_RANGE: any attributes reach userspace; no pages is -KVM_EINVAL, 32 bits wide outside long mode', () => {
      const e = env(backend.make());
      e.vm.enableCap(KVM_CAP.EXIT_HYPERCALL, [1 << 12]);
      const mem = e.sys.alloc(0x2000);
      mem.bytes.set([0x0f, 0x01, 0xc1, 0xf4], 0x1000); // vmcall; hlt (real mode; Intel's VMCALL)
      e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: mem.hva });
      const v = e.vm.createVcpu(0);
      v.setSregs({ cs: { base: 0n, selector: 0 } });
      v.setRegs({ rip: 0x1000n, rax: 12n, rbx: 0x3000n, rcx: 2n, rdx: 0x7n });
      const x = runToExit(v);
      expect(x.reason === 'hypercall' && [x.nr, x.args.slice(0, 3)]).toEqual([12n, [0x3000n, 2n, 7n]]);
      if (x.reason === 'hypercall') x.setRet(0xffff_ffff_ffff_fff0n);
      expect(runToExit(v).reason).toBe('hlt');
      expect(v.getRegs().rax).toBe(0xffff_fff0n);
      v.setRegs({ rip: 0x1000n, rax: 12n, rbx: 0x3000n, rcx: 0n, rdx: 0n });
      expect(runToExit(v).reason).toBe('hlt');
      expect(v.getRegs().rax).toBe(0xffff_ffean); // (u32)-KVM_EINVAL
    });

    it('REP INSB: userspace lowering RCX from 2 to 1 during the exit ends the instruction at RCX 0', () => {
      const e = env(backend.make());
      const mem = e.sys.alloc(0x4000);
      // mov dx, 0x80; mov cx, 2; mov di, 0x3000; cld; rep insb; hlt (real mode, ES = 0)
      mem.bytes.set([0xba, 0x80, 0x00, 0xb9, 0x02, 0x00, 0xbf, 0x00, 0x30, 0xfc, 0xf3, 0x6c, 0xf4], 0x1000);
      e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: mem.hva });
      const v = e.vm.createVcpu(0);
      v.setSregs({ cs: { base: 0n, selector: 0 }, es: { base: 0n, selector: 0 } });
      v.setRegs({ rip: 0x1000n });
      const x = runToExit(v);
      expect(x.reason === 'io' && [x.port, x.count]).toEqual([0x80, 2]);
      if (x.reason === 'io') x.data.fill(0xaa);
      v.setRegs({ ...v.getRegs(), rcx: 1n });
      expect(runToExit(v).reason).toBe('hlt');
      const r = v.getRegs();
      expect([r.rcx, r.rdi & 0xffffn]).toEqual([0n, 0x3001n]);
      expect([...mem.bytes.subarray(0x3000, 0x3002)]).toEqual([0xaa, 0]);
    });

    it('guest RDMSR of MC0_CTL2 without MCG_CMCI_P is refused (KVM_MSR_EXIT_REASON_INVAL), with it allowed; POWER_CTL is emulated', () => {
      const e = env(backend.make());
      e.vm.enableCap(KVM_CAP.X86_USER_SPACE_MSR, [KVM_MSR_EXIT_REASON.INVAL | KVM_MSR_EXIT_REASON.UNKNOWN]);
      const mem = e.sys.alloc(0x2000);
      // mov ecx, 0x1fc; wrmsr; mov ecx, 0x280; rdmsr; hlt (real mode)
      mem.bytes.set([0x66, 0xb9, 0xfc, 0x01, 0, 0, 0x0f, 0x30, 0x66, 0xb9, 0x80, 0x02, 0, 0, 0x0f, 0x32, 0xf4], 0x1000);
      e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: mem.hva });
      const start = (cmci: boolean) => {
        const v = e.vm.createVcpu(cmci ? 1 : 0);
        if (cmci) setupMce(e, v, MCG.CMCI_P | 2n);
        v.setSregs({ cs: { base: 0n, selector: 0 } });
        v.setRegs({ rip: 0x1000n, rax: 0x55n, rdx: 0n });
        return v;
      };
      const a = runToExit(start(false));
      expect(a.reason === 'x86_rdmsr' && [a.index, a.msrReason]).toEqual([0x280, KVM_MSR_EXIT_REASON.INVAL]);
      const v = start(true);
      expect(runToExit(v).reason).toBe('hlt');
      expect(getMsr(v, MSR.POWER_CTL)).toBe(0x55n);
    });
  });
});
