/**
 * Fault injection and trace, used the way a VMM author would: drive the VMM's error paths, then
 * read back what happened.
 */
import { describe, expect, it } from 'vitest';
import { nullArch } from '../../src/kernel/null-arch.js';
import { isKvmError, Kvm, KvmError, virtualSys, type FaultRule, type TraceEvent, type Vcpu } from '../../src/index.js';

/** A VMM's run loop with the usual error policy: run again after 'intr' (EINTR) and EAGAIN, give up on anything else. */
function runToHalt(vcpu: Vcpu, log: string[]): 'halted' | string {
  for (let i = 0; i < 10; i++) {
    try {
      const e = vcpu.run();
      log.push(e.reason);
      if (e.reason === 'hlt') return 'halted';
    } catch (err) {
      if (isKvmError(err, 'EAGAIN')) {
        log.push(`retry:${(err as KvmError).code}`);
        continue;
      }
      return `failed:${(err as KvmError).code}`;
    }
  }
  return 'gave up';
}

/** A VMM's setup: create the VM and vCPU, reporting a clean error instead of crashing. */
function boot(faults: FaultRule[], trace?: (e: TraceEvent) => void) {
  const sys = virtualSys({ archBackend: nullArch, faults, ...(trace ? { trace } : {}) });
  try {
    const kvm = Kvm.open(sys);
    const vm = kvm.createVm();
    const mem = sys.alloc(0x4000);
    mem.bytes.set([0x02, 0xf8, 0x03, 0x41, 0x00], 0x1000); // out 0x3f8, 'A'; hlt
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x4000, userspaceAddr: mem.hva });
    const vcpu = vm.createVcpu(0);
    vcpu.setRegs({ rip: 0x1000n });
    return { ok: true as const, vcpu };
  } catch (err) {
    return { ok: false as const, error: (err as KvmError).code };
  }
}

describe('fault injection', () => {
  it('makes the 2nd KVM_RUN fail with EINTR, and the VMM retries', () => {
    const b = boot([{ ioctl: 'KVM_RUN', nth: 2, errno: 'EINTR' }]);
    expect(b.ok).toBe(true);
    const log: string[] = [];
    expect(runToHalt(b.ok ? b.vcpu : (null as never), log)).toBe('halted');
    expect(log).toEqual(['io', 'intr', 'hlt']);
  });

  it('an injected EINTR from KVM_RUN sets kvm_run.exit_reason = KVM_EXIT_INTR, as a signal does', () => {
    const b = boot([{ ioctl: 'KVM_RUN', nth: 2, errno: 'EINTR' }]);
    const vcpu = b.ok ? b.vcpu : (null as never);
    expect(vcpu.run().reason).toBe('io');
    expect(vcpu.kvmRun.exit_reason).toBe(2); // KVM_EXIT_IO
    let code = '';
    try {
      vcpu.vm.sys.ioctl(vcpu.fd, vcpu.vm.kvm.req('KVM_RUN'), 0);
    } catch (e) {
      code = (e as KvmError).code;
    }
    expect(code).toBe('EINTR');
    expect(vcpu.kvmRun.exit_reason).toBe(10); // KVM_EXIT_INTR, not the stale KVM_EXIT_IO
    expect(vcpu.exit().reason).toBe('intr');
  });

  it('an injected error other than EINTR leaves kvm_run alone', () => {
    const b = boot([{ ioctl: 'KVM_RUN', nth: 2, errno: 'EFAULT' }]);
    const vcpu = b.ok ? b.vcpu : (null as never);
    expect(vcpu.run().reason).toBe('io');
    expect(() => vcpu.run()).toThrow(/EFAULT/);
    expect(vcpu.kvmRun.exit_reason).toBe(2);
  });

  it('fails several calls in a row with `times`', () => {
    const b = boot([{ ioctl: 'KVM_RUN', nth: 1, errno: 'EAGAIN', times: 3 }]);
    const log: string[] = [];
    expect(runToHalt(b.ok ? b.vcpu : (null as never), log)).toBe('halted');
    expect(log).toEqual(['retry:EAGAIN', 'retry:EAGAIN', 'retry:EAGAIN', 'io', 'hlt']);
  });

  it('drives the VMM error path for ENOMEM at vCPU creation', () => {
    expect(boot([{ ioctl: 'KVM_CREATE_VCPU', nth: 1, errno: 'ENOMEM' }])).toEqual({ ok: false, error: 'ENOMEM' });
  });

  it('drives the error path for EFAULT on KVM_RUN: the VMM gives up', () => {
    const b = boot([{ ioctl: 'KVM_RUN', nth: 1, errno: 'EFAULT' }]);
    expect(runToHalt(b.ok ? b.vcpu : (null as never), [])).toBe('failed:EFAULT');
  });

  it('accepts request numbers as well as names, and leaves other ioctls alone', () => {
    const sys = virtualSys({ archBackend: nullArch, faults: [{ ioctl: 0xae00, nth: 2, errno: 'EIO' }] });
    const kvm = Kvm.open(sys);
    expect(kvm.apiVersion()).toBe(12);
    expect(() => kvm.apiVersion()).toThrow(KvmError);
    expect(kvm.apiVersion()).toBe(12);
    expect(kvm.checkExtension(3)).toBe(1);
  });

  it('rejects rules that cannot match', () => {
    expect(() => virtualSys({ faults: [{ ioctl: 'KVM_NOT_A_THING', nth: 1, errno: 'EINTR' }] })).toThrow(/unknown ioctl/);
    expect(() => virtualSys({ faults: [{ ioctl: 'KVM_RUN', nth: 0, errno: 'EINTR' }] })).toThrow(/nth/);
  });
});

describe('trace', () => {
  it('records every ioctl with its decoded argument and result, and every exit', () => {
    const events: TraceEvent[] = [];
    const b = boot([{ ioctl: 'KVM_RUN', nth: 2, errno: 'EINTR' }], (e) => events.push(e));
    runToHalt(b.ok ? b.vcpu : (null as never), []);
    const ioctls = events.filter((e) => e.type === 'ioctl');
    expect(ioctls.map((e) => e.type === 'ioctl' && e.name)).toEqual([
      'KVM_CREATE_VM',
      'KVM_SET_USER_MEMORY_REGION',
      'KVM_CREATE_VCPU',
      'KVM_GET_VCPU_MMAP_SIZE',
      'KVM_GET_REGS',
      'KVM_SET_REGS',
      'KVM_RUN',
      'KVM_RUN',
      'KVM_RUN',
    ]);
    const region = ioctls[1]!;
    expect(region.type === 'ioctl' && region.fdKind).toBe('vm');
    expect(region.type === 'ioctl' && region.arg).toMatchObject({ slot: 0, guest_phys_addr: 0n, memory_size: 0x4000n });
    const runs = ioctls.filter((e) => e.type === 'ioctl' && e.name === 'KVM_RUN');
    expect(runs.map((e) => e.type === 'ioctl' && (e.error ?? e.result))).toEqual([0, 'EINTR', 0]);
    expect(runs[1]!.type === 'ioctl' && runs[1]!.injected).toBe(true);
    const exits = events.filter((e) => e.type === 'exit');
    expect(exits.map((e) => e.type === 'exit' && e.reason)).toEqual(['IO', 'HLT']);
    expect(exits[0]!.type === 'exit' && exits[0]!.detail).toMatchObject({ direction: 1, port: 0x3f8, size: 1, count: 1 });
  });

  it('records failures with their errno', () => {
    const events: TraceEvent[] = [];
    const sys = virtualSys({ archBackend: nullArch, trace: (e) => events.push(e) });
    expect(() => sys.ioctl(1234, 0xae00)).toThrow(KvmError);
    expect(events).toEqual([expect.objectContaining({ type: 'ioctl', fd: 1234, fdKind: 'bad', name: 'KVM_GET_API_VERSION', error: 'EBADF' })]);
  });
});
