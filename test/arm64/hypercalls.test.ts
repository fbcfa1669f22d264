/**
 * The SMCCC services KVM serves in the kernel, as Linux 6.12 does (arch/arm64/kvm/hypercalls.c,
 * trng.c, pvtime.c; Documentation/virt/kvm/arm/{hypercalls,pvtime,ptp_kvm}.rst): the guest
 * test/guests/arm64/hypercalls.S makes the calls (EL1 with the MMU off and on, the PV time
 * structure read through the kernel half, HVC at EL0) under the interpreter and the JIT; the
 * host side checks the bitmapped firmware registers, KVM_ARM_VCPU_PVTIME_CTRL's errnos and
 * KVM_CHECK_EXTENSION.
 */
import { describe, expect, it } from 'vitest';
import { schedInfoOn, readRunDelay, threadRunDelay } from '../../src/kernel/sched.js';
import { kernelOf } from '../../src/sys/virtual.js';
import { KVM_CAP, KVM_MEM, KVM_REG, KVM_SYSTEM_EVENT } from '../../src/uapi/constants.js';
import { arm64 } from '../../src/uapi/index.js';
import { KVM_ARM_VCPU, KVM_ARM_VCPU_ATTR, KVM_ARM_VM_SMCCC, KVM_HYPERCALL_EXIT, KVM_SMCCC_FILTER, pvclock_vcpu_stolen_time, sysRegId } from '../../src/uapi/arm64.js';
import { armGuest, armMachine, ENGINES, RAM_BASE, reg, runUntil, useEngine, type ArmMachine, type MachineOptions } from './helpers.js';
import { errnoOf } from '../helpers/errno.js';

const OUT = RAM_BASE + 0x20000;
const LOG = RAM_BASE + 0x28000;
/** Where the tests put the PV time structure (64-byte aligned, in RAM). */
const ST_IPA = RAM_BASE + 0x30000;
const M64 = 0xffff_ffff_ffff_ffffn;
const NOT_SUPPORTED = M64; // -1
const INVALID_PARAMETER = M64 - 1n; // TRNG's -2
const BMAP = (r: bigint) => KVM_REG.ARM64 | KVM_REG.SIZE_U64 | (0x0016n << 16n) | r;
const [STD_BMAP, STD_HYP_BMAP, VENDOR_HYP_BMAP] = [BMAP(0n), BMAP(1n), BMAP(2n)];
/** ARM_SMCCC_VENDOR_HYP_UID_KVM_REG_0..3 */
const KVM_UID = [0xb66fb428n, 0xe911c52en, 0x564bcaa9n, 0x743a004dn];
/** The TRNG UUID 0d21e000-4384-11eb-8070-5244554e5a4c as KVM returns it (its bytes as four LE words). */
const TRNG_UUID = [0x00e0210dn, 0xeb118443n, 0x44527080n, 0x4c5a4e55n];

/** X0-X3 of the call in slot `n`. */
function slot(m: ArmMachine, n: number): bigint[] {
  const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset + OUT - RAM_BASE + 32 * n, 32);
  return [0, 8, 16, 24].map((o) => dv.getBigUint64(o, true));
}

/** KVM_{SET,GET,HAS}_DEVICE_ATTR on the vCPU; the u64 at `addr` (a fresh host buffer holding `value` unless given). */
function pvAttr(m: ArmMachine, op: 'KVM_SET_DEVICE_ATTR' | 'KVM_GET_DEVICE_ATTR' | 'KVM_HAS_DEVICE_ATTR', value = 0n, o: { attr?: bigint; group?: number; addr?: bigint } = {}): bigint {
  const buf = m.vm.hostBuffer(8);
  const dv = new DataView(buf.bytes.buffer, buf.bytes.byteOffset, 8);
  dv.setBigUint64(0, value, true);
  const attr = m.kvm.abi.structs.kvm_device_attr.encode({ flags: 0, group: o.group ?? KVM_ARM_VCPU_ATTR.PVTIME_CTRL, attr: o.attr ?? BigInt(KVM_ARM_VCPU_ATTR.PVTIME_IPA), addr: o.addr ?? buf.hva });
  m.sys.ioctl(m.vcpu.fd, m.kvm.req(op), attr);
  return dv.getBigUint64(0, true);
}

interface Run {
  m: ArmMachine;
  /** The run_delay the vCPU task reports (the test moves it). */
  delay: { ns: number };
}

/**
 * Runs the guest to SYSTEM_OFF: `setup` before the first KVM_RUN; the fake run_delay moves by
 * `stolenNs` during the MMIO exit of phase 2.
 */
function runGuest(setup: (m: ArmMachine) => void, stolenNs = 123_456, opts: MachineOptions = {}): Run {
  const m = armMachine(armGuest('hypercalls'), opts);
  const delay = { ns: 5_000_000 };
  kernelOf(m.sys)!.runDelay = () => delay.ns;
  m.ram.bytes.fill(0xa5, ST_IPA - RAM_BASE, ST_IPA - RAM_BASE + 64); // PV_TIME_ST must zero it
  setup(m);
  const e = runUntil(m, (x) => {
    if (x.reason !== 'mmio') return false;
    delay.ns += stolenNs;
    return true;
  });
  expect(e.reason).toBe('system_event');
  expect(m.x(19)).toBe(4n);
  return { m, delay };
}

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  it('every service enabled and the PV time IPA set: SMCCC, TRNG, vendor KVM calls, PTP and PV time answer as Linux', () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const { m } = runGuest((m) => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA)));
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    expect(slot(m, 0)).toEqual([0x10001n, 0n, 0n, 0n]); // SMCCC 1.1
    expect(slot(m, 1)[0]).toBe(0n); // ARCH_FEATURES(PV_TIME_FEATURES)
    expect(slot(m, 2)[0]).toBe(NOT_SUPPORTED); // ARCH_FEATURES(TRNG_RND64): not an arch feature
    expect(slot(m, 3)).toEqual([0x10000n, 0n, 0n, 0n]); // TRNG 1.0
    expect([slot(m, 4)[0], slot(m, 5)[0]]).toEqual([0n, NOT_SUPPORTED]);
    expect(slot(m, 6)).toEqual(TRNG_UUID);
    // RND32(96): three 32-bit words; RND32(97) and RND64(193) are too many bits.
    const r32 = slot(m, 7);
    expect(r32[0]).toBe(0n);
    expect(r32.slice(1).every((w) => w < 2n ** 32n)).toBe(true);
    expect(r32.slice(1).some((w) => w !== 0n)).toBe(true);
    expect(slot(m, 8)).toEqual([INVALID_PARAMETER, 0n, 0n, 0n]);
    const r64 = slot(m, 9);
    expect(r64[0]).toBe(0n);
    expect(r64.slice(1).some((w) => w >= 2n ** 32n)).toBe(true); // 64-bit words (fails 1 in 2^96)
    expect(slot(m, 10)).toEqual([INVALID_PARAMETER, 0n, 0n, 0n]);
    const r8 = slot(m, 11); // RND64(8): only the low 8 bits of X3
    expect([r8[0], r8[1], r8[2], r8[3]! < 256n]).toEqual([0n, 0n, 0n, true]);
    expect(slot(m, 12)).toEqual(KVM_UID);
    expect(slot(m, 28)).toEqual(KVM_UID); // the same call through SMC #0
    expect(slot(m, 13)[0]).toBe(3n); // vendor bitmap: FUNC_FEAT | PTP
    // PTP: the wall clock (upper, lower 32 bits) and the counter read between the guest's own reads.
    const [vBefore, pBefore, vAfter, pAfter] = slot(m, 30);
    for (const [n, lo, hi] of [[14, vBefore, vAfter], [15, pBefore, pAfter]] as const) {
      const [rh, rl, ch, cl] = slot(m, n);
      const real = (rh! << 32n) | rl!;
      expect(real >= before - 1_000_000n && real <= after).toBe(true);
      const c = (ch! << 32n) | cl!;
      expect([n, c >= lo!, c <= hi!]).toEqual([n, true, true]);
    }
    expect(slot(m, 16)).toEqual([NOT_SUPPORTED, 0n, 0n, 0n]); // PTP: no counter 2
    expect(slot(m, 17)[0]).toBe(0n); // PV_TIME_FEATURES(PV_TIME_ST)
    expect(slot(m, 18)[0]).toBe(NOT_SUPPORTED); // PV_TIME_FEATURES(TRNG_RND64)
    expect(slot(m, 19)[0]).toBe(BigInt(ST_IPA)); // PV_TIME_ST
    expect(slot(m, 20)[0]).toBe(NOT_SUPPORTED); // an unknown vendor call: denied
    expect(slot(m, 21)[0]).toBe(NOT_SUPPORTED); // ARCH_WORKAROUND_1 as a call: not default-allowed
    // The structure: zeroed by PV_TIME_ST (revision 0, attributes 0), then stolen_time grew by the
    // run_delay of the MMIO exit at the next KVM_RUN.
    expect(slot(m, 24).slice(0, 3)).toEqual([0n, 0n, 0n]);
    expect(slot(m, 25)[0]).toBe(123_456n);
    // MMU on: PV_TIME_FEATURES(PV_TIME_FEATURES); PV_TIME_ST again zeroes it: 0 through the kernel half.
    expect([slot(m, 22)[0], slot(m, 23)[0], slot(m, 26)[0]]).toEqual([0n, BigInt(ST_IPA), 0n]);
    // EL0: HVC is UNDEFINED (EC 0) and makes no call.
    expect(slot(m, 27)[0]).toBe(0x80000000n);
    const log = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset + LOG - RAM_BASE, 16);
    expect([log.getBigUint64(0, true), log.getBigUint64(8, true) >> 26n]).toEqual([0x400n, 0n]); // lower-EL sync, EC 0
    const st = m.ram.bytes.subarray(ST_IPA - RAM_BASE, ST_IPA - RAM_BASE + pvclock_vcpu_stolen_time.size);
    expect(st.every((b) => b === 0)).toBe(true);
    // The IPA reads back; a second SET is EEXIST.
    expect(pvAttr(m, 'KVM_GET_DEVICE_ATTR')).toBe(BigInt(ST_IPA));
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA) + 64n))).toBe('EEXIST');
  });

  it('stolen_time: each KVM_RUN entry adds the run_delay since the last update, as a u64 modulo 2^64', () => {
    // The guest reads stolen_time after one MMIO exit: the delta is what the task's run_delay grew by.
    expect(slot(runGuest((m) => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA)), 0).m, 25)[0]).toBe(0n);
    expect(slot(runGuest((m) => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA)), 2 ** 40 + 7).m, 25)[0]).toBe(2n ** 40n + 7n);
    // The host writes a value near 2^64 between runs: the sum wraps (kvm_put_guest of a u64).
    const m = armMachine(armGuest('hypercalls'));
    const delay = { ns: 1000 };
    kernelOf(m.sys)!.runDelay = () => delay.ns;
    pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA));
    const stolen = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset + ST_IPA - RAM_BASE + 8, 8);
    let exits = 0;
    runUntil(m, (x) => {
      if (x.reason !== 'mmio') return false;
      exits++;
      stolen.setBigUint64(0, M64 - 9n, true);
      delay.ns += 20;
      return true;
    });
    expect(exits).toBe(1);
    expect(slot(m, 25)[0]).toBe(10n);
  });

  it('the bitmapped firmware registers cleared: every gated call answers NOT_SUPPORTED; EBUSY once the VM ran', () => {
    const { m } = runGuest((m) => {
      pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA));
      for (const id of [STD_BMAP, STD_HYP_BMAP, VENDOR_HYP_BMAP]) m.vcpu.setOneReg(id, 0n);
    });
    expect(slot(m, 0)[0]).toBe(0x10001n); // SMCCC_VERSION needs no bit
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]) {
      expect([n, ...slot(m, n)]).toEqual([n, NOT_SUPPORTED, 0n, 0n, 0n]);
    }
    // PV_TIME_ST was refused: the structure was never touched.
    expect(m.ram.bytes[ST_IPA - RAM_BASE]).toBe(0xa5);
    for (const id of [STD_BMAP, STD_HYP_BMAP, VENDOR_HYP_BMAP]) {
      expect(m.vcpu.getOneReg(id)).toBe(0n);
      expect(errnoOf(() => m.vcpu.setOneReg(id, 1n))).toBe('EBUSY');
      expect(errnoOf(() => m.vcpu.setOneReg(id, 0n))).toBe('ok'); // the same value is accepted
    }
  });

  it('one bit cleared gates only its service: PTP off leaves the UID and features calls; no IPA: PV time calls refused', () => {
    const { m } = runGuest((m) => m.vcpu.setOneReg(VENDOR_HYP_BMAP, 1n));
    expect(slot(m, 12)).toEqual(KVM_UID);
    expect(slot(m, 13)[0]).toBe(1n); // the features bitmap as the register holds it
    expect([slot(m, 14)[0], slot(m, 15)[0]]).toEqual([NOT_SUPPORTED, NOT_SUPPORTED]);
    expect(slot(m, 3)[0]).toBe(0x10000n); // TRNG untouched
    // No KVM_ARM_VCPU_PVTIME_IPA: the service exists (ARCH_FEATURES) but PV_TIME_FEATURES/ST do not.
    expect([slot(m, 1)[0], slot(m, 17)[0], slot(m, 19)[0], slot(m, 22)[0], slot(m, 23)[0]]).toEqual([0n, NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED]);
  });

  it('the SMCCC filter: a denied range answers NOT_SUPPORTED, a forwarded one exits with KVM_EXIT_HYPERCALL (SMC flagged) and takes the VMM\'s X0-X3', () => {
    const calls: [bigint, bigint][] = [];
    const m = armMachine(armGuest('hypercalls'));
    smcccFilter(m, 0x84000050, 4, KVM_SMCCC_FILTER.DENY); // TRNG_VERSION .. TRNG_RND32
    smcccFilter(m, 0x8600ff01, 1, KVM_SMCCC_FILTER.FWD_TO_USER); // the UID call
    const e = runUntil(m, (x) => {
      if (x.reason !== 'hypercall') return false;
      calls.push([x.nr, x.flags]);
      expect(x.args).toEqual([0n, 0n, 0n, 0n, 0n, 0n]);
      // The PC is past the call already: the VMM writes the results and runs the vCPU again.
      for (let r = 0; r < 4; r++) m.setX(r, 0x1000n * BigInt(calls.length) + BigInt(r));
      return true;
    });
    expect(e.reason).toBe('system_event');
    expect(calls).toEqual([[0x8600ff01n, 0n], [0x8600ff01n, BigInt(KVM_HYPERCALL_EXIT.SMC)]]);
    expect([slot(m, 12), slot(m, 28)]).toEqual([[0x1000n, 0x1001n, 0x1002n, 0x1003n], [0x2000n, 0x2001n, 0x2002n, 0x2003n]]);
    expect([3, 4, 5, 6, 7, 8].map((n) => slot(m, n)[0])).toEqual([NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED]);
    expect(slot(m, 9)[0]).toBe(0n); // RND64 (0xc4000053) lies outside the denied range
    // Once the VM ran, the filter is fixed.
    expect(errnoOf(() => smcccFilter(m, 0x86000001, 1, KVM_SMCCC_FILTER.DENY))).toBe('EBUSY');
  });

  it('PSCI 1.x: SYSTEM_SUSPEND exits to userspace once KVM_CAP_ARM_SYSTEM_SUSPEND is on, SYSTEM_RESET2 from PSCI 1.1', () => {
    /** X0-X3 set, one call: `{ exit, x19 }` (X19 = the call's X0 when it returned to the guest). */
    const call = (x: readonly bigint[], o: { suspend?: boolean; v1_1?: boolean } = {}) => {
      const m = armMachine(CALL_THEN_OFF);
      if (o.suspend) m.vm.enableCap(KVM_CAP.ARM_SYSTEM_SUSPEND);
      if (o.v1_1) m.vcpu.setOneReg(PSCI_VERSION_REG, 0x10001n);
      x.forEach((v, i) => m.setX(i, v));
      m.setX(19, 0xdeadn);
      return { m, exit: runUntil(m) };
    };
    const feature = (f: bigint, o = {}) => call([0x8400000an, f], o).m.x(19);
    expect([feature(0x8400000en), feature(0xc400000en)]).toEqual([NOT_SUPPORTED, NOT_SUPPORTED]);
    expect([feature(0x8400000en, { suspend: true }), feature(0xc400000en, { suspend: true })]).toEqual([0n, 0n]);
    expect([feature(0x84000012n), feature(0x84000012n, { v1_1: true }), feature(0xc4000012n, { v1_1: true })]).toEqual([NOT_SUPPORTED, 0n, 0n]);
    expect([call([0x84000000n]).m.x(19), call([0x84000000n], { v1_1: true }).m.x(19)]).toEqual([0x10000n, 0x10001n]);
    // SYSTEM_SUSPEND: not offered without the cap; with it, KVM_SYSTEM_EVENT_SUSPEND and the
    // registers as the guest left them (the 32-bit call's arguments narrowed), PC past the HVC.
    expect(call([0xc400000en, 0x4000_1000n, 7n]).m.x(19)).toBe(NOT_SUPPORTED);
    for (const [fn, x1, want] of [[0xc400000en, 0x1_4000_1000n, 0x1_4000_1000n], [0x8400000en, 0x1_4000_1000n, 0x4000_1000n]] as const) {
      const { m, exit } = call([fn, x1, 0xffff_0000_0000_0007n], { suspend: true });
      expect(exit).toMatchObject({ reason: 'system_event', type: KVM_SYSTEM_EVENT.SUSPEND, data: [] });
      expect([m.x(0), m.x(1), m.x(2), m.x(19), m.pc()]).toEqual([fn, want, fn === 0x8400000en ? 7n : 0xffff_0000_0000_0007n, 0xdeadn, BigInt(RAM_BASE + 4)]);
    }
    // SYSTEM_RESET2: warm reset and vendor types reset (data[0] = KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2, X0 = INTERNAL_FAILURE), others INVALID_PARAMS; not in 1.0.
    for (const type of [0n, 0x8000_0000n, 0xffff_ffffn]) {
      const { m, exit } = call([0xc4000012n, type], { v1_1: true });
      expect(exit).toMatchObject({ reason: 'system_event', type: KVM_SYSTEM_EVENT.RESET, data: [1n] });
      expect(m.x(0)).toBe(M64 - 5n);
    }
    expect(call([0xc4000012n, 1n], { v1_1: true }).m.x(19)).toBe(M64 - 1n); // PSCI_RET_INVALID_PARAMS
    expect(call([0x84000012n, 0x1_0000_0000n], { v1_1: true }).exit).toMatchObject({ type: KVM_SYSTEM_EVENT.RESET }); // narrowed to type 0
    expect(call([0xc4000012n, 0n]).m.x(19)).toBe(NOT_SUPPORTED);
  });

  it('PTP under the deterministic clock (no wall clock pairs with the counter) answers NOT_SUPPORTED', () => {
    const { m } = runGuest(() => {}, 0, { sys: { clock: 'deterministic' } });
    expect([slot(m, 14), slot(m, 15)]).toEqual([[NOT_SUPPORTED, 0n, 0n, 0n], [NOT_SUPPORTED, 0n, 0n, 0n]]);
  });
});

/** hvc #0; mov x19, x0; PSCI SYSTEM_OFF (movz x0, #0x8400, lsl #16; movk x0, #8; hvc #0). */
const CALL_THEN_OFF = new Uint8Array(new Uint32Array([0xd4000002, 0xaa0003f3, 0xd2b08000, 0xf2800100, 0xd4000002]).buffer);
const PSCI_VERSION_REG = KVM_REG.ARM64 | KVM_REG.SIZE_U64 | (0x0014n << 16n);

/** KVM_SET_DEVICE_ATTR KVM_ARM_VM_SMCCC_FILTER on the VM. */
function smcccFilter(m: ArmMachine, base: number, nr: number, action: number, pad = 0, o: { attr?: bigint; group?: number; op?: 'KVM_SET_DEVICE_ATTR' | 'KVM_HAS_DEVICE_ATTR' | 'KVM_GET_DEVICE_ATTR' } = {}): void {
  const F = arm64.structs.kvm_smccc_filter;
  const buf = m.vm.hostBuffer(F.size);
  const pads = new Array<number>(15).fill(0);
  pads[14] = pad;
  buf.bytes.set(F.encode({ base, nr_functions: nr, action, pad: pads }));
  const attr = m.kvm.abi.structs.kvm_device_attr.encode({ flags: 0, group: o.group ?? KVM_ARM_VM_SMCCC.CTRL, attr: o.attr ?? BigInt(KVM_ARM_VM_SMCCC.FILTER), addr: buf.hva });
  m.sys.ioctl(m.vm.fd, m.kvm.req(o.op ?? 'KVM_SET_DEVICE_ATTR'), attr);
}

describe('ioctls', () => {
  it('KVM_ARM_VM_SMCCC_CTRL: the kernel errnos (kvm_smccc_set_filter)', () => {
    const m = armMachine(new Uint8Array(4));
    const D = KVM_SMCCC_FILTER.DENY;
    expect(errnoOf(() => smcccFilter(m, 0, 0, 0, 0, { op: 'KVM_HAS_DEVICE_ATTR' }))).toBe('ok');
    expect(errnoOf(() => smcccFilter(m, 0, 0, 0, 0, { op: 'KVM_HAS_DEVICE_ATTR', attr: 1n }))).toBe('ENXIO');
    expect(errnoOf(() => smcccFilter(m, 0, 0, 0, 0, { op: 'KVM_HAS_DEVICE_ATTR', group: 1 }))).toBe('ENXIO');
    expect(errnoOf(() => smcccFilter(m, 0, 0, 0, 0, { op: 'KVM_GET_DEVICE_ATTR' }))).toBe('EINVAL'); // no GET on the VM
    expect(errnoOf(() => smcccFilter(m, 0xc4000003, 1, D, 0, { attr: 1n }))).toBe('ENXIO');
    expect(errnoOf(() => smcccFilter(m, 0x84000000, 1, D, 0xff))).toBe('EINVAL'); // pad
    expect(errnoOf(() => smcccFilter(m, 0xc4000003, 0, D))).toBe('EINVAL'); // no functions
    expect(errnoOf(() => smcccFilter(m, 0xffffffff, 0xffffffff, D))).toBe('EINVAL'); // wraps
    expect(errnoOf(() => smcccFilter(m, 0xc4000003, 1, 3))).toBe('EINVAL'); // no such action
    expect(errnoOf(() => smcccFilter(m, 0xc4000003, 1, 255))).toBe('EINVAL');
    expect(errnoOf(() => smcccFilter(m, 0x80008000, 1, D))).toBe('EEXIST'); // ARCH_WORKAROUND_1: reserved
    expect(errnoOf(() => smcccFilter(m, 0xc0000000, 1, D))).toBe('EEXIST');
    expect(errnoOf(() => smcccFilter(m, 0x7fffffff, 2, D))).toBe('EEXIST'); // ends inside the reserved range
    expect(errnoOf(() => smcccFilter(m, 0xc4000003, 1, D))).toBe('ok');
    expect(errnoOf(() => smcccFilter(m, 0xc4000003, 1, D))).toBe('EEXIST');
    expect(errnoOf(() => smcccFilter(m, 0xc4000000, 8, D))).toBe('EEXIST'); // covers it
    expect(errnoOf(() => smcccFilter(m, 0xc4000004, 1, KVM_SMCCC_FILTER.HANDLE))).toBe('ok'); // next to it
    expect(errnoOf(() => smcccFilter(m, 0x8000ffff + 1, 1, D))).toBe('ok'); // just past the reserved range
    const e = m.vm.sys.ioctl.bind(m.vm.sys);
    expect(errnoOf(() => e(m.vm.fd, m.kvm.req('KVM_SET_DEVICE_ATTR'), m.kvm.abi.structs.kvm_device_attr.encode({ flags: 0, group: 0, attr: 0n, addr: 8n })))).toBe('EFAULT');
  });


  it('KVM_CHECK_EXTENSION: KVM_CAP_STEAL_TIME where the host publishes run_delay, KVM_CAP_PTP_KVM', () => {
    const m = armMachine(new Uint8Array(4));
    expect(m.kvm.checkExtension(KVM_CAP.STEAL_TIME)).toBe(schedInfoOn() ? 1 : 0);
    expect(m.vm.checkExtension(KVM_CAP.STEAL_TIME)).toBe(schedInfoOn() ? 1 : 0);
    expect(m.kvm.checkExtension(KVM_CAP.PTP_KVM)).toBe(1);
    expect(m.kvm.checkExtension(KVM_CAP.ARM_SYSTEM_SUSPEND)).toBe(1);
    expect(errnoOf(() => m.vm.enableCap(KVM_CAP.ARM_SYSTEM_SUSPEND, [], 1))).toBe('EINVAL');
  });

  it('the bitmapped firmware registers: every service at VM creation, unknown bits EINVAL, listed by KVM_GET_REG_LIST', () => {
    const m = armMachine(new Uint8Array(4));
    expect([STD_BMAP, STD_HYP_BMAP, VENDOR_HYP_BMAP].map((id) => m.vcpu.getOneReg(id))).toEqual([1n, 1n, 3n]);
    expect([errnoOf(() => m.vcpu.setOneReg(STD_BMAP, 2n)), errnoOf(() => m.vcpu.setOneReg(STD_HYP_BMAP, 3n)), errnoOf(() => m.vcpu.setOneReg(VENDOR_HYP_BMAP, 4n))]).toEqual(['EINVAL', 'EINVAL', 'EINVAL']);
    expect(errnoOf(() => m.vcpu.setOneReg(VENDOR_HYP_BMAP, 2n))).toBe('ok');
    expect(m.vcpu.getOneReg(VENDOR_HYP_BMAP)).toBe(2n);
    // The bitmaps are the VM's (kvm->arch.smccc_feat): a second vCPU sees the same value.
    const v1 = m.vm.createVcpu(1);
    v1.armInit([2]);
    expect(v1.getOneReg(VENDOR_HYP_BMAP)).toBe(2n);
    const list = m.vcpu.regList();
    for (const id of [STD_BMAP, STD_HYP_BMAP, VENDOR_HYP_BMAP]) expect(list).toContain(id);
  });

  it('PSCI CPU_ON: the target\'s registers read after the call show the reset it owes (psci_test)', () => {
    const m = armMachine(CALL_THEN_OFF);
    const t = m.vm.createVcpu(1);
    t.armInit([KVM_ARM_VCPU.POWER_OFF, KVM_ARM_VCPU.PSCI_0_2]);
    const mpidr = t.getOneReg(sysRegId(3, 0, 0, 0, 5)) & 0xff_00ff_ffffn;
    [0xc4000003n, mpidr, 0xfeedf00dn, 0xdeadc0den].forEach((v, i) => m.setX(i, v));
    expect(runUntil(m).reason).toBe('system_event');
    expect(m.x(19)).toBe(0n); // CPU_ON succeeded
    // Never run: KVM_GET_ONE_REG performs the pending reset first (KVM_REQ_VCPU_RESET).
    expect([t.getOneReg(reg.pc), t.getOneReg(reg.x(0))]).toEqual([0xfeedf00dn, 0xdeadc0den]);
  });

  it.skipIf(!schedInfoOn())('KVM_ARM_VCPU_PVTIME_CTRL: the kernel errnos', () => {
    const m = armMachine(new Uint8Array(4));
    expect(errnoOf(() => pvAttr(m, 'KVM_HAS_DEVICE_ATTR'))).toBe('ok');
    expect(errnoOf(() => pvAttr(m, 'KVM_HAS_DEVICE_ATTR', 0n, { attr: 1n }))).toBe('ENXIO');
    expect(errnoOf(() => pvAttr(m, 'KVM_GET_DEVICE_ATTR', 0n, { attr: 1n }))).toBe('ENXIO');
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA), { attr: 1n }))).toBe('ENXIO');
    expect(pvAttr(m, 'KVM_GET_DEVICE_ATTR')).toBe(M64); // INVALID_GPA until set
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', 0n, { addr: 8n }))).toBe('EFAULT');
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA + 1)))).toBe('EINVAL'); // not 64-byte aligned
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA + 32)))).toBe('EINVAL');
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', 0x1000_0000n))).toBe('EINVAL'); // no memslot
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', 0xffff_ffff_ffff_ffc0n))).toBe('EINVAL');
    // A read-only memslot will not do either (gfn_to_hva asks for a writable mapping).
    const ro = m.sys.alloc(0x1000);
    m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x8000_0000, memorySize: 0x1000, userspaceAddr: ro.hva, flags: KVM_MEM.READONLY });
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', 0x8000_0000n))).toBe('EINVAL');
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA)))).toBe('ok');
    expect(pvAttr(m, 'KVM_GET_DEVICE_ATTR')).toBe(BigInt(ST_IPA));
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA) + 64n))).toBe('EEXIST');
    expect(errnoOf(() => pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA) + 1n))).toBe('EINVAL'); // alignment first
    expect(errnoOf(() => pvAttr(m, 'KVM_GET_DEVICE_ATTR', 0n, { addr: 8n }))).toBe('EFAULT');
    // A vCPU reset (KVM_ARM_VCPU_INIT again) keeps it, as kvm_reset_vcpu does.
    m.vcpu.armInit([2]);
    expect(pvAttr(m, 'KVM_GET_DEVICE_ATTR')).toBe(BigInt(ST_IPA));
  });

  it.skipIf(!schedInfoOn())('stolen_time from the real source: the calling thread\'s run_delay (/proc/thread-self/schedstat)', () => {
    expect(readRunDelay('/proc/self/no-such-file')).toBe(-1);
    const m = armMachine(armGuest('hypercalls'));
    pvAttr(m, 'KVM_SET_DEVICE_ATTR', BigInt(ST_IPA));
    const e = runUntil(m, (x) => x.reason === 'mmio');
    expect(e.reason).toBe('system_event');
    // Between PV_TIME_ST and the read after the MMIO exit: what this thread waited, no more than its total.
    const stolen = slot(m, 25)[0]!;
    expect(stolen >= 0n && stolen <= BigInt(threadRunDelay())).toBe(true);
  });
});
