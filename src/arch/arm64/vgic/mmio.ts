/**
 * The vGIC register frames as tables (arch/arm64/kvm/vgic/vgic-mmio.c): each region names its
 * offset, length, access widths, bits per interrupt (for the per-INTID banks), and its guest
 * and userspace accessors. The same table answers guest MMIO (through the I/O bus) and the
 * KVM_DEV_ARM_VGIC_GRP_{DIST,REDIST}_REGS attributes, as in the kernel; it also decides which
 * offsets KVM_HAS_DEVICE_ATTR accepts.
 *
 * An access no region takes, or one of a width the region does not allow, or one addressing an
 * INTID the vGIC does not have, reads as zero and is ignored (dispatch_mmio_read/write).
 * @module
 */
import { GIC_V2, GIC_V3, NR_PRIVATE, NR_SGIS, PRI_MASK, type VgicState } from './vgic.js';

/** Access widths (VGIC_ACCESS_*). */
export const W8 = 1;
export const W32 = 4;
export const W64 = 8;

/** Who accesses: the vGIC, the accessing (or, for a redistributor, the owning) vCPU index. */
export interface Ctx {
  readonly g: VgicState;
  readonly vcpu: number;
}

/** A guest read of `len` (1 or 4) bytes at frame offset `addr`. */
export type Read = (c: Ctx, addr: number, len: number) => number;
/** A guest write. */
export type Write = (c: Ctx, addr: number, len: number, val: number) => void;
/** A userspace write: 0, or a negative errno name's marker (thrown by the caller). */
export type UWrite = (c: Ctx, addr: number, len: number, val: number) => 'EINVAL' | void;

export interface Region {
  readonly off: number;
  readonly len: number;
  /** Bits per interrupt for banks indexed by INTID (0: a plain register). */
  readonly bpi: number;
  /** Offset of INTID 0 of a bank. */
  readonly base: number;
  /** Allowed access widths (W8 | W32 | W64). */
  readonly widths: number;
  readonly read: Read;
  readonly write: Write;
  readonly uread?: Read;
  readonly uwrite?: UWrite;
}

export const raz: Read = () => 0;
export const rao: Read = () => 0xffffffff;
export const wi: Write = () => {};

/** A plain register (REGISTER_DESC_WITH_LENGTH[_UACCESS]). */
export function reg(off: number, len: number, widths: number, read: Read, write: Write, u: { uread?: Read; uwrite?: UWrite } = {}): Region {
  return { off, len, bpi: 0, base: off, widths, read, write, ...u };
}

/** The accessors of a bank, by first INTID and number of interrupts. */
export interface BankOps {
  read(c: Ctx, intid: number, n: number): number;
  write(c: Ctx, intid: number, n: number, val: number): void;
  uread?(c: Ctx, intid: number, n: number): number;
  uwrite?(c: Ctx, intid: number, n: number, val: number): 'EINVAL' | void;
}

function bankRegion(off: number, len: number, base: number, bpi: number, widths: number, ops: BankOps): Region {
  const at = (addr: number) => ((addr - base) * 8) / bpi;
  const n = (len: number) => (len * 8) / bpi;
  return {
    off,
    len,
    bpi,
    base,
    widths,
    read: (c, a, l) => ops.read(c, at(a), n(l)),
    write: (c, a, l, v) => ops.write(c, at(a), n(l), v),
    ...(ops.uread ? { uread: (c: Ctx, a: number, l: number) => ops.uread!(c, at(a), n(l)) } : {}),
    ...(ops.uwrite ? { uwrite: (c: Ctx, a: number, l: number, v: number) => ops.uwrite!(c, at(a), n(l), v) } : {}),
  };
}

/** A bank indexed by INTID covering `count` interrupts (REGISTER_DESC_WITH_BITS_PER_IRQ / _LENGTH). */
export function bank(off: number, bpi: number, widths: number, ops: BankOps, count = 1024): Region {
  return bankRegion(off, (bpi * count) / 8, off, bpi, widths, ops);
}

/**
 * A GICv3 distributor bank: the private-interrupt part is RAZ/WI (it lives in the
 * redistributors), the rest is the bank (REGISTER_DESC_WITH_BITS_PER_IRQ_SHARED).
 */
export function sharedBank(off: number, bpi: number, widths: number, ops: BankOps): Region[] {
  const priv = (bpi * NR_PRIVATE) / 8;
  return [
    { off, len: priv, bpi, base: off, widths, read: raz, write: wi },
    bankRegion(off + priv, (bpi * (1024 - NR_PRIVATE)) / 8, off, bpi, widths, ops),
  ];
}

/** The region of a frame holding `addr`, if the access (`len` bytes) is one it allows. */
export function findRegion(regions: readonly Region[], g: VgicState, addr: number, len: number): Region | undefined {
  let lo = 0;
  let hi = regions.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = regions[mid]!;
    if (addr < r.off) hi = mid - 1;
    else if (addr >= r.off + r.len) lo = mid + 1;
    else {
      const w = len === 1 ? W8 : len === 4 ? W32 : len === 8 ? W64 : 0;
      if ((r.widths & w) === 0 || addr % len !== 0) return undefined;
      if (r.bpi !== 0 && ((addr - r.base) * 8) / r.bpi >= g.nrIrqs) return undefined;
      return r;
    }
  }
  return undefined;
}

/**
 * A guest access of 1, 4 or 8 bytes (8-byte accesses as two 32-bit halves; every 64-bit
 * register here is two independent halves). Returns the value read (reads) as lo/hi.
 */
export function mmioRead(regions: readonly Region[], c: Ctx, addr: number, len: number, out: { lo: number; hi: number }): void {
  out.lo = 0;
  out.hi = 0;
  const r = findRegion(regions, c.g, addr, len);
  if (r === undefined) return;
  if (len === 8) {
    out.lo = r.read(c, addr, 4) >>> 0;
    out.hi = r.read(c, addr + 4, 4) >>> 0;
  } else out.lo = r.read(c, addr, len) >>> 0;
}

export function mmioWrite(regions: readonly Region[], c: Ctx, addr: number, len: number, lo: number, hi: number): void {
  const r = findRegion(regions, c.g, addr, len);
  if (r === undefined) return;
  if (len === 8) {
    r.write(c, addr, 4, lo >>> 0);
    r.write(c, addr + 4, 4, hi >>> 0);
  } else r.write(c, addr, len, (len === 1 ? lo & 0xff : lo) >>> 0);
}

/** Userspace's 32-bit read (vgic_uaccess_read): an offset no region takes reads as 0. */
export function uaccessRead(regions: readonly Region[], c: Ctx, addr: number): number {
  const r = findRegion(regions, c.g, addr, 4);
  if (r === undefined) return 0;
  return (r.uread ?? r.read)(c, addr, 4) >>> 0;
}

/** Userspace's 32-bit write (vgic_uaccess_write); an errno name when the region refuses it. */
export function uaccessWrite(regions: readonly Region[], c: Ctx, addr: number, val: number): 'EINVAL' | void {
  const r = findRegion(regions, c.g, addr, 4);
  if (r === undefined) return;
  if (r.uwrite) return r.uwrite(c, addr, 4, val >>> 0);
  r.write(c, addr, 4, val >>> 0);
}

// ---- the per-INTID banks ----------------------------------------------------------------------------

/** Runs `f(slot, i, intid)` for `n` interrupts from `first` (of the accessing vCPU), under the lock. */
function each(c: Ctx, first: number, n: number, f: (s: number, i: number, intid: number) => void): void {
  const g = c.g;
  g.lock();
  try {
    for (let i = 0; i < n; i++) {
      const s = g.slot(c.vcpu, first + i);
      if (s >= 0) f(s, i, first + i);
    }
    // Recompute the outputs of the vCPUs these interrupts reach.
    if (first < NR_PRIVATE) g.update(c.vcpu);
    if (first + n > NR_PRIVATE) g.updateAll();
  } finally {
    g.unlock();
  }
}

/** A bit per interrupt read. */
function bits(c: Ctx, first: number, n: number, get: (s: number) => boolean): number {
  let v = 0;
  const g = c.g;
  g.lock();
  try {
    for (let i = 0; i < n; i++) {
      const s = g.slot(c.vcpu, first + i);
      if (s >= 0 && get(s)) v |= 1 << i;
    }
  } finally {
    g.unlock();
  }
  return v >>> 0;
}

/** Applies `f` to the interrupts whose bit is set in `val`. */
function setBits(c: Ctx, first: number, n: number, val: number, f: (s: number, intid: number) => void): void {
  each(c, first, n, (s, i, intid) => {
    if ((val >>> i) & 1) f(s, intid);
  });
}

const v2sgi = (g: VgicState, intid: number) => g.model === GIC_V2 && intid < NR_SGIS;

/** GICD_IGROUPR / GICR_IGROUPR0. */
export const GROUP: BankOps = {
  read: (c, f, n) => bits(c, f, n, (s) => c.g.group[s] !== 0),
  write: (c, f, n, v) =>
    each(c, f, n, (s, i) => {
      c.g.group[s] = (v >>> i) & 1;
    }),
};

/** GICD_ISENABLER / ICENABLER. */
export const enableOps = (set: boolean): BankOps => ({
  read: (c, f, n) => bits(c, f, n, (s) => c.g.enabled[s] !== 0),
  write: (c, f, n, v) =>
    setBits(c, f, n, v, (s) => {
      c.g.enabled[s] = set ? 1 : 0;
    }),
});

/** GICD_ISPENDR / ICPENDR, with KVM's userspace semantics. */
export const pendOps = (set: boolean): BankOps => {
  const apply = (user: boolean) => (c: Ctx, f: number, n: number, v: number) =>
    setBits(c, f, n, v, (s, intid) => {
      const g = c.g;
      if (v2sgi(g, intid)) {
        // GICv2 SGIs: WI from the guest; userspace restores them with the vCPU as their source.
        if (!user) return;
        const k = c.vcpu * NR_SGIS + intid;
        g.sgiSrc[k] = set ? g.sgiSrc[k]! | (1 << c.vcpu) : 0;
        return;
      }
      g.latch[s] = set ? 1 : 0;
    });
  return {
    read: (c, f, n) => bits(c, f, n, (s) => c.g.pending(s)),
    write: apply(false),
    // GICv3 userspace sees and sets the latch alone (the line level is LEVEL_INFO's): its ISPENDR
    // write sets exactly the written state, its ICPENDR reads 0 and ignores writes.
    uread: (c, f, n) => (c.g.model !== GIC_V3 ? bits(c, f, n, (s) => c.g.pending(s)) : set ? bits(c, f, n, (s) => c.g.latch[s] !== 0) : 0),
    uwrite: (c, f, n, v) => {
      if (c.g.model !== GIC_V3) return apply(true)(c, f, n, v);
      if (!set) return;
      each(c, f, n, (s, i) => {
        c.g.latch[s] = (v >>> i) & 1;
      });
    },
  };
};

/** GICD_ISACTIVER / ICACTIVER. */
export const activeOps = (set: boolean): BankOps => ({
  read: (c, f, n) => bits(c, f, n, (s) => c.g.active[s] !== 0),
  write: (c, f, n, v) =>
    setBits(c, f, n, v, (s) => {
      c.g.active[s] = set ? 1 : 0;
    }),
});

/** GICD_IPRIORITYR: a byte per interrupt, 5 bits kept. */
export const PRIORITY: BankOps = {
  read: (c, f, n) => {
    let v = 0;
    const g = c.g;
    for (let i = 0; i < n; i++) {
      const s = g.slot(c.vcpu, f + i);
      if (s >= 0) v |= g.prio[s]! << (8 * i);
    }
    return v >>> 0;
  },
  write: (c, f, n, v) =>
    each(c, f, n, (s, i) => {
      c.g.prio[s] = (v >>> (8 * i)) & PRI_MASK;
    }),
};

/** GICD_ICFGR: two bits per interrupt (bit 1: edge). Private interrupts keep their trigger, as KVM's. */
export const CONFIG: BankOps = {
  read: (c, f, n) => {
    let v = 0;
    const g = c.g;
    for (let i = 0; i < n; i++) {
      const s = g.slot(c.vcpu, f + i);
      if (s >= 0 && g.edge[s]) v |= 2 << (2 * i);
    }
    return v >>> 0;
  },
  write: (c, f, n, v) =>
    each(c, f, n, (s, i, intid) => {
      if (intid >= NR_PRIVATE) c.g.edge[s] = (v >>> (2 * i + 1)) & 1;
    }),
};

/** GICD_ITARGETSR (GICv2): private interrupts read as their own CPU; SPIs as programmed. */
export const TARGETS: BankOps = {
  read: (c, f, n) => {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const intid = f + i;
      v |= (intid < NR_PRIVATE ? 1 << c.vcpu : c.g.targets[intid - NR_PRIVATE]!) << (8 * i);
    }
    return v >>> 0;
  },
  write: (c, f, n, v) => {
    const g = c.g;
    const mask = g.nVcpus >= 8 ? 0xff : (1 << g.nVcpus) - 1;
    g.lock();
    try {
      for (let i = 0; i < n; i++) {
        const intid = f + i;
        if (intid < NR_PRIVATE || intid >= g.nrIrqs) continue;
        g.targets[intid - NR_PRIVATE] = (v >>> (8 * i)) & mask;
        g.retarget(intid - NR_PRIVATE);
      }
    } finally {
      g.unlock();
    }
  },
};

/** Sorts a region table by offset (the lookup is a binary search). */
export function table(regions: readonly (Region | readonly Region[])[]): readonly Region[] {
  return regions.flat().sort((a, b) => a.off - b.off);
}
