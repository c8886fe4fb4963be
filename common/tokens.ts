/**
 * Tokens and their records in the store. The AT is opaque and stored under its SHA-256, so a dump
 * of the store yields no usable AT. The VT is a signed JWT (`typ: "vt+jwt"`, ES256); the store
 * keeps its liveness record under its `jti`, which alone is no token: revoking deletes the record.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { randomBytesPooled } from './random.ts';
import { JwsError, signCompact, verifyCompact } from './jws.ts';
import type { SigningKey } from './keys.ts';
import { visitProfile, type Profile } from './profile.ts';
import type { TokenStore } from './store/index.ts';

/** 256 random bits, base64url: 43 characters. */
export function newOpaqueToken(): string {
  return randomBytesPooled(32).toString('base64url');
}

export const OPAQUE_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export const atKey = (atHash: string) => `at:${atHash}`;
/** The VT's liveness record, by its `jti`. */
export const vtKey = (jti: string) => `vt:${jti}`;
export const nonceKey = (appId: string, nonce: string) => `nonce:${appId}:${nonce}`;

export interface AccessTokenRecord {
  typ: 'at';
  appId: string;
  userId: string;
  productId: string;
  /** The external server the VT is also for (its `aud` then names both); absent: the product only. */
  audience?: string;
  /** The user profile the third party supplied (see common/profile.ts). */
  profile?: Profile;
  /** What the operator's edge proxy vouched for, by claim name (the app's `requiredHeader`). */
  attributes?: Profile;
  /** unix seconds */
  exp: number;
}

export interface VisitTokenRecord {
  typ: 'vt';
  appId: string;
  userId: string;
  productId: string;
  iat: number;
  exp: number;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Parses a stored record of the given kind; undefined when it is not one (so kinds never mix). */
export function parseRecord<T extends AccessTokenRecord | VisitTokenRecord>(raw: string, typ: T['typ']): T | undefined {
  try {
    const r = JSON.parse(raw) as T;
    return r && r.typ === typ && typeof r.exp === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The JOSE `typ` of a VT: no other token kind carries it, so none can pass as a VT. */
export const VT_TYP = 'vt+jwt';

/** 128 random bits, base64url (22 characters). */
export const JTI_RE = /^[A-Za-z0-9_-]{22}$/;

/** A fresh VT id: 128 random bits, base64url. */
export function newJti(): string {
  return randomBytesPooled(16).toString('base64url');
}

/**
 * The claims of a VT. `aud` is the product id, or `[productId, audience]` when the AT named an
 * external server: every verifier for either accepts it, one for anything else refuses it.
 */
export interface VisitTokenClaims {
  iss: string;
  sub: string;
  app: string;
  aud: string | string[];
  iat: number;
  exp: number;
  jti: string;
  /** The third party's profile with the operator's attributes over it; omitted when both are empty. */
  profile?: Profile;
}

/** Signs a VT for one visit; returns the compact JWT and its claims. */
export function signVisitToken(
  key: SigningKey,
  v: {
    issuer: string; userId: string; appId: string; productId: string; ttlSeconds: number; now?: number;
    audience?: string; profile?: Profile; attributes?: Profile;
    /** The VT's id when it was drawn before signing (its liveness record is written first); else a fresh one. */
    jti?: string;
  },
): { vt: string; claims: VisitTokenClaims } {
  const iat = v.now ?? nowSeconds();
  const profile = visitProfile(v.profile, v.attributes);
  const claims: VisitTokenClaims = {
    iss: v.issuer, sub: v.userId, app: v.appId,
    // A string as before when there is no external audience, so existing verifiers see no change.
    aud: v.audience ? [v.productId, v.audience] : v.productId,
    iat, exp: iat + v.ttlSeconds, jti: v.jti ?? newJti(),
    ...(profile && { profile }),
  };
  return { vt: signCompact({ typ: VT_TYP, kid: key.kid }, { ...claims }, key.privateKey), claims };
}

/** True when the VT's `aud` names `audience`. */
export function hasAudience(claims: Pick<VisitTokenClaims, 'aud'>, audience: string): boolean {
  return Array.isArray(claims.aud) ? claims.aud.includes(audience) : claims.aud === audience;
}

/**
 * Verifies a VT's signature and claims (typ, alg, kid, iss, exp, and the claim types); throws
 * JwsError on any failure. Liveness (revocation) is `findVisitToken`'s part.
 */
export async function verifyVisitToken(
  vt: unknown,
  opts: { issuer: string; keyFor: (kid: string) => KeyObject | undefined | Promise<KeyObject | undefined>; now?: number },
): Promise<VisitTokenClaims> {
  const { payload: c } = await verifyCompact(vt, { typ: VT_TYP, keyFor: opts.keyFor });
  const str = (v: unknown) => typeof v === 'string' && v.length > 0;
  const int = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v);
  const audOk = str(c.aud) || (Array.isArray(c.aud) && c.aud.length > 0 && c.aud.every(str));
  if (!str(c.iss) || !str(c.sub) || !str(c.app) || !audOk || !int(c.iat) || !int(c.exp) || typeof c.jti !== 'string' || !JTI_RE.test(c.jti)) {
    throw new JwsError('claims malformed');
  }
  if (c.iss !== opts.issuer) throw new JwsError('iss');
  if ((c.exp as number) <= (opts.now ?? nowSeconds())) throw new JwsError('expired');
  return c as unknown as VisitTokenClaims;
}

/** The live record of a VT by its `jti`, or undefined when it is unknown, expired or revoked. */
export async function findVisitToken(store: TokenStore, jti: string, now = nowSeconds()): Promise<VisitTokenRecord | undefined> {
  if (!JTI_RE.test(jti)) return undefined;
  const raw = await store.get(vtKey(jti));
  const rec = raw ? parseRecord<VisitTokenRecord>(raw, 'vt') : undefined;
  return rec && rec.exp > now ? rec : undefined;
}
