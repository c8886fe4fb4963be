import { Problem } from '../http/problem.ts';

/** Values that start with this mark a consumed single-use token (a tombstone). */
export const TOMBSTONE_PREFIX = 'used:';

/**
 * Where tokens and nonces live: generic primitives with no protocol words (get, setIfAbsent,
 * consume-once with a tombstone and companions, compare-and-set, delete, rate limit,
 * publish/subscribe), so that a new flow adds no store method. Two implementations pass one
 * contract suite (test/platform/store/contract.test.ts): memory (development) and Redis.
 */
export interface TokenStore {
  readonly kind: 'memory' | 'redis';
  /** Stores `value` for `ttlSeconds` unless `key` exists; true when it was stored. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** The live value of `key`, or null. */
  get(key: string): Promise<string | null>;
  /**
   * Consumes a single-use value once, in one atomic step (one Lua script on Redis): when `key`
   * holds a live value (not a tombstone; when it is a JSON object with an `exp` member, `exp` is a
   * number after `now`; when `require` is given, it is a JSON object whose named members equal
   * those strings), writes every companion only if none of their keys is taken, and replaces the
   * value with `tombstone` for `ttlSeconds`. Either every write happens or none. Of many concurrent
   * calls on one live value exactly one is `consumed`; the others see the tombstone (`used`).
   * See ConsumeResult for what is answered otherwise.
   */
  consume(key: string, step: ConsumeStep): Promise<ConsumeResult>;
  /**
   * Writes every entry of `entries` (without expiry) in one atomic step, but only when `guardKey`
   * holds exactly `expected` (null: absent); true when written. Optimistic concurrency for the
   * few documents that are replaced whole, such as the signing key set: of two writers that read
   * the same guard, one wins and the other learns it lost. `guardKey` may be one of the entries.
   */
  setIfUnchanged(guardKey: string, expected: string | null, entries: Readonly<Record<string, string>>): Promise<boolean>;
  /** Removes `key`; true when it existed. */
  delete(key: string): Promise<boolean>;
  /**
   * Counts one request against a limit of `limit` requests per `windowMs` for the subject `key`,
   * in one atomic step (one Lua script on Redis, so every gateway process shares the count): GCRA,
   * where a burst of `limit` is allowed at once and the allowance then comes back at one request
   * per `windowMs / limit`. A refused request changes nothing. The clock is the store's (Redis
   * `TIME`), so the gateways' clocks do not matter. Keep one `limit` and `windowMs` per key.
   */
  rateLimit(key: string, limit: number, windowMs: number): Promise<RateLimitResult>;
  /**
   * Sends `message` to every current subscriber of `channel`, in every process sharing the store
   * (Redis PUBLISH); answers how many subscriptions it reached (in Redis, across processes, the
   * number of subscribed connections; on a Redis Cluster, only those of the node it was sent to,
   * though every node's subscribers receive it). Fire and forget: nothing is kept for a later
   * subscriber.
   */
  publish(channel: string, message: string): Promise<number>;
  /**
   * Calls `handler` with each message published on `channel` from now on (Redis SUBSCRIBE, on a
   * connection of its own). Resolves once the subscription is in place, with the function that
   * ends it.
   */
  subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>>;
  /** Throws StoreUnavailable when the store cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What TokenStore.rateLimit decided for one request. */
export interface RateLimitResult {
  allowed: boolean;
  /** How many more requests the subject may make right now (0 when refused). */
  remaining: number;
  /** Milliseconds until the whole limit is available again. */
  resetMs: number;
  /** When refused: milliseconds until one request is allowed again (at least 1); else 0. */
  retryAfterMs: number;
}

/**
 * An entry that `consume` writes in the same atomic step as the tombstone, only if its key is free.
 * Its value is `value` as given; or, with `pick`, `value` (a JSON object text, without the picked
 * members) with those members of the consumed JSON object added (those it has); or, with
 * `copy: true`, the consumed value itself, byte for byte.
 */
export type Companion =
  | { key: string; ttlSeconds: number; value: string; pick?: readonly string[] }
  | { key: string; ttlSeconds: number; copy: true };

/** What `consume` is asked to do with a live value. */
export interface ConsumeStep {
  /** What replaces the value; starts with TOMBSTONE_PREFIX. */
  tombstone: string;
  /** How long the tombstone is kept (s). */
  ttlSeconds: number;
  /** The caller's clock (unix s), for the value's `exp`. */
  now: number;
  /** Members the consumed value (then a JSON object) must hold exactly, e.g. `{ typ: "at" }`. */
  require?: Readonly<Record<string, string>>;
  companions?: readonly Companion[];
}

/**
 * What `consume` found: nothing (`absent`); a consumed value (`used`, with its tombstone); a value
 * it may not consume (`refused`: expired, not what `require` names, or not a JSON object where a
 * companion picks from it; nothing was written); a companion key already taken (`collision`:
 * nothing was written); or the live value, now consumed, with its companions written (`consumed`,
 * with the value as it was).
 */
export type ConsumeResult =
  | { outcome: 'absent' }
  | { outcome: 'used'; tombstone: string }
  | { outcome: 'refused' }
  | { outcome: 'collision' }
  | { outcome: 'consumed'; value: string };

/** A message on a publish/subscribe channel; see TokenStore.subscribe. */
export type MessageHandler = (message: string) => void;

/** The store could not be reached or refused a command: token endpoints fail closed. */
export class StoreUnavailable extends Problem {
  constructor(cause?: unknown) {
    super('store_unavailable', 'The token store is unavailable; try again shortly.', { cause, headers: { 'Retry-After': '1' } });
  }
}

/** Checks what `consume` is asked before anything is sent; throws TypeError. */
export function checkConsumeStep(step: ConsumeStep): void {
  if (!step.tombstone.startsWith(TOMBSTONE_PREFIX)) throw new TypeError(`a tombstone must start with ${TOMBSTONE_PREFIX}`);
  const ttls = [step.ttlSeconds, ...(step.companions ?? []).map((c) => c.ttlSeconds)];
  if (!ttls.every((t) => Number.isSafeInteger(t) && t > 0)) throw new TypeError('every TTL must be a positive whole number of seconds');
  for (const c of step.companions ?? []) {
    if ('pick' in c && c.pick?.length && !/^\{[\s\S]*\}$/.test(c.value)) throw new TypeError('a companion that picks members must have a JSON object as its value');
  }
}

/**
 * A picking companion's value (the same in every store): `value` with `member: consumed[member]`
 * appended for each picked member the consumed object has. Appended as text, so the caller's
 * members keep their order and spelling.
 */
export function pickedValue(value: string, members: readonly string[], consumed: Record<string, unknown>): string {
  const parts = members.filter((m) => Object.prototype.hasOwnProperty.call(consumed, m) && consumed[m] !== undefined).map((m) => `${JSON.stringify(m)}:${JSON.stringify(consumed[m])}`);
  if (parts.length === 0) return value;
  const head = value.slice(0, -1);
  return `${head}${/^\{\s*$/.test(head) ? '' : ','}${parts.join(',')}}`;
}

/** How many leading characters of an id name its Redis Cluster slot (see slotTag). */
export const SLOT_TAG_LENGTH = 3;

/**
 * The Redis Cluster hash tag of a key built from `id` (a random base64url id or hash): `{` its
 * first SLOT_TAG_LENGTH characters `}`. Redis Cluster places a key by the text between its first
 * `{` and the next `}`, so keys of one id (and of ids that share those characters) share one slot,
 * which a multi-key script needs; 64³ tags spread over the 16384 slots. Outside a cluster it is
 * only part of the name.
 */
export function slotTag(id: string): string {
  return `{${id.slice(0, SLOT_TAG_LENGTH)}}`;
}
