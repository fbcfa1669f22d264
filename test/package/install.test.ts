/**
 * The package as a user gets it: `npm pack`, installed with npm into an empty project (offline,
 * from the tarball alone; tsx, typescript, @types/node and the optional koffi are linked from this
 * checkout's node_modules), then the README's first snippet and every example run from the
 * installed package, once with the project as ESM ("type": "module") and once as CommonJS — so
 * `import 'vkvm'` reaches dist/index.js in one and `require('vkvm')` dist/index.cjs in the other.
 * The examples are copied unchanged: in the repo 'vkvm' resolves to src/ (tsconfig paths,
 * vitest alias), here to the installed package.
 *
 * dist/ is rebuilt first when it is missing or older than the sources (CI builds before testing).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** What each example must print when it runs from the installed package. */
const EXAMPLES: Record<string, { expect: RegExp; needs?: string } | { coveredBy: string }> = {
  'demo.ts': { expect: /x86_64 guest[\s\S]*arm64 guest[\s\S]*virtual backends: x86_64: KVM_GET_API_VERSION 12/ },
  'td-vmm.ts': { expect: /powered off: true/ },
  'kvmi-vmm.ts': { expect: /tool report: .*"readBack":"0x5eedcafef00dbeef"[\s\S]*OK/, needs: 'koffi' },
  'kvmi-tool.ts': { coveredBy: 'kvmi-vmm.ts' },
};

/** The README's first `ts` block that imports 'vkvm' (the getting-started snippet). */
function readmeSnippet(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes("from 'vkvm'"));
  if (!block) throw new Error('README.md has no ts block importing vkvm');
  return block;
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

function ensureBuilt(): void {
  const built = join(ROOT, 'dist/index.cjs');
  const sources = Math.max(newestMtime(join(ROOT, 'src')), statSync(join(ROOT, 'package.json')).mtimeMs, statSync(join(ROOT, 'tsup.config.ts')).mtimeMs);
  if (existsSync(built) && statSync(built).mtimeMs >= sources && existsSync(join(ROOT, 'dist/index.d.ts'))) return;
  execFileSync(NPM, ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
}

const run = (cwd: string, args: string[], timeout = 120_000) => {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, NODE_OPTIONS: '' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

let work = '';
let tarball = '';
const hasKoffi = existsSync(join(ROOT, 'node_modules/koffi'));

beforeAll(() => {
  ensureBuilt();
  work = mkdtempSync(join(tmpdir(), 'vkvm-pack-'));
  const packed = JSON.parse(execFileSync(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed[0]!.filename);
  const files = packed[0]!.files.map((f) => f.path);
  // What a user needs is in the tarball, and nothing of the repo's sources or tests.
  for (const f of ['package.json', 'README.md', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/vmm.js', 'dist/vmm.cjs', 'dist/vmm.d.ts', 'dist/vmm.d.cts', 'dist/cli.js']) expect(files).toContain(f);
  expect(files.filter((f) => /^(src|test|examples)\//.test(f))).toEqual([]);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.each(['module', 'commonjs'] as const)('the packed package installed in an empty project ("type": "%s")', (type) => {
  let proj = '';

  beforeAll(() => {
    proj = join(work, type);
    mkdirSync(proj);
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: `consumer-${type}`, private: true, type }));
    // npm itself installs the tarball: offline (vkvm has no dependencies; koffi is optional).
    execFileSync(NPM, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--omit=optional', tarball], { cwd: proj, stdio: 'pipe' });
    for (const dep of ['tsx', 'typescript', '@types/node', 'koffi']) {
      const from = join(ROOT, 'node_modules', dep);
      if (!existsSync(from)) continue;
      mkdirSync(join(proj, 'node_modules', dep, '..'), { recursive: true });
      symlinkSync(from, join(proj, 'node_modules', dep), 'dir');
    }
    cpSync(join(ROOT, 'examples'), join(proj, 'examples'), { recursive: true });
    // kvmi-vmm boots the KVMI test guest from the repo's test tree.
    mkdirSync(join(proj, 'test/guests/x86/kvmi'), { recursive: true });
    cpSync(join(ROOT, 'test/guests/x86/kvmi/kvmi-guest.bin'), join(proj, 'test/guests/x86/kvmi/kvmi-guest.bin'));
  }, 120_000);

  it(`'vkvm' and 'vkvm/vmm' resolve to the installed ${type === 'module' ? 'ESM' : 'CommonJS'} build, one copy of the code`, () => {
    // An error raised by the VMM's code is the main entry's KvmError: one copy of the code.
    const body = "let e; try { m.makeSys('virtual', 'x86_64').open('/nope'); } catch (x) { e = x; } console.log(typeof v.Kvm, typeof m.runGuest, e instanceof v.KvmError);";
    const probe =
      type === 'module'
        ? `import * as v from 'vkvm'; import * as m from 'vkvm/vmm'; console.log(import.meta.resolve('vkvm'), import.meta.resolve('vkvm/vmm')); ${body}`
        : `const v = require('vkvm'); const m = require('vkvm/vmm'); console.log(require.resolve('vkvm'), require.resolve('vkvm/vmm')); ${body}`;
    const file = join(proj, type === 'module' ? 'probe.mjs' : 'probe.cjs');
    writeFileSync(file, probe);
    const r = run(proj, [file]);
    const ext = type === 'module' ? 'js' : 'cjs';
    expect(r.out).toMatch(new RegExp(`node_modules/vkvm/dist/index\\.${ext} \\S*node_modules/vkvm/dist/vmm\\.${ext}\nfunction function true\n$`));
  }, 60_000);

  it('the README snippet runs', () => {
    const file = `snippet.${type === 'module' ? 'mts' : 'cts'}`;
    writeFileSync(join(proj, file), readmeSnippet());
    const r = run(proj, ['--import', 'tsx', file]);
    expect(r.out).toBe('port 0xe9: 42\nhlt\n');
  }, 60_000);

  it.runIf(type === 'module')('the README snippet type-checks against the installed types, as ESM and as CommonJS', () => {
    // .mts resolves 'vkvm' through the "import" condition (index.d.ts), .cts through "require" (index.d.cts).
    writeFileSync(join(proj, 'check.mts'), readmeSnippet());
    writeFileSync(join(proj, 'check.cts'), readmeSnippet());
    const tsc = run(proj, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--traceResolution', 'check.mts', 'check.cts']);
    expect(tsc.status, tsc.out.split('\n').filter((l) => l.includes('error')).join('\n')).toBe(0);
    expect(tsc.out).toMatch(/Module name 'vkvm' was successfully resolved to '[^']*node_modules\/vkvm\/dist\/index\.d\.ts'/);
    expect(tsc.out).toMatch(/Module name 'vkvm' was successfully resolved to '[^']*node_modules\/vkvm\/dist\/index\.d\.cts'/);
  }, 180_000);

  it('the vkvm bin runs', () => {
    const r = run(proj, [join(proj, 'node_modules/.bin/vkvm'), 'caps']);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/KVM_GET_API_VERSION\s+12\s+12/);
  }, 60_000);

  it('every example is covered, and imports the package by name (never src/)', () => {
    const present = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts'));
    expect(present.sort()).toEqual(Object.keys(EXAMPLES).sort());
    for (const f of [...present, ...readdirSync(join(ROOT, 'examples/mini-vmm')).map((x) => `mini-vmm/${x}`)].filter((x) => x.endsWith('.ts'))) {
      const specs = [...readFileSync(join(ROOT, 'examples', f), 'utf8').matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]!);
      for (const sp of specs) expect(/^(vkvm(\/vmm)?|node:\w+|\.\/[\w/-]+\.js)$/.test(sp), `examples/${f} imports ${sp}`).toBe(true);
    }
  });

  it.each(Object.entries(EXAMPLES).filter(([, e]) => 'expect' in e))('examples/%s runs from the installed package', (name, e) => {
    const ex = e as { expect: RegExp; needs?: string };
    if (ex.needs === 'koffi' && !hasKoffi) return;
    const r = run(proj, ['--import', 'tsx', join('examples', name)]);
    expect(r.out).toMatch(ex.expect);
    expect(r.out).not.toMatch(/skipping/);
    expect(r.status).toBe(0);
  }, 180_000);
});
