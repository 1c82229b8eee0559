import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const alias = {
  '@jarvis/api': fileURLToPath(new URL('./api/src/index.ts', import.meta.url)),
  '@jarvis/mocks': fileURLToPath(new URL('./mocks/src/index.ts', import.meta.url)),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['{api,operator,dataplane,e2e,mocks,bench}/src/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'e2e',
          include: ['e2e/test/**/*.e2e.test.ts'],
          globalSetup: ['e2e/src/setup/redis.global.ts', 'e2e/src/setup/envtest.global.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // One control plane (and its operator lease) is shared: e2e files run one after another,
          // in one fork. (fileParallelism: false is ignored inside a project in vitest 3.)
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
