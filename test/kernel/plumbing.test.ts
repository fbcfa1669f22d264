/**
 * The generic in-kernel device plumbing under the null arch and its toy irqchip: ioeventfds on the
 * PIO and MMIO buses, GSI routing, KVM_IRQ_LINE(_STATUS), KVM_SIGNAL_MSI, irqfds with resampling,
 * KVM_CREATE_IRQCHIP / KVM_CREATE_DEVICE, halting that sleeps, timers and the two clocks,
 * KVM_GET/SET_CLOCK — each with the errnos of virt/kvm (lines cited where checked).
 */
import { describe, expect, it } from 'vitest';
import { EventFd, KVM_CAP, KVM_IRQFD_FLAG, KVM_MSI, type VcpuExit } from '../../src/index.js';
import { kernelOf } from '../../src/sys/kernel-of.js';
import { outcome } from '../helpers/backends.js';
import { code, toyVm } from './toy.js';

const RESULT = 0x20000; // an unbacked gpa: a store there is an MMIO exit the test reads

/** Runs until the guest stores to RESULT (returns the value) or another exit. */
function runToResult(v: ReturnType<typeof toyVm>['vcpu']): bigint | VcpuExit {
  const e = v.run();
  if (e.reason === 'mmio' && e.isWrite && e.physAddr === BigInt(RESULT)) return new DataView(e.data.buffer, e.data.byteOffset).getBigUint64(0, true);
  return e;
}

describe('ioeventfd', () => {
  it('a PIO write matching datamatch signals the eventfd and completes without an exit', () => {
    const t = toyVm([code.mov(0x1234), code.out32(0x510), code.mov(0x99), code.out32(0x510), code.hlt()]);
    const e = EventFd.create(t.sys);
    t.vm.ioeventfd({ fd: e, addr: 0x510, len: 4, datamatch: 0x1234, pio: true });
    // The first OUT matches: no exit, the eventfd counts it; the second (0x99) exits to userspace.
    const x = t.vcpu.run();
    expect(x).toMatchObject({ reason: 'io', port: 0x510, direction: 'out', size: 4 });
    expect(x.reason === 'io' && [...x.data]).toEqual([0x99, 0, 0, 0]);
    expect(e.tryRead()).toBe(1n);
    expect(t.vcpu.run().reason).toBe('hlt');
  });

  it('MMIO: wildcard and 8-byte datamatch, length 0 (any length), deassign', () => {
    const t = toyVm([code.mov(7), code.st64(0xd0000), code.st32(0xd0008), code.st32(0xd0010), code.st64(0xd0010), code.hlt()]);
    const any = EventFd.create(t.sys);
    const m8 = EventFd.create(t.sys);
    const len0 = EventFd.create(t.sys);
    t.vm.ioeventfd({ fd: m8, addr: 0xd0000, len: 8, datamatch: 7 });
    t.vm.ioeventfd({ fd: any, addr: 0xd0008, len: 4 });
    t.vm.ioeventfd({ fd: len0, addr: 0xd0010, len: 0 });
    expect(t.vcpu.run().reason).toBe('hlt');
    expect([m8.tryRead(), any.tryRead(), len0.tryRead()]).toEqual([1n, 1n, 2n]);
    t.vm.ioeventfd({ fd: len0, addr: 0xd0010, len: 0, deassign: true });
    t.vcpu.setRegs({ rip: 0x1000n });
    expect(t.vcpu.run()).toMatchObject({ reason: 'mmio', physAddr: 0xd0010n, len: 4, isWrite: true });
  });

  it('a write of another length or value, or a read, reaches userspace', () => {
    const t = toyVm([code.mov(1), code.st32(0xd0000), code.ld(0xd0000), code.hlt()]);
    const e = EventFd.create(t.sys);
    t.vm.ioeventfd({ fd: e, addr: 0xd0000, len: 8, datamatch: 1 });
    expect(t.vcpu.run()).toMatchObject({ reason: 'mmio', len: 4, isWrite: true });
    expect(t.vcpu.run()).toMatchObject({ reason: 'mmio', len: 1, isWrite: false });
    expect(e.tryRead()).toBe(null);
  });

  // Linux 6.12 virt/kvm/eventfd.c: kvm_assign_ioeventfd (945), kvm_assign_ioeventfd_idx (826),
  // ioeventfd_check_collision (801), kvm_deassign_ioeventfd_idx (890).
  it('refuses what the kernel refuses', () => {
    const t = toyVm([code.hlt()]);
    const e = EventFd.create(t.sys);
    const io = (o: Partial<Parameters<typeof t.vm.ioeventfd>[0]>) => () => t.vm.ioeventfd({ fd: e, addr: 0x600, len: 4, pio: true, ...o });
    expect(outcome(io({ len: 3 }))).toBe('EINVAL');
    expect(outcome(io({ len: 16 }))).toBe('EINVAL');
    expect(outcome(io({ flags: 0x10 }))).toBe('EINVAL');
    expect(outcome(io({ len: 0, datamatch: 1 }))).toBe('EINVAL');
    expect(outcome(io({ addr: 0xffff_ffff_ffff_fffen, pio: false }))).toBe('EINVAL'); // addr + len wraps
    expect(outcome(io({ fd: 999 }))).toBe('EBADF');
    expect(outcome(io({ fd: t.vm.fd }))).toBe('EINVAL'); // not an eventfd
    expect(outcome(io({ datamatch: 5 }))).toBe('ok:undefined');
    expect(outcome(io({ datamatch: 5 }))).toBe('EEXIST'); // same address and value
    expect(outcome(io({}))).toBe('EEXIST'); // a wildcard over a datamatch one
    expect(outcome(io({ len: 0 }))).toBe('EEXIST'); // length 0 claims the address
    expect(outcome(io({ datamatch: 6 }))).toBe('ok:undefined'); // another value: fine
    expect(outcome(io({ len: 2, datamatch: 5 }))).toBe('ok:undefined'); // another length: fine
    expect(outcome(io({ pio: false, datamatch: 5 }))).toBe('ok:undefined'); // the MMIO bus is another bus
    expect(outcome(io({ datamatch: 7, deassign: true }))).toBe('ENOENT');
    expect(outcome(io({ deassign: true }))).toBe('ENOENT'); // wildcard vs datamatch registrations differ
    expect(outcome(io({ datamatch: 5, deassign: true }))).toBe('ok:undefined');
    expect(outcome(io({ datamatch: 5, deassign: true }))).toBe('ENOENT');
    expect(outcome(io({ fd: 1, deassign: true }))).toBe('EINVAL'); // stdout: open, not an eventfd
  });

  it('KVM_CAP_IOEVENTFD and ANY_LENGTH follow the arch consulting its buses', () => {
    const t = toyVm([code.hlt()]);
    expect(t.vm.checkExtension(KVM_CAP.IOEVENTFD)).toBe(1);
    expect(t.vm.checkExtension(KVM_CAP.IOEVENTFD_ANY_LENGTH)).toBe(1);
    expect(t.vm.checkExtension(KVM_CAP.DEVICE_CTRL)).toBe(1);
  });
});

describe('irqchip, routing, IRQ_LINE, SIGNAL_MSI', () => {
  // x86 kvm_arch_vm_ioctl(KVM_CREATE_IRQCHIP) (Linux 6.12 arch/x86/kvm/x86.c:6623): EEXIST, then EINVAL.
  it('KVM_CREATE_IRQCHIP: EEXIST twice, EINVAL once a vCPU exists', () => {
    const t = toyVm([code.hlt()], { irqchip: true });
    expect(outcome(() => t.vm.createIrqchip())).toBe('EEXIST');
    const u = toyVm([code.hlt()]);
    expect(outcome(() => u.vm.createIrqchip())).toBe('EINVAL');
  });

  it('without an irqchip: IRQ_LINE ENXIO, SIGNAL_MSI / SET_GSI_ROUTING / IRQFD EINVAL (6.12 x86.c:6058, irqchip.c:48, kvm_main.c:5366, eventfd.c:319)', () => {
    const t = toyVm([code.hlt()]);
    const e = EventFd.create(t.sys);
    expect(outcome(() => t.vm.irqLine(3, 1))).toBe('ENXIO');
    expect(outcome(() => t.vm.signalMsi({ addressLo: 0, data: 40 }))).toBe('EINVAL');
    expect(outcome(() => t.vm.setGsiRouting([]))).toBe('EINVAL');
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 3 }))).toBe('EINVAL');
    // Deassigning needs no irqchip, only an eventfd (kvm_irqfd_deassign).
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 3, deassign: true }))).toBe('ok:undefined');
    expect(outcome(() => t.vm.irqfd({ fd: 999, gsi: 3, deassign: true }))).toBe('EBADF');
  });

  it('IRQ_LINE delivers to the guest; IRQ_LINE_STATUS reports delivered, then coalesced', () => {
    const t = toyVm([code.ivt(0x2000), code.hlt(), code.st64(RESULT), code.hlt()], { irqchip: true, handler: [code.st64(RESULT), code.eoi(), code.iret()] });
    expect(t.vm.irqLineStatus(5, 1)).toBe(1);
    expect(t.vm.irqLineStatus(5, 1)).toBe(0); // still high: coalesced
    expect(runToResult(t.vcpu)).toBe(32n + 5n); // the handler stores the vector
    expect(t.vm.irqLineStatus(5, 0)).toBe(1);
    expect(t.vm.irqLineStatus(5, 1)).toBe(1);
    expect(outcome(() => t.vm.irqLineStatus(100, 1))).toBe('ok:-1'); // no route: not delivered
  });

  it('SIGNAL_MSI delivers the vector to the addressed vCPU; unknown flags are EINVAL', () => {
    const t = toyVm([code.ivt(0x2000), code.hlt()], { irqchip: true, handler: [code.st64(RESULT), code.eoi(), code.iret()] });
    expect(t.vm.signalMsi({ addressLo: 0, data: 0x61 })).toBe(1);
    expect(runToResult(t.vcpu)).toBe(0x61n);
    expect(t.vm.signalMsi({ addressLo: 5, data: 0x61 })).toBe(0); // no vCPU 5
    expect(outcome(() => t.vm.signalMsi({ addressLo: 0, data: 0x61, flags: 2 }))).toBe('EINVAL');
    expect(outcome(() => t.vm.signalMsi({ addressLo: 0, data: 0x62, flags: KVM_MSI.VALID_DEVID, devid: 3 }))).toBe('ok:1');
  });

  // Linux 6.12 virt/kvm/irqchip.c: kvm_set_irq_routing (168), setup_routing_entry (127); kvm_main.c:5366.
  it('SET_GSI_ROUTING: reroutes, and refuses what the kernel refuses', () => {
    const t = toyVm([code.ivt(0x2000), code.hlt(), code.hlt()], { irqchip: true, handler: [code.st64(RESULT), code.eoi(), code.iret()] });
    t.vm.setGsiRouting([
      { gsi: 100, type: 'irqchip', irqchip: 0, pin: 9 },
      { gsi: 101, type: 'msi', addressLo: 0, data: 0x77 },
    ]);
    expect(outcome(() => t.vm.irqLineStatus(5, 1))).toBe('ok:-1'); // the default routes are gone
    expect(t.vm.irqLineStatus(100, 1)).toBe(1);
    expect(runToResult(t.vcpu)).toBe(32n + 9n);
    t.vm.irqLine(100, 0); // lowered before the EOI: no level re-delivery
    expect(t.vm.irqLineStatus(101, 1)).toBe(1);
    expect(runToResult(t.vcpu)).toBe(0x77n);
    const bad = (r: Parameters<typeof t.vm.setGsiRouting>[0]) => outcome(() => t.vm.setGsiRouting(r));
    expect(bad([{ gsi: 4096, type: 'irqchip', irqchip: 0, pin: 1 }])).toBe('EINVAL'); // gsi >= KVM_MAX_IRQ_ROUTES
    expect(bad([{ gsi: 4095, type: 'irqchip', irqchip: 0, pin: 1 }])).toBe('ok:undefined');
    expect(bad([{ gsi: 1, type: 'irqchip', irqchip: 0, pin: 24 }])).toBe('EINVAL'); // no such pin
    expect(bad([{ gsi: 1, type: 'irqchip', irqchip: 1, pin: 1 }])).toBe('EINVAL'); // no such chip
    expect(bad([{ gsi: 1, type: 'irqchip', irqchip: 0, pin: 1 }, { gsi: 1, type: 'irqchip', irqchip: 0, pin: 2 }])).toBe('EINVAL'); // same chip twice
    expect(bad([{ gsi: 1, type: 'msi', addressLo: 0, data: 1 }, { gsi: 1, type: 'irqchip', irqchip: 0, pin: 2 }])).toBe('EINVAL'); // MSI and another
    expect(bad([{ gsi: 1, type: 'msi', addressLo: 0, data: 1, flags: 2 }])).toBe('EINVAL'); // MSI flags
    expect(bad([{ gsi: 1, type: 1, flags: 1, u: [0, 1] }])).toBe('EINVAL'); // irqchip entries have no flags
    expect(bad([{ gsi: 1, type: 9, u: [] }])).toBe('EINVAL'); // unknown type
    expect(bad([])).toBe('ok:undefined'); // an empty table
    // nr > KVM_MAX_IRQ_ROUTES and flags in the header: EINVAL before any entry is read.
    const S = t.kvm.abi.structs;
    const hdr = (nr: number, flags: number) => S.kvm_irq_routing.encode({ nr, flags });
    expect(outcome(() => t.sys.ioctl(t.vm.fd, t.kvm.req('KVM_SET_GSI_ROUTING'), hdr(4097, 0)))).toBe('EINVAL');
    expect(outcome(() => t.sys.ioctl(t.vm.fd, t.kvm.req('KVM_SET_GSI_ROUTING'), hdr(0, 1)))).toBe('EINVAL');
    expect(outcome(() => t.sys.ioctl(t.vm.fd, t.kvm.req('KVM_SET_GSI_ROUTING'), hdr(2, 0)))).toBe('EFAULT'); // entries missing
  });

  it('caps: IRQCHIP, IRQFD, IRQFD_RESAMPLE, SIGNAL_MSI, IRQ_ROUTING with an irqchip model', () => {
    const t = toyVm([code.hlt()]);
    expect([KVM_CAP.IRQCHIP, KVM_CAP.IRQFD, KVM_CAP.IRQFD_RESAMPLE, KVM_CAP.SIGNAL_MSI, KVM_CAP.IRQ_ROUTING].map((c) => t.kvm.checkExtension(c))).toEqual([1, 1, 1, 1, 4096]);
  });
});

describe('irqfd', () => {
  it('a signal from the VMM injects the GSI; an event pending at assignment injects at once', () => {
    const t = toyVm([code.ivt(0x2000), code.hlt(), code.hlt()], { irqchip: true, handler: [code.st64(RESULT), code.eoi(), code.iret()] });
    const e = EventFd.create(t.sys);
    t.vm.irqfd({ fd: e, gsi: 7 });
    e.signal();
    expect(e.tryRead()).toBe(null); // the irqfd took the count
    expect(runToResult(t.vcpu)).toBe(32n + 7n);
    const f = EventFd.create(t.sys, { initval: 1 });
    t.vm.irqfd({ fd: f, gsi: 8 });
    expect(runToResult(t.vcpu)).toBe(32n + 8n);
  });

  // Linux 6.12 virt/kvm/eventfd.c: kvm_irqfd (580), kvm_irqfd_assign (319), kvm_irqfd_deassign (550).
  it('refuses what the kernel refuses', () => {
    const t = toyVm([code.hlt()], { irqchip: true });
    const e = EventFd.create(t.sys);
    const r = EventFd.create(t.sys);
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 1, flags: 4 }))).toBe('EINVAL');
    expect(outcome(() => t.vm.irqfd({ fd: 999, gsi: 1 }))).toBe('EBADF');
    expect(outcome(() => t.vm.irqfd({ fd: t.vm.fd, gsi: 1 }))).toBe('EINVAL');
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 1, resamplefd: 999 }))).toBe('EBADF');
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 1 }))).toBe('ok:undefined');
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 2 }))).toBe('EBUSY'); // one irqfd per eventfd
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 2, resamplefd: r }))).toBe('EBUSY');
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 2, deassign: true }))).toBe('ok:undefined'); // no such pair: still 0
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 1, deassign: true }))).toBe('ok:undefined');
    expect(outcome(() => t.vm.irqfd({ fd: e, gsi: 2 }))).toBe('ok:undefined'); // free again
    expect(outcome(() => t.vm.irqfd({ fd: t.vm.fd, gsi: 2, deassign: true }))).toBe('EINVAL');
    expect(KVM_IRQFD_FLAG.RESAMPLE).toBe(2);
  });

  it('resample: the line stays up until the guest EOIs, then drops and the resamplefd is signalled', () => {
    const t = toyVm([code.ivt(0x2000), code.hlt(), code.hlt(), code.hlt()], { irqchip: true, handler: [code.st64(RESULT), code.eoi(), code.iret()] });
    const e = EventFd.create(t.sys);
    const rs = EventFd.create(t.sys);
    t.vm.irqfd({ fd: e, gsi: 4, resamplefd: rs });
    e.signal();
    const chip = (kernelOf(t.sys)!.file(t.vm.fd) as { vm: { archState: { chip: { sources: Uint32Array } } } }).vm.archState.chip;
    expect(chip.sources[4]).toBe(2); // raised by the resample source (id 1), not the userspace one (0)
    expect(runToResult(t.vcpu)).toBe(36n);
    expect(rs.tryRead()).toBe(null); // not yet: the handler EOIs after its store
    // EOI: the line drops and the resamplefd is signalled; IRET; the next HLT sleeps with nothing
    // pending, and on this (the owner) thread returns EINTR after haltWaitMs.
    expect(t.vcpu.run().reason).toBe('intr'); // EINTR
    expect(t.vcpu.kvmRun.exit_reason).toBe(10); // KVM_EXIT_INTR
    expect(chip.sources[4]).toBe(0);
    expect(rs.tryRead()).toBe(1n);
    e.signal(); // the VMM re-checks its device and signals again: delivered again
    expect(runToResult(t.vcpu)).toBe(36n);
  }, 10_000);

  it('deassign stops injection; closing the eventfd (POLLHUP) releases the irqfd', () => {
    const t = toyVm([code.hlt()], { irqchip: true });
    const e = EventFd.create(t.sys);
    t.vm.irqfd({ fd: e, gsi: 3 });
    const vm = (kernelOf(t.sys)!.file(t.vm.fd) as { vm: { irqfds: { count: number } } }).vm;
    expect(vm.irqfds.count).toBe(1);
    e.close();
    expect(vm.irqfds.count).toBe(0);
  });
});

describe('default routing tables the irqchip models install', () => {
  it('x86: GSI 0-15 to the IOAPIC and the PIC, 16-23 to the IOAPIC (irq_comm.c default_routing[])', async () => {
    const { x86DefaultIrqRouting } = await import('../../src/arch/x86/irq-routing.js');
    const r = x86DefaultIrqRouting();
    expect(r.length).toBe(40);
    expect(r.slice(0, 2)).toEqual([{ gsi: 0, irqchip: 2, pin: 0 }, { gsi: 0, irqchip: 0, pin: 0 }]);
    expect(r.filter((e) => e.gsi === 12)).toEqual([{ gsi: 12, irqchip: 2, pin: 12 }, { gsi: 12, irqchip: 1, pin: 4 }]);
    expect(r.filter((e) => e.gsi === 20)).toEqual([{ gsi: 20, irqchip: 2, pin: 20 }]);
  });

  it('arm64: GSI n to SPI 32 + n (vgic-irqfd.c kvm_vgic_setup_default_irq_routing)', async () => {
    const { arm64DefaultIrqRouting, KVM_IRQCHIP_NUM_PINS } = await import('../../src/arch/arm64/irq-routing.js');
    expect(arm64DefaultIrqRouting(3)).toEqual([{ gsi: 0, irqchip: 0, pin: 0 }, { gsi: 1, irqchip: 0, pin: 1 }, { gsi: 2, irqchip: 0, pin: 2 }]);
    expect(KVM_IRQCHIP_NUM_PINS).toBe(988);
  });
});
