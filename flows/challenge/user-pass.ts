/**
 * The user variant of the pass: a short-lived compact JWS the client signs itself with a device key
 * registered for its user in the countersign flow's KeyRegistry (P-256, ES256), sent as the
 * `Broker-Pass` header instead of solving a challenge. Header `{"alg":"ES256","typ":
 * "broker-user-pass+jwt","kid":<RFC 7638 thumbprint>}`; claims `{sub, app, origin, htm, htu, iat,
 * exp, jti, nonce}` with `htm`/`htu` the request's method and path, `exp - iat <= 300`, and `nonce`
 * from `POST /v1/challenge/user-nonce` (stateless: an HMAC under the period's pass key over its
 * expiry and the origin it was issued to). Verified with jose (`jwtVerify`) under the registered
 * public key found by `kid` on every use (a revoked key fails at once); the key must be an active
 * device key of the claimed app and user; then origin, route, lifetime and nonce; and only then the
 * `jti` is spent once (set-if-absent, TTL to the pass's expiry): nothing is written for a pass that
 * did not verify in full.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, importJWK, jwtVerify, type JWTPayload } from 'jose';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import type { TokenStore } from '../../platform/store/index.ts';
import { KID_RE, type KeyRegistry, type RegisteredKey } from '../countersign/registry.ts';
import { lengthPrefixed, userPassJtiKey, type SecretRing } from './records.ts';

export const USER_PASS_TYP = 'broker-user-pass+jwt';
/** The longest lifetime (`exp - iat`) a user pass may claim (s). */
export const USER_PASS_MAX_LIFETIME_SECONDS = 300;
/** How long a user-pass nonce may be signed into a pass (s). */
export const USER_NONCE_TTL_SECONDS = 120;
/** Clock skew allowed on `iat` and `exp` (s). */
const SKEW_SECONDS = 5;
const MAX_USER_PASS_LENGTH = 2048;
const NONCE_LABEL = 'h5-broker user-pass nonce v1';
const NONCE_RE = /^un1\.(\d{1,8})\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const COMPACT_JWS_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export type UserPassFailure = 'malformed' | 'signature' | 'key' | 'owner' | 'expired' | 'lifetime' | 'origin' | 'route' | 'nonce' | 'replayed';

export interface UserPassClaims {
  sub: string;
  app: string;
  origin: string;
  htm: string;
  htu: string;
  iat: number;
  exp: number;
  jti: string;
  nonce: string;
}

/** Whether a `Broker-Pass` value has the user variant's shape (a compact JWS; a provider pass starts with `bp1.`). */
export const looksLikeUserPass = (value: string) => value.length <= MAX_USER_PASS_LENGTH && !value.startsWith('bp1.') && COMPACT_JWS_RE.test(value);

function nonceMac(key: Buffer, kid: number, exp: number, rand: string, origin: string): Buffer {
  return createHmac('sha256', key).update(lengthPrefixed([NONCE_LABEL, String(kid), String(exp), rand, origin])).digest();
}

/** A nonce for `origin`, valid USER_NONCE_TTL_SECONDS: `un1.<kid>.<exp>.<random>.<MAC>`; nothing is stored. */
export async function issueUserNonce(secrets: SecretRing, origin: string, now: number): Promise<{ nonce: string; expiresIn: number }> {
  const keys = await secrets.current(now);
  const exp = now + USER_NONCE_TTL_SECONDS;
  const rand = randomBytesPooled(16).toString('base64url');
  return { nonce: `un1.${keys.kid}.${exp}.${rand}.${nonceMac(keys.pass, keys.kid, exp, rand, origin).toString('base64url')}`, expiresIn: USER_NONCE_TTL_SECONDS };
}

/** Whether `nonce` is one of ours, issued to `origin` and not expired. */
export async function checkUserNonce(secrets: SecretRing, nonce: unknown, origin: string, now: number): Promise<boolean> {
  const m = typeof nonce === 'string' ? NONCE_RE.exec(nonce) : null;
  if (!m) return false;
  const kid = Number(m[1]);
  const exp = Number(m[2]);
  if (exp <= now) return false;
  const keys = await secrets.forVerify(kid, now);
  return !!keys && timingSafeEqual(nonceMac(keys.pass, kid, exp, m[3]!, origin), Buffer.from(m[4]!, 'base64url'));
}

export interface UserPassDeps {
  store: TokenStore;
  secrets: SecretRing;
  /** The countersign flow's registered keys (device keys only count). */
  registry: KeyRegistry;
}

export interface UserPassRequest {
  /** The request's `Origin` header. */
  origin: string | undefined;
  method: string;
  path: string;
}

type Result = { ok: true; claims: UserPassClaims; key: RegisteredKey } | { ok: false; reason: UserPassFailure };

class KeyLookupFailed extends Error {}

/** The per-request check of a user pass; see the file's comment for the order. */
export async function checkUserPass(deps: UserPassDeps, token: string, req: UserPassRequest, now: number): Promise<Result> {
  if (!looksLikeUserPass(token)) return { ok: false, reason: 'malformed' };
  let key: RegisteredKey | undefined;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, async (header) => {
      // Read on every use: a key revoked a moment ago no longer verifies anything.
      const found = typeof header.kid === 'string' && KID_RE.test(header.kid) ? await deps.registry.find(header.kid) : undefined;
      if (!found || found.kind !== 'device' || found.status !== 'active' || found.kid !== header.kid) throw new KeyLookupFailed();
      key = found;
      return importJWK({ kty: 'EC', crv: 'P-256', x: found.jwk.x, y: found.jwk.y }, 'ES256');
    }, {
      algorithms: ['ES256'],
      typ: USER_PASS_TYP,
      currentDate: new Date(now * 1000),
      clockTolerance: SKEW_SECONDS,
      requiredClaims: ['sub', 'app', 'origin', 'htm', 'htu', 'iat', 'exp', 'jti', 'nonce'],
    }));
  } catch (err) {
    if (err instanceof KeyLookupFailed) return { ok: false, reason: 'key' };
    if (err instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) return { ok: false, reason: 'signature' };
    return { ok: false, reason: 'malformed' };
  }
  const c = payload as unknown as UserPassClaims;
  const str = (v: unknown, max = 200) => typeof v === 'string' && v.length > 0 && v.length <= max;
  if (![c.sub, c.app, c.origin, c.htm, c.htu, c.jti].every((v) => str(v)) || !str(c.nonce, 120)) return { ok: false, reason: 'malformed' };
  if (!key || key.app !== c.app || key.sub !== c.sub) return { ok: false, reason: 'owner' };
  if (c.exp - c.iat > USER_PASS_MAX_LIFETIME_SECONDS || c.iat > now + SKEW_SECONDS) return { ok: false, reason: 'lifetime' };
  if (!req.origin || req.origin !== c.origin) return { ok: false, reason: 'origin' };
  if (c.htm !== req.method || c.htu !== req.path) return { ok: false, reason: 'route' };
  if (!(await checkUserNonce(deps.secrets, c.nonce, c.origin, now))) return { ok: false, reason: 'nonce' };
  // Spent once, only now that everything verified; kept until the pass could no longer verify anyway.
  const ttl = Math.max(1, c.exp + SKEW_SECONDS - now);
  if (!(await deps.store.setIfAbsent(userPassJtiKey(key.kid, c.jti), '1', ttl))) return { ok: false, reason: 'replayed' };
  return { ok: true, claims: c, key };
}
