/** Values the e2e globalSetup modules hand to tests through `inject()`. */
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig of the test control plane (envtest.global.ts). */
    kubeconfig: string;
    /** URL of the test Redis (redis.global.ts). */
    redisUrl: string;
  }
}
