import type { Logger } from 'pino';
import { ConfigError } from '../config/env.ts';
import { MemoryStore } from './memory.ts';
import { REDIS_DEFAULTS, RedisStore } from './redis.ts';
import type { TokenStore } from './types.ts';
import type { RedisTarget } from './settings.ts';

export * from './types.ts';
export { MemoryStore } from './memory.ts';
export { RedisStore } from './redis.ts';
export type { RedisTarget } from './settings.ts';

/** The store's part of BrokerConfig (system/config.ts), so `createStore(config, log)` takes it whole. */
export interface StoreConfig {
  redisUrl?: string;
  /** `REDIS_CLUSTER_NODES` or `REDIS_SENTINELS` (or REDIS_URL): overrides `redisUrl` when set. */
  redisTarget?: RedisTarget;
  /** `REDIS_WAIT_REPLICAS`: replicas each answered write waits for (RedisStore `waitReplicas`). */
  redisWaitReplicas?: number;
  redisPrefix?: string;
  nodeEnv: string;
  /** `REDIS_COMMAND_TIMEOUT_MS`, by default REDIS_DEFAULTS.commandTimeoutMs. */
  redisCommandTimeoutMs?: number;
  /** `REDIS_ALLOW_EVICTION`: start in production although Redis may evict keys. */
  redisAllowEviction?: boolean;
}

/**
 * Checks that Redis will not evict the broker's keys. Every AT, tombstone, VT record and nonce has
 * a TTL, so a `volatile-*` policy may drop any of them when memory is full, and an `allkeys-*`
 * policy the signing key set too: a dropped nonce lets a signed request be replayed, a dropped
 * tombstone lets a replayed AT pass unnoticed, a dropped VT record ends a session. Refused in
 * production unless `allowEviction`; a loud warning elsewhere.
 */
async function checkEvictionPolicy(store: RedisStore, config: { nodeEnv: string; allowEviction: boolean }, log: Logger): Promise<string | undefined> {
  const { policy, maxmemory, source } = await store.memoryPolicy();
  if (policy === undefined) {
    log.warn({ store: 'redis' }, 'could not read the Redis maxmemory-policy (CONFIG GET and INFO memory refused); make sure it is noeviction, or Redis may silently drop live tokens and nonces when memory is full');
    return undefined;
  }
  if (policy === 'noeviction') return policy;
  const message = `Redis maxmemory-policy is "${policy}": when memory is full Redis evicts keys, and the broker's tokens, tombstones and nonces are such keys (a replayed request or AT could then pass). Set maxmemory-policy to noeviction: a full Redis then refuses writes and the broker answers 503 store_unavailable instead`;
  if (config.nodeEnv === 'production' && !config.allowEviction) {
    throw new ConfigError('REDIS_ALLOW_EVICTION', `${message}. To start anyway, set REDIS_ALLOW_EVICTION=true`);
  }
  const fields = { store: 'redis', maxmemoryPolicy: policy, maxmemory, source, allowEviction: config.allowEviction };
  if (config.nodeEnv === 'production') log.error(fields, `${message} (started anyway: REDIS_ALLOW_EVICTION=true)`);
  else log.warn(fields, message);
  return policy;
}

/**
 * Redis when `REDIS_URL` is set, after checking its eviction policy (checkEvictionPolicy);
 * otherwise the in-memory store, which warns outside development and test and is refused in
 * production (tokens would vanish on restart and not be shared).
 */
export async function createStore(config: StoreConfig, log: Logger): Promise<TokenStore> {
  // `redisUrl` names the one node (a caller may replace it in a copy of the configuration).
  const target: RedisTarget | undefined = config.redisTarget && config.redisTarget.mode !== 'single'
    ? config.redisTarget
    : config.redisUrl ? { mode: 'single', url: config.redisUrl } : undefined;
  if (target) {
    const commandTimeoutMs = config.redisCommandTimeoutMs ?? REDIS_DEFAULTS.commandTimeoutMs;
    const allowEviction = config.redisAllowEviction ?? false;
    const store = await RedisStore.connect({ target, waitReplicas: config.redisWaitReplicas, prefix: config.redisPrefix, commandTimeoutMs, log });
    let policy: string | undefined;
    try {
      policy = await checkEvictionPolicy(store, { nodeEnv: config.nodeEnv, allowEviction }, log);
    } catch (err) {
      await store.close();
      throw err;
    }
    log.info({ store: 'redis', mode: target.mode, prefix: config.redisPrefix, maxmemoryPolicy: policy, commandTimeoutMs, waitReplicas: config.redisWaitReplicas ?? 0 }, 'token store ready');
    return store;
  }
  if (config.nodeEnv === 'production') {
    throw new Error('REDIS_URL is required when NODE_ENV=production (or REDIS_CLUSTER_NODES, or REDIS_SENTINELS): the in-memory store loses every token on restart and is not shared between processes');
  }
  if (config.nodeEnv !== 'development' && config.nodeEnv !== 'test') {
    log.warn({ store: 'memory', nodeEnv: config.nodeEnv }, 'using the in-memory token store outside development: tokens are lost on restart and not shared between processes; set REDIS_URL');
  }
  return new MemoryStore();
}
