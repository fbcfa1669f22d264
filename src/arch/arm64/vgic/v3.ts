/**
 * The GICv3 distributor and redistributor frames (arch/arm64/kvm/vgic/vgic-mmio-v3.c): the
 * register tables behind the guest's MMIO and KVM_DEV_ARM_VGIC_GRP_{DIST,REDIST}_REGS.
 *
 * The distributor (64 KiB) holds the SPIs' banks and IROUTER; its SGI/PPI parts are RAZ/WI (they
 * are the redistributors'). Each vCPU's redistributor is 128 KiB: RD_base (control, TYPER with
 * the vCPU's affinity) and SGI_base (the private interrupts' banks). With an ITS (vgic_has_its)
 * the distributor has 16 INTID bits and GICD_TYPER.LPIS, each redistributor GICR_TYPER.PLPIS,
 * GICR_CTLR.EnableLPIs, GICR_PROPBASER (one for the VM) / GICR_PENDBASER sanitised as KVM does,
 * GICR_INVLPIR / GICR_INVALLR (the LPI table accesses are the owner thread's, its.ts).
 * @module
 */
import { activeOps, bank, CONFIG, enableOps, GROUP, pendOps, PRIORITY, raz, rao, reg, sharedBank, table, wi, W32, W64, W8, type Ctx, type Region } from './mmio.js';
import { CPU, CPU_WORDS, GIC_V3, GICR_CTLR_ENABLE_LPIS, GICR_CTLR_RWP, H, LPI_BASE, NR_PRIVATE } from './vgic.js';

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
/** 10 INTID bits for SPIs (GICD_TYPER.IDbits + 1), 16 with an ITS. */
const INTERRUPT_ID_BITS_SPIS = 10;
const INTERRUPT_ID_BITS_ITS = 16;
const GICD_TYPER_LPIS = 1 << 17;
const GICR_TYPER_PLPIS = 1;
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
      if (g.hdr[H.HAS_ITS]) return ((g.nrIrqs >>> 5) - 1) | ((INTERRUPT_ID_BITS_ITS - 1) << 19) | GICD_TYPER_LPIS;
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
  const v = Atomics.load(c.g.cpu, c.vcpu * CPU_WORDS + CPU.RDCTLR);
  return v | (c.g.impRev >= 3 ? GICR_CTLR_IR | GICR_CTLR_CES : 0);
}

/**
 * vgic_mmio_write_v3r_ctlr: EnableLPIs (with an ITS). Enabling reads the pending table;
 * disabling drops the vCPU's pending LPIs (vgic_flush_pending_lpis).
 */
function writeRdCtlr(c: Ctx, _addr: number, _len: number, val: number): void {
  const g = c.g;
  if (!g.hdr[H.HAS_ITS]) return;
  const i = c.vcpu * CPU_WORDS + CPU.RDCTLR;
  if (!(val & GICR_CTLR_ENABLE_LPIS)) {
    if (Atomics.compareExchange(g.cpu, i, GICR_CTLR_ENABLE_LPIS, GICR_CTLR_RWP) !== GICR_CTLR_ENABLE_LPIS) return;
    g.lock();
    try {
      for (let k = 0; k < g.hdr[H.LPI_HWM]!; k++) {
        const s = g.lpiBase + k;
        // What sits on the vCPU's ap_list: pending and enabled LPIs targeting it.
        if (g.lpiIntid[k] !== 0 && g.lpiTarget[k] === c.vcpu && g.enabled[s]) g.latch[s] = 0;
      }
      g.update(c.vcpu);
    } finally {
      g.unlock();
    }
    Atomics.store(g.cpu, i, 0);
    return;
  }
  if (Atomics.compareExchange(g.cpu, i, 0, GICR_CTLR_ENABLE_LPIS) !== 0) return;
  g.lpiHooks?.enable(c.vcpu);
}

/** GICR_TYPER: the vCPU's affinity, its id as processor number, Last, PLPIS with an ITS. */
function readRdTyper(c: Ctx, addr: number): number {
  const g = c.g;
  if (addr & 4) return g.cpuWord(c.vcpu, CPU.MPIDR) & 0xffffff;
  return ((g.cpuWord(c.vcpu, CPU.ID) & 0xffff) << 8) | (g.cpuWord(c.vcpu, CPU.RD_LAST) ? GICR_TYPER_LAST : 0) | (g.hdr[H.HAS_ITS] ? GICR_TYPER_PLPIS : 0);
}

const readRdIidr = () => (PRODUCT_ID_KVM << 24) | IMPLEMENTER_ARM;

/** GICR_PROPBASER / GICR_PENDBASER RES0 bits (PROPBASER_RES0_MASK, PENDBASER_RES0_MASK). */
const PROP_RES0 = 0xf8f0_0000_0000_0060n;
const PEND_RES0 = 0xb8f0_0000_0000_f07fn;
const PENDBASER_PTZ = 1n << 62n;

/** vgic_sanitise_field with the shareability / inner / outer rules (vgic_sanitise_*). */
export function sanitiseBaser(reg: bigint, shShift: bigint, innerShift: bigint, outerShift: bigint): bigint {
  const field = (shift: bigint, mask: bigint) => (reg >> shift) & mask;
  const put = (shift: bigint, mask: bigint, v: bigint) => {
    reg = (reg & ~(mask << shift)) | (v << shift);
  };
  // Outer shareable becomes inner shareable.
  if (field(shShift, 3n) === 2n) put(shShift, 3n, 1n);
  // Inner non-cacheable (nCnB, nC) becomes RaWb.
  const inner = field(innerShift, 7n);
  if (inner === 0n || inner === 1n) put(innerShift, 7n, 3n);
  // Outer: SameAsInner or nC stay, anything else becomes SameAsInner.
  const outer = field(outerShift, 7n);
  if (outer !== 0n && outer !== 1n) put(outerShift, 7n, 0n);
  return reg;
}

/** Replaces the 32-bit half at `addr & 4` (or all 64 bits) of `reg` (update_64bit_reg). */
export function update64(reg: bigint, addr: number, len: number, lo: number, hi: number): bigint {
  if (len === 8) return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  if (addr & 4) return (reg & 0xffff_ffffn) | (BigInt(lo >>> 0) << 32n);
  return (reg & 0xffff_ffff_0000_0000n) | BigInt(lo >>> 0);
}

const get64 = (a: Int32Array, lo: number) => (BigInt(a[lo + 1]! >>> 0) << 32n) | BigInt(a[lo]! >>> 0);
const set64 = (a: Int32Array, lo: number, v: bigint) => {
  a[lo] = Number(v & 0xffff_ffffn) | 0;
  a[lo + 1] = Number(v >> 32n) | 0;
};

/** GICR_PROPBASER (one for the VM, as KVM keeps it) and GICR_PENDBASER: ignored while LPIs are enabled. */
function baser(prop: boolean) {
  const where = (c: Ctx): [Int32Array, number] => (prop ? [c.g.hdr, H.PROPBASER_LO] : [c.g.cpu, c.vcpu * CPU_WORDS + CPU.PENDBASER_LO]);
  return {
    read: (c: Ctx, addr: number) => {
      const [a, i] = where(c);
      const v = a[i + (addr & 4 ? 1 : 0)]!;
      // PENDBASER.PTZ reads as 0.
      return prop || !(addr & 4) ? v : v & ~(1 << 30);
    },
    write: (c: Ctx, addr: number, _len: number, val: number) => {
      if (c.g.lpisEnabled(c.vcpu)) return;
      const [a, i] = where(c);
      let v = update64(get64(a, i), addr, 4, val, 0);
      v = sanitiseBaser(v, 10n, 7n, 56n) & ~(prop ? PROP_RES0 : PEND_RES0);
      set64(a, i, v);
    },
  };
}

/** The GICR_PENDBASER of vCPU `v` as a number (PTZ included), for the LPI code. */
export function pendbaser(c: Ctx): bigint {
  return get64(c.g.cpu, c.vcpu * CPU_WORDS + CPU.PENDBASER_LO);
}
export const PTZ = PENDBASER_PTZ;

/** GICR_INVLPIR / GICR_INVALLR: the low word's write, with LPIs enabled. */
function writeInvlpi(c: Ctx, addr: number, _len: number, val: number): void {
  if (addr & 4 || !c.g.lpisEnabled(c.vcpu)) return;
  if (val >>> 0 < LPI_BASE) return;
  if (c.g.lpiSlot(val >>> 0) >= 0) c.g.lpiHooks?.inv(val >>> 0);
}
function writeInvall(c: Ctx, addr: number): void {
  if (addr & 4 || !c.g.lpisEnabled(c.vcpu)) return;
  c.g.lpiHooks?.invall(c.vcpu);
}

const sgi = (off: number) => SGI_BASE + off;

export const REDIST_REGS: readonly Region[] = table([
  reg(0x0000, 4, W32, readRdCtlr, writeRdCtlr), // GICR_CTLR
  reg(0x0004, 4, W32, readRdIidr, wi),
  reg(0x0008, 8, W64 | W32, readRdTyper, wi, { uwrite: () => {} }),
  reg(0x0010, 4, W32, raz, wi), // GICR_STATUSR
  reg(0x0014, 4, W32, raz, wi), // GICR_WAKER
  reg(0x0070, 8, W64 | W32, baser(true).read, baser(true).write),
  reg(0x0078, 8, W64 | W32, baser(false).read, baser(false).write),
  reg(0x00a0, 8, W64 | W32, raz, writeInvlpi), // GICR_INVLPIR
  reg(0x00b0, 8, W64 | W32, raz, writeInvall), // GICR_INVALLR
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
