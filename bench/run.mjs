#!/usr/bin/env node
// `npm run bench`: bundles bench/index.ts with the library (esbuild: what users run, without
// tsx's per-module wrappers) under node_modules/.cache (so the optional koffi still resolves)
// and runs it. Arguments pass through.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// `--entry NAME` bundles bench/NAME.ts instead of bench/index.ts (e.g. `npm run bench:fpu`).
const args = process.argv.slice(2);
const ei = args.indexOf('--entry');
const entry = ei >= 0 ? args.splice(ei, 2)[1] : 'index';
const cache = join(root, 'node_modules/.cache');
mkdirSync(cache, { recursive: true });
const dir = mkdtempSync(join(cache, 'vkvm-bench-'));
const bundle = join(dir, 'bench.mjs');
try {
  await build({
    entryPoints: [join(root, `bench/${entry}.ts`)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundle,
    external: ['koffi'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
  const r = spawnSync(process.execPath, [bundle, '--root', root, ...args], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
