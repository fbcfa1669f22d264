/**
 * The "virt" board of gic-board.ts with a vGIC ITS at 0x08080000 (where QEMU's virt puts its ITS)
 * and the VMM side of the its guest's MSI requests: a write of `how << 16 | event` to the doorbell
 * (0x0a000050) is answered with KVM_SIGNAL_MSI (how 1) or by signalling the irqfd whose GSI is
 * routed as that event's MSI (how 2), always for device 0 with KVM_MSI_VALID_DEVID.
 */
import { EventFd, type Device, type VcpuExit } from '../../src/index.js';
import { KVM_DEV_TYPE, KVM_MSI } from '../../src/uapi/constants.js';
import { KVM_DEV_ARM_VGIC, KVM_VGIC } from '../../src/uapi/arm64.js';
import { board, DOORBELL, irqGuest, type Board, type BoardOptions } from './gic-board.js';

export const ITS_BASE = 0x0808_0000;
export const GITS_TRANSLATER = 0x1_0040;
/** The events the guest asks for by irqfd, each on its own GSI. */
export const IRQFD_EVENTS = [0, 8200, 1];

export interface ItsBoard extends Board {
  readonly its: Device;
  /** KVM_SIGNAL_MSI results, in order. */
  readonly msiResults: number[];
  /** Irqfd MSIs signalled. */
  irqfdCount: number;
  /** Runs vCPU 0 until the guest powers off, or until `stop` (checked after each exit) is true. */
  runUntil(stop?: () => boolean, maxRuns?: number): boolean;
}

/** Creates the ITS the way QEMU's kvm ITS does: after the vGIC's INIT, its address, CTRL INIT. */
export function createIts(b: Board): Device {
  const its = b.vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_ITS)!;
  its.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_ADDR, attr: KVM_VGIC.ITS_ADDR_TYPE }, ITS_BASE);
  its.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_CTRL, attr: KVM_DEV_ARM_VGIC.CTRL_INIT });
  return its;
}

export function itsBoard(o: BoardOptions = {}): ItsBoard {
  const b = board(irqGuest('its'), o);
  const its = createIts(b);
  const doorbell = ITS_BASE + GITS_TRANSLATER;
  b.vm.setGsiRouting(IRQFD_EVENTS.map((ev, gsi) => ({ gsi, type: 'msi' as const, addressLo: doorbell, data: ev, devid: 0, flags: KVM_MSI.VALID_DEVID })));
  const fds = IRQFD_EVENTS.map((_ev, gsi) => {
    const fd = EventFd.create(b.sys);
    b.vm.irqfd({ fd, gsi });
    return fd;
  });
  const msiResults: number[] = [];
  const ib: ItsBoard = Object.assign(b, {
    its,
    msiResults,
    irqfdCount: 0,
    runUntil(stop?: () => boolean, maxRuns = 200_000): boolean {
      const v = b.vcpus[0]!;
      // A guest waiting in WFI for an LPI that never comes returns EINTR every 100 ms: give up after 30 s.
      const deadline = Date.now() + 30_000;
      for (let i = 0; i < maxRuns && Date.now() < deadline; i++) {
        const e: VcpuExit = v.run();
        if (e.reason === 'intr') continue;
        if (e.reason === 'mmio' && e.isWrite && e.physAddr === BigInt(DOORBELL)) {
          const req = new DataView(e.data.buffer, e.data.byteOffset, 4).getUint32(0, true);
          const ev = req & 0xffff;
          if (req >>> 16 === 1) msiResults.push(b.vm.signalMsi({ addressLo: doorbell, data: ev, devid: 0, flags: KVM_MSI.VALID_DEVID }));
          else {
            fds[IRQFD_EVENTS.indexOf(ev)]!.signal();
            ib.irqfdCount++;
          }
        } else if (!b.handle(e)) return false;
        if (stop?.()) return true;
      }
      throw new Error(`no system event (${maxRuns} runs or 30 s); output so far: ${JSON.stringify(b.uart.out)}`);
    },
  });
  return ib;
}
