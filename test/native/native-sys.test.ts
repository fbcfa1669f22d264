/**
 * nativeSys() on the real /dev/kvm: a real-mode guest's exits decoded with the uapi layer, and the
 * kernel's errnos for bad input. Skips where /dev/kvm is absent.
 */
import { describe, expect, it } from 'vitest';
import { isNativeAvailable, nativeSys, KvmError, KVM_EXIT, KVM_EXIT_IO, KVM_API_VERSION, x86_64 } from '../../src/index.js';
import { guest } from '../helpers/guests.js';

const native = isNativeAvailable() && process.arch === 'x64';
const { ioctls: I, structs: S } = x86_64;

function errnoOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KvmError);
    return (e as KvmError).code;
  }
  return 'no error';
}

describe.skipIf(!native)('nativeSys on /dev/kvm', () => {
  it('runs a 16-bit real-mode guest: IO, IO, HLT', () => {
    const sys = nativeSys();
    const kvm = sys.open('/dev/kvm');
    expect(sys.ioctl(kvm, I.KVM_GET_API_VERSION!.request)).toBe(KVM_API_VERSION);
    const vm = sys.ioctl(kvm, I.KVM_CREATE_VM!.request, 0);
    const mem = sys.alloc(0x1000);
    mem.bytes.set(guest('x86/serial16.bin'));
    sys.ioctl(vm, I.KVM_SET_USER_MEMORY_REGION!.request, S.kvm_userspace_memory_region.encode({ slot: 0, guest_phys_addr: 0x1000, memory_size: 0x1000, userspace_addr: mem.hva }));
    const vcpu = sys.ioctl(vm, I.KVM_CREATE_VCPU!.request, 0);
    const mmapSize = sys.ioctl(kvm, I.KVM_GET_VCPU_MMAP_SIZE!.request);
    expect(mmapSize).toBeGreaterThanOrEqual(S.kvm_run.size);
    const runBytes = sys.mmap(vcpu, mmapSize);

    const sregs = S.kvm_sregs.alloc();
    sys.ioctl(vcpu, I.KVM_GET_SREGS!.request, sregs);
    const sv = S.kvm_sregs.view(sregs);
    expect(sv.cs.selector).toBe(0xf000); // reset state, read through the view
    sv.cs.base = 0n;
    sv.cs.selector = 0;
    sys.ioctl(vcpu, I.KVM_SET_SREGS!.request, sregs);
    sys.ioctl(vcpu, I.KVM_SET_REGS!.request, S.kvm_regs.encode({ rip: 0x1000, rax: 2, rbx: 2, rdx: 0x3f8, rflags: 2 }));

    const run = S.kvm_run.view(runBytes);
    const exits: unknown[] = [];
    for (;;) {
      sys.ioctl(vcpu, I.KVM_RUN!.request, 0);
      if (run.exit_reason === KVM_EXIT.IO) {
        const data = runBytes.subarray(Number(run.io.data_offset), Number(run.io.data_offset) + run.io.size * run.io.count);
        exits.push({ reason: 'IO', direction: run.io.direction, port: run.io.port, size: run.io.size, count: run.io.count, data: [...data] });
        continue;
      }
      exits.push({ reason: run.exit_reason === KVM_EXIT.HLT ? 'HLT' : run.exit_reason });
      break;
    }
    expect(exits).toEqual([
      { reason: 'IO', direction: KVM_EXIT_IO.OUT, port: 0x3f8, size: 1, count: 1, data: [0x34] },
      { reason: 'IO', direction: KVM_EXIT_IO.OUT, port: 0x3f8, size: 1, count: 1, data: [0x0a] },
      { reason: 'HLT' },
    ]);
    const regs = S.kvm_regs.alloc();
    sys.ioctl(vcpu, I.KVM_GET_REGS!.request, regs);
    expect(S.kvm_regs.decode(regs).rip).toBe(0x1009n);
    sys.munmap(runBytes);
    sys.munmap(mem.bytes);
    for (const fd of [vcpu, vm, kvm]) sys.close(fd);
  });

  it('answers bad input with the kernel errno, never a crash', () => {
    const sys = nativeSys();
    const kvm = sys.open('/dev/kvm');
    const vm = sys.ioctl(kvm, I.KVM_CREATE_VM!.request, 0);
    const vcpu = sys.ioctl(vm, I.KVM_CREATE_VCPU!.request, 0);
    // Unknown requests: the kernel's default answers per fd kind.
    expect(errnoOf(() => sys.ioctl(kvm, 0xae77))).toBe('EINVAL');
    expect(errnoOf(() => sys.ioctl(vm, 0xae77))).toBe('ENOTTY');
    expect(errnoOf(() => sys.ioctl(vcpu, 0xae77))).toBe('EINVAL');
    // Bad fds.
    expect(errnoOf(() => sys.ioctl(987654, I.KVM_GET_API_VERSION!.request))).toBe('EBADF');
    expect(errnoOf(() => sys.ioctl(-1, I.KVM_RUN!.request))).toBe('EBADF');
    // A short struct buffer is refused before the call.
    expect(errnoOf(() => sys.ioctl(vcpu, I.KVM_GET_REGS!.request, new Uint8Array(S.kvm_regs.size - 1)))).toBe('EFAULT');
    expect(errnoOf(() => sys.ioctl(vcpu, I.KVM_SET_SREGS!.request, 0))).toBe('EFAULT');
    // A flexible-array struct must hold the entries its count announces.
    const msrs = S.kvm_msrs.encode({ nmsrs: 4 });
    expect(errnoOf(() => sys.ioctl(vcpu, I.KVM_GET_MSRS!.request, msrs))).toBe('EFAULT');
    // Duplicate vCPU id and an invalid memslot flag come from the kernel itself.
    expect(errnoOf(() => sys.ioctl(vm, I.KVM_CREATE_VCPU!.request, 0))).toBe('EEXIST');
    expect(errnoOf(() => sys.ioctl(vm, I.KVM_SET_USER_MEMORY_REGION!.request, S.kvm_userspace_memory_region.encode({ flags: 1 << 15, memory_size: 0x1000 })))).toBe('EINVAL');
    expect(errnoOf(() => sys.open('/dev/this-does-not-exist'))).toBe('ENOENT');
    expect(errnoOf(() => sys.munmap(new Uint8Array(16)))).toBe('EINVAL');
    for (const fd of [vcpu, vm, kvm]) sys.close(fd);
    expect(errnoOf(() => sys.close(kvm))).toBe('EBADF');
  });

  it('allocates page-aligned anonymous memory shared with its byte view', () => {
    const sys = nativeSys();
    const m = sys.alloc(10000);
    expect(m.hva % 4096n).toBe(0n);
    expect(m.bytes.length).toBe(10000);
    expect(m.bytes.every((b) => b === 0)).toBe(true);
    m.bytes[9999] = 7;
    expect(m.bytes[9999]).toBe(7);
    sys.munmap(m.bytes);
  });
});
