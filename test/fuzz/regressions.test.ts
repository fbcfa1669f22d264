/**
 * Regression tests for the bugs the fuzzers found, each reduced to the smallest input that showed
 * it. Cases that concern the generic ioctl surface run on the real /dev/kvm too where it exists.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, KVM_DIRTY_LOG, KVM_CAP, KVM_MEM, virtualSys, x86_64, type Sys } from '../../src/index.js';
import { kernelOf } from '../../src/sys/virtual.js';
import { armMachine, reg } from '../arm64/helpers.js';
import { outcome, x86Backends } from '../helpers/backends.js';
import { enterMode } from '../helpers/x86.js';

const I = x86_64.ioctls;
const S = x86_64.structs;
const R = (name: keyof typeof I) => I[name]!.request;

/** A real-mode x86 guest: `code` at 0x1000 (RIP), stack at 0x8000, 128 KiB of RAM. */
function realMode(code: number[], opts: { runBudget?: number; mem?: [number, number[]][] } = {}) {
  const sys = virtualSys({ arch: 'x86_64', ...(opts.runBudget ? { runBudget: opts.runBudget } : {}) });
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(0x20000);
  ram.bytes.set(code, 0x1000);
  for (const [at, b] of opts.mem ?? []) ram.bytes.set(b, at);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x20000, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'real');
  vcpu.setRegs({ rip: 0x1000n, rsp: 0x8000n, rflags: 2n });
  return { sys, vm, vcpu, ram };
}

describe('x86 interpreter', () => {
  it('a fault storm (a #UD handler that faults again, forever) still ends with EINTR at the run budget', () => {
    // IVT[6] -> 0000:1000, where UD2 sits; the stack is in its own segment so nothing overwrites the loop.
    const m = realMode([0x0f, 0x0b], { runBudget: 10_000, mem: [[6 * 4, [0x00, 0x10, 0x00, 0x00]]] });
    m.vcpu.setSregs({ ss: { ...m.vcpu.getSregs().ss, selector: 0x1000, base: 0x10000n } });
    const t = performance.now();
    expect(outcome(() => m.vcpu.run().reason)).toBe('ok:intr'); // EINTR
    expect(performance.now() - t).toBeLessThan(2000); // it used to spin forever
    expect(m.vcpu.exit().reason).toBe('intr');
  });

  it('INS whose element lands in MMIO: the IN exit, then an MMIO write exit (not exit_reason 0)', () => {
    // mov di, 0x8000 ; mov ax, 0x3000 ; mov es, ax ; insb (es:di = 0x38000, beyond RAM: MMIO)
    const m = realMode([0xbf, 0x00, 0x80, 0xb8, 0x00, 0x30, 0x8e, 0xc0, 0x6c, 0xf4], { runBudget: 1000 });
    m.vcpu.setRegs({ rdx: 0x99n });
    const e1 = m.vcpu.run();
    expect(e1).toMatchObject({ reason: 'io', direction: 'in', port: 0x99, size: 1, count: 1 });
    if (e1.reason === 'io') e1.data[0] = 0x5a;
    const e2 = m.vcpu.run();
    expect(e2).toMatchObject({ reason: 'mmio', isWrite: true, physAddr: 0x38000n, len: 1 });
    if (e2.reason === 'mmio') expect(e2.data[0]).toBe(0x5a);
    expect(m.vcpu.run().reason).toBe('hlt');
  });

  it('INS completing through a page table that lies in MMIO ends in an emulation-failure exit, not a JS throw', () => {
    const sys = virtualSys({ arch: 'x86_64', runBudget: 1000 });
    const vm = Kvm.open(sys).createVm();
    const ram = sys.alloc(0x20000);
    const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset);
    dv.setUint32(0x4000, 0x5000 | 3, true); // PDE[0] -> page table in RAM
    for (let i = 0; i < 32; i++) dv.setUint32(0x5000 + 4 * i, (i << 12) | 3, true); // identity 0..128 KiB
    dv.setUint32(0x4004, 0x100000 | 3, true); // PDE[1] (4..8 MiB) -> a page table in MMIO
    ram.bytes.set([0xbf, 0x00, 0x00, 0x40, 0x00, 0x6c, 0xf4], 0x1000); // mov edi, 0x400000 ; insb ; hlt
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x20000, userspaceAddr: ram.hva });
    const vcpu = vm.createVcpu(0);
    enterMode(vcpu, 'prot32');
    vcpu.setSregs({ cr0: 0x80000011n, cr3: 0x4000n });
    vcpu.setRegs({ rip: 0x1000n, rsp: 0x8000n, rdx: 0x99n, rflags: 2n });
    expect(vcpu.run()).toMatchObject({ reason: 'io', direction: 'in', port: 0x99 });
    expect(vcpu.run()).toMatchObject({ reason: 'internal_error', suberror: 1 });
  });

  it('REP INS with a count of 2^31 or more reads ahead a page worth, not a negative count', () => {
    const sys = virtualSys({ arch: 'x86_64', runBudget: 1000 });
    const vm = Kvm.open(sys).createVm();
    const ram = sys.alloc(0x40000);
    ram.bytes.set([0xf3, 0x6c], 0x1000); // rep insb
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x40000, userspaceAddr: ram.hva });
    const vcpu = vm.createVcpu(0);
    enterMode(vcpu, 'prot32');
    vcpu.setRegs({ rip: 0x1000n, rsp: 0x8000n, rcx: 0x8000_0010n, rdi: 0x20000n, rdx: 0x99n, rflags: 2n });
    const e = vcpu.run();
    expect(e).toMatchObject({ reason: 'io', direction: 'in', size: 1, count: 1024 });
    if (e.reason === 'io') expect(e.data.length).toBe(1024);
  });

  it('KVM_TRANSLATE through page tables in unbacked or MMIO memory answers "not valid", never throws', () => {
    const m = realMode([0xf4]);
    // Protected mode with paging, CR3 pointing outside every memslot (MMIO), then into an unbacked slot.
    m.vcpu.setSregs({ cr0: 0x80000011n, cr3: 0x4000_0000n });
    const tr = () => {
      const b = S.kvm_translation.encode({ linear_address: 0x1234n });
      m.sys.ioctl(m.vcpu.fd, R('KVM_TRANSLATE'), b);
      return S.kvm_translation.decode(b);
    };
    expect(tr()).toMatchObject({ valid: 0, physical_address: 0xffff_ffff_ffff_ffffn });
    m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x4000_0000n, memorySize: 0x1000, userspaceAddr: 0x1000n }); // nothing mapped there
    expect(tr()).toMatchObject({ valid: 0 });
  });
});

describe('arm64 interpreter', () => {
  it('the run budget is honoured to the instruction, not per 64K-instruction poll', () => {
    // loop: add x0, x0, #1 ; b loop
    const m = armMachine(Uint8Array.of(0x00, 0x04, 0x00, 0x91, 0xff, 0xff, 0xff, 0x17), { runBudget: 1000 });
    expect(outcome(() => m.vcpu.run().reason)).toBe('ok:intr'); // EINTR
    const x0 = m.vcpu.getOneReg(reg.x(0));
    expect(x0).toBeGreaterThan(400n);
    expect(x0).toBeLessThanOrEqual(500n); // two instructions per iteration; it used to run 32768 iterations
  });
});

describe('memslot limits of the arch (kvm_arch_prepare_memory_region)', () => {
  it('arm64: a slot beyond the IPA space is EFAULT; a refused slot leaves its guest_memfd range unbound', () => {
    const sys = virtualSys({ arch: 'arm64' });
    const vm = Kvm.open(sys).createVm(32); // 4 GiB of IPA
    const set = (slot: number, gpa: bigint, size: bigint) => outcome(() => vm.setUserMemoryRegion({ slot, guestPhysAddr: gpa, memorySize: size, userspaceAddr: 0x1000_0000_0000n }));
    expect(set(0, 0xffff_f000n, 0x1000n)).toBe('ok:undefined');
    expect(set(1, 0x1_0000_0000n, 0x1000n)).toBe('EFAULT');
    expect(set(0, 0x1_0000_0000n, 0x1000n)).toBe('EFAULT'); // a move too
  });
});

describe.each(x86Backends)('generic ioctls on $name', (backend) => {
  const env = () => {
    const sys: Sys = backend.make();
    const kvm = Kvm.open(sys);
    const vm = kvm.createVm();
    return { sys, kvm, vm };
  };

  it('KVM_SET_SIGNAL_MASK(NULL) clears the mask (a NULL pointer reaches the kernel)', () => {
    const { sys, vm } = env();
    const vcpu = vm.createVcpu(0);
    expect(outcome(() => sys.ioctl(vcpu.fd, R('KVM_SET_SIGNAL_MASK'), 0))).toBe('ok:0');
    expect(outcome(() => sys.ioctl(vcpu.fd, R('KVM_SET_SIGNAL_MASK')))).toBe('ok:0');
    expect(outcome(() => sys.ioctl(vcpu.fd, R('KVM_GET_REGS'), 0))).toBe('EFAULT');
    vm.close();
  });

  it('a short argument buffer is EFAULT before the fd is looked at, on both backends', () => {
    const { sys, vm } = env();
    const fd = sys.ioctl(vm.fd, R('KVM_CREATE_VCPU'), 3);
    sys.close(fd);
    expect(outcome(() => sys.ioctl(fd, R('KVM_SET_SIGNAL_MASK'), new Uint8Array(2)))).toBe('EFAULT');
    expect(outcome(() => sys.ioctl(vm.fd, R('KVM_GET_REGS'), new Uint8Array(8)))).toBe('EFAULT');
    vm.close();
  });

  it('KVM_CLEAR_DIRTY_LOG of 0 pages copies nothing, so any bitmap pointer is fine', () => {
    const { sys, vm } = env();
    const ram = sys.alloc(0x10000);
    vm.enableCap(KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, [KVM_DIRTY_LOG.MANUAL_PROTECT_ENABLE]);
    vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: ram.hva });
    for (const ptr of [0n, 0x8000_0000_0000n]) {
      expect(outcome(() => sys.ioctl(vm.fd, R('KVM_CLEAR_DIRTY_LOG'), S.kvm_clear_dirty_log.encode({ slot: 0, num_pages: 0, first_page: 0n, dirty_bitmap: ptr })))).toBe('ok:0');
    }
    vm.close();
  });

  it('KVM_DIRTY_LOG_INITIALLY_SET sets exactly the slot\'s bits; KVM_CLEAR_DIRTY_LOG clears exactly the masked ones', () => {
    const { sys, vm } = env();
    const ram = sys.alloc(0x80000);
    const bitmap = sys.alloc(0x1000);
    vm.enableCap(KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, [KVM_DIRTY_LOG.MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG.INITIALLY_SET]);
    // 100 pages: words of 32 and 64 bits end in the middle.
    vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: 100 * 0x1000, userspaceAddr: ram.hva });
    const get = () => {
      bitmap.bytes.fill(0xee, 0, 32);
      sys.ioctl(vm.fd, R('KVM_GET_DIRTY_LOG'), S.kvm_dirty_log.encode({ slot: 0, dirty_bitmap: bitmap.hva }));
      return Buffer.from(bitmap.bytes.subarray(0, 32)).toString('hex');
    };
    expect(get()).toBe('ff'.repeat(12) + '0f' + '00'.repeat(3) + 'ee'.repeat(16)); // 100 bits, then the rest of 2 u64s
    // Clear pages 64..99 except 70 and 95, via a mask of 36 bits at first_page 64.
    const mask = sys.alloc(0x1000);
    mask.bytes.set([0xbf, 0xff, 0xff, 0x7f, 0x0f]);
    sys.ioctl(vm.fd, R('KVM_CLEAR_DIRTY_LOG'), S.kvm_clear_dirty_log.encode({ slot: 0, first_page: 64n, num_pages: 36, dirty_bitmap: mask.hva }));
    expect(get()).toBe('ff'.repeat(8) + '40000080' + '00000000' + 'ee'.repeat(16));
    vm.close();
  });

  it('guest_memfd of more than 4 GiB', () => {
    const { vm } = env();
    expect(outcome(() => vm.createGuestMemfd(1n << 40n))).toMatch(/^ok:/);
    vm.close();
  });
});

describe('virtual kernel', () => {
  it('closing a guest_memfd drops its reference to the VM (the VM is destroyed with its last file)', () => {
    const sys = virtualSys({ arch: 'x86_64' });
    const vm = Kvm.open(sys).createVm();
    const g = vm.createGuestMemfd(0x1000);
    const kvmVm = (kernelOf(sys)!.file(vm.fd) as { vm: { dead: boolean } }).vm;
    vm.close();
    expect(kvmVm.dead).toBe(false); // the guest_memfd still holds it
    sys.close(g);
    expect(kvmVm.dead).toBe(true);
  });
});
