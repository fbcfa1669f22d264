/**
 * `npm run bench` section (e): arm64 interrupts through the typed API on the virtual backend, with
 * the guest bench/guests/arm64/irq.S on an in-kernel vGICv3 (created as QEMU and kvmtool create
 * it), the vCPU on the thread that measures:
 *   - irqfd round trip: the host signals an irqfd (GSI 0 = SPI 32), KVM_RUN: the guest leaves WFI,
 *     takes the interrupt, rings a doorbell an ioeventfd serves (no exit), EOIs and stores to an
 *     MMIO address (the exit that gives the host its turn); the host reads the ioeventfd.
 *   - timer interrupt rate: the virtual timer's handler re-arms it with TVAL = 1 (due at once), so
 *     the rate is the cost of taking one timer interrupt (PPI 27) and its handler.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventFd, Kvm, virtualSys, type Vcpu, type Vm } from '../src/index.js';
import { KVM_DEV_TYPE } from '../src/uapi/constants.js';
import { coreRegId, KVM_ARM_VCPU, KVM_DEV_ARM_VGIC, KVM_VGIC } from '../src/uapi/arm64.js';

const RAM_BASE = 0x4000_0000;
const GICD = 0x0800_0000;
const GICR = 0x080a_0000;
const DOORBELL = 0x0a00_0000;
const EXIT = 0x0900_0000;

export interface IrqBench {
  /** irqfd -> handler -> ioeventfd -> MMIO exit -> host, per round trip (median of batches). */
  irqfdNs: number;
  irqfdSamples: number[];
  /** Timer interrupts taken per second (median of batches). */
  timerPerSec: number;
  timerSamples: number[];
}

interface Setup {
  vm: Vm;
  vcpu: Vcpu;
  close(): void;
}

function setup(root: string, mode: number, perExit: number, jit: boolean): Setup {
  const sys = virtualSys({ arch: 'arm64', jit });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = sys.alloc(1 << 20);
  ram.bytes.set(readFileSync(join(root, 'bench/guests/arm64/irq.bin')));
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM_BASE, memorySize: 1 << 20, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  vcpu.armInit([KVM_ARM_VCPU.PSCI_0_2]);
  vcpu.setOneReg(coreRegId('regs.pc'), RAM_BASE);
  vcpu.setOneReg(coreRegId('regs.regs'), mode);
  vcpu.setOneReg(coreRegId('regs.regs') + 2n, perExit);
  const gic = vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3)!;
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_ADDR, attr: KVM_VGIC.V3_ADDR_TYPE_DIST }, GICD);
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_ADDR, attr: KVM_VGIC.V3_ADDR_TYPE_REDIST }, GICR);
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_CTRL, attr: KVM_DEV_ARM_VGIC.CTRL_INIT });
  return { vm, vcpu, close: () => (vcpu.close(), vm.close(), kvm.close()) };
}

/** Runs until the guest's store to EXIT; anything else is a failure of the benchmark. */
function runToExit(vcpu: Vcpu): void {
  let e = vcpu.run();
  while (e.reason === 'intr') e = vcpu.run(); // KVM_RUN's 100 ms bound (or a WFI wait) ended it as a signal would
  if (e.reason !== 'mmio' || Number(e.physAddr) !== EXIT) throw new Error(`irq bench: unexpected exit ${e.reason} ${'physAddr' in e ? String(e.physAddr) : ''}`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const now = () => process.hrtime.bigint();

export function benchIrq(root: string, quick: boolean, repeats: number): IrqBench {
  // irqfd round trip
  const a = setup(root, 0, 0, true);
  const irqfd = EventFd.create(a.vm.sys);
  const doorbell = EventFd.create(a.vm.sys);
  a.vm.irqfd({ fd: irqfd, gsi: 0 });
  a.vm.ioeventfd({ fd: doorbell, addr: DOORBELL, len: 4 });
  const iters = quick ? 5_000 : 50_000;
  const trip = () => {
    irqfd.signal();
    runToExit(a.vcpu);
    if (doorbell.tryRead() !== 1n) throw new Error('irq bench: the doorbell was not rung once');
  };
  runToExit(a.vcpu); // the guest made SPI 32 edge-triggered: irqfd pulses stay pending
  for (let i = 0; i < 2_000; i++) trip();
  const irqfdSamples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = now();
    for (let i = 0; i < iters; i++) trip();
    irqfdSamples.push(Number(now() - t0) / iters);
  }
  a.close();

  // timer interrupt rate
  const perExit = quick ? 20_000 : 200_000;
  const b = setup(root, 1, perExit, true);
  runToExit(b.vcpu); // warm-up
  const timerSamples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = now();
    runToExit(b.vcpu);
    timerSamples.push(perExit / (Number(now() - t0) / 1e9));
  }
  b.close();
  return { irqfdNs: median(irqfdSamples), irqfdSamples, timerPerSec: median(timerSamples), timerSamples };
}
