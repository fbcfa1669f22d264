import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { it } from 'vitest';
import { armMachine, GUEST_DIR } from '../arm64/helpers.js';
import { runToExit } from '../helpers/run.js';
it('dbg', () => {
  const code = readFileSync(resolve(GUEST_DIR, 'groups/ldst.bin'));
  const m = armMachine(new Uint8Array(code));
  const e = runToExit(m.vcpu);
  const k = (m.sys as any).kernel;
  const cpu = k.file(m.vcpu.fd).vcpu.archState.cpu;
  console.log(e.reason, cpu.internalError, cpu.pc.toString(16));
});
