// The workbench's own tests: `npx vitest run --config bench/vitest.config.ts` (after npm run build:
// they run the compiled e2e helpers and gateway-free processes).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: {
      '@jarvis/api': fileURLToPath(new URL('../api/src/index.ts', import.meta.url)),
      '@jarvis/mocks': fileURLToPath(new URL('../mocks/src/index.ts', import.meta.url)),
    },
  },
  test: { name: 'bench', root: fileURLToPath(new URL('.', import.meta.url)), include: ['src/**/*.test.ts'], testTimeout: 30_000 },
});
