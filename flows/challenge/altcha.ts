/**
 * Challenges in ALTCHA's published proof-of-work format, version 1 ("PoW v1": `altcha-lib/v1` of
 * altcha-lib 2.x and the `altcha` widget's classic challenge JSON): the client finds the `number`,
 * 0 ≤ number ≤ maxnumber, with SHA-256(salt + number) = challenge, and sends back
 * base64(JSON {algorithm, challenge, number, salt, signature}).
 *
 * The salt carries our bound fields as ALTCHA does its `expires` (`<random>?<params>&`, the `&`
 * ending it so that the number cannot splice into a parameter): the key period, the expiry, the
 * difficulty, the method and the path. The signature is our own: HMAC-SHA256 under the period's
 * challenge key over the length-prefixed fields (the challenge, the salt, and each bound field
 * again), verified before anything else; then every field is checked and the hash recomputed, and
 * only a solution that holds is spent, once, by an atomic set-if-absent with a TTL to its expiry.
 */
import { createHash, createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import type { TokenStore } from '../../platform/store/index.ts';
import { lengthPrefixed, spentKey, type PeriodKeys, type SecretRing } from './records.ts';

export const ALTCHA_ALGORITHM = 'SHA-256';
/** What the MAC input starts with: the format and its version. */
const MAC_LABEL = 'h5-broker altcha-v1 challenge';
/** A payload longer than this is no payload of ours (a challenge's salt is about 150 characters). */
export const MAX_PAYLOAD_LENGTH = 2048;

/** A challenge as the client receives it: ALTCHA v1's challenge JSON. */
export interface AltchaChallenge {
  algorithm: typeof ALTCHA_ALGORITHM;
  challenge: string;
  maxnumber: number;
  salt: string;
  signature: string;
}

/** What a challenge is bound to. */
export interface ChallengeBinding {
  method: string;
  path: string;
}

/** Why a solution was refused (for the metrics and the log; the client is told in general words). */
export type SolutionFailure = 'malformed' | 'signature' | 'expired' | 'route' | 'difficulty' | 'hash' | 'replayed';

export type SolutionResult = { ok: true; expires: number; maxnumber: number } | { ok: false; reason: SolutionFailure };

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

function macOf(keys: PeriodKeys, challenge: string, salt: string, f: { kid: number; expires: number; maxnumber: number; method: string; path: string }): Buffer {
  return createHmac('sha256', keys.challenge)
    .update(lengthPrefixed([MAC_LABEL, ALTCHA_ALGORITHM, challenge, salt, String(f.kid), String(f.expires), String(f.maxnumber), f.method, f.path]))
    .digest();
}

/** A fresh challenge of difficulty `maxnumber` for `binding`, expiring at `expires` (unix s). */
export function createChallenge(keys: PeriodKeys, binding: ChallengeBinding, maxnumber: number, expires: number): AltchaChallenge {
  const params = new URLSearchParams({ kid: String(keys.kid), expires: String(expires), maxnumber: String(maxnumber), method: binding.method, path: binding.path });
  const salt = `${randomBytesPooled(12).toString('hex')}?${params.toString()}&`;
  const number = randomInt(0, maxnumber + 1);
  const challenge = sha256Hex(salt + number);
  const signature = macOf(keys, challenge, salt, { kid: keys.kid, expires, maxnumber, method: binding.method, path: binding.path }).toString('hex');
  return { algorithm: ALTCHA_ALGORITHM, challenge, maxnumber, salt, signature };
}

const HEX64 = /^[0-9a-f]{64}$/;
const SALT_RE = /^([0-9a-f]{24})\?([A-Za-z0-9%._~*+=&-]{1,400})&$/;
const PARAM_NAMES = ['kid', 'expires', 'maxnumber', 'method', 'path'];

interface ParsedPayload {
  challenge: string;
  salt: string;
  signature: string;
  number: number;
  maxnumber?: number;
}

/** The payload's members with their types checked; undefined when it is not one. */
function parsePayload(encoded: string): ParsedPayload | undefined {
  if (encoded.length > MAX_PAYLOAD_LENGTH || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) return undefined;
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!p || typeof p !== 'object' || Array.isArray(p)) return undefined;
  if (p.algorithm !== ALTCHA_ALGORITHM || typeof p.challenge !== 'string' || !HEX64.test(p.challenge)) return undefined;
  if (typeof p.signature !== 'string' || !HEX64.test(p.signature) || typeof p.salt !== 'string' || !SALT_RE.test(p.salt)) return undefined;
  if (typeof p.number !== 'number' || !Number.isSafeInteger(p.number) || p.number < 0) return undefined;
  if (p.maxnumber !== undefined && (typeof p.maxnumber !== 'number' || !Number.isSafeInteger(p.maxnumber))) return undefined;
  return { challenge: p.challenge, salt: p.salt, signature: p.signature, number: p.number, maxnumber: p.maxnumber as number | undefined };
}

/** The salt's bound fields, each exactly once; undefined otherwise. */
function saltFields(salt: string): { kid: number; expires: number; maxnumber: number; method: string; path: string } | undefined {
  const query = SALT_RE.exec(salt)![2]!;
  const params = new URLSearchParams(query);
  const names = [...params.keys()];
  if (names.length !== PARAM_NAMES.length || !PARAM_NAMES.every((n) => params.getAll(n).length === 1)) return undefined;
  const int = (s: string) => (/^\d{1,15}$/.test(s) ? Number(s) : undefined);
  const kid = int(params.get('kid')!);
  const expires = int(params.get('expires')!);
  const maxnumber = int(params.get('maxnumber')!);
  if (kid === undefined || expires === undefined || maxnumber === undefined) return undefined;
  return { kid, expires, maxnumber, method: params.get('method')!, path: params.get('path')! };
}

/**
 * Verifies a solution for a request to `binding` and spends it: the payload's shape, then the
 * signature (before any other field is believed), then expiry, route, difficulty and the hash
 * (recomputed here, never taken from the client), and only then one set-if-absent in the store.
 */
export async function verifySolution(
  store: TokenStore, secrets: SecretRing, encoded: string, binding: ChallengeBinding, now: number,
): Promise<SolutionResult> {
  const p = parsePayload(encoded);
  const f = p && saltFields(p.salt);
  if (!p || !f) return { ok: false, reason: 'malformed' };
  const keys = await secrets.forVerify(f.kid, now);
  if (!keys) return { ok: false, reason: 'signature' };
  const expected = macOf(keys, p.challenge, p.salt, f);
  if (!timingSafeEqual(expected, Buffer.from(p.signature, 'hex'))) return { ok: false, reason: 'signature' };
  // From here on the salt's fields are ours.
  if (f.expires <= now) return { ok: false, reason: 'expired' };
  if (f.method !== binding.method || f.path !== binding.path) return { ok: false, reason: 'route' };
  if ((p.maxnumber !== undefined && p.maxnumber !== f.maxnumber) || p.number > f.maxnumber) return { ok: false, reason: 'difficulty' };
  if (sha256Hex(p.salt + p.number) !== p.challenge) return { ok: false, reason: 'hash' };
  const fresh = await store.setIfAbsent(spentKey(p.challenge), '1', Math.max(1, f.expires - now));
  if (!fresh) return { ok: false, reason: 'replayed' };
  return { ok: true, expires: f.expires, maxnumber: f.maxnumber };
}
