/**
 * The errno table of the generic interrupt plumbing with an in-kernel irqchip (KVM_CREATE_IRQCHIP
 * done): routing tables, irqfds, MSIs. Each case runs on the real kernel where /dev/kvm exists
 * (x86: PIC + IOAPIC), and on the virtual backend with the x86 irqchip (src/arch/x86/irqchip) and,
 * so the generic checks of virt/kvm stay covered apart from any arch, with the null arch's toy
 * irqchip — the cases are valid under both (irqchip 0 pins below 8, GSIs below 24).
 * The x86-specific errnos are in test/x86/irqchip-errno.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { EFD, Kvm, virtualSys, type Sys, type Vm } from '../../src/index.js';
import { nullArch } from '../../src/kernel/null-arch.js';
import { nativeBackend, nativeX86, outcome, type Backend } from '../helpers/backends.js';

const virtualX86: Backend = { name: 'virtual', make: () => virtualSys({ arch: 'x86_64' }) };
const virtualToy = { name: 'virtual (null arch)', make: () => virtualSys({ archBackend: nullArch }) } as unknown as Backend;
const backends: Backend[] = nativeX86 ? [virtualX86, virtualToy, nativeBackend] : [virtualX86, virtualToy];

interface Env {
  sys: Sys;
  kvm: Kvm;
  vm: Vm;
  efd(): number;
}

/** A VM with its irqchip (and no vCPU). */
function env(sys: Sys): Env {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  vm.createIrqchip();
  return { sys, kvm, vm, efd: () => sys.eventfd(0, EFD.NONBLOCK | EFD.CLOEXEC) };
}

const I = (e: Env) => ({ set: (r: Parameters<Vm['setGsiRouting']>[0]) => e.vm.setGsiRouting(r), raw: (b: Uint8Array) => e.sys.ioctl(e.vm.fd, e.kvm.req('KVM_SET_GSI_ROUTING'), b) });

const cases: [string, string, (e: Env) => unknown][] = [
  // arch/x86/kvm/x86.c:6623 (Linux 6.12)
  ['KVM_CREATE_IRQCHIP twice', 'EEXIST', (e) => e.vm.createIrqchip()],
  ['KVM_CREATE_IRQCHIP once a vCPU exists', 'EINVAL', (e) => { const vm = e.kvm.createVm(); vm.createVcpu(0); vm.createIrqchip(); }],
  ['KVM_IRQ_LINE on GSI 4', 'ok:undefined', (e) => e.vm.irqLine(4, 1)],
  // virt/kvm/kvm_main.c:5366, irqchip.c kvm_set_irq_routing 168 and setup_routing_entry 127
  ['KVM_SET_GSI_ROUTING with GSI KVM_MAX_IRQ_ROUTES', 'EINVAL', (e) => I(e).set([{ gsi: 4096, type: 'irqchip', irqchip: 0, pin: 1 }])],
  ['KVM_SET_GSI_ROUTING with nr past KVM_MAX_IRQ_ROUTES (no entries read)', 'EINVAL', (e) => I(e).raw(e.kvm.abi.structs.kvm_irq_routing.encode({ nr: 4097 }))],
  ['KVM_SET_GSI_ROUTING with header flags', 'EINVAL', (e) => I(e).raw(e.kvm.abi.structs.kvm_irq_routing.encode({ nr: 0, flags: 1 }))],
  ['KVM_SET_GSI_ROUTING routing a GSI twice to one irqchip', 'EINVAL', (e) => I(e).set([{ gsi: 5, type: 'irqchip', irqchip: 0, pin: 1 }, { gsi: 5, type: 'irqchip', irqchip: 0, pin: 2 }])],
  ['KVM_SET_GSI_ROUTING with an MSI route and another for one GSI', 'EINVAL', (e) => I(e).set([{ gsi: 5, type: 'msi', addressLo: 0xfee00000, data: 0x30 }, { gsi: 5, type: 'irqchip', irqchip: 0, pin: 2 }])],
  ['KVM_SET_GSI_ROUTING with an unknown MSI flag', 'EINVAL', (e) => I(e).set([{ gsi: 5, type: 'msi', addressLo: 0xfee00000, data: 0x30, flags: 2 }])],
  ['KVM_SET_GSI_ROUTING with flags on an irqchip entry', 'EINVAL', (e) => I(e).set([{ gsi: 5, type: 1, flags: 1, u: [0, 1] }])],
  ['KVM_SET_GSI_ROUTING with an unknown entry type', 'EINVAL', (e) => I(e).set([{ gsi: 5, type: 9, u: [] }])],
  ['KVM_SET_GSI_ROUTING with no entries', 'ok:undefined', (e) => I(e).set([])],
  ['KVM_SET_GSI_ROUTING with irqchip and MSI routes', 'ok:undefined', (e) => I(e).set([{ gsi: 5, type: 'irqchip', irqchip: 0, pin: 5 }, { gsi: 30, type: 'msi', addressLo: 0xfee00000, data: 0x30 }])],
  // irqchip.c kvm_send_userspace_msi 48
  ['KVM_SIGNAL_MSI with an unknown flag', 'EINVAL', (e) => e.vm.signalMsi({ addressLo: 0xfee00000, data: 0x30, flags: 2 })],
  // eventfd.c kvm_irqfd 580, kvm_irqfd_assign 319
  ['KVM_IRQFD twice with one eventfd', 'EBUSY', (e) => { const fd = e.efd(); e.vm.irqfd({ fd, gsi: 5 }); e.vm.irqfd({ fd, gsi: 6 }); }],
  ['KVM_IRQFD with a resamplefd that is not open', 'EBADF', (e) => e.vm.irqfd({ fd: e.efd(), gsi: 5, resamplefd: 999_999 })],
  ['KVM_IRQFD on an fd that is not an eventfd', 'EINVAL', (e) => e.vm.irqfd({ fd: e.vm.fd, gsi: 5 })],
  ['KVM_IRQFD on an fd that is not open', 'EBADF', (e) => e.vm.irqfd({ fd: 999_999, gsi: 5 })],
  ['KVM_IRQFD with a resamplefd, then deassign', 'ok:undefined', (e) => { const fd = e.efd(); e.vm.irqfd({ fd, gsi: 5, resamplefd: e.efd() }); e.vm.irqfd({ fd, gsi: 5, deassign: true }); }],
];

describe('errno table of the interrupt plumbing with an in-kernel irqchip', () => {
  const compared: Record<string, number> = {};
  afterAll(() => {
    console.log(`[errno-table-irqchip] ${cases.length} cases; compared on: ${Object.entries(compared).map(([b, n]) => `${b} ${n}`).join(', ')}`);
  });

  describe.each(backends)('$name', (backend) => {
    it.each(cases)('%s -> %s', (_name, expected, action) => {
      const e = env(backend.make());
      expect(outcome(() => action(e))).toBe(expected);
      compared[backend.name] = (compared[backend.name] ?? 0) + 1;
    });
  });
});
