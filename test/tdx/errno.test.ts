/**
 * Every ordering and errno rule of the TD API, in the kernel's order of checks (tdx.c, x86.c,
 * main.c): KVM_MEMORY_ENCRYPT_OP sub-commands, vCPU creation, the protected-state ioctls, KVM_RUN.
 */
import { describe, expect, it } from 'vitest';
import { isNativeAvailable, KVM_CAP, KVM_EXIT, KVM_MEM, KVM_MEMORY_ATTRIBUTE, KVM_MEMORY_EXIT_FLAG, Kvm, nativeSys, virtualSys, x86_64, type Sys } from '../../src/index.js';
import { tdxModuleOf } from '../../src/arch/x86/tdx/index.js';
import { KVM_TDX, KVM_X86_VM } from '../../src/uapi/x86.js';
import { errnoOf, RAM_SIZE, tdxCmd, TestTd } from './td.js';

const S = x86_64.structs;
const I = x86_64.ioctls;
const req = (n: keyof typeof I) => I[n]!.request;

const td = (opts: ConstructorParameters<typeof TestTd>[1] = {}) => new TestTd(virtualSys(), opts).build();

describe('TDX errno rules: the VM type and KVM_MEMORY_ENCRYPT_OP', () => {
  const backends: [string, () => Sys][] = [['virtual', () => virtualSys()]];
  if (isNativeAvailable()) backends.push(['native', () => nativeSys()]);
  it.each(backends)('%s: KVM_CREATE_VM(KVM_X86_TDX_VM) succeeds exactly when KVM_CAP_VM_TYPES has bit 5', (_, make) => {
    const sys = make();
    const kvm = Kvm.open(sys);
    const types = kvm.checkExtension(KVM_CAP.VM_TYPES);
    const err = errnoOf(() => sys.close(kvm.createVm(KVM_X86_VM.TDX_VM).fd));
    expect(err).toBe(types & (1 << KVM_X86_VM.TDX_VM) ? '' : 'EINVAL');
    if (_ === 'virtual') expect(types & (1 << KVM_X86_VM.TDX_VM)).toBeTruthy();
  });

  it('KVM_MEMORY_ENCRYPT_OP is ENOTTY on a VMX VM and EINVAL on a VMX vCPU', () => {
    const sys = virtualSys();
    const vm = Kvm.open(sys).createVm();
    expect(errnoOf(() => tdxCmd(sys, vm.fd, KVM_TDX.CAPABILITIES))).toBe('ENOTTY');
    const vcpu = vm.createVcpu(0);
    expect(errnoOf(() => tdxCmd(sys, vcpu.fd, KVM_TDX.INIT_VCPU))).toBe('EINVAL');
  });

  it('hw_error set by userspace, unknown ids and commands on the wrong fd are EINVAL', () => {
    const t = td({ upTo: 'vcpus' });
    const { sys } = t;
    expect(errnoOf(() => tdxCmd(sys, t.vmFd, KVM_TDX.CAPABILITIES, 0, 0, 1n))).toBe('EINVAL');
    expect(errnoOf(() => tdxCmd(sys, t.vcpus[0]!.fd, KVM_TDX.GET_CPUID, 0, 0, 1n))).toBe('EINVAL');
    expect(errnoOf(() => tdxCmd(sys, t.vmFd, KVM_TDX.INIT_VCPU))).toBe('EINVAL');
    expect(errnoOf(() => tdxCmd(sys, t.vmFd, KVM_TDX.INIT_MEM_REGION))).toBe('EINVAL');
    expect(errnoOf(() => tdxCmd(sys, t.vmFd, 99))).toBe('EINVAL');
    expect(errnoOf(() => tdxCmd(sys, t.vcpus[0]!.fd, KVM_TDX.CAPABILITIES))).toBe('EINVAL');
    expect(errnoOf(() => tdxCmd(sys, t.vcpus[0]!.fd, KVM_TDX.FINALIZE_VM))).toBe('EINVAL');
    // A struct shorter than kvm_tdx_cmd, or an unmapped data pointer, faults.
    expect(errnoOf(() => sys.ioctl(t.vmFd, req('KVM_MEMORY_ENCRYPT_OP'), new Uint8Array(16)))).toBe('EFAULT');
    expect(errnoOf(() => tdxCmd(sys, t.vmFd, KVM_TDX.CAPABILITIES, 0x1000n))).toBe('EFAULT');
  });
});

describe('TDX errno rules: KVM_TDX_CAPABILITIES and KVM_TDX_INIT_VM', () => {
  it('CAPABILITIES: flags EINVAL, too small cpuid E2BIG (nent untouched), then the module TD_CONF', () => {
    const t = td({ upTo: 'vm' });
    expect(errnoOf(() => t.vmCmd(KVM_TDX.CAPABILITIES, t.buf.hva, 1))).toBe('EINVAL');
    expect(errnoOf(() => t.capabilities(3))).toBe('E2BIG');
    expect(S.kvm_tdx_capabilities.view(t.buf.bytes).cpuid.nent).toBe(3);
    const { caps, entries } = t.capabilities(8);
    expect(caps.supported_attrs).toBe(1n << 28n); // SEPT_VE_DISABLE
    expect(caps.supported_xfam).toBe(3n);
    expect(caps.user_tdvmcallinfo_1_r11).toBe(2n); // SetupEventNotifyInterrupt goes to userspace
    expect(caps.kernel_tdvmcallinfo_1_r11).toBe(0n);
    expect(caps.cpuid.nent).toBe(4);
    expect(entries.find((e) => e.function === 0x80000008)!.eax >>> 16).toBe(0xff);
  });

  it('INIT_VM validates its argument in the kernel order', () => {
    const t = td({ upTo: 'vm' });
    const bad = (over: Parameters<TestTd['initVmArg']>[0], flags = 0) => errnoOf(() => t.vmCmd(KVM_TDX.INIT_VM, t.initVmArg(over), flags));
    expect(bad({}, 1)).toBe('EINVAL');
    expect(errnoOf(() => t.vmCmd(KVM_TDX.INIT_VM, 0x1000))).toBe('EFAULT');
    // nent > KVM_MAX_CPUID_ENTRIES: E2BIG before the entries are read.
    const b = t.initVmArg();
    S.kvm_tdx_init_vm.view(t.buf.bytes).cpuid.nent = 257;
    expect(errnoOf(() => t.vmCmd(KVM_TDX.INIT_VM, b))).toBe('E2BIG');
    expect(bad({ reserved0: 1n })).toBe('EINVAL');
    expect(bad({ padding: 1 })).toBe('EINVAL');
    expect(bad({ attributes: 1n })).toBe('EINVAL'); // DEBUG is not offered
    expect(bad({ xfam: 7n })).toBe('EINVAL'); // AVX is not offered
    expect(bad({ entries: [] })).toBe('EINVAL'); // no 0x80000008: no GPAW
    expect(bad({ gpaw: 40 })).toBe('EINVAL');
    expect(bad({ entries: [{ function: 0x80000008, eax: 48 << 16 }, { function: 0xd, index: 0 }] })).toBe('EINVAL'); // not configurable
    expect(bad({ entries: [{ function: 0x80000008, eax: 48 << 16 }, { function: 7, index: 0, ebx: 1 << 11 }] })).toBe('EINVAL'); // RTM
    const dbg = tdxModuleOf(t.sys, t.vmFd)!;
    expect(dbg.stats.seamcalls.TDH_MNG_CREATE).toBeUndefined(); // nothing reached the module yet
  });

  it('INIT_VM: a CPUID value the TDX module rejects is EINVAL with hw_error, and the TD can retry', () => {
    const t = td({ upTo: 'vm' });
    const dbg = tdxModuleOf(t.sys, t.vmFd)!;
    const first = dbg.module;
    // Leaf 1 ECX bit 0 (SSE3) is not configurable: TDH.MNG.INIT fails with TDX_OPERAND_INVALID.
    const arg = t.initVmArg({ entries: [{ function: 0x80000008, eax: 48 << 16 }, { function: 1, ecx: 1 }] });
    const cmd = S.kvm_tdx_cmd.encode({ id: KVM_TDX.INIT_VM, data: arg });
    expect(errnoOf(() => t.sys.ioctl(t.vmFd, req('KVM_MEMORY_ENCRYPT_OP'), cmd))).toBe('EINVAL');
    expect(S.kvm_tdx_cmd.decode(cmd).hw_error).toBe(0xc000010000000001n);
    // The failed TD was torn down (HKID freed, pages reclaimed) and INIT_VM works again.
    expect(first.opState).toBe('RECLAIMED');
    expect(first.stats.seamcalls.TDH_MNG_KEY_FREEID).toBe(1);
    t.vmCmd(KVM_TDX.INIT_VM, t.initVmArg({ entries: [{ function: 0x80000008, eax: 52 << 16 }, { function: 1, ecx: 1 << 23 }] }));
    expect(dbg.state).toBe('INITIALIZED');
    expect(dbg.sharedBit).toBe(51);
    expect(errnoOf(() => t.vmCmd(KVM_TDX.INIT_VM, t.initVmArg()))).toBe('EINVAL'); // only once
  });

  it('HKIDs are a platform resource: ENOSPC when exhausted, back after a TD is destroyed', () => {
    const sys = virtualSys();
    const tds: TestTd[] = [];
    for (let i = 0; i < 32; i++) tds.push(new TestTd(sys, { upTo: 'init_vm' }).build());
    const extra = new TestTd(sys, { upTo: 'vm' }).build();
    expect(errnoOf(() => extra.vmCmd(KVM_TDX.INIT_VM, extra.initVmArg()))).toBe('ENOSPC');
    tds[5]!.vm.close();
    extra.vmCmd(KVM_TDX.INIT_VM, extra.initVmArg());
    expect(tdxModuleOf(sys, extra.vmFd)!.module.hkid).toBeGreaterThanOrEqual(32);
  });
});

describe('TDX errno rules: vCPUs', () => {
  it('KVM_CREATE_VCPU: EIO before INIT_VM, EINVAL without a split irqchip, EIO after finalize', () => {
    const t = td({ upTo: 'vm' });
    expect(errnoOf(() => t.vm.createVcpu(0))).toBe('EIO');
    const n = td({ upTo: 'init_vm', noSplitIrqchip: true });
    expect(errnoOf(() => n.vm.createVcpu(0))).toBe('EINVAL');
    const f = td();
    expect(errnoOf(() => f.vm.createVcpu(5))).toBe('EIO');
  });

  it('KVM_CAP_SPLIT_IRQCHIP: routes limit, only once, only before vCPUs', () => {
    const t = new TestTd(virtualSys(), { upTo: 'vm', noSplitIrqchip: true }).build();
    expect(t.vm.checkExtension(KVM_CAP.SPLIT_IRQCHIP)).toBe(1);
    expect(errnoOf(() => t.vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, [4097]))).toBe('EINVAL');
    t.vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, [24]);
    expect(errnoOf(() => t.vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, [24]))).toBe('EEXIST');
  });

  it('INIT_VCPU: flags EINVAL, only once', () => {
    const t = td({ upTo: 'init_vm' });
    const v = t.vm.createVcpu(0);
    t.vcpus.push(v);
    expect(errnoOf(() => t.vcpuCmd(0, KVM_TDX.INIT_VCPU, 0, 1))).toBe('EINVAL');
    t.vcpuCmd(0, KVM_TDX.INIT_VCPU, 7);
    expect(errnoOf(() => t.vcpuCmd(0, KVM_TDX.INIT_VCPU, 7))).toBe('EINVAL');
  });

  it('GET_CPUID: E2BIG updates nent; the module-virtualized CPUID with GPAW in 0x80000008.EAX[23:16]', () => {
    const t = td({ upTo: 'vcpus' });
    const b = t.buf.bytes;
    new DataView(b.buffer, b.byteOffset).setUint32(0, 2, true);
    expect(errnoOf(() => t.vcpuCmd(0, KVM_TDX.GET_CPUID, t.buf.hva))).toBe('E2BIG');
    const n = new DataView(b.buffer, b.byteOffset).getUint32(0, true);
    expect(n).toBeGreaterThan(2);
    t.vcpuCmd(0, KVM_TDX.GET_CPUID, t.buf.hva);
    const ents = Array.from({ length: n }, (_, i) => S.kvm_cpuid_entry2.decode(b, 8 + 40 * i));
    expect(ents.find((e) => e.function === 0x80000008)!.eax >>> 16).toBe(48);
    expect(ents.some((e) => e.function === 0x40000000)).toBe(false);
    expect(ents.find((e) => e.function === 0)!.ebx).toBe(0x756e6547); // "Genu"
  });

  it('the protected vCPU state: register ioctls are EINVAL on a TD vCPU', () => {
    const t = td({ upTo: 'vcpus' });
    const fd = t.vcpus[0]!.fd;
    const names = ['KVM_GET_REGS', 'KVM_SET_REGS', 'KVM_GET_SREGS', 'KVM_SET_SREGS', 'KVM_GET_SREGS2', 'KVM_SET_SREGS2', 'KVM_GET_FPU', 'KVM_SET_FPU', 'KVM_GET_DEBUGREGS', 'KVM_SET_DEBUGREGS', 'KVM_GET_XCRS', 'KVM_SET_XCRS', 'KVM_GET_XSAVE', 'KVM_SET_XSAVE', 'KVM_GET_XSAVE2'] as const;
    for (const n of names) {
      const size = (I[n]!.request >>> 16) & 0x3fff;
      expect([n, errnoOf(() => t.sys.ioctl(fd, req(n), new Uint8Array(size)))]).toEqual([n, 'EINVAL']);
    }
    // KVM cannot see the TD's paging: KVM_TRANSLATE answers as with paging off.
    const tr = S.kvm_translation.encode({ linear_address: 0x40100000n });
    t.sys.ioctl(fd, req('KVM_TRANSLATE'), tr);
    expect(S.kvm_translation.decode(tr)).toMatchObject({ physical_address: 0x40100000n, valid: 1 });
  });
});

describe('TDX errno rules: initial memory, finalize and KVM_RUN', () => {
  it('INIT_MEM_REGION: vCPU initialized, flags, alignment, private range, attributes, memslot, source', () => {
    const t = td({ upTo: 'vcpus' });
    const src = t.sys.alloc(0x4000);
    // A vCPU that has not had KVM_TDX_INIT_VCPU.
    const raw = t.vm.createVcpu(3);
    const region = t.buf.bytes.subarray(0x10000);
    region.set(S.kvm_tdx_init_mem_region.encode({ source_addr: src.hva, gpa: 0x1000n, nr_pages: 1n }));
    expect(errnoOf(() => tdxCmd(t.sys, raw.fd, KVM_TDX.INIT_MEM_REGION, t.buf.hva + 0x10000n))).toBe('EINVAL');
    // Memory not set up yet: no guest_memfd memslot.
    expect(errnoOf(() => t.initMemRegion(0, src.hva, 0x1000n, 1, false))).toBe('EINVAL');
    t.addMemory();
    expect(errnoOf(() => t.vcpuCmd(0, KVM_TDX.INIT_MEM_REGION, t.buf.hva + 0x10000n, 2))).toBe('EINVAL'); // flags
    expect(errnoOf(() => t.initMemRegion(0, src.hva + 8n, 0x1000n, 1, false))).toBe('EINVAL');
    expect(errnoOf(() => t.initMemRegion(0, src.hva, 0x1008n, 1, false))).toBe('EINVAL');
    expect(errnoOf(() => t.initMemRegion(0, src.hva, 0x1000n, 0, false))).toBe('EINVAL');
    expect(errnoOf(() => t.initMemRegion(0, src.hva, (1n << 47n) | 0x1000n, 1, false))).toBe('EINVAL'); // shared GPA
    // Shared attributes: EINVAL from kvm_gmem_populate, and the region is written back unchanged.
    t.vm.setMemoryAttributes(0x8000, 0x1000, 0);
    expect(errnoOf(() => t.initMemRegion(0, src.hva, 0x8000n, 1, false))).toBe('EINVAL');
    expect(t.lastRegion).toMatchObject({ gpa: 0x8000n, nr_pages: 1n });
    expect(errnoOf(() => t.initMemRegion(0, 0x10000n, 0x1000n, 1, false))).toBe('EFAULT'); // unmapped source
    // Partial progress is written back: two pages go in, the third was already added.
    t.initMemRegion(0, src.hva, 0x2000n, 2, false);
    expect(errnoOf(() => t.initMemRegion(0, src.hva, 0x0n, 3, false))).toBe('EEXIST');
    expect(t.lastRegion).toMatchObject({ gpa: 0x2000n, nr_pages: 1n, source_addr: src.hva + 0x2000n });
  });

  it('FINALIZE, then no more initial memory, vCPU commands or vCPUs; KVM_RUN needs finalize and INIT_VCPU', () => {
    const t = td({ upTo: 'memory', vcpus: 1 });
    const lazy = t.vm.createVcpu(1); // never KVM_TDX_INIT_VCPU'd
    expect(errnoOf(() => t.vcpus[0]!.run())).toBe('EINVAL'); // before finalize
    t.vmCmd(KVM_TDX.FINALIZE_VM);
    expect(errnoOf(() => t.vmCmd(KVM_TDX.FINALIZE_VM))).toBe('EINVAL');
    const src = t.sys.alloc(0x1000);
    expect(errnoOf(() => t.initMemRegion(0, src.hva, 0x5000n, 1, false))).toBe('EINVAL');
    expect(errnoOf(() => t.vcpuCmd(0, KVM_TDX.GET_CPUID, t.buf.hva))).toBe('EINVAL');
    expect(errnoOf(() => tdxCmd(t.sys, lazy.fd, KVM_TDX.INIT_VCPU))).toBe('EINVAL');
    expect(errnoOf(() => lazy.run())).toBe('EINVAL');
    expect(t.vcpus[0]!.run().reason).toBe('io');
  });

  it('memslots of a TD: no read-only memory', () => {
    const t = td({ upTo: 'init_vm' });
    expect(t.vm.checkExtension(KVM_CAP.READONLY_MEM)).toBe(0);
    const mem = t.sys.alloc(0x1000);
    expect(errnoOf(() => t.vm.setUserMemoryRegion({ slot: 5, flags: KVM_MEM.READONLY, guestPhysAddr: 0x10000000, memorySize: 0x1000, userspaceAddr: mem.hva }))).toBe('EINVAL');
  });
});

describe('TDX: guest accesses KVM refuses', () => {
  it('a private GPA without a guest_memfd memslot is KVM_EXIT_MEMORY_FAULT, whatever its attributes', () => {
    const t = td({ scenario: () => 3 });
    const v = t.vcpus[0]!;
    let e = v.run();
    expect(e).toMatchObject({ reason: 'memory_fault', flags: BigInt(KVM_MEMORY_EXIT_FLAG.PRIVATE), gpa: BigInt(RAM_SIZE), size: 4096n });
    t.vm.setMemoryAttributes(RAM_SIZE, 0x1000, KVM_MEMORY_ATTRIBUTE.PRIVATE);
    e = v.run();
    expect(e).toMatchObject({ reason: 'memory_fault', flags: BigInt(KVM_MEMORY_EXIT_FLAG.PRIVATE), gpa: BigInt(RAM_SIZE) });
    expect(v.kvmRun.exit_reason).toBe(KVM_EXIT.MEMORY_FAULT);
  });

  it('with SEPT_VE_DISABLE, touching a page before accepting it kills the VM (EIO)', () => {
    const t = td({ attributes: 1n << 28n, scenario: () => 2 });
    const dbg = tdxModuleOf(t.sys, t.vmFd)!;
    expect(errnoOf(() => t.vcpus[0]!.run())).toBe('EIO');
    expect(dbg.dead).toBe(true);
    expect(dbg.module.septState(0x180)).toBe('PENDING'); // KVM mapped it; the guest never accepted it
    expect(errnoOf(() => t.vcpus[0]!.run())).toBe('EIO');
    expect(errnoOf(() => t.vmCmd(KVM_TDX.CAPABILITIES, t.buf.hva))).toBe('EIO');
    expect(errnoOf(() => t.vcpus[0]!.getMpState())).toBe('EIO');
  });

  it('without SEPT_VE_DISABLE the same access is a #VE the guest handles (no VM death)', () => {
    const t = td({ scenario: () => 2 });
    const dbg = tdxModuleOf(t.sys, t.vmFd)!;
    // The guest accepts the page in its #VE handler, reads 0 and then reports "fail" (0xfa11).
    const e = t.vcpus[0]!.run();
    expect(e).toMatchObject({ reason: 'system_event' });
    expect(dbg.dead).toBe(false);
    expect(dbg.kvm.ve[48]).toBe(1);
  });

  it('TDCALL outside a TD is #UD', async () => {
    // Real mode: IVT[6] -> 0:0x9000 (OUT 0x10, AL); the TDCALL at 0x8000 raises #UD.
    const sys = virtualSys();
    const vm = Kvm.open(sys).createVm();
    const mem = sys.alloc(0x10000);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: mem.hva });
    mem.bytes.set([0x66, 0x0f, 0x01, 0xcc], 0x8000);
    mem.bytes.set([0xe6, 0x10, 0xf4], 0x9000);
    new DataView(mem.bytes.buffer, mem.bytes.byteOffset).setUint32(6 * 4, 0x9000, true);
    const v = vm.createVcpu(0);
    const sr = v.getSregs();
    v.setSregs({ cs: { ...sr.cs, base: 0n, selector: 0 } });
    v.setRegs({ rip: 0x8000n, rsp: 0x7000n, rflags: 2n });
    const e = v.run();
    expect(e).toMatchObject({ reason: 'io', port: 0x10, direction: 'out' });
  });
});
