import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  // import.meta.url in the CJS build (createRequire for the optional FFI).
  shims: true,
  external: ['koffi'],
});
