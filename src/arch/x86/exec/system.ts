/**
 * x86 system instructions: MOV CR/DR, descriptor tables, LLDT/LTR, SLDT/STR/SMSW/LMSW/CLTS, INVLPG, VERR/VERW, LAR/LSL, CPUID, RDMSR/WRMSR, RDTSC(P), SYSCALL/SYSRET, SWAPGS, VMCALL/VMMCALL/TDCALL, XGETBV/XSETBV, fences and the #UD group.
 * @module
 */
import { VEC, isCanonical, type X86Cpu } from '../cpu.js';
import { K_REG, type Insn } from '../decoder.js';
import { FOp } from '../flags.js';
import { CR0, CR4, CS, EFER, FLAG, FS, GS, LDTR, SS, TR } from '../state.js';
import { fromDescriptor, readDescriptor, readDescriptorHigh } from '../deliver.js';
import { definer, ea, rd, wr, type Handler, type HandlerTable } from './operands.js';
import { validXcr0 } from './xsave.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const SYSTEM: HandlerTable = {};
const def = definer(SYSTEM);

function cpl0(c: X86Cpu): void {
  if (c.cpl !== 0) c.gp(0);
}

/** MOV to/from CRn (MOV's 0F 20/22 forms). */
export function movCr(c: X86Cpu, i: Insn): void {
  cpl0(c);
  const s = c.s;
  if (i.kind[1] === 5) {
    // MOV reg, CRn
    const n = i.reg[1]!;
    let v: bigint;
    switch (n) {
      case 0: v = BigInt(s.cr0 >>> 0); break;
      case 2: v = s.cr2; break;
      case 3: v = s.cr3; break;
      case 4: v = BigInt(s.cr4 >>> 0); break;
      case 8: v = BigInt(s.cr8); break;
      default: return c.ud();
    }
    if (!c.long64) v &= 0xffffffffn;
    c.setReg(i.reg[0]!, c.long64 ? 8 : 4, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
    return;
  }
  const n = i.reg[0]!;
  const lo = c.getReg(i.reg[1]!, c.long64 ? 8 : 4);
  const hi = c.long64 ? c.t1 : 0;
  const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  switch (n) {
    case 0: {
      if (v >> 32n) c.gp(0);
      let cr0 = Number(v) >>> 0;
      cr0 |= CR0.ET;
      if (cr0 & CR0.PG && !(cr0 & CR0.PE)) c.gp(0);
      if (cr0 & CR0.NW && !(cr0 & CR0.CD)) c.gp(0);
      if (c.kvmi !== null) cr0 = Number(c.kvmi.cr(0, BigInt(s.cr0 >>> 0), BigInt(cr0))) >>> 0; // [kvmi hook] KVMI_VCPU_EVENT_CR
      // Enabling paging with EFER.LME requires PAE and activates long mode.
      if (cr0 & CR0.PG && !(s.cr0 & CR0.PG) && s.efer & EFER.LME) {
        if (!(s.cr4 & CR4.PAE)) c.gp(0);
        if (s.seg[CS]!.l) c.gp(0);
        s.efer |= EFER.LMA;
      }
      if (!(cr0 & CR0.PG) && s.cr0 & CR0.PG && s.efer & EFER.LMA) {
        if (c.long64) c.gp(0);
        s.efer &= ~EFER.LMA;
      }
      s.cr0 = cr0;
      c.svc.paging(c);
      return;
    }
    case 2:
      s.cr2 = v;
      return;
    case 3:
      if (c.long64 && v >> 52n) c.gp(0);
      s.cr3 = c.kvmi !== null ? c.kvmi.cr(3, s.cr3, c.long64 ? v : v & 0xffffffffn) : c.long64 ? v : v & 0xffffffffn; // [kvmi hook]
      c.svc.paging(c);
      return;
    case 4: {
      const allowed = CR4.VME | CR4.PVI | CR4.TSD | CR4.DE | CR4.PSE | CR4.PAE | CR4.MCE | CR4.PGE | CR4.PCE | CR4.OSFXSR | CR4.OSXMMEXCPT | CR4.OSXSAVE | CR4.FSGSBASE;
      // Bits the guest CPUID does not enable are reserved too (kvm_is_valid_cr4).
      if (v & ~BigInt(allowed & ~c.svc.guestCaps().cr4Reserved)) c.gp(0);
      const cr4 = c.kvmi !== null ? Number(c.kvmi.cr(4, BigInt(s.cr4 >>> 0), v)) : Number(v); // [kvmi hook]
      if (s.efer & EFER.LMA && !(cr4 & CR4.PAE)) c.gp(0);
      s.cr4 = cr4;
      c.svc.paging(c);
      return;
    }
    case 8:
      if (v >> 4n) c.gp(0);
      s.cr8 = Number(v);
      return;
    default:
      c.ud();
  }
}

/** MOV to/from DRn (MOV's 0F 21/23 forms). */
export function movDr(c: X86Cpu, i: Insn): void {
  cpl0(c);
  const s = c.s;
  c.svc.drAccess(c, i);
  const toDr = i.kind[0] === 6;
  let n = toDr ? i.reg[0]! : i.reg[1]!;
  if (n === 4 || n === 5) {
    if (s.cr4 & CR4.DE) c.ud();
    n += 2;
  }
  if (n > 7) c.ud();
  if (toDr) {
    const lo = c.getReg(i.reg[1]!, c.long64 ? 8 : 4);
    const hi = c.long64 ? c.t1 : 0;
    const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    if (n < 4) s.db[n] = v;
    else if (n === 6) {
      if (v >> 32n) c.gp(0);
      s.dr6 = (v | 0xffff0ff0n) & 0xffffefffn | 0xffff0ff0n;
    } else {
      if (v >> 32n) c.gp(0);
      s.dr7 = (v & ~0x2000n | 0x400n) & 0xffffffffn;
    }
    c.svc.debugRegs(c);
  } else {
    const v = n < 4 ? s.db[n]! : n === 6 ? s.dr6 : s.dr7;
    c.setReg(i.reg[0]!, c.long64 ? 8 : 4, Number(v & 0xffffffffn) | 0, Number((v >> 32n) & 0xffffffffn) | 0);
  }
}

function descTable(load: boolean, idt: boolean): Handler {
  return (c, i) => {
    if (load) cpl0(c);
    if (c.kvmi !== null) c.kvmi.descriptor(idt ? 1 : 2, load); // [kvmi hook] KVMI_VCPU_EVENT_DESCRIPTOR (IDTR/GDTR)
    const s = c.s;
    const a = ea(c, i);
    const tbl = idt ? 'idt' : 'gdt';
    if (load) {
      const limit = c.read(i.seg, a, 2);
      let base: number;
      if (c.long64) {
        const lo = c.read(i.seg, a + 2, 8);
        base = c.t1 * 0x100000000 + (lo >>> 0);
        if (!isCanonical(base)) c.gp(0);
      } else {
        base = c.read(i.seg, i.asz === 2 ? (a + 2) & 0xffff : a + 2, 4) >>> 0;
        if (i.osz === 2) base &= 0xffffff;
      }
      s[tbl] = { base, baseRaw: BigInt.asUintN(64, BigInt(base)), limit };
    } else {
      if (s.cr4 & CR4.UMIP && c.cpl > 0) c.gp(0);
      const t = s[tbl];
      c.write(i.seg, a, 2, t.limit);
      if (c.long64) c.write(i.seg, a + 2, 8, Number(t.baseRaw & 0xffffffffn) | 0, Number(t.baseRaw >> 32n) | 0);
      else c.write(i.seg, a + 2, 4, Number(t.baseRaw & 0xffffffffn) | 0);
    }
  };
}
def('LGDT', descTable(true, false));
def('LIDT', descTable(true, true));
def('SGDT', descTable(false, false));
def('SIDT', descTable(false, true));

def('LLDT', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  cpl0(c);
  if (c.kvmi !== null) c.kvmi.descriptor(3, true); // [kvmi hook]
  const sel = rd(c, i, 0) & 0xffff;
  const s = c.s;
  const l = s.seg[LDTR]!;
  if ((sel & ~3) === 0) {
    l.selector = sel;
    l.unusable = 1;
    return;
  }
  if (sel & 4) c.gp(sel & 0xfffc);
  const { lo, hi } = readDescriptor(c, sel);
  if ((hi >>> 12) & 1 || ((hi >>> 8) & 15) !== 2) c.gp(sel & 0xfffc);
  if (!((hi >>> 15) & 1)) c.raise(VEC.NP, sel & 0xfffc);
  fromDescriptor(l, sel, lo, hi);
  if (c.long64) {
    const up = readDescriptorHigh(c, sel);
    l.base = up * 0x100000000 + l.base;
    l.baseRaw = BigInt.asUintN(64, BigInt(l.base));
  }
});

def('LTR', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  cpl0(c);
  if (c.kvmi !== null) c.kvmi.descriptor(4, true); // [kvmi hook]
  const sel = rd(c, i, 0) & 0xffff;
  const s = c.s;
  if ((sel & ~3) === 0 || sel & 4) c.gp(sel & 0xfffc);
  const { lo, hi } = readDescriptor(c, sel);
  const type = (hi >>> 8) & 15;
  if ((hi >>> 12) & 1 || (type !== 1 && type !== 9)) c.gp(sel & 0xfffc);
  if (!((hi >>> 15) & 1)) c.raise(VEC.NP, sel & 0xfffc);
  const t = s.seg[TR]!;
  fromDescriptor(t, sel, lo, hi | 0x200);
  if (c.long64) {
    const up = readDescriptorHigh(c, sel);
    t.base = up * 0x100000000 + t.base;
    t.baseRaw = BigInt.asUintN(64, BigInt(t.base));
  }
  // Mark the TSS busy in the GDT.
  c.writeLin(c.wrapLin(s.gdt.base + (sel & ~7) + 4), 4, hi | 0x200, 0, true);
});

def('SLDT', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  if (c.kvmi !== null) c.kvmi.descriptor(3, false); // [kvmi hook]
  wr(c, i, 0, c.s.seg[LDTR]!.selector);
});
def('STR', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  if (c.kvmi !== null) c.kvmi.descriptor(4, false); // [kvmi hook]
  wr(c, i, 0, c.s.seg[TR]!.selector);
});
def('SMSW', (c, i) => {
  const v = c.s.cr0;
  if (i.kind[0] === K_REG) c.setReg(i.reg[0]!, i.osz, i.osz === 2 ? v & 0xffff : v | 0);
  else c.write(i.seg, ea(c, i), 2, v & 0xffff);
});
def('LMSW', (c, i) => {
  cpl0(c);
  const v = rd(c, i, 0) & 0xf;
  const s = c.s;
  // LMSW can set PE but not clear it.
  const cr0 = ((s.cr0 & ~0xe) | (v & 0xe) | (s.cr0 & 1) | (v & 1)) >>> 0;
  s.cr0 = c.kvmi !== null ? Number(c.kvmi.cr(0, BigInt(s.cr0 >>> 0), BigInt(cr0))) >>> 0 : cr0; // [kvmi hook] (kvm_lmsw -> kvm_set_cr0)
  c.svc.paging(c);
});
def('CLTS', (c) => {
  cpl0(c);
  c.s.cr0 &= ~CR0.TS;
});
def('INVLPG', (c, i) => {
  cpl0(c);
  const a = ea(c, i);
  c.flushTlbPage(c.long64 ? (i.seg === FS || i.seg === GS ? c.s.seg[i.seg]!.base + a : a) : (c.s.seg[i.seg]!.base + a) >>> 0);
});
def('INVD', cpl0);
def('WBINVD', cpl0);

function verRw(write: boolean): Handler {
  return (c, i) => {
    if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
    const sel = rd(c, i, 0) & 0xffff;
    let ok = false;
    if (sel & ~3) {
      try {
        const { hi } = readDescriptor(c, sel);
        const type = (hi >>> 8) & 15;
        const dpl = (hi >>> 13) & 3;
        const code = (type & 8) !== 0;
        const conforming = code && (type & 4) !== 0;
        const privOk = conforming || (dpl >= c.cpl && dpl >= (sel & 3));
        ok = ((hi >>> 12) & 1) === 1 && privOk && (write ? !code && (type & 2) !== 0 : !code || (type & 2) !== 0);
      } catch {
        ok = false;
      }
    }
    c.setFlags(ok ? FLAG.ZF : 0, FLAG.ZF);
  };
}
def('VERR', verRw(false));
def('VERW', verRw(true));

function larLsl(lsl: boolean): Handler {
  return (c, i) => {
    if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
    const sel = rd(c, i, 1) & 0xffff;
    let ok = false;
    let lo = 0;
    let hi = 0;
    if (sel & ~3) {
      try {
        ({ lo, hi } = readDescriptor(c, sel));
        const type = (hi >>> 8) & 15;
        const sBit = (hi >>> 12) & 1;
        const dpl = (hi >>> 13) & 3;
        const conforming = sBit && (type & 0xc) === 0xc;
        const validSys = lsl ? [1, 2, 3, 9, 11].includes(type) : [1, 2, 3, 4, 5, 9, 11, 12].includes(type);
        ok = (sBit === 1 || (!c.long64 ? validSys : [2, 9, 11, 12].includes(type) && !lsl) || (lsl && [2, 9, 11].includes(type))) && (conforming || (dpl >= c.cpl && dpl >= (sel & 3)));
      } catch {
        ok = false;
      }
    }
    if (ok) {
      let v: number;
      if (lsl) {
        let limit = (lo & 0xffff) | (hi & 0xf0000);
        if (hi & 0x800000) limit = ((limit << 12) | 0xfff) >>> 0;
        v = limit;
      } else v = hi & 0x00ffff00;
      c.setReg(i.reg[0]!, i.osz, i.osz === 2 ? v & 0xffff : v);
    }
    c.setFlags(ok ? FLAG.ZF : 0, FLAG.ZF);
  };
}
def('LAR', larLsl(false));
def('LSL', larLsl(true));

const cpuidOut = new Int32Array(4);
def('CPUID', (c) => {
  c.svc.cpuid(c.getReg(0, 4), c.getReg(1, 4), cpuidOut);
  c.setReg(0, 4, cpuidOut[0]!);
  c.setReg(3, 4, cpuidOut[1]!);
  c.setReg(1, 4, cpuidOut[2]!);
  c.setReg(2, 4, cpuidOut[3]!);
});

def('RDMSR', (c) => {
  cpl0(c);
  const idx = c.getReg(1, 4);
  const v = c.svc.rdmsr(c, idx);
  if (v === undefined) return c.gp(0);
  c.setReg(0, 4, Number(v & 0xffffffffn) | 0);
  c.setReg(2, 4, Number((v >> 32n) & 0xffffffffn) | 0);
});

def('WRMSR', (c) => {
  cpl0(c);
  const idx = c.getReg(1, 4);
  const v = (BigInt(c.getReg(2, 4)) << 32n) | BigInt(c.getReg(0, 4));
  if (!c.svc.wrmsr(c, idx, v)) c.gp(0);
});

def('RDTSC', (c) => {
  if (c.s.cr4 & CR4.TSD && c.cpl !== 0) c.gp(0);
  const t = c.svc.rdtsc();
  c.setReg(0, 4, Number(t & 0xffffffffn) | 0);
  c.setReg(2, 4, Number((t >> 32n) & 0xffffffffn) | 0);
});

def('RDTSCP', (c) => {
  if (c.s.cr4 & CR4.TSD && c.cpl !== 0) c.gp(0);
  const t = c.svc.rdtsc();
  c.setReg(0, 4, Number(t & 0xffffffffn) | 0);
  c.setReg(2, 4, Number((t >> 32n) & 0xffffffffn) | 0);
  c.setReg(1, 4, Number(c.s.msrs.get(0xc0000103) ?? 0n) | 0);
});

def('RDPMC', (c) => c.gp(0));

def('SYSCALL', (c, i) => {
  const s = c.s;
  if (!(s.efer & EFER.SCE) || !(s.efer & EFER.LMA)) c.ud();
  const star = s.msrs.get(0xc0000081) ?? 0n;
  const lstar = s.msrs.get(0xc0000082) ?? 0n;
  const fmask = Number((s.msrs.get(0xc0000084) ?? 0n) & 0xffffffffn);
  const ret = c.next;
  c.setRegNum(1, 8, ret);
  const fl = c.getFlags();
  c.setReg(11, 8, (fl & ~FLAG.RF) | 0, 0);
  const sel = Number((star >> 32n) & 0xfffcn);
  const cs = s.seg[CS]!;
  Object.assign(cs, { selector: sel, base: 0, baseRaw: 0n, limit: 0xffffffff, type: 11, s: 1, dpl: 0, present: 1, l: c.long64 ? 1 : 0, db: c.long64 ? 0 : 1, g: 1, unusable: 0 });
  const ss = s.seg[SS]!;
  Object.assign(ss, { selector: sel + 8, base: 0, baseRaw: 0n, limit: 0xffffffff, type: 3, s: 1, dpl: 0, present: 1, l: 0, db: 1, g: 1, unusable: 0 });
  s.rflags = ((fl & ~fmask) & ~FLAG.RF) >>> 0 | FLAG.FIXED1;
  c.updateMode();
  c.next = c.long64 ? Number(BigInt.asIntN(64, lstar)) : Number(s.msrs.get(0xc0000083) ?? 0n) >>> 0;
  void i;
});

def('SYSRET', (c, i) => {
  const s = c.s;
  if (!(s.efer & EFER.SCE) || !(s.efer & EFER.LMA)) c.ud();
  if (c.cpl !== 0) c.gp(0);
  const star = s.msrs.get(0xc0000081) ?? 0n;
  const base = Number((star >> 48n) & 0xffffn);
  const to64 = i.osz === 8;
  const rip = to64 ? c.regNum(1, 8) : c.getReg(1, 4);
  if (to64 && !isCanonical(rip)) c.gp(0);
  const cs = s.seg[CS]!;
  Object.assign(cs, { selector: (to64 ? base + 16 : base) | 3, base: 0, baseRaw: 0n, limit: 0xffffffff, type: 11, s: 1, dpl: 3, present: 1, l: to64 ? 1 : 0, db: to64 ? 0 : 1, g: 1, unusable: 0 });
  const ss = s.seg[SS]!;
  // SS.DPL = 3; the selector's other attributes stay as they were (hidden state), as on Intel.
  Object.assign(ss, { selector: (base + 8) | 3, dpl: 3, type: 3, s: 1, present: 1, unusable: 0, db: 1, base: 0, baseRaw: 0n, limit: 0xffffffff, g: 1 });
  c.f.op = FOp.NONE;
  s.rflags = ((c.getReg(11, 4) & 0x3c7fd7) | FLAG.FIXED1) >>> 0;
  c.updateMode();
  c.next = rip;
});

/** A flat 4 GiB segment for SYSCALL/SYSRET/SYSENTER/SYSEXIT (the selector's hidden part as the SDM fixes it). */
function flat(c: X86Cpu, seg: number, selector: number, code: boolean, dpl: number, long: boolean): void {
  Object.assign(c.s.seg[seg]!, { selector, base: 0, baseRaw: 0n, limit: 0xffffffff, type: code ? 11 : 3, s: 1, dpl, present: 1, l: long ? 1 : 0, db: long ? 0 : 1, g: 1, unusable: 0 });
}

def('SYSENTER', (c) => {
  const s = c.s;
  const cs = Number(s.msrs.get(0x174) ?? 0n) & 0xffff;
  if (!c.pe || (cs & 0xfffc) === 0) c.gp(0);
  const lma = (s.efer & EFER.LMA) !== 0;
  s.rflags = (c.getFlags() & ~(FLAG.VM | FLAG.IF | FLAG.RF)) >>> 0;
  flat(c, CS, cs & 0xfffc, true, 0, lma);
  flat(c, SS, (cs & 0xfffc) + 8, false, 0, false);
  c.updateMode();
  const esp = Number(BigInt.asIntN(64, s.msrs.get(0x175) ?? 0n));
  const eip = Number(BigInt.asIntN(64, s.msrs.get(0x176) ?? 0n));
  c.setRegNum(4, 8, lma ? esp : esp >>> 0);
  c.next = lma ? eip : eip >>> 0;
});

def('SYSEXIT', (c, i) => {
  const s = c.s;
  const cs = Number(s.msrs.get(0x174) ?? 0n) & 0xffff;
  if (!c.pe || (cs & 0xfffc) === 0 || c.cpl !== 0) c.gp(0);
  const to64 = i.osz === 8;
  const rip = to64 ? c.regNum(2, 8) : c.getReg(2, 4);
  const rsp = to64 ? c.regNum(1, 8) : c.getReg(1, 4);
  if (to64 && (!isCanonical(rip) || !isCanonical(rsp))) c.gp(0);
  flat(c, CS, ((cs + (to64 ? 32 : 16)) & 0xfffc) | 3, true, 3, to64);
  flat(c, SS, ((cs + (to64 ? 40 : 24)) & 0xfffc) | 3, false, 3, false);
  c.updateMode();
  c.setRegNum(4, 8, rsp);
  c.next = rip;
});

def('SWAPGS', (c) => {
  cpl0(c);
  const s = c.s;
  const gs = s.seg[GS]!;
  const k = s.msrs.get(0xc0000102) ?? 0n;
  s.msrs.set(0xc0000102, gs.baseRaw);
  gs.baseRaw = k;
  gs.base = Number(BigInt.asIntN(64, k));
});

def('VMCALL', (c, i) => c.svc.hypercall(c, i));
def('VMMCALL', (c, i) => c.svc.hypercall(c, i));
def('TDCALL', (c, i) => c.svc.tdcall(c, i)); // [tdx hook]

def('XGETBV', (c) => {
  if (!(c.s.cr4 & CR4.OSXSAVE)) c.ud();
  if (c.getReg(1, 4) !== 0) c.gp(0);
  const v = c.s.xcr0;
  c.setReg(0, 4, Number(v & 0xffffffffn) | 0);
  c.setReg(2, 4, Number(v >> 32n) | 0);
});

def('XSETBV', (c) => {
  if (!(c.s.cr4 & CR4.OSXSAVE)) c.ud();
  cpl0(c);
  const v = (BigInt(c.getReg(2, 4)) << 32n) | BigInt(c.getReg(0, 4));
  // __kvm_set_xcr: XCR0 only, x87 kept, within what the guest CPUID enables.
  if (c.getReg(1, 4) !== 0 || !validXcr0(v, c.svc.guestCaps().xcr0)) c.gp(0);
  if (c.kvmi !== null) c.kvmi.xsetbv(0, c.s.xcr0, v); // [kvmi hook] KVMI_VCPU_EVENT_XSETBV
  c.s.xcr0 = v;
});

def('UD0', (c) => c.ud());
def('UD1', (c) => c.ud());
def('UD2', (c) => c.ud());
def('LFENCE', () => {});
def('MFENCE', () => {});
def('SFENCE', () => {});
def('CLFLUSH', (c, i) => {
  c.read(i.seg, ea(c, i), 1);
});
