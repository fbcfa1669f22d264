import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The files that take longest, longest first (measured: README, Testing). vitest orders files by
 * the durations of its last run, which a fresh clone (CI) does not have: without this list the
 * 2-minute fuzz files could start last and leave one worker idle at the end.
 */
const HEAVY = [
  'test/fuzz/guest-x86.test.ts',
  'test/fuzz/guest-arm64.test.ts',
  'test/x86/simd-random-jit.test.ts',
  'test/linux/boot.test.ts',
  'test/smp/x86.test.ts',
  'test/smp/arm64.test.ts',
  'test/package/install.test.ts',
  'test/robust/smp.test.ts',
  'test/linux/boot-smp.test.ts',
  'test/fuzz/guest-x86-jit.test.ts',
  'test/fuzz/guest-x86-wasm.test.ts',
  'test/fuzz/ioctl.test.ts',
  'test/smp/handover.test.ts',
  'test/x86/wasm-engine.test.ts',
  'test/x86/wasm-exact.test.ts',
  'test/fuzz/guest-arm64-jit.test.ts',
  'test/x86/jit.test.ts',
  'test/smp/vms.test.ts',
  'test/x86/simd-random.test.ts',
  'test/x86/alu-random.test.ts',
];

class HeavyFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = HEAVY.findIndex((h) => f.moduleId.endsWith(h));
      return i < 0 ? HEAVY.length : i;
    };
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b)); // stable: the rest keep vitest's order
  }
}

export default defineConfig({
  resolve: {
    // Examples import the package by its name, as a user's code does: in the repo that is the
    // sources (tsconfig.json "paths" says the same for tsc and tsx); test/package runs them
    // against the packed, installed package instead.
    alias: [
      { find: /^vkvm$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^vkvm\/vmm$/, replacement: fileURLToPath(new URL('./src/vmm/index.ts', import.meta.url)) },
    ],
  },
  test: {
    // vitest's default is one worker per core less one: a single worker on CI's 2 cores, while
    // most files are one thread of CPU work. Two files at a time use both cores.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Under a loaded machine (and a second worker) a 5 s default is too tight for the tests that
    // bundle a worker script or start threads; a hang is still caught.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    sequence: { sequencer: HeavyFirst },
  },
});
