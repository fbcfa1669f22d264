/**
 * Resource limits: the most vCPUs and memslots a VM can have, huge memslots and guest_memfds —
 * the kernel's errno at each limit, and no host memory spent on what the guest has not touched.
 * x86 cases run on the virtual backend and, where /dev/kvm exists, on the real kernel with the
 * same expectations; arm64 cases run on the virtual backend.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Kvm, KVM_CAP, KVM_MEM, GUEST_MEMFD_FLAG, virtualSys, x86_64, arm64, type Sys } from '../../src/index.js';
import { enterMode } from '../helpers/x86.js';
import { outcome, x86Backends } from '../helpers/backends.js';

const I = x86_64.ioctls;
const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
/** An hva range nothing is mapped at (below TASK_SIZE on both backends): memslots over it are accepted. */
const UNMAPPED = 0x1000_0000_0000n;
const GiB = 1n << 30n;

const report: string[] = [];
afterAll(() => console.log(`[limits]\n  ${report.join('\n  ')}`));

describe.each(x86Backends)('x86 resource limits on $name', (backend) => {
  it('KVM_CAP_MAX_VCPUS vCPUs, then EINVAL; ids from KVM_CAP_MAX_VCPU_ID on are EINVAL', () => {
    const sys = backend.make();
    const kvm = Kvm.open(sys);
    const max = kvm.checkExtension(KVM_CAP.MAX_VCPUS);
    const maxId = kvm.checkExtension(KVM_CAP.MAX_VCPU_ID);
    expect(max).toBe(1024);
    expect(maxId).toBe(4096);
    const vm = kvm.createVm();
    const rss0 = rssMiB();
    const t0 = performance.now();
    const fds: number[] = [];
    // Ids spread over the id space: ids need not be dense.
    for (let i = 0; i < max; i++) fds.push(sys.ioctl(vm.fd, I.KVM_CREATE_VCPU!.request, (i * 3) % maxId));
    const ms = performance.now() - t0;
    expect(new Set(fds).size).toBe(max);
    expect(outcome(() => sys.ioctl(vm.fd, I.KVM_CREATE_VCPU!.request, 1))).toBe('EINVAL'); // one more: created_vcpus >= max_vcpus
    expect(outcome(() => sys.ioctl(vm.fd, I.KVM_CREATE_VCPU!.request, 0))).toBe('EINVAL'); // even a duplicate: the count is checked first
    expect(outcome(() => sys.ioctl(vm.fd, I.KVM_CREATE_VCPU!.request, maxId))).toBe('EINVAL');
    // Closing vCPU fds does not give the slots back (vCPUs live as long as the VM).
    for (const fd of fds.splice(0, 10)) sys.close(fd);
    expect(outcome(() => sys.ioctl(vm.fd, I.KVM_CREATE_VCPU!.request, 2))).toBe('EINVAL');
    const grew = rssMiB() - rss0;
    report.push(`${backend.name}: ${max} vCPUs in ${ms.toFixed(0)} ms, RSS +${grew.toFixed(0)} MiB`);
    expect(grew).toBeLessThan(512);
    for (const fd of fds) sys.close(fd);
    vm.close();
  }, 60_000);

  it('KVM_CAP_NR_MEMSLOTS slots, then EINVAL for the next id', () => {
    const sys = backend.make();
    const kvm = Kvm.open(sys);
    const n = kvm.checkExtension(KVM_CAP.NR_MEMSLOTS);
    expect(n).toBe(32764);
    const vm = kvm.createVm();
    const page = sys.alloc(0x1000);
    // CPU time, not wall time: a quadratic slot table costs minutes of CPU, a loaded machine only wall time.
    const cpu0 = process.cpuUsage();
    // Every slot is one page at its own gpa; they may all share one host page.
    for (let i = 0; i < n; i++) vm.setUserMemoryRegion({ slot: i, guestPhysAddr: BigInt(i) * 0x1000n, memorySize: 0x1000, userspaceAddr: page.hva });
    const used = process.cpuUsage(cpu0);
    const ms = (used.user + used.system) / 1000;
    expect(outcome(() => vm.setUserMemoryRegion({ slot: n, guestPhysAddr: BigInt(n) * 0x1000n, memorySize: 0x1000, userspaceAddr: page.hva }))).toBe('EINVAL');
    // A full table still checks overlaps (EEXIST) and moves.
    expect(outcome(() => vm.setUserMemoryRegion({ slot: 5, guestPhysAddr: 0x3000n, memorySize: 0x1000, userspaceAddr: page.hva }))).toBe('EEXIST');
    expect(outcome(() => vm.setUserMemoryRegion({ slot: 5, guestPhysAddr: BigInt(n + 7) * 0x1000n, memorySize: 0x1000, userspaceAddr: page.hva }))).toBe('ok:undefined');
    expect(outcome(() => vm.setUserMemoryRegion({ slot: 5, guestPhysAddr: 0x5000n, memorySize: 0x1000, userspaceAddr: page.hva }))).toBe('ok:undefined');
    report.push(`${backend.name}: ${n} memslots in ${ms.toFixed(0)} ms CPU`);
    if (backend.name === 'virtual') expect(ms).toBeLessThan(5000);
    vm.close();
    sys.munmap(page.bytes);
  }, 120_000);

  it('memslot sizes: KVM_MEM_MAX_NR_PAGES bounds a slot; a large slot costs no memory', () => {
    const sys = backend.make();
    const kvm = Kvm.open(sys);
    const vm = kvm.createVm();
    const rss0 = rssMiB();
    const set = (slot: number, gpa: bigint, size: bigint, flags = 0) => outcome(() => vm.setUserMemoryRegion({ slot, flags, guestPhysAddr: gpa, memorySize: size, userspaceAddr: UNMAPPED }));
    expect(set(0, 0n, 2n ** 31n * 0x1000n)).toBe('EINVAL'); // 2^31 pages > KVM_MEM_MAX_NR_PAGES
    expect(set(0, 0n, 64n * GiB + 1n)).toBe('EINVAL');
    expect(set(0, 0n, 64n * GiB)).toBe('ok:undefined');
    // Dirty logging of a 64 GiB slot: a 2 MiB bitmap (the kernel allocates it; vkvm commits it lazily).
    expect(set(1, 64n * GiB, 64n * GiB, KVM_MEM.LOG_DIRTY_PAGES)).toBe('ok:undefined');
    const bitmap = sys.alloc(2 << 20);
    bitmap.bytes.fill(0xa5);
    expect(outcome(() => sys.ioctl(vm.fd, I.KVM_GET_DIRTY_LOG!.request, x86_64.structs.kvm_dirty_log.encode({ slot: 1, dirty_bitmap: bitmap.hva })))).toBe('ok:0');
    expect(bitmap.bytes.every((b) => b === 0)).toBe(true);
    // (A bitmap buffer shorter than the slot's is EFAULT in vkvm; on Linux the kernel would write
    // past it into whatever is mapped next, so that is not tried on the real kernel.)
    if (backend.name === 'virtual') {
      const small = sys.alloc(4096);
      expect(outcome(() => sys.ioctl(vm.fd, I.KVM_GET_DIRTY_LOG!.request, x86_64.structs.kvm_dirty_log.encode({ slot: 1, dirty_bitmap: small.hva })))).toBe('EFAULT');
    }
    const grew = rssMiB() - rss0;
    report.push(`${backend.name}: 64 GiB + 64 GiB (dirty-logged) slots, RSS +${grew.toFixed(0)} MiB`);
    expect(grew).toBeLessThan(64);
    vm.close();
  });

  it('guest_memfd sizes: any positive page multiple up to 2^63 - 4096, EINVAL otherwise', () => {
    const sys = backend.make();
    const vm = Kvm.open(sys).createVm();
    const rss0 = rssMiB();
    const gm = (size: bigint, flags = 0n) => outcome(() => vm.createGuestMemfd(size, flags));
    expect(gm(1n << 40n)).toMatch(/^ok:/);
    expect(gm((1n << 63n) - 0x1000n)).toMatch(/^ok:/);
    expect(gm(16n * GiB, BigInt(GUEST_MEMFD_FLAG.MMAP))).toMatch(/^ok:/);
    expect(gm(1n << 63n)).toBe('EINVAL'); // negative as a loff_t
    expect(gm(0n)).toBe('EINVAL');
    expect(gm(0x1001n)).toBe('EINVAL');
    expect(gm(-0x1000n)).toBe('EINVAL');
    // A slot bound far into the largest file.
    const big = vm.createGuestMemfd((1n << 63n) - 0x1000n);
    const ram = sys.alloc(0x2000);
    expect(outcome(() => vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: ram.hva, guestMemfd: big, guestMemfdOffset: 1n << 62n }))).toBe('ok:undefined');
    expect(outcome(() => vm.setUserMemoryRegion2({ slot: 1, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0x10000, memorySize: 0x2000, userspaceAddr: ram.hva, guestMemfd: big, guestMemfdOffset: 1n << 63n }))).toBe('EINVAL');
    // Linux checks the end of the range in loff_t: past 2^63 it wraps negative and passes.
    expect(outcome(() => vm.setUserMemoryRegion2({ slot: 1, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0x10000, memorySize: 0x2000, userspaceAddr: ram.hva, guestMemfd: big, guestMemfdOffset: (1n << 63n) - 0x1000n }))).toBe('ok:undefined');
    const small = vm.createGuestMemfd(0x4000n);
    expect(outcome(() => vm.setUserMemoryRegion2({ slot: 2, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0x20000, memorySize: 0x2000, userspaceAddr: ram.hva, guestMemfd: small, guestMemfdOffset: 0x3000n }))).toBe('EINVAL');
    const grew = rssMiB() - rss0;
    report.push(`${backend.name}: guest_memfds of 1 TiB, 16 GiB and 2^63 - 4 KiB, RSS +${grew.toFixed(0)} MiB`);
    expect(grew).toBeLessThan(64);
    vm.close();
  });
});

describe('virtual-only limits', () => {
  it('x86: a guest writes to a 16 GiB mmap-able guest_memfd far past 4 GiB; only touched pages cost memory', () => {
    const sys = virtualSys({ arch: 'x86_64' });
    const vm = Kvm.open(sys).createVm();
    const rss0 = rssMiB();
    const gmem = vm.createGuestMemfd(16n * GiB, BigInt(GUEST_MEMFD_FLAG.MMAP));
    const code = sys.alloc(0x10000);
    // mov dword [0x100000], 0x12345678 ; mov eax, [0x100ffc] ; hlt   (32-bit protected mode, flat)
    code.bytes.set([0xc7, 0x05, 0x00, 0x00, 0x10, 0x00, 0x78, 0x56, 0x34, 0x12, 0xa1, 0xfc, 0x0f, 0x10, 0x00, 0xf4], 0x8000);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: code.hva });
    const ram = sys.alloc(0x1000);
    // gpa 0x100000.. is guest_memfd offset 12 GiB (every access goes to guest_memfd: it is mmap-able).
    vm.setUserMemoryRegion2({ slot: 1, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0x100000, memorySize: 0x1000, userspaceAddr: ram.hva, guestMemfd: gmem, guestMemfdOffset: 12n * GiB });
    const vcpu = vm.createVcpu(0);
    enterMode(vcpu, 'prot32');
    vcpu.setRegs({ rip: 0x8000n, rsp: 0x7000n, rflags: 2n });
    expect(vcpu.run().reason).toBe('hlt');
    expect(ram.bytes.every((b) => b === 0)).toBe(true); // the userspace range is not what the guest saw
    expect(vcpu.getRegs().rax).toBe(0n); // untouched guest_memfd pages read as zero
    // The write landed in guest_memfd: a second vCPU reads it back.
    const r2 = vm.createVcpu(1);
    enterMode(r2, 'prot32');
    code.bytes.set([0xa1, 0x00, 0x00, 0x10, 0x00, 0xf4], 0x9000); // mov eax, [0x100000] ; hlt
    r2.setRegs({ rip: 0x9000n, rsp: 0x7000n, rflags: 2n });
    expect(r2.run().reason).toBe('hlt');
    expect(r2.getRegs().rax).toBe(0x12345678n);
    expect(rssMiB() - rss0).toBeLessThan(64);
  });

  it('x86: memslots end at the modelled host MAXPHYADDR (39 bits, CPUID 0x80000008), as kvm_mmu_max_gfn with EPT', () => {
    const sys = virtualSys({ arch: 'x86_64' });
    const vm = Kvm.open(sys).createVm();
    const set = (slot: number, gpa: bigint, size: bigint) => outcome(() => vm.setUserMemoryRegion({ slot, guestPhysAddr: gpa, memorySize: size, userspaceAddr: UNMAPPED }));
    expect(set(0, 1n << 38n, 1n << 38n)).toBe('ok:undefined'); // 256 GiB ending exactly at 2^39
    expect(set(1, (1n << 39n) - 0x1000n, 0x2000n)).toBe('EEXIST'); // the overlap is checked first
    expect(set(1, 1n << 39n, 0x1000n)).toBe('EINVAL');
    expect(set(1, (1n << 52n) - 0x1000n, 0x1000n)).toBe('EINVAL'); // (what a 52-bit host, such as this PVM one, would accept)
    // Moving a slot there is refused too, and the slot stays where it was.
    expect(set(2, 0x1000n, 0x1000n)).toBe('ok:undefined');
    expect(set(2, 1n << 39n, 0x1000n)).toBe('EINVAL');
    expect(set(3, 0x1000n, 0x1000n)).toBe('EEXIST');
  });

  it('arm64: KVM_CAP_MAX_VCPUS vCPUs; memslots inside the IPA space (EFAULT beyond); the largest slot in a 48-bit IPA VM', () => {
    const sys: Sys = virtualSys({ arch: 'arm64' });
    const kvm = Kvm.open(sys);
    const A = arm64.ioctls;
    const max = kvm.checkExtension(KVM_CAP.MAX_VCPUS);
    expect(max).toBe(512);
    const vm = kvm.createVm();
    const rss0 = rssMiB();
    const fds = Array.from({ length: max }, (_, i) => sys.ioctl(vm.fd, A.KVM_CREATE_VCPU!.request, i));
    expect(new Set(fds).size).toBe(max);
    expect(outcome(() => sys.ioctl(vm.fd, A.KVM_CREATE_VCPU!.request, max))).toBe('EINVAL');
    const n = kvm.checkExtension(KVM_CAP.NR_MEMSLOTS);
    expect(n).toBe(32767);
    const page = sys.alloc(0x1000);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) vm.setUserMemoryRegion({ slot: i, guestPhysAddr: BigInt(i) * 0x1000n, memorySize: 0x1000, userspaceAddr: page.hva });
    report.push(`virtual arm64: ${max} vCPUs and ${n} memslots (${(performance.now() - t0).toFixed(0)} ms), RSS +${(rssMiB() - rss0).toFixed(0)} MiB`);
    expect(outcome(() => vm.setUserMemoryRegion({ slot: n, guestPhysAddr: 1n << 30n, memorySize: 0x1000, userspaceAddr: page.hva }))).toBe('EINVAL');
    // IPA: the default VM has 40 bits.
    const vm40 = kvm.createVm();
    const set = (v: typeof vm, slot: number, gpa: bigint, size: bigint) => outcome(() => v.setUserMemoryRegion({ slot, guestPhysAddr: gpa, memorySize: size, userspaceAddr: UNMAPPED }));
    expect(set(vm40, 0, (1n << 40n) - 0x1000n, 0x1000n)).toBe('ok:undefined');
    expect(set(vm40, 1, (1n << 40n) - 0x1000n + 0x10000n, 0x1000n)).toBe('EFAULT');
    const vm48 = kvm.createVm(48);
    expect(set(vm48, 0, 0n, (2n ** 31n - 1n) * 0x1000n)).toBe('ok:undefined'); // KVM_MEM_MAX_NR_PAGES pages: 8 TiB - 4 KiB
    expect(set(vm48, 1, 1n << 44n, 2n ** 31n * 0x1000n)).toBe('EINVAL');
    expect(rssMiB() - rss0).toBeLessThan(512);
  }, 60_000);
});
