/**
 * The virtio-mmio transport, version 2 ("modern", Virtio 1.x section 4.2): the register window a
 * driver finds from the device tree (arm64) or `virtio_mmio.device=` (x86), feature negotiation,
 * split virtqueues, and a level-triggered interrupt that stays raised while InterruptStatus is
 * non-zero. The device type (block, console) plugs in behind `VirtioBackend`.
 * @module
 */
import { EventFd, type Vm } from '../../index.js';
import type { Device } from '../devices.js';
import type { IrqLine } from '../irq.js';
import { GuestMemory, GuestMemoryError } from '../memory.js';
import { Virtqueue } from './queue.js';

/** The window one virtio-mmio device occupies. */
export const VIRTIO_MMIO_SIZE = 0x200;

const MAGIC = 0x74726976; // "virt"
const VENDOR = 0x6d766b76; // "vkvm"
/** VIRTIO_F_VERSION_1: a modern device. */
export const VIRTIO_F_VERSION_1 = 1n << 32n;

/** Device status bits (2.1). */
export const VIRTIO_STATUS = { ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, NEEDS_RESET: 64, FAILED: 128 } as const;

/** Register offsets (4.2.2). */
const R = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceID: 0x008,
  VendorID: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  QueueSel: 0x030,
  QueueNumMax: 0x034,
  QueueNum: 0x038,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptACK: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

/** What a device type provides to the transport. */
export interface VirtioBackend {
  readonly name: string;
  /** Virtio device ID (2 block, 3 console). */
  readonly deviceId: number;
  /** Feature bits the device offers (VIRTIO_F_VERSION_1 is added by the transport). */
  readonly features: bigint;
  /** Maximum size of each virtqueue. */
  readonly queueMax: readonly number[];
  /** Device-specific configuration space, read little-endian. */
  readConfig(offset: number, size: number): number;
  writeConfig?(offset: number, size: number, value: number): void;
  /** The driver notified queue `q`: consume it through `io`. */
  notify(q: number, io: VirtioIo): void;
  /** The device was reset (status 0). */
  reset?(): void;
  /** DRIVER_OK: the device may start using its queues (e.g. deliver pending input). */
  activate?(io: VirtioIo): void;
}

/** What a device type uses from the transport. */
export interface VirtioIo {
  readonly mem: GuestMemory;
  queue(q: number): Virtqueue;
  /** Used buffers were added: raise the used-buffer interrupt. */
  signalUsed(): void;
  /** The negotiated features. */
  readonly features: bigint;
  /** True once the driver set DRIVER_OK. */
  readonly active: boolean;
}

export class VirtioMmio implements Device, VirtioIo {
  readonly size = VIRTIO_MMIO_SIZE;
  readonly name: string;
  private readonly queues: Virtqueue[];
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  private queueSel = 0;
  private interruptStatus = 0;
  private status = 0;
  private generation = 0;
  /** Notifications handled per queue (diagnostics). */
  readonly notifies: number[];
  /** How notifications arrived: QueueNotify writes that exited to the VMM, ioeventfd signals. */
  readonly kicks = { mmio: 0, eventfd: 0 };

  constructor(
    readonly base: number,
    readonly backend: VirtioBackend,
    readonly mem: GuestMemory,
    private readonly irq: IrqLine,
  ) {
    this.name = `virtio-${backend.name}`;
    this.queues = backend.queueMax.map((m) => new Virtqueue(m));
    this.notifies = backend.queueMax.map(() => 0);
  }

  get features(): bigint {
    return this.driverFeatures;
  }

  get active(): boolean {
    return (this.status & VIRTIO_STATUS.DRIVER_OK) !== 0 && !(this.status & VIRTIO_STATUS.NEEDS_RESET);
  }

  /** The device's offered features. */
  private get offered(): bigint {
    return this.backend.features | VIRTIO_F_VERSION_1;
  }

  queue(q: number): Virtqueue {
    return this.queues[q]!;
  }

  signalUsed(): void {
    this.interruptStatus |= 1;
    this.irq.set(true);
  }

  /** A broken ring or buffer: the device needs a reset (2.1.2), and says so. */
  private fail(): void {
    this.status |= VIRTIO_STATUS.NEEDS_RESET;
    this.interruptStatus |= 2;
    this.irq.set(true);
  }

  private reset(): void {
    this.status = 0;
    this.driverFeatures = 0n;
    this.deviceFeaturesSel = this.driverFeaturesSel = this.queueSel = 0;
    this.interruptStatus = 0;
    for (const q of this.queues) q.reset();
    this.irq.set(false);
    this.backend.reset?.();
  }

  read(offset: number, size: number): number {
    if (offset >= R.Config) return this.backend.readConfig(offset - R.Config, size);
    if (size !== 4) return 0; // registers are 32-bit; narrower reads are undefined
    const q = this.queues[this.queueSel];
    switch (offset) {
      case R.MagicValue:
        return MAGIC;
      case R.Version:
        return 2;
      case R.DeviceID:
        return this.backend.deviceId;
      case R.VendorID:
        return VENDOR;
      case R.DeviceFeatures:
        return this.deviceFeaturesSel > 1 ? 0 : Number((this.offered >> BigInt(32 * this.deviceFeaturesSel)) & 0xffffffffn);
      case R.QueueNumMax:
        return q ? q.maxSize : 0;
      case R.QueueNum:
        return q ? q.num : 0;
      case R.QueueReady:
        return q?.ready ? 1 : 0;
      case R.InterruptStatus:
        return this.interruptStatus;
      case R.Status:
        return this.status;
      case R.QueueDescLow:
        return q ? q.desc >>> 0 : 0;
      case R.QueueDescHigh:
        return q ? Math.floor(q.desc / 2 ** 32) : 0;
      case R.QueueDriverLow:
        return q ? q.driver >>> 0 : 0;
      case R.QueueDriverHigh:
        return q ? Math.floor(q.driver / 2 ** 32) : 0;
      case R.QueueDeviceLow:
        return q ? q.device >>> 0 : 0;
      case R.QueueDeviceHigh:
        return q ? Math.floor(q.device / 2 ** 32) : 0;
      case R.ConfigGeneration:
        return this.generation;
      default:
        return 0;
    }
  }

  write(offset: number, size: number, value: number): void {
    if (offset >= R.Config) {
      this.backend.writeConfig?.(offset - R.Config, size, value);
      this.generation = (this.generation + 1) >>> 0;
      return;
    }
    if (size !== 4) return;
    const v = value >>> 0;
    const q = this.queues[this.queueSel];
    const lo = (cur: number) => Math.floor(cur / 2 ** 32) * 2 ** 32 + v;
    const hi = (cur: number) => v * 2 ** 32 + (cur >>> 0);
    switch (offset) {
      case R.DeviceFeaturesSel:
        this.deviceFeaturesSel = v;
        break;
      case R.DriverFeaturesSel:
        this.driverFeaturesSel = v;
        break;
      case R.DriverFeatures:
        if (this.driverFeaturesSel <= 1 && !(this.status & VIRTIO_STATUS.FEATURES_OK)) {
          const shift = BigInt(32 * this.driverFeaturesSel);
          this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(v) << shift);
        }
        break;
      case R.QueueSel:
        this.queueSel = v;
        break;
      case R.QueueNum:
        if (q && v > 0 && v <= q.maxSize && (v & (v - 1)) === 0) q.num = v;
        break;
      case R.QueueReady:
        if (q) q.ready = (v & 1) === 1;
        break;
      case R.QueueNotify:
        this.kicks.mmio++;
        this.doNotify(v & 0xffff);
        break;
      case R.InterruptACK:
        this.interruptStatus &= ~v;
        if (!this.interruptStatus) this.irq.set(false);
        break;
      case R.Status:
        this.writeStatus(v & 0xff);
        break;
      case R.QueueDescLow:
        if (q) q.desc = lo(q.desc);
        break;
      case R.QueueDescHigh:
        if (q) q.desc = hi(q.desc);
        break;
      case R.QueueDriverLow:
        if (q) q.driver = lo(q.driver);
        break;
      case R.QueueDriverHigh:
        if (q) q.driver = hi(q.driver);
        break;
      case R.QueueDeviceLow:
        if (q) q.device = lo(q.device);
        break;
      case R.QueueDeviceHigh:
        if (q) q.device = hi(q.device);
        break;
      default:
        break;
    }
  }

  private writeStatus(v: number): void {
    if (v === 0) {
      this.reset();
      return;
    }
    if (v & VIRTIO_STATUS.FEATURES_OK && !(this.status & VIRTIO_STATUS.FEATURES_OK)) {
      // Accept only a subset of what was offered, and only a modern driver (2.2.3).
      const ok = (this.driverFeatures & ~this.offered) === 0n && (this.driverFeatures & VIRTIO_F_VERSION_1) !== 0n;
      if (!ok) v &= ~VIRTIO_STATUS.FEATURES_OK;
    }
    const wasActive = this.active;
    this.status = v | (this.status & VIRTIO_STATUS.NEEDS_RESET);
    if (!wasActive && this.active) this.guard(() => this.backend.activate?.(this));
  }

  private doNotify(q: number): void {
    if (q >= this.queues.length || !this.active) return;
    this.notifies[q]!++;
    this.guard(() => this.backend.notify(q, this));
  }

  /** Runs device work; a ring pointing outside RAM marks the device broken instead of throwing. */
  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (!(e instanceof GuestMemoryError)) throw e;
      this.fail();
    }
  }

  /** Queue `q` was notified through its ioeventfd (`VirtioEventfds`). */
  kick(q: number): void {
    this.kicks.eventfd++;
    this.doNotify(q);
  }

  /** Gives the backend a chance to deliver input that arrived from the host (console). */
  poll(): void {
    if (this.active) this.guard(() => this.backend.activate?.(this));
  }
}

/**
 * QueueNotify served by ioeventfds: one per queue, with the queue index as datamatch (as
 * Firecracker registers them), so the guest's notify completes inside KVM_RUN with no exit; the
 * VMM reads the eventfds (`service`, after each KVM_RUN returns, or from its event loop) and runs
 * the queues. A write of another value still exits and reaches the register. Written against the
 * typed API: the same on the virtual backend and on /dev/kvm.
 */
export class VirtioEventfds {
  private readonly fds: EventFd[];

  constructor(
    private readonly vm: Vm,
    private readonly transport: VirtioMmio,
  ) {
    this.fds = transport.backend.queueMax.map((_, q) => {
      const fd = EventFd.create(vm.sys);
      vm.ioeventfd({ fd, addr: transport.base + R.QueueNotify, len: 4, datamatch: q });
      return fd;
    });
  }

  /** Runs every queue whose eventfd was signalled; returns how many were. */
  service(): number {
    let n = 0;
    this.fds.forEach((fd, q) => {
      if (fd.tryRead() === null) return;
      n++;
      this.transport.kick(q);
    });
    return n;
  }

  /** Deassigns the ioeventfds and closes them. */
  close(): void {
    this.fds.forEach((fd, q) => {
      this.vm.ioeventfd({ fd, addr: this.transport.base + R.QueueNotify, len: 4, datamatch: q, deassign: true });
      fd.close();
    });
  }
}
