/**
 * Segmentation and event delivery on x86: segment-register loads with the architectural checks
 * (real/V86 and protected mode, GDT/LDT descriptors, accessed bits, CPL changes), and the
 * delivery of exceptions, external interrupts and software interrupts through the IVT or IDT
 * (gates, stack switches from the TSS, IST) with the double- and triple-fault rules.
 * @module
 */
import type { X86Cpu } from './cpu.js';
import { CONTRIBUTORY, EMULATION_FAILURE, FAULT, FAULT_CLASS, VEC } from './faults.js';
import { CS, DS, EFER, ES, FLAG, FS, GS, LDTR, SS, TR, type Segment } from './state.js';

// ---------------------------------------------------------------------------------------------
// Segment registers

/** Loads a segment register in real/V86 mode (base = selector * 16). */
export function loadRealSeg(c: X86Cpu, seg: number, sel: number): void {
  const sg = c.s.seg[seg]!;
  sg.selector = sel & 0xffff;
  sg.base = (sel & 0xffff) * 16;
  sg.baseRaw = BigInt(sg.base);
  if (c.s.rflags & FLAG.VM) {
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
  if (seg === CS || seg === SS) c.updateMode();
}

/** Reads the 8-byte descriptor for `sel` from the GDT or LDT (#GP(sel) beyond the limit). */
export function readDescriptor(c: X86Cpu, sel: number, errVec: number = VEC.GP): { lo: number; hi: number } {
  const s = c.s;
  const idx = sel & ~7;
  const ti = sel & 4;
  const table = ti ? s.seg[LDTR]! : { base: s.gdt.base, limit: s.gdt.limit, unusable: 0 };
  if (ti && (table as Segment).unusable) c.raise(errVec, sel & 0xfffc);
  if (idx + 7 > table.limit) c.raise(errVec, sel & 0xfffc);
  const lo = c.readLin(c.wrapLin(table.base + idx), 4, true) | 0;
  const hi = c.readLin(c.wrapLin(table.base + idx + 4), 4, true) | 0;
  return { lo, hi };
}

/** Base of a descriptor's 16-byte system form in long mode (TSS/LDT, call gates): upper dword. */
export function readDescriptorHigh(c: X86Cpu, sel: number): number {
  const s = c.s;
  const idx = (sel & ~7) + 8;
  if (idx + 7 > s.gdt.limit) c.gp(sel & 0xfffc);
  return c.readLin(c.wrapLin(s.gdt.base + idx), 4, true) | 0;
}

/** Fills a segment cache from descriptor words. */
export function fromDescriptor(sg: Segment, sel: number, lo: number, hi: number): void {
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
function markAccessed(c: X86Cpu, sel: number, hi: number): void {
  if (hi & 0x100) return;
  const s = c.s;
  const base = sel & 4 ? s.seg[LDTR]!.base : s.gdt.base;
  c.writeLin(c.wrapLin(base + (sel & ~7) + 4), 4, hi | 0x100, 0, true);
}

/** MOV/POP to a data segment register (or SS) in protected mode, with the architectural checks. */
export function loadSeg(c: X86Cpu, seg: number, sel: number, cpl = c.cpl): void {
  const s = c.s;
  sel &= 0xffff;
  if (!c.pe || s.rflags & FLAG.VM) return loadRealSeg(c, seg, sel);
  const sg = s.seg[seg]!;
  const rpl = sel & 3;
  if ((sel & ~3) === 0) {
    // Null selector: fine for data segments (unusable), #GP for SS outside 64-bit CPL<3 rules.
    if (seg === SS && !(c.long64 && cpl !== 3 && rpl === cpl)) c.gp(0);
    sg.selector = sel;
    sg.unusable = 1;
    sg.present = 0;
    if (c.long64) {
      // 64-bit mode keeps FS/GS bases (loaded from MSRs); a null load clears base here as on Intel.
      if (seg !== FS && seg !== GS) sg.base = 0;
    } else sg.base = 0;
    sg.baseRaw = BigInt(sg.base);
    if (seg === SS) c.updateMode();
    return;
  }
  const { lo, hi } = readDescriptor(c, sel);
  const type = (hi >>> 8) & 15;
  const dpl = (hi >>> 13) & 3;
  const sBit = (hi >>> 12) & 1;
  const present = (hi >>> 15) & 1;
  if (seg === SS) {
    // Writable data segment with RPL == DPL == CPL.
    if (!sBit || type & 8 || !(type & 2) || rpl !== cpl || dpl !== cpl) c.gp(sel & 0xfffc);
    if (!present) c.raise(VEC.SS, sel & 0xfffc);
  } else {
    // Data or readable code; for data and non-conforming code DPL >= max(CPL, RPL).
    if (!sBit || (type & 0xa) === 8) c.gp(sel & 0xfffc);
    const conformingCode = (type & 0xc) === 0xc;
    if (!conformingCode && dpl < Math.max(cpl, rpl)) c.gp(sel & 0xfffc);
    if (!present) c.raise(VEC.NP, sel & 0xfffc);
  }
  markAccessed(c, sel, hi);
  fromDescriptor(sg, sel, lo, hi | 0x100);
  if (seg === SS) c.updateMode();
}

/** Loads CS for a far transfer to a code segment (no gates); returns nothing, updates mode. */
export function loadCs(c: X86Cpu, sel: number, cpl: number): void {
  const s = c.s;
  if (!c.pe || s.rflags & FLAG.VM) {
    loadRealSeg(c, CS, sel);
    return;
  }
  if ((sel & ~3) === 0) c.gp(0);
  const { lo, hi } = readDescriptor(c, sel);
  const type = (hi >>> 8) & 15;
  const dpl = (hi >>> 13) & 3;
  if (!((hi >>> 12) & 1) || !(type & 8)) throw EMULATION_FAILURE; // gates / TSS: not emulated
  const conforming = (type & 4) !== 0;
  if (conforming ? dpl > cpl : dpl !== cpl) c.gp(sel & 0xfffc);
  if (!((hi >>> 15) & 1)) c.raise(VEC.NP, sel & 0xfffc);
  if ((s.efer & EFER.LMA) && (hi >>> 21) & 1 && (hi >>> 22) & 1) c.gp(sel & 0xfffc); // L and D both set
  markAccessed(c, sel, hi);
  fromDescriptor(s.seg[CS]!, (sel & 0xfffc) | cpl, lo, hi | 0x100);
  s.seg[CS]!.dpl = conforming ? s.seg[CS]!.dpl : cpl;
  c.updateMode();
}

/** CPL changes (far returns, interrupts): data segments with DPL < CPL become null. */
export function invalidateSegsForCpl(c: X86Cpu): void {
  for (const seg of [ES, DS, FS, GS]) {
    const sg = c.s.seg[seg]!;
    const conformingCode = (sg.type & 0xc) === 0xc;
    if (!sg.unusable && (sg.type & 8) === 0 ? sg.dpl < c.cpl : !conformingCode && sg.dpl < c.cpl) {
      if (!sg.unusable) {
        sg.selector = 0;
        sg.unusable = 1;
        sg.present = 0;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Exception and interrupt delivery

/**
 * Delivers vector `vec` (exception, external interrupt or INT n) through the IVT or IDT, with
 * the double/triple fault rules. `soft` is INT n/INT3/INTO (privilege check against the gate DPL);
 * `next` is the RIP to push for traps and software interrupts.
 * Returns false on a triple fault (shutdown).
 */
export function deliver(c: X86Cpu, vec: number, hasCode: boolean, code: number, soft: boolean, pushIp: number): boolean {
  let v = vec;
  let hc = hasCode;
  let ec = code;
  let ip = pushIp;
  let isSoft = soft;
  let first = -1;
  // Like KVM's inject_pending_event: a fault-class exception sets RF before it is injected, so
  // the image pushed for the handler has RF=1 (and a triple fault leaves it set).
  if (!soft && vec < 32 && ((FAULT_CLASS >> vec) & 1)) c.s.rflags |= FLAG.RF;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      deliverOnce(c, v, hc, ec, isSoft, ip);
      return true;
    } catch (e) {
      if (e !== FAULT) throw e;
      const second = c.excVector;
      const prev = first >= 0 ? first : v;
      if (v === VEC.DF) return false; // fault while delivering #DF: triple fault
      const benign = (x: number) => !((CONTRIBUTORY >> x) & 1) && x !== VEC.PF;
      first = prev;
      if ((((CONTRIBUTORY >> prev) & 1) && ((CONTRIBUTORY >> second) & 1)) || (prev === VEC.PF && (((CONTRIBUTORY >> second) & 1) || second === VEC.PF))) {
        v = VEC.DF;
        hc = true;
        ec = 0;
      } else if (benign(prev) || benign(second) || true) {
        v = second;
        hc = c.excHasCode;
        ec = c.excCode;
      }
      if (v === VEC.PF) c.s.cr2 = BigInt.asUintN(64, BigInt(c.excAddr));
      isSoft = false;
      ip = c.s.rip;
    }
  }
  return false;
}

function deliverOnce(c: X86Cpu, vec: number, hasCode: boolean, code: number, soft: boolean, pushIp: number): void {
  const s = c.s;
  if (!c.pe) {
    // Real mode: IVT entry (offset:segment) at IDTR.base + vec * 4.
    if (vec * 4 + 3 > s.idt.limit) c.gp(0);
    const ent = c.readLin((s.idt.base + vec * 4) >>> 0, 4, true);
    const flags = c.getFlags();
    c.push(2, flags);
    c.push(2, s.seg[CS]!.selector);
    c.push(2, pushIp);
    s.rflags = (flags & ~(FLAG.IF | FLAG.TF | FLAG.AC | FLAG.RF)) >>> 0;
    loadRealSeg(c, CS, ent >>> 16);
    s.rip = ent & 0xffff;
    c.updateMode();
    return;
  }
  const lma = (s.efer & EFER.LMA) !== 0;
  const gateSize = lma ? 16 : 8;
  const extCode = (soft ? 0 : 1);
  if (vec * gateSize + gateSize - 1 > s.idt.limit) c.gp(vec * 8 + 2 + extCode);
  const ga = s.idt.base + vec * gateSize;
  const glo = c.readLin(c.wrapLin(ga), 4, true) | 0;
  const ghi = c.readLin(c.wrapLin(ga + 4), 4, true) | 0;
  const gtype = (ghi >>> 8) & 31;
  const gdpl = (ghi >>> 13) & 3;
  const gp = (ghi >>> 15) & 1;
  const t = gtype & 15;
  const isTrap = t === 0xf || t === 0x7;
  if (!(t === 0xe || t === 0xf || (!lma && (t === 0x6 || t === 0x7 || t === 0x5)))) c.gp(vec * 8 + 2 + extCode);
  if (t === 0x5) throw EMULATION_FAILURE; // task gates: not emulated
  if (soft && gdpl < c.cpl) c.gp(vec * 8 + 2);
  if (!gp) c.raise(VEC.NP, vec * 8 + 2 + extCode);
  const sel = glo >>> 16;
  let offset = ((glo & 0xffff) | (ghi & 0xffff0000)) >>> 0;
  if (lma) {
    const up = c.readLin(c.wrapLin(ga + 8), 4, true) | 0;
    offset = up * 0x100000000 + offset;
  }
  if ((sel & ~3) === 0) c.gp(extCode);
  const { lo, hi } = readDescriptor(c, sel, VEC.GP);
  const ctype = (hi >>> 8) & 15;
  const cdpl = (hi >>> 13) & 3;
  if (!((hi >>> 12) & 1) || !(ctype & 8) || cdpl > c.cpl) c.gp((sel & 0xfffc) + extCode);
  if (!((hi >>> 15) & 1)) c.raise(VEC.NP, (sel & 0xfffc) + extCode);
  if (lma && !(((hi >>> 21) & 1) && !((hi >>> 22) & 1))) c.gp((sel & 0xfffc) + extCode);
  const conforming = (ctype & 4) !== 0;
  const newCpl = conforming ? c.cpl : cdpl;
  const flags = c.getFlags();
  const oldCs = s.seg[CS]!.selector;
  const oldSs = s.seg[SS]!.selector;
  const oldSp = c.regNum(4, lma ? 8 : 4);
  const is32 = lma || (t & 8) !== 0;
  const istSel = lma ? ghi & 7 : 0; // IST: bits 2:0 of the gate's second dword
  if (lma) {
    // 64-bit: stack switch to RSP0/ISTn from the TSS when CPL changes or IST is set.
    let newSp: number | null = null;
    if (istSel || newCpl < c.cpl) newSp = tssStack64(c, istSel ? 0x24 + (istSel - 1) * 8 : 4 + newCpl * 8);
    const sp = newSp !== null ? newSp : oldSp;
    // Aligned down to 16 (a kernel-half RSP is a negative number: % would round it up).
    const aligned = sp - (((sp % 16) + 16) % 16);
    let nsp = aligned;
    const put = (v: number, vhi = 0) => {
      nsp -= 8;
      c.writeLin(nsp, 8, v | 0, vhi, true);
    };
    put(oldSs);
    put(oldSp % 0x100000000, Math.floor(oldSp / 0x100000000));
    put(flags);
    put(oldCs);
    put(pushIp % 0x100000000, Math.floor(pushIp / 0x100000000));
    if (hasCode) put(code);
    fromDescriptor(s.seg[CS]!, (sel & 0xfffc) | newCpl, lo, hi);
    s.seg[CS]!.dpl = newCpl;
    if (newCpl !== c.cpl || newSp !== null) {
      if (newCpl !== c.cpl) {
        const ssg = s.seg[SS]!;
        ssg.selector = newCpl;
        ssg.unusable = 1;
        ssg.dpl = newCpl;
      }
    }
    c.setRegNum(4, 8, nsp);
    s.rip = offset;
  } else {
    let sp32: number;
    let ssSel: number;
    if (newCpl < c.cpl) {
      const r = tssStack32(c, newCpl);
      ssSel = r.ss;
      sp32 = r.sp;
      // Load SS for the inner level.
      const d = readDescriptor(c, ssSel, VEC.TS);
      fromDescriptor(s.seg[SS]!, ssSel, d.lo, d.hi);
      const wsz = is32 ? 4 : 2;
      const ssb = s.seg[SS]!.db;
      let nsp = sp32;
      const put = (v: number) => {
        nsp = ssb ? (nsp - wsz) >>> 0 : (nsp - wsz) & 0xffff;
        c.writeLin((s.seg[SS]!.base + nsp) >>> 0, wsz, v, 0, true);
      };
      put(oldSs);
      put(oldSp);
      put(flags);
      put(oldCs);
      put(pushIp);
      if (hasCode) put(code);
      c.setRegNum(4, ssb ? 4 : 2, nsp);
    } else {
      const wsz = is32 ? 4 : 2;
      c.push(wsz, flags);
      c.push(wsz, oldCs);
      c.push(wsz, pushIp);
      if (hasCode) c.push(wsz, code);
    }
    fromDescriptor(s.seg[CS]!, (sel & 0xfffc) | newCpl, lo, hi);
    s.seg[CS]!.dpl = newCpl;
    s.rip = is32 ? offset : offset & 0xffff;
  }
  s.rflags = (flags & ~(FLAG.TF | FLAG.NT | FLAG.RF | FLAG.VM | (isTrap ? 0 : FLAG.IF))) >>> 0;
  c.updateMode();
  if (newCpl !== c.cpl) invalidateSegsForCpl(c);
}

/** RSP0-2 / IST from the 64-bit TSS (offset in the TSS). */
function tssStack64(c: X86Cpu, off: number): number {
  const tr = c.s.seg[TR]!;
  if (off + 7 > tr.limit) c.raise(VEC.TS, tr.selector & 0xfffc);
  const lo = c.readLin(tr.base + off, 4, true);
  const hi = c.readLin(tr.base + off + 4, 4, true) | 0;
  return hi * 0x100000000 + (lo >>> 0);
}

/** SS:ESP for privilege level `cpl` from the 32-bit TSS. */
function tssStack32(c: X86Cpu, cpl: number): { ss: number; sp: number } {
  const tr = c.s.seg[TR]!;
  const off = 4 + cpl * 8;
  if (off + 5 > tr.limit) c.raise(VEC.TS, tr.selector & 0xfffc);
  const sp = c.readLin((tr.base + off) >>> 0, 4, true) >>> 0;
  const ss = c.readLin((tr.base + off + 4) >>> 0, 2, true);
  return { ss, sp };
}
