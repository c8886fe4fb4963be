import { createClient, createCluster, createSentinel, defineScript, type RedisClientType } from 'redis';
import type { Logger } from 'pino';
import { counter, histogram } from '../metrics/index.ts';
import type { RedisTarget } from './settings.ts';
import { StoreUnavailable, TOMBSTONE_PREFIX, checkConsumeStep, type ConsumeResult, type ConsumeStep, type MessageHandler, type RateLimitResult, type TokenStore } from './types.ts';

/**
 * TokenStore.consume in one round trip. KEYS[1] the value, KEYS[2..] the companions; ARGV[1] the
 * tombstone, ARGV[2] its TTL (s), ARGV[3] now (unix s), ARGV[4] the tombstone prefix, ARGV[5] the
 * number of `require` pairs, then those pairs (member, string), then per companion: its TTL (s),
 * its kind (`v` value, `p` value with picked members, `c` copy of the consumed value), its value,
 * the number of picked members and those members. Answers {0} absent, {1, tombstone} used,
 * {2} refused, {3} collision, {4, value} consumed. Every check comes before the first write, and a
 * write Redis refuses (OOM) aborts the script at the first write: all is written or nothing.
 * Picked members are appended to the value as text (cjson.encode of each), as pickedValue does.
 */
const CONSUME = defineScript({
  SCRIPT: `
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
local prefix = ARGV[4]
if string.sub(v, 1, string.len(prefix)) == prefix then return {1, v} end
local ok, doc = pcall(cjson.decode, v)
-- A JSON object only (cjson decodes an array to a table too): the text must open with '{'.
if not ok or type(doc) ~= 'table' or not string.match(v, '^%s*{') then doc = nil end
if doc and doc.exp ~= nil and (type(doc.exp) ~= 'number' or doc.exp <= tonumber(ARGV[3])) then return {2} end
local i = 6
for _ = 1, tonumber(ARGV[5]) do
  if not doc or doc[ARGV[i]] ~= ARGV[i + 1] then return {2} end
  i = i + 2
end
local writes = {}
for c = 2, #KEYS do
  local ttl, kind, value, npick = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  if kind == 'c' then
    value = v
  elseif kind == 'p' then
    if not doc then return {2} end
    local parts = {}
    for p = i, i + npick - 1 do
      local x = doc[ARGV[p]]
      if x ~= nil then parts[#parts + 1] = cjson.encode(ARGV[p]) .. ':' .. cjson.encode(x) end
    end
    if #parts > 0 then
      local head = string.sub(value, 1, -2)
      local sep = ','
      if string.match(head, '^{%s*$') then sep = '' end
      value = head .. sep .. table.concat(parts, ',') .. '}'
    end
  end
  i = i + npick
  if redis.call('EXISTS', KEYS[c]) == 1 then return {3} end
  writes[#writes + 1] = {KEYS[c], value, ttl}
end
for _, w in ipairs(writes) do redis.call('SET', w[1], w[2], 'EX', w[3]) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {4, v}`,
  // The number of keys varies with the companions, so it is the first argument here.
  parseCommand(parser, keys: string[], args: string[]) {
    parser.push(String(keys.length));
    for (const k of keys) parser.pushKey(k);
    parser.push(...args);
  },
  transformReply: (reply: unknown) => reply as [number, string?],
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

/**
 * GCRA for TokenStore.rateLimit, in one round trip: ARGV[1] = limit N, ARGV[2] = window W (ms).
 * KEYS[1] holds "base:k", the theoretical arrival time (TAT) being base + k * W / N ms, so every
 * step is exact in whole numbers (below 2^53 for N <= 10^6 and W <= 1 day): a request is allowed
 * when TAT + W / N - now <= W; base moves on by whole windows so the numbers stay small. The clock
 * is Redis's TIME, the same for every gateway. Returns {allowed, remaining, resetMs, retryAfterMs}.
 */
const RATE_LIMIT = defineScript({
  NUMBER_OF_KEYS: 1,
  SCRIPT: `
local n, w = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local base, k = now, 0
local b, c = string.match(redis.call('GET', KEYS[1]) or '', '^(%d+):(%d+)$')
if b then
  base, k = math.min(tonumber(b), now), tonumber(c)
  local d = now - base
  if d > 3 * w or d * n >= k * w then base, k = now, 0 end
end
local d = now - base
if (k + 1) * w - d * n > w * n then
  return {0, 0, math.ceil((k * w - d * n) / n), math.ceil((k + 1 - n) * w / n) - d}
end
k = k + 1
local j = math.floor(d / w)
base, k, d = base + j * w, k - j * n, d - j * w
local reset = math.ceil((k * w - d * n) / n)
redis.call('SET', KEYS[1], string.format('%.0f:%.0f', base, k), 'PX', reset)
return {1, math.floor((w * n + d * n - k * w) / w), reset, 0}`,
  parseCommand(parser, key: string, limit: number, windowMs: number) {
    parser.pushKey(key);
    parser.push(String(limit), String(windowMs));
  },
  transformReply: (reply: unknown) => reply as number[],
});

/** Every store command's time, by command and outcome (`ok`, `error`), in seconds. */
const commandSeconds = histogram('broker_store_command_duration_seconds', 'Time of one token store command, by command and outcome', ['command', 'outcome']);
/** Store commands that failed (answered 503 store_unavailable), by command and why. */
const commandErrors = counter('broker_store_errors_total', 'Token store commands that failed, by command and reason (timeout, error, replicas)', ['command', 'reason']);

export interface RedisStoreOptions {
  /** One node (`redis://…`); or use `target`. */
  url?: string;
  /** One node, a Redis Cluster (seed nodes) or a Sentinel-watched master; overrides `url`. */
  target?: RedisTarget;
  /**
   * How many replicas must acknowledge each write that answers a client (setIfAbsent, consume
   * when it consumed, setIfUnchanged, delete) before it counts: Redis `WAIT` on the connection
   * that wrote; fewer within half the command timeout is StoreUnavailable. 0: no WAIT.
   */
  waitReplicas?: number;
  /** Namespace for every key, so the broker can share a Redis with others. */
  prefix?: string;
  /** How long a connection attempt may take before commands fail (ms). */
  connectTimeoutMs?: number;
  /**
   * How long one command may take, from the call to the reply, before it fails with
   * store_unavailable (ms). The connection is then dropped and made again (see `run`).
   */
  commandTimeoutMs?: number;
  log?: Logger;
}

type Client = RedisClientType<any, any, any, any, any>;

/** Defaults of the options above; REDIS_COMMAND_TIMEOUT_MS sets the command timeout in a deployment. */
export const REDIS_DEFAULTS = { connectTimeoutMs: 2000, commandTimeoutMs: 1000 } as const;

/** A command that got no reply in time: it may or may not have run on the server. */
class CommandTimeout extends Error {
  constructor(ms: number) {
    super(`no reply from Redis within ${ms} ms; the command may or may not have run`);
    this.name = 'CommandTimeout';
  }
}

/** Rejects with `onTimeout()` when `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  // One promise and one timer per command (no race, no finally: measured 0.57 µs vs 1.0 µs).
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    }, (err: unknown) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Runs `fn` again while Redis Cluster answers TRYAGAIN: a multi-key command (a consume) on a slot
 * being migrated whose keys are split between the two nodes for a moment. Redis ran nothing then,
 * so it is safe to send again; node-redis follows MOVED and ASK itself but not this. Bounded by
 * the caller's command timeout.
 */
async function retryWhileMigrating<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('TRYAGAIN') || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 5 + attempt * 5));
    }
  }
}

/**
 * The production store on Redis (node-redis). Every command is bounded in time: it fails at once
 * while Redis is disconnected, and after `commandTimeoutMs` when Redis does not answer.
 */
export class RedisStore implements TokenStore {
  readonly kind = 'redis' as const;
  private readonly prefix: string;
  /** Replaced whole when its connection can no longer be trusted (see `replaceClient`). */
  private client: Client;
  private readonly commandTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  /** One node, a cluster or a Sentinel-watched master. */
  readonly mode: RedisTarget['mode'];
  private readonly waitReplicas: number;
  /** What a replacement client is made with. */
  private readonly clientOptions: RedisStoreOptions;
  private readonly warnThrottled: (fields: object, msg: string) => void;
  private readonly watchdog: NodeJS.Timeout;
  private notReadySince: number | undefined;
  private closed = false;
  /** The subscriber connection, once a subscribe asked for it. */
  private subscriberReady: Promise<Client> | undefined;

  private constructor(client: Client, opts: RedisStoreOptions, warnThrottled: (fields: object, msg: string) => void) {
    this.client = client;
    this.prefix = opts.prefix ?? 'h5b:';
    this.commandTimeoutMs = opts.commandTimeoutMs ?? REDIS_DEFAULTS.commandTimeoutMs;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? REDIS_DEFAULTS.connectTimeoutMs;
    this.warnThrottled = warnThrottled;
    this.clientOptions = opts;
    this.mode = RedisStore.targetOf(opts).mode;
    this.waitReplicas = opts.waitReplicas ?? 0;
    // A connection that stays unready (a handshake that a stopped or unreachable Redis never
    // answers) is made again, so that the store recovers without a restart however it failed.
    this.watchdog = setInterval(() => this.checkConnection(), this.commandTimeoutMs);
    this.watchdog.unref();
  }

  /** Where `opts` points: `target`, else the one node at `url`. */
  private static targetOf(opts: RedisStoreOptions): RedisTarget {
    if (opts.target) return opts.target;
    if (!opts.url) throw new TypeError('a Redis store needs a url or a target');
    return { mode: 'single', url: opts.url };
  }

  /**
   * A node-redis client for the target: createClient for one node, createCluster for a cluster
   * (node-redis follows MOVED and ASK itself, and learns the topology again after a failover),
   * createSentinel for a Sentinel-watched master (it asks the Sentinels who the master is, and
   * follows a failover). `persistent`: reconnects for ever (else one node gives up after two
   * retries until first ready).
   */
  private static createClient(opts: RedisStoreOptions, onError: (err: Error) => void, persistent: boolean): Client {
    const target = RedisStore.targetOf(opts);
    // A cluster's or Sentinel's node clients reconnect for ever: the start is bounded by `connect`.
    let everReady = persistent || target.mode !== 'single';
    const socket = {
      connectTimeout: opts.connectTimeoutMs ?? REDIS_DEFAULTS.connectTimeoutMs,
      // At start a Redis that does not answer is a failed start (bounded), not an endless wait;
      // once it has answered, the client reconnects for ever so the broker recovers by itself.
      reconnectStrategy: (retries: number, cause: Error) =>
        !everReady && retries >= 2 ? cause : Math.min(50 * 2 ** retries, 2000),
    };
    const nodeOptions = {
      // A request must fail fast, not wait in a queue for a Redis that may never come back.
      disableOfflineQueue: true,
      // node-redis's own command timeout (an AbortSignal per command, some 5% of an issuance's
      // CPU) is off: `run` bounds every command itself, sent or not, and drops the connection.
      commandOptions: { timeout: 0 },
      socket,
    };
    const scripts = { consume: CONSUME, rateLimit: RATE_LIMIT };
    let client: any;
    if (target.mode === 'cluster') {
      client = createCluster({
        rootNodes: target.nodes.map((url) => ({ url })),
        defaults: { ...nodeOptions, name: 'h5-broker' } as any,
        scripts,
      });
    } else if (target.mode === 'sentinel') {
      client = createSentinel({
        name: target.masterName,
        sentinelRootNodes: target.sentinels,
        // One connection to the master: a WAIT then follows the write it is about (see waitFor).
        masterPoolSize: 1,
        nodeClientOptions: { ...nodeOptions, name: 'h5-broker' } as any,
        sentinelClientOptions: { socket } as any,
        scripts,
      });
    } else {
      client = createClient({ url: target.url, name: 'h5-broker', scripts, ...nodeOptions });
    }
    client.on('error', onError);
    client.on('ready', () => {
      everReady = true;
    });
    return client as Client;
  }

  /** Connects; throws StoreUnavailable when Redis does not answer (within a bounded time). */
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    let lastLogged = 0;
    const warnThrottled = (fields: object, msg: string) => {
      // node-redis emits on every failed reconnect; once a few seconds is enough in the log.
      if (Date.now() - lastLogged > 5000) {
        lastLogged = Date.now();
        opts.log?.warn(fields, msg);
      }
    };
    const onError = (err: Error) => warnThrottled({ err: err.message }, 'redis connection error');
    const client = RedisStore.createClient(opts, onError, false);
    const connectTimeoutMs = opts.connectTimeoutMs ?? REDIS_DEFAULTS.connectTimeoutMs;
    const commandTimeoutMs = opts.commandTimeoutMs ?? REDIS_DEFAULTS.commandTimeoutMs;
    try {
      // Bounded as a whole: a Redis that accepts the connection but never answers its handshake
      // (stopped, overloaded) must fail the start too.
      await within(client.connect(), 3 * connectTimeoutMs + commandTimeoutMs, () => new Error('Redis did not complete the connection handshake in time'));
    } catch (err) {
      void Promise.resolve((client as any).destroy()).catch(() => undefined);
      throw new StoreUnavailable(err);
    }
    return new RedisStore(client, opts, warnThrottled);
  }

  /**
   * Drops `stale` (when it is still the current client) for a new connection made in the
   * background. Used when a command got no reply in time: what that connection will deliver next is
   * unknown, so it is not reused. Its pending commands fail at once (their outcome is as unknown
   * as the one that timed out), and commands fail fast until the new connection is ready.
   */
  private replaceClient(stale: Client, reason: string): void {
    // A cluster's and a Sentinel's clients manage their node connections themselves.
    if (this.closed || this.client !== stale || this.mode !== 'single') return;
    this.warnThrottled({ reason }, 'redis: dropping the connection and connecting again');
    const onError = (err: Error) => this.warnThrottled({ err: err.message }, 'redis connection error');
    const fresh = RedisStore.createClient(this.clientOptions, onError, true);
    this.client = fresh;
    this.notReadySince = undefined;
    fresh.connect().catch(() => undefined);
    stale.destroy();
  }

  /** The watchdog's tick: a client that has not been ready for a while is replaced. */
  private checkConnection(): void {
    if (this.mode !== 'single' || this.client.isReady) {
      this.notReadySince = undefined;
      return;
    }
    const now = Date.now();
    this.notReadySince ??= now;
    if (now - this.notReadySince > this.connectTimeoutMs + this.commandTimeoutMs) {
      this.replaceClient(this.client, 'not ready in time');
    }
  }

  /**
   * Runs one command on the current connection, bounded by `commandTimeoutMs`. Any failure is
   * StoreUnavailable (503). A command that timed out is never retried here: it may have run (a
   * consume in particular), and the caller decides what an unknown outcome means.
   */
  private async run<T>(command: string, fn: () => Promise<T>): Promise<T> {
    const client = this.client;
    const started = process.hrtime.bigint();
    try {
      const reply = await within(this.mode === 'cluster' ? retryWhileMigrating(fn) : fn(), this.commandTimeoutMs, () => new CommandTimeout(this.commandTimeoutMs));
      commandSeconds.observe({ command, outcome: 'ok' }, Number(process.hrtime.bigint() - started) / 1e9);
      return reply;
    } catch (err) {
      commandSeconds.observe({ command, outcome: 'error' }, Number(process.hrtime.bigint() - started) / 1e9);
      commandErrors.inc({ command, reason: err instanceof CommandTimeout ? 'timeout' : 'error' });
      if (err instanceof CommandTimeout) this.replaceClient(client, 'command timed out');
      throw new StoreUnavailable(err);
    }
  }

  /**
   * With `waitReplicas`, waits until that many replicas hold the write just made on `key` (Redis
   * `WAIT` on the same connection, which covers every write it sent before); fewer within half the
   * command timeout is StoreUnavailable: the write happened on the master but may not survive its
   * failover, so it is not answered as done (docs/deploy.md).
   */
  private async waitFor(command: string, key: string): Promise<void> {
    if (this.waitReplicas === 0) return;
    const ms = Math.max(1, Math.floor(this.commandTimeoutMs / 2));
    const args = ['WAIT', String(this.waitReplicas), String(ms)];
    const c = this.client as any;
    // WAIT names no key, so a cluster would send it to any node: it goes on the connection of the
    // master that holds `key` (the one the write went on), which getNodeClientForKey gives.
    const acked = Number(await this.run(`${command}.wait`, async () =>
      this.mode === 'cluster' ? (await c.getNodeClientForKey(key, false)).sendCommand(args) : this.mode === 'sentinel' ? c.sendCommand(false, args) : c.sendCommand(args)));
    if (acked < this.waitReplicas) {
      commandErrors.inc({ command, reason: 'replicas' });
      throw new StoreUnavailable(new Error(`${acked} of ${this.waitReplicas} replicas acknowledged the write in ${ms} ms`));
    }
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const reply = await this.run('setIfAbsent', () => this.client.set(this.prefix + key, value, { condition: 'NX', expiration: { type: 'EX', value: ttlSeconds } }));
    if (reply === 'OK') await this.waitFor('setIfAbsent', this.prefix + key);
    return reply === 'OK';
  }

  async get(key: string): Promise<string | null> {
    return this.run('get', () => this.client.get(this.prefix + key) as Promise<string | null>);
  }

  async consume(key: string, step: ConsumeStep): Promise<ConsumeResult> {
    checkConsumeStep(step);
    const companions = step.companions ?? [];
    const args = [step.tombstone, String(step.ttlSeconds), String(step.now), TOMBSTONE_PREFIX];
    const required = Object.entries(step.require ?? {});
    args.push(String(required.length), ...required.flat());
    for (const c of companions) {
      if ('copy' in c) args.push(String(c.ttlSeconds), 'c', '', '0');
      else if (c.pick?.length) args.push(String(c.ttlSeconds), 'p', c.value, String(c.pick.length), ...c.pick);
      else args.push(String(c.ttlSeconds), 'v', c.value, '0');
    }
    const keys = [key, ...companions.map((c) => c.key)].map((k) => this.prefix + k);
    // node-redis runs a defined script by its SHA1 (EVALSHA), and sends it whole only on NOSCRIPT.
    const [code, value] = await this.run('consume', () => (this.client as any).consume(keys, args) as Promise<[number, string?]>);
    if (Number(code) === 4) await this.waitFor('consume', keys[0]!);
    switch (Number(code)) {
      case 0: return { outcome: 'absent' };
      case 1: return { outcome: 'used', tombstone: value! };
      case 2: return { outcome: 'refused' };
      case 3: return { outcome: 'collision' };
      default: return { outcome: 'consumed', value: value! };
    }
  }

  async setIfUnchanged(guardKey: string, expected: string | null, entries: Readonly<Record<string, string>>): Promise<boolean> {
    const names = Object.keys(entries);
    const reply = await this.run('setIfUnchanged', () => this.client.eval(SET_IF_UNCHANGED, {
      keys: [guardKey, ...names].map((k) => this.prefix + k),
      arguments: [expected === null ? '1' : '0', expected ?? '', ...names.map((k) => entries[k]!)],
    }));
    if (Number(reply) === 1) await this.waitFor('setIfUnchanged', this.prefix + guardKey);
    return Number(reply) === 1;
  }

  async delete(key: string): Promise<boolean> {
    const deleted = Number(await this.run('delete', () => this.client.del(this.prefix + key))) > 0;
    if (deleted) await this.waitFor('delete', this.prefix + key);
    return deleted;
  }

  async rateLimit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    // node-redis runs a defined script by its SHA1 (EVALSHA), and sends it whole only on NOSCRIPT.
    const reply = await this.run('rateLimit', () => (this.client as any).rateLimit(this.prefix + key, limit, windowMs) as Promise<number[]>);
    return { allowed: reply[0] === 1, remaining: reply[1]!, resetMs: reply[2]!, retryAfterMs: reply[3]! };
  }

  async publish(channel: string, message: string): Promise<number> {
    return Number(await this.run('publish', () => this.client.publish(this.prefix + channel, message)));
  }

  /**
   * The connection in subscriber mode (a Redis connection that has subscribed may send nothing
   * else): one per store, made by `duplicate()` on the first subscribe, with the same options.
   * node-redis subscribes it again after a reconnect. Its handshake is bounded like a start.
   */
  private subscriber(): Promise<Client> {
    // A cluster's and a Sentinel's client keep a subscriber connection of their own.
    if (this.mode !== 'single') return Promise.resolve(this.client);
    this.subscriberReady ??= (async () => {
      const sub = this.client.duplicate() as Client;
      sub.on('error', (err: Error) => this.warnThrottled({ err: err.message }, 'redis subscriber connection error'));
      try {
        await within(sub.connect(), 3 * this.connectTimeoutMs + this.commandTimeoutMs, () => new CommandTimeout(this.commandTimeoutMs));
      } catch (err) {
        sub.destroy();
        this.subscriberReady = undefined;
        throw new StoreUnavailable(err);
      }
      return sub;
    })();
    return this.subscriberReady;
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    if (this.closed) throw new StoreUnavailable(new Error('the store is closed'));
    const sub = await this.subscriber();
    const name = this.prefix + channel;
    // Its own listener per subscription, so that each unsubscribe ends its own only.
    const listener = (message: string) => handler(message);
    try {
      await within(sub.subscribe(name, listener), this.commandTimeoutMs, () => new CommandTimeout(this.commandTimeoutMs));
    } catch (err) {
      throw new StoreUnavailable(err);
    }
    let done = false;
    return async () => {
      if (done || !sub.isOpen) return;
      done = true;
      try {
        await within(sub.unsubscribe(name, listener), this.commandTimeoutMs, () => new CommandTimeout(this.commandTimeoutMs));
      } catch (err) {
        throw new StoreUnavailable(err);
      }
    };
  }

  async ping(): Promise<void> {
    await this.run('ping', () => (this.mode === 'cluster' ? (this.client as any).sendCommand(undefined, true, ['PING']) : this.client.ping()));
  }

  /**
   * Redis's `maxmemory-policy` and `maxmemory`: from CONFIG GET, or from INFO memory where CONFIG
   * is disabled (managed Redis); `policy` undefined when neither may be read.
   */
  async memoryPolicy(): Promise<{ policy?: string; maxmemory?: number; source?: 'config' | 'info' }> {
    try {
      const conf = await this.run('configGet', () => this.configGetAll());
      if (conf['maxmemory-policy']) return { policy: conf['maxmemory-policy'], maxmemory: Number(conf.maxmemory), source: 'config' };
    } catch {
      // CONFIG is renamed or refused on most managed Redis offerings; INFO usually is not.
    }
    try {
      const info = await this.run('info', () => this.infoAll());
      const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
      const maxmemory = /^maxmemory:(\d+)/m.exec(info)?.[1];
      if (policy) return { policy, maxmemory: maxmemory === undefined ? undefined : Number(maxmemory), source: 'info' };
    } catch {
      // Neither may be read (an ACL without @admin and INFO): the caller says so.
    }
    return {};
  }

  /**
   * `CONFIG GET maxmemory*` of the node, or in a cluster of every master: the first policy that is
   * not noeviction is the answer (one evicting master is enough to lose keys).
   */
  private async configGetAll(): Promise<Record<string, string>> {
    if (this.mode !== 'cluster') return this.client.configGet('maxmemory*') as Promise<Record<string, string>>;
    const cluster = this.client as any;
    const confs: Record<string, string>[] = [];
    for (const master of cluster.masters) confs.push(await (await cluster.nodeClient(master)).configGet('maxmemory*'));
    return confs.find((c) => c['maxmemory-policy'] !== 'noeviction') ?? confs[0] ?? {};
  }

  /** `INFO memory` of the node, or in a cluster of the first master whose policy is not noeviction. */
  private async infoAll(): Promise<string> {
    if (this.mode !== 'cluster') return this.client.info('memory') as Promise<string>;
    const cluster = this.client as any;
    const infos: string[] = [];
    for (const master of cluster.masters) infos.push(await (await cluster.nodeClient(master)).info('memory'));
    return infos.find((i) => !/^maxmemory_policy:noeviction/m.test(i)) ?? infos[0] ?? '';
  }

  /**
   * Stops the watchdog and closes the connection: replies to commands already sent are awaited
   * for at most one command timeout, then the connection is cut.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    const sub = await this.subscriberReady?.catch(() => undefined);
    sub?.destroy();
    const client = this.client;
    // A Sentinel client's destroy is a promise; the others' are not.
    const destroy = () => void Promise.resolve((client as any).destroy()).catch(() => undefined);
    if (!client.isOpen) {
      destroy();
      return;
    }
    try {
      await within(client.close(), this.commandTimeoutMs, () => new CommandTimeout(this.commandTimeoutMs));
    } catch {
      destroy();
    }
  }
}
