/**
 * The structure rules of issue 21 that a reviewer would otherwise check by hand:
 *   - no source file of the package (src/, native/) over 800 lines: a file that grows past it is
 *     split along its seams (generated tables would be listed in GENERATED; there are none yet);
 *   - no `const enum` (isolatedModules builds and the .d.ts need real objects: `as const`);
 *   - the library does not import from examples/ or test/, and the examples import only the
 *     public package (they are what a VMM author copies).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const MAX_LINES = 800;
/** Generated files allowed past MAX_LINES (path from the root). */
const GENERATED = new Set<string>();

function files(dir: string, exts: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

const rel = (p: string) => relative(ROOT, p);
const SOURCES = [...files(join(ROOT, 'src'), ['.ts']), ...files(join(ROOT, 'native'), ['.c', '.h', '.ts'])];

describe('source rules (issue 21)', () => {
  it(`no source file is over ${MAX_LINES} lines`, () => {
    expect(SOURCES.length).toBeGreaterThan(100);
    const long = SOURCES.filter((p) => !GENERATED.has(rel(p)))
      .map((p) => [rel(p), readFileSync(p, 'utf8').split('\n').length] as const)
      .filter(([, n]) => n > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('no const enum', () => {
    const hits = SOURCES.filter((p) => p.endsWith('.ts') && /^\s*(export\s+)?(declare\s+)?const\s+enum\b/m.test(readFileSync(p, 'utf8'))).map(rel);
    expect(hits).toEqual([]);
  });

  it('src/ imports nothing from examples/ or test/; examples/ import only the public package', () => {
    const importsOf = (p: string) => [...readFileSync(p, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    const bad: string[] = [];
    for (const p of files(join(ROOT, 'src'), ['.ts'])) {
      for (const spec of importsOf(p)) {
        if (!spec.startsWith('.')) continue;
        const target = rel(resolve(p, '..', spec));
        if (target.startsWith('examples') || target.startsWith('test')) bad.push(`${rel(p)} -> ${spec}`);
      }
    }
    for (const p of files(join(ROOT, 'examples'), ['.ts'])) {
      for (const spec of importsOf(p)) {
        if (!spec.startsWith('.')) continue;
        const target = rel(resolve(p, '..', spec));
        if (!target.startsWith('examples')) bad.push(`${rel(p)} -> ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
