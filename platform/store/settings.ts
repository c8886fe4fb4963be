/**
 * The store's settings: which Redis (one node, a cluster or a Sentinel-watched master), its key
 * namespace, its command timeout, how many replicas a write waits for, its eviction check.
 */
import { boolSetting, customSetting, intSetting, listSetting, optionalSetting } from '../config/settings.ts';
import { ConfigError } from '../config/env.ts';

export const REDIS_URL = optionalSetting('REDIS_URL', {
  defaultText: '— (in-memory store)',
  range: '`redis://…`, `rediss://…`',
  doc: 'the Redis that holds every record, count and key set, e.g. `redis://127.0.0.1:6379`',
  check: (raw) => (/^rediss?:\/\//.test(raw) ? undefined : 'must start with redis:// or rediss://'),
});

export const REDIS_CLUSTER_NODES = listSetting('REDIS_CLUSTER_NODES', {
  range: '`redis://host:port`, comma-separated',
  doc: 'seed nodes of a Redis Cluster (any few of its masters or replicas; the client learns the rest); instead of `REDIS_URL`',
  check: (raw) => (/^rediss?:\/\/[^/]+\/?$/.test(raw) ? undefined : `"${raw}" is not a redis://host:port URL`),
});

export const REDIS_SENTINELS = listSetting('REDIS_SENTINELS', {
  range: '`host:port`, comma-separated',
  doc: 'Sentinels that watch the Redis master named by `REDIS_SENTINEL_MASTER`; instead of `REDIS_URL`',
  check: (raw) => (/^[^\s:/]+:\d{1,5}$/.test(raw) ? undefined : `"${raw}" is not host:port`),
});

export const REDIS_SENTINEL_MASTER = optionalSetting('REDIS_SENTINEL_MASTER', {
  defaultText: '— (required with `REDIS_SENTINELS`)',
  range: 'a master name',
  doc: 'the master name the Sentinels know the Redis by',
});

export const REDIS_PREFIX = customSetting('REDIS_PREFIX', {
  defaultText: '`h5b:`',
  range: 'no `{` or `}`',
  doc: 'namespace of every Redis key (braces would change the keys\' Redis Cluster slots)',
  read: (env) => {
    const raw = env.REDIS_PREFIX || 'h5b:';
    if (/[{}]/.test(raw)) throw new ConfigError('REDIS_PREFIX', 'must not contain { or }: Redis Cluster would place the keys by the prefix, and a script\'s keys would leave their slot');
    return raw;
  },
});

export const REDIS_WAIT_REPLICAS = intSetting('REDIS_WAIT_REPLICAS', {
  def: 0, min: 0, max: 5,
  doc: 'how many replicas must hold each AT issuance, exchange and revocation (Redis `WAIT`) before it is answered; fewer in time is 503 `store_unavailable` (see docs/deploy.md)',
});

export const REDIS_COMMAND_TIMEOUT_MS = intSetting('REDIS_COMMAND_TIMEOUT_MS', {
  def: 1000, min: 50, max: 10_000,
  doc: 'how long one Redis command may wait for its reply, also once sent, before the request fails with 503 `store_unavailable` (ms)',
});

export const REDIS_ALLOW_EVICTION = boolSetting('REDIS_ALLOW_EVICTION', {
  def: false,
  doc: "`true` lets the broker start in production although Redis's `maxmemory-policy` may evict its keys (see [Operating](#operating))",
});

export const STORE_SETTINGS = [
  REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_PREFIX, REDIS_COMMAND_TIMEOUT_MS, REDIS_WAIT_REPLICAS, REDIS_ALLOW_EVICTION,
] as const;

/** Where the store is: one node, a cluster, a Sentinel-watched master, or nowhere (memory). */
export type RedisTarget =
  | { mode: 'single'; url: string }
  | { mode: 'cluster'; nodes: string[] }
  | { mode: 'sentinel'; masterName: string; sentinels: { host: string; port: number }[] };

/** Reads the one Redis the settings name; a ConfigError when they name more than one or half of one. */
export function readRedisTarget(env: Record<string, string | undefined>): RedisTarget | undefined {
  const url = REDIS_URL.read(env);
  const nodes = REDIS_CLUSTER_NODES.read(env);
  const sentinels = REDIS_SENTINELS.read(env);
  const masterName = REDIS_SENTINEL_MASTER.read(env);
  const named = [url && 'REDIS_URL', nodes.length > 0 && 'REDIS_CLUSTER_NODES', sentinels.length > 0 && 'REDIS_SENTINELS'].filter(Boolean);
  if (named.length > 1) throw new ConfigError(named[1] as string, `names a second Redis beside ${named[0]}; set one of REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS`);
  if (sentinels.length > 0 && !masterName) throw new ConfigError('REDIS_SENTINEL_MASTER', 'is required with REDIS_SENTINELS');
  if (masterName && sentinels.length === 0) throw new ConfigError('REDIS_SENTINELS', 'is required with REDIS_SENTINEL_MASTER');
  if (url) return { mode: 'single', url };
  if (nodes.length > 0) return { mode: 'cluster', nodes };
  if (sentinels.length > 0) {
    return { mode: 'sentinel', masterName: masterName!, sentinels: sentinels.map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) })) };
  }
  return undefined;
}
