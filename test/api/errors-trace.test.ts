/**
 * What a VMM author reads when something fails or is traced: errors name the ioctl (and open
 * errors the path), and the trace shows what a read ioctl returned rather than the buffer passed in.
 */
import { describe, expect, it } from 'vitest';
import { isKvmError, Kvm, KvmError, virtualSys, x86_64, type TraceEvent } from '../../src/index.js';

function caught(f: () => unknown): KvmError {
  try {
    f();
  } catch (e) {
    if (e instanceof KvmError) return e;
    throw e;
  }
  throw new Error('did not fail');
}

describe('KvmError names the call', () => {
  it('an ioctl error names the ioctl, its request number and the fd', () => {
    const sys = virtualSys();
    const vcpu = Kvm.open(sys).createVm().createVcpu(0);
    const e = caught(() => vcpu.setSregs({ cr0: 1n << 32n }));
    expect(e.code).toBe('EINVAL');
    expect(e.ioctl).toBe('KVM_SET_SREGS');
    expect(e.request).toBe(x86_64.ioctls.KVM_SET_SREGS!.request);
    expect(e.message).toMatch(new RegExp(`^EINVAL: .*, ioctl KVM_SET_SREGS \\(request 0x4138ae84, fd ${vcpu.fd}\\)$`));
  });

  it('errors raised deep in KVM_RUN name KVM_RUN too', () => {
    const sys = virtualSys();
    const vcpu = Kvm.open(sys).createVm().createVcpu(0);
    vcpu.immediateExit = true;
    const e = caught(() => sys.ioctl(vcpu.fd, x86_64.ioctls.KVM_RUN!.request, 0));
    expect(e.code).toBe('EINTR');
    expect(e.ioctl).toBe('KVM_RUN');
    expect(e.fd).toBe(vcpu.fd);
    expect(e.message).toMatch(/ioctl KVM_RUN \(request 0xae80, fd \d+\)$/);
  });

  it('an unknown request still shows its number', () => {
    const sys = virtualSys();
    const kvm = Kvm.open(sys);
    const e = caught(() => sys.ioctl(kvm.fd, 0xae77));
    expect(e.ioctl).toBeUndefined();
    expect(e.message).toMatch(/ioctl request \(0xae77, fd \d+\)$/);
  });

  it('an open error names the path, as Node fs errors do', () => {
    const e = caught(() => virtualSys().open('/dev/kvm-missing'));
    expect(isKvmError(e, 'ENOENT')).toBe(true);
    expect(e.path).toBe('/dev/kvm-missing');
    expect(e.message).toMatch(/^ENOENT: .*, open '\/dev\/kvm-missing'$/);
  });
});

describe('the trace of read ioctls', () => {
  it('KVM_GET_REGS shows the registers the kernel returned, not the zeroed buffer passed in', () => {
    const events: TraceEvent[] = [];
    const sys = virtualSys({ trace: (e) => events.push(e) });
    const vcpu = Kvm.open(sys).createVm().createVcpu(0);
    vcpu.setRegs({ rax: 42n });
    events.length = 0;
    expect(vcpu.getRegs().rax).toBe(42n);
    const get = events.find((e) => e.type === 'ioctl' && e.name === 'KVM_GET_REGS');
    expect(get?.type === 'ioctl' && get.arg).toMatchObject({ rax: 42n });
  });

  it('an _IOWR ioctl shows its input in arg and what came back in out', () => {
    const events: TraceEvent[] = [];
    const sys = virtualSys({ trace: (e) => events.push(e) });
    const vcpu = Kvm.open(sys).createVm().createVcpu(0);
    vcpu.setMsrs([[0x174, 0x10n]]); // IA32_SYSENTER_CS
    events.length = 0;
    expect(vcpu.getMsrs([0x174]).get(0x174)).toBe(0x10n);
    const get = events.find((e) => e.type === 'ioctl' && e.name === 'KVM_GET_MSRS');
    if (get?.type !== 'ioctl') throw new Error('no KVM_GET_MSRS event');
    expect(get.arg).toMatchObject({ nmsrs: 1, entries: [{ index: 0x174, data: 0n }] });
    expect(get.out).toMatchObject({ nmsrs: 1, entries: [{ index: 0x174, data: 0x10n }] });
  });
});
