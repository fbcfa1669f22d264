/**
 * A fixed subset of Linux's own KVM selftests (test/selftests/subset.txt; the unmodified programs,
 * committed under test/selftests/bin by vendor.sh) through `vkvm exec`, x86-64 natively and arm64
 * under qemu-aarch64. A test recorded as passing must pass; one recorded as skipped or failing
 * must do the same or pass (vkvm gaining a feature is progress, not a failure). The whole list
 * runs with `npm run selftests` (README table).
 */
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { classify } from '../selftests/run.js';
import { cleanup, execUnavailable, TMP, vkvmExec } from './helpers.js';

const DIR = join(__dirname, '../selftests');
/** The release the committed programs come from (bin/README.md): vkvm presents its KVM API. */
const RELEASE = '6.12';
const subset = readFileSync(join(DIR, 'subset.txt'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.startsWith('#'))
  .map((l) => {
    const [arch, name, status] = l.trim().split(/\s+/) as ['x86_64' | 'arm64', string, 'pass' | 'skip' | 'fail'];
    return { arch, name, status };
  });
const sums = new Map(
  readFileSync(join(DIR, 'bin/SHA256SUMS'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const [sum, file] = l.split(/\s+/);
      return [file!, sum!] as const;
    }),
);

/** The committed program, unpacked and checked against SHA256SUMS. */
function program(arch: string, name: string): string {
  const rel = `${arch}/${name.replace(/\//g, '_')}`;
  const bytes = gunzipSync(readFileSync(join(DIR, 'bin', `${rel}.gz`)));
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(sums.get(rel));
  const file = join(TMP, rel.replace('/', '-'));
  writeFileSync(file, bytes);
  chmodSync(file, 0o755);
  return file;
}

afterAll(cleanup);

it('the subset lists both arches and every listed program is committed', () => {
  expect(new Set(subset.map((t) => t.arch))).toEqual(new Set(['x86_64', 'arm64']));
  for (const t of subset) expect(sums.has(`${t.arch}/${t.name.replace(/\//g, '_')}`)).toBe(true);
});

describe.each(['x86_64', 'arm64'] as const)('%s selftests through vkvm exec', (arch) => {
  const why = execUnavailable(arch);
  it.skipIf(why).each(subset.filter((t) => t.arch === arch))('$name: $status', ({ name, status }) => {
    const r = vkvmExec(['--arch', arch, '--linux', RELEASE, '--timeout', '180'], program(arch, name), [], true);
    const got = classify(r.out, r.code, null, r.code === 124, 180);
    const allowed = status === 'pass' ? ['pass'] : [status, 'pass'];
    expect(allowed, `${name}: ${got.status} (${got.reason})\n${r.out.slice(-2000)}`).toContain(got.status);
  }, 240_000);
});
