import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

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
});
