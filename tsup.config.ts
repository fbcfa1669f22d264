import { defineConfig } from 'tsup';

export default defineConfig({
  // cli: the `vkvm` bin (package.json "bin"); it bundles the mini-VMM of src/vmm.
  // vmm: the mini-VMM as the 'vkvm/vmm' subpath (package.json "exports").
  // linux-vcpu-worker: the thread of each vCPU of an SMP Linux boot (LinuxVm.runAsync loads it by path).
  entry: { index: 'src/index.ts', vmm: 'src/vmm/index.ts', cli: 'src/cli/bin.ts', 'linux-vcpu-worker': 'src/vmm/linux/vcpu-worker.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts', vmm: 'src/vmm/index.ts' } },
  // Shared chunks in both formats, so 'vkvm' and 'vkvm/vmm' are one copy of the code (one
  // KvmError class...) for require() as for import.
  splitting: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  // import.meta.url in the CJS build (createRequire for the optional FFI).
  shims: true,
  external: ['koffi'],
});
