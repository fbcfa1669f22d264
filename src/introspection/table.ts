/**
 * The page-access table of KVMI_VM_SET_PAGE_ACCESS: the rwx bits the tool allows, per gfn.
 *
 * As in the series, an entry belongs to the gfn, not to the memory behind it: it stays in the
 * table while no memslot covers the gfn (and then restricts nothing), it applies again when a
 * memslot that covers the gfn is created or moved there, and `access == R|W|X` forgets it.
 * `active` is the part of the table that memslots cover, the only part guest accesses consult.
 * @module
 */
import type { Vm } from '../kernel/vm.js';
import { KVMI_PAGE_ACCESS } from '../uapi/kvmi.js';

export const FULL_ACCESS = KVMI_PAGE_ACCESS.R | KVMI_PAGE_ACCESS.W | KVMI_PAGE_ACCESS.X;

export class PageAccessTable {
  /** Every remembered gfn and its allowed bits (never FULL_ACCESS). */
  readonly entries = new Map<number, number>();
  /** The entries whose gfn a memslot covers now. */
  readonly active = new Map<number, number>();
  /** Active entries that forbid execution (the interpreter then checks every instruction). */
  execRestricted = 0;

  constructor(private readonly vm: Vm) {}

  /** Sets the allowed bits of `gfn` (FULL_ACCESS forgets it); `refresh()` applies the changes. */
  set(gfn: number, access: number): void {
    if (access === FULL_ACCESS) this.entries.delete(gfn);
    else this.entries.set(gfn, access);
  }

  /** Recomputes `active` from the memslots (after a memslot was created, moved or deleted). */
  refresh(): void {
    this.active.clear();
    this.execRestricted = 0;
    for (const [gfn, access] of this.entries) {
      if (!this.vm.slotFor(gfn)) continue;
      this.active.set(gfn, access);
      if (!(access & KVMI_PAGE_ACCESS.X)) this.execRestricted++;
    }
  }

  /** Forgets everything (unhook). */
  clear(): void {
    this.entries.clear();
    this.active.clear();
    this.execRestricted = 0;
  }
}
