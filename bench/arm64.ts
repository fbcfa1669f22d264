/**
 * arm64 interpreter speed: the freestanding workload of test/guests/arm64/bench (sieve, CRC-32,
 * insertion sort; the research notes' Appendix A) run bare-metal at EL1 through the KVM API,
 * exactly as a VMM would run it, until PSCI SYSTEM_OFF. Guest instructions are the vCPU's own
 * retired count; time is net of a ROUNDS = 0 run (VM creation, first decode).
 *
 *   npx tsx bench/arm64.ts [rounds=4] [--json]
 *
 * Prints MIPS (and JSON with --json) for `npm run bench` to collect.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kvm, virtualSys, type Sys } from '../src/index.js';
import { coreRegId, KVM_ARM_VCPU } from '../src/uapi/arm64.js';

const HERE = resolve(fileURLToPath(import.meta.url), '..');
const IMAGE = resolve(HERE, '../test/guests/arm64/bench/work.bin');
const RAM_BASE = 0x4000_0000;
const RAM_SIZE = 0x10_0000;
/** Result of the workload for 40 rounds (research notes, §5 / Appendix A). */
const CHECK_40 = 0xc5fda7f7;

export interface Arm64BenchResult {
  readonly bench: 'arm64';
  readonly workload: string;
  readonly rounds: number;
  readonly result: number;
  readonly instructions: number;
  readonly seconds: number;
  readonly mips: number;
}

/** Retired instructions of vCPU `fd` (white-box: the virtual kernel's vCPU state). */
function retired(sys: Sys, fd: number): number {
  const kernel = (sys as unknown as { kernel: { file(fd: number): { kind: string; vcpu?: { archState: { cpu: { retired: number } } } } | undefined } }).kernel;
  return kernel.file(fd)?.vcpu?.archState.cpu.retired ?? 0;
}

function runOnce(rounds: number): { result: number; instructions: number; seconds: number } {
  const sys = virtualSys({ arch: 'arm64' });
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM_SIZE);
  ram.bytes.set(new Uint8Array(readFileSync(IMAGE)), 0);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM_BASE, memorySize: RAM_SIZE, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  vcpu.armInit([KVM_ARM_VCPU.PSCI_0_2]);
  vcpu.setOneReg(coreRegId('regs.pc'), RAM_BASE);
  vcpu.setOneReg(coreRegId('regs.regs'), rounds);
  const t0 = process.hrtime.bigint();
  for (;;) {
    let e;
    try {
      e = vcpu.run();
    } catch (err) {
      if ((err as { code?: string }).code === 'EINTR') continue; // the run budget: just re-enter
      throw err;
    }
    if (e.reason === 'system_event') break;
    throw new Error(`unexpected exit ${e.reason}`);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const result = Number(vcpu.getOneReg(coreRegId('regs.regs') + 8n) & 0xffffffffn); // x4
  return { result, instructions: retired(sys, vcpu.fd), seconds };
}

export function benchArm64(rounds = 4): Arm64BenchResult {
  const base = runOnce(0);
  const run = runOnce(rounds);
  const instructions = run.instructions - base.instructions;
  const seconds = Math.max(1e-9, run.seconds - base.seconds);
  return { bench: 'arm64', workload: 'sieve+crc32+sort (Appendix A)', rounds, result: run.result, instructions, seconds, mips: instructions / seconds / 1e6 };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rounds = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 4);
  const r = benchArm64(rounds);
  if (rounds === 40 && r.result !== CHECK_40) throw new Error(`workload result 0x${r.result.toString(16)}, expected 0x${CHECK_40.toString(16)}`);
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else console.log(`arm64: ${r.rounds} rounds, ${(r.instructions / 1e6).toFixed(1)} M instructions in ${r.seconds.toFixed(2)} s: ${r.mips.toFixed(1)} MIPS (result 0x${r.result.toString(16)})`);
}
