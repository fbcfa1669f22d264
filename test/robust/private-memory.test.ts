/**
 * Issue 19 item 1: private memory stays private on every path to guest memory that is not the
 * guest's own. test/tdx/private.test.ts covers the VMM's memory, the vCPU area, guest_memfd,
 * the register ioctls, KVM_TRANSLATE on a TD and dirty logging; this file adds the paths that
 * leaked or were not checked:
 *   - KVMI (VM_READ_PHYSICAL/VM_WRITE_PHYSICAL leaked a TD's plaintext): hooking a TD is refused,
 *     and KVM_CHECK_EXTENSION(KVM_CAP_INTROSPECTION) is 0 on its VM fd;
 *   - every mapping of the process's address space, the trace, the TDX debug view;
 *   - the kernel's own readers (Vm.readGpa/writeGpa, the host page walks of KVM_TRANSLATE and
 *     KVMI translate-gva, KVMI physical access) on a VM whose private memory is hookable
 *     (KVM_X86_SW_PROTECTED_VM): they reach the shared backing, as kvm_read_guest does, never
 *     the private page.
 */
import { describe, expect, it } from 'vitest';
import { KVM_MEM, KVM_MEMORY_ATTRIBUTE, Kvm, KvmiClient, kvmiInProcessPair, kvmiSocketFd, virtualSys, x86_64, type Sys, type TraceEvent } from '../../src/index.js';
import { tdxModuleOf } from '../../src/arch/x86/tdx/index.js';
import { kernelOf } from '../../src/sys/virtual.js';
import { KVM_CAP_INTROSPECTION } from '../../src/uapi/kvmi.js';
import { KVM_X86_VM } from '../../src/uapi/x86.js';
import { enterMode } from '../helpers/x86.js';
import { errnoOf, tdFirmware, TestTd } from '../tdx/td.js';

const S = x86_64.structs;
const I = x86_64.ioctls;
/** What the TD guest (td-guest.asm) computes and stores into 16 KiB of private memory. */
const SECRET = new Uint8Array(new BigUint64Array([0x5ec2e75ec2e75ec2n]).buffer);

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0]!;
  for (let i = hay.indexOf(first); i >= 0 && i + needle.length <= hay.length; i = hay.indexOf(first, i + 1)) {
    let k = 1;
    while (k < needle.length && hay[i + k] === needle[k]) k++;
    if (k === needle.length) return true;
  }
  return false;
}

/** JSON of anything (bigints, byte arrays as hex), for searching the secret's hex in it. */
function flat(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString(16).padStart(16, '0') : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));
}
const SECRET_HEX = Buffer.from(SECRET).toString('hex');
const SECRET_LE = 0x5ec2e75ec2e75ec2n.toString(16);

/** A TD whose guest has put the secret into private memory (report 0xb0a). */
function tdWithSecret(sys: Sys): TestTd {
  const td = new TestTd(sys).build();
  for (let n = 0; n < 4; n++) expect(td.vcpus[0]!.run().reason).toBe('io');
  const f = kernelOf(sys)!.file(td.gmemFd);
  if (f?.kind !== 'guest_memfd') throw new Error('no guest_memfd');
  expect(contains(f.gmem.bytes.subarray(0x100000, 0x104000), SECRET)).toBe(true);
  return td;
}

function hook(sys: Sys, vmFd: number): string {
  const { kernel } = kvmiInProcessPair();
  const fd = kvmiSocketFd(sys, kernel);
  const b = new Uint8Array(24);
  new DataView(b.buffer).setInt32(0, fd, true);
  const r = errnoOf(() => sys.ioctl(vmFd, I.KVM_INTROSPECTION_HOOK!.request, b));
  sys.close(fd);
  return r;
}

describe('TD private memory and introspection (issue 19 item 1)', () => {
  it('KVMI is not offered on a TD: the capability is 0 and KVM_INTROSPECTION_HOOK is EOPNOTSUPP', () => {
    const sys = virtualSys();
    const td = tdWithSecret(sys);
    const kvm = sys.open('/dev/kvm');
    // The system fd still advertises KVMI (for VM types that support it)...
    expect(sys.ioctl(kvm, I.KVM_CHECK_EXTENSION!.request, KVM_CAP_INTROSPECTION)).toBeGreaterThan(0);
    // ... the TD's VM fd does not, and the hook is refused (before, VM_READ_PHYSICAL returned the plaintext).
    expect(td.vm.checkExtension(KVM_CAP_INTROSPECTION)).toBe(0);
    expect(hook(sys, td.vmFd)).toBe('EOPNOTSUPP');
    // ... at every stage of the TD's life.
    const early = new TestTd(sys, { upTo: 'vm' }).build();
    expect(hook(sys, early.vmFd)).toBe('EOPNOTSUPP');
    // A plain VM of the same Sys can still be hooked.
    const plain = Kvm.open(sys).createVm();
    expect(hook(sys, plain.fd)).toBe('');
  });

  it('no mapping of the process address space, no trace event and no debug-view field shows the secret', () => {
    const events: TraceEvent[] = [];
    const sys = virtualSys({ trace: (e) => events.push(e) });
    const td = tdWithSecret(sys);
    const v = td.vcpus[0]!;
    // Run on to the MapGPA hypercall: exits on the way are traced too.
    for (let e = v.run(); e.reason !== 'hypercall'; e = v.run()) if (e.reason === 'io' && e.direction === 'in') e.data.fill(1);
    // The firmware image the VMM supplied (public, measured) holds the constant the guest stores:
    // its source copy is the one mapping allowed to contain those bytes.
    const fw = tdFirmware();
    expect(contains(fw, SECRET)).toBe(true);
    const maps = kernelOf(sys)!.space.all().filter((m) => Buffer.compare(m.bytes.subarray(0, fw.length), fw) !== 0);
    expect(maps.length).toBe(kernelOf(sys)!.space.all().length - 1);
    for (const m of maps) expect([m.hva.toString(16), contains(m.bytes, SECRET)]).toEqual([m.hva.toString(16), false]);
    const trace = flat(events);
    expect(trace.length).toBeGreaterThan(1000);
    expect(trace.includes(SECRET_HEX) || trace.includes(SECRET_LE)).toBe(false);
    const dbg = tdxModuleOf(sys, td.vmFd)!;
    const view = flat({ state: dbg.state, stats: dbg.stats, kvm: dbg.kvm, events: dbg.events, mirror: dbg.mirrorGfns, sept: dbg.module.septCounts(), mrtd: dbg.module.mrtdValue });
    expect(view.includes(SECRET_HEX) || view.includes(SECRET_LE)).toBe(false);
  });

  it("the kernel's own readers (Vm.readGpa/writeGpa) see the shared backing of a TD's private gfn, never the private page", () => {
    const sys = virtualSys();
    const td = tdWithSecret(sys);
    const vm = kernelOf(sys)!.file(td.vmFd);
    if (vm?.kind !== 'vm') throw new Error('no vm');
    const out = new Uint8Array(0x4000);
    expect(vm.vm.readGpa(0x100000, out)).toBe(true);
    expect(contains(out, SECRET)).toBe(false);
    expect(out).toEqual(td.ram.bytes.subarray(0x100000, 0x104000));
    // A kernel-side write lands in the shared backing, not in the TD's page.
    expect(vm.vm.writeGpa(0x100000, new Uint8Array(8).fill(0xee))).toBe(true);
    expect(td.ram.bytes.subarray(0x100000, 0x100008).every((b) => b === 0xee)).toBe(true);
    const g = kernelOf(sys)!.file(td.gmemFd);
    if (g?.kind !== 'guest_memfd') throw new Error('no gmem');
    expect(contains(g.gmem.bytes.subarray(0x100000, 0x100008), SECRET)).toBe(true);
  });
});

/**
 * A KVM_X86_SW_PROTECTED_VM with 64 KiB at gpa 0 in a guest_memfd slot; gfns 4 and 5 private.
 * A real-mode guest writes a computed secret to 0x4000 and a 4 MiB page-directory entry to
 * 0x5000, both private, then halts.
 */
function swProtected(sys: Sys) {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm(KVM_X86_VM.SW_PROTECTED_VM);
  const shared = sys.alloc(0x10000);
  const gmem = vm.createGuestMemfd(0x10000);
  vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: shared.hva, guestMemfd: gmem, guestMemfdOffset: 0 });
  vm.setMemoryAttributes(0x4000, 0x2000, KVM_MEMORY_ATTRIBUTE.PRIVATE);
  // mov eax,0x12345678; xor eax,0x4cf6b1ba; mov [0x4000],eax; mov eax,0x0f0f0f0f; xor eax,0x51cde851;
  // mov [0x4004],eax; mov dword [0x5000],0x83; hlt   (operand-size prefixes: 16-bit code)
  const code = [0x66, 0xb8, 0x78, 0x56, 0x34, 0x12, 0x66, 0x35, 0xba, 0xb1, 0xf6, 0x4c, 0x66, 0xa3, 0x00, 0x40, 0x66, 0xb8, 0x0f, 0x0f, 0x0f, 0x0f, 0x66, 0x35, 0x51, 0xe8, 0xcd, 0x51, 0x66, 0xa3, 0x04, 0x40, 0x66, 0xc7, 0x06, 0x00, 0x50, 0x83, 0x00, 0x00, 0x00, 0xf4];
  shared.bytes.set(code, 0x1000);
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'real');
  vcpu.setRegs({ rip: 0x1000n, rsp: 0x8000n, rflags: 2n });
  expect(vcpu.run().reason).toBe('hlt');
  const f = kernelOf(sys)!.file(gmem);
  if (f?.kind !== 'guest_memfd') throw new Error('no gmem');
  const secret = Uint8Array.from(f.gmem.bytes.subarray(0x4000, 0x4008));
  // The guest computed it: not an immediate of its code, in private memory only.
  expect(new DataView(secret.buffer).getBigUint64(0, true)).toBe(0x5ec2e75e5ec2e7c2n);
  expect(contains(shared.bytes, secret)).toBe(false);
  expect(f.gmem.bytes[0x5000]).toBe(0x83);
  // 32-bit paging with CR3 at the private page-directory page.
  const sr = vcpu.getSregs();
  vcpu.setSregs({ cr0: sr.cr0 | 0x80000001n, cr3: 0x5000n, cr4: 0x10n /* PSE */ });
  return { kvm, vm, vcpu, shared, secret, gmem: f.gmem.bytes };
}

describe('private gfns of a hookable VM (KVM_X86_SW_PROTECTED_VM): host-side readers get the shared backing', () => {
  it('KVM_TRANSLATE walks the shared backing (no PDE there: invalid), not the private page table', () => {
    const sys = virtualSys();
    const { vcpu } = swProtected(sys);
    const tr = S.kvm_translation.encode({ linear_address: 0x1234n });
    sys.ioctl(vcpu.fd, I.KVM_TRANSLATE!.request, tr);
    expect(S.kvm_translation.decode(tr).valid).toBe(0);
  });

  it('KVMI VM_READ_PHYSICAL/VM_WRITE_PHYSICAL and VCPU_TRANSLATE_GVA never touch the private pages', async () => {
    const sys = virtualSys();
    const { vm, shared, secret, gmem } = swProtected(sys);
    const { kernel, tool } = kvmiInProcessPair();
    const fd = kvmiSocketFd(sys, kernel);
    const b = new Uint8Array(24);
    new DataView(b.buffer).setInt32(0, fd, true);
    sys.ioctl(vm.fd, I.KVM_INTROSPECTION_HOOK!.request, b);
    const allow = new Uint8Array(8);
    new DataView(allow.buffer).setUint32(0, 1, true);
    new DataView(allow.buffer).setInt32(4, -1, true);
    sys.ioctl(vm.fd, I.KVM_INTROSPECTION_COMMAND!.request, allow);
    const c = new KvmiClient(tool);
    const got = await c.readPhysical(0x4000, 8);
    expect(contains(got, secret)).toBe(false);
    expect(got).toEqual(shared.bytes.subarray(0x4000, 0x4008));
    await c.writePhysical(0x4000, new Uint8Array(8).fill(0xab));
    // The write went to the shared backing; the guest's private page still holds what it wrote.
    expect(shared.bytes.subarray(0x4000, 0x4008).every((x) => x === 0xab)).toBe(true);
    expect(gmem.subarray(0x4000, 0x4008)).toEqual(secret);
    expect(await c.translateGva(0, 0x1234)).toBe(0xffff_ffff_ffff_ffffn);
  });
});
