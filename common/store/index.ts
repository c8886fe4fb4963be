import type { Logger } from 'pino';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import type { TokenStore } from './types.ts';

export * from './types.ts';
export { MemoryStore } from './memory.ts';
export { RedisStore } from './redis.ts';

export interface StoreConfig {
  redisUrl?: string;
  redisPrefix?: string;
  nodeEnv: string;
}

/**
 * Redis when `REDIS_URL` is set; otherwise the in-memory store, which warns outside development
 * and test and is refused in production (tokens would vanish on restart and not be shared).
 */
export async function createStore(config: StoreConfig, log: Logger): Promise<TokenStore> {
  if (config.redisUrl) {
    const store = await RedisStore.connect({ url: config.redisUrl, prefix: config.redisPrefix, log });
    log.info({ store: 'redis', prefix: config.redisPrefix }, 'token store ready');
    return store;
  }
  if (config.nodeEnv === 'production') {
    throw new Error('REDIS_URL is required when NODE_ENV=production: the in-memory store loses every token on restart and is not shared between processes');
  }
  if (config.nodeEnv !== 'development' && config.nodeEnv !== 'test') {
    log.warn({ store: 'memory', nodeEnv: config.nodeEnv }, 'using the in-memory token store outside development: tokens are lost on restart and not shared between processes; set REDIS_URL');
  }
  return new MemoryStore();
}
