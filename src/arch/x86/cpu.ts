/**
 * The x86 CPU core: registers, modes, segmentation, paging with a software TLB, guest memory
 * access (RAM, read-only and MMIO), port I/O, exceptions and interrupt delivery (IVT, IDT,
 * double and triple fault). Instruction semantics are in exec.ts, the KVM_RUN loop in run.ts.
 *
 * Guest faults are thrown as the `FAULT` sentinel (the vector and error code live on the CPU);
 * a userspace exit in the middle of an instruction is thrown as `EXIT`. Neither allocates.
 * @module
 */
import type { Vcpu } from '../../kernel/vcpu.js';
import type { GuestPage, Vm } from '../../kernel/vm.js';
import type { X86IntrospectionHooks } from '../../introspection/hooks.js';
import type { X86Services } from './services.js';
import { PAGE_SIZE } from '../../kernel/hva.js';
import { Flags, FOp, ARITH_FLAGS } from './flags.js';
import { CR0, CR4, CS, EFER, ES, FLAG, FS, GS, LDTR, SS, TR, DS, type Segment, type X86State } from './state.js';

/** Thrown for a guest exception; see `X86Cpu.excVector`. */
export const FAULT = { fault: true };
/** Thrown when the instruction needs userspace (MMIO read, IO): kvm_run is filled. */
export const EXIT = { exit: true };
/** Thrown when the vCPU must stop with an errno (EFAULT for unbacked memory...). */
export const ERRNO_EXIT = { errno: true };
/** Thrown for a condition KVM reports as KVM_EXIT_INTERNAL_ERROR/EMULATION. */
export const EMULATION_FAILURE = { emulation: true };

export const VEC = { DE: 0, DB: 1, NMI: 2, BP: 3, OF: 4, BR: 5, UD: 6, NM: 7, DF: 8, TS: 10, NP: 11, SS: 12, GP: 13, PF: 14, MF: 16, AC: 17, MC: 18, XM: 19 } as const;

/** Exceptions that push an error code. */
const HAS_ERROR_CODE = (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17) | (1 << 21);
/** Contributory exceptions for the double-fault rules. */
const CONTRIBUTORY = (1 << 0) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13);
/** Vectors KVM's exception_type() calls faults (not #DB/#BP/#OF traps, not #DF/#MC aborts, not NMI). */
const FAULT_CLASS = 0xffffffff & ~((1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 8) | (1 << 18));

/** Page-fault error code bits. */
const PF_P = 1, PF_W = 2, PF_U = 4, PF_RSVD = 8, PF_I = 16;

const TLB_BITS = 10;
const TLB_SIZE = 1 << TLB_BITS;
const TLB_MASK = TLB_SIZE - 1;

/** [smp] The result of X86Cpu.writeRef. */
export const REF = { dv: new DataView(new ArrayBuffer(8)) as DataView<ArrayBufferLike>, off: 0 };

/** An access type for translation. */
export const enum Acc {
  READ = 0,
  WRITE = 1,
  EXEC = 2,
}

/** An MMIO read of the current instruction: answered by userspace, consumed on re-execution. */
export interface MmioRead {
  gpa: number;
  len: number;
  data: Uint8Array;
  ready: boolean;
}

export class X86Cpu {
  readonly f = new Flags();
  /** High half of the last 64-bit value produced by a read helper. */
  t1 = 0;
  // --- mode cache (recomputed by updateMode) ---
  long64 = false;
  def32 = false;
  pe = false;
  paging = false;
  cpl = 0;
  csBase = 0;
  /** Mask for RIP arithmetic: 0xffff, 0xffffffff or 0 (64-bit: no mask). */
  ipMask = 0xffff;
  // --- exception state ---
  excVector = 0;
  excCode = 0;
  excHasCode = false;
  /** Linear address for #PF (goes to CR2 on delivery). */
  excAddr = 0;
  /** The errno of an ERRNO_EXIT. */
  errno: 'EFAULT' | 'EINTR' = 'EFAULT';
  /** RIP of the next instruction, set by the run loop before each handler; branches overwrite it. */
  next = 0;
  /** The MMIO reads of the instruction being (re-)executed, in order; cleared when it retires. */
  readonly mmioReads: MmioRead[] = [];
  /** Index of the next MMIO read during (re-)execution. */
  mmioIdx = 0;
  /** An MMIO write already handed to userspace: the instruction completes without exiting again. */
  mmioWriteDone = false;
  /** Data breakpoints armed: linear address, length mask and kind (1 write, 3 read/write) per DRn. */
  watchOn = false;
  readonly watchAddr = new Float64Array(4);
  readonly watchLen = new Int8Array(4);
  readonly watchRw = new Int8Array(4);
  /** DR6 B0-B3 bits of data breakpoints hit by the current instruction. */
  watchHits = 0;
  /** A software interrupt (INT n/INT3/INTO) raised by the instruction, delivered after it; -1 none. */
  softVector = -1;
  /** ICEBP (INT1) executed: deliver #DB as a trap after the instruction. */
  icebp = false;
  /** Exact low/high words of the last 64-bit effective address (LEA of arbitrary 64-bit values). */
  eaLo = 0;
  eaHi = 0;
  /** REP string ops run one iteration per instruction step (single step, breakpoints watched). */
  repOne = false;
  /** Bytes the last instruction fetched (for emulation-failure reports). */
  lastInsn: { readonly bytes: Uint8Array; readonly len: number } | null = null;
  /** The bytes of the last instruction fetched (allocates: for failure reports only). */
  lastInsnBytes(): Uint8Array | undefined {
    const i = this.lastInsn;
    return i ? i.bytes.subarray(0, i.len) : undefined;
  }
  // --- software TLB: tag = vpn * 2 + user; separate read/write sets ---
  // Invalid entries hold NaN, which equals no tag (tags can be negative for high canonical pages).
  private readonly rTag = new Float64Array(TLB_SIZE).fill(NaN);
  private readonly wTag = new Float64Array(TLB_SIZE).fill(NaN);
  private readonly rDv: (DataView | null)[] = new Array<DataView | null>(TLB_SIZE).fill(null);
  private readonly wDv: (DataView | null)[] = new Array<DataView | null>(TLB_SIZE).fill(null);
  private readonly rOff = new Float64Array(TLB_SIZE);
  private readonly wOff = new Float64Array(TLB_SIZE);
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

  constructor(
    readonly s: X86State,
    readonly vcpu: Vcpu,
    readonly vm: Vm,
    /** What the instruction handlers ask of KVM (CPUID, MSRs, I/O, hypercalls...). */
    readonly svc: X86Services,
  ) {
    this.updateMode();
  }

  // ---------------------------------------------------------------------------------------
  // Registers

  /** Reads general register `r` of `size` bytes (1/2/4 -> unsigned number; 8 -> low half, high in t1). r 16-19 = AH..BH. */
  getReg(r: number, size: number): number {
    const R = this.s.r;
    switch (size) {
      case 1:
        return r >= 16 ? (R[2 * (r - 16)]! >>> 8) & 0xff : R[2 * r]! & 0xff;
      case 2:
        return R[2 * r]! & 0xffff;
      case 4:
        return R[2 * r]! >>> 0;
      default:
        this.t1 = R[2 * r + 1]!;
        return R[2 * r]!;
    }
  }

  /** Writes a general register with x86 rules: 32-bit writes zero the top, 8/16-bit merge. */
  setReg(r: number, size: number, lo: number, hi = 0): void {
    const R = this.s.r;
    switch (size) {
      case 1:
        if (r >= 16) R[2 * (r - 16)] = (R[2 * (r - 16)]! & ~0xff00) | ((lo & 0xff) << 8);
        else R[2 * r] = (R[2 * r]! & ~0xff) | (lo & 0xff);
        return;
      case 2:
        R[2 * r] = (R[2 * r]! & ~0xffff) | (lo & 0xffff);
        return;
      case 4:
        R[2 * r] = lo | 0;
        R[2 * r + 1] = 0;
        return;
      default:
        R[2 * r] = lo | 0;
        R[2 * r + 1] = hi | 0;
    }
  }

  /** A register as a JS number (exact below 2^53; used for addresses and counts). */
  regNum(r: number, size: number): number {
    if (size < 8) return this.getReg(r, size);
    const R = this.s.r;
    return R[2 * r + 1]! * 0x100000000 + (R[2 * r]! >>> 0);
  }

  /** Sets a register from a JS number (addresses, counts). */
  setRegNum(r: number, size: number, v: number): void {
    if (size < 8) return this.setReg(r, size, v | 0);
    const lo = v % 0x100000000;
    const hi = Math.floor(v / 0x100000000);
    this.setReg(r, 8, lo | 0, hi | 0);
  }

  // ---------------------------------------------------------------------------------------
  // RFLAGS

  /** RFLAGS with the lazy arithmetic flags folded in. */
  getFlags(): number {
    const f = this.f;
    if (f.op === FOp.NONE) return this.s.rflags;
    this.s.rflags = ((this.s.rflags & ~ARITH_FLAGS) | f.bits() | FLAG.FIXED1) >>> 0;
    f.op = FOp.NONE;
    return this.s.rflags;
  }

  /** Replaces RFLAGS bits in `mask` with `value`. */
  setFlags(value: number, mask: number): void {
    const cur = this.getFlags();
    this.s.rflags = (((cur & ~mask) | (value & mask)) | FLAG.FIXED1) >>> 0;
  }

  cf(): number {
    return this.f.op === FOp.NONE ? this.s.rflags & FLAG.CF : this.f.cf();
  }

  /** Evaluates condition code cc (Jcc/SETcc/CMOVcc encoding). */
  cond(cc: number): boolean {
    const f = this.f;
    let r: boolean;
    if (f.op === FOp.NONE) {
      const x = this.s.rflags;
      switch (cc >> 1) {
        case 0: r = (x & FLAG.OF) !== 0; break;
        case 1: r = (x & FLAG.CF) !== 0; break;
        case 2: r = (x & FLAG.ZF) !== 0; break;
        case 3: r = (x & (FLAG.CF | FLAG.ZF)) !== 0; break;
        case 4: r = (x & FLAG.SF) !== 0; break;
        case 5: r = (x & FLAG.PF) !== 0; break;
        case 6: r = ((x & FLAG.SF) !== 0) !== ((x & FLAG.OF) !== 0); break;
        default: r = (x & FLAG.ZF) !== 0 || ((x & FLAG.SF) !== 0) !== ((x & FLAG.OF) !== 0);
      }
    } else {
      switch (cc >> 1) {
        case 0: r = f.of() === 1; break;
        case 1: r = f.cf() === 1; break;
        case 2: r = f.zf() === 1; break;
        case 3: r = f.cf() === 1 || f.zf() === 1; break;
        case 4: r = f.sf() === 1; break;
        case 5: r = f.pf() === 1; break;
        case 6: r = f.sf() !== f.of(); break;
        default: r = f.zf() === 1 || f.sf() !== f.of();
      }
    }
    return cc & 1 ? !r : r;
  }

  // ---------------------------------------------------------------------------------------
  // Modes

  /** Recomputes the cached mode after CR0/EFER/CS/CR4 changes. */
  updateMode(): void {
    const s = this.s;
    this.pe = (s.cr0 & CR0.PE) !== 0;
    this.paging = this.pe && (s.cr0 & CR0.PG) !== 0;
    const lma = (s.efer & EFER.LMA) !== 0;
    const cs = s.seg[CS]!;
    this.long64 = lma && cs.l === 1;
    this.def32 = this.pe && !(s.rflags & FLAG.VM) && cs.db === 1;
    this.cpl = !this.pe ? 0 : s.rflags & FLAG.VM ? 3 : s.seg[SS]!.dpl;
    this.csBase = this.long64 ? 0 : cs.base;
    this.ipMask = this.long64 ? 0 : this.def32 ? 0xffffffff : 0xffff;
  }

  /** Masks an instruction pointer to the current code size. */
  maskIp(ip: number): number {
    const m = this.ipMask;
    return m === 0 ? ip : m === 0xffff ? ip & 0xffff : ip >>> 0;
  }

  /** Drops every cached translation (CR0/CR3/CR4/EFER writes, mode changes, memslot changes). */
  flushTlb(): void {
    this.codeGen++;
    this.rTag.fill(NaN);
    this.wTag.fill(NaN);
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
  }

  /** Flushes the write TLB only (a page became a code page). */
  flushWriteTlb(): void {
    this.wTag.fill(NaN);
  }

  /** Checks the VM's MMU generation; flushes when memslots or dirty tracking changed. */
  syncMmu(): void {
    const g = Atomics.load(this.vm.mmuGen, 0);
    if (g !== this.mmuGenSeen) {
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
    const fault = (present: boolean, rsvd = false): never => {
      this.excAddr = lin;
      return this.raise(VEC.PF, errBase | (present ? PF_P : 0) | (rsvd ? PF_RSVD | PF_P : 0));
    };
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
      if (!(pde & 1)) return fault(false);
      userOk &&= (pde & 4) !== 0;
      writeOk &&= (pde & 2) !== 0;
      if (pde & 0x80 && s.cr4 & CR4.PSE) {
        // 4 MiB page (PSE-36 high bits ignored beyond 32-bit physical here).
        this.checkAccess(fault, user, write, fetch, userOk, writeOk, false, wp);
        this.setAD(pdeA, pde, true, write);
        return ((pde & 0xffc00000) >>> 0) + (l & 0x3fffff);
      }
      const pteA = (pde & 0xfffff000) >>> 0;
      const pteAddr = pteA + (((l >>> 12) & 0x3ff) << 2);
      const pte = this.readPhys32(pteAddr);
      if (!(pte & 1)) return fault(false);
      userOk &&= (pte & 4) !== 0;
      writeOk &&= (pte & 2) !== 0;
      this.checkAccess(fault, user, write, fetch, userOk, writeOk, false, wp);
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
      const lo = this.readPhys32(pdpteA);
      const hi = this.readPhys32(pdpteA + 4);
      if (!(lo & 1)) return fault(false);
      if (lo & 0x1e6 || hi & 0xfff00000) return fault(true, true);
      table = hi * 0x100000000 + ((lo & 0xfffff000) >>> 0);
      levels = 2;
    }
    // Canonical addresses may be negative numbers; the walk uses bits 47:0.
    const l = lin < 0 ? lin + 2 ** 48 : lin;
    for (let level = levels; level >= 1; level--) {
      const shift = 12 + 9 * (level - 1);
      const idx = Math.floor(l / 2 ** shift) % 512;
      const ea = table + idx * 8;
      const lo = this.readPhys32(ea);
      const hi = this.readPhys32(ea + 4);
      if (!(lo & 1)) return fault(false);
      // Reserved bits: NX without EFER.NXE, physical address bits above MAXPHYADDR (52).
      if ((hi & 0x80000000 && !nxe) || (hi & 0x7ff00000 && level > 0)) return fault(true, true);
      userOk &&= (lo & 4) !== 0;
      writeOk &&= (lo & 2) !== 0;
      nx ||= nxe && (hi & 0x80000000) !== 0;
      const large = (lo & 0x80) !== 0 && (level === 2 || (level === 3 && lma));
      if (level === 4 && lo & 0x80) return fault(true, true);
      const frame = (hi & 0xfffff) * 0x100000000 + ((lo & 0xfffff000) >>> 0);
      if (level === 1 || large) {
        this.checkAccess(fault, user, write, fetch, userOk, writeOk, nx, wp);
        this.setAD(ea, lo, true, write);
        const pageSize = 2 ** shift;
        const base = large ? frame - (frame % pageSize) : frame;
        return base + (l % pageSize);
      }
      this.setAD(ea, lo, false, false);
      table = frame;
    }
    return fault(false);
  }

  private checkAccess(fault: (p: boolean) => never, user: boolean, write: boolean, fetch: boolean, userOk: boolean, writeOk: boolean, nx: boolean, wp: boolean): void {
    if (user && !userOk) fault(true);
    if (write && !writeOk && (user || wp)) fault(true);
    if (fetch && nx) fault(true);
    // SMEP/SMAP are not exposed in CPUID here, so CR4.SMEP/SMAP cannot be set.
  }

  /** Sets the Accessed (and for leaf writes the Dirty) bit of a paging entry. */
  private setAD(addr: number, entry: number, leaf: boolean, write: boolean): void {
    const want = entry | 0x20 | (leaf && write ? 0x40 : 0);
    if (want !== entry) this.writePhys32(addr, want);
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
    if (p === 'mmio') return -1;
    const vpn = Math.floor(lin / PAGE_SIZE);
    const i = vpn & TLB_MASK;
    const tag = vpn * 2 + (user ? 1 : 0);
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
    if (this.watchOn) this.checkWatch(lin, size, false);
    const off = lin & 0xfff;
    if (off + size > PAGE_SIZE) return this.readSplit(lin, size, sup);
    const vpn = (lin - off) / PAGE_SIZE;
    const i = vpn & TLB_MASK;
    let idx = i;
    if (this.rTag[i] !== vpn * 2 + (!sup && this.cpl === 3 ? 1 : 0)) {
      idx = this.fill(lin, Acc.READ, sup);
      if (idx < 0) return this.readSlow(lin, size, sup);
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
    if (this.wTag[i] !== vpn * 2 + (!sup && this.cpl === 3 ? 1 : 0)) {
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

  /** A read from MMIO: complete from userspace's data, or exit to get it. */
  private readSlow(lin: number, size: number, sup: boolean): number {
    const pa = this.translate(lin, Acc.READ, sup);
    const m = this.mmioReads[this.mmioIdx];
    if (m && m.ready && m.gpa === pa && m.len === size) {
      this.mmioIdx++;
      const dv = new DataView(m.data.buffer, m.data.byteOffset, 8);
      if (size === 8) {
        this.t1 = dv.getInt32(4, true);
        return dv.getInt32(0, true);
      }
      return size === 1 ? dv.getUint8(0) : size === 2 ? dv.getUint16(0, true) : dv.getUint32(0, true);
    }
    this.mmioReads.length = this.mmioIdx;
    this.mmioReads.push({ gpa: pa, len: size, data: new Uint8Array(8), ready: false });
    this.onMmio(pa, size, false, null);
    throw EXIT;
  }

  /** A write to MMIO or a read-only slot (an MMIO exit), or to a code page (invalidate, then write). */
  private writeSlow(lin: number, size: number, lo: number, hi: number, sup: boolean): void {
    const pa = this.translate(lin, Acc.WRITE, sup);
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
    if (this.mmioWriteDone) {
      // Re-executing an instruction whose MMIO write userspace already saw.
      this.mmioWriteDone = false;
      return;
    }
    const data = new Uint8Array(8);
    const dv = new DataView(data.buffer);
    dv.setInt32(0, lo, true);
    dv.setInt32(4, hi, true);
    this.onMmio(pa, size, true, data);
    this.pendingExit = true;
  }

  /**
   * Set by a handler that exits to userspace before its instruction retires (IN/OUT): the run
   * loop stops without unwinding (cheaper than throwing EXIT on the hottest exit).
   */
  exitNow = false;

  /** Instructions a translated block retired before the one that threw (jit.ts). */
  jitN = 0;
  /** A translated block ended in an exception or interrupt delivery (ends a chain of blocks). */
  faulted = false;

  /** Set by an MMIO write: exit after the instruction completes. */
  pendingExit = false;

  /** Hook: fill kvm_run for an MMIO access (set by the run loop). */
  onMmio: (gpa: number, len: number, write: boolean, data: Uint8Array | null) => void = () => {};

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

  // ---------------------------------------------------------------------------------------
  // Stack

  /** Stack pointer width: 8 in 64-bit mode, 4 with SS.B, else 2. */
  stackSize(): number {
    return this.long64 ? 8 : this.s.seg[SS]!.db ? 4 : 2;
  }

  push(size: number, lo: number, hi = 0): void {
    const ss = this.stackSize();
    const sp = this.regNum(4, ss);
    const nsp = wrapSp(sp - size, ss);
    this.write(SS, nsp, size, lo, hi);
    this.setRegNum(4, ss, nsp);
  }

  pop(size: number): number {
    const ss = this.stackSize();
    const sp = this.regNum(4, ss);
    const v = this.read(SS, sp, size);
    const hi = this.t1;
    this.setRegNum(4, ss, wrapSp(sp + size, ss));
    this.t1 = hi;
    return v;
  }

  // ---------------------------------------------------------------------------------------
  // Segment registers

  /** Loads a segment register in real/V86 mode (base = selector * 16). */
  loadRealSeg(seg: number, sel: number): void {
    const sg = this.s.seg[seg]!;
    sg.selector = sel & 0xffff;
    sg.base = (sel & 0xffff) * 16;
    sg.baseRaw = BigInt(sg.base);
    if (this.s.rflags & FLAG.VM) {
      sg.limit = 0xffff;
      sg.dpl = 3;
      sg.type = seg === CS ? 11 : 3;
      sg.present = 1;
      sg.s = 1;
      sg.db = 0;
      sg.g = 0;
      sg.l = 0;
    }
    sg.unusable = 0;
    if (seg === CS || seg === SS) this.updateMode();
  }

  /** Reads the 8-byte descriptor for `sel` from the GDT or LDT (#GP(sel) beyond the limit). */
  readDescriptor(sel: number, errVec: number = VEC.GP): { lo: number; hi: number } {
    const s = this.s;
    const idx = sel & ~7;
    const ti = sel & 4;
    const table = ti ? s.seg[LDTR]! : { base: s.gdt.base, limit: s.gdt.limit, unusable: 0 };
    if (ti && (table as Segment).unusable) this.raise(errVec, sel & 0xfffc);
    if (idx + 7 > table.limit) this.raise(errVec, sel & 0xfffc);
    const lo = this.readLin(this.wrapLin(table.base + idx), 4, true) | 0;
    const hi = this.readLin(this.wrapLin(table.base + idx + 4), 4, true) | 0;
    return { lo, hi };
  }

  /** Base of a descriptor's 16-byte system form in long mode (TSS/LDT, call gates): upper dword. */
  readDescriptorHigh(sel: number): number {
    const s = this.s;
    const idx = (sel & ~7) + 8;
    if (idx + 7 > s.gdt.limit) this.gp(sel & 0xfffc);
    return this.readLin(this.wrapLin(s.gdt.base + idx), 4, true) | 0;
  }

  /** Fills a segment cache from descriptor words. */
  static fromDescriptor(sg: Segment, sel: number, lo: number, hi: number): void {
    sg.selector = sel;
    const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
    let limit = (lo & 0xffff) | (hi & 0xf0000);
    sg.g = (hi >>> 23) & 1;
    if (sg.g) limit = ((limit << 12) | 0xfff) >>> 0;
    sg.base = base;
    sg.baseRaw = BigInt(base);
    sg.limit = limit >>> 0;
    sg.type = (hi >>> 8) & 15;
    sg.s = (hi >>> 12) & 1;
    sg.dpl = (hi >>> 13) & 3;
    sg.present = (hi >>> 15) & 1;
    sg.avl = (hi >>> 20) & 1;
    sg.l = (hi >>> 21) & 1;
    sg.db = (hi >>> 22) & 1;
    sg.unusable = 0;
  }

  /** Sets the accessed bit of a descriptor (as the CPU does on a segment load). */
  private markAccessed(sel: number, hi: number): void {
    if (hi & 0x100) return;
    const s = this.s;
    const base = sel & 4 ? s.seg[LDTR]!.base : s.gdt.base;
    this.writeLin(this.wrapLin(base + (sel & ~7) + 4), 4, hi | 0x100, 0, true);
  }

  /** MOV/POP to a data segment register (or SS) in protected mode, with the architectural checks. */
  loadSeg(seg: number, sel: number): void {
    const s = this.s;
    sel &= 0xffff;
    if (!this.pe || s.rflags & FLAG.VM) return this.loadRealSeg(seg, sel);
    const sg = s.seg[seg]!;
    const rpl = sel & 3;
    if ((sel & ~3) === 0) {
      // Null selector: fine for data segments (unusable), #GP for SS outside 64-bit CPL<3 rules.
      if (seg === SS && !(this.long64 && this.cpl !== 3 && rpl === this.cpl)) this.gp(0);
      sg.selector = sel;
      sg.unusable = 1;
      sg.present = 0;
      if (this.long64) {
        // 64-bit mode keeps FS/GS bases (loaded from MSRs); a null load clears base here as on Intel.
        if (seg !== FS && seg !== GS) sg.base = 0;
      } else sg.base = 0;
      sg.baseRaw = BigInt(sg.base);
      if (seg === SS) this.updateMode();
      return;
    }
    const { lo, hi } = this.readDescriptor(sel);
    const type = (hi >>> 8) & 15;
    const dpl = (hi >>> 13) & 3;
    const sBit = (hi >>> 12) & 1;
    const present = (hi >>> 15) & 1;
    if (seg === SS) {
      // Writable data segment with RPL == DPL == CPL.
      if (!sBit || type & 8 || !(type & 2) || rpl !== this.cpl || dpl !== this.cpl) this.gp(sel & 0xfffc);
      if (!present) this.raise(VEC.SS, sel & 0xfffc);
    } else {
      // Data or readable code; for data and non-conforming code DPL >= max(CPL, RPL).
      if (!sBit || (type & 0xa) === 8) this.gp(sel & 0xfffc);
      const conformingCode = (type & 0xc) === 0xc;
      if (!conformingCode && dpl < Math.max(this.cpl, rpl)) this.gp(sel & 0xfffc);
      if (!present) this.raise(VEC.NP, sel & 0xfffc);
    }
    this.markAccessed(sel, hi);
    X86Cpu.fromDescriptor(sg, sel, lo, hi | 0x100);
    if (seg === SS) this.updateMode();
  }

  /** Loads CS for a far transfer to a code segment (no gates); returns nothing, updates mode. */
  loadCs(sel: number, cpl: number): void {
    const s = this.s;
    if (!this.pe || s.rflags & FLAG.VM) {
      this.loadRealSeg(CS, sel);
      return;
    }
    if ((sel & ~3) === 0) this.gp(0);
    const { lo, hi } = this.readDescriptor(sel);
    const type = (hi >>> 8) & 15;
    const dpl = (hi >>> 13) & 3;
    if (!((hi >>> 12) & 1) || !(type & 8)) throw EMULATION_FAILURE; // gates / TSS: not emulated
    const conforming = (type & 4) !== 0;
    if (conforming ? dpl > cpl : dpl !== cpl) this.gp(sel & 0xfffc);
    if (!((hi >>> 15) & 1)) this.raise(VEC.NP, sel & 0xfffc);
    if ((s.efer & EFER.LMA) && (hi >>> 21) & 1 && (hi >>> 22) & 1) this.gp(sel & 0xfffc); // L and D both set
    this.markAccessed(sel, hi);
    X86Cpu.fromDescriptor(s.seg[CS]!, (sel & 0xfffc) | cpl, lo, hi | 0x100);
    s.seg[CS]!.dpl = conforming ? s.seg[CS]!.dpl : cpl;
    this.updateMode();
  }

  /** CPL changes (far returns, interrupts): data segments with DPL < CPL become null. */
  invalidateSegsForCpl(): void {
    for (const seg of [ES, DS, FS, GS]) {
      const sg = this.s.seg[seg]!;
      const conformingCode = (sg.type & 0xc) === 0xc;
      if (!sg.unusable && (sg.type & 8) === 0 ? sg.dpl < this.cpl : !conformingCode && sg.dpl < this.cpl) {
        if (!sg.unusable) {
          sg.selector = 0;
          sg.unusable = 1;
          sg.present = 0;
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Exception and interrupt delivery

  /**
   * Delivers vector `vec` (exception, external interrupt or INT n) through the IVT or IDT, with
   * the double/triple fault rules. `soft` is INT n/INT3/INTO (privilege check against the gate DPL);
   * `next` is the RIP to push for traps and software interrupts.
   * Returns false on a triple fault (shutdown).
   */
  deliver(vec: number, hasCode: boolean, code: number, soft: boolean, pushIp: number): boolean {
    let v = vec;
    let hc = hasCode;
    let c = code;
    let ip = pushIp;
    let isSoft = soft;
    let first = -1;
    // Like KVM's inject_pending_event: a fault-class exception sets RF before it is injected, so
    // the image pushed for the handler has RF=1 (and a triple fault leaves it set).
    if (!soft && vec < 32 && ((FAULT_CLASS >> vec) & 1)) this.s.rflags |= FLAG.RF;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        this.deliverOnce(v, hc, c, isSoft, ip);
        return true;
      } catch (e) {
        if (e !== FAULT) throw e;
        const second = this.excVector;
        const prev = first >= 0 ? first : v;
        if (v === VEC.DF) return false; // fault while delivering #DF: triple fault
        const benign = (x: number) => !((CONTRIBUTORY >> x) & 1) && x !== VEC.PF;
        first = prev;
        if ((((CONTRIBUTORY >> prev) & 1) && ((CONTRIBUTORY >> second) & 1)) || (prev === VEC.PF && (((CONTRIBUTORY >> second) & 1) || second === VEC.PF))) {
          v = VEC.DF;
          hc = true;
          c = 0;
        } else if (benign(prev) || benign(second) || true) {
          v = second;
          hc = this.excHasCode;
          c = this.excCode;
        }
        if (v === VEC.PF) this.s.cr2 = BigInt.asUintN(64, BigInt(this.excAddr));
        isSoft = false;
        ip = this.s.rip;
      }
    }
    return false;
  }

  private deliverOnce(vec: number, hasCode: boolean, code: number, soft: boolean, pushIp: number): void {
    const s = this.s;
    if (!this.pe) {
      // Real mode: IVT entry (offset:segment) at IDTR.base + vec * 4.
      if (vec * 4 + 3 > s.idt.limit) this.gp(0);
      const ent = this.readLin((s.idt.base + vec * 4) >>> 0, 4, true);
      const flags = this.getFlags();
      this.push(2, flags);
      this.push(2, s.seg[CS]!.selector);
      this.push(2, pushIp);
      s.rflags = (flags & ~(FLAG.IF | FLAG.TF | FLAG.AC | FLAG.RF)) >>> 0;
      this.loadRealSeg(CS, ent >>> 16);
      s.rip = ent & 0xffff;
      this.updateMode();
      return;
    }
    const lma = (s.efer & EFER.LMA) !== 0;
    const gateSize = lma ? 16 : 8;
    const extCode = (soft ? 0 : 1);
    if (vec * gateSize + gateSize - 1 > s.idt.limit) this.gp(vec * 8 + 2 + extCode);
    const ga = s.idt.base + vec * gateSize;
    const glo = this.readLin(this.wrapLin(ga), 4, true) | 0;
    const ghi = this.readLin(this.wrapLin(ga + 4), 4, true) | 0;
    const gtype = (ghi >>> 8) & 31;
    const gdpl = (ghi >>> 13) & 3;
    const gp = (ghi >>> 15) & 1;
    const t = gtype & 15;
    const isTrap = t === 0xf || t === 0x7;
    if (!(t === 0xe || t === 0xf || (!lma && (t === 0x6 || t === 0x7 || t === 0x5)))) this.gp(vec * 8 + 2 + extCode);
    if (t === 0x5) throw EMULATION_FAILURE; // task gates: not emulated
    if (soft && gdpl < this.cpl) this.gp(vec * 8 + 2);
    if (!gp) this.raise(VEC.NP, vec * 8 + 2 + extCode);
    const sel = glo >>> 16;
    let offset = ((glo & 0xffff) | (ghi & 0xffff0000)) >>> 0;
    if (lma) {
      const up = this.readLin(this.wrapLin(ga + 8), 4, true) | 0;
      offset = up * 0x100000000 + offset;
    }
    if ((sel & ~3) === 0) this.gp(extCode);
    const { lo, hi } = this.readDescriptor(sel, VEC.GP);
    const ctype = (hi >>> 8) & 15;
    const cdpl = (hi >>> 13) & 3;
    if (!((hi >>> 12) & 1) || !(ctype & 8) || cdpl > this.cpl) this.gp((sel & 0xfffc) + extCode);
    if (!((hi >>> 15) & 1)) this.raise(VEC.NP, (sel & 0xfffc) + extCode);
    if (lma && !(((hi >>> 21) & 1) && !((hi >>> 22) & 1))) this.gp((sel & 0xfffc) + extCode);
    const conforming = (ctype & 4) !== 0;
    const newCpl = conforming ? this.cpl : cdpl;
    const flags = this.getFlags();
    const oldCs = s.seg[CS]!.selector;
    const oldSs = s.seg[SS]!.selector;
    const oldSp = this.regNum(4, lma ? 8 : 4);
    const is32 = lma || (t & 8) !== 0;
    const istSel = lma ? ghi & 7 : 0; // IST: bits 2:0 of the gate's second dword
    if (lma) {
      // 64-bit: stack switch to RSP0/ISTn from the TSS when CPL changes or IST is set.
      let newSp: number | null = null;
      if (istSel || newCpl < this.cpl) newSp = this.tssStack64(istSel ? 0x24 + (istSel - 1) * 8 : 4 + newCpl * 8);
      const sp = newSp !== null ? newSp : oldSp;
      const aligned = sp - (sp % 16);
      let nsp = aligned;
      const put = (v: number, vhi = 0) => {
        nsp -= 8;
        this.writeLin(nsp, 8, v | 0, vhi, true);
      };
      put(oldSs);
      put(oldSp % 0x100000000, Math.floor(oldSp / 0x100000000));
      put(flags);
      put(oldCs);
      put(pushIp % 0x100000000, Math.floor(pushIp / 0x100000000));
      if (hasCode) put(code);
      X86Cpu.fromDescriptor(s.seg[CS]!, (sel & 0xfffc) | newCpl, lo, hi);
      s.seg[CS]!.dpl = newCpl;
      if (newCpl !== this.cpl || newSp !== null) {
        if (newCpl !== this.cpl) {
          const ssg = s.seg[SS]!;
          ssg.selector = newCpl;
          ssg.unusable = 1;
          ssg.dpl = newCpl;
        }
      }
      this.setRegNum(4, 8, nsp);
      s.rip = offset;
    } else {
      let sp32: number;
      let ssSel: number;
      if (newCpl < this.cpl) {
        const r = this.tssStack32(newCpl);
        ssSel = r.ss;
        sp32 = r.sp;
        // Load SS for the inner level.
        const d = this.readDescriptor(ssSel, VEC.TS);
        X86Cpu.fromDescriptor(s.seg[SS]!, ssSel, d.lo, d.hi);
        const wsz = is32 ? 4 : 2;
        const ssb = s.seg[SS]!.db;
        let nsp = sp32;
        const put = (v: number) => {
          nsp = ssb ? (nsp - wsz) >>> 0 : (nsp - wsz) & 0xffff;
          this.writeLin((s.seg[SS]!.base + nsp) >>> 0, wsz, v, 0, true);
        };
        put(oldSs);
        put(oldSp);
        put(flags);
        put(oldCs);
        put(pushIp);
        if (hasCode) put(code);
        this.setRegNum(4, ssb ? 4 : 2, nsp);
      } else {
        const wsz = is32 ? 4 : 2;
        this.push(wsz, flags);
        this.push(wsz, oldCs);
        this.push(wsz, pushIp);
        if (hasCode) this.push(wsz, code);
      }
      X86Cpu.fromDescriptor(s.seg[CS]!, (sel & 0xfffc) | newCpl, lo, hi);
      s.seg[CS]!.dpl = newCpl;
      s.rip = is32 ? offset : offset & 0xffff;
    }
    s.rflags = (flags & ~(FLAG.TF | FLAG.NT | FLAG.RF | FLAG.VM | (isTrap ? 0 : FLAG.IF))) >>> 0;
    this.updateMode();
    if (newCpl !== this.cpl) this.invalidateSegsForCpl();
  }

  /** RSP0-2 / IST from the 64-bit TSS (offset in the TSS). */
  private tssStack64(off: number): number {
    const tr = this.s.seg[TR]!;
    if (off + 7 > tr.limit) this.raise(VEC.TS, tr.selector & 0xfffc);
    const lo = this.readLin(tr.base + off, 4, true);
    const hi = this.readLin(tr.base + off + 4, 4, true) | 0;
    return hi * 0x100000000 + (lo >>> 0);
  }

  /** SS:ESP for privilege level `cpl` from the 32-bit TSS. */
  private tssStack32(cpl: number): { ss: number; sp: number } {
    const tr = this.s.seg[TR]!;
    const off = 4 + cpl * 8;
    if (off + 5 > tr.limit) this.raise(VEC.TS, tr.selector & 0xfffc);
    const sp = this.readLin((tr.base + off) >>> 0, 4, true) >>> 0;
    const ss = this.readLin((tr.base + off + 4) >>> 0, 2, true);
    return { ss, sp };
  }
}

/** True for a canonical 48-bit address (as a JS number). */
export function isCanonical(lin: number): boolean {
  return lin >= -0x800000000000 && lin < 0x800000000000;
}

function wrapSp(v: number, size: number): number {
  if (size === 2) return v & 0xffff;
  if (size === 4) return v >>> 0;
  return v;
}
