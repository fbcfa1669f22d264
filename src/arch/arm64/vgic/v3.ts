/**
 * The GICv3 distributor and redistributor frames (arch/arm64/kvm/vgic/vgic-mmio-v3.c): the
 * register tables behind the guest's MMIO and KVM_DEV_ARM_VGIC_GRP_{DIST,REDIST}_REGS.
 *
 * The distributor (64 KiB) holds the SPIs' banks and IROUTER; its SGI/PPI parts are RAZ/WI (they
 * are the redistributors'). Each vCPU's redistributor is 128 KiB: RD_base (control, TYPER with
 * the vCPU's affinity, no LPIs) and SGI_base (the private interrupts' banks). LPIs are not
 * modelled: GICD_TYPER.LPIS and GICR_TYPER.PLPIS read 0, PROPBASER/PENDBASER are plain storage.
 * @module
 */
import { activeOps, bank, CONFIG, enableOps, GROUP, pendOps, PRIORITY, raz, rao, reg, sharedBank, table, wi, W32, W64, W8, type Ctx, type Region } from './mmio.js';
import { CPU, CPU_WORDS, GIC_V3, H, NR_PRIVATE } from './vgic.js';

/** Frame sizes (KVM_VGIC_V3_DIST_SIZE, KVM_VGIC_V3_REDIST_SIZE). */
export const DIST_SIZE = 0x10000;
export const REDIST_SIZE = 0x20000;
/** The SGI_base frame of a redistributor. */
const SGI_BASE = 0x10000;

const GICD_CTLR_ENABLE_G1 = 1 << 1;
const GICD_CTLR_ARE_NS = 1 << 4;
const GICD_CTLR_DS = 1 << 6;
const PRODUCT_ID_KVM = 0x4b;
const IMPLEMENTER_ARM = 0x43b;
const IIDR_REVISION_SHIFT = 12;
const IIDR_REVISION_MASK = 0xf << IIDR_REVISION_SHIFT;
/** 10 INTID bits for SPIs (GICD_TYPER.IDbits + 1). */
const INTERRUPT_ID_BITS_SPIS = 10;
const GICR_CTLR_CES = 1 << 1;
const GICR_CTLR_IR = 1 << 2;
const GICR_TYPER_LAST = 1 << 4;
/** GICD_PIDR2 / GICR_PIDR2: ArchRev 3. */
const PIDR2 = 0x3b;
const IDREGS = 0xffd0;

// ---- distributor ---------------------------------------------------------------------------------------

/** GICD_CTLR, GICD_TYPER, GICD_IIDR, GICD_TYPER2 (vgic_mmio_read_v3_misc). */
function readMisc(c: Ctx, addr: number): number {
  const g = c.g;
  switch (addr & 0xc) {
    case 0x0:
      return (g.distEnabled ? GICD_CTLR_ENABLE_G1 : 0) | GICD_CTLR_ARE_NS | GICD_CTLR_DS;
    case 0x4:
      return ((g.nrIrqs >>> 5) - 1) | ((INTERRUPT_ID_BITS_SPIS - 1) << 19);
    case 0x8:
      return (PRODUCT_ID_KVM << 24) | (g.impRev << IIDR_REVISION_SHIFT) | IMPLEMENTER_ARM;
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
    g.distEnabled = (val & GICD_CTLR_ENABLE_G1) !== 0;
    if (was !== g.distEnabled) g.updateAll();
  } finally {
    g.unlock();
  }
}

/** Userspace: TYPER2 must match, IIDR may only change its revision (2 or 3), CTLR restores the enable. */
function uwriteMisc(c: Ctx, addr: number, len: number, val: number): 'EINVAL' | void {
  const g = c.g;
  switch (addr & 0xc) {
    case 0xc:
      if (val !== readMisc(c, addr)) return 'EINVAL';
      return;
    case 0x8: {
      if (((readMisc(c, addr) ^ val) & ~IIDR_REVISION_MASK) !== 0) return 'EINVAL';
      const rev = (val & IIDR_REVISION_MASK) >>> IIDR_REVISION_SHIFT;
      if (rev !== 2 && rev !== 3) return 'EINVAL';
      g.impRev = rev;
      return;
    }
    case 0x0:
      g.distEnabled = (val & GICD_CTLR_ENABLE_G1) !== 0;
      return;
    default:
      writeMisc(c, addr, len, val);
  }
}

const readIdregs = (_c: Ctx, addr: number) => ((addr & 0xffff) === 0xffe8 ? PIDR2 : 0);

/** GICD_IROUTER<n>: Aff2.Aff1.Aff0 in the low word; the high word (Aff3) is RAZ/WI. */
const IROUTER_BASE = 0x6000;
const irouterIntid = (addr: number) => (addr - IROUTER_BASE) >>> 3;
function readIrouter(c: Ctx, addr: number): number {
  const intid = irouterIntid(addr);
  if (addr & 4 || intid < NR_PRIVATE) return 0;
  return c.g.router[intid - NR_PRIVATE]!;
}
function writeIrouter(c: Ctx, addr: number, _len: number, val: number): void {
  const g = c.g;
  const intid = irouterIntid(addr);
  if (addr & 4 || intid < NR_PRIVATE || intid >= g.nrIrqs) return;
  g.lock();
  try {
    g.router[intid - NR_PRIVATE] = val & 0xffffff;
    g.retarget(intid - NR_PRIVATE);
  } finally {
    g.unlock();
  }
}

export const DIST_REGS: readonly Region[] = table([
  reg(0x0000, 16, W32, readMisc, writeMisc, { uwrite: uwriteMisc }),
  reg(0x0010, 4, W32, rao, wi), // GICD_STATUSR
  sharedBank(0x0080, 1, W32, GROUP),
  sharedBank(0x0100, 1, W32, enableOps(true)),
  sharedBank(0x0180, 1, W32, enableOps(false)),
  sharedBank(0x0200, 1, W32, pendOps(true)),
  sharedBank(0x0280, 1, W32, pendOps(false)),
  sharedBank(0x0300, 1, W32, activeOps(true)),
  sharedBank(0x0380, 1, W32, activeOps(false)),
  sharedBank(0x0400, 8, W32 | W8, PRIORITY),
  sharedBank(0x0800, 8, W32 | W8, { read: () => 0, write: () => {} }), // GICD_ITARGETSR: RAZ/WI with ARE
  sharedBank(0x0c00, 2, W32, CONFIG),
  sharedBank(0x0d00, 1, W32, { read: () => 0, write: () => {} }), // GICD_IGRPMODR
  // GICD_IROUTER: a 64-bit register per SPI, the private part RAZ/WI.
  { off: IROUTER_BASE, len: 8 * 1024, bpi: 64, base: IROUTER_BASE, widths: W64 | W32, read: readIrouter, write: writeIrouter },
  reg(IDREGS, 48, W32, readIdregs, wi),
]);

// ---- redistributor -----------------------------------------------------------------------------------

function readRdCtlr(c: Ctx): number {
  return c.g.impRev >= 3 ? GICR_CTLR_IR | GICR_CTLR_CES : 0;
}

/** GICR_TYPER: the vCPU's affinity, its id as processor number, Last; no PLPIS. */
function readRdTyper(c: Ctx, addr: number): number {
  const g = c.g;
  if (addr & 4) return g.cpuWord(c.vcpu, CPU.MPIDR) & 0xffffff;
  return ((g.cpuWord(c.vcpu, CPU.ID) & 0xffff) << 8) | (g.cpuWord(c.vcpu, CPU.RD_LAST) ? GICR_TYPER_LAST : 0);
}

const readRdIidr = () => (PRODUCT_ID_KVM << 24) | IMPLEMENTER_ARM;

/** GICR_PROPBASER (one for the VM, as KVM keeps it) and GICR_PENDBASER, without their RES0 bits. */
const PROP_RES0 = [0x00000060, 0xf8f00000];
const PEND_RES0 = [0x0000f07f, 0xb8f00000];
function baser(prop: boolean) {
  const word = (c: Ctx, hi: number): [Int32Array, number] =>
    prop ? [c.g.hdr, hi ? H.PROPBASER_HI : H.PROPBASER_LO] : [c.g.cpu, c.vcpu * CPU_WORDS + (hi ? CPU.PENDBASER_HI : CPU.PENDBASER_LO)];
  return {
    read: (c: Ctx, addr: number) => {
      const [a, i] = word(c, addr & 4);
      // PENDBASER.PTZ reads as 0.
      return prop || !(addr & 4) ? a[i]! : a[i]! & ~(1 << 30);
    },
    write: (c: Ctx, addr: number, _len: number, val: number) => {
      const [a, i] = word(c, addr & 4);
      a[i] = val & ~(prop ? PROP_RES0 : PEND_RES0)[addr & 4 ? 1 : 0]!;
    },
  };
}

const sgi = (off: number) => SGI_BASE + off;

export const REDIST_REGS: readonly Region[] = table([
  reg(0x0000, 4, W32, readRdCtlr, wi), // GICR_CTLR (LPIs cannot be enabled without an ITS)
  reg(0x0004, 4, W32, readRdIidr, wi),
  reg(0x0008, 8, W64 | W32, readRdTyper, wi, { uwrite: () => {} }),
  reg(0x0010, 4, W32, raz, wi), // GICR_STATUSR
  reg(0x0014, 4, W32, raz, wi), // GICR_WAKER
  reg(0x0070, 8, W64 | W32, baser(true).read, baser(true).write),
  reg(0x0078, 8, W64 | W32, baser(false).read, baser(false).write),
  reg(0x00a0, 8, W64 | W32, raz, wi), // GICR_INVLPIR
  reg(0x00b0, 8, W64 | W32, raz, wi), // GICR_INVALLR
  reg(0x00c0, 4, W32, raz, wi), // GICR_SYNCR: never busy
  reg(IDREGS, 48, W32, readIdregs, wi),
  bank(sgi(0x0080), 1, W32, GROUP, NR_PRIVATE),
  bank(sgi(0x0100), 1, W32, enableOps(true), NR_PRIVATE),
  bank(sgi(0x0180), 1, W32, enableOps(false), NR_PRIVATE),
  bank(sgi(0x0200), 1, W32, pendOps(true), NR_PRIVATE),
  bank(sgi(0x0280), 1, W32, pendOps(false), NR_PRIVATE),
  bank(sgi(0x0300), 1, W32, activeOps(true), NR_PRIVATE),
  bank(sgi(0x0380), 1, W32, activeOps(false), NR_PRIVATE),
  bank(sgi(0x0400), 8, W32 | W8, PRIORITY, NR_PRIVATE),
  bank(sgi(0x0c00), 2, W32, CONFIG, NR_PRIVATE),
  reg(sgi(0x0d00), 4, W32, raz, wi), // GICR_IGRPMODR0
  reg(sgi(0x0e00), 4, W32, raz, wi), // GICR_NSACR
]);

/** Whether a VgicState is a GICv3 one (the v3 tables apply). */
export const isV3 = (model: number) => model === GIC_V3;
