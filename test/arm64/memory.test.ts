/**
 * Guest memory through the memslots: self-modifying code, code the VMM rewrites between runs,
 * memslot changes between runs (the cached translations follow mmuGen), dirty logging, and
 * read-only slots.
 */
import { describe, expect, it } from 'vitest';
import { KVM_MEM } from '../../src/uapi/constants.js';
import { armGuest, armMachine, RAM_BASE, reg, ENGINES, useEngine } from './helpers.js';

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  describe('guest memory', () => {
    it('self-modifying code executes the new instruction', () => {
      const m = armMachine(armGuest('memory'));
      const rom = m.sys.alloc(0x1000);
      new DataView(rom.bytes.buffer, rom.bytes.byteOffset).setBigUint64(0, 0x0123456789abcdefn, true);
      m.vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM.READONLY, guestPhysAddr: 0x80000000, memorySize: 0x1000, userspaceAddr: rom.hva });
      expect(m.vcpu.run()).toMatchObject({ reason: 'mmio', isWrite: true, physAddr: 0x09000000n });
      expect(m.x(3)).toBe(2n);
    });

    it('dirty logging sees guest writes again after each harvest; read-only slots read and turn writes into MMIO', () => {
      const m = armMachine(armGuest('memory'));
      const rom = m.sys.alloc(0x1000);
      new DataView(rom.bytes.buffer, rom.bytes.byteOffset).setBigUint64(0, 0x0123456789abcdefn, true);
      m.vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: RAM_BASE, memorySize: 0x400000, userspaceAddr: m.ram.hva });
      m.vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM.READONLY, guestPhysAddr: 0x80000000, memorySize: 0x1000, userspaceAddr: rom.hva });
      const page = 0x100; // DATA = RAM_BASE + 1 MiB
      const dirty = () => m.vm.getDirtyLog(0, 0x400000 / 4096);
      const bit = (b: Uint8Array, p: number) => (b[p >> 3]! >> (p & 7)) & 1;
      expect(m.vcpu.run()).toMatchObject({ reason: 'mmio', physAddr: 0x09000000n });
      const first = dirty();
      expect(bit(first, page)).toBe(1);
      expect(bit(first, 0)).toBe(1); // the patched code page
      expect(bit(dirty(), page)).toBe(0); // harvested
      expect(m.vcpu.run()).toMatchObject({ reason: 'mmio', physAddr: 0x09000008n });
      expect(bit(dirty(), page)).toBe(1); // written again in the next KVM_RUN
      const e = m.vcpu.run();
      expect(e).toMatchObject({ reason: 'mmio', isWrite: true, physAddr: 0x80000010n, len: 8 });
      expect(m.x(5)).toBe(0x0123456789abcdefn);
      if (e.reason === 'mmio') expect(Buffer.from(e.data).toString('hex')).toBe('efcdab8967452301');
      expect(m.vcpu.run()).toMatchObject({ reason: 'system_event' });
    });

    it('code rewritten by the VMM between runs and memslots moved between runs take effect', () => {
      // b . ; the VMM replaces it with brk #1
      const m = armMachine(Uint8Array.of(0x00, 0x00, 0x00, 0x14), { runBudget: 10_000 });
      m.vcpu.setGuestDebug(1 | (1 << 16));
      expect(m.vcpu.run().reason).toBe('intr'); // EINTR
      m.ram.bytes.set(Uint8Array.of(0x20, 0x00, 0x20, 0xd4), 0); // brk #1
      const e = m.vcpu.run();
      expect(e).toMatchObject({ reason: 'debug' });
      if (e.reason === 'debug' && e.arch.arch === 'arm64') expect(e.arch.hsr).toBe(0xf2000001);
      // Move RAM onto another buffer holding brk #2.
      const other = m.sys.alloc(0x400000);
      other.bytes.set(Uint8Array.of(0x40, 0x00, 0x20, 0xd4), 0);
      m.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM_BASE, memorySize: 0, userspaceAddr: m.ram.hva });
      m.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM_BASE, memorySize: 0x400000, userspaceAddr: other.hva });
      const e2 = m.vcpu.run();
      if (e2.reason === 'debug' && e2.arch.arch === 'arm64') expect(e2.arch.hsr).toBe(0xf2000002);
      else throw new Error(`unexpected ${e2.reason}`);
      expect(m.vcpu.getOneReg(reg.pc)).toBe(BigInt(RAM_BASE));
    });
  });
});
