/** Test environment: real Redis and real Chromium, required under CI=true, skipped otherwise. */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Context } from 'mocha';
import { createClient } from 'redis';
import { RedisStore } from '../../platform/store/index.ts';

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
export const TEST_REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/**
 * The flags every browser test launches Chromium with: root in a sandboxless container, no GPU,
 * and no background connections (this machine's network is closed; they would be refused).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

/**
 * A RedisStore on the test Redis under a fresh key prefix (or `prefix`). Where Redis cannot be reached the test
 * is skipped on a developer's machine and fails under CI.
 */
export async function connectTestRedis(ctx: Context, prefix = `test:${randomBytes(6).toString('hex')}:`): Promise<RedisStore> {
  try {
    return await RedisStore.connect({ url: TEST_REDIS_URL, prefix });
  } catch (err) {
    if (IN_CI) throw new Error(`Redis at ${TEST_REDIS_URL} is required under CI=true: ${(err as Error).message}`);
    ctx.skip();
    throw err;
  }
}

/** Chromium's path, or a skip (a failure under CI) when it is not installed. */
export function requireChromium(ctx: Context): string {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  if (IN_CI) throw new Error(`Chromium is required under CI=true (looked at ${CHROMIUM_PATH}); .ci/run installs Debian's chromium`);
  ctx.skip();
  return '';
}

/** Deletes every key under `prefix` on the test Redis (a suite that writes thousands cleans up). */
export async function deleteTestKeys(prefix: string): Promise<void> {
  const client = createClient({ url: TEST_REDIS_URL, socket: { reconnectStrategy: false } });
  client.on('error', () => undefined);
  // Where Redis is absent the suite was skipped: nothing to clean.
  if (!(await client.connect().then(() => true, () => false))) return;
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length) await client.unlink(keys);
    }
  } finally {
    await client.close();
  }
}
