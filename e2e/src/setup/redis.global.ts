/**
 * vitest globalSetup: a Redis for the e2e project ($REDIS_URL, else a local redis-server started
 * for the run). Tests read its URL with `inject('redisUrl')` (see testRedis()).
 */
import type { TestProject } from 'vitest/node';

import './context.js';
import { ensureRedis } from '../redis/index.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await ensureRedis(undefined, { log: (line) => process.stderr.write(`[redis] ${line}\n`) });
  project.provide('redisUrl', redis.url);
  return async () => {
    await redis.stop();
  };
}
