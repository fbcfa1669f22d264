/**
 * The KVM module parameters a program may read under /sys/module/kvm*\/parameters (Linux's KVM
 * selftests do, to decide what to test), answered for the virtual kernel rather than the host's
 * KVM. Only what the virtual kernel stands behind is listed; anything else is ENOENT, as for a
 * parameter or module that does not exist.
 * @module
 */
import type { Arch } from '../uapi/index.js';

/** Per arch: module -> parameter -> file contents. */
const PARAMS: Record<Arch, Record<string, Record<string, string>>> = {
  x86_64: {
    kvm: {
      // No PMU is virtualized (KVM_GET_SUPPORTED_CPUID reports no architectural PMU).
      enable_pmu: 'N',
      // The forced-emulation prefix (ud2; .ascii "kvm") is not recognised.
      force_emulation_prefix: '0',
      // The virtual MMU has no huge pages to split and no TDP MMU.
      eager_page_split: 'N',
      tdp_mmu: 'N',
    },
    // vkvm is a VMX flavour: kvm_intel is the vendor module, kvm_amd does not exist.
    kvm_intel: {
      // Guests run real mode and unpaged protected mode directly, and guest paging is the
      // guest's own (no shadow paging artefacts): what unrestricted_guest and ept promise.
      unrestricted_guest: 'Y',
      ept: 'Y',
      // Nested VMX is not offered (no VMX in the guest CPUID).
      nested: 'N',
    },
  },
  arm64: {
    kvm: {},
  },
};

/** The contents of `path` if it names a parameter the virtual kernel answers. */
export function moduleParam(arch: Arch, path: string): string | undefined {
  const m = /^\/sys\/module\/([a-z_0-9]+)\/parameters\/([a-z_0-9]+)$/.exec(path);
  if (!m) return undefined;
  const v = PARAMS[arch][m[1]!]?.[m[2]!];
  return v === undefined ? undefined : v + '\n';
}
