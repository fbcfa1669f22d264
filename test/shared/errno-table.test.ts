/**
 * The errno table of the generic ioctls: every bad input gives the kernel's errno. Each case runs
 * on the virtual backend and, where /dev/kvm exists, on the real kernel; both must give the
 * expected answer (so the expectations themselves are checked against Linux here).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { arm64, EFD, isNativeAvailable, Kvm, KVM_CAP, KVM_CLOCK, KVM_MEM, KVM_MP_STATE, virtualSys, x86_64, type Sys, type Vm, type Vcpu, type X86Sregs } from '../../src/index.js';
import { nativeBackend, outcome, x86Backends, type Backend } from '../helpers/backends.js';

const { ioctls: I, structs: S } = x86_64;
const r = (n: keyof typeof I) => I[n]!.request;

interface Env {
  sys: Sys;
  kvm: Kvm;
  vm: Vm;
  vcpu: Vcpu;
  /** 64 KiB of guest RAM */
  mem: { hva: bigint; bytes: Uint8Array };
}

function env(sys: Sys): Env {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const vcpu = vm.createVcpu(0);
  const mem = sys.alloc(0x10000);
  return { sys, kvm, vm, vcpu, mem };
}

const region = (o: Parameters<typeof S.kvm_userspace_memory_region.encode>[0]) => S.kvm_userspace_memory_region.encode(o);

/** KVM_SET_SREGS of the current state with `change` applied (raw ioctl: the typed merge is not under test). */
function setSregsWith(e: Env, change: (s: X86Sregs) => void): number {
  const b = S.kvm_sregs.alloc();
  e.sys.ioctl(e.vcpu.fd, r('KVM_GET_SREGS'), b);
  const s = S.kvm_sregs.decode(b);
  change(s);
  return e.sys.ioctl(e.vcpu.fd, r('KVM_SET_SREGS'), S.kvm_sregs.encode(s));
}

/** KVM_SET_SREGS2 of the current state with `change` applied. */
function setSregs2With(e: Env, change: (s: ReturnType<typeof S.kvm_sregs2.decode>) => void): number {
  const b = S.kvm_sregs2.alloc();
  e.sys.ioctl(e.vcpu.fd, r('KVM_GET_SREGS2'), b);
  const s = S.kvm_sregs2.decode(b);
  change(s);
  return e.sys.ioctl(e.vcpu.fd, r('KVM_SET_SREGS2'), S.kvm_sregs2.encode(s));
}

/** Protected mode with paging (PE|PG), PAE, and EFER as given: the IA-32e entry conditions. */
const paging = (efer: bigint, cr4 = 0x20n) => (s: X86Sregs) => Object.assign(s, { cr0: 0x80000011n, cr3: 0x1000n, cr4, efer });

/** A header-only kvm_msrs/kvm_cpuid2 (8 bytes) announcing `n` entries. */
const header = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};

/** The errno of `f`, or 'ok', then the count field the kernel left in `b` (E2BIG copies nothing back). */
const withCount = (b: Uint8Array, f: () => unknown) => {
  let r = 'ok';
  try {
    f();
  } catch (err) {
    r = (err as { code: string }).code;
  }
  return `${r} n=${new DataView(b.buffer, b.byteOffset).getUint32(0, true)}`;
};

/** Runs the vCPU once (real mode: HLT at 0x1000), so kvm_vcpu_has_run() is true. */
function ranOnce(e: Env): void {
  e.mem.bytes[0x1000] = 0xf4;
  e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: e.mem.hva });
  e.vcpu.setSregs({ cs: { base: 0n, selector: 0 } });
  e.vcpu.setRegs({ rip: 0x1000n });
  e.vcpu.run();
}

const msrFilter = (o: Parameters<typeof S.kvm_msr_filter.encode>[0]) => S.kvm_msr_filter.encode(o);
const xcrs = (list: [number, bigint][], nr = list.length) => S.kvm_xcrs.encode({ nr_xcrs: nr, xcrs: list.map(([xcr, value]) => ({ xcr, value })) });

/** [name, expected, action]. */
const cases: [string, string, (e: Env) => unknown][] = [
  // bad fds
  ['ioctl on an fd that is not open', 'EBADF', (e) => e.sys.ioctl(999_999, r('KVM_GET_API_VERSION'))],
  ['ioctl on a negative fd', 'EBADF', (e) => e.sys.ioctl(-1, r('KVM_CHECK_EXTENSION'), 0)],
  ['close of an fd that is not open', 'EBADF', (e) => e.sys.close(999_999)],
  ['ioctl on a closed vcpu fd', 'EBADF', (e) => { const fd = e.sys.ioctl(e.vm.fd, r('KVM_CREATE_VCPU'), 7); e.sys.close(fd); return e.sys.ioctl(fd, r('KVM_RUN'), 0); }],
  // wrong fd kind
  ['KVM_CREATE_VCPU on the system fd', 'EINVAL', (e) => e.sys.ioctl(e.kvm.fd, r('KVM_CREATE_VCPU'), 1)],
  ['KVM_RUN on a VM fd', 'ENOTTY', (e) => e.sys.ioctl(e.vm.fd, r('KVM_RUN'), 0)],
  ['KVM_CREATE_VM on a VM fd', 'ENOTTY', (e) => e.sys.ioctl(e.vm.fd, r('KVM_CREATE_VM'), 0)],
  ['KVM_GET_API_VERSION on a VM fd', 'ENOTTY', (e) => e.sys.ioctl(e.vm.fd, r('KVM_GET_API_VERSION'), 0)],
  ['KVM_GET_VCPU_MMAP_SIZE on a VM fd', 'ENOTTY', (e) => e.sys.ioctl(e.vm.fd, r('KVM_GET_VCPU_MMAP_SIZE'), 0)],
  ['KVM_CHECK_EXTENSION on a vcpu fd', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_CHECK_EXTENSION'), 3)],
  ['KVM_CREATE_VCPU on a vcpu fd', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_CREATE_VCPU'), 1)],
  ['KVM_SET_USER_MEMORY_REGION on the system fd', 'EINVAL', (e) => e.sys.ioctl(e.kvm.fd, r('KVM_SET_USER_MEMORY_REGION'), region({ memory_size: 0x1000 }))],
  // unknown requests
  ['unknown KVM request on the system fd', 'EINVAL', (e) => e.sys.ioctl(e.kvm.fd, 0xae77)],
  ['unknown KVM request on a VM fd', 'ENOTTY', (e) => e.sys.ioctl(e.vm.fd, 0xae77)],
  ['unknown KVM request on a vcpu fd', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, 0xae77)],
  ['TCGETS on the system fd', 'EINVAL', (e) => e.sys.ioctl(e.kvm.fd, 0x5401)],
  ['TCGETS on a VM fd', 'ENOTTY', (e) => e.sys.ioctl(e.vm.fd, 0x5401)],
  ['TCGETS on a vcpu fd', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, 0x5401)],
  // integer arguments
  ['KVM_GET_API_VERSION with a non-zero arg', 'EINVAL', (e) => e.sys.ioctl(e.kvm.fd, r('KVM_GET_API_VERSION'), 1)],
  ['KVM_GET_VCPU_MMAP_SIZE with a non-zero arg', 'EINVAL', (e) => e.sys.ioctl(e.kvm.fd, r('KVM_GET_VCPU_MMAP_SIZE'), 1)],
  ['KVM_RUN with a non-zero arg', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_RUN'), 1)],
  ['KVM_CREATE_VM with an unknown type', 'EINVAL', (e) => e.sys.ioctl(e.kvm.fd, r('KVM_CREATE_VM'), 0x100)],
  ['KVM_CHECK_EXTENSION of an unknown cap', 'ok:0', (e) => e.kvm.checkExtension(0x7fff_0000)],
  // x86 VM set-up addresses (arch/x86/kvm/x86.c)
  ['KVM_SET_TSS_ADDR whose three pages pass 4 GiB', 'EINVAL', (e) => e.vm.setTssAddr(0xffffe000)],
  ['KVM_SET_IDENTITY_MAP_ADDR once a vCPU exists', 'EINVAL', (e) => e.vm.setIdentityMapAddr(0xfeffc000)],
  ['KVM_CHECK_EXTENSION of -1', 'ok:0', (e) => e.sys.ioctl(e.kvm.fd, r('KVM_CHECK_EXTENSION'), -1)],
  // struct arguments: short, missing, oversized
  ['KVM_SET_USER_MEMORY_REGION with a 16-byte buffer', 'EFAULT', (e) => e.sys.ioctl(e.vm.fd, r('KVM_SET_USER_MEMORY_REGION'), new Uint8Array(16))],
  ['KVM_SET_USER_MEMORY_REGION with a NULL pointer', 'EFAULT', (e) => e.sys.ioctl(e.vm.fd, r('KVM_SET_USER_MEMORY_REGION'), 0)],
  ['KVM_GET_REGS into a 100-byte buffer', 'EFAULT', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_GET_REGS'), new Uint8Array(100))],
  ['KVM_SET_SREGS from a short buffer', 'EFAULT', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_SREGS'), new Uint8Array(S.kvm_sregs.size - 8))],
  ['KVM_SET_USER_MEMORY_REGION with an oversized buffer', 'ok:0', (e) => { const b = new Uint8Array(64); b.set(region({ slot: 1, guest_phys_addr: 0x100000, memory_size: 0x1000, userspace_addr: e.mem.hva })); return e.sys.ioctl(e.vm.fd, r('KVM_SET_USER_MEMORY_REGION'), b); }],
  // memslots
  ['memslot with an unknown flag', 'EINVAL', (e) => e.sys.ioctl(e.vm.fd, r('KVM_SET_USER_MEMORY_REGION'), region({ flags: 1 << 15, memory_size: 0x1000, userspace_addr: e.mem.hva }))],
  ['KVM_MEM_GUEST_MEMFD through KVM_SET_USER_MEMORY_REGION', 'EINVAL', (e) => e.sys.ioctl(e.vm.fd, r('KVM_SET_USER_MEMORY_REGION'), region({ flags: KVM_MEM.GUEST_MEMFD, memory_size: 0x1000, userspace_addr: e.mem.hva }))],
  ['memslot with a misaligned gpa', 'EINVAL', (e) => e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0x1001, memorySize: 0x1000, userspaceAddr: e.mem.hva })],
  ['memslot with a misaligned size', 'EINVAL', (e) => e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x1001, userspaceAddr: e.mem.hva })],
  ['memslot with a misaligned userspace_addr', 'EINVAL', (e) => e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: e.mem.hva + 8n })],
  ['memslot above the user address limit', 'EINVAL', (e) => e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: 0x7ffffffff000n })],
  ['memslot at a kernel address', 'EINVAL', (e) => e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: 0xffff800000000000n })],
  ['memslot whose gpa range wraps', 'EINVAL', (e) => e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0xfffffffffffff000n, memorySize: 0x2000, userspaceAddr: e.mem.hva })],
  ['memslot over an unmapped hva (accepted, as access_ok only checks the range)', 'ok:undefined', (e) => e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: 0x1000 })],
  ['memslot overlapping another', 'EEXIST', (e) => { e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); e.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x3000, memorySize: 0x2000, userspaceAddr: e.mem.hva + 0x8000n }); }],
  ['memslot moved onto another', 'EEXIST', (e) => { e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); e.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x10000, memorySize: 0x2000, userspaceAddr: e.mem.hva + 0x8000n }); e.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x2000, memorySize: 0x2000, userspaceAddr: e.mem.hva + 0x8000n }); }],
  ['deleting a slot that does not exist', 'EINVAL', (e) => e.vm.setUserMemoryRegion({ slot: 5, guestPhysAddr: 0, memorySize: 0, userspaceAddr: 0 })],
  ['resizing an existing slot', 'EINVAL', (e) => { e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: e.mem.hva }); }],
  ['changing the hva of an existing slot', 'EINVAL', (e) => { e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva + 0x4000n }); }],
  ['toggling KVM_MEM_READONLY on an existing slot', 'EINVAL', (e) => { e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); e.vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.READONLY, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); }],
  ['re-setting a slot unchanged (no-op)', 'ok:undefined', (e) => { e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); return e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); }],
  ['slot id KVM_CAP_NR_MEMSLOTS (one past the last)', 'EINVAL', (e) => e.vm.setUserMemoryRegion({ slot: e.vm.checkExtension(KVM_CAP.NR_MEMSLOTS), guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: e.mem.hva })],
  ['slot id KVM_CAP_NR_MEMSLOTS - 1 (the last)', 'ok:undefined', (e) => e.vm.setUserMemoryRegion({ slot: e.vm.checkExtension(KVM_CAP.NR_MEMSLOTS) - 1, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: e.mem.hva })],
  ['slot in address space 1 (no SMM address space)', 'EINVAL', (e) => e.vm.setUserMemoryRegion({ slot: 0x10000, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: e.mem.hva })],
  ['KVM_SET_USER_MEMORY_REGION2 with a bad guest_memfd fd', 'EBADF', (e) => e.vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: e.mem.hva, guestMemfd: 999_999 })],
  ['KVM_SET_USER_MEMORY_REGION2 with a VM fd as guest_memfd', 'EINVAL', (e) => e.vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: e.mem.hva, guestMemfd: e.vm.fd })],
  ['guest_memfd slot past the end of the file', 'EINVAL', (e) => { const g = e.vm.createGuestMemfd(0x2000); e.vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: e.mem.hva, guestMemfd: g, guestMemfdOffset: 0x1000 }); }],
  ['two slots binding the same guest_memfd range', 'EINVAL', (e) => { const g = e.vm.createGuestMemfd(0x4000); e.vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: e.mem.hva, guestMemfd: g }); e.vm.setUserMemoryRegion2({ slot: 1, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0x10000, memorySize: 0x2000, userspaceAddr: e.mem.hva + 0x4000n, guestMemfd: g, guestMemfdOffset: 0x1000 }); }],
  ['KVM_MEM_GUEST_MEMFD with KVM_MEM_LOG_DIRTY_PAGES', 'EINVAL', (e) => { const g = e.vm.createGuestMemfd(0x2000); e.vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD | KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: e.mem.hva, guestMemfd: g }); }],
  ['modifying a guest_memfd slot', 'EINVAL', (e) => { const g = e.vm.createGuestMemfd(0x2000); e.vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: e.mem.hva, guestMemfd: g }); e.vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0x100000, memorySize: 0x2000, userspaceAddr: e.mem.hva, guestMemfd: g }); }],
  // guest_memfd creation
  ['KVM_CREATE_GUEST_MEMFD of size 0', 'EINVAL', (e) => e.vm.createGuestMemfd(0)],
  ['KVM_CREATE_GUEST_MEMFD of a size that is not page aligned', 'EINVAL', (e) => e.vm.createGuestMemfd(0x1001)],
  ['KVM_CREATE_GUEST_MEMFD of a negative size', 'EINVAL', (e) => e.vm.createGuestMemfd(-4096n)],
  ['KVM_CREATE_GUEST_MEMFD with an unknown flag', 'EINVAL', (e) => e.vm.createGuestMemfd(0x1000, 1n << 20n)],
  ['mmap of a guest_memfd created without GUEST_MEMFD_FLAG_MMAP', 'ENODEV', (e) => e.sys.mmap(e.vm.createGuestMemfd(0x1000), 0x1000)],
  ['KVM_SET_MEMORY_ATTRIBUTES on a VM without private memory', 'ENOTTY', (e) => e.vm.setMemoryAttributes(0, 0x1000, 8)],
  // vCPUs
  ['KVM_CREATE_VCPU with a duplicate id', 'EEXIST', (e) => e.vm.createVcpu(0)],
  ['KVM_CREATE_VCPU with id KVM_CAP_MAX_VCPU_ID', 'EINVAL', (e) => e.sys.ioctl(e.vm.fd, r('KVM_CREATE_VCPU'), e.kvm.checkExtension(KVM_CAP.MAX_VCPU_ID))],
  ['KVM_CREATE_VCPU with id -1', 'EINVAL', (e) => e.sys.ioctl(e.vm.fd, r('KVM_CREATE_VCPU'), -1)],
  ['KVM_SET_MP_STATE with an unknown state', 'EINVAL', (e) => e.vcpu.setMpState(99)],
  ['KVM_SET_SIGNAL_MASK with len 4', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_SIGNAL_MASK'), S.kvm_signal_mask.encode({ len: 4, sigset: [0, 0, 0, 0] }))],
  ['KVM_RUN with immediate_exit set', 'EINTR', (e) => { e.vcpu.immediateExit = true; return e.sys.ioctl(e.vcpu.fd, r('KVM_RUN'), 0); }],
  // KVM_SET_SREGS(2) validity: kvm_is_valid_sregs, kvm_is_valid_cr0, kvm_is_valid_cr4,
  // kvm_valid_efer and kvm_apic_set_base (arch/x86/kvm/x86.c, lapic.c); nothing changes on EINVAL
  ['KVM_SET_SREGS of the state KVM_GET_SREGS returned', 'ok:0', (e) => setSregsWith(e, () => {})],
  ['KVM_SET_SREGS with EFER.LME under CR0.PG without EFER.LMA', 'EINVAL', (e) => setSregsWith(e, paging(0x100n))],
  ['KVM_SET_SREGS with EFER.LME|LMA under CR0.PG without CR4.PAE', 'EINVAL', (e) => setSregsWith(e, paging(0x500n, 0n))],
  ['KVM_SET_SREGS with EFER.LMA without CR0.PG', 'EINVAL', (e) => setSregsWith(e, (s) => Object.assign(s, { cr0: 0x11n, efer: 0x500n }))],
  ['KVM_SET_SREGS with a 64-bit CS (L=1) outside IA-32e mode', 'EINVAL', (e) => setSregsWith(e, (s) => (s.cs.l = 1))],
  ['KVM_SET_SREGS with CR0.PG without CR0.PE', 'EINVAL', (e) => setSregsWith(e, (s) => (s.cr0 = 0x80000010n))],
  ['KVM_SET_SREGS with CR0.NW without CR0.CD', 'EINVAL', (e) => setSregsWith(e, (s) => (s.cr0 = 0x20000010n))],
  ['KVM_SET_SREGS with CR0 bit 32 (the upper half is reserved)', 'EINVAL', (e) => setSregsWith(e, (s) => (s.cr0 |= 1n << 32n))],
  ['KVM_SET_SREGS with reserved CR4 bit 15', 'EINVAL', (e) => setSregsWith(e, (s) => (s.cr4 |= 0x8000n))],
  ['KVM_SET_SREGS with CR4 bit 32', 'EINVAL', (e) => setSregsWith(e, (s) => (s.cr4 |= 1n << 32n))],
  ['KVM_SET_SREGS with reserved EFER bit 1', 'EINVAL', (e) => setSregsWith(e, (s) => (s.efer |= 2n))],
  ['KVM_SET_SREGS with APIC base bit 0 (reserved)', 'EINVAL', (e) => setSregsWith(e, (s) => (s.apic_base |= 1n))],
  ['KVM_SET_SREGS with x2APIC on and the APIC off (invalid APIC mode)', 'EINVAL', (e) => setSregsWith(e, (s) => (s.apic_base = 0xfee00400n))],
  ['KVM_SET_SREGS in long mode with CR3 bit 62 (above MAXPHYADDR)', 'EINVAL', (e) => setSregsWith(e, (s) => { paging(0x500n)(s); s.cr3 = 1n << 62n; })],
  ['KVM_SET_SREGS refused leaves the state unchanged', 'ok:0', (e) => { const before = e.vcpu.getSregs(); try { setSregsWith(e, (s) => (s.cr0 |= 1n << 32n)); } catch { /* EINVAL */ } expect(e.vcpu.getSregs()).toEqual(before); return 0; }],
  ['KVM_SET_SREGS2 with PDPTRS_VALID outside PAE paging', 'EINVAL', (e) => setSregs2With(e, (s) => (s.flags = 1n))],
  ['KVM_SET_SREGS2 with an unknown flag', 'EINVAL', (e) => setSregs2With(e, (s) => (s.flags = 2n))],
  ['KVM_SET_SREGS2 with CR0.PG without CR0.PE', 'EINVAL', (e) => setSregs2With(e, (s) => (s.cr0 = 0x80000010n))],
  // count fields over the kernel's limit: refused after the header, before any entry is read
  ['KVM_GET_MSRS with nmsrs 256 (MAX_IO_MSRS), header only', 'E2BIG', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_GET_MSRS'), header(256))],
  ['KVM_SET_MSRS with nmsrs 0xffffffff, header only', 'E2BIG', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_MSRS'), header(0xffffffff))],
  ['KVM_GET_MSRS on the system fd with nmsrs 256, header only', 'E2BIG', (e) => e.sys.ioctl(e.kvm.fd, r('KVM_GET_MSRS'), header(256))],
  ['KVM_SET_MSRS with nmsrs 255 and a header-only buffer', 'EFAULT', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_MSRS'), header(255))],
  ['KVM_SET_CPUID2 with nent 257 (KVM_MAX_CPUID_ENTRIES + 1), header only', 'E2BIG', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_CPUID2'), header(257))],
  ['KVM_GET_SUPPORTED_CPUID with nent 0', 'ok:E2BIG n=0', (e) => { const b = header(0); return withCount(b, () => e.sys.ioctl(e.kvm.fd, r('KVM_GET_SUPPORTED_CPUID'), b)); }],
  ['KVM_GET_SUPPORTED_CPUID with nent 1 (too small) leaves nent', 'ok:E2BIG n=1', (e) => { const b = S.kvm_cpuid2.alloc(1); b[0] = 1; return withCount(b, () => e.sys.ioctl(e.kvm.fd, r('KVM_GET_SUPPORTED_CPUID'), b)); }],
  ['KVM_GET_SUPPORTED_CPUID with nent 100000 and room for 256 (clamped)', 'ok:0', (e) => { const b = S.kvm_cpuid2.alloc(256); new DataView(b.buffer).setUint32(0, 100000, true); return e.sys.ioctl(e.kvm.fd, r('KVM_GET_SUPPORTED_CPUID'), b); }],
  ['KVM_GET_CPUID2 with nent below the vCPU\'s count leaves nent', 'ok:E2BIG n=1', (e) => { e.vcpu.setCpuid2(e.kvm.supportedCpuid()); const b = S.kvm_cpuid2.alloc(1); b[0] = 1; return withCount(b, () => e.sys.ioctl(e.vcpu.fd, r('KVM_GET_CPUID2'), b)); }],
  ['KVM_SET_SIGNAL_MASK with len 100000, header only', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_SIGNAL_MASK'), new Uint8Array([0xa0, 0x86, 0x01, 0x00]))],
  // KVM_INTERRUPT without an in-kernel irqchip (kvm_vcpu_ioctl_interrupt)
  ['KVM_INTERRUPT twice (the second replaces the first)', 'ok:0', (e) => { e.sys.ioctl(e.vcpu.fd, r('KVM_INTERRUPT'), S.kvm_interrupt.encode({ irq: 0x20 })); return e.sys.ioctl(e.vcpu.fd, r('KVM_INTERRUPT'), S.kvm_interrupt.encode({ irq: 0x21 })); }],
  ['KVM_INTERRUPT of vector 256', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_INTERRUPT'), S.kvm_interrupt.encode({ irq: 256 }))],
  // MP state without an in-kernel LAPIC (kvm_arch_vcpu_ioctl_set_mpstate)
  ['KVM_SET_MP_STATE RUNNABLE', 'ok:undefined', (e) => e.vcpu.setMpState(KVM_MP_STATE.RUNNABLE)],
  ['KVM_SET_MP_STATE HALTED without an in-kernel LAPIC', 'EINVAL', (e) => e.vcpu.setMpState(KVM_MP_STATE.HALTED)],
  ['KVM_SET_MP_STATE INIT_RECEIVED without an in-kernel LAPIC', 'EINVAL', (e) => e.vcpu.setMpState(KVM_MP_STATE.INIT_RECEIVED)],
  // MSR filter (kvm_vm_ioctl_set_msr_filter, kvm_add_msr_filter)
  ['KVM_X86_SET_MSR_FILTER DEFAULT_DENY with no range', 'EINVAL', (e) => e.sys.ioctl(e.vm.fd, r('KVM_X86_SET_MSR_FILTER'), msrFilter({ flags: 1 }))],
  ['KVM_X86_SET_MSR_FILTER with an unknown flag', 'EINVAL', (e) => e.sys.ioctl(e.vm.fd, r('KVM_X86_SET_MSR_FILTER'), msrFilter({ flags: 2 }))],
  ['KVM_X86_SET_MSR_FILTER: a range with nmsrs 0 is skipped whatever its flags', 'ok:0', (e) => e.sys.ioctl(e.vm.fd, r('KVM_X86_SET_MSR_FILTER'), msrFilter({ ranges: [{ flags: 0xff, nmsrs: 0 }] }))],
  ['KVM_X86_SET_MSR_FILTER with a range without READ/WRITE', 'EINVAL', (e) => e.sys.ioctl(e.vm.fd, r('KVM_X86_SET_MSR_FILTER'), msrFilter({ ranges: [{ flags: 0, nmsrs: 8, bitmap: e.mem.hva }] }))],
  ['KVM_X86_SET_MSR_FILTER with a 0x3001-MSR range (bitmap over 0x600 bytes)', 'EINVAL', (e) => e.sys.ioctl(e.vm.fd, r('KVM_X86_SET_MSR_FILTER'), msrFilter({ ranges: [{ flags: 1, nmsrs: 0x3001, bitmap: e.mem.hva }] }))],
  ['KVM_X86_SET_MSR_FILTER with a 0x3000-MSR range', 'ok:0', (e) => e.sys.ioctl(e.vm.fd, r('KVM_X86_SET_MSR_FILTER'), msrFilter({ ranges: [{ flags: 3, nmsrs: 0x3000, bitmap: e.mem.hva }] }))],
  // XCRs (kvm_vcpu_ioctl_x86_set_xcrs, __kvm_set_xcr)
  ['KVM_SET_XCRS with only XCR1 (other XCRs are ignored)', 'ok:0', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_XCRS'), xcrs([[1, 1n]]))],
  ['KVM_SET_XCRS with XCR0 without x87', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_XCRS'), xcrs([[0, 2n]]))],
  ['KVM_SET_XCRS with XCR0 = x87|SSE before KVM_SET_CPUID2', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_XCRS'), xcrs([[0, 3n]]))],
  ['KVM_SET_XCRS with XCR0 = x87|SSE after KVM_SET_CPUID2', 'ok:0', (e) => { e.vcpu.setCpuid2(e.kvm.supportedCpuid()); return e.sys.ioctl(e.vcpu.fd, r('KVM_SET_XCRS'), xcrs([[0, 3n]])); }],
  ['KVM_SET_XCRS with XCR0 = x87|YMM (AVX without SSE)', 'EINVAL', (e) => { e.vcpu.setCpuid2(e.kvm.supportedCpuid()); return e.sys.ioctl(e.vcpu.fd, r('KVM_SET_XCRS'), xcrs([[0, 5n]])); }],
  ['KVM_SET_XCRS with nr_xcrs 17', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_SET_XCRS'), xcrs([], 17))],
  // vCPU events (kvm_vcpu_ioctl_x86_get/set_vcpu_events)
  ['KVM_GET_VCPU_EVENTS flags (NMI_PENDING | SHADOW | SMM)', 'ok:13', (e) => e.vcpu.getVcpuEvents().flags],
  ['KVM_SET_VCPU_EVENTS with VALID_PAYLOAD without KVM_CAP_EXCEPTION_PAYLOAD', 'EINVAL', (e) => e.vcpu.setVcpuEvents({ flags: 0x10 })],
  ['KVM_SET_VCPU_EVENTS with VALID_TRIPLE_FAULT without KVM_CAP_X86_TRIPLE_FAULT_EVENT', 'EINVAL', (e) => e.vcpu.setVcpuEvents({ flags: 0x20 })],
  ['KVM_SET_VCPU_EVENTS with an unknown flag', 'EINVAL', (e) => e.vcpu.setVcpuEvents({ flags: 0x40 })],
  ['KVM_SET_VCPU_EVENTS injecting vector 2 (NMI) as an exception', 'EINVAL', (e) => e.vcpu.setVcpuEvents({ exception: { injected: 1, nr: 2 } })],
  ['KVM_SET_VCPU_EVENTS injecting vector 32 as an exception', 'EINVAL', (e) => e.vcpu.setVcpuEvents({ exception: { injected: 1, nr: 32 } })],
  ['KVM_SET_VCPU_EVENTS: exception.pending is ignored without VALID_PAYLOAD', 'ok:undefined', (e) => e.vcpu.setVcpuEvents({ exception: { pending: 1, nr: 2 } })],
  // KVM_SET_CPUID2 after KVM_RUN (kvm_set_cpuid, kvm_cpuid_check_equal) and kvm_check_cpuid
  ['KVM_SET_CPUID2 after KVM_RUN with the same CPUID', 'ok:undefined', (e) => { const c = e.kvm.supportedCpuid(); e.vcpu.setCpuid2(c); ranOnce(e); return e.vcpu.setCpuid2(c); }],
  ['KVM_SET_CPUID2 after KVM_RUN with a changed CPUID', 'EINVAL', (e) => { const c = e.kvm.supportedCpuid(); e.vcpu.setCpuid2(c); ranOnce(e); return e.vcpu.setCpuid2(c.slice(1)); }],
  ['KVM_SET_CPUID2 after KVM_RUN that never entered (immediate_exit)', 'ok:undefined', (e) => { e.vcpu.setCpuid2(e.kvm.supportedCpuid()); e.vcpu.immediateExit = true; try { e.sys.ioctl(e.vcpu.fd, r('KVM_RUN'), 0); } catch { /* EINTR */ } return e.vcpu.setCpuid2([]); }],
  ['KVM_SET_CPUID2 with 40 linear address bits in CPUID.80000008H', 'EINVAL', (e) => e.vcpu.setCpuid2([{ function: 0x80000000, eax: 0x80000008 }, { function: 0x80000008, eax: 0x2827 }])],
  ['KVM_CHECK_EXTENSION(KVM_CAP_MEMORY_FAULT_INFO)', 'ok:1', (e) => e.kvm.checkExtension(KVM_CAP.MEMORY_FAULT_INFO)],
  // capabilities
  ['KVM_ENABLE_CAP of an unknown cap', 'EINVAL', (e) => e.vm.enableCap(9999)],
  ['KVM_ENABLE_CAP with non-zero flags', 'EINVAL', (e) => e.vm.enableCap(KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, [1], 1)],
  ['KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with an arg out of range', 'EINVAL', (e) => e.vm.enableCap(KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, [4])],
  ['KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 INITIALLY_SET without ENABLE', 'EINVAL', (e) => e.vm.enableCap(KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, [2])],
  ['KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with ENABLE | INITIALLY_SET', 'ok:0', (e) => e.vm.enableCap(KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, [3])],
  ['KVM_ENABLE_CAP on the system fd', 'EINVAL', (e) => e.sys.ioctl(e.kvm.fd, r('KVM_ENABLE_CAP'), S.kvm_enable_cap.encode({ cap: KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, args: [1n] }))],
  ['KVM_ENABLE_CAP of an unknown cap on a vcpu', 'EINVAL', (e) => e.sys.ioctl(e.vcpu.fd, r('KVM_ENABLE_CAP'), S.kvm_enable_cap.encode({ cap: 9999 }))],
  // dirty log
  ['KVM_GET_DIRTY_LOG of a slot that does not exist', 'ENOENT', (e) => e.vm.getDirtyLog(3, 16)],
  ['KVM_GET_DIRTY_LOG of a slot without dirty logging', 'ENOENT', (e) => { e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); return e.vm.getDirtyLog(0, 4); }],
  ['KVM_GET_DIRTY_LOG of slot id >= KVM_USER_MEM_SLOTS', 'EINVAL', (e) => e.vm.getDirtyLog(40000, 16)],
  ['KVM_GET_DIRTY_LOG into a NULL bitmap', 'EFAULT', (e) => { e.vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: e.mem.hva }); return e.sys.ioctl(e.vm.fd, r('KVM_GET_DIRTY_LOG'), S.kvm_dirty_log.encode({ slot: 0, dirty_bitmap: 0n })); }],
  ['KVM_CLEAR_DIRTY_LOG with first_page not a multiple of 64', 'EINVAL', (e) => { e.vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: e.mem.hva }); e.vm.clearDirtyLog(0, 1, 1, new Uint8Array(8)); }],
  ['KVM_CLEAR_DIRTY_LOG past the end of the slot', 'EINVAL', (e) => { e.vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: e.mem.hva }); e.vm.clearDirtyLog(0, 0, 17, new Uint8Array(8)); }],
  ['KVM_CLEAR_DIRTY_LOG of a slot without dirty logging', 'ENOENT', (e) => { e.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: e.mem.hva }); e.vm.clearDirtyLog(0, 0, 16, new Uint8Array(8)); }],
  // mmap
  ['mmap of a VM fd', 'ENODEV', (e) => e.sys.mmap(e.vm.fd, 4096)],
  ['mmap of the system fd', 'ENODEV', (e) => e.sys.mmap(e.kvm.fd, 4096)],
  ['mmap of a vcpu fd beyond KVM_GET_VCPU_MMAP_SIZE (allowed)', 'ok:object', (e) => e.sys.mmap(e.vcpu.fd, 5 * 4096)],
  // kvm_vcpu_mmap refuses only dirty-ring pages mapped private or executable; other pages fault on access.
  ['mmap of a vcpu fd between its pages and the dirty ring', 'ok:object', (e) => e.sys.mmap(e.vcpu.fd, 4096, 8 * 4096)],
  ['mmap of a vcpu fd at KVM_DIRTY_LOG_PAGE_OFFSET without a dirty ring', 'ok:object', (e) => e.sys.mmap(e.vcpu.fd, 2 * 4096, 64 * 4096)],
  ['mmap of a vcpu fd past KVM_DIRTY_LOG_PAGE_OFFSET', 'ok:object', (e) => e.sys.mmap(e.vcpu.fd, 4096, 1024 * 4096)],
  ['munmap of memory that was never mapped', 'EINVAL', (e) => e.sys.munmap(new Uint8Array(4096))],
  ['open of a path that does not exist', 'ENOENT', (e) => e.sys.open('/dev/kvm-does-not-exist')],
  // ioeventfds (Linux 6.12 virt/kvm/eventfd.c: kvm_assign_ioeventfd 945, kvm_assign_ioeventfd_idx 826,
  // ioeventfd_check_collision 801, kvm_deassign_ioeventfd_idx 890; eventfd_ctx_fdget fs/eventfd.c 348)
  ['KVM_IOEVENTFD of length 3', 'EINVAL', (e) => e.vm.ioeventfd({ fd: efd(e), addr: 0x600, len: 3, pio: true })],
  ['KVM_IOEVENTFD with an unknown flag', 'EINVAL', (e) => e.vm.ioeventfd({ fd: efd(e), addr: 0x600, len: 4, flags: 0x10 })],
  ['KVM_IOEVENTFD of length 0 with DATAMATCH', 'EINVAL', (e) => e.vm.ioeventfd({ fd: efd(e), addr: 0xd0000, len: 0, datamatch: 1 })],
  ['KVM_IOEVENTFD whose range wraps', 'EINVAL', (e) => e.vm.ioeventfd({ fd: efd(e), addr: 0xffff_ffff_ffff_fffcn, len: 8 })],
  ['KVM_IOEVENTFD on an fd that is not open', 'EBADF', (e) => e.vm.ioeventfd({ fd: 999_999, addr: 0x600, len: 4, pio: true })],
  ['KVM_IOEVENTFD on an fd that is not an eventfd', 'EINVAL', (e) => e.vm.ioeventfd({ fd: e.vm.fd, addr: 0x600, len: 4, pio: true })],
  ['KVM_IOEVENTFD twice on one port and value', 'EEXIST', (e) => { const fd = efd(e); e.vm.ioeventfd({ fd, addr: 0x600, len: 4, pio: true, datamatch: 1 }); e.vm.ioeventfd({ fd, addr: 0x600, len: 4, pio: true, datamatch: 1 }); }],
  ['KVM_IOEVENTFD wildcard over a datamatch one', 'EEXIST', (e) => { const fd = efd(e); e.vm.ioeventfd({ fd, addr: 0xd0000, len: 4, datamatch: 1 }); e.vm.ioeventfd({ fd, addr: 0xd0000, len: 4 }); }],
  ['KVM_IOEVENTFD with another value on the same port', 'ok:undefined', (e) => { const fd = efd(e); e.vm.ioeventfd({ fd, addr: 0x600, len: 4, pio: true, datamatch: 1 }); e.vm.ioeventfd({ fd, addr: 0x600, len: 4, pio: true, datamatch: 2 }); }],
  ['KVM_IOEVENTFD deassign of one never assigned', 'ENOENT', (e) => e.vm.ioeventfd({ fd: efd(e), addr: 0x600, len: 4, pio: true, deassign: true })],
  ['KVM_IOEVENTFD deassign with the wrong value', 'ENOENT', (e) => { const fd = efd(e); e.vm.ioeventfd({ fd, addr: 0x600, len: 2, pio: true, datamatch: 1 }); e.vm.ioeventfd({ fd, addr: 0x600, len: 2, pio: true, datamatch: 2, deassign: true }); }],
  ['KVM_IOEVENTFD assign then deassign', 'ok:undefined', (e) => { const fd = efd(e); e.vm.ioeventfd({ fd, addr: 0xd0000, len: 0 }); e.vm.ioeventfd({ fd, addr: 0xd0000, len: 0, deassign: true }); }],
  // irqfds without an in-kernel irqchip (eventfd.c: kvm_irqfd 580, kvm_irqfd_assign 319 -> x86
  // kvm_arch_irqfd_allowed, arch/x86/kvm/irq.c 167; kvm_irqfd_deassign 550)
  ['KVM_IRQFD without an irqchip', 'EINVAL', (e) => e.vm.irqfd({ fd: efd(e), gsi: 1 })],
  ['KVM_IRQFD with an unknown flag', 'EINVAL', (e) => e.vm.irqfd({ fd: efd(e), gsi: 1, flags: 4 })],
  ['KVM_IRQFD deassign on an fd that is not open', 'EBADF', (e) => e.vm.irqfd({ fd: 999_999, gsi: 1, deassign: true })],
  ['KVM_IRQFD deassign on an fd that is not an eventfd', 'EINVAL', (e) => e.vm.irqfd({ fd: e.vm.fd, gsi: 1, deassign: true })],
  ['KVM_IRQFD deassign of an eventfd never assigned', 'ok:undefined', (e) => e.vm.irqfd({ fd: efd(e), gsi: 1, deassign: true })],
  // interrupt lines and routing without an irqchip (arch/x86/kvm/x86.c kvm_vm_ioctl_irq_line 6058;
  // virt/kvm/irqchip.c kvm_send_userspace_msi 48; kvm_main.c KVM_SET_GSI_ROUTING 5366)
  ['KVM_IRQ_LINE without an irqchip', 'ENXIO', (e) => e.vm.irqLine(4, 1)],
  ['KVM_IRQ_LINE_STATUS without an irqchip', 'ENXIO', (e) => e.vm.irqLineStatus(4, 1)],
  ['KVM_SIGNAL_MSI without an irqchip', 'EINVAL', (e) => e.vm.signalMsi({ addressLo: 0xfee00000, data: 0x30 })],
  ['KVM_SET_GSI_ROUTING without an irqchip', 'EINVAL', (e) => e.vm.setGsiRouting([{ gsi: 1, type: 'msi', addressLo: 0xfee00000, data: 0x30 }])],
  // devices (kvm_main.c kvm_ioctl_create_device 4876)
  ['KVM_CREATE_DEVICE of type 0', 'ENODEV', (e) => e.vm.createDevice(0)],
  ['KVM_CREATE_DEVICE of a type past KVM_DEV_TYPE_MAX', 'ENODEV', (e) => e.vm.createDevice(0x7fff)],
  ['KVM_CREATE_DEVICE_TEST of a type past KVM_DEV_TYPE_MAX', 'ENODEV', (e) => e.vm.createDevice(0x7fff, { test: true })],
  // kvmclock (arch/x86/kvm/x86.c kvm_vm_ioctl_set_clock 6539)
  ['KVM_SET_CLOCK with an unknown flag', 'EINVAL', (e) => e.vm.setClock({ clock: 0, flags: 1 })],
  ['KVM_SET_CLOCK with the flags KVM_GET_CLOCK returns', 'ok:undefined', (e) => e.vm.setClock({ clock: 1_000_000, flags: KVM_CLOCK.TSC_STABLE | KVM_CLOCK.REALTIME | KVM_CLOCK.HOST_TSC, realtime: BigInt(Date.now()) * 1_000_000n })],
  // eventfd(2) (Linux 6.12 fs/eventfd.c: do_eventfd 379, eventfd_read 214, eventfd_write 247)
  ['eventfd with an unknown flag', 'EINVAL', (e) => e.sys.eventfd(0, 0x40)],
  ['read of 4 bytes from an eventfd', 'EINVAL', (e) => e.sys.read(efd(e), new Uint8Array(4))],
  ['write of 4 bytes to an eventfd', 'EINVAL', (e) => e.sys.write(efd(e), new Uint8Array(4))],
  ['write of ULLONG_MAX to an eventfd', 'EINVAL', (e) => e.sys.write(efd(e), new Uint8Array(8).fill(0xff))],
  ['read of an empty non-blocking eventfd', 'EAGAIN', (e) => e.sys.read(efd(e), new Uint8Array(8))],
  ['write past the counter limit of a non-blocking eventfd', 'EAGAIN', (e) => { const fd = efd(e); const b = new Uint8Array(8).fill(0xff); b[0] = 0xfe; e.sys.write(fd, b); e.sys.write(fd, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0)); }],
];

/** A non-blocking eventfd of the case's process. */
const efd = (e: Env) => e.sys.eventfd(0, EFD.NONBLOCK | EFD.CLOEXEC);

describe('errno table of the generic ioctls', () => {
  const compared: Record<string, number> = {};
  afterAll(() => {
    console.log(`[errno-table] ${cases.length} cases; compared on: ${Object.entries(compared).map(([b, n]) => `${b} ${n}`).join(', ')}`);
  });

  describe.each(x86Backends)('$name', (backend) => {
    it.each(cases)('%s -> %s', (_name, expected, action) => {
      const e = env(backend.make());
      expect(outcome(() => action(e))).toBe(expected);
      compared[backend.name] = (compared[backend.name] ?? 0) + 1;
    });
  });
});

// ---- arm64 ONE_REG ids (arch/arm64/kvm/guest.c: kvm_arm_get_reg/kvm_arm_set_reg, get/set_core_reg,
// core_reg_size_from_offset; sys_regs.c: kvm_arm_sys_reg_get_reg). Where this machine is an arm64
// host with /dev/kvm, the same rows run there too.

const A = arm64.structs;
const ar = (n: keyof typeof arm64.ioctls) => arm64.ioctls[n]!.request;

interface ArmEnv {
  sys: Sys;
  vcpu: Vcpu;
  /** 4 KiB the register value goes through (kvm_one_reg.addr). */
  buf: { hva: bigint; bytes: Uint8Array };
}

function armEnv(sys: Sys): ArmEnv {
  const vm = Kvm.open(sys).createVm();
  const vcpu = vm.createVcpu(0);
  vcpu.armInit();
  return { sys, vcpu, buf: sys.alloc(0x1000) };
}

const getReg = (e: ArmEnv, id: bigint) => e.sys.ioctl(e.vcpu.fd, ar('KVM_GET_ONE_REG'), A.kvm_one_reg.encode({ id, addr: e.buf.hva }));
const setReg = (e: ArmEnv, id: bigint, v: bigint) => {
  new DataView(e.buf.bytes.buffer, e.buf.bytes.byteOffset).setBigUint64(0, v, true);
  return e.sys.ioctl(e.vcpu.fd, ar('KVM_SET_ONE_REG'), A.kvm_one_reg.encode({ id, addr: e.buf.hva }));
};
const U32 = 0x0020000000000000n, U128 = 0x0040000000000000n, U256 = 0x0050000000000000n;
const sizeless = (id: bigint) => id & ~0x00f0000000000000n;

const armCases: [string, string, (e: ArmEnv) => unknown][] = [
  ['KVM_GET_ONE_REG of x5 (regs.regs[5])', 'ok:0', (e) => getReg(e, arm64.coreRegId('regs.regs[5]'))],
  ['KVM_GET_ONE_REG with bit 40 set (upper 32 bits hold only arch and size)', 'EINVAL', (e) => getReg(e, arm64.coreRegId('x0') | (1n << 40n))],
  ['KVM_GET_ONE_REG of a KVM_REG_X86 id', 'EINVAL', (e) => getReg(e, 0x2030000000100000n)],
  ['KVM_GET_ONE_REG core word 216 (past struct kvm_regs)', 'ENOENT', (e) => getReg(e, 0x60300000001000d8n)],
  ['KVM_GET_ONE_REG core id with bit 28 set (part of the word index)', 'ENOENT', (e) => getReg(e, arm64.coreRegId('x0') | (1n << 28n))],
  ['KVM_GET_ONE_REG of vregs[31] as U256 (runs past kvm_regs)', 'ENOENT', (e) => getReg(e, sizeless(arm64.coreRegId('v31')) | U256)],
  ['KVM_GET_ONE_REG of fpcr as U128 (runs past kvm_regs)', 'ENOENT', (e) => getReg(e, sizeless(arm64.coreRegId('fpcr')) | U128)],
  ['KVM_GET_ONE_REG of x0 as U32 (not its size)', 'EINVAL', (e) => getReg(e, sizeless(arm64.coreRegId('x0')) | U32)],
  ['KVM_GET_ONE_REG of the upper half of x0 (word 1)', 'EINVAL', (e) => getReg(e, arm64.coreRegId('x0') + 1n)],
  ['KVM_GET_ONE_REG of an unknown system register', 'ENOENT', (e) => getReg(e, arm64.sysRegId(3, 0, 9, 9, 0))],
  ['KVM_GET_ONE_REG of SCTLR_EL1 as U32', 'ENOENT', (e) => getReg(e, sizeless(arm64.sysRegId(3, 0, 1, 0, 0)) | U32)],
  ['KVM_SET_ONE_REG pstate EL2h without nested virtualization', 'EINVAL', (e) => setReg(e, arm64.coreRegId('pstate'), 0x3c9n)],
  ['KVM_SET_ONE_REG pstate EL1h with bit 32 set (only the mode is checked)', 'ok:0', (e) => setReg(e, arm64.coreRegId('pstate'), (1n << 32n) | 0x3c5n)],
  ['KVM_SET_ONE_REG of sp_el1', 'ok:0', (e) => setReg(e, arm64.coreRegId('sp_el1'), 0x40001000n)],
  ['KVM_GET_ONE_REG of x0 into an unmapped address', 'EFAULT', (e) => e.sys.ioctl(e.vcpu.fd, ar('KVM_GET_ONE_REG'), A.kvm_one_reg.encode({ id: arm64.coreRegId('x0'), addr: 0x1000n }))],
];

describe('errno table of the arm64 register ids', () => {
  const backends: Backend[] = [{ name: 'virtual', make: () => virtualSys({ arch: 'arm64' }) }];
  if (process.arch === 'arm64' && isNativeAvailable()) backends.push(nativeBackend);
  describe.each(backends)('$name', (backend) => {
    it.each(armCases)('%s -> %s', (_name, expected, action) => {
      expect(outcome(() => action(armEnv(backend.make())))).toBe(expected);
    });
  });
});
