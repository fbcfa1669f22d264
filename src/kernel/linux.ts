/**
 * The Linux version whose KVM API the virtual kernel presents. vkvm implements KVM as of its
 * newest modelled release (`LINUX_LATEST`); a kernel set to an older one (`virtualSys({ linux })`,
 * `vkvm exec --linux`) hides what came later, both the KVM_CHECK_EXTENSION answer and the
 * behaviour, as that kernel would: a program written for (or a selftest from) that release then
 * sees the ABI it expects. Only the features listed in `SINCE` are gated; everything else is
 * the same from `LINUX_OLDEST` on.
 * @module
 */

/** The oldest release whose API vkvm follows (its reference sources are 6.12). */
export const LINUX_OLDEST = '6.12';
/** The newest release whose API vkvm implements: the default. */
export const LINUX_LATEST = '6.18';

/** The first release with each gated feature. */
export const SINCE = {
  /**
   * guest_memfd creation flags (GUEST_MEMFD_FLAG_MMAP, INIT_SHARED), KVM_CAP_GUEST_MEMFD_FLAGS and
   * guest_memfd memslots in VMs without private memory (6.18, "KVM: guest_memfd: mmap support").
   * Before it kvm_gmem_create takes no flag and only private-memory VMs accept guest_memfd slots.
   */
  gmemFlags: '6.18',
} as const;

/** "6.12" as a comparable number (major * 1000 + minor); NaN for anything else. */
export function linuxVersion(v: string): number {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : NaN;
}

/** Checks a `linux` option: a release between LINUX_OLDEST and LINUX_LATEST. */
export function parseLinuxOption(v: string): number {
  const n = linuxVersion(v);
  if (!(n >= linuxVersion(LINUX_OLDEST) && n <= linuxVersion(LINUX_LATEST))) {
    throw new Error(`linux must be a release from ${LINUX_OLDEST} to ${LINUX_LATEST} (major.minor), not '${v}'`);
  }
  return n;
}
