/**
 * kvm-hello.c written against vkvm's typed API: the same VMM, step for step, so the C program
 * run through the shim (`vkvm exec`) and this one run in-process must print the same bytes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm, type Sys } from '../../../src/index.js';

export type HelloMode = 'r' | 's' | 'p' | 'l';
export const MODES: readonly HelloMode[] = ['r', 's', 'p', 'l'];
export const MODE_NAME: Record<HelloMode, string> = { r: 'real', s: 'protected', p: 'paged', l: 'long' };
/** The guest image each mode runs (kvm-hello -r uses guest16.bin, ...). */
export const GUEST: Record<HelloMode, string> = { r: 'guest16.bin', s: 'guest32.bin', p: 'guest32.bin', l: 'guest64.bin' };
export const HELLO_DIR = join(__dirname);

const MEM_SIZE = 0x200000;
const PT_BASE = 0x100000;
const HELLO_PORT = 0xe9;
const CR0_PE = 1n;
const CR0_PG = 1n << 31n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const EFER_LME = 1n << 8n;
const EFER_LMA = 1n << 10n;
const PDE = 1 | 2 | 4; // present, writable, user
const PDE_PS = 1 << 7;

function flat(longMode: boolean) {
  const code = { base: 0n, limit: 0xffffffff, selector: 8, type: 11, present: 1, dpl: 0, db: longMode ? 0 : 1, s: 1, l: longMode ? 1 : 0, g: 1, avl: 0, unusable: 0 };
  const data = { ...code, type: 3, selector: 16, l: 0, db: 1 };
  return { cs: code, ds: data, es: data, fs: data, gs: data, ss: data };
}

/** Runs the guest of `mode` on `sys`; returns what kvm-hello prints to stdout and its exit status. */
export function runHello(sys: Sys, mode: HelloMode): { out: string; status: number } {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = sys.alloc(MEM_SIZE);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0, memorySize: MEM_SIZE, userspaceAddr: ram.hva });
  ram.bytes.set(readFileSync(join(HELLO_DIR, GUEST[mode])).subarray(0, PT_BASE));
  const vcpu = vm.createVcpu(0);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset);
  switch (mode) {
    case 'r':
      vcpu.setSregs({ cs: { selector: 0, base: 0n } });
      break;
    case 's': {
      const s = vcpu.getSregs();
      vcpu.setSregs({ ...flat(false), cr0: s.cr0 | CR0_PE });
      break;
    }
    case 'p': {
      dv.setUint32(PT_BASE, PDE | PDE_PS, true);
      const s = vcpu.getSregs();
      vcpu.setSregs({ ...flat(false), cr3: BigInt(PT_BASE), cr4: s.cr4 | CR4_PSE, cr0: s.cr0 | CR0_PE | CR0_PG });
      break;
    }
    case 'l': {
      dv.setBigUint64(PT_BASE, BigInt(PT_BASE + 0x1000 + PDE), true);
      dv.setBigUint64(PT_BASE + 0x1000, BigInt(PT_BASE + 0x2000 + PDE), true);
      dv.setBigUint64(PT_BASE + 0x2000, BigInt(PDE | PDE_PS), true);
      const s = vcpu.getSregs();
      vcpu.setSregs({ ...flat(true), cr3: BigInt(PT_BASE), cr4: s.cr4 | CR4_PAE, cr0: s.cr0 | CR0_PE | CR0_PG, efer: s.efer | EFER_LME | EFER_LMA });
      break;
    }
  }
  vcpu.setRegs({ rflags: 2n, rip: 0n, rsp: mode === 'r' ? 0xfffen : BigInt(MEM_SIZE) });

  let out = '';
  let exits = 0;
  let io = 0;
  for (;;) {
    const e = vcpu.run();
    exits++;
    if (e.reason === 'hlt') break;
    if (e.reason === 'io' && e.direction === 'out' && e.port === HELLO_PORT && e.size === 1) {
      out += Buffer.from(e.data).toString('latin1');
      io++;
      continue;
    }
    return { out, status: 3 };
  }
  const r = vcpu.getRegs();
  const v400 = dv.getUint32(0x400, true);
  const v404 = dv.getUint32(0x404, true);
  out += `${MODE_NAME[mode]} mode: HLT after ${exits} exits (${io} IO) rax=${r.rax} rip=0x${r.rip.toString(16)} mem[0x400]=${v400} mem[0x404]=${v404}\n`;
  vm.close();
  kvm.close();
  return { out, status: r.rax === 42n && v400 === 42 ? 0 : 4 };
}
