/**
 * Moving an arm64 vCPU between threads (exportVcpu / attachVcpu, src/kernel/smp.ts): its state
 * as structured-cloneable data and back. Only architectural state and what the next KVM_RUN
 * must complete travel; caches (TLBs, decoded and translated blocks) are rebuilt where it lands.
 * @module
 */
import type { Vcpu } from '../../kernel/vcpu.js';
import type { Vm } from '../../kernel/vm.js';
import { Cpu, type Arm64Vcpu, type Arm64VmState } from './cpu.js';
import { mpidrFor } from './sysregs.js';
import { ARM64_HOT } from './state.js';

/** Fields of the Cpu (Arm64State and the run-time state around it) that travel. */
const CPU_FIELDS = [
  // Arm64State: the register arrays (x, spBank, elr, sysLo/sysHi, vr) as one copy of `hot`
  'hot', 'pc', 'el', 'spSel', 'n', 'z', 'c', 'v', 'daif', 'ss', 'il', 'spsrEl1', 'spsr32', 'fpsr', 'fpcr',
  'userGen', 'psciVersion',
  // Cpu: the timers' output levels, the exit being completed, software-step bookkeeping, WFI, counters
  'timerLevel', 'pending', 'pendingRt', 'pendingLen', 'pendingSse', 'pendingSf', 'stepping', 'ssIsv', 'ssEx', 'blocked',
  'insnPc', 'insn', 'retired',
] as const;

interface SavedArm64Vcpu {
  readonly features: number | null;
  readonly hasRun: boolean;
  readonly host: { control: number; bcr: Int32Array; bvr: Int32Array; wcr: Int32Array; wvr: Int32Array };
  readonly cpu: Record<string, unknown>;
  readonly mdscrEff: number;
  readonly steal: { base: number; lastSteal: number };
}

/** Copies `src` into `dst` field by field: typed arrays and arrays in place, scalars by value. */
function put(dst: Record<string, unknown>, key: string, v: unknown): void {
  const cur = dst[key];
  if (ArrayBuffer.isView(cur) && !(cur instanceof DataView)) (cur as Int32Array).set(v as Int32Array);
  else if (Array.isArray(cur)) cur.splice(0, cur.length, ...(v as unknown[]));
  else dst[key] = v;
}

export function saveArm64Vcpu(vcpu: Vcpu): SavedArm64Vcpu {
  const a = vcpu.archState as Arm64Vcpu;
  const c = a.cpu as unknown as Record<string, unknown>;
  // The wasm engine keeps the register file in its control area (wasm-engine.ts): back into `hot`.
  const x = a.cpu.x;
  if (x.buffer !== a.cpu.hot.buffer) new Int32Array(a.cpu.hot.buffer, ARM64_HOT.offsetOf('x'), x.length).set(x);
  const cpu: Record<string, unknown> = {};
  for (const k of CPU_FIELDS) cpu[k] = structuredClone(c[k]);
  const h = a.host;
  return {
    features: a.features,
    hasRun: a.hasRun,
    host: { control: h.control, bcr: h.bcr.slice(), bvr: h.bvr.slice(), wcr: h.wcr.slice(), wvr: h.wvr.slice() },
    cpu,
    mdscrEff: a.cpu.mdscrEff,
    steal: { ...a.steal },
  };
}

export function loadArm64Vcpu(vcpu: Vcpu, state: unknown): void {
  const st = state as SavedArm64Vcpu;
  const a = vcpu.archState as Arm64Vcpu;
  a.features = st.features;
  // mp_state lives in the VM's shared words (another vCPU may have powered this one on meanwhile).
  a.hasRun = st.hasRun;
  Object.assign(a.steal, st.steal);
  const h = a.host;
  h.control = st.host.control;
  h.bcr.set(st.host.bcr);
  h.bvr.set(st.host.bvr);
  h.wcr.set(st.host.wcr);
  h.wvr.set(st.host.wvr);
  // A fresh Cpu: empty TLBs, no translated code, the exclusive monitor cleared (as a context
  // switch may clear it).
  const c = new Cpu(vcpu, h, mpidrFor(vcpu.id));
  const d = c as unknown as Record<string, unknown>;
  for (const k of CPU_FIELDS) put(d, k, st.cpu[k]);
  c.syncAll();
  c.syncedGen = c.userGen;
  c.mdscrEff = st.mdscrEff;
  c.updateAttn();
  a.cpu = c;
}

export function saveArm64Vm(vm: Vm): Arm64VmState {
  return { ...(vm.archState as Arm64VmState) };
}

export function loadArm64Vm(vm: Vm, state: unknown): void {
  Object.assign(vm.archState as Arm64VmState, state as Arm64VmState);
}
