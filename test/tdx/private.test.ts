/**
 * The VMM never sees a TD's private data. The guest writes a secret into private pages and
 * keeps it in a register; the test then reads through every path a VMM has: its own memory
 * behind the memslots, the vCPU mmap area, mmap and ioctl on the guest_memfd, the register and
 * MSR ioctls, KVM_TRANSLATE, the exits, and the pages after they are converted to shared.
 */
import { describe, expect, it } from 'vitest';
import { KVM_MEM, virtualSys, x86_64 } from '../../src/index.js';
import { kernelOf } from '../../src/sys/virtual.js';
import { tdxModuleOf } from '../../src/arch/x86/tdx/index.js';
import { errnoOf, RAM_SIZE, TestTd } from './td.js';

const S = x86_64.structs;
const I = x86_64.ioctls;
/** The guest's secret (written with REP STOSQ into 0x100000-0x103fff, and left in RAX). */
const SECRET = new Uint8Array(new BigUint64Array([0x5ec2e75ec2e75ec2n]).buffer);

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}

describe('TDX: private memory stays private', () => {
  it('no VMM path shows the guest secret', () => {
    const sys = virtualSys();
    const td = new TestTd(sys).build();
    const v = td.vcpus[0]!;
    // Run the guest to the point where the secret is in 16 KiB of private memory (report 0xb0a).
    for (let n = 0; n < 4; n++) expect(v.run().reason).toBe('io');
    const dbg = tdxModuleOf(sys, td.vmFd)!;
    expect(dbg.module.septCounts().MAPPED).toBe(16 + 5);

    // The private pages really hold it (white box: the guest_memfd behind the TD).
    const k = kernelOf(sys)!;
    const gmemFile = k.file(td.gmemFd);
    if (gmemFile?.kind !== 'guest_memfd') throw new Error('no guest_memfd');
    const gmem = gmemFile.gmem.bytes;
    expect(contains(gmem.subarray(0x100000, 0x104000), SECRET)).toBe(true);

    // 1. The VMM's memory behind both memslots (the shared side).
    expect(contains(td.ram.bytes, SECRET)).toBe(false);
    expect(contains(td.fwShared.bytes, SECRET)).toBe(false);
    // 2. The vCPU mmap area (kvm_run, PIO page, coalesced MMIO page).
    expect(contains(v.area, SECRET)).toBe(false);
    // 3. guest_memfd: no mmap without GUEST_MEMFD_FLAG_MMAP (not offered for TDs), no ioctls.
    expect(errnoOf(() => sys.mmap(td.gmemFd, 4096, 0x100000))).toBe('ENODEV');
    expect(errnoOf(() => sys.ioctl(td.gmemFd, I.KVM_GET_REGS!.request, new Uint8Array(S.kvm_regs.size)))).toBe('ENOTTY');
    expect(errnoOf(() => td.vm.createGuestMemfd(4096, 1))).toBe('EINVAL'); // GUEST_MEMFD_FLAG_MMAP
    // 4. Registers (the secret is still in RAX after REP STOSQ): refused.
    for (const n of ['KVM_GET_REGS', 'KVM_GET_SREGS', 'KVM_GET_SREGS2', 'KVM_GET_FPU', 'KVM_GET_XCRS', 'KVM_GET_DEBUGREGS'] as const) {
      expect([n, errnoOf(() => sys.ioctl(v.fd, I[n]!.request, new Uint8Array((I[n]!.request >>> 16) & 0x3fff)))]).toEqual([n, 'EINVAL']);
    }
    // 5. MSRs: only KVM's own emulated copies; the guest's native MSRs (LSTAR, FS_BASE...) stop the scan.
    const msrs = v.getMsrs([0x1b, 0xc0000100, 0xc0000082]);
    expect([...msrs.keys()]).toEqual([0x1b]);
    expect(msrs.get(0x1b)).toBe(0xfee00d00n);
    // 6. KVM_TRANSLATE does not walk the TD's page tables (they are private).
    const tr = S.kvm_translation.encode({ linear_address: 0x40100000n });
    sys.ioctl(v.fd, I.KVM_TRANSLATE!.request, tr);
    expect(S.kvm_translation.decode(tr).physical_address).toBe(0x40100000n);
    // 7. No dirty logging of guest_memfd slots (a bitmap of private writes).
    expect(errnoOf(() => td.vm.setUserMemoryRegion2({ slot: 7, flags: KVM_MEM.GUEST_MEMFD | KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0x80000000, memorySize: 4096, userspaceAddr: td.buf.hva, guestMemfd: td.gmemFd, guestMemfdOffset: RAM_SIZE }))).toBe('EINVAL');

    // 8. Every exit on the way to MapGPA carries only what the guest chose to expose.
    let e = v.run();
    const exits: Uint8Array[] = [];
    while (e.reason !== 'hypercall') {
      exits.push(v.area.slice(0, 3 * 4096));
      if (e.reason === 'io' && e.direction === 'in') e.data.fill(1);
      e = v.run();
    }
    for (const x of exits) expect(contains(x, SECRET)).toBe(false);

    // 9. Converting to shared: KVM removes the pages from the Secure EPT and scrubs them; the VMM
    //    then sees its own (shared) memory, never the old private contents.
    expect(e.reason === 'hypercall' && e.args[0]).toBe(0x100000n);
    if (e.reason !== 'hypercall') return;
    td.vm.setMemoryAttributes(0x100000, 0x3000, 0);
    expect(contains(gmem.subarray(0x100000, 0x103000), SECRET)).toBe(false);
    expect(gmem.subarray(0x100000, 0x103000).every((b) => b === 0)).toBe(true);
    expect(contains(gmem.subarray(0x103000, 0x104000), SECRET)).toBe(true); // still private
    e.setRet(0n);
    v.run();
    expect(contains(td.ram.bytes, SECRET)).toBe(false);
    // ... and converting back to private gives the guest a zeroed page to accept, not the secret.
    td.vm.setMemoryAttributes(0x100000, 0x1000, 8);
    expect(dbg.module.septState(0x100)).toBeUndefined();
  });
});
