import { createClient, defineScript, type RedisClientType } from 'redis';
import type { Logger } from 'pino';
import { StoreUnavailable, TOMBSTONE_PREFIX, checkTombstone, type TokenStore } from './types.ts';

/** One round trip: read, and replace a live value with the tombstone, atomically on the server. */
const CONSUME = defineScript({
  NUMBER_OF_KEYS: 1,
  SCRIPT: `
local v = redis.call('GET', KEYS[1])
if not v then return false end
if string.sub(v, 1, string.len(ARGV[3])) ~= ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return v`,
  parseCommand(parser, key: string, tombstone: string, ttl: number, prefix: string) {
    parser.pushKey(key);
    parser.push(tombstone, String(ttl), prefix);
  },
  transformReply: (reply: unknown) => reply as string | null,
});

/**
 * Sets KEYS[2..] to ARGV[3..] (no expiry) when KEYS[1] holds ARGV[2], or is absent when ARGV[1]
 * is "1"; one script, so no reader ever sees some entries written and others not.
 */
const SET_IF_UNCHANGED = `
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1]) end
return 1`;

export interface RedisStoreOptions {
  url: string;
  /** Namespace for every key, so the broker can share a Redis with others. */
  prefix?: string;
  /** How long a connection attempt may take before commands fail (ms). */
  connectTimeoutMs?: number;
  log?: Logger;
}

/** The production store on Redis (node-redis). Commands fail at once while disconnected. */
export class RedisStore implements TokenStore {
  readonly kind = 'redis' as const;
  private readonly prefix: string;

  private constructor(private readonly client: RedisClientType<any, any, any, any, any>, prefix: string) {
    this.prefix = prefix;
  }

  /** Connects; throws StoreUnavailable when Redis does not answer. */
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    let everReady = false;
    const client = createClient({
      url: opts.url,
      scripts: { consume: CONSUME },
      // A request must fail fast, not wait in a queue for a Redis that may never come back.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: opts.connectTimeoutMs ?? 2000,
        // At start a Redis that does not answer is a failed start (bounded), not an endless wait;
        // once it has answered, the client reconnects for ever so the broker recovers by itself.
        reconnectStrategy: (retries: number, cause: Error) =>
          !everReady && retries >= 2 ? cause : Math.min(50 * 2 ** retries, 2000),
      },
    });
    let lastLogged = 0;
    client.on('error', (err: Error) => {
      // node-redis emits on every failed reconnect; once a few seconds is enough in the log.
      if (Date.now() - lastLogged > 5000) {
        lastLogged = Date.now();
        opts.log?.warn({ err: err.message }, 'redis connection error');
      }
    });
    try {
      await client.connect();
      everReady = true;
    } catch (err) {
      await client.destroy?.();
      throw new StoreUnavailable(err);
    }
    return new RedisStore(client as unknown as RedisClientType<any, any, any, any, any>, opts.prefix ?? 'h5b:');
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new StoreUnavailable(err);
    }
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const reply = await this.run(() => this.client.set(this.prefix + key, value, { condition: 'NX', expiration: { type: 'EX', value: ttlSeconds } }));
    return reply === 'OK';
  }

  async get(key: string): Promise<string | null> {
    return this.run(() => this.client.get(this.prefix + key) as Promise<string | null>);
  }

  async consume(key: string, tombstone: string, ttlSeconds: number): Promise<string | null> {
    checkTombstone(tombstone);
    const reply = await this.run(() => (this.client as any).consume(this.prefix + key, tombstone, ttlSeconds, TOMBSTONE_PREFIX) as Promise<string | null>);
    return reply ?? null;
  }

  async setIfUnchanged(guardKey: string, expected: string | null, entries: Readonly<Record<string, string>>): Promise<boolean> {
    const names = Object.keys(entries);
    const reply = await this.run(() => this.client.eval(SET_IF_UNCHANGED, {
      keys: [guardKey, ...names].map((k) => this.prefix + k),
      arguments: [expected === null ? '1' : '0', expected ?? '', ...names.map((k) => entries[k]!)],
    }));
    return Number(reply) === 1;
  }

  async delete(key: string): Promise<boolean> {
    return Number(await this.run(() => this.client.del(this.prefix + key))) > 0;
  }

  async ping(): Promise<void> {
    await this.run(() => this.client.ping());
  }

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.close();
  }
}
