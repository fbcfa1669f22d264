/**
 * Shared scenarios written once against the typed API and run unchanged on every backend; where
 * /dev/kvm exists, the virtual results must equal the real kernel's.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, KVM_API_VERSION, KVM_CAP, KVM_MEM, type Sys } from '../../src/index.js';
import { nativeBackend, nativeX86, outcome, virtualBackend, x86Backends, type Backend } from '../helpers/backends.js';

/** Runs `scenario` on every backend; returns results by backend name. */
function onAll<T>(scenario: (sys: Sys) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const b of x86Backends) out[b.name] = scenario(b.make());
  return out;
}

/** Asserts the virtual result equals the native one (when native exists) and returns the virtual result. */
function same<T>(results: Record<string, T>): T {
  if (nativeX86) expect(results.virtual).toEqual(results.native);
  return results.virtual!;
}

describe('shared scenarios (typed API on every backend)', () => {
  it('reports API version 12 and a vCPU mmap size that holds kvm_run, the PIO page and the coalesced MMIO page', () => {
    const r = same(onAll((sys) => {
      const kvm = Kvm.open(sys);
      return { api: kvm.apiVersion(), mmap: kvm.vcpuMmapSize() };
    }));
    expect(r).toEqual({ api: KVM_API_VERSION, mmap: 3 * 4096 });
  });

  it('agrees on the value of every capability both backends report', () => {
    const caps = onAll((sys) => {
      const kvm = Kvm.open(sys);
      const vm = kvm.createVm();
      const sysCaps: Record<string, number> = {};
      const vmCaps: Record<string, number> = {};
      for (const [name, cap] of Object.entries(KVM_CAP)) {
        sysCaps[name] = kvm.checkExtension(cap);
        vmCaps[name] = vm.checkExtension(cap);
      }
      return { sysCaps, vmCaps };
    });
    const v = caps.virtual!;
    // The virtual backend reports only what it implements; it must implement the basics.
    for (const c of ['USER_MEMORY', 'USER_MEMORY2', 'IMMEDIATE_EXIT', 'CHECK_EXTENSION_VM', 'ENABLE_CAP_VM', 'READONLY_MEM', 'SET_GUEST_DEBUG', 'NR_MEMSLOTS', 'MAX_VCPUS', 'MAX_VCPU_ID', 'MANUAL_DIRTY_LOG_PROTECT2']) {
      expect(v.sysCaps[c], c).toBeGreaterThan(0);
    }
    expect(v.sysCaps.ENABLE_CAP).toBe(1); // the vCPU's KVM_ENABLE_CAP exists on x86 (x86.c:4259, Linux 6.12)
    if (!nativeX86) return;
    const n = caps.native!;
    let compared = 0;
    // Caps whose value depends on the host and are not ABI facts of the implementation.
    const hostDependent = new Set(['NR_VCPUS', 'VM_TYPES', 'SET_GUEST_DEBUG2', 'GUEST_MEMFD', 'GUEST_MEMFD_FLAGS', 'MEMORY_ATTRIBUTES']);
    for (const kind of ['sysCaps', 'vmCaps'] as const) {
      for (const name of Object.keys(KVM_CAP)) {
        const a = v[kind][name]!;
        const b = n[kind][name]!;
        if (a && b && !hostDependent.has(name)) {
          expect(`${kind}.${name}=${a}`).toBe(`${kind}.${name}=${b}`);
          compared++;
        }
      }
    }
    console.log(`[scenarios] ${compared} capability values compared with /dev/kvm`);
    expect(compared).toBeGreaterThan(15);
  });

  it('creates, moves, re-flags and deletes memslots with the same outcome', () => {
    const r = same(onAll((sys) => {
      const vm = Kvm.open(sys).createVm();
      const mem = sys.alloc(0x40000);
      const steps: string[] = [];
      const set = (slot: number, gpa: number, size: number, off = 0, flags = 0) =>
        steps.push(outcome(() => vm.setUserMemoryRegion({ slot, flags, guestPhysAddr: gpa, memorySize: size, userspaceAddr: mem.hva + BigInt(off) })));
      set(0, 0, 0x10000);
      set(1, 0x100000, 0x10000, 0x10000);
      set(1, 0x8000, 0x10000, 0x10000); // move onto slot 0: EEXIST
      set(1, 0x200000, 0x10000, 0x10000); // move elsewhere
      set(1, 0x200000, 0x10000, 0x10000, KVM_MEM.LOG_DIRTY_PAGES); // flags only
      set(1, 0x200000, 0x10000, 0x10000, 0); // and back
      set(0, 0, 0); // delete
      set(0, 0, 0); // delete again: EINVAL
      set(2, 0x8000, 0x10000, 0x20000); // where slot 0 was: fine now
      set(3, 0x300000, 0x1000, 0x30000, KVM_MEM.READONLY);
      return steps;
    }));
    expect(r).toEqual(['ok:undefined', 'ok:undefined', 'EEXIST', 'ok:undefined', 'ok:undefined', 'ok:undefined', 'ok:undefined', 'EINVAL', 'ok:undefined', 'ok:undefined']);
  });

  it('dirty log: VMM writes do not mark pages; bitmap shape and clearing follow the kernel', () => {
    const r = same(onAll((sys) => {
      const vm = Kvm.open(sys).createVm();
      const npages = 100;
      const mem = sys.alloc(npages * 4096);
      vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: npages * 4096, userspaceAddr: mem.hva });
      mem.bytes[5 * 4096] = 1; // the VMM writes: not a guest write
      const first = vm.getDirtyLog(0, npages);
      return { len: first.length, anySet: first.some((b) => b !== 0) };
    }));
    expect(r).toEqual({ len: 16, anySet: false });
  });

  it('dirty log with KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | INITIALLY_SET: all set, cleared only by KVM_CLEAR_DIRTY_LOG', () => {
    const r = same(onAll((sys) => {
      const vm = Kvm.open(sys).createVm();
      vm.enableCap(KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, [3]);
      const npages = 130;
      const mem = sys.alloc(npages * 4096);
      vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: npages * 4096, userspaceAddr: mem.hva });
      const a = [...vm.getDirtyLog(0, npages)];
      const b = [...vm.getDirtyLog(0, npages)]; // GET does not clear in manual mode
      const mask = new Uint8Array(8);
      mask[0] = 0b1010_0101;
      mask[7] = 0x80;
      vm.clearDirtyLog(0, 64, 64, mask);
      const c = [...vm.getDirtyLog(0, npages)];
      const tail = outcome(() => vm.clearDirtyLog(0, 128, 2, new Uint8Array(8))); // the last, partial chunk
      const d = [...vm.getDirtyLog(0, npages)];
      return { a, b, c, tail, d };
    }));
    expect(r.a).toEqual([...Array(16).fill(0xff), 0x03, 0, 0, 0, 0, 0, 0, 0]);
    expect(r.b).toEqual(r.a);
    expect(r.c.slice(8, 16)).toEqual([0b0101_1010, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    expect(r.tail).toBe('ok:undefined');
    expect(r.d.slice(16)).toEqual([0x03, 0, 0, 0, 0, 0, 0, 0]); // mask bits were 0: nothing cleared
  });

  it('a moved slot keeps its memory contents and its dirty bitmap', () => {
    const r = same(onAll((sys) => {
      const vm = Kvm.open(sys).createVm();
      vm.enableCap(KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, [3]);
      const mem = sys.alloc(0x10000);
      mem.bytes[0x1234] = 0x5a;
      vm.setUserMemoryRegion({ slot: 4, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0x100000, memorySize: 0x10000, userspaceAddr: mem.hva });
      vm.clearDirtyLog(4, 0, 16, Uint8Array.of(0x0f, 0, 0, 0, 0, 0, 0, 0));
      vm.setUserMemoryRegion({ slot: 4, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0x400000, memorySize: 0x10000, userspaceAddr: mem.hva });
      return { bitmap: [...vm.getDirtyLog(4, 16)], byte: mem.bytes[0x1234] };
    }));
    expect(r).toEqual({ bitmap: [0xf0, 0xff, 0, 0, 0, 0, 0, 0], byte: 0x5a });
  });

  it('a vCPU starts in the architectural reset state (x86: CS:IP f000:fff0, RDX 0x600)', () => {
    const r = same(onAll((sys) => {
      const vcpu = Kvm.open(sys).createVm().createVcpu(0);
      const regs = vcpu.getRegs();
      const s = vcpu.getSregs();
      return { regs, cs: s.cs, ds: s.ds, tr: s.tr, ldt: s.ldt, gdt: s.gdt, cr0: s.cr0, efer: s.efer, apic: s.apic_base, mp: vcpu.getMpState() };
    }));
    expect(r.regs.rip).toBe(0xfff0n);
    expect(r.cs.selector).toBe(0xf000);
  });

  it('each backend is independent per VM: fds, memslots and vCPU ids', () => {
    const r = same(onAll((sys) => {
      const kvm = Kvm.open(sys);
      const a = kvm.createVm();
      const b = kvm.createVm();
      const mem = sys.alloc(0x2000);
      a.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: mem.hva });
      return [outcome(() => b.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: mem.hva })), outcome(() => a.createVcpu(0).id), outcome(() => b.createVcpu(0).id)];
    }));
    expect(r).toEqual(['ok:undefined', 'ok:0', 'ok:0']);
  });
});

describe('backend selection', () => {
  it('names its backends', () => {
    expect(virtualBackend.make().backend).toBe('virtual');
    if (nativeX86) expect(nativeBackend.make().backend).toBe('native');
  });

  it.each(x86Backends)('$name gives page-aligned memory whose hva round-trips', (b: Backend) => {
    const sys = b.make();
    const m = sys.alloc(5000);
    expect(m.hva % 4096n).toBe(0n);
    expect(m.bytes.length).toBe(5000);
  });
});
