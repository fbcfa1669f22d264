/**
 * The errno table of the x86 interrupt and time ioctls (src/arch/x86/irqchip/ioctls.ts, chip.ts):
 * each bad input gets the errno Linux 6.12 gives, in the order it checks them; the line cited is
 * where arch/x86/kvm decides it. Runs on the virtual backend, and on /dev/kvm where present.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { KVM_CAP, KVM_MP_STATE, Kvm, x86_64, type Sys, type Vcpu, type Vm } from '../../src/index.js';
import { outcome, x86Backends } from '../helpers/backends.js';

interface Env {
  sys: Sys;
  kvm: Kvm;
  vm: Vm;
  vcpu(): Vcpu;
}

function env(sys: Sys): Env {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  let v: Vcpu | null = null;
  return { sys, kvm, vm, vcpu: () => (v ??= vm.createVcpu(0)) };
}

const { KVM_IRQCHIP } = x86_64;
const MSR_APIC_BASE = 0x1b;
/** xAPIC page offset of the APIC ID register. */
const APIC_ID = 0x20;

const cases: [string, string, (e: Env) => unknown][] = [
  // arch/x86/kvm/x86.c:6626 (irqchip_in_kernel) and 6630 (created_vcpus)
  ['KVM_CREATE_IRQCHIP twice', 'EEXIST', (e) => { e.vm.createIrqchip(); e.vm.createIrqchip(); }],
  ['KVM_CREATE_IRQCHIP after KVM_CREATE_VCPU', 'EINVAL', (e) => { e.vcpu(); e.vm.createIrqchip(); }],
  ['KVM_CREATE_IRQCHIP after KVM_CAP_SPLIT_IRQCHIP', 'EEXIST', (e) => { e.vm.enableSplitIrqchip(24); e.vm.createIrqchip(); }],
  // x86.c:6093 (args[0] > MAX_NR_RESERVED_IOAPIC_PINS), 6096 (irqchip_in_kernel), 6099 (created_vcpus)
  ['KVM_CAP_SPLIT_IRQCHIP with 4097 reserved pins', 'EINVAL', (e) => e.vm.enableSplitIrqchip(4097)],
  ['KVM_CAP_SPLIT_IRQCHIP with 4096 reserved pins', 'ok:undefined', (e) => e.vm.enableSplitIrqchip(4096)],
  ['KVM_CAP_SPLIT_IRQCHIP after KVM_CREATE_IRQCHIP', 'EEXIST', (e) => { e.vm.createIrqchip(); e.vm.enableSplitIrqchip(24); }],
  ['KVM_CAP_SPLIT_IRQCHIP twice', 'EEXIST', (e) => { e.vm.enableSplitIrqchip(24); e.vm.enableSplitIrqchip(24); }],
  ['KVM_CAP_SPLIT_IRQCHIP after KVM_CREATE_VCPU', 'EEXIST', (e) => { e.vcpu(); e.vm.enableSplitIrqchip(24); }],
  // x86.c:6112 (~KVM_X2APIC_API_VALID_FLAGS)
  ['KVM_CAP_X2APIC_API with an unknown flag', 'EINVAL', (e) => e.vm.enableCap(KVM_CAP.X2APIC_API, [4])],
  // x86.c:6668 (vpit exists), 6671 (!pic_in_kernel)
  ['KVM_CREATE_PIT2 without an irqchip', 'ENOENT', (e) => e.vm.createPit2(0)],
  ['KVM_CREATE_PIT2 with a split irqchip', 'ENOENT', (e) => { e.vm.enableSplitIrqchip(24); e.vm.createPit2(0); }],
  ['KVM_CREATE_PIT2 twice', 'EEXIST', (e) => { e.vm.createIrqchip(); e.vm.createPit2(0); e.vm.createPit2(0); }],
  // x86.c:6753 (GET_PIT2), 6770 (SET_PIT2), 6783 (REINJECT_CONTROL): no vpit
  ['KVM_GET_PIT2 without a PIT', 'ENXIO', (e) => { e.vm.createIrqchip(); e.vm.getPit2(); }],
  ['KVM_SET_PIT2 without a PIT', 'ENXIO', (e) => { e.vm.createIrqchip(); e.vm.setPit2({ channels: [], flags: 0 } as never); }],
  ['KVM_REINJECT_CONTROL without a PIT', 'ENXIO', (e) => e.vm.reinjectControl(false)],
  // x86.c:6692 / 6716 (!irqchip_kernel: none or split), 5928 / 5952 (chip_id)
  ['KVM_GET_IRQCHIP without an irqchip', 'ENXIO', (e) => e.vm.getIrqchip(KVM_IRQCHIP.IOAPIC)],
  ['KVM_GET_IRQCHIP with a split irqchip', 'ENXIO', (e) => { e.vm.enableSplitIrqchip(24); e.vm.getIrqchip(KVM_IRQCHIP.PIC_MASTER); }],
  ['KVM_GET_IRQCHIP of chip_id 3', 'EINVAL', (e) => { e.vm.createIrqchip(); e.vm.getIrqchip(3); }],
  ['KVM_SET_IRQCHIP of chip_id 3', 'EINVAL', (e) => { e.vm.createIrqchip(); e.vm.setIrqchip({ chip_id: 3, chip: {} }); }],
  ['KVM_SET_IRQCHIP without an irqchip', 'ENXIO', (e) => e.vm.setIrqchip({ chip_id: 0, chip: {} })],
  // x86.c:6792 (created_vcpus), 6794 (arg > KVM_MAX_VCPU_IDS)
  ['KVM_SET_BOOT_CPU_ID after KVM_CREATE_VCPU', 'EBUSY', (e) => { e.vcpu(); e.vm.setBootCpuId(0); }],
  // x86.c:6852 (user_tsc_khz >= kvm_caps.max_guest_tsc_khz, 0x7fffffff with VMX scaling: 9408)
  ['KVM_SET_TSC_KHZ on the VM at max_guest_tsc_khz', 'EINVAL', (e) => e.vm.setTscKhz(0x7fffffff)],
  ['KVM_SET_TSC_KHZ on the VM just below it', 'ok:undefined', (e) => e.vm.setTscKhz(0x7ffffffe)],
  ['KVM_SET_TSC_KHZ on a vCPU at max_guest_tsc_khz', 'EINVAL', (e) => e.vcpu().setTscKhz(0x7fffffff)],
  // irq_comm.c:289 (irqchip route with a split irqchip), 297 (PIC pin), 302 (IOAPIC pin), 307 (irqchip)
  ['KVM_SET_GSI_ROUTING: an irqchip route with a split irqchip', 'EINVAL', (e) => { e.vm.enableSplitIrqchip(24); e.vm.setGsiRouting([{ gsi: 1, type: 'irqchip', irqchip: KVM_IRQCHIP.IOAPIC, pin: 1 }]); }],
  ['KVM_SET_GSI_ROUTING: PIC slave pin 8', 'EINVAL', (e) => { e.vm.createIrqchip(); e.vm.setGsiRouting([{ gsi: 1, type: 'irqchip', irqchip: KVM_IRQCHIP.PIC_SLAVE, pin: 8 }]); }],
  ['KVM_SET_GSI_ROUTING: IOAPIC pin 24', 'EINVAL', (e) => { e.vm.createIrqchip(); e.vm.setGsiRouting([{ gsi: 1, type: 'irqchip', irqchip: KVM_IRQCHIP.IOAPIC, pin: 24 }]); }],
  ['KVM_SET_GSI_ROUTING: irqchip 3', 'EINVAL', (e) => { e.vm.createIrqchip(); e.vm.setGsiRouting([{ gsi: 1, type: 'irqchip', irqchip: 3, pin: 0 }]); }],
  ['KVM_SET_GSI_ROUTING: MSI routes with a split irqchip', 'ok:undefined', (e) => { e.vm.enableSplitIrqchip(24); e.vm.setGsiRouting([{ gsi: 1, type: 'msi', addressLo: 0xfee00000, data: 0x31 }]); }],
  // x86.c:5430 / 5448 (!lapic_in_kernel)
  ['KVM_GET_LAPIC without an irqchip', 'EINVAL', (e) => e.vcpu().getLapic()],
  ['KVM_SET_LAPIC without an irqchip', 'EINVAL', (e) => e.vcpu().setLapic(new Uint8Array(1024))],
  // lapic.c:3103 (x2APIC mode, x2apic_format: the ID must be the vCPU's)
  ['KVM_SET_LAPIC in x2APIC mode with another ID (32-bit IDs)', 'EINVAL', (e) => {
    e.vm.createIrqchip();
    e.vm.enableCap(KVM_CAP.X2APIC_API, [x86_64.KVM_X2APIC_API.USE_32BIT_IDS]);
    const v = e.vcpu();
    v.setCpuid2(e.kvm.supportedCpuid());
    v.setMsrs([[MSR_APIC_BASE, 0xfee00000n | (1n << 11n) | (1n << 10n) | (1n << 8n)]]);
    const regs = v.getLapic();
    new DataView(regs.buffer, regs.byteOffset).setUint32(APIC_ID, 5, true);
    v.setLapic(regs);
  }],
  ['KVM_SET_LAPIC in x2APIC mode with another ID (legacy format: ignored)', 'ok:undefined', (e) => {
    e.vm.createIrqchip();
    const v = e.vcpu();
    v.setCpuid2(e.kvm.supportedCpuid());
    v.setMsrs([[MSR_APIC_BASE, 0xfee00000n | (1n << 11n) | (1n << 10n) | (1n << 8n)]]);
    const regs = v.getLapic();
    new DataView(regs.buffer, regs.byteOffset).setUint32(APIC_ID, 5 << 24, true);
    v.setLapic(regs);
  }],
  // x86.c:4749 (irq >= KVM_NR_INTERRUPTS), 4762 (pic_in_kernel), 4765 (pending_external_vector)
  ['KVM_INTERRUPT with vector 256', 'EINVAL', (e) => e.vcpu().interrupt(256)],
  ['KVM_INTERRUPT with the in-kernel PIC', 'ENXIO', (e) => { e.vm.createIrqchip(); e.vcpu().interrupt(0x30); }],
  ['KVM_INTERRUPT twice with a split irqchip', 'EEXIST', (e) => { e.vm.enableSplitIrqchip(24); const v = e.vcpu(); v.interrupt(0x30); v.interrupt(0x31); }],
  ['KVM_INTERRUPT twice without an irqchip (the last one wins)', 'ok:undefined', (e) => { const v = e.vcpu(); v.interrupt(0x30); v.interrupt(0x31); }],
  // x86.c:5018 (unknown flags), 5039 (exception vector > 31 or NMI)
  ['KVM_SET_VCPU_EVENTS with an unknown flag', 'EINVAL', (e) => e.vcpu().setVcpuEvents({ flags: 0x80 })],
  ['KVM_SET_VCPU_EVENTS injecting exception vector 2 (NMI)', 'EINVAL', (e) => e.vcpu().setVcpuEvents({ exception: { injected: 1, nr: 2 } })],
  ['KVM_SET_VCPU_EVENTS injecting exception vector 32', 'EINVAL', (e) => e.vcpu().setVcpuEvents({ exception: { injected: 1, nr: 32 } })],
  // x86.c:11259 (a state other than RUNNABLE needs the in-kernel LAPIC), 11267 (unknown state)
  ['KVM_SET_MP_STATE HALTED without an irqchip', 'EINVAL', (e) => e.vcpu().setMpState(KVM_MP_STATE.HALTED)],
  ['KVM_SET_MP_STATE HALTED with an irqchip', 'ok:undefined', (e) => { e.vm.createIrqchip(); e.vcpu().setMpState(KVM_MP_STATE.HALTED); }],
  ['KVM_SET_MP_STATE 99', 'EINVAL', (e) => { e.vm.createIrqchip(); e.vcpu().setMpState(99); }],
  // x86.c:5244 (kvmclock not enabled)
  ['KVM_KVMCLOCK_CTRL before MSR_KVM_SYSTEM_TIME_NEW', 'EINVAL', (e) => e.vcpu().kvmclockCtrl()],
];

describe('errno table of the x86 interrupt and time ioctls', () => {
  const compared: Record<string, number> = {};
  afterAll(() => {
    console.log(`[irqchip-errno] ${cases.length} cases; compared on: ${Object.entries(compared).map(([b, n]) => `${b} ${n}`).join(', ')}`);
  });

  describe.each(x86Backends)('$name', (backend) => {
    it.each(cases)('%s -> %s', (_name, expected, action) => {
      const e = env(backend.make());
      expect(outcome(() => action(e))).toBe(expected);
      compared[backend.name] = (compared[backend.name] ?? 0) + 1;
    });
  });
});
