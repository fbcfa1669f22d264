/**
 * How a TD's private memory goes away, and how KVM_RUN reports a private access it cannot back:
 *
 * - KVM_EXIT_MEMORY_FAULT comes with KVM_RUN = -1/EFAULT ("unique among all KVM exit reasons"),
 *   and the typed `run()` returns it as the 'memory_fault' exit.
 * - Closing the guest_memfd (kvm_gmem_release) zaps every private page it backs while the TD
 *   still holds its HKID: TDH.MEM.RANGE.BLOCK, TRACK, PAGE.REMOVE per page, contents cleared; the
 *   guest's next private access faults to userspace.
 * - KVM_TDX_TERMINATE_VM (6.18) kills the VM (EIO on every later VM and vCPU ioctl) and frees the
 *   HKID first, so the same pages are reclaimed with TDH.PHYMEM.PAGE.RECLAIM alone.
 */
import { describe, expect, it } from 'vitest';
import { KVM_EXIT, KVM_MEMORY_EXIT_FLAG, virtualSys, x86_64 } from '../../src/index.js';
import { kernelOf } from '../../src/sys/virtual.js';
import { tdxModuleOf } from '../../src/arch/x86/tdx/index.js';
import { KVM_TDX, KVM_TDX_CAP } from '../../src/uapi/x86.js';
import { errnoOf, RAM_SIZE, TestTd } from './td.js';

const I = x86_64.ioctls;
/** The guest's secret (REP STOSQ into 0x100000-0x103fff by the default scenario). */
const SECRET = 0x5ec2e75ec2e75ec2n;

function hasSecret(b: Uint8Array): boolean {
  const q = new BigUint64Array(b.buffer, b.byteOffset, Math.floor(b.length / 8));
  return q.includes(SECRET);
}

/** A TD run until the secret sits in 16 private pages (four IO exits of the default scenario). */
function runningTd() {
  const sys = virtualSys();
  const td = new TestTd(sys).build();
  for (let n = 0; n < 4; n++) expect(td.vcpus[0]!.run().reason).toBe('io');
  const dbg = tdxModuleOf(sys, td.vmFd)!;
  const file = kernelOf(sys)!.file(td.gmemFd);
  if (file?.kind !== 'guest_memfd') throw new Error('no guest_memfd');
  return { sys, td, dbg, gmemBytes: file.gmem.bytes };
}

describe('TDX: KVM_EXIT_MEMORY_FAULT is KVM_RUN = -1/EFAULT', () => {
  it('a private access without guest_memfd backing: EFAULT with the exit filled, and run() returns the exit', () => {
    const td = new TestTd(virtualSys(), { scenario: () => 3 }).build();
    const v = td.vcpus[0]!;
    expect(errnoOf(() => td.sys.ioctl(v.fd, I.KVM_RUN!.request, 0))).toBe('EFAULT');
    expect(v.kvmRun.exit_reason).toBe(KVM_EXIT.MEMORY_FAULT);
    expect(v.kvmRun.memory_fault.gpa).toBe(BigInt(RAM_SIZE));
    expect(v.run()).toEqual({ reason: 'memory_fault', exitReason: KVM_EXIT.MEMORY_FAULT, flags: BigInt(KVM_MEMORY_EXIT_FLAG.PRIVATE), gpa: BigInt(RAM_SIZE), size: 4096n });
  });
});

describe('TDX: closing the guest_memfd (kvm_gmem_release)', () => {
  it('zaps every private page it backs (BLOCK/TRACK/REMOVE, cleared), and the next private access is a memory fault', () => {
    const { sys, td, dbg, gmemBytes } = runningTd();
    const st = dbg.stats;
    const mapped = dbg.module.septCounts().MAPPED;
    expect(mapped).toBe(16 + 5);
    expect(hasSecret(gmemBytes)).toBe(true);
    const removed = st.pagesRemoved;
    const blocks = st.seamcalls.TDH_MEM_RANGE_BLOCK ?? 0;

    sys.close(td.gmemFd);
    expect(st.pagesRemoved - removed).toBe(mapped);
    expect((st.seamcalls.TDH_MEM_RANGE_BLOCK ?? 0) - blocks).toBe(mapped);
    expect(dbg.module.septCounts().MAPPED).toBe(0);
    expect(dbg.module.hkid).toBeGreaterThanOrEqual(0); // the TD keeps its key: this was the slow path
    expect(hasSecret(gmemBytes)).toBe(false); // tdx_clear_page

    // The TD lives on, but its code page is gone: the fetch is a private fault KVM cannot back.
    const v = td.vcpus[0]!;
    const rip = 0xffff0000n; // the firmware (private) region
    expect(errnoOf(() => sys.ioctl(v.fd, I.KVM_RUN!.request, 0))).toBe('EFAULT');
    const e = v.exit();
    expect(e.reason).toBe('memory_fault');
    if (e.reason === 'memory_fault') {
      expect(e.flags).toBe(BigInt(KVM_MEMORY_EXIT_FLAG.PRIVATE));
      expect(e.gpa & ~0xffffn).toBe(rip);
    }
    // Nothing can bring the pages back: KVM_TDX_INIT_MEM_REGION is over, the file is gone.
    expect(v.run().reason).toBe('memory_fault');
    td.vm.close();
    for (const x of td.vcpus) x.close();
    expect(dbg.module.opState).toBe('RECLAIMED');
  });
});

describe('TDX: KVM_TDX_TERMINATE_VM', () => {
  it('is advertised in KVM_TDX_CAPABILITIES.supported_caps', () => {
    const td = new TestTd(virtualSys(), { upTo: 'vm' }).build();
    expect(td.capabilities().caps.supported_caps).toBe(BigInt(KVM_TDX_CAP.TERMINATE_VM));
  });

  it('kills the VM (EIO everywhere), frees the HKID, and private pages are then reclaimed without REMOVE', () => {
    const { sys, td, dbg, gmemBytes } = runningTd();
    const st = dbg.stats;
    const mapped = dbg.module.septCounts().MAPPED;
    const removed = st.pagesRemoved;
    expect(errnoOf(() => td.vmCmd(KVM_TDX.TERMINATE_VM))).toBe('');
    expect(dbg.module.hkid).toBe(-1);
    expect(st.seamcalls.TDH_MNG_KEY_FREEID).toBe(1);

    // kvm_vm_dead: every VM and vCPU ioctl is EIO, KVM_TDX_TERMINATE_VM itself included.
    const v = td.vcpus[0]!;
    expect(errnoOf(() => td.vmCmd(KVM_TDX.TERMINATE_VM))).toBe('EIO');
    expect(errnoOf(() => td.vm.checkExtension(1))).toBe('EIO');
    expect(errnoOf(() => td.vm.createGuestMemfd(0x1000))).toBe('EIO');
    expect(errnoOf(() => sys.ioctl(v.fd, I.KVM_RUN!.request, 0))).toBe('EIO');
    expect(errnoOf(() => v.getMpState())).toBe('EIO');
    expect(errnoOf(() => v.run())).toBe('EIO');

    // Closing the guest_memfd now reclaims each page directly: no BLOCK/TRACK/REMOVE, no WBINVD.
    const wbinvd = st.wbinvd;
    sys.close(td.gmemFd);
    expect(st.pagesRemoved).toBe(removed);
    expect(st.wbinvd).toBe(wbinvd);
    expect(st.reclaimed.guest).toBe(mapped);
    expect(hasSecret(gmemBytes)).toBe(false);
    for (const x of td.vcpus) x.close();
    td.vm.close();
    expect(dbg.module.opState).toBe('RECLAIMED');
  });

  it('refuses hw_error set by userspace (EINVAL) and works on a TD that never ran', () => {
    const td = new TestTd(virtualSys(), { upTo: 'init_vm' }).build();
    const dbg = tdxModuleOf(td.sys, td.vmFd)!;
    expect(errnoOf(() => td.sys.ioctl(td.vmFd, I.KVM_MEMORY_ENCRYPT_OP!.request, x86_64.structs.kvm_tdx_cmd.encode({ id: KVM_TDX.TERMINATE_VM, hw_error: 1n })))).toBe('EINVAL');
    expect(errnoOf(() => td.vmCmd(KVM_TDX.TERMINATE_VM))).toBe('');
    expect(dbg.module.hkid).toBe(-1);
    expect(errnoOf(() => td.vm.createVcpu(0))).toBe('EIO');
  });
});
