/**
 * A vCPU's time: the guest TSC (IA32_TSC, IA32_TSC_ADJUST, KVM_SET/GET_TSC_KHZ) and kvmclock
 * (MSR_KVM_SYSTEM_TIME(_NEW), MSR_KVM_WALL_CLOCK(_NEW), the pvclock page, KVM_KVMCLOCK_CTRL), as
 * arch/x86/kvm/x86.c keeps them.
 *
 * Every guest counter derives from the VM clock (src/kernel/timer.ts, ns): the TSC is
 * `floor(ns * virtual_tsc_khz / 10^6) + offset`, the same on every thread, so the pvclock page
 * written once stays exact (PVCLOCK_TSC_STABLE_BIT, as with KVM's master clock): the guest's
 * `system_time + scale(rdtsc - tsc_timestamp)` follows the VM clock plus the kvmclock offset
 * KVM_SET_CLOCK sets. The page is rewritten (kvm_guest_time_update) when the MSR is written, the
 * TSC rate or offset changes, KVM_SET_CLOCK moved kvmclock (seen at the next KVM_RUN) and for
 * KVM_KVMCLOCK_CTRL.
 * @module
 */
import { HOST_TSC_KHZ } from '../../../kernel/timer.js';
import type { Vcpu } from '../../../kernel/vcpu.js';
import { struct, s8, u32, u64, u8, array } from '../../../uapi/layout.js';

/** struct pvclock_vcpu_time_info (guest ABI, asm/pvclock-abi.h; 32 bytes, packed). */
export const pvclock_vcpu_time_info = struct(
  'pvclock_vcpu_time_info',
  { version: u32, pad0: u32, tsc_timestamp: u64, system_time: u64, tsc_to_system_mul: u32, tsc_shift: s8, flags: u8, pad: array(u8, 2) },
  { packed: true, size: 32 },
);
/** struct pvclock_wall_clock (guest ABI; 12 bytes, packed). */
export const pvclock_wall_clock = struct('pvclock_wall_clock', { version: u32, sec: u32, nsec: u32 }, { packed: true, size: 12 });

/** pvclock flags. */
export const PVCLOCK = { TSC_STABLE_BIT: 1, GUEST_STOPPED: 2 } as const;

/** kvmclock MSRs (asm/kvm_para.h). */
export const MSR_KVM = { WALL_CLOCK: 0x11, SYSTEM_TIME: 0x12, WALL_CLOCK_NEW: 0x4b564d00, SYSTEM_TIME_NEW: 0x4b564d01 } as const;

/** CPUID 0x40000001 EAX bits (KVM_FEATURE_*) of what vkvm implements. */
export const KVM_FEATURE = { CLOCKSOURCE: 0, NOP_IO_DELAY: 1, CLOCKSOURCE2: 3, CLOCKSOURCE_STABLE_BIT: 24 } as const;
/** KVM_GET_SUPPORTED_CPUID's 0x40000001 EAX: the KVM features vkvm implements (kvmclock, both MSR sets, the stable bit). */
export const KVM_CPUID_FEATURES = (1 << KVM_FEATURE.CLOCKSOURCE) | (1 << KVM_FEATURE.NOP_IO_DELAY) | (1 << KVM_FEATURE.CLOCKSOURCE2) | (1 << KVM_FEATURE.CLOCKSOURCE_STABLE_BIT);

/**
 * kvm_get_time_scale: the (shift, mul) pair turning `base_hz` ticks into `scaled_hz` ticks as
 * `((delta << shift) * mul) >> 32` (negative shift: right shift).
 */
export function timeScale(scaledHz: bigint, baseHz: bigint): { shift: number; mul: number } {
  let tps64 = baseHz;
  let scaled64 = scaledHz;
  let shift = 0;
  while (tps64 > scaled64 * 2n || tps64 & 0xffffffff00000000n) {
    tps64 >>= 1n;
    shift--;
  }
  let tps32 = tps64 & 0xffffffffn;
  while (tps32 <= scaled64 || scaled64 & 0xffffffff00000000n) {
    if (scaled64 & 0xffffffff00000000n || tps32 & 0x80000000n) scaled64 >>= 1n;
    else tps32 <<= 1n;
    shift++;
  }
  // div_frac: (scaled64 << 32) / tps32
  return { shift, mul: Number(((scaled64 << 32n) / tps32) & 0xffffffffn) };
}

/** pvclock_scale_delta, as the guest computes it. */
export function scaleDelta(delta: bigint, mul: number, shift: number): bigint {
  const d = shift < 0 ? delta >> BigInt(-shift) : (delta << BigInt(shift)) & 0xffffffffffffffffn;
  return (d * BigInt(mul)) >> 32n;
}

/** A vCPU's TSC and kvmclock state (vcpu->arch's time fields). */
export class VcpuClock {
  /** vcpu->arch.virtual_tsc_khz */
  tscKhz = HOST_TSC_KHZ;
  /** l1_tsc_offset: the guest TSC minus the scaled VM clock (u64 arithmetic). */
  tscOffset = 0n;
  /** MSR_IA32_TSC_ADJUST */
  tscAdjust = 0n;
  /** MSR_KVM_SYSTEM_TIME(_NEW) as written (vcpu->arch.time). */
  systemTimeMsr = 0n;
  /** The pvclock page is active (the MSR's enable bit). */
  pvActive = false;
  /** hv_clock.version as last written. */
  private version = 0;
  /** KVM_KVMCLOCK_CTRL asked for PVCLOCK_GUEST_STOPPED at the next update. */
  stoppedRequest = false;
  /** The kvmclock offset (KVM_SET_CLOCK) the page was written for. */
  private pageOffset = 0;
  private readonly page = new Uint8Array(32);

  constructor(private readonly vcpu: Vcpu) {}

  /** The guest TSC at VM time `ns`. */
  tscAt(ns: number): bigint {
    return BigInt.asUintN(64, BigInt(Math.floor((ns * this.tscKhz) / 1e6)) + this.tscOffset);
  }

  /** VM time (ns, possibly fractional) at which the guest TSC reaches `tsc`, given it reads `now` at `nowNs`. */
  nsAtTsc(tsc: bigint, nowNs: number): number {
    const now = this.tscAt(nowNs);
    const delta = BigInt.asIntN(64, tsc - now);
    return nowNs + (Number(delta) * 1e6) / this.tscKhz;
  }

  /** A guest write of IA32_TSC (host-initiated: kvm_synchronize_tsc, else the offset moves and TSC_ADJUST with it). */
  writeTsc(value: bigint, nowNs: number, host: boolean): void {
    const adj = BigInt.asUintN(64, value - this.tscAt(nowNs));
    this.tscOffset = BigInt.asUintN(64, this.tscOffset + adj);
    if (!host) this.tscAdjust = BigInt.asUintN(64, this.tscAdjust + adj);
    this.requestUpdate();
  }

  /** IA32_TSC_ADJUST (a guest write moves the TSC by the difference; a host write only sets it). */
  writeTscAdjust(value: bigint, host: boolean): void {
    if (!host) this.tscOffset = BigInt.asUintN(64, this.tscOffset + value - this.tscAdjust);
    this.tscAdjust = value;
    this.requestUpdate();
  }

  /**
   * kvm_synchronize_tsc at vCPU creation (kvm_arch_vcpu_postcreate, data 0): the VM's TSC
   * timeline when its rate matches this vCPU's, else a new one where the TSC reads 0 now (the
   * first vCPU: the guest TSC counts from its creation, not the VM's). Returns the timeline.
   */
  synchronizeAtCreate(sync: { offset: bigint; khz: number } | null, nowNs: number): { offset: bigint; khz: number } {
    if (sync !== null && sync.khz === this.tscKhz) this.tscOffset = sync.offset;
    else this.tscOffset = BigInt.asUintN(64, -BigInt(Math.floor((nowNs * this.tscKhz) / 1e6)));
    this.requestUpdate();
    return { offset: this.tscOffset, khz: this.tscKhz };
  }

  /** KVM_SET_TSC_KHZ (kvm_set_tsc_khz): a new guest TSC rate. */
  setTscKhz(khz: number): void {
    this.tscKhz = khz;
    this.requestUpdate();
  }

  /** kvm_write_system_time */
  writeSystemTime(value: bigint): void {
    this.systemTimeMsr = value;
    this.pvActive = (value & 1n) !== 0n;
    this.update();
  }

  /** kvmclock_reset (INIT): the page is no longer written. */
  reset(): void {
    this.pvActive = false;
    this.systemTimeMsr = 0n;
  }

  /** KVM_KVMCLOCK_CTRL (kvm_set_guest_paused): EINVAL unless the page is active. */
  setGuestPaused(): boolean {
    if (!this.pvActive) return false;
    this.stoppedRequest = true;
    this.update();
    return true;
  }

  private requestUpdate(): void {
    if (this.pvActive) this.update();
  }

  /** What a vCPU carries to another thread. */
  save(): unknown {
    return { tscKhz: this.tscKhz, tscOffset: this.tscOffset, tscAdjust: this.tscAdjust, systemTimeMsr: this.systemTimeMsr, pvActive: this.pvActive, version: this.version, stoppedRequest: this.stoppedRequest, pageOffset: this.pageOffset };
  }

  load(st: unknown): void {
    Object.assign(this, st as object);
  }

  /** At KVM_RUN: KVM_SET_CLOCK moved kvmclock since the page was written. */
  checkOffset(): void {
    if (this.pvActive && this.vcpu.vm.clock.kvmclockOffset !== this.pageOffset) this.update();
  }

  /** kvm_guest_time_update + kvm_setup_guest_pvclock: writes the pvclock page (versioned as the kernel does). */
  update(): void {
    if (!this.pvActive) return;
    const vm = this.vcpu.vm;
    const gpa = Number(this.systemTimeMsr & ~1n);
    const ns = this.vcpu.timer.now((this.vcpu.archState as { retired: number }).retired);
    const offset = vm.clock.kvmclockOffset;
    this.pageOffset = offset;
    const p = this.page;
    if (!vm.readGpa(gpa, p)) return; // not in a memslot: kvm_gpc_refresh fails, nothing is written
    const cur = pvclock_vcpu_time_info.decode(p);
    const { shift, mul } = timeScale(1_000_000_000n, BigInt(this.tscKhz) * 1000n);
    let flags = PVCLOCK.TSC_STABLE_BIT | (cur.flags & PVCLOCK.GUEST_STOPPED);
    if (this.stoppedRequest) {
      flags |= PVCLOCK.GUEST_STOPPED;
      this.stoppedRequest = false;
    }
    this.version = ((cur.version + 1) | 1) >>> 0;
    const fields = {
      version: this.version,
      tsc_timestamp: this.tscAt(ns),
      system_time: BigInt.asUintN(64, BigInt(Math.round(ns + offset))),
      tsc_to_system_mul: mul,
      tsc_shift: shift,
      flags,
    };
    // Odd version while the data changes, then even: the guest retries a read that straddles it.
    vm.writeGpa(gpa, pvclock_vcpu_time_info.encode(fields));
    this.version = (this.version + 1) >>> 0;
    const v = new Uint8Array(4);
    new DataView(v.buffer).setUint32(0, this.version, true);
    vm.writeGpa(gpa, v);
  }
}

/**
 * kvm_write_wall_clock: the wall-clock time at which kvmclock read 0 (the host clock's realtime
 * minus kvmclock; under the deterministic clock, which has no wall time, the epoch is 0).
 */
export function writeWallClock(vcpu: Vcpu, gpa: number): void {
  const vm = vcpu.vm;
  const ver = new Uint8Array(4);
  if (!vm.readGpa(gpa, ver)) return;
  const dv = new DataView(ver.buffer);
  let version = dv.getUint32(0, true);
  if (version & 1) version++;
  version = (version + 1) >>> 0;
  dv.setUint32(0, version, true);
  if (!vm.writeGpa(gpa, ver)) return;
  let epochNs = 0n;
  if (!vm.clock.deterministic) {
    const realNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    epochNs = realNs - BigInt(Math.round(vm.clock.kvmclock()));
  }
  vm.writeGpa(gpa, pvclock_wall_clock.encode({ version, sec: Number((epochNs / 1_000_000_000n) & 0xffffffffn), nsec: Number(epochNs % 1_000_000_000n) }));
  dv.setUint32(0, (version + 1) >>> 0, true);
  vm.writeGpa(gpa, ver);
}
