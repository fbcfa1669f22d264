/**
 * A "virt"-board VMM for the interrupt guests (test/guests/arm64/irq): RAM at 0x40000000, an
 * in-kernel vGICv3 (distributor 0x08000000, one redistributor region from 0x080a0000) created
 * the way QEMU and kvmtool create it — or a vGICv2 (CPU interface 0x08010000) as a device or the
 * legacy way (KVM_CREATE_IRQCHIP + KVM_ARM_SET_DEVICE_ADDR, initialized at the first KVM_RUN) —, a PL011 at 0x09000000 whose transmit interrupt is the
 * level-triggered SPI 33 — driven with KVM_IRQ_LINE or with a resampling irqfd — and a doorbell
 * at 0x0a000050 an ioeventfd may serve.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EventFd, Kvm, virtualSys, type Device, type Sys, type Vcpu, type VcpuExit, type Vm } from '../../src/index.js';
import { KVM_DEV_TYPE } from '../../src/uapi/constants.js';
import { arm64 } from '../../src/uapi/index.js';
import { coreRegId, KVM_ARM_DEVICE, KVM_ARM_IRQ, KVM_ARM_VCPU, KVM_DEV_ARM_VGIC, KVM_VGIC } from '../../src/uapi/arm64.js';

export const RAM_BASE = 0x4000_0000;
export const GICD = 0x0800_0000;
export const GICR = 0x080a_0000;
export const GICC = 0x0801_0000;
export const UART = 0x0900_0000;
export const DOORBELL = 0x0a00_0050;
/** The PL011's SPI (SPI 1 on "virt": INTID 33). */
export const UART_SPI = 33;
const UART_TXI = 1 << 5;

export function irqGuest(name: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(__dirname, '../guests/arm64/irq', `${name}.bin`)));
}

export function irqExpect(name: string): string {
  return readFileSync(resolve(__dirname, '../guests/arm64/irq', `${name}.expect`), 'utf8');
}

export interface BoardOptions {
  readonly vcpus?: number;
  readonly jit?: boolean;
  /** The interrupt controller (default v3); the guest must be built for it (irq/<name>-v2.bin). */
  readonly gic?: 'v3' | 'v2' | 'v2-legacy';
  /** How the PL011 drives its SPI: KVM_IRQ_LINE (default) or a resampling irqfd. */
  readonly uartIrq?: 'irqline' | 'irqfd';
  /** Serve the doorbell with an ioeventfd. */
  readonly doorbell?: boolean;
  readonly clock?: 'host' | 'deterministic';
  readonly sys?: Sys;
}

/** The PL011 as the VMM models it: output, UARTIMSC, the raw interrupt status, the SPI line. */
export class Pl011 {
  out = '';
  imsc = 0;
  ris = 0;
  private line = false;
  /** Raises or lowers the SPI. */
  constructor(private readonly setLine: (level: boolean) => void) {}

  get asserted(): boolean {
    return (this.ris & this.imsc) !== 0;
  }

  private update(): void {
    const l = this.asserted;
    if (l !== this.line) {
      this.line = l;
      this.setLine(l);
    }
  }

  /**
   * A resampling irqfd lowered the line at the guest's EOI: raise it again if the device still
   * asserts it (what a VMM does when its resamplefd fires).
   */
  resampled(): void {
    this.line = false;
    this.update();
  }

  read(off: number): number {
    switch (off) {
      case 0x38:
        return this.imsc;
      case 0x3c:
        return this.ris;
      case 0x40:
        return this.ris & this.imsc;
      case 0x18:
        return 0x90; // UARTFR: TX FIFO empty, RX FIFO empty
      default:
        return 0;
    }
  }

  write(off: number, v: number): void {
    switch (off) {
      case 0x00:
        this.out += String.fromCharCode(v & 0xff);
        this.ris |= UART_TXI; // QEMU's PL011: every byte written raises TXRIS
        break;
      case 0x38:
        this.imsc = v & 0x7ff;
        break;
      case 0x44:
        this.ris &= ~v;
        break;
      default:
        return;
    }
    this.update();
  }
}

export interface Board {
  readonly sys: Sys;
  readonly kvm: Kvm;
  readonly vm: Vm;
  /** The vGIC's device fd (null for a legacy KVM_CREATE_IRQCHIP one). */
  readonly gic: Device | null;
  readonly vcpus: Vcpu[];
  readonly uart: Pl011;
  readonly ram: { hva: bigint; bytes: Uint8Array };
  /** The ioeventfd of the doorbell, when asked for. */
  readonly doorbell: EventFd | null;
  /** MMIO exits seen (address), besides the UART's. */
  readonly otherMmio: bigint[];
  /** Handles one exit of a vCPU: true while the guest goes on, false at its system event. */
  handle(e: VcpuExit): boolean;
  /** After a KVM_RUN: the irqfd's resample (the guest EOI'd a still-asserted line: signal again). */
  service(): void;
  /** Runs vCPU 0 on this thread until the guest powers the system off. */
  runToEnd(maxRuns?: number): void;
}

/** vGICv3 setup as VMMs do it: vCPUs first, then the device, its addresses, NR_IRQS, INIT. */
export function createGicV3(vm: Vm, nVcpus: number): Device {
  const gic = vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3)!;
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_ADDR, attr: KVM_VGIC.V3_ADDR_TYPE_DIST }, GICD);
  // A redistributor region: base | count << 52 (index 0).
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_ADDR, attr: KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION }, BigInt(GICR) | (BigInt(nVcpus) << 52n));
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_NR_IRQS, attr: 0 }, Uint8Array.of(128, 0, 0, 0));
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_CTRL, attr: KVM_DEV_ARM_VGIC.CTRL_INIT });
  return gic;
}

/** vGICv2 as a device: addresses, NR_IRQS, INIT. */
export function createGicV2(vm: Vm): Device {
  const gic = vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V2)!;
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_ADDR, attr: KVM_VGIC.V2_ADDR_TYPE_DIST }, GICD);
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_ADDR, attr: KVM_VGIC.V2_ADDR_TYPE_CPU }, GICC);
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_NR_IRQS, attr: 0 }, Uint8Array.of(128, 0, 0, 0));
  gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_CTRL, attr: KVM_DEV_ARM_VGIC.CTRL_INIT });
  return gic;
}

/** The legacy vGICv2: KVM_CREATE_IRQCHIP, KVM_ARM_SET_DEVICE_ADDR for both frames; no INIT. */
export function createGicV2Legacy(vm: Vm): void {
  vm.createIrqchip();
  for (const [type, addr] of [[KVM_VGIC.V2_ADDR_TYPE_DIST, GICD], [KVM_VGIC.V2_ADDR_TYPE_CPU, GICC]] as const) {
    const id = (KVM_ARM_DEVICE.VGIC_V2 << KVM_ARM_DEVICE.ID_SHIFT) | (type << KVM_ARM_DEVICE.TYPE_SHIFT);
    vm.sys.ioctl(vm.fd, vm.kvm.req('KVM_ARM_SET_DEVICE_ADDR'), arm64.structs.kvm_arm_device_addr.encode({ id: BigInt(id), addr: BigInt(addr) }));
  }
}

export function board(img: Uint8Array, o: BoardOptions = {}): Board {
  const n = o.vcpus ?? 1;
  const sys = o.sys ?? virtualSys({ arch: 'arm64', jit: o.jit ?? true, ...(o.clock ? { clock: o.clock } : {}) });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const size = 16 << 20;
  const ram = sys.alloc(size);
  ram.bytes.set(img, 0);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM_BASE, memorySize: size, userspaceAddr: ram.hva });
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < n; i++) {
    const v = vm.createVcpu(i);
    v.armInit(i === 0 ? [KVM_ARM_VCPU.PSCI_0_2] : [KVM_ARM_VCPU.PSCI_0_2, KVM_ARM_VCPU.POWER_OFF]);
    vcpus.push(v);
  }
  vcpus[0]!.setOneReg(coreRegId('regs.pc'), RAM_BASE);
  const gic = o.gic === 'v2' ? createGicV2(vm) : o.gic === 'v2-legacy' ? (createGicV2Legacy(vm), null) : createGicV3(vm, n);
  const spi = (KVM_ARM_IRQ.TYPE_SPI << KVM_ARM_IRQ.TYPE_SHIFT) | UART_SPI;
  let irqfd: EventFd | null = null;
  let resample: EventFd | null = null;
  if (o.uartIrq === 'irqfd') {
    irqfd = EventFd.create(sys);
    resample = EventFd.create(sys);
    vm.irqfd({ fd: irqfd, gsi: UART_SPI - 32, resamplefd: resample });
  }
  const uart = new Pl011((level) => {
    if (irqfd) {
      if (level) irqfd.signal();
    } else vm.irqLine(spi, level);
  });
  let doorbell: EventFd | null = null;
  if (o.doorbell) {
    doorbell = EventFd.create(sys);
    vm.ioeventfd({ fd: doorbell, addr: DOORBELL, len: 4 });
  }
  const otherMmio: bigint[] = [];
  const b: Board = {
    sys,
    kvm,
    vm,
    gic,
    vcpus,
    uart,
    ram,
    doorbell,
    otherMmio,
    handle(e) {
      if (e.reason === 'system_event') return false;
      if (e.reason === 'mmio') {
        const a = Number(e.physAddr);
        if (a >= UART && a < UART + 0x1000) {
          const dv = new DataView(e.data.buffer, e.data.byteOffset, 8);
          if (e.isWrite) uart.write(a - UART, e.len >= 4 ? dv.getUint32(0, true) : e.len === 2 ? dv.getUint16(0, true) : dv.getUint8(0));
          else dv.setUint32(0, uart.read(a - UART), true);
        } else {
          otherMmio.push(e.physAddr);
          if (!e.isWrite) e.data.fill(0);
        }
        return true;
      }
      throw new Error(`unexpected exit ${e.reason}`);
    },
    service() {
      // The guest EOI'd the SPI and KVM lowered it (irqfd_resampler_ack): re-check the device.
      if (resample && resample.tryRead() !== null) uart.resampled();
    },
    runToEnd(maxRuns = 100_000) {
      const v = vcpus[0]!;
      for (let i = 0; i < maxRuns; i++) {
        const e: VcpuExit = v.run();
        if (e.reason === 'intr') {
          // EINTR
          b.service();
          continue;
        }
        const go = b.handle(e);
        b.service();
        if (!go) return;
      }
      throw new Error(`no system event after ${maxRuns} runs; output so far: ${JSON.stringify(uart.out)}`);
    },
  };
  return b;
}
