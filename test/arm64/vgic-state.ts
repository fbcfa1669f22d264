/**
 * Saving and restoring a VM with a vGICv3 the way migration does it (QEMU's arm_gicv3_kvm.c
 * order): every vCPU's registers (KVM_GET_REG_LIST + ONE_REG), then the distributor and each
 * redistributor register by register (KVM_DEV_ARM_VGIC_GRP_{DIST,REDIST}_REGS: the pending
 * latches, set/clear pairs written as set-everything-cleared-then-the-saved-bits), the line
 * levels (LEVEL_INFO) and the CPU interfaces (CPU_SYSREGS).
 */
import type { Device, Vcpu } from '../../src/index.js';
import { KVM_DEV_ARM_VGIC } from '../../src/uapi/arm64.js';

const G = KVM_DEV_ARM_VGIC;
const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const rd32 = (gic: Device, group: number, attr: bigint) => new DataView(gic.getAttrBytes({ group, attr }, 4).buffer).getUint32(0, true);
const wr32 = (gic: Device, group: number, attr: bigint, v: number) => gic.setAttr({ group, attr }, u32(v));

/** ICC_* keys for CPU_SYSREGS: op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2. */
const icc = (crn: number, crm: number, op2: number) => (3 << 14) | (crn << 7) | (crm << 3) | op2;
const ICC_REGS = [icc(4, 6, 0), icc(12, 8, 3), icc(12, 12, 3), icc(12, 12, 4), icc(12, 12, 5), icc(12, 12, 6), icc(12, 12, 7), icc(12, 8, 4), icc(12, 9, 0)];

export interface GicSnapshot {
  readonly regs: Map<bigint, bigint>[];
  readonly dist: Map<number, number>;
  readonly redist: Map<number, number>[];
  readonly levels: Map<number, number>[];
  readonly cpu: Map<number, bigint>[];
}

/** The vCPU's MPIDR field of a REDIST/CPU_SYSREGS attribute (Aff0 at bit 32). */
const mpidrAttr = (vcpuId: number) => BigInt(vcpuId) << 32n;

const DIST_BANKS: [number, number][] = [
  [0x080, 1], // IGROUPR
  [0x100, 1], // ISENABLER
  [0x200, 1], // ISPENDR (latch)
  [0x300, 1], // ISACTIVER
  [0x400, 8], // IPRIORITYR
  [0xc00, 2], // ICFGR
];

export function saveGic(gic: Device, vcpus: readonly Vcpu[], nrIrqs: number): GicSnapshot {
  const regs = vcpus.map((v) => new Map(v.regList().map((id) => [id, v.getOneReg(id)] as const)));
  const dist = new Map<number, number>();
  dist.set(0x8, rd32(gic, G.GRP_DIST_REGS, 0x8n));
  dist.set(0x0, rd32(gic, G.GRP_DIST_REGS, 0x0n));
  for (const [base, bpi] of DIST_BANKS) {
    for (let intid = 32; intid < nrIrqs; intid += 32 / bpi) {
      const off = base + (intid * bpi) / 8;
      dist.set(off, rd32(gic, G.GRP_DIST_REGS, BigInt(off)));
    }
  }
  for (let intid = 32; intid < nrIrqs; intid++) {
    const off = 0x6000 + 8 * intid;
    dist.set(off, rd32(gic, G.GRP_DIST_REGS, BigInt(off)));
  }
  const redist = vcpus.map((v) => {
    const m = new Map<number, number>();
    const a = mpidrAttr(v.id);
    for (const off of [0x0, ...[0x080, 0x100, 0x200, 0x300].map((o) => 0x10000 + o), ...Array.from({ length: 8 }, (_, k) => 0x10400 + 4 * k), 0x10c00, 0x10c04]) {
      m.set(off, rd32(gic, G.GRP_REDIST_REGS, a | BigInt(off)));
    }
    return m;
  });
  const levels = vcpus.map((v) => {
    const m = new Map<number, number>();
    for (let intid = 0; intid < nrIrqs; intid += 32) m.set(intid, rd32(gic, G.GRP_LEVEL_INFO, mpidrAttr(v.id) | BigInt(intid)));
    return m;
  });
  const cpu = vcpus.map((v) => new Map(ICC_REGS.map((k) => [k, gic.getAttr({ group: G.GRP_CPU_SYSREGS, attr: mpidrAttr(v.id) | BigInt(k) })] as const)));
  return { regs, dist, redist, levels, cpu };
}

export function restoreGic(gic: Device, vcpus: readonly Vcpu[], s: GicSnapshot): void {
  vcpus.forEach((v, i) => {
    for (const [id, val] of s.regs[i]!) v.setOneReg(id, val);
  });
  const D = (off: number, v: number) => wr32(gic, G.GRP_DIST_REGS, BigInt(off), v);
  D(0x8, s.dist.get(0x8)!);
  for (const [off, val] of s.dist) {
    if (off === 0x0 || off === 0x8) continue;
    if (off >= 0x100 && off < 0x400 && ((off >> 7) & 1) === 0) {
      // Set/clear pairs: clear everything (the register at +0x80), then set the saved bits.
      if (off >= 0x200 && off < 0x280) {
        D(off, val); // ISPENDR from userspace sets exactly the latch
        continue;
      }
      D(off + 0x80, 0xffffffff);
      D(off, val);
      continue;
    }
    D(off, val);
  }
  vcpus.forEach((v, i) => {
    const a = mpidrAttr(v.id);
    const R = (off: number, val: number) => wr32(gic, G.GRP_REDIST_REGS, a | BigInt(off), val);
    for (const [off, val] of s.redist[i]!) {
      if (off === 0x10100 || off === 0x10300) {
        R(off + 0x80, 0xffffffff);
        R(off, val);
      } else R(off, val);
    }
    for (const [intid, val] of s.levels[i]!) wr32(gic, G.GRP_LEVEL_INFO, a | BigInt(intid), val);
    for (const [k, val] of s.cpu[i]!) gic.setAttr({ group: G.GRP_CPU_SYSREGS, attr: a | BigInt(k) }, val);
  });
  D(0x0, s.dist.get(0x0)!);
}
