/**
 * The gate's keys in the store and its secrets. Every key starts with `challenge:`. The broker's
 * HMAC secrets (one per UTC day, shared by every gateway on the store) sign challenges and passes;
 * a stable secret derives the pairwise user ids.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { TokenStore } from '../../platform/store/index.ts';

/** The secret of key period `kid` (a UTC day number), base64url. */
export const secretKey = (kid: number) => `challenge:secret:${kid}`;
/** The secret the pairwise user ids are derived from. */
export const PAIRWISE_SECRET_KEY = 'challenge:pairwise-secret';
/** A spent solution, by its challenge (a SHA-256, hex), kept until the challenge's expiry. */
export const spentKey = (challenge: string) => `challenge:spent:${challenge}`;
/** A pass's revocation handle, by its `sid`: the pass is live while this exists. */
export const passKey = (sid: string) => `challenge:pass:${sid}`;
/** A refresh nonce handed out and not yet used. */
export const nonceKey = (nonce: string) => `challenge:nonce:${nonce}`;
/** A spent user pass (flows/challenge/user-pass.ts): its device key's kid and the SHA-256 of its `jti`, kept until the pass's expiry. */
export const userPassJtiKey = (kid: string, jti: string) => `challenge:user-jti:${kid}:${createHash('sha256').update(jti).digest('base64url')}`;
/** The difficulty tiers' counters per client address (TokenStore.rateLimit). */
export const tierKey = (tier: number, perMinute: number, subject: string) => `challenge:tier:${tier}:${perMinute}:${subject}`;

export const KEY_PERIOD_SECONDS = 86_400;
/** A period's secret lives two periods and a margin: it verifies for a period after the next one starts. */
const SECRET_TTL_SECONDS = 2 * KEY_PERIOD_SECONDS + 3600;
/** The pairwise secret lives about 13 months; a new one after that changes every pairwise id. */
const PAIRWISE_TTL_SECONDS = 400 * 86_400;

/** The HMAC keys derived from one period's secret, each for one use only. */
export interface PeriodKeys {
  kid: number;
  challenge: Buffer;
  pass: Buffer;
}

const derive = (secret: Buffer, label: string) => createHmac('sha256', secret).update(`h5-broker ${label}`).digest();

/**
 * The broker's secrets, read from the store and kept in memory. A new period's secret is written
 * by the first gateway that needs it (setIfAbsent: the one secret all gateways then read back).
 */
export interface SecretRing {
  /** The current period's keys (writing its secret when it is the first to need it). */
  current(now: number): Promise<PeriodKeys>;
  /** The keys of `kid` when it is the current or the previous period and its secret exists; never writes. */
  forVerify(kid: number, now: number): Promise<PeriodKeys | undefined>;
  pairwise(): Promise<Buffer>;
}

export function createSecretRing(store: TokenStore): SecretRing {
  const cache = new Map<number, PeriodKeys>();
  let pairwiseSecret: Buffer | undefined;
  const period = (now: number) => Math.floor(now / KEY_PERIOD_SECONDS);

  async function load(kid: number, create: boolean): Promise<PeriodKeys | undefined> {
    const hit = cache.get(kid);
    if (hit) return hit;
    if (create) await store.setIfAbsent(secretKey(kid), randomBytes(32).toString('base64url'), SECRET_TTL_SECONDS);
    const raw = await store.get(secretKey(kid));
    if (!raw) return undefined;
    const secret = Buffer.from(raw, 'base64url');
    const keys = { kid, challenge: derive(secret, 'challenge v1'), pass: derive(secret, 'pass v1') };
    for (const k of cache.keys()) if (k < kid - 1) cache.delete(k);
    cache.set(kid, keys);
    return keys;
  }

  return {
    async current(now) {
      const keys = await load(period(now), true);
      if (!keys) throw new Error('the challenge secret could not be read back');
      return keys;
    },
    async forVerify(kid, now) {
      const p = period(now);
      if (!Number.isSafeInteger(kid) || (kid !== p && kid !== p - 1)) return undefined;
      return load(kid, false);
    },
    async pairwise() {
      if (pairwiseSecret) return pairwiseSecret;
      await store.setIfAbsent(PAIRWISE_SECRET_KEY, randomBytes(32).toString('base64url'), PAIRWISE_TTL_SECONDS);
      const raw = await store.get(PAIRWISE_SECRET_KEY);
      if (!raw) throw new Error('the pairwise secret could not be read back');
      return (pairwiseSecret = Buffer.from(raw, 'base64url'));
    },
  };
}

/**
 * The input of every MAC of this flow: each field as its UTF-8 length (4 bytes, big-endian) and
 * its bytes, so that no two field lists give the same input (no splicing one field into another).
 */
export function lengthPrefixed(fields: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    const b = Buffer.from(f, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}
