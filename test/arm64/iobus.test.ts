/**
 * The in-kernel I/O bus at arm64's MMIO exit point (Cpu.mmio, io_mem_abort): ioeventfds hit by
 * guest stores at EL1 with the MMU off, through the kernel half (TTBR1) and from EL0 complete with
 * no exit and signal the VMM's eventfds; an in-kernel device answering loads gives the guest the
 * same registers (sign extension included) as a VMM answering the exits would.
 */
import { describe, expect, it } from 'vitest';
import { EventFd, KVM_CAP, type VcpuExit } from '../../src/index.js';
import { KVM_BUS } from '../../src/kernel/iobus.js';
import type { Vm as KVm } from '../../src/kernel/vm.js';
import { kernelOf } from '../../src/sys/kernel-of.js';
import { armGuest, armMachine, ENGINES, MMIO, useEngine, type ArmMachine } from './helpers.js';
import { runToExit } from '../helpers/run.js';

const kvmVm = (m: ArmMachine) => (kernelOf(m.sys)!.file(m.vm.fd) as { vm: KVm }).vm;

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  it('ioeventfds: datamatch and wildcard hits at EL1 (physical and kernel-half VA) and EL0, no exit', () => {
    const m = armMachine(armGuest('ioeventfd'));
    const e4 = EventFd.create(m.sys);
    const e8 = EventFd.create(m.sys);
    const e2 = EventFd.create(m.sys);
    m.vm.ioeventfd({ fd: e4, addr: MMIO, len: 4, datamatch: 0x1234 });
    m.vm.ioeventfd({ fd: e8, addr: MMIO + 0x10, len: 8, datamatch: 0x1122334455667788n });
    m.vm.ioeventfd({ fd: e2, addr: MMIO + 0x20, len: 2 });
    const exits: string[] = [];
    for (let i = 0; i < 8; i++) {
      const e: VcpuExit = m.vcpu.run();
      exits.push(e.reason === 'mmio' ? `${e.isWrite ? 'w' : 'r'}${e.len}@${e.physAddr.toString(16)}=${Buffer.from(e.data).toString('hex')}` : e.reason);
      if (e.reason !== 'mmio') break;
    }
    // Only the store of a value no ioeventfd matches reached userspace.
    expect(exits).toEqual([`w4@${MMIO.toString(16)}=99000000`, 'system_event']);
    expect([e4.tryRead(), e8.tryRead(), e2.tryRead()]).toEqual([1n, 1n, 1n]);
    expect(m.x(19)).toBe(4n); // every store done
    expect(m.vm.checkExtension(KVM_CAP.IOEVENTFD)).toBe(1);
  });

  it('the deterministic clock: the same CNTVCT/CNTPCT values on every run, 1/16 tick per instruction', () => {
    const values = () => {
      const m = armMachine(armGuest('clock'), { sys: { clock: 'deterministic' } });
      expect(runToExit(m.vcpu)).toMatchObject({ reason: 'system_event', type: 1 });
      const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset + 0x30000);
      return Array.from({ length: 8 }, (_, i) => dv.getBigUint64(8 * i, true));
    };
    const a = values();
    expect(values()).toEqual(a);
    for (let i = 2; i < 8; i += 2) {
      const d = a[i]! - a[i - 2]!; // CNTVCT, ~2000 instructions apart at 62.5 MHz (1 ns each; stretches of up to 256)
      expect(d >= 100n && d <= 150n).toBe(true);
      expect(a[i + 1]! - a[i]!).toBe(a[1]! - a[0]!); // CNTPCT - CNTVCT = CNTVOFF
    }
  });

  it('an in-kernel device answers MMIO loads: the same registers as the VMM answering the exits', () => {
    const m = armMachine(armGuest('mmio'));
    // The device of test/arm64/exits.test.ts: reads return bytes 0x80 + (address & 0x7f) + i.
    const seen: string[] = [];
    kvmVm(m).buses[KVM_BUS.MMIO]!.register(MMIO - 0x100, 0x300, {
      read: (_v, addr, len, data) => {
        for (let i = 0; i < len; i++) data[i] = (0x80 + (addr & 0x7f) + i) & 0xff;
        seen.push(`r${len}@${(addr - MMIO).toString(16)}`);
        return true;
      },
      write: (_v, addr, len) => (seen.push(`w${len}@${(addr - MMIO).toString(16)}`), true),
    });
    expect(m.vcpu.run()).toMatchObject({ reason: 'system_event', type: 1 });
    expect(seen).toEqual(['r1@0', 'r2@10', 'r4@20', 'r8@30', 'r1@40', 'r1@50', 'r2@60', 'r2@70', 'r4@80', 'r8@-8', 'r4@90', 'r8@0', 'r4@a0', 'w1@b0', 'w2@c0', 'w4@d0', 'w8@e0', 'w8@0', 'w8@f0', 'r8@100']);
    expect(m.x(4)).toBe(0x80n); // LDRB
    expect(m.x(8)).toBe(0xffffffc0n); // LDRSB W: sign-extended to 32 bits only
    expect(m.x(9)).toBe(0xffffffffffffffd0n); // LDRSB X
    expect(m.x(12)).toBe(0xffffffff83828180n); // LDRSW
    expect(m.x(15)).toBe(0x8786858483828180n); // LDAR
    expect(m.x(16)).toBe(0xa3a2a1a0n); // LDTR
  });
});
