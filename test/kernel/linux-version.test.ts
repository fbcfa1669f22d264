/**
 * `virtualSys({ linux })` (src/kernel/linux.ts): the kernel presents one release's KVM API, its
 * KVM_CHECK_EXTENSION answers and its behaviour agreeing. guest_memfd flags are 6.18's
 * (kvm_gmem_get_supported_flags); 6.12's kvm_gmem_create takes none (virt/kvm/guest_memfd.c:464
 * valid_flags = 0), KVM_CAP_GUEST_MEMFD is `!kvm || kvm_arch_has_private_mem(kvm)`
 * (kvm_main.c:5001) and only private-memory VMs take KVM_MEM_GUEST_MEMFD slots
 * (check_memory_region_flags, kvm_main.c:1577) — what 6.12's guest_memfd_test checks.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, KvmError, virtualSys } from '../../src/index.js';
import { GUEST_MEMFD_FLAG, KVM_CAP, KVM_MEM } from '../../src/uapi/constants.js';

const PAGE = 4096;

function errno(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof KvmError ? e.code : String(e);
  }
}

/** What a program probing guest_memfd on a default (KVM_X86_DEFAULT_VM) VM sees. */
function probe(linux?: string) {
  const sys = virtualSys({ arch: 'x86_64', ...(linux ? { linux } : {}) });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const mem = sys.alloc(2 * PAGE);
  const flagsTried = [0n, 1n, 2n, 3n, 4n, 1n << 63n].map((f) => [f, errno(() => vm.createGuestMemfd(PAGE, f)) ?? 'ok'] as const);
  const gmem = vm.createGuestMemfd(2 * PAGE);
  const slot = errno(() => vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: 2 * PAGE, userspaceAddr: mem.hva, guestMemfd: gmem, guestMemfdOffset: 0 })) ?? 'ok';
  return {
    capFlagsSystem: kvm.checkExtension(KVM_CAP.GUEST_MEMFD_FLAGS),
    capFlagsVm: vm.checkExtension(KVM_CAP.GUEST_MEMFD_FLAGS),
    capGmemSystem: kvm.checkExtension(KVM_CAP.GUEST_MEMFD),
    capGmemVm: vm.checkExtension(KVM_CAP.GUEST_MEMFD),
    flagsTried: Object.fromEntries(flagsTried.map(([f, r]) => [`0x${f.toString(16)}`, r])),
    slot,
  };
}

describe('virtualSys({ linux }): one release\'s KVM API', () => {
  it('default (the newest, 6.18): guest_memfd MMAP and INIT_SHARED, reported and accepted on a default VM', () => {
    const both = GUEST_MEMFD_FLAG.MMAP | GUEST_MEMFD_FLAG.INIT_SHARED;
    expect(probe()).toEqual({
      capFlagsSystem: both,
      capFlagsVm: both,
      capGmemSystem: 1,
      capGmemVm: 1,
      flagsTried: { '0x0': 'ok', '0x1': 'ok', '0x2': 'ok', '0x3': 'ok', '0x4': 'EINVAL', '0x8000000000000000': 'EINVAL' },
      slot: 'ok',
    });
    expect(probe('6.18')).toEqual(probe());
  });

  it("6.12: no guest_memfd flag, the capability absent, and a default VM neither reports guest_memfd nor takes its slots", () => {
    expect(probe('6.12')).toEqual({
      capFlagsSystem: 0,
      capFlagsVm: 0,
      capGmemSystem: 1,
      capGmemVm: 0,
      flagsTried: { '0x0': 'ok', '0x1': 'EINVAL', '0x2': 'EINVAL', '0x3': 'EINVAL', '0x4': 'EINVAL', '0x8000000000000000': 'EINVAL' },
      slot: 'EINVAL',
    });
  });

  it('6.12: a private-memory VM (KVM_X86_SW_PROTECTED_VM) still reports guest_memfd and takes its slots', () => {
    const sys = virtualSys({ arch: 'x86_64', linux: '6.12' });
    const vm = Kvm.open(sys).createVm(1);
    expect(vm.checkExtension(KVM_CAP.GUEST_MEMFD)).toBe(1);
    expect(vm.checkExtension(KVM_CAP.GUEST_MEMFD_FLAGS)).toBe(0);
    const mem = sys.alloc(PAGE);
    const gmem = vm.createGuestMemfd(PAGE);
    vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: PAGE, userspaceAddr: mem.hva, guestMemfd: gmem, guestMemfdOffset: 0 });
  });

  it('a release outside 6.12..6.18, or not major.minor, is refused', () => {
    for (const v of ['6.11', '6.19', '7.0', '6', '6.12.1', 'latest', '']) expect(() => virtualSys({ linux: v })).toThrow(/linux must be a release/);
    expect(() => virtualSys({ linux: '6.15' })).not.toThrow();
  });
});
