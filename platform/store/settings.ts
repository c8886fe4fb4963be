/** The store's settings: which Redis, its key namespace, its command timeout, its eviction check. */
import { boolSetting, intSetting, optionalSetting, stringSetting } from '../config/settings.ts';

export const REDIS_URL = optionalSetting('REDIS_URL', {
  defaultText: '— (in-memory store)',
  range: '`redis://…`, `rediss://…`',
  doc: 'the Redis that holds every record, count and key set, e.g. `redis://127.0.0.1:6379`',
  check: (raw) => (/^rediss?:\/\//.test(raw) ? undefined : 'must start with redis:// or rediss://'),
});

export const REDIS_PREFIX = stringSetting('REDIS_PREFIX', { def: 'h5b:', doc: 'namespace of every Redis key' });

export const REDIS_COMMAND_TIMEOUT_MS = intSetting('REDIS_COMMAND_TIMEOUT_MS', {
  def: 1000, min: 50, max: 10_000,
  doc: 'how long one Redis command may wait for its reply, also once sent, before the request fails with 503 `store_unavailable` (ms)',
});

export const REDIS_ALLOW_EVICTION = boolSetting('REDIS_ALLOW_EVICTION', {
  def: false,
  doc: "`true` lets the broker start in production although Redis's `maxmemory-policy` may evict its keys (see [Operating](#operating))",
});

export const STORE_SETTINGS = [REDIS_URL, REDIS_PREFIX, REDIS_COMMAND_TIMEOUT_MS, REDIS_ALLOW_EVICTION] as const;
