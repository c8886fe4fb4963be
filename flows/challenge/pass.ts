/**
 * The signed pass that lets a client skip the gate (provider variant: signed by the broker, HMAC
 * under the period's pass key). Text: `bp1.<payload, base64url JSON>.<MAC, base64url>`, the MAC over
 * the length-prefixed label, key period and payload. It is short-lived (CHALLENGE_PASS_TTL_SECONDS),
 * bound to the page's origin and to the thumbprint (RFC 7638) of a P-256 key the page holds, live
 * while its revocation handle `challenge:pass:<sid>` is in the store, and names the user by a
 * pairwise id (per broker and app: no cross-site tracker). The page refreshes it by signing a
 * single-use server nonce with its key, until CHALLENGE_PASS_MAX_AGE_SECONDS after issuance.
 */
import { createHash, createHmac, createPublicKey, timingSafeEqual, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import type { TokenStore } from '../../platform/store/index.ts';
import { lengthPrefixed, passKey, type SecretRing } from './records.ts';

export const PASS_PREFIX = 'bp1';
const MAC_LABEL = 'h5-broker pass v1';
export const MAX_PASS_LENGTH = 1024;
/** What the page signs to refresh its pass. */
export const REFRESH_LABEL = 'h5-broker pass refresh v1';

export interface PassClaims {
  /** The key period whose pass key signed it. */
  kid: number;
  /** The pass's id: its revocation handle is `challenge:pass:<sid>`, kept through refreshes. */
  sid: string;
  /** The pairwise user id (per broker and app). */
  sub: string;
  app: string;
  /** The origin the pass was issued to (the page's). */
  org: string;
  /** The RFC 7638 thumbprint of the page's P-256 public key. */
  jkt: string;
  /** When the pass was first issued (unix s): refreshes end CHALLENGE_PASS_MAX_AGE_SECONDS after it. */
  auth: number;
  iat: number;
  exp: number;
}

/** The revocation handle's value. */
export interface PassRecord {
  typ: 'pass';
  app: string;
  sub: string;
  jkt: string;
  org: string;
  auth: number;
}

export type PassFailure = 'malformed' | 'signature' | 'expired' | 'origin' | 'revoked' | 'too_old' | 'key' | 'nonce';

/** The pairwise user id of `userId` of `app` at this broker `issuer`: 128 bits, base64url. */
export function pairwiseId(secret: Buffer, issuer: string, app: string, userId: string): string {
  return createHmac('sha256', secret).update(lengthPrefixed(['h5-broker pairwise v1', issuer, app, userId])).digest().subarray(0, 16).toString('base64url');
}

/** The RFC 7638 thumbprint (SHA-256, base64url) of a P-256 public JWK; undefined when it is not one. */
export function p256Thumbprint(jwk: unknown): string | undefined {
  const k = jwk as Record<string, unknown> | null;
  const b64 = (v: unknown) => typeof v === 'string' && /^[A-Za-z0-9_-]{43}$/.test(v);
  if (!k || typeof k !== 'object' || k.kty !== 'EC' || k.crv !== 'P-256' || !b64(k.x) || !b64(k.y) || 'd' in k) return undefined;
  const canonical = JSON.stringify({ crv: 'P-256', kty: 'EC', x: k.x, y: k.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** Whether `proof` (ECDSA P-256 SHA-256, r||s, base64url) signs `message` under `jwk`. */
export function verifyKeyProof(jwk: { x: string; y: string }, message: string, proof: unknown): boolean {
  if (typeof proof !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(proof)) return false;
  try {
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } as JsonWebKey, format: 'jwk' });
    return verifySignature('sha256', Buffer.from(message, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(proof, 'base64url'));
  } catch {
    return false;
  }
}

/** What a refresh proof signs: the label, the nonce and the origin, one per line. */
export const refreshMessage = (nonce: string, origin: string) => `${REFRESH_LABEL}\n${nonce}\n${origin}`;

function mac(key: Buffer, kid: number, payload: string): Buffer {
  return createHmac('sha256', key).update(lengthPrefixed([MAC_LABEL, String(kid), payload])).digest();
}

export const newSid = () => randomBytesPooled(16).toString('base64url');

/** Signs `claims` with the current period's pass key. */
export async function signPass(secrets: SecretRing, claims: Omit<PassClaims, 'kid'>, now: number): Promise<{ pass: string; claims: PassClaims }> {
  const keys = await secrets.current(now);
  const full: PassClaims = { ...claims, kid: keys.kid };
  const payload = Buffer.from(JSON.stringify(full)).toString('base64url');
  return { pass: `${PASS_PREFIX}.${payload}.${mac(keys.pass, keys.kid, payload).toString('base64url')}`, claims: full };
}

const PASS_RE = /^bp1\.([A-Za-z0-9_-]{20,900})\.([A-Za-z0-9_-]{43})$/;

/** A pass's claims when its MAC holds (its expiry, origin and liveness are not checked here). */
export async function openPass(secrets: SecretRing, pass: string, now: number): Promise<{ ok: true; claims: PassClaims } | { ok: false; reason: PassFailure }> {
  const m = pass.length <= MAX_PASS_LENGTH ? PASS_RE.exec(pass) : null;
  if (!m) return { ok: false, reason: 'malformed' };
  const payload = m[1]!;
  let c: PassClaims;
  try {
    c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!c || typeof c !== 'object' || typeof c.kid !== 'number') return { ok: false, reason: 'malformed' };
  const keys = await secrets.forVerify(c.kid, now);
  if (!keys || !timingSafeEqual(mac(keys.pass, keys.kid, payload), Buffer.from(m[2]!, 'base64url'))) return { ok: false, reason: 'signature' };
  const str = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 200;
  const int = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v);
  if (![c.sid, c.sub, c.app, c.org, c.jkt].every(str) || ![c.auth, c.iat, c.exp].every(int)) return { ok: false, reason: 'malformed' };
  return { ok: true, claims: c };
}

/** The live revocation handle of a pass, or undefined (revoked, or past its max age). */
export async function passRecord(store: TokenStore, claims: PassClaims): Promise<PassRecord | undefined> {
  const raw = await store.get(passKey(claims.sid));
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as PassRecord;
    return r.typ === 'pass' && r.app === claims.app && r.sub === claims.sub && r.jkt === claims.jkt && r.org === claims.org && r.auth === claims.auth ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The per-request check: the MAC, the expiry, the origin (the request's `Origin` must be the one
 * the pass was issued to), then the revocation handle (one store read).
 */
export async function checkPass(store: TokenStore, secrets: SecretRing, pass: string, origin: string | undefined, now: number): Promise<{ ok: true; claims: PassClaims } | { ok: false; reason: PassFailure }> {
  const opened = await openPass(secrets, pass, now);
  if (!opened.ok) return opened;
  const c = opened.claims;
  if (c.exp <= now) return { ok: false, reason: 'expired' };
  if (!origin || origin !== c.org) return { ok: false, reason: 'origin' };
  if (!(await passRecord(store, c))) return { ok: false, reason: 'revoked' };
  return opened;
}
