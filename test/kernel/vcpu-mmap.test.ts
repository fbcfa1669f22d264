/**
 * The vCPU fd's mmap (kvm_vcpu_mmap / kvm_vcpu_fault): the kernel holds only the pages
 * KVM_GET_VCPU_MMAP_SIZE reports, any page range of the fd maps, the backed pages are the same
 * bytes in every mapping, and the pages past them have nothing behind them (a fault on access:
 * EFAULT for the kernel's copies and for guest memory there).
 */
import { describe, expect, it } from 'vitest';
import { arm64, Kvm, KVM_MEM, virtualSys, x86_64, type Arch } from '../../src/index.js';
import { kernelOf } from '../../src/sys/kernel-of.js';
import { errnoOf } from '../helpers/errno.js';

const PAGE = 4096;
/** Linux's KVM_GET_VCPU_MMAP_SIZE: kvm_run + PIO data + coalesced MMIO (x86), kvm_run + coalesced MMIO (arm64). */
const MMAP_PAGES: Record<Arch, number> = { x86_64: 3, arm64: 2 };

function setup(arch: Arch) {
  const sys = virtualSys({ arch });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const vcpu = vm.createVcpu(0);
  const kernel = kernelOf(sys)!;
  const { ioctls: I, structs: S } = arch === 'x86_64' ? x86_64 : arm64;
  return { sys, kvm, vm, vcpu, kernel, I, S };
}

describe.each(['x86_64', 'arm64'] as const)('%s vCPU mmap', (arch) => {
  const size = MMAP_PAGES[arch] * PAGE;

  it('the kernel holds only the pages KVM_GET_VCPU_MMAP_SIZE reports', () => {
    const { kvm, vcpu, kernel } = setup(arch);
    expect(kvm.vcpuMmapSize()).toBe(size);
    const f = kernel.file(vcpu.fd);
    if (f?.kind !== 'vcpu') throw new Error('not a vCPU file');
    const area = f.vcpu.area;
    expect(area.length).toBe(size);
    // Not the 64 pages up to the dirty ring's offset: at most the area and its private words.
    expect(area.buffer.byteLength).toBeLessThan(size + PAGE);
  });

  it('every mapping of the backed pages shares them', () => {
    const { sys, vcpu } = setup(arch);
    const all = sys.mmap(vcpu.fd, size);
    const run = sys.mmap(vcpu.fd, PAGE, 0);
    const last = sys.mmap(vcpu.fd, PAGE, size - PAGE);
    expect([all.length, run.length, last.length]).toEqual([size, PAGE, PAGE]);
    all[8] = 0x5a;
    expect(run[8]).toBe(0x5a);
    last[100] = 0xa5;
    expect(all[size - PAGE + 100]).toBe(0xa5);
    // The API's own mapping (kvm_run as the vCPU object reads it) is the same memory.
    expect(vcpu.area[8]).toBe(0x5a);
  });

  it('any page range maps; the view holds only the pages the kernel backs', () => {
    const { sys, vcpu } = setup(arch);
    // Past KVM_GET_VCPU_MMAP_SIZE from offset 0: kvm_run and the arch's pages, nothing after.
    const over = sys.mmap(vcpu.fd, 5 * PAGE);
    expect(over.length).toBe(size);
    over[9] = 0x33;
    expect(sys.mmap(vcpu.fd, PAGE)[9]).toBe(0x33);
    // Between the mapped pages and the dirty ring, at the ring's offset (no ring: KVM_CAP_DIRTY_LOG_RING
    // is 0), and far past it: mmap succeeds, with no page behind it.
    for (const [len, off] of [
      [PAGE, size],
      [PAGE, 8 * PAGE],
      [2 * PAGE, 64 * PAGE],
      [PAGE, 2 ** 40],
    ]) {
      expect([len, off, sys.mmap(vcpu.fd, len!, off!).length]).toEqual([len, off, 0]);
    }
    // Offsets must be page multiples.
    expect(errnoOf(() => sys.mmap(vcpu.fd, PAGE, 100))).toBe('EINVAL');
  });

  it("the kernel's copies to the pages past the area fail with EFAULT; to the area's, succeed", () => {
    const { vm, vcpu, kernel, I, S } = setup(arch);
    const ram = kernel.space.map(0x4000);
    vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: BigInt(ram.hva) });
    const m = kernel.mmapRegion(vcpu.fd, 4 * PAGE, 0);
    expect([m.length, m.reserved]).toEqual([size, 4 * PAGE]);
    const getLog = (at: number) => errnoOf(() => kernel.ioctl(vm.fd, I.KVM_GET_DIRTY_LOG!.request, S.kvm_dirty_log.encode({ slot: 0, dirty_bitmap: BigInt(at) })));
    expect(getLog(m.hva + size - 8)).toBe('ok');
    expect(getLog(m.hva + size)).toBe('EFAULT');
    expect(getLog(m.hva + size - 4)).toBe('EFAULT'); // straddles the end of the backed pages
  });

  it('munmap gives back the address space of mappings with and without pages', () => {
    const { sys, vcpu, kernel } = setup(arch);
    const before = kernel.space.extent();
    const maps = [sys.mmap(vcpu.fd, 5 * PAGE), sys.mmap(vcpu.fd, PAGE, 64 * PAGE), sys.mmap(vcpu.fd, 3 * PAGE, 10 * PAGE)];
    expect(kernel.space.extent().top).toBeGreaterThan(before.top);
    for (const b of maps.reverse()) sys.munmap(b);
    expect(kernel.space.extent()).toEqual(before);
  });
});

describe('x86_64 guest memory over the vCPU mmap', () => {
  it('runs from the backed pages; KVM_RUN fails with EFAULT when the guest fetches from the pages past them', () => {
    const { vm, vcpu, kernel } = setup('x86_64');
    const m = kernel.mmapRegion(vcpu.fd, 5 * PAGE, 0);
    // A slot from the PIO data page on: gpa 0 and 0x1000 are the area's last two pages, 0x2000 has nothing behind it.
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 3 * PAGE, userspaceAddr: BigInt(m.hva + PAGE) });
    m.bytes[PAGE] = 0xf4; // HLT at gpa 0
    const sregs = vcpu.getSregs();
    sregs.cs.base = 0n;
    sregs.cs.selector = 0;
    vcpu.setSregs(sregs);
    vcpu.setRegs({ ...vcpu.getRegs(), rip: 0n, rflags: 2n });
    expect(vcpu.run().reason).toBe('hlt');
    vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(2 * PAGE), rflags: 2n });
    expect(errnoOf(() => vcpu.run())).toBe('EFAULT');
  });
});
