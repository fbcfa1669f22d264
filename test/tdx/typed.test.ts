/** The typed TDX helpers (`TdxVm`): the sub-commands as methods, capabilities decoded, hw_error on failure. */
import { describe, expect, it } from 'vitest';
import { Kvm, KVM_CAP, KvmError, TdxVm, tdAttributeNames, virtualSys, x86_64, xfamNames } from '../../src/index.js';
import { TestTd } from './td.js';

describe('TdxVm', () => {
  it('capabilities() decodes KVM_TDX_CAPABILITIES as the raw ioctl returns it', () => {
    const sys = virtualSys();
    const vm = Kvm.open(sys).createVm(x86_64.KVM_X86_VM.TDX_VM);
    const caps = new TdxVm(vm).capabilities();
    const raw = new TestTd(sys, { upTo: 'vm' }).build().capabilities(16);
    expect(caps.supportedAttrs).toBe(raw.caps.supported_attrs);
    expect(caps.attributes).toEqual(['SEPT_VE_DISABLE']);
    expect(caps.supportedXfam).toBe(raw.caps.supported_xfam);
    expect(caps.xfam).toEqual(xfamNames(raw.caps.supported_xfam));
    expect(caps.terminateVm).toBe(true);
    expect(caps.cpuid).toEqual(raw.entries);
    expect(caps.userTdvmcallinfo.r11).toBe(raw.caps.user_tdvmcallinfo_1_r11);
  });

  it('decodes attribute and XFAM bits by name, unknown bits as bit<n>', () => {
    expect(tdAttributeNames((1n << 28n) | 1n | (1n << 5n))).toEqual(['DEBUG', 'bit5', 'SEPT_VE_DISABLE']);
    expect(xfamNames(0x60007n)).toEqual(['X87', 'SSE', 'AVX', 'AMX_TILECFG', 'AMX_TILEDATA']);
  });

  it('drives a TD to a run, and a failed sub-command carries hw_error', () => {
    const sys = virtualSys();
    const kvm = Kvm.open(sys);
    const vm = kvm.createVm(x86_64.KVM_X86_VM.TDX_VM);
    const td = new TdxVm(vm);
    let err: unknown;
    try {
      td.finalize(); // before KVM_TDX_INIT_VM
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KvmError);
    expect((err as KvmError).code).toBe('EINVAL');
    expect((err as KvmError & { hwError: bigint }).hwError).toBe(0n);
    expect((err as KvmError).ioctl).toBe('KVM_MEMORY_ENCRYPT_OP');
    vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, [24]);
    td.initVm({ xfam: 3n, cpuid: [{ function: 0x80000008, eax: 48 << 16 }] });
    const vcpu = vm.createVcpu(0);
    td.initVcpu(vcpu, 0);
    expect(td.getCpuid(vcpu).some((e) => e.function === 0x80000008 && ((e.eax >>> 16) & 0xff) === 48)).toBe(true);
  });
});
