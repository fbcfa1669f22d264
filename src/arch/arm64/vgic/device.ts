/**
 * The vGIC as a KVM device (arch/arm64/kvm/vgic/vgic-kvm-device.c, vgic-init.c): KVM_CREATE_DEVICE
 * of KVM_DEV_TYPE_ARM_VGIC_V3 / _V2 (and the legacy KVM_CREATE_IRQCHIP + KVM_ARM_SET_DEVICE_ADDR
 * GICv2), its attribute groups — ADDR, NR_IRQS, CTRL (INIT), DIST_REGS, REDIST_REGS, CPU_REGS,
 * CPU_SYSREGS, LEVEL_INFO — with the kernel's ordering rules and errnos, the MMIO frames on the
 * VM's I/O bus, KVM_IRQ_LINE's arm64 irq types and the irqchip routes of irqfds.
 *
 * The configuration (model, addresses, redistributor regions, nr_irqs) is plain data in the VM's
 * arch state, so it reaches vCPUs on worker threads with the VM's view; the interrupt state is
 * the shared-memory VgicState (vgic.ts), created by INIT.
 * @module
 */
import type { DeviceAttr, KvmDevice, KvmDeviceOps } from '../../../kernel/device.js';
import { EWOULDBLOCK, setDefaultIrqRouting, type ArchRoute, type RoutingEntryInput } from '../../../kernel/irq.js';
import { KVM_BUS, type IoDevice } from '../../../kernel/iobus.js';
import type { Vcpu } from '../../../kernel/vcpu.js';
import type { Vm } from '../../../kernel/vm.js';
import { KvmError } from '../../../sys/error.js';
import type { ErrnoCode as ErrnoName } from '../../../sys/errno.js';
import { KVM_DEV_TYPE, KVM_IRQ_ROUTING } from '../../../uapi/constants.js';
import { KVM_ARM_IRQ, KVM_DEV_ARM_VGIC, KVM_VGIC } from '../../../uapi/arm64.js';
import { arm64DefaultIrqRouting, KVM_IRQCHIP_NUM_PINS } from '../irq-routing.js';
import type { Arm64Vcpu, Arm64VmState } from '../cpu.js';
import { MAX_VCPUS, sharedOf } from '../vmshared.js';
import { iccUserAccess, iccUserHas, RES } from './cpuif.js';
import { itsSetMsi, itsSyncVgic, savePendingTables, vgicItsOps } from './its.js';
import { findRegion, mmioRead, mmioWrite, uaccessRead, uaccessWrite, type Region } from './mmio.js';
import * as v2 from './v2.js';
import * as v3 from './v3.js';
import { CPU, GIC_V2, GIC_V3, NR_PRIVATE, NR_SGIS, OWNER, VgicState, type VgicShared } from './vgic.js';

/** VGIC_ADDR_UNDEF */
const UNDEF = -1;
/** VGIC_NR_IRQS_LEGACY: nr_irqs when userspace sets none. */
const NR_IRQS_LEGACY = 256;
/** VGIC_V2_MAX_CPUS / VGIC_V3_MAX_CPUS */
const V2_MAX_CPUS = 8;
const SZ_4K = 0x1000;
const SZ_64K = 0x10000;

/** A GICv3 redistributor region (struct vgic_redist_region); count 0: the legacy single region. */
export interface RedistRegion {
  readonly index: number;
  readonly base: number;
  readonly count: number;
}

/** kvm->arch.vgic's configuration: plain, cloneable data. */
export interface VgicConfig {
  readonly model: number;
  /** nr_spis (0 until NR_IRQS or INIT sets it). */
  nrSpis: number;
  distBase: number;
  /** GICv2 CPU interface base. */
  cpuBase: number;
  regions: RedistRegion[];
  /** The interrupt state, from INIT on. */
  shared: VgicShared | null;
  /** The MMIO frames are on the bus (vgic_ready). */
  ready: boolean;
}

const vmState = (vm: Vm) => vm.archState as Arm64VmState;

const err = (code: ErrnoName, message?: string) => KvmError.of(code, 'ioctl', message ? { message } : {});

const states = new WeakMap<SharedArrayBuffer, VgicState>();

/** This thread's view of a VM's vGIC (null before INIT). */
export function vgicOf(vm: Vm): VgicState | null {
  const cfg = vmState(vm).vgic;
  if (cfg === null || cfg.shared === null) return null;
  let g = states.get(cfg.shared.buffer);
  if (g === undefined) {
    g = new VgicState(cfg.shared);
    states.set(cfg.shared.buffer, g);
  }
  if (g.onLevelEoi === null) g.onLevelEoi = (spi) => void vm.callOwner('vgic.eoi', spi);
  return g;
}

/** irqchip_in_kernel */
export function irqchipInKernel(vm: Vm): boolean {
  return vmState(vm).vgic !== null;
}

/** vgic_initialized */
export function vgicInitialized(vm: Vm): boolean {
  return vmState(vm).vgic?.shared != null;
}

// ---- creation --------------------------------------------------------------------------------------

/** kvm_vgic_create: EEXIST with an irqchip, EBUSY once a vCPU has run, E2BIG past the model's vCPUs. */
export function vgicCreate(vm: Vm, model: number): void {
  const st = vmState(vm);
  if (anyVcpuAway(vm)) throw err('EBUSY', 'a vCPU is running');
  if (st.vgic !== null) throw err('EEXIST', 'the VM has an irqchip');
  for (const v of vm.vcpus.values()) if ((v.archState as Arm64Vcpu).hasRun) throw err('EBUSY', 'a vCPU has run');
  // kvm->max_vcpus follows the model (and stays lowered when E2BIG refuses the GICv2).
  vm.maxVcpus = model === GIC_V2 ? V2_MAX_CPUS : MAX_VCPUS;
  if (vm.vcpus.size > vm.maxVcpus) throw err('E2BIG', 'a GICv2 serves 8 vCPUs');
  st.vgic = { model, nrSpis: 0, distBase: UNDEF, cpuBase: UNDEF, regions: [], shared: null, ready: false };
  vm.ownerOps.set('vgic.eoi', (spi) => vm.irq.notifyAcked(0, spi as number));
  vm.bumpView();
}

/** lock_all_vcpus fails while a vCPU runs (here: on another thread). */
function anyVcpuAway(vm: Vm): boolean {
  for (const v of vm.vcpus.values()) if (v.away !== null) return true;
  return false;
}

/**
 * vgic_init: freezes nr_spis (224 by default), builds the interrupt state around the vCPUs that
 * exist (EBUSY while one is being created: never here), installs the default SPI routing
 * (GSI n -> SPI n) and puts the MMIO frames on the bus when their addresses are complete.
 */
export function vgicInit(vm: Vm): void {
  const cfg = vmState(vm).vgic!;
  if (cfg.shared !== null) return;
  if (cfg.nrSpis === 0) cfg.nrSpis = NR_IRQS_LEGACY - NR_PRIVATE;
  const vcpus = [...vm.vcpus.values()].sort((a, b) => a.index - b.index);
  const sh = sharedOf(vmState(vm));
  const g = VgicState.create(
    cfg.model,
    cfg.nrSpis,
    vcpus.map((v) => ({ id: v.id, mpidr: sh.mpidr(v.index), kick: v.requests })),
  );
  cfg.shared = g.shared;
  states.set(g.shared.buffer, g);
  setDefaultIrqRouting(vm, arm64DefaultIrqRouting(cfg.nrSpis));
  itsSyncVgic(vm);
  mapFrames(vm);
  vm.bumpView();
}

// ---- addresses (KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_ARM_SET_DEVICE_ADDR) ----------------------------------

/** vgic_check_iorange: EEXIST when set, EINVAL unaligned or wrapping, E2BIG beyond the IPA space. */
export function checkIorange(vm: Vm, cur: number, addr: bigint, align: number, size: number): void {
  if (cur !== UNDEF) throw err('EEXIST', 'address already set');
  if (addr % BigInt(align) !== 0n || size % align !== 0) throw err('EINVAL', 'unaligned address');
  if (addr + BigInt(size) > 0xffffffffffffffffn) throw err('EINVAL', 'region wraps');
  const ipa = 2n ** BigInt(vmState(vm).ipaBits);
  if (addr >= ipa || addr + BigInt(size) > ipa) throw err('E2BIG', 'beyond the IPA space');
}

function rdRegionSize(vm: Vm, r: RedistRegion): number {
  return (r.count || vm.vcpus.size) * KVM_VGIC.V3_REDIST_SIZE;
}

/** vgic_v3_alloc_redist_region */
function addRedistRegion(vm: Vm, cfg: VgicConfig, index: number, base: bigint, count: number): void {
  const size = (count || vm.vcpus.size) * KVM_VGIC.V3_REDIST_SIZE;
  if (base + BigInt(size) > 0xffffffffffffffffn) throw err('EINVAL');
  const last = cfg.regions[cfg.regions.length - 1];
  if (last === undefined) {
    if (index !== 0) throw err('EINVAL', 'the first region has index 0');
  } else {
    if (!count && last.count) throw err('EINVAL', 'single and discrete regions do not mix');
    if (!count) throw err('EEXIST', 'the redistributor base is set');
    if (index !== last.index + 1) throw err('EINVAL', 'regions come in index order');
  }
  const b = Number(base);
  if (!count && cfg.distBase !== UNDEF && b + size > cfg.distBase && b < cfg.distBase + KVM_VGIC.V3_DIST_SIZE) throw err('EINVAL', 'overlaps the distributor');
  for (const r of cfg.regions) if (b + size > r.base && b < r.base + rdRegionSize(vm, r)) throw err('EINVAL', 'overlaps another region');
  checkIorange(vm, UNDEF, base, SZ_64K, size);
  const placed = redistBases(vm, cfg).filter((x) => x !== UNDEF).length;
  cfg.regions.push({ index, base: b, count });
  // vgic_v3_set_redist_base -> vgic_register_redist_iodev: when an existing vCPU gets its
  // redistributor in the new region, vgic_v3_check_base refuses a distributor overlapping any region.
  if (vm.vcpus.size > placed && cfg.distBase !== UNDEF && cfg.regions.some((r) => cfg.distBase + KVM_VGIC.V3_DIST_SIZE > r.base && cfg.distBase < r.base + rdRegionSize(vm, r))) {
    cfg.regions.pop();
    throw err('EINVAL', 'the distributor overlaps a redistributor region');
  }
  mapFrames(vm);
}

/** kvm_vgic_addr: a write, or a read put to user memory (8 bytes at attr.addr). */
function vgicAddr(dev: KvmDevice, attr: DeviceAttr, write: boolean): void {
  const vm = dev.vm;
  const cfg = vmState(vm).vgic!;
  const type = Number(attr.attr);
  let user: Uint8Array | null = null;
  let addr = 0n;
  if (write || type === KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION) {
    user = dev.user(attr, 8);
    addr = new DataView(user.buffer, user.byteOffset, 8).getBigUint64(0, true);
  }
  const v3Only = () => {
    if (cfg.model !== GIC_V3) throw err('ENXIO', 'not a GICv3');
  };
  const v2Only = () => {
    if (cfg.model !== GIC_V2) throw err('ENXIO', 'not a GICv2');
  };
  let value: bigint;
  switch (type) {
    case KVM_VGIC.V2_ADDR_TYPE_DIST:
    case KVM_VGIC.V3_ADDR_TYPE_DIST: {
      if (type === KVM_VGIC.V2_ADDR_TYPE_DIST) v2Only();
      else v3Only();
      if (write) {
        checkIorange(vm, cfg.distBase, addr, type === KVM_VGIC.V2_ADDR_TYPE_DIST ? SZ_4K : SZ_64K, type === KVM_VGIC.V2_ADDR_TYPE_DIST ? KVM_VGIC.V2_DIST_SIZE : KVM_VGIC.V3_DIST_SIZE);
        cfg.distBase = Number(addr);
        mapFrames(vm);
        return;
      }
      value = cfg.distBase === UNDEF ? 0xffffffffffffffffn : BigInt(cfg.distBase);
      break;
    }
    case KVM_VGIC.V2_ADDR_TYPE_CPU:
      v2Only();
      if (write) {
        checkIorange(vm, cfg.cpuBase, addr, SZ_4K, KVM_VGIC.V2_CPU_SIZE);
        cfg.cpuBase = Number(addr);
        mapFrames(vm);
        return;
      }
      value = cfg.cpuBase === UNDEF ? 0xffffffffffffffffn : BigInt(cfg.cpuBase);
      break;
    case KVM_VGIC.V3_ADDR_TYPE_REDIST:
      v3Only();
      if (write) {
        addRedistRegion(vm, cfg, 0, addr, 0);
        return;
      }
      value = cfg.regions.length ? BigInt(cfg.regions[0]!.base) : 0xffffffffffffffffn;
      break;
    case KVM_VGIC.V3_ADDR_TYPE_REDIST_REGION: {
      v3Only();
      const index = Number(addr & 0xfffn);
      if (write) {
        const base = addr & 0x000fffffffff0000n;
        const count = Number(addr >> 52n);
        const flags = Number((addr >> 12n) & 0xfn);
        if (!count || flags) throw err('EINVAL', 'a region needs a count and no flags');
        addRedistRegion(vm, cfg, index, base, count);
        return;
      }
      const r = cfg.regions.find((x) => x.index === index);
      if (!r) throw err('ENOENT', 'no such redistributor region');
      value = BigInt(index) | BigInt(r.base) | (BigInt(r.count) << 52n);
      break;
    }
    default:
      throw err('ENXIO', 'no such address type');
  }
  (user ?? dev.user(attr, 8)).set(u64(value));
}

const u64 = (v: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
};

/** KVM_ARM_SET_DEVICE_ADDR (the legacy GICv2 address setting). */
export function setLegacyDeviceAddr(vm: Vm, id: bigint, addr: bigint): void {
  const devId = Number((id >> 16n) & 0xffffn);
  const type = Number(id & 0xffffn);
  if (devId !== 0) throw err('ENODEV', 'no such device');
  const cfg = vmState(vm).vgic;
  if (cfg === null || cfg.model !== GIC_V2) throw err('ENODEV', 'no GICv2');
  if (type === KVM_VGIC.V2_ADDR_TYPE_DIST) {
    checkIorange(vm, cfg.distBase, addr, SZ_4K, KVM_VGIC.V2_DIST_SIZE);
    cfg.distBase = Number(addr);
  } else if (type === KVM_VGIC.V2_ADDR_TYPE_CPU) {
    checkIorange(vm, cfg.cpuBase, addr, SZ_4K, KVM_VGIC.V2_CPU_SIZE);
    cfg.cpuBase = Number(addr);
  } else throw err('ENODEV', 'no such address type');
  mapFrames(vm);
  vm.bumpView();
}

// ---- the MMIO frames ---------------------------------------------------------------------------------

/** The redistributor of each vCPU (by index): region base + slot, filling regions in order; -1: none. */
export function redistBases(vm: Vm, cfg: VgicConfig): number[] {
  const n = vm.vcpus.size;
  const out = new Array<number>(n).fill(UNDEF);
  let v = 0;
  for (const r of cfg.regions) {
    const cap = r.count || n;
    for (let k = 0; k < cap && v < n; k++, v++) out[v] = r.base + k * KVM_VGIC.V3_REDIST_SIZE;
  }
  return out;
}

/** Frames registered on the bus, to unregister them if the configuration changes. */
const framesOf = new WeakMap<Vm, IoDevice[]>();

function frame(vm: Vm, base: number, regions: readonly Region[], vcpuIdx: (accessing: Vcpu) => number, gicc = false): IoDevice {
  const out = { lo: 0, hi: 0 };
  return {
    read(vcpu, addr, len, data) {
      const g = vgicOf(vm);
      if (g === null) return false;
      const off = addr - base;
      const c = { g, vcpu: vcpuIdx(vcpu) };
      if (gicc) {
        out.lo = v2.giccRead(c, off, len);
        out.hi = 0;
      } else mmioRead(regions, c, off, len, out);
      const dv = new DataView(data.buffer, data.byteOffset, 8);
      dv.setInt32(0, out.lo, true);
      dv.setInt32(4, out.hi, true);
      return true;
    },
    write(vcpu, addr, len, data) {
      const g = vgicOf(vm);
      if (g === null) return false;
      const off = addr - base;
      const dv = new DataView(data.buffer, data.byteOffset, 8);
      const lo = len >= 4 ? dv.getInt32(0, true) : len === 2 ? dv.getUint16(0, true) : dv.getUint8(0);
      const hi = len === 8 ? dv.getInt32(4, true) : 0;
      const c = { g, vcpu: vcpuIdx(vcpu) };
      if (gicc) v2.giccWrite(c, off, len, lo);
      else mmioWrite(regions, c, off, len, lo, hi);
      return true;
    },
  };
}

/**
 * Registers the distributor and redistributor (or GICv2 CPU interface) frames once the vGIC is
 * initialized and its addresses complete, replacing what an earlier call registered.
 */
function mapFrames(vm: Vm): void {
  const cfg = vmState(vm).vgic;
  if (cfg === null || cfg.shared === null) return;
  if (cfg.model === GIC_V3) {
    // GICR_TYPER.Last (vgic_mmio_vcpu_rdist_is_last): the last redistributor of a region with no
    // contiguous successor in use. It depends on the regions only, not on the distributor's base.
    // vCPUs fill the regions in order (redistBases); used[r] is the region's free_index.
    const n = vm.vcpus.size;
    const used: number[] = [];
    let v = 0;
    for (const r of cfg.regions) {
      const k = Math.min(r.count || n, n - v);
      used.push(k);
      v += k;
    }
    const g = vgicOf(vm)!;
    for (let i = 0; i < n; i++) g.setCpuWord(i, CPU.RD_LAST, 0); // no region yet: not last
    v = 0;
    cfg.regions.forEach((r, ri) => {
      for (let k = 0; k < used[ri]!; k++, v++) {
        let last = k >= used[ri]! - 1;
        if (last && r.count && k === r.count - 1) {
          const end = r.base + r.count * KVM_VGIC.V3_REDIST_SIZE;
          if (cfg.regions.some((o, oi) => o.base === end && used[oi]! > 0)) last = false;
        }
        g.setCpuWord(v, CPU.RD_LAST, last ? 1 : 0);
      }
    });
  }
  if (cfg.distBase === UNDEF) return;
  const bus = vm.buses[KVM_BUS.MMIO]!;
  for (const d of framesOf.get(vm) ?? []) bus.unregister(d);
  const devs: IoDevice[] = [];
  const add = (base: number, len: number, d: IoDevice) => {
    bus.register(base, len, d);
    devs.push(d);
  };
  const self = (v: Vcpu) => v.index;
  if (cfg.model === GIC_V3) {
    add(cfg.distBase, KVM_VGIC.V3_DIST_SIZE, frame(vm, cfg.distBase, v3.DIST_REGS, self));
    redistBases(vm, cfg).forEach((b, i) => {
      if (b !== UNDEF) add(b, KVM_VGIC.V3_REDIST_SIZE, frame(vm, b, v3.REDIST_REGS, () => i));
    });
  } else {
    add(cfg.distBase, KVM_VGIC.V2_DIST_SIZE, frame(vm, cfg.distBase, v2.DIST_REGS, self));
    if (cfg.cpuBase !== UNDEF) add(cfg.cpuBase, KVM_VGIC.V2_CPU_SIZE, frame(vm, cfg.cpuBase, v2.DIST_REGS, self, true));
  }
  framesOf.set(vm, devs);
  vm.bumpView();
}

/**
 * kvm_vgic_map_resources, at a vCPU's first KVM_RUN: ENXIO without the addresses (every vCPU a
 * redistributor), EINVAL for overlapping frames, EBUSY for an uninitialized GICv3; a GICv2 is
 * initialized here if userspace did not.
 */
export function vgicMapResources(vm: Vm): void {
  const cfg = vmState(vm).vgic;
  if (cfg === null || cfg.ready) return;
  if (cfg.model === GIC_V3) {
    if (redistBases(vm, cfg).some((b) => b === UNDEF)) throw err('ENXIO', 'a vCPU has no redistributor');
    if (cfg.distBase === UNDEF) throw err('ENXIO', 'no distributor address');
    for (const r of cfg.regions) {
      const sz = rdRegionSize(vm, r);
      // vgic_v3_check_base: each region, at its size for every vCPU now, within the IPA space.
      if (BigInt(r.base) + BigInt(sz) > 2n ** BigInt(vmState(vm).ipaBits)) throw err('EINVAL', 'a redistributor region ends beyond the IPA space');
      if (cfg.distBase + KVM_VGIC.V3_DIST_SIZE > r.base && cfg.distBase < r.base + sz) throw err('EINVAL', 'distributor and redistributors overlap');
    }
    if (cfg.shared === null) throw err('EBUSY', 'the vGIC is not initialized');
  } else {
    if (cfg.distBase === UNDEF || cfg.cpuBase === UNDEF) throw err('ENXIO', 'no distributor or CPU interface address');
    if (!(cfg.distBase + KVM_VGIC.V2_DIST_SIZE <= cfg.cpuBase || cfg.cpuBase + KVM_VGIC.V2_CPU_SIZE <= cfg.distBase)) throw err('EINVAL', 'distributor and CPU interface overlap');
    if (cfg.shared === null) {
      if (vm.kernel.mirror) vm.callOwner('vgic.init', null);
      else vgicInit(vm);
    }
  }
  cfg.ready = true;
}

// ---- interrupt injection ----------------------------------------------------------------------------

/** vgic_lazy_init: a GICv2 initializes on demand, an uninitialized GICv3 is EBUSY. */
function lazyInit(vm: Vm): VgicState {
  const g = vgicOf(vm);
  if (g !== null) return g;
  if (vmState(vm).vgic!.model !== GIC_V2) throw err('EBUSY', 'the vGIC is not initialized');
  vgicInit(vm);
  return vgicOf(vm)!;
}

/**
 * kvm_vm_ioctl_irq_line: the CPU's IRQ/FIQ line (no vGIC; ENXIO with one), a PPI of a vCPU or an
 * SPI (with a vGIC; ENXIO without). EINVAL for no such vCPU or interrupt. The status written back
 * by KVM_IRQ_LINE_STATUS is the irq field unchanged, as on arm64 KVM.
 */
export function irqLine(vm: Vm, irq: number, level: number): number {
  const type = (irq >>> KVM_ARM_IRQ.TYPE_SHIFT) & KVM_ARM_IRQ.TYPE_MASK;
  const vcpuId = ((irq >>> KVM_ARM_IRQ.VCPU_SHIFT) & KVM_ARM_IRQ.VCPU_MASK) + ((irq >>> KVM_ARM_IRQ.VCPU2_SHIFT) & KVM_ARM_IRQ.VCPU2_MASK) * (KVM_ARM_IRQ.VCPU_MASK + 1);
  const num = irq & KVM_ARM_IRQ.NUM_MASK;
  const inKernel = irqchipInKernel(vm);
  switch (type) {
    case KVM_ARM_IRQ.TYPE_CPU: {
      if (inKernel) throw err('ENXIO', 'the CPU lines belong to the vGIC');
      const v = vm.vcpus.get(vcpuId);
      if (!v) throw err('EINVAL', 'no such vCPU');
      if (num > KVM_ARM_IRQ.CPU_FIQ) throw err('EINVAL', 'not IRQ or FIQ');
      // vcpu_interrupt_line: HCR_EL2.VI / VF; a change kicks the vCPU.
      const w = sharedOf(vmState(vm)).linesView(v.index);
      const bit = num === KVM_ARM_IRQ.CPU_IRQ ? 1 : 2;
      const old = level ? Atomics.or(w, 0, bit) : Atomics.and(w, 0, ~bit);
      if (((old & bit) !== 0) !== (level !== 0)) kick(v.requests);
      return irq | 0;
    }
    case KVM_ARM_IRQ.TYPE_PPI: {
      if (!inKernel) throw err('ENXIO', 'no vGIC');
      const v = vm.vcpus.get(vcpuId);
      if (!v) throw err('EINVAL', 'no such vCPU');
      if (num < NR_SGIS || num >= NR_PRIVATE) throw err('EINVAL', 'not a PPI');
      const g = lazyInit(vm);
      if (!g.inject(v.index, num, level !== 0, OWNER.USER)) throw err('EINVAL');
      return irq | 0;
    }
    case KVM_ARM_IRQ.TYPE_SPI: {
      if (!inKernel) throw err('ENXIO', 'no vGIC');
      if (num < NR_PRIVATE) throw err('EINVAL', 'not an SPI');
      const g = lazyInit(vm);
      if (!g.inject(-1, num, level !== 0, OWNER.USER)) throw err('EINVAL', 'no such SPI');
      return irq | 0;
    }
    default:
      throw err('EINVAL', 'unknown irq type');
  }
}

/** kvm_vcpu_kick with KVM_REQ_IRQ_PENDING. */
function kick(w: Int32Array): void {
  Atomics.or(w, 0, 1);
  Atomics.notify(w, 0);
}

/** kvm_set_routing_entry: irqchip 0, pins 0..987 drive SPIs 32 + pin; MSIs go to an ITS (ENODEV without one). */
export function setRoutingEntry(_vm: Vm, e: RoutingEntryInput): ArchRoute {
  switch (e.type) {
    case KVM_IRQ_ROUTING.IRQCHIP: {
      const { irqchip, pin } = e.irqchip;
      if (pin >= KVM_IRQCHIP_NUM_PINS || irqchip >= 1) throw err('EINVAL', 'no such irqchip pin');
      const set = (vm: Vm, _src: number, level: number): number => {
        const cfg = vmState(vm).vgic;
        const spi = pin + NR_PRIVATE;
        if (cfg === null || spi >= (cfg.nrSpis || NR_IRQS_LEGACY - NR_PRIVATE) + NR_PRIVATE) return -22;
        try {
          lazyInit(vm).inject(-1, spi, level !== 0, OWNER.USER);
        } catch (e) {
          if (e instanceof KvmError) return -e.errno;
          throw e;
        }
        return 0;
      };
      return {
        irqchip: { irqchip, pin },
        set,
        // kvm_arch_set_irq_inatomic: an initialized vGIC takes an irqfd's SPI at once, raised and
        // not lowered (a level-triggered SPI stays pending until its line is lowered); before
        // vgic_init the kernel defers to irqfd_inject's raise-and-lower.
        setInatomic: (vm, src) => (vgicInitialized(vm) ? set(vm, src, 1) : -EWOULDBLOCK),
      };
    }
    case KVM_IRQ_ROUTING.MSI: {
      // kvm_set_msi: through the ITS whose frame holds the address (ENODEV without one).
      const msi = e.msi;
      return { set: (vm, _src, level) => itsSetMsi(vm, msi, level) };
    }
    default:
      throw err('EINVAL', 'unsupported route type');
  }
}

// ---- the device's attributes ------------------------------------------------------------------------

const readU32 = (dev: KvmDevice, attr: DeviceAttr) => {
  const b = dev.user(attr, 4);
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
};
const writeU32 = (dev: KvmDevice, attr: DeviceAttr, v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  dev.user(attr, 4).set(b);
};

/** vgic_set_common_attr / vgic_get_common_attr (ADDR, NR_IRQS, CTRL). */
function commonAttr(dev: KvmDevice, attr: DeviceAttr, write: boolean): number {
  const vm = dev.vm;
  const cfg = vmState(vm).vgic!;
  switch (attr.group) {
    case KVM_DEV_ARM_VGIC.GRP_ADDR:
      vgicAddr(dev, attr, write);
      vm.bumpView();
      return 0;
    case KVM_DEV_ARM_VGIC.GRP_NR_IRQS: {
      if (!write) {
        writeU32(dev, attr, cfg.nrSpis + NR_PRIVATE);
        return 0;
      }
      const v = readU32(dev, attr);
      if (v < NR_PRIVATE + 32 || v > 1023 || v & 31) throw err('EINVAL', 'nr_irqs: 64..992, a multiple of 32');
      if (cfg.ready || cfg.nrSpis) throw err('EBUSY', 'nr_irqs already set');
      cfg.nrSpis = v - NR_PRIVATE;
      vm.bumpView();
      return 0;
    }
    case KVM_DEV_ARM_VGIC.GRP_CTRL:
      if (!write) break;
      if (attr.attr === BigInt(KVM_DEV_ARM_VGIC.CTRL_INIT)) {
        if (anyVcpuAway(vm)) throw err('EBUSY', 'a vCPU is running');
        vgicInit(vm);
        return 0;
      }
      if (attr.attr === BigInt(KVM_DEV_ARM_VGIC.SAVE_PENDING_TABLES)) {
        if (cfg.model !== GIC_V3) throw err('ENXIO');
        if (anyVcpuAway(vm)) throw err('EBUSY', 'a vCPU is running');
        {
          const r = savePendingTables(vm);
          if (r < 0) throw new KvmError(-r, 'ioctl');
        }
        return 0;
      }
      break;
    default:
      break;
  }
  throw err('ENXIO', 'no such attribute');
}

/** The vCPU (index) a GICv3 REDIST_REGS / CPU_SYSREGS attribute names by MPIDR (vgic_v3_parse_attr). */
function v3Vcpu(vm: Vm, attr: DeviceAttr): Vcpu {
  if (attr.group === KVM_DEV_ARM_VGIC.GRP_DIST_REGS) {
    const v0 = [...vm.vcpus.values()].find((v) => v.index === 0);
    if (!v0) throw err('EINVAL', 'no vCPU');
    return v0;
  }
  const m = Number((attr.attr >> 32n) & 0xffffffffn);
  if ((m >>> 24) !== 0) throw err('EINVAL', 'no such vCPU');
  const sh = sharedOf(vmState(vm));
  for (const v of vm.vcpus.values()) if (sh.mpidr(v.index) === (m & 0xffffff)) return v;
  throw err('EINVAL', 'no such vCPU');
}

/** vgic_v3_attr_regs_access */
function v3RegsAccess(dev: KvmDevice, attr: DeviceAttr, write: boolean): number {
  const vm = dev.vm;
  const vcpu = v3Vcpu(vm, attr);
  const off = Number(attr.attr & 0xffffffffn);
  const sysregs = attr.group === KVM_DEV_ARM_VGIC.GRP_CPU_SYSREGS;
  let val = 0;
  if (!sysregs && write) val = readU32(dev, attr);
  if (anyVcpuAway(vm)) throw err('EBUSY', 'a vCPU is running');
  const g = vgicOf(vm);
  if (g === null) throw err('EBUSY', 'the vGIC is not initialized');
  const c = { g, vcpu: vcpu.index };
  let r: ErrnoName | void = undefined;
  switch (attr.group) {
    case KVM_DEV_ARM_VGIC.GRP_DIST_REGS:
      if (write) r = uaccessWrite(v3.DIST_REGS, c, off, val);
      else val = uaccessRead(v3.DIST_REGS, c, off);
      break;
    case KVM_DEV_ARM_VGIC.GRP_REDIST_REGS:
      if (write) r = uaccessWrite(v3.REDIST_REGS, c, off, val);
      else val = uaccessRead(v3.REDIST_REGS, c, off);
      break;
    case KVM_DEV_ARM_VGIC.GRP_CPU_SYSREGS: {
      const key = Number(attr.attr & 0xffffn);
      const user = dev.user(attr, 8);
      const dv = new DataView(user.buffer, user.byteOffset, 8);
      r = iccUserAccess(g, vcpu.index, key, !write, write ? Number(dv.getBigUint64(0, true) & 0xffffffffn) : 0);
      if (r) throw err(r);
      if (!write) dv.setBigUint64(0, BigInt(RES.lo >>> 0), true);
      return 0;
    }
    case KVM_DEV_ARM_VGIC.GRP_LEVEL_INFO: {
      const info = Number((attr.attr >> 10n) & 0x3fffffn);
      if (info !== 0) throw err('EINVAL', 'unknown level info');
      const intid = Number(attr.attr & 0x3ffn);
      if (intid % 32) throw err('EINVAL', 'a bank of 32 INTIDs');
      if (write) lineLevels(g, vcpu.index, intid, val);
      else val = lineLevels(g, vcpu.index, intid);
      break;
    }
    default:
      throw err('EINVAL');
  }
  if (r) throw err(r);
  if (!write) writeU32(dev, attr, val);
  return 0;
}

/** vgic_read/write_irq_line_level_info: the line levels of 32 INTIDs from `intid` (SGIs excluded). */
function lineLevels(g: VgicState, v: number, intid: number, set?: number): number {
  let out = 0;
  g.lock();
  try {
    for (let i = 0; i < 32; i++) {
      const id = intid + i;
      if (id < NR_SGIS || id >= g.nrIrqs) continue;
      const s = g.slot(v, id);
      if (set === undefined) {
        if (g.edge[s] === 0 && g.line[s]) out |= 1 << i;
      } else g.line[s] = (set >>> i) & 1;
    }
    if (set !== undefined) g.updateAll();
  } finally {
    g.unlock();
  }
  return out >>> 0;
}

/** vgic_v2_attr_regs_access: DIST_REGS and CPU_REGS of the vCPU the attribute names by id. */
function v2RegsAccess(dev: KvmDevice, attr: DeviceAttr, write: boolean): number {
  const vm = dev.vm;
  const id = Number((attr.attr >> 32n) & 0xffn);
  const vcpu = vm.vcpus.get(id);
  if (!vcpu) throw err('EINVAL', 'no such vCPU');
  const off = Number(attr.attr & 0xffffffffn);
  let val = write ? readU32(dev, attr) : 0;
  if (anyVcpuAway(vm)) throw err('EBUSY', 'a vCPU is running');
  const g = lazyInit(vm);
  const c = { g, vcpu: vcpu.index };
  const regions = attr.group === KVM_DEV_ARM_VGIC.GRP_CPU_REGS ? v2.CPU_REGS : v2.DIST_REGS;
  if (write) {
    const r = uaccessWrite(regions, c, off, val);
    if (r) throw err(r);
  } else {
    val = uaccessRead(regions, c, off);
    writeU32(dev, attr, val);
  }
  return 0;
}

/** KVM_HAS_DEVICE_ATTR for register offsets: aligned 32-bit registers a region takes. */
function hasRegs(vm: Vm, regions: readonly Region[], off: number): number {
  if (off & 3) throw err('ENXIO');
  const cfg = vmState(vm).vgic!;
  const probe = vgicOf(vm) ?? ({ nrIrqs: (cfg.nrSpis || 0) + NR_PRIVATE } as VgicState);
  if (!findRegion(regions, probe, off, 4)) throw err('ENXIO');
  return 0;
}

const v3Ops: KvmDeviceOps = {
  name: 'kvm-arm-vgic-v3',
  create: (dev) => vgicCreate(dev.vm, GIC_V3),
  setAttr(dev, attr) {
    switch (attr.group) {
      case KVM_DEV_ARM_VGIC.GRP_DIST_REGS:
      case KVM_DEV_ARM_VGIC.GRP_REDIST_REGS:
      case KVM_DEV_ARM_VGIC.GRP_CPU_SYSREGS:
      case KVM_DEV_ARM_VGIC.GRP_LEVEL_INFO:
        return v3RegsAccess(dev, attr, true);
      default:
        return commonAttr(dev, attr, true);
    }
  },
  getAttr(dev, attr) {
    switch (attr.group) {
      case KVM_DEV_ARM_VGIC.GRP_DIST_REGS:
      case KVM_DEV_ARM_VGIC.GRP_REDIST_REGS:
      case KVM_DEV_ARM_VGIC.GRP_CPU_SYSREGS:
      case KVM_DEV_ARM_VGIC.GRP_LEVEL_INFO:
        return v3RegsAccess(dev, attr, false);
      default:
        return commonAttr(dev, attr, false);
    }
  },
  hasAttr(dev, attr) {
    const a = Number(attr.attr & 0xffffffffn);
    switch (attr.group) {
      case KVM_DEV_ARM_VGIC.GRP_ADDR:
        if (attr.attr === 2n || attr.attr === 3n || attr.attr === 5n) return 0;
        break;
      case KVM_DEV_ARM_VGIC.GRP_DIST_REGS:
      case KVM_DEV_ARM_VGIC.GRP_REDIST_REGS:
      case KVM_DEV_ARM_VGIC.GRP_CPU_SYSREGS: {
        v3Vcpu(dev.vm, attr);
        if (attr.group === KVM_DEV_ARM_VGIC.GRP_CPU_SYSREGS) {
          if (iccUserHas(Number(attr.attr & 0xffffn))) return 0;
          break;
        }
        return hasRegs(dev.vm, attr.group === KVM_DEV_ARM_VGIC.GRP_DIST_REGS ? v3.DIST_REGS : v3.REDIST_REGS, a);
      }
      case KVM_DEV_ARM_VGIC.GRP_NR_IRQS:
        return 0;
      case KVM_DEV_ARM_VGIC.GRP_LEVEL_INFO:
        if (((attr.attr >> 10n) & 0x3fffffn) === 0n) return 0;
        break;
      case KVM_DEV_ARM_VGIC.GRP_CTRL:
        if (attr.attr === 0n || attr.attr === 3n) return 0;
        break;
      default:
        break;
    }
    throw err('ENXIO');
  },
};

const v2Ops: KvmDeviceOps = {
  name: 'kvm-arm-vgic-v2',
  create: (dev) => vgicCreate(dev.vm, GIC_V2),
  setAttr(dev, attr) {
    if (attr.group === KVM_DEV_ARM_VGIC.GRP_DIST_REGS || attr.group === KVM_DEV_ARM_VGIC.GRP_CPU_REGS) return v2RegsAccess(dev, attr, true);
    return commonAttr(dev, attr, true);
  },
  getAttr(dev, attr) {
    if (attr.group === KVM_DEV_ARM_VGIC.GRP_DIST_REGS || attr.group === KVM_DEV_ARM_VGIC.GRP_CPU_REGS) return v2RegsAccess(dev, attr, false);
    return commonAttr(dev, attr, false);
  },
  hasAttr(dev, attr) {
    switch (attr.group) {
      case KVM_DEV_ARM_VGIC.GRP_ADDR:
        if (attr.attr === 0n || attr.attr === 1n) return 0;
        break;
      case KVM_DEV_ARM_VGIC.GRP_DIST_REGS:
      case KVM_DEV_ARM_VGIC.GRP_CPU_REGS:
        if (!dev.vm.vcpus.get(Number((attr.attr >> 32n) & 0xffn))) throw err('EINVAL', 'no such vCPU');
        return hasRegs(dev.vm, attr.group === KVM_DEV_ARM_VGIC.GRP_DIST_REGS ? v2.DIST_REGS : v2.CPU_REGS, Number(attr.attr & 0xffffffffn));
      case KVM_DEV_ARM_VGIC.GRP_NR_IRQS:
        return 0;
      case KVM_DEV_ARM_VGIC.GRP_CTRL:
        if (attr.attr === 0n) return 0;
        break;
      default:
        break;
    }
    throw err('ENXIO');
  },
};

/** kvm_device_ops_table: the vGIC models and the ITS (its.ts). */
export function vgicDeviceOps(type: number): KvmDeviceOps | undefined {
  if (type === KVM_DEV_TYPE.ARM_VGIC_V3) return v3Ops;
  if (type === KVM_DEV_TYPE.ARM_VGIC_V2) return v2Ops;
  if (type === KVM_DEV_TYPE.ARM_VGIC_ITS) return vgicItsOps;
  return undefined;
}

/** Owner-thread operations a vCPU on a worker may need: a GICv2 initialized at its first run. */
export function registerVgicOwnerOps(vm: Vm): void {
  vm.ownerOps.set('vgic.init', () => {
    if (vmState(vm).vgic !== null) vgicInit(vm);
  });
}
