// The mocks' own tests: `npx vitest run --config mocks/vitest.config.ts` (the root config's unit
// project covers api, operator, dataplane and e2e).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { alias: { '@jarvis/api': fileURLToPath(new URL('../api/src/index.ts', import.meta.url)) } },
  test: { name: 'mocks', root: fileURLToPath(new URL('.', import.meta.url)), include: ['src/**/*.test.ts'], testTimeout: 20_000 },
});
