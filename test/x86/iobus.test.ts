/**
 * The in-kernel I/O buses at x86's exit points (IN/OUT, MMIO reads and writes): ioeventfds hit by
 * a guest at CPL0 (identity map and kernel-half addresses) and CPL3 complete with no exit and
 * signal the VMM's eventfds — on both engines and, where /dev/kvm exists, on the real kernel; an
 * in-kernel device answering IN and MMIO loads gives the guest its data without an exit.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventFd, KVM_CAP, Kvm, virtualSys, type Sys } from '../../src/index.js';
import { KVM_BUS } from '../../src/kernel/iobus.js';
import type { Vm as KVm } from '../../src/kernel/vm.js';
import { kernelOf } from '../../src/sys/kernel-of.js';
import { nativeBackend, nativeX86 } from '../helpers/backends.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { CODE, DATA, enterMode, MMIO_BASE, RAM, runProgram, STACK, writeGdt, writePageTables } from '../helpers/x86.js';

const GUEST = new Uint8Array(readFileSync(resolve(__dirname, '../guests/x86/ioeventfd.bin')));
const IODEV = new Uint8Array(readFileSync(resolve(__dirname, '../guests/x86/iodev.bin')));
const CLOCK = new Uint8Array(readFileSync(resolve(__dirname, '../guests/x86/clock.bin')));

const backends: { name: string; make: () => Sys }[] = [...X86_ENGINES.map((e) => ({ name: e.name, make: () => engineSys(e) })), ...(nativeX86 ? [nativeBackend] : [])];

describe.each(backends)('$name', (b) => {
  it('ioeventfds: PIO and MMIO hits at CPL0 (identity and kernel-half VAs) and CPL3 complete without an exit', () => {
    const sys = b.make();
    const efds: EventFd[] = [];
    const trace = runProgram(sys, {
      mode: 'long64',
      code: GUEST,
      setup: (vcpu) => {
        const vm = vcpu.vm;
        const fd = () => {
          const e = EventFd.create(sys);
          efds.push(e);
          return e;
        };
        vm.ioeventfd({ fd: fd(), addr: 0x510, len: 4, pio: true, datamatch: 0x1234 });
        vm.ioeventfd({ fd: fd(), addr: MMIO_BASE + 0x10, len: 8, datamatch: 0x1122334455667788n });
        vm.ioeventfd({ fd: fd(), addr: MMIO_BASE + 0x20, len: 2 });
        vm.ioeventfd({ fd: fd(), addr: 0x512, len: 4, pio: true });
        expect(vm.checkExtension(KVM_CAP.IOEVENTFD)).toBe(1);
        expect(vm.checkExtension(KVM_CAP.IOEVENTFD_NO_LENGTH)).toBe(1);
        expect(vm.checkExtension(KVM_CAP.IOEVENTFD_ANY_LENGTH)).toBe(1);
      },
      onExit: (e) => (e.reason === 'io' && e.port === 0x600 ? 'stop' : undefined),
    });
    // Only the writes no ioeventfd matches reached userspace.
    expect(trace.exits.map((x) => `${x.exit.reason}:${String(x.exit.port ?? x.exit.physAddr)}:${String(x.exit.data)}`)).toEqual(['io:1296:99000000', 'io:1536:78']);
    expect(trace.end).toBe('stopped');
    expect(efds.map((e) => e.tryRead())).toEqual([1n, 1n, 1n, 1n]);
    expect(trace.exits[1]!.sregs.cs).toBe('0x3b:0x0'); // the last one at CPL3
  });
});

describe.each(X86_ENGINES)('in-kernel device answers ($name)', (engine) => {
  it('IN and MMIO loads of a device on the buses complete without an exit', () => {
    const sys = engineSys(engine);
    const vm = Kvm.open(sys).createVm();
    const ram = sys.alloc(RAM);
    writeGdt(ram.bytes);
    writePageTables(ram.bytes);
    ram.bytes.set(IODEV, CODE);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
    const k = (kernelOf(sys)!.file(vm.fd) as { vm: KVm }).vm;
    k.buses[KVM_BUS.PIO]!.register(0x70, 4, { read: (_v, port, len, d) => (d.set([0x11, 0x22, 0x33, 0x44].slice(0, len)), port === 0x70) });
    k.buses[KVM_BUS.MMIO]!.register(MMIO_BASE, 0x100, { read: (_v, a, len, d) => (d.set(Array.from({ length: len }, (_, i) => (a + i) & 0xff)), true) });
    const vcpu = vm.createVcpu(0);
    enterMode(vcpu, 'long64');
    vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
    expect(vcpu.run()).toMatchObject({ reason: 'io', port: 0x600, direction: 'out' });
    const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset);
    expect(dv.getUint32(DATA, true)).toBe(0x44332211);
    expect(dv.getBigUint64(DATA + 8, true)).toBe(0x4746454443424140n);
  });
});

describe.each(X86_ENGINES)('the TSC follows the VM clock ($name)', (engine) => {
  /** The four TSC values the clock guest reads. */
  const tscs = (clock: 'host' | 'deterministic') => {
    const t = runProgram(virtualSys({ ...engine.opts, clock }), { mode: 'long64', code: CLOCK, onExit: (e) => (e.reason === 'io' && e.port === 0x601 ? 'stop' : undefined) });
    expect(t.end).toBe('stopped');
    const b = Buffer.from(t.data, 'hex');
    return [0, 8, 16, 24].map((o) => b.readBigUInt64LE(o));
  };

  it('the deterministic clock: the same TSC values on every run, 2.4 per retired instruction', () => {
    const a = tscs('deterministic');
    expect(tscs('deterministic')).toEqual(a);
    // 1000 iterations of DEC/JNZ and the few instructions around them: ~2000 instructions apart
    // (counted in stretches of up to 256 instructions).
    for (let i = 1; i < 4; i++) {
      const d = a[i]! - a[i - 1]!;
      expect(d >= 4200n && d <= 5600n).toBe(true);
    }
  });

  it('the host clock: increasing values at 2.4 GHz of host time', () => {
    const t0 = performance.now();
    const a = tscs('host');
    const ms = performance.now() - t0;
    for (let i = 1; i < 4; i++) expect(a[i]! > a[i - 1]!).toBe(true);
    expect(Number(a[3]! - a[0]!) / 2.4e6).toBeLessThan(ms + 1); // ticks -> ms: within the run's wall time
  });
});
