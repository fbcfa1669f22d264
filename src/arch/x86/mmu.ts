/**
 * The memory side of the x86 CPU (`X86Mmu`, the base of `X86Cpu`): segmented and linear
 * access, the page walk (2-level, PAE, 4-level) with accessed/dirty updates, a software TLB,
 * guest-physical resolution (memslots, or a flavour's policy), MMIO exits with replay of the
 * answered reads, code-page tracking for self-modifying code, data breakpoints, and the
 * exception latch its checks raise through.
 * @module
 */
import type { Vcpu } from '../../kernel/vcpu.js';
import type { GuestPage, Vm } from '../../kernel/vm.js';
import type { X86IntrospectionHooks } from '../../introspection/hooks.js';
import { PAGE_SIZE } from '../../kernel/hva.js';
import { KVM_BUS, type IoBus } from '../../kernel/iobus.js';
import { EMULATION_FAILURE, ERRNO_EXIT, EXIT, FAULT, HAS_ERROR_CODE, VEC } from './faults.js';
import { accessOk, HOST_RSVD_HI, isCanonical, PF_I, PF_P, PF_RSVD, PF_U, PF_W } from './paging.js';
import { CR0, CR4, CS, EFER, FLAG, FS, GS, SS, type X86State } from './state.js';

export { isCanonical, rsvdHiFor } from './paging.js';

const TLB_BITS = 10;
const TLB_SIZE = 1 << TLB_BITS;
/** Software TLB index mask (the block JIT's inline probe uses it too). */
export const TLB_MASK = TLB_SIZE - 1;

/** [smp] The result of X86Cpu.writeRef. */
export const REF = { dv: new DataView(new ArrayBuffer(8)) as DataView<ArrayBufferLike>, off: 0 };

/** An access type for translation. */
export const Acc = {
  READ: 0,
  WRITE: 1,
  EXEC: 2,
} as const;
export type Acc = (typeof Acc)[keyof typeof Acc];

/** An MMIO read of the current instruction: answered by userspace, consumed on re-execution. */
export interface MmioRead {
  gpa: number;
  len: number;
  data: Uint8Array;
  ready: boolean;
}

/** Guest memory as the CPU reaches it; X86Cpu extends it with registers, modes and the stack. */
export class X86Mmu {
  /** Reserved high-dword bits of a paging entry: above this host's MAXPHYADDR (a TD: its GPAW's). */
  rsvdHi = HOST_RSVD_HI;
  /** High half of the last 64-bit value produced by a read helper. */
  t1 = 0;
  // --- the mode cache the MMU consults (X86Cpu.updateMode keeps it current) ---
  long64 = false;
  pe = false;
  paging = false;
  cpl = 0;
  // --- exception latch (raise() fills it; delivery reads it) ---
  excVector = 0;
  excCode = 0;
  excHasCode = false;
  /** Linear address for #PF (goes to CR2 on delivery). */
  excAddr = 0;
  /** The errno of an ERRNO_EXIT. */
  errno: 'EFAULT' | 'EINTR' = 'EFAULT';
  /**
   * The MMIO reads of the instruction being (re-)executed, in order: mmioReads[0, mmioCount)
   * (mmioCount = 0 when it retires). The records are reused from exit to exit: no allocation.
   */
  readonly mmioReads: MmioRead[] = [];
  mmioCount = 0;
  /** Index of the next MMIO read during (re-)execution. */
  mmioIdx = 0;
  /**
   * Set by a handler that exits to userspace before its instruction retires (IN/OUT, an MMIO
   * read through readLinSoft): the run loop stops without unwinding (cheaper than throwing EXIT).
   */
  exitNow = false;
  /** An MMIO write already handed to userspace: the instruction completes without exiting again. */
  mmioWriteDone = false;
  /** Data breakpoints armed: linear address, length mask and kind (1 write, 3 read/write) per DRn. */
  watchOn = false;
  readonly watchAddr = new Float64Array(4);
  readonly watchLen = new Int8Array(4);
  readonly watchRw = new Int8Array(4);
  /** DR6 B0-B3 bits of data breakpoints hit by the current instruction. */
  watchHits = 0;
  // --- software TLB: tag = vpn * 2 + user; separate read/write sets ---
  // Invalid entries hold NaN, which equals no tag (tags can be negative for high canonical pages).
  // Public for the block JIT, whose translations probe them inline (emit-js.ts `JitTlb`); only
  // this class writes them. A write-set hit is RAM that is neither MMIO nor decoded code.
  readonly rTag = new Float64Array(TLB_SIZE).fill(NaN);
  readonly wTag = new Float64Array(TLB_SIZE).fill(NaN);
  readonly rDv: (DataView | null)[] = new Array<DataView | null>(TLB_SIZE).fill(null);
  readonly wDv: (DataView | null)[] = new Array<DataView | null>(TLB_SIZE).fill(null);
  readonly rOff = new Float64Array(TLB_SIZE);
  readonly wOff = new Float64Array(TLB_SIZE);
  /**
   * MMIO translations (the same tags; read and write sets): a linear page that resolved to MMIO
   * skips the page walk on its next access, as KVM caches MMIO SPTEs. `mPa` is the page's gpa.
   */
  private readonly mrTag = new Float64Array(TLB_SIZE).fill(NaN);
  private readonly mwTag = new Float64Array(TLB_SIZE).fill(NaN);
  private readonly mrPa = new Float64Array(TLB_SIZE);
  private readonly mwPa = new Float64Array(TLB_SIZE);
  /** The gpa the last `fill` translated to (its MMIO slow path goes on from there). */
  private fillPa = 0;
  /** Scratch for an MMIO write's data (exitMmio copies it into kvm_run). */
  private readonly mmioData = new Uint8Array(8);
  private readonly mmioDv = new DataView(this.mmioData.buffer);
  /** Physical frame of each read entry (code-page tracking, block validation). */
  private readonly rGfn = new Float64Array(TLB_SIZE);
  private readonly rNx = new Uint8Array(TLB_SIZE);
  private mmuGenSeen = -1;
  /** Bumped by every TLB flush and code invalidation: block links recorded before are stale. */
  codeGen = 0;
  /** Pages holding decoded code: writes to them go the slow way and invalidate the code. */
  readonly codeGfns = new Set<number>();
  /** Called when guest or kernel writes land on a code page. */
  onCodeWrite: (gfn: number) => void = () => {};
  private readonly dvCache = new WeakMap<ArrayBufferLike, DataView>();
  // --- [tdx hook] guest-physical resolution policy (TDX: private/shared split, Secure EPT, #VE) ---
  /**
   * Resolves a guest physical page for an access: the VM's memslots by default; a flavour (TDX)
   * installs its own policy. `lin` is the linear address (-1 for page-walk accesses).
   */
  resolvePage: (gfn: number, write: boolean, lin: number, fetch: boolean) => GuestPage | 'mmio' | 'efault' = (gfn, write) => this.vm.guestPage(gfn, write);
  // --- [end tdx hook] ---
  /** [kvmi hook] KVM introspection of this vCPU (src/introspection), null when the VM is not hooked. */
  kvmi: X86IntrospectionHooks | null = null;
  /** Hook: fill kvm_run for an MMIO access (set by the run loop). */
  onMmio: (gpa: number, len: number, write: boolean, data: Uint8Array | null) => void = () => {};

  /** The VM's MMIO bus (kvm->buses[KVM_MMIO_BUS]): MMIO accesses go there before exiting. */
  private readonly mmioBus: IoBus;
  /**
   * The vCPU's own MMIO device, consulted before the VM's bus (vcpu_mmio_read/write: the in-kernel
   * local APIC's page at its APIC base); null without one.
   */
  localMmio: { mmioRead(pa: number, len: number): number; mmioWrite(pa: number, len: number, val: number): boolean } | null = null;

  constructor(
    readonly s: X86State,
    readonly vcpu: Vcpu,
    readonly vm: Vm,
  ) {
    this.mmioBus = vm.buses[KVM_BUS.MMIO]!;
  }

  // ---------------------------------------------------------------------------------------
  // TLB

  /** Drops every cached translation (CR0/CR3/CR4/EFER writes, mode changes, memslot changes). */
  flushTlb(): void {
    this.codeGen++;
    this.rTag.fill(NaN);
    this.wTag.fill(NaN);
    this.mrTag.fill(NaN);
    this.mwTag.fill(NaN);
    this.rDv.fill(null);
    this.wDv.fill(null);
  }

  /** INVLPG: drops the translations of one linear page. */
  flushTlbPage(lin: number): void {
    this.codeGen++;
    const vpn = Math.floor(lin / PAGE_SIZE);
    const i = vpn & TLB_MASK;
    this.rTag[i] = NaN;
    this.wTag[i] = NaN;
    this.mrTag[i] = NaN;
    this.mwTag[i] = NaN;
  }

  /** Flushes the write TLB only (a page became a code page). */
  flushWriteTlb(): void {
    this.wTag.fill(NaN);
  }

  /**
   * Checks the VM's MMU generation; flushes when memslots or dirty tracking changed. `force`
   * flushes anyway: a worker that just took the owner's new memslots (`VcpuSync.pull`) may have
   * seen the generation move earlier, before those memslots were in, and refilled the TLB from
   * the old ones meanwhile.
   */
  syncMmu(force = false): void {
    const g = Atomics.load(this.vm.mmuGen, 0);
    if (g !== this.mmuGenSeen || force) {
      this.mmuGenSeen = g;
      this.flushTlb();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Exceptions

  /** Raises a guest exception (throws FAULT). */
  raise(vector: number, code = 0): never {
    this.excVector = vector;
    this.excHasCode = ((HAS_ERROR_CODE >> vector) & 1) === 1;
    this.excCode = code;
    throw FAULT;
  }

  gp(code = 0): never {
    return this.raise(VEC.GP, code);
  }

  ud(): never {
    return this.raise(VEC.UD);
  }

  // ---------------------------------------------------------------------------------------
  // Linear -> physical -> host

  private dvOf(bytes: Uint8Array): DataView {
    const b = bytes.buffer;
    let dv = this.dvCache.get(b);
    if (!dv) this.dvCache.set(b, (dv = new DataView(b)));
    return dv;
  }

  /**
   * Translates a linear address for an access; returns the physical address. Raises #PF.
   * `sup` forces a supervisor access (descriptor tables, TSS, IDT).
   */
  translate(lin: number, acc: Acc, sup = false): number {
    if (!this.paging) return lin >>> 0;
    return this.walk(lin, acc, !sup && this.cpl === 3);
  }

  /** The page walk (2-level, PAE, 4-level), setting accessed/dirty bits like the hardware. */
  private walk(lin: number, acc: Acc, user: boolean): number {
    const s = this.s;
    const write = acc === Acc.WRITE;
    const fetch = acc === Acc.EXEC;
    const pae = (s.cr4 & CR4.PAE) !== 0;
    const lma = (s.efer & EFER.LMA) !== 0;
    const nxe = (s.efer & EFER.NXE) !== 0;
    const wp = (s.cr0 & CR0.WP) !== 0;
    const errBase = (write ? PF_W : 0) | (user ? PF_U : 0) | (fetch && nxe && pae ? PF_I : 0);
    // (The #PF is raised by a method, not a closure over lin and errBase: one allocation per walk.)
    if (lma && !isCanonical(lin)) return this.gp(0);
    let userOk = true;
    let writeOk = true;
    let nx = false;
    if (!pae) {
      // 32-bit paging: 2 levels of 4-byte entries.
      const l = lin >>> 0;
      const cr3 = Number(s.cr3 & 0xfffff000n);
      const pdeA = cr3 + ((l >>> 22) << 2);
      const pde = this.readPhys32(pdeA);
      if (!(pde & 1)) return this.pageFault(lin, errBase, false);
      userOk &&= (pde & 4) !== 0;
      writeOk &&= (pde & 2) !== 0;
      if (pde & 0x80 && s.cr4 & CR4.PSE) {
        // 4 MiB page (PSE-36 high bits ignored beyond 32-bit physical here).
        if (!accessOk(user, write, fetch, userOk, writeOk, false, wp)) return this.pageFault(lin, errBase, true);
        this.setAD(pdeA, pde, true, write);
        return ((pde & 0xffc00000) >>> 0) + (l & 0x3fffff);
      }
      const pteA = (pde & 0xfffff000) >>> 0;
      const pteAddr = pteA + (((l >>> 12) & 0x3ff) << 2);
      const pte = this.readPhys32(pteAddr);
      if (!(pte & 1)) return this.pageFault(lin, errBase, false);
      userOk &&= (pte & 4) !== 0;
      writeOk &&= (pte & 2) !== 0;
      if (!accessOk(user, write, fetch, userOk, writeOk, false, wp)) return this.pageFault(lin, errBase, true);
      this.setAD(pdeA, pde, false, false);
      this.setAD(pteAddr, pte, true, write);
      return ((pte & 0xfffff000) >>> 0) + (l & 0xfff);
    }
    // PAE / 4-level: 8-byte entries. Physical addresses up to 52 bits (numbers stay exact).
    let table: number;
    let levels: number;
    if (lma) {
      table = Number(s.cr3 & 0x000ffffffffff000n);
      levels = 4;
    } else {
      // PAE: CR3 points at 4 PDPTEs (32-byte aligned).
      const pdpteA = Number(s.cr3 & 0xffffffe0n) + (((lin >>> 30) & 3) << 3);
      const lo = this.readPhys64(pdpteA);
      const hi = this.ptHi;
      if (!(lo & 1)) return this.pageFault(lin, errBase, false);
      if (lo & 0x1e6 || hi & (0x80000000 | this.rsvdHi)) return this.pageFault(lin, errBase, true, true);
      table = hi * 0x100000000 + ((lo & 0xfffff000) >>> 0);
      levels = 2;
    }
    const rsvdHi = lma ? this.rsvdHi & 0x000fffff : this.rsvdHi;
    // Canonical addresses may be negative numbers; the walk uses bits 47:0.
    const l = lin < 0 ? lin + 2 ** 48 : lin;
    for (let level = levels; level >= 1; level--) {
      const shift = 12 + 9 * (level - 1);
      const idx = Math.floor(l / 2 ** shift) % 512;
      const ea = table + idx * 8;
      const lo = this.readPhys64(ea);
      const hi = this.ptHi;
      if (!(lo & 1)) return this.pageFault(lin, errBase, false);
      // Reserved bits: NX without EFER.NXE, address bits above MAXPHYADDR; with 4-level paging bits
      // 62:52 are ignored, not reserved (Linux's _PAGE_NOPTISHADOW is bit 58), with PAE they are.
      if ((hi & 0x80000000 && !nxe) || hi & rsvdHi) return this.pageFault(lin, errBase, true, true);
      userOk &&= (lo & 4) !== 0;
      writeOk &&= (lo & 2) !== 0;
      nx ||= nxe && (hi & 0x80000000) !== 0;
      const large = (lo & 0x80) !== 0 && (level === 2 || (level === 3 && lma));
      if (level === 4 && lo & 0x80) return this.pageFault(lin, errBase, true, true);
      const frame = (hi & 0xfffff) * 0x100000000 + ((lo & 0xfffff000) >>> 0);
      if (level === 1 || large) {
        if (!accessOk(user, write, fetch, userOk, writeOk, nx, wp)) return this.pageFault(lin, errBase, true);
        this.setAD(ea, lo, true, write);
        const pageSize = 2 ** shift;
        const base = large ? frame - (frame % pageSize) : frame;
        return base + (l % pageSize);
      }
      this.setAD(ea, lo, false, false);
      table = frame;
    }
    return this.pageFault(lin, errBase, false);
  }

  /** #PF for `lin`: the error code is the access's bits and whether the page was present / a reserved bit set. */
  private pageFault(lin: number, errBase: number, present: boolean, rsvd = false): never {
    this.excAddr = lin;
    return this.raise(VEC.PF, errBase | (present ? PF_P : 0) | (rsvd ? PF_RSVD | PF_P : 0));
  }


  /** Sets the Accessed (and for leaf writes the Dirty) bit of a paging entry. */
  private setAD(addr: number, entry: number, leaf: boolean, write: boolean): void {
    const want = entry | 0x20 | (leaf && write ? 0x40 : 0);
    if (want !== entry) this.writePhys32(addr, want);
  }

  /** The high dword readPhys64 read (its own field: a walk inside an access must not change t1). */
  private ptHi = 0;

  /** Physical read of an 8-byte entry (8-aligned: one page): the low dword, the high one in ptHi. */
  private readPhys64(pa: number): number {
    const gfn = Math.floor(pa / PAGE_SIZE);
    const p = this.resolvePage(gfn, false, -1, false);
    if (p === 'efault') {
      this.errno = 'EFAULT';
      throw ERRNO_EXIT;
    }
    if (p === 'mmio') throw EMULATION_FAILURE;
    const dv = this.dvOf(p.bytes);
    const o = p.offset + (pa % PAGE_SIZE);
    this.ptHi = dv.getInt32(o + 4, true);
    return dv.getInt32(o, true);
  }

  /** Physical read of a dword (page tables, descriptor tables through paging). */
  readPhys32(pa: number): number {
    const gfn = Math.floor(pa / PAGE_SIZE);
    const p = this.resolvePage(gfn, false, -1, false);
    if (p === 'efault') {
      this.errno = 'EFAULT';
      throw ERRNO_EXIT;
    }
    if (p === 'mmio') throw EMULATION_FAILURE; // page tables in MMIO: KVM cannot walk them either
    return this.dvOf(p.bytes).getInt32(p.offset + (pa % PAGE_SIZE), true);
  }

  private writePhys32(pa: number, v: number): void {
    const gfn = Math.floor(pa / PAGE_SIZE);
    const p = this.resolvePage(gfn, true, -1, false);
    if (p === 'efault') {
      this.errno = 'EFAULT';
      throw ERRNO_EXIT;
    }
    if (p === 'mmio') return; // A/D update to ROM/MMIO page tables: dropped
    if (this.codeGfns.has(gfn)) this.onCodeWrite(gfn);
    this.dvOf(p.bytes).setInt32(p.offset + (pa % PAGE_SIZE), v, true);
  }

  /**
   * Resolves the host page for a linear page (TLB fill). Returns the TLB index, or -1 when the
   * access must take the slow path (MMIO, read-only slot write, code page write).
   */
  private fill(lin: number, acc: Acc, sup: boolean): number {
    const user = !sup && this.cpl === 3;
    const pa = this.translate(lin, acc, sup);
    this.fillPa = pa;
    // [kvmi hook] page-access restrictions (may raise KVMI_VCPU_EVENT_PF); restricted pages stay out of the TLB
    const kvmiTracked = this.kvmi !== null && this.kvmi.access(lin, pa, acc);
    const gfn = Math.floor(pa / PAGE_SIZE);
    const write = acc === Acc.WRITE;
    if (write && this.codeGfns.has(gfn)) return -1;
    const p = this.resolvePage(gfn, write, lin, false);
    if (p === 'efault') {
      this.errno = 'EFAULT';
      throw ERRNO_EXIT;
    }
    const vpn = Math.floor(lin / PAGE_SIZE);
    const i = vpn & TLB_MASK;
    const tag = vpn * 2 + (user ? 1 : 0);
    if (p === 'mmio') {
      if (!kvmiTracked) {
        const base = pa - (pa % PAGE_SIZE);
        if (write) {
          this.mwTag[i] = tag;
          this.mwPa[i] = base;
        } else {
          this.mrTag[i] = tag;
          this.mrPa[i] = base;
        }
      }
      return -1;
    }
    const dv = this.dvOf(p.bytes);
    if (write) {
      this.wTag[i] = tag;
      this.wDv[i] = dv;
      this.wOff[i] = p.offset;
    } else {
      this.rTag[i] = tag;
      this.rDv[i] = dv;
      this.rOff[i] = p.offset;
      this.rGfn[i] = gfn;
      // Remember whether an instruction fetch would fault on NX (re-walk for EXEC then).
      this.rNx[i] = acc === Acc.EXEC ? 0 : 1;
    }
    if (kvmiTracked) {
      // [kvmi hook] this access uses the entry; the next one must come back here
      if (write) this.wTag[i] = NaN;
      else this.rTag[i] = NaN;
    }
    return i;
  }

  // ---------------------------------------------------------------------------------------
  // Linear-address memory access (1, 2, 4, 8 bytes; 8 returns low half, high half in t1)

  readLin(lin: number, size: number, sup = false): number {
    return this.readAt(lin, size, sup, false);
  }

  /**
   * readLin for an instruction whose only memory access is this read and whose only effects
   * come after it (MOV/MOVZX/MOVSX/MOVSXD to a register, CMP/TEST): an MMIO read that must exit
   * sets `exitNow` and returns 0 instead of throwing EXIT. The caller checks `exitNow` before it
   * writes anything; the instruction runs again on the next KVM_RUN with userspace's data.
   */
  readLinSoft(lin: number, size: number): number {
    return this.readAt(lin, size, false, true);
  }

  /** The read both take: the TLB's read set, MMIO (`soft`: see readLinSoft), or a split access. */
  private readAt(lin: number, size: number, sup: boolean, soft: boolean): number {
    if (this.watchOn) this.checkWatch(lin, size, false);
    const off = lin & 0xfff;
    if (off + size > PAGE_SIZE) return this.readSplit(lin, size, sup);
    const vpn = (lin - off) / PAGE_SIZE;
    const i = vpn & TLB_MASK;
    let idx = i;
    const tag = vpn * 2 + (!sup && this.cpl === 3 ? 1 : 0);
    if (this.rTag[i] !== tag) {
      if (this.mrTag[i] === tag) return this.readMmio(this.mrPa[i]! + off, size, soft);
      idx = this.fill(lin, Acc.READ, sup);
      if (idx < 0) return this.readMmio(this.fillPa, size, soft);
    }
    const dv = this.rDv[idx]!;
    const o = this.rOff[idx]! + off;
    switch (size) {
      case 1:
        return dv.getUint8(o);
      case 2:
        return dv.getUint16(o, true);
      case 4:
        return dv.getUint32(o, true);
      default:
        this.t1 = dv.getInt32(o + 4, true);
        return dv.getInt32(o, true);
    }
  }

  writeLin(lin: number, size: number, lo: number, hi = 0, sup = false): void {
    if (this.watchOn) this.checkWatch(lin, size, true);
    const off = lin & 0xfff;
    if (off + size > PAGE_SIZE) return this.writeSplit(lin, size, lo, hi, sup);
    const vpn = (lin - off) / PAGE_SIZE;
    const i = vpn & TLB_MASK;
    let idx = i;
    const tag = vpn * 2 + (!sup && this.cpl === 3 ? 1 : 0);
    if (this.wTag[i] !== tag) {
      if (this.mwTag[i] === tag) return this.writeMmio(this.mwPa[i]! + off, size, lo, hi);
      idx = this.fill(lin, Acc.WRITE, sup);
      if (idx < 0) return this.writeSlow(lin, size, lo, hi, sup);
    }
    const dv = this.wDv[idx]!;
    const o = this.wOff[idx]! + off;
    switch (size) {
      case 1:
        dv.setUint8(o, lo);
        return;
      case 2:
        dv.setUint16(o, lo, true);
        return;
      case 4:
        dv.setInt32(o, lo, true);
        return;
      default:
        dv.setInt32(o, lo, true);
        dv.setInt32(o + 4, hi, true);
    }
  }

  /** Data breakpoints: an access overlapping an armed DRn range sets its DR6 bit (a trap after the insn). */
  private checkWatch(lin: number, size: number, write: boolean): void {
    for (let i = 0; i < 4; i++) {
      const rw = this.watchRw[i]!;
      if (!rw || (rw === 1 && !write)) continue;
      const len = this.watchLen[i]!;
      const a = this.watchAddr[i]!;
      if (lin < a + len && lin + size > a) this.watchHits |= 1 << i;
    }
  }

  /** A read crossing a page boundary: byte by byte (both pages are translated first, as hardware checks). */
  private readSplit(lin: number, size: number, sup: boolean): number {
    // Probe both pages first so a fault on the second leaves no partial effects.
    const second = lin + size - 1;
    this.translate(lin, Acc.READ, sup);
    this.translate(second, Acc.READ, sup);
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < size; k++) {
      const b = this.readLin(this.wrapLin(lin + k), 1, sup);
      if (k < 4) lo |= b << (8 * k);
      else hi |= b << (8 * (k - 4));
    }
    this.t1 = hi;
    return size === 4 ? lo >>> 0 : lo;
  }

  private writeSplit(lin: number, size: number, lo: number, hi: number, sup: boolean): void {
    this.translate(lin, Acc.WRITE, sup);
    this.translate(lin + size - 1, Acc.WRITE, sup);
    for (let k = 0; k < size; k++) {
      const b = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
      this.writeLin(this.wrapLin(lin + k), 1, b, 0, sup);
    }
  }

  /** Wraps a linear address: 32-bit outside long mode. */
  wrapLin(lin: number): number {
    return (this.s.efer & EFER.LMA) !== 0 ? lin : lin >>> 0;
  }

  /**
   * A read from MMIO at `pa`: complete from userspace's data, or exit to get it — by throwing
   * EXIT, or with `soft` (readLinSoft) by setting `exitNow` and returning 0.
   */
  private readMmio(pa: number, size: number, soft: boolean): number {
    const m = this.mmioIdx < this.mmioCount ? this.mmioReads[this.mmioIdx]! : null;
    if (m !== null && m.ready && m.gpa === pa && m.len === size) {
      this.mmioIdx++;
      const d = m.data;
      const lo = d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24);
      if (size === 8) {
        this.t1 = d[4]! | (d[5]! << 8) | (d[6]! << 16) | (d[7]! << 24);
        return lo;
      }
      return size === 4 ? lo >>> 0 : size === 2 ? lo & 0xffff : lo & 0xff;
    }
    // The local APIC, then kvm_io_bus (vcpu_mmio_read): an in-kernel device answers without an exit.
    if (this.localMmio !== null) {
      const v = this.localMmio.mmioRead(pa, size);
      if (v >= 0) {
        if (size === 8) this.t1 = 0;
        return size === 8 ? v | 0 : v;
      }
    }
    const bus = this.mmioBus;
    if (!bus.empty && bus.readValue(this.vcpu, pa, size)) {
      const d = bus.scratchDv;
      if (size === 8) this.t1 = d.getInt32(4, true);
      return size === 1 ? d.getUint8(0) : size === 2 ? d.getUint16(0, true) : size === 4 ? d.getUint32(0, true) : d.getInt32(0, true);
    }
    // The record of an earlier exit at this index is reused (the instruction retired since).
    let rec = this.mmioReads[this.mmioIdx];
    if (rec === undefined) this.mmioReads[this.mmioIdx] = rec = { gpa: pa, len: size, data: new Uint8Array(8), ready: false };
    rec.gpa = pa;
    rec.len = size;
    rec.ready = false;
    this.mmioCount = this.mmioIdx + 1;
    this.onMmio(pa, size, false, null);
    if (soft) {
      this.exitNow = true;
      return 0;
    }
    throw EXIT;
  }

  /** A write to MMIO or a read-only slot (an MMIO exit), or to a code page (invalidate, then write). */
  private writeSlow(lin: number, size: number, lo: number, hi: number, sup: boolean): void {
    const pa = this.fillPa;
    const gfn = Math.floor(pa / PAGE_SIZE);
    if (this.codeGfns.has(gfn)) {
      this.onCodeWrite(gfn);
      const p = this.resolvePage(gfn, true, lin, false);
      if (p !== 'mmio' && p !== 'efault') {
        const dv = this.dvOf(p.bytes);
        const o = p.offset + (pa % PAGE_SIZE);
        if (size === 1) dv.setUint8(o, lo);
        else if (size === 2) dv.setUint16(o, lo, true);
        else if (size === 4) dv.setInt32(o, lo, true);
        else {
          dv.setInt32(o, lo, true);
          dv.setInt32(o + 4, hi, true);
        }
        return;
      }
    }
    this.writeMmio(pa, size, lo, hi);
  }

  /** A write to MMIO (or a read-only slot) at `pa`: the bus, else an exit. */
  private writeMmio(pa: number, size: number, lo: number, hi: number): void {
    if (this.mmioWriteDone) {
      // Re-executing an instruction whose MMIO write userspace already saw.
      this.mmioWriteDone = false;
      return;
    }
    // The local APIC, then kvm_io_bus (vcpu_mmio_write): an in-kernel device (an ioeventfd...) takes it without an exit.
    if (this.localMmio !== null && this.localMmio.mmioWrite(pa, size, lo)) return;
    if (!this.mmioBus.empty && this.mmioBus.writeValue(this.vcpu, pa, size, lo, hi)) return;
    const dv = this.mmioDv;
    dv.setInt32(0, lo, true);
    dv.setInt32(4, hi, true);
    this.onMmio(pa, size, true, this.mmioData);
  }

  /** Instruction fetch of one byte (the decoder's view), or -1 after raising nothing (faults are thrown). */
  fetchByte(lin: number): number {
    const l = this.wrapLin(lin);
    const off = l & 0xfff;
    const vpn = (l - off) / PAGE_SIZE;
    const i = vpn & TLB_MASK;
    const user = this.cpl === 3;
    let idx = i;
    if (this.rTag[i] !== vpn * 2 + (user ? 1 : 0) || this.rNx[i]) {
      // Re-walk with EXEC permission (NX) and fill.
      const pa = this.translate(l, Acc.EXEC);
      const gfn = Math.floor(pa / PAGE_SIZE);
      const p = this.resolvePage(gfn, false, l, true);
      if (p === 'efault') {
        this.errno = 'EFAULT';
        throw ERRNO_EXIT;
      }
      if (p === 'mmio') throw EMULATION_FAILURE; // executing from MMIO
      this.rTag[i] = vpn * 2 + (user ? 1 : 0);
      this.rDv[i] = this.dvOf(p.bytes);
      this.rOff[i] = p.offset;
      this.rGfn[i] = gfn;
      this.rNx[i] = 0;
      idx = i;
      if (this.kvmi !== null && this.kvmi.readTracked(gfn)) {
        // [kvmi hook] a read-restricted page must not leave a read TLB entry behind a fetch
        const b = this.rDv[i]!.getUint8(this.rOff[i]! + off);
        this.rTag[i] = NaN;
        return b;
      }
    }
    return this.rDv[idx]!.getUint8(this.rOff[idx]! + off);
  }

  /**
   * Whether guest memory at linear code address `lin` still holds `bytes` (all within one page):
   * decoded blocks revalidate this way once per KVM_RUN, since userspace may rewrite guest code
   * between runs through its own mapping.
   */
  codeMatches(lin: number, bytes: Uint8Array): boolean {
    const l = this.wrapLin(lin);
    this.codeGfn(l);
    const i = Math.floor(l / PAGE_SIZE) & TLB_MASK;
    const dv = this.rDv[i]!;
    const o = this.rOff[i]! + (l & 0xfff);
    for (let k = 0; k < bytes.length; k++) if (dv.getUint8(o + k) !== bytes[k]) return false;
    return true;
  }

  /**
   * [smp] Where a write to `lin` (within one page) lands, through the write TLB: `REF.dv` (a
   * DataView over the page's buffer) and `REF.off` (the byte offset of `lin` in it); false when
   * the write takes the slow path (MMIO, read-only slot, code page). For locked RMW (atomic.ts).
   */
  writeRef(lin: number): boolean {
    const off = lin & 0xfff;
    const vpn = (lin - off) / PAGE_SIZE;
    let idx = vpn & TLB_MASK;
    if (this.wTag[idx] !== vpn * 2 + (this.cpl === 3 ? 1 : 0)) {
      idx = this.fill(lin, Acc.WRITE, false);
      if (idx < 0) return false;
    }
    REF.dv = this.wDv[idx]!;
    REF.off = this.wOff[idx]! + off;
    return true;
  }

  /**
   * Where a read of `lin` (within one page) comes from, through the read TLB: `REF.dv` and `REF.off`
   * as writeRef gives them; false when the read takes the slow path (MMIO). For REP MOVS.
   */
  readRef(lin: number): boolean {
    const off = lin & 0xfff;
    const vpn = (lin - off) / PAGE_SIZE;
    let idx = vpn & TLB_MASK;
    if (this.rTag[idx] !== vpn * 2 + (this.cpl === 3 ? 1 : 0)) {
      if (this.mrTag[idx] === vpn * 2 + (this.cpl === 3 ? 1 : 0)) return false;
      idx = this.fill(lin, Acc.READ, false);
      if (idx < 0) return false;
    }
    REF.dv = this.rDv[idx]!;
    REF.off = this.rOff[idx]! + off;
    return true;
  }

  /**
   * After codeGfn(lin): the read TLB's view of `lin`'s code page (REF.dv, and REF.off the offset of
   * `lin` in it), so the decoder reads the page's bytes without a call per byte; false when the
   * page keeps no TLB entry (a kvmi read-tracked page: its bytes come through fetchByte).
   */
  codeRef(lin: number): boolean {
    const l = this.wrapLin(lin);
    const vpn = Math.floor(l / PAGE_SIZE);
    const i = vpn & TLB_MASK;
    if (this.rTag[i] !== vpn * 2 + (this.cpl === 3 ? 1 : 0) || this.rNx[i]) return false;
    REF.dv = this.rDv[i]!;
    REF.off = this.rOff[i]! + (l & 0xfff);
    return true;
  }

  /** The physical frame of a linear code page (after a fetch filled the TLB). */
  codeGfn(lin: number): number {
    const l = this.wrapLin(lin);
    const vpn = Math.floor(l / PAGE_SIZE);
    const i = vpn & TLB_MASK;
    if (this.rTag[i] === vpn * 2 + (this.cpl === 3 ? 1 : 0) && !this.rNx[i]) return this.rGfn[i]!;
    this.fetchByte(l);
    return this.rGfn[i]!;
  }

  // ---------------------------------------------------------------------------------------
  // Segmented access

  /**
   * The linear address of seg:off for an access of `size`, with segmentation checks:
   * canonical checks in 64-bit mode, limits and rights in protected mode.
   */
  linear(seg: number, off: number, size: number, write: boolean): number {
    // 64-bit mode without FS/GS (most accesses): small enough for V8 to inline into its callers.
    if (this.long64 && seg < FS) {
      if (!isCanonical(off) || !isCanonical(off + size - 1)) this.raise(seg === SS ? VEC.SS : VEC.GP, 0);
      return off;
    }
    return this.linearSeg(seg, off, size, write);
  }

  /** linear() for FS/GS in 64-bit mode, protected, real and virtual-8086 mode. */
  private linearSeg(seg: number, off: number, size: number, write: boolean): number {
    const sg = this.s.seg[seg]!;
    if (this.long64) {
      const lin = seg === FS || seg === GS ? sg.base + off : off;
      if (!isCanonical(lin) || !isCanonical(lin + size - 1)) this.raise(seg === SS ? VEC.SS : VEC.GP, 0);
      return lin;
    }
    if (this.pe && !(this.s.rflags & FLAG.VM)) {
      if (sg.unusable || !sg.present) this.raise(seg === SS ? VEC.SS : VEC.GP, 0);
      const t = sg.type;
      if (write && ((t & 8) !== 0 || (t & 2) === 0)) this.raise(seg === SS ? VEC.SS : VEC.GP, 0);
      if (!write && (t & 8) !== 0 && (t & 2) === 0 && seg !== CS) this.raise(VEC.GP, 0);
      // Expand-down data segments: valid offsets are (limit, top].
      const top = sg.db ? 0xffffffff : 0xffff;
      if ((t & 0xc) === 4) {
        if (off <= sg.limit || off + size - 1 > top) this.raise(seg === SS ? VEC.SS : VEC.GP, 0);
      } else if (off + size - 1 > sg.limit) this.raise(seg === SS ? VEC.SS : VEC.GP, 0);
      return (sg.base + off) >>> 0;
    }
    // Real and virtual-8086 mode: 64 KiB limits (unless the hidden limit says otherwise: unreal mode).
    if (off + size - 1 > sg.limit) this.raise(seg === SS ? VEC.SS : VEC.GP, 0);
    return (sg.base + off) >>> 0;
  }

  read(seg: number, off: number, size: number): number {
    return this.readLin(this.linear(seg, off, size, false), size);
  }

  write(seg: number, off: number, size: number, lo: number, hi = 0): void {
    this.writeLin(this.linear(seg, off, size, true), size, lo, hi);
  }
}
