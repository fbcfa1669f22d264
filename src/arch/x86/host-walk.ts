/**
 * Page walks the kernel makes for the host rather than for the guest (KVM_TRANSLATE, KVMI
 * translate-gva), as kvm_mmu_gva_to_gpa_system does: the vCPU's paging state, page tables read
 * the way kvm_read_guest reaches them — the memory userspace maps behind the memslots, never a
 * private page (`Vm.hostPage`) — and every failure (not present, tables outside every memslot, in MMIO
 * or in unmapped memory) is "no translation", never an exception out of the caller.
 * @module
 */
import type { GuestPage } from '../../kernel/vm.js';
import { EMULATION_FAILURE, ERRNO_EXIT, FAULT, type Acc, type X86Cpu } from './cpu.js';

/** The gpa of linear address `lin` for `acc` (a supervisor access), or -1. */
export function hostTranslate(cpu: X86Cpu, lin: number, acc: Acc): number {
  const resolve = cpu.resolvePage;
  const vm = cpu.vm;
  // The walk may raise a guest fault internally: what the vCPU was doing (an event it is parked
  // on, an exception being delivered) must not see it.
  const { excVector, excCode, excHasCode, excAddr, errno } = cpu;
  cpu.resolvePage = (gfn: number, write: boolean): GuestPage | 'mmio' | 'efault' => {
    const p = vm.hostPage(gfn);
    if (p === 'none') return vm.slotFor(gfn) ? 'efault' : 'mmio';
    if (write) {
      if (p.slot.readonly) return 'mmio';
      p.slot.markDirty(p.rel); // the walker's accessed/dirty-bit updates dirty the page
    }
    return p;
  };
  try {
    return cpu.translate(lin, acc, true);
  } catch (e) {
    if (e === FAULT || e === ERRNO_EXIT || e === EMULATION_FAILURE) return -1;
    throw e;
  } finally {
    cpu.resolvePage = resolve;
    cpu.excVector = excVector;
    cpu.excCode = excCode;
    cpu.excHasCode = excHasCode;
    cpu.excAddr = excAddr;
    cpu.errno = errno;
  }
}
