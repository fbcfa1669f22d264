import { defineConfig } from 'tsup';

export default defineConfig({
  // cli: the `vkvm` bin (package.json "bin"); it bundles the mini-VMM of src/vmm.
  entry: { index: 'src/index.ts', cli: 'src/cli/bin.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  // import.meta.url in the CJS build (createRequire for the optional FFI).
  shims: true,
  external: ['koffi'],
});
