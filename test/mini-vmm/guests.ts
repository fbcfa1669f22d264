/** The mini-VMM tests' guests: the committed demo images and the x86 benchmark image. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const DEMO_GUESTS = resolve(ROOT, 'examples/guests');
/** The benchmark workload (bench/guests: one work.c for the guests, the host and qemu-user). */
export const BENCH_DIR = resolve(ROOT, 'bench/guests');

export const image = (path: string): Uint8Array => new Uint8Array(readFileSync(resolve(ROOT, path)));

export const X86_HELLO = 'examples/guests/x86/hello.elf';
export const X86_HELLO16 = 'examples/guests/x86/hello16.bin';
export const X86_HELLO32 = 'examples/guests/x86/hello32.bin';
export const ARM64_HELLO = 'examples/guests/arm64/hello.elf';
export const X86_BENCH = 'bench/guests/x86/work.bin';

/** work.expect: rounds -> checksum of every kernel (mask 0), as the host build of work.c printed them. */
export function benchExpect(): Map<number, number> {
  const m = new Map<number, number>();
  for (const line of readFileSync(resolve(BENCH_DIR, 'work.expect'), 'utf8').split('\n')) {
    const r = /^rounds=(\d+) mask=0 checksum=0x([0-9a-f]{8})$/.exec(line);
    if (r) m.set(Number(r[1]), parseInt(r[2]!, 16));
  }
  return m;
}

/** What the demo guests print after their greeting: the first Fibonacci number past 2^32. */
export function fibLine(): string {
  let [a, b, n] = [0n, 1n, 1];
  while (b < 1n << 32n) {
    [a, b] = [b, a + b];
    n++;
  }
  return `fib(${n}) = ${b} > 2^32\n`;
}
