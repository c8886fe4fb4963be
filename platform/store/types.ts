import { Problem } from '../http/problem.ts';

/** Values that start with this mark a consumed single-use token (a tombstone). */
export const TOMBSTONE_PREFIX = 'used:';

/**
 * Where tokens and nonces live. Two implementations pass one contract suite
 * (test/store-contract.test.ts): memory (development) and Redis.
 */
export interface TokenStore {
  readonly kind: 'memory' | 'redis';
  /** Stores `value` for `ttlSeconds` unless `key` exists; true when it was stored. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** The live value of `key`, or null. */
  get(key: string): Promise<string | null>;
  /**
   * Redeems a single-use AT for a VT in one atomic step: when `atKey` holds a live AT record
   * (`typ: "at"`, `exp` after `now`), writes the VT's liveness record under `vtKey` (`typ: "vt"`,
   * the AT's app, user and product, `iat: now`, `exp: now + vtTtlSeconds`) only if that key is
   * free, and replaces the AT with `tombstone` for `vtTtlSeconds`. Either both writes happen or
   * neither. Of many concurrent calls on one live AT, exactly one is `redeemed`; the others see
   * the tombstone (`used`). See RedeemResult for what is answered otherwise.
   */
  redeem(atKey: string, vtKey: string, tombstone: string, now: number, vtTtlSeconds: number): Promise<RedeemResult>;
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
 * What `redeem` found: no AT (`absent`); a consumed one (`used`, with its tombstone, which names
 * the VT it gave); a record that is not a live AT (`refused`: expired or not an AT; nothing was
 * written); a VT key already taken (`collision`: nothing was written); or the live AT, now
 * consumed, with its VT record written (`redeemed`, with the AT record as it was).
 */
export type RedeemResult =
  | { outcome: 'absent' }
  | { outcome: 'used'; tombstone: string }
  | { outcome: 'refused' }
  | { outcome: 'collision' }
  | { outcome: 'redeemed'; record: string };

/** The VT liveness record `redeem` writes for an AT record (the same in every store). */
export function visitRecordFor(at: { appId: string; userId: string; productId: string }, now: number, vtTtlSeconds: number): string {
  return JSON.stringify({ typ: 'vt', appId: at.appId, userId: at.userId, productId: at.productId, iat: now, exp: now + vtTtlSeconds });
}

/** The store could not be reached or refused a command: token endpoints fail closed. */
export class StoreUnavailable extends Problem {
  constructor(cause?: unknown) {
    super('store_unavailable', 'The token store is unavailable; try again shortly.', { cause, headers: { 'Retry-After': '1' } });
  }
}

export function checkTombstone(tombstone: string): void {
  if (!tombstone.startsWith(TOMBSTONE_PREFIX)) throw new TypeError(`a tombstone must start with ${TOMBSTONE_PREFIX}`);
}
