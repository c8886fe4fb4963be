/**
 * The offline authorization password of level 2: stored only as an scrypt hash (node:crypto) with
 * a per-user random salt, at most MAX_FAILURES consecutive failures, then locked for good (the
 * lock is lifted by an operator deleting the record; there is no self-service reset here).
 *
 * The failure count is reserved before the hash is compared, by a compare-and-set on the record:
 * of any number of concurrent attempts at most MAX_FAILURES ever reach the comparison, so a burst
 * of guesses cannot outrun the count (a lockout that is checked but not enforced at redemption is
 * the class of Keycloak's CIBA issues the flow's issue cites). A success resets the count.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { TokenStore } from '../../platform/store/index.ts';
import type { Owner } from './registry.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

export const MAX_FAILURES = 5;
/** scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, RFC 7914's interactive figure). */
const PARAMS = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const HASH_BYTES = 32;
const PASSWORD_TTL_SECONDS = 10 * 365 * 86400;

export const passwordKey = (owner: Owner) => `cs-pw:${owner.app}:${owner.sub}`;

interface PasswordRecord {
  typ: 'cs-pw';
  alg: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  hash: string;
  failures: number;
}

function parse(raw: string | null): PasswordRecord | undefined {
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as PasswordRecord;
    return r && r.typ === 'cs-pw' && typeof r.failures === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Acceptable passwords: 6 to 64 characters. */
export const isAcceptablePassword = (pw: unknown): pw is string => typeof pw === 'string' && pw.length >= 6 && pw.length <= 64;

/** Sets the user's password once; false when one is already set. */
export async function setPassword(store: TokenStore, owner: Owner, password: string): Promise<boolean> {
  const salt = randomBytes(16);
  const hash = await scrypt(password.normalize('NFC'), salt, HASH_BYTES, PARAMS);
  const record: PasswordRecord = { typ: 'cs-pw', alg: 'scrypt', N: PARAMS.N, r: PARAMS.r, p: PARAMS.p, salt: salt.toString('base64url'), hash: hash.toString('base64url'), failures: 0 };
  return store.setIfAbsent(passwordKey(owner), JSON.stringify(record), PASSWORD_TTL_SECONDS);
}

/**
 * True when `password` is the user's and the record is not locked. Every other outcome (no
 * password set, locked, wrong, a lost race) is false: the caller answers one generic error.
 */
export async function checkPassword(store: TokenStore, owner: Owner, password: string): Promise<boolean> {
  const key = passwordKey(owner);
  for (let attempt = 0; attempt < 8; attempt++) {
    const raw = await store.get(key);
    const rec = parse(raw);
    if (!rec || rec.failures >= MAX_FAILURES) return false;
    // Counted as a failure first; a success below takes it back.
    if (!(await store.setIfUnchanged(key, raw, { [key]: JSON.stringify({ ...rec, failures: rec.failures + 1 }) }))) continue;
    const hash = await scrypt(password.normalize('NFC'), Buffer.from(rec.salt, 'base64url'), HASH_BYTES, { N: rec.N, r: rec.r, p: rec.p, maxmem: PARAMS.maxmem });
    const expected = Buffer.from(rec.hash, 'base64url');
    if (hash.length !== expected.length || !timingSafeEqual(hash, expected)) return false;
    for (let i = 0; i < 8; i++) {
      const nowRaw = await store.get(key);
      const now = parse(nowRaw);
      if (!now || now.hash !== rec.hash) return false;
      if (await store.setIfUnchanged(key, nowRaw, { [key]: JSON.stringify({ ...now, failures: 0 }) })) return true;
    }
    return false;
  }
  return false;
}
