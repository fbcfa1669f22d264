/**
 * GICv2 (arch/arm64/kvm/vgic/vgic-mmio-v2.c): the 4 KiB distributor with banked private
 * interrupts, ITARGETSR routing, GICD_SGIR and the per-source SGI pending registers; the 8 KiB
 * CPU interface the guest sees (GICC_*, which KVM maps from the hardware's GICV), and the
 * KVM_DEV_ARM_VGIC_GRP_CPU_REGS view of it (GICH_VMCR's fields, PMR as its top five bits).
 * @module
 */
import { activeOps, bank, CONFIG, enableOps, GROUP, pendOps, PRIORITY, raz, reg, table, TARGETS, wi, W32, W8, type Ctx, type Region } from './mmio.js';
import { BPR0_MIN, BPR1_MIN, CPU, NR_SGIS, PRI_MASK, SPURIOUS } from './vgic.js';

/** Frame sizes (KVM_VGIC_V2_DIST_SIZE, KVM_VGIC_V2_CPU_SIZE). */
export const DIST_SIZE = 0x1000;
export const CPU_SIZE = 0x2000;

const PRODUCT_ID_KVM = 0x4b;
const IMPLEMENTER_ARM = 0x43b;
const IIDR_REVISION_MASK = 0xf << 12;
/** GICC_IIDR: KVM's product, architecture version 2. */
const GICC_IIDR = (PRODUCT_ID_KVM << 20) | (2 << 16) | IMPLEMENTER_ARM;

/** GICC_CTLR bits kept in CPU.V2CTLR. */
const CTLR = { GRP0: 1, GRP1: 2, ACKCTL: 4, FIQEN: 8, CBPR: 0x10, EOIMODE: 0x200 } as const;
const CTLR_MASK = CTLR.GRP0 | CTLR.GRP1 | CTLR.ACKCTL | CTLR.FIQEN | CTLR.CBPR | CTLR.EOIMODE;

// ---- distributor ---------------------------------------------------------------------------------------

function readMisc(c: Ctx, addr: number): number {
  const g = c.g;
  switch (addr & 0xc) {
    case 0x0:
      return g.distEnabled ? 1 : 0;
    case 0x4:
      return ((g.nrIrqs >>> 5) - 1) | ((g.nVcpus - 1) << 5);
    case 0x8:
      return (PRODUCT_ID_KVM << 24) | (g.impRev << 12) | IMPLEMENTER_ARM;
    default:
      return 0;
  }
}

function writeMisc(c: Ctx, addr: number, _len: number, val: number): void {
  if ((addr & 0xc) !== 0) return;
  const g = c.g;
  g.lock();
  try {
    const was = g.distEnabled;
    g.distEnabled = (val & 1) !== 0;
    if (was !== g.distEnabled) g.updateAll();
  } finally {
    g.unlock();
  }
}

function uwriteMisc(c: Ctx, addr: number, len: number, val: number): 'EINVAL' | void {
  if ((addr & 0xc) === 0x8) {
    if (((readMisc(c, addr) ^ val) & ~IIDR_REVISION_MASK) !== 0) return 'EINVAL';
    const rev = (val & IIDR_REVISION_MASK) >>> 12;
    if (rev !== 2 && rev !== 3) return 'EINVAL';
    c.g.impRev = rev;
    return;
  }
  writeMisc(c, addr, len, val);
}

/** GICD_SGIR: TargetListFilter (list, all but self, self), CPUTargetList, SGIINTID. */
function writeSgir(c: Ctx, _addr: number, _len: number, val: number): void {
  const g = c.g;
  const sgi = val & 0xf;
  const mode = (val >>> 24) & 3;
  let targets = (val >>> 16) & 0xff;
  if (mode === 3) return;
  if (mode === 1) targets = ((1 << g.nVcpus) - 1) & ~(1 << c.vcpu);
  else if (mode === 2) targets = 1 << c.vcpu;
  for (let t = 0; t < g.nVcpus && t < 8; t++) if ((targets >>> t) & 1) g.raiseSgi(t, sgi, c.vcpu, true);
}

/** GICD_CPENDSGIR / SPENDSGIR: a byte of source CPUs per SGI of the accessing vCPU. */
function sgiPend(set: boolean) {
  return {
    read: (c: Ctx, addr: number, len: number) => {
      let v = 0;
      const first = addr & 0xf;
      for (let i = 0; i < len; i++) v |= c.g.sgiSrc[c.vcpu * NR_SGIS + first + i]! << (8 * i);
      return v >>> 0;
    },
    write: (c: Ctx, addr: number, len: number, val: number) => {
      const g = c.g;
      const first = addr & 0xf;
      g.lock();
      try {
        for (let i = 0; i < len; i++) {
          const k = c.vcpu * NR_SGIS + first + i;
          const b = (val >>> (8 * i)) & 0xff;
          g.sgiSrc[k] = set ? g.sgiSrc[k]! | b : g.sgiSrc[k]! & ~b;
        }
        g.update(c.vcpu);
      } finally {
        g.unlock();
      }
    },
  };
}

export const DIST_REGS: readonly Region[] = table([
  reg(0x000, 12, W32, readMisc, writeMisc, { uwrite: uwriteMisc }),
  bank(0x080, 1, W32, GROUP),
  bank(0x100, 1, W32, enableOps(true)),
  bank(0x180, 1, W32, enableOps(false)),
  bank(0x200, 1, W32, pendOps(true)),
  bank(0x280, 1, W32, pendOps(false)),
  bank(0x300, 1, W32, activeOps(true)),
  bank(0x380, 1, W32, activeOps(false)),
  bank(0x400, 8, W32 | W8, PRIORITY),
  bank(0x800, 8, W32 | W8, TARGETS),
  bank(0xc00, 2, W32, CONFIG),
  reg(0xf00, 4, W32, raz, writeSgir),
  reg(0xf10, 16, W32 | W8, sgiPend(false).read, sgiPend(false).write),
  reg(0xf20, 16, W32 | W8, sgiPend(true).read, sgiPend(true).write),
]);

// ---- CPU interface: userspace (KVM_DEV_ARM_VGIC_GRP_CPU_REGS) ---------------------------------------

function readVcpuif(c: Ctx, addr: number): number {
  const g = c.g;
  const v = c.vcpu;
  switch (addr & 0xff) {
    case 0x00:
      return g.cpuWord(v, CPU.V2CTLR) & CTLR_MASK;
    case 0x04:
      return (g.cpuWord(v, CPU.PMR) & PRI_MASK) >>> 3;
    case 0x08:
      return g.cpuWord(v, CPU.BPR0);
    case 0x1c:
      return g.cpuWord(v, CPU.BPR1);
    case 0xfc:
      return GICC_IIDR;
    default:
      return 0;
  }
}

function writeVcpuif(c: Ctx, addr: number, _len: number, val: number): void {
  const g = c.g;
  const v = c.vcpu;
  g.lock();
  try {
    switch (addr & 0xff) {
      case 0x00:
        g.setCpuWord(v, CPU.V2CTLR, val & CTLR_MASK);
        break;
      case 0x04:
        g.setCpuWord(v, CPU.PMR, (val << 3) & PRI_MASK);
        break;
      case 0x08:
        g.setCpuWord(v, CPU.BPR0, val & 7);
        break;
      case 0x1c:
        g.setCpuWord(v, CPU.BPR1, val & 7);
        break;
      default:
        return;
    }
    g.update(v);
  } finally {
    g.unlock();
  }
}

const readApr = (c: Ctx, addr: number) => (((addr >>> 2) & 3) === 0 ? c.g.cpuWord(c.vcpu, CPU.AP0R) >>> 0 : 0);
function writeApr(c: Ctx, addr: number, _len: number, val: number): void {
  if (((addr >>> 2) & 3) !== 0) return;
  c.g.setCpuWord(c.vcpu, CPU.AP0R, val | 0);
}

export const CPU_REGS: readonly Region[] = table([
  reg(0x00, 4, W32, readVcpuif, writeVcpuif),
  reg(0x04, 4, W32, readVcpuif, writeVcpuif),
  reg(0x08, 4, W32, readVcpuif, writeVcpuif),
  reg(0x1c, 4, W32, readVcpuif, writeVcpuif),
  reg(0xd0, 16, W32, readApr, writeApr),
  reg(0xfc, 4, W32, readVcpuif, writeVcpuif),
]);

// ---- CPU interface: the guest's GICC frame ------------------------------------------------------------

/** A guest read of the GICC frame (32-bit accesses; others read 0). */
export function giccRead(c: Ctx, off: number, len: number): number {
  if (len !== 4 || off & 3) return 0;
  const g = c.g;
  const v = c.vcpu;
  const ctlr = g.cpuWord(v, CPU.V2CTLR);
  switch (off) {
    case 0x00:
      return ctlr & CTLR_MASK;
    case 0x04:
      return g.cpuWord(v, CPU.PMR);
    case 0x08:
      return g.cpuWord(v, CPU.BPR0);
    case 0x0c: // GICC_IAR: Group 0, and Group 1 with AckCtl
      return g.ack(v, ctlr & CTLR.ACKCTL ? -1 : 0);
    case 0x14:
      return g.runningPrio(v);
    case 0x18: {
      const id = g.highestPending(v, -1);
      return id === SPURIOUS || ctlr & CTLR.ACKCTL || highestIsGroup0(c) ? id : 1022;
    }
    case 0x1c:
      return ctlr & CTLR.CBPR ? Math.min(g.cpuWord(v, CPU.BPR0) + 1, 7) : g.cpuWord(v, CPU.BPR1);
    case 0x20: // GICC_AIAR: Group 1
      return g.ack(v, 1);
    case 0x28:
      return g.highestPending(v, 1);
    case 0xd0:
      return g.cpuWord(v, CPU.AP0R) >>> 0;
    case 0xe0:
      return g.cpuWord(v, CPU.AP1R) >>> 0;
    case 0xfc:
      return GICC_IIDR;
    default:
      return 0;
  }
}

const highestIsGroup0 = (c: Ctx) => c.g.highestPending(c.vcpu, 0) !== SPURIOUS;

/** A guest write to the GICC frame. */
export function giccWrite(c: Ctx, off: number, len: number, val: number): void {
  if (len !== 4 || off & 3) return;
  const g = c.g;
  const v = c.vcpu;
  const eoimode = (g.cpuWord(v, CPU.V2CTLR) & CTLR.EOIMODE) !== 0;
  switch (off) {
    case 0x00:
    case 0x04:
    case 0x08:
    case 0x1c: {
      g.lock();
      try {
        if (off === 0x00) g.setCpuWord(v, CPU.V2CTLR, val & CTLR_MASK);
        else if (off === 0x04) g.setCpuWord(v, CPU.PMR, val & PRI_MASK);
        else if (off === 0x08) g.setCpuWord(v, CPU.BPR0, Math.max(BPR0_MIN, val & 7));
        else if ((g.cpuWord(v, CPU.V2CTLR) & CTLR.CBPR) === 0) g.setCpuWord(v, CPU.BPR1, Math.max(BPR1_MIN, val & 7));
        g.update(v);
      } finally {
        g.unlock();
      }
      return;
    }
    case 0x10: // GICC_EOIR
      g.eoi(v, 0, val & 0x3ff, !eoimode);
      return;
    case 0x24: // GICC_AEOIR
      g.eoi(v, 1, val & 0x3ff, !eoimode);
      return;
    case 0x1000: // GICC_DIR
      g.deactivate(v, val & 0x3ff);
      return;
    default:
      return;
  }
}

export { wi };
