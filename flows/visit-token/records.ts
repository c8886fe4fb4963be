/**
 * Tokens and their records in the store. The AT is opaque and stored under its SHA-256, so a dump
 * of the store yields no usable AT. The VT is a signed JWT (`typ: "vt+jwt"`, ES256); the store
 * keeps its liveness record under its `jti`, which alone is no token: revoking deletes the record.
 */
import type { KeyObject } from 'node:crypto';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import { JwsError, signCompact, verifyCompact } from '../../platform/crypto/jws.ts';
import type { SigningKey } from '../keys/keys.ts';
import { visitProfile, type Profile } from '../apps/profile.ts';
import type { TokenStore } from '../../platform/store/index.ts';
import { nowSeconds } from '../../platform/time.ts';
import { SLOT_TAG_LENGTH, slotTag } from '../../platform/store/index.ts';
import { JKT_RE, VT_TYP, type VisitTokenClaims } from '../../protocol/visit-token.ts';

export { VT_TYP, type VisitTokenClaims } from '../../protocol/visit-token.ts';

/**
 * The VT's liveness record, by its `jti`, in the Redis Cluster slot its first characters name
 * (`{<tag>}`, see slotTag): the slot of the AT it was exchanged for, so that the exchange writes it
 * in the same one-slot script as the AT's tombstone (decision 80).
 */
export const vtKey = (jti: string) => `vt:${slotTag(jti)}${jti}`;

/**
 * Where a VT's liveness record was before decision 80 (no slot tag). Read when the tagged record is
 * absent, and deleted with it on revocation, so that VTs issued before an upgrade stay live for
 * their lifetime; nothing writes it any more.
 */
export const legacyVtKey = (jti: string) => `vt:${jti}`;

/**
 * The consumed AT record, kept for the AT's lifetime under the AT's hash so that the page's retry
 * with the same R can be answered with the same VT (decision 41). Not under `at:`: it is no AT.
 * In the AT's slot.
 */
export const redeemedKey = (atHash: string) => `at-redeemed:${slotTag(atHash)}${atHash}`;

export interface VisitTokenRecord {
  typ: 'vt';
  appId: string;
  userId: string;
  productId: string;
  iat: number;
  exp: number;
  /** The thumbprint of the page's key the VT is bound to (its `cnf.jkt`), when it is bound. */
  jkt?: string;
}

/** Parses a stored VT record; undefined when it is not one (so kinds never mix). */
function parseVisitRecord(raw: string): VisitTokenRecord | undefined {
  try {
    const r = JSON.parse(raw) as VisitTokenRecord;
    return r && r.typ === 'vt' && typeof r.exp === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** 22 base64url characters (docs/protocol.md). */
export const JTI_RE = /^[A-Za-z0-9_-]{22}$/;

/**
 * A fresh VT id, 22 base64url characters as before: the first SLOT_TAG_LENGTH are `tag` (the slot
 * tag of the AT it is exchanged for, so that its record lands in the AT's slot; decision 80), the
 * other 19 are 112 random bits. Without `tag`, all 22 are random (128 bits).
 */
export function newJti(tag?: string): string {
  if (tag === undefined) return randomBytesPooled(16).toString('base64url');
  if (!/^[A-Za-z0-9_-]+$/.test(tag) || tag.length !== SLOT_TAG_LENGTH) throw new TypeError('a slot tag is 3 base64url characters');
  return tag + randomBytesPooled(14).toString('base64url');
}

/** Signs a VT for one visit; returns the compact JWT and its claims. */
export function signVisitToken(
  key: SigningKey,
  v: {
    issuer: string; userId: string; appId: string; productId: string; ttlSeconds: number; now?: number;
    audience?: string; profile?: Profile; attributes?: Profile;
    /** The VT's id when it was drawn before signing (its liveness record is written first); else a fresh one. */
    jti?: string;
    /** The thumbprint of the key the VT is bound to (`cnf.jkt`, RFC 9449); absent: bound to nothing. */
    jkt?: string;
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
    ...(v.jkt && { cnf: { jkt: v.jkt } }),
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
  if (c.cnf !== undefined && !(c.cnf && typeof c.cnf === 'object' && JKT_RE.test((c.cnf as { jkt?: unknown }).jkt as string))) {
    throw new JwsError('claims malformed');
  }
  if (c.iss !== opts.issuer) throw new JwsError('iss');
  if ((c.exp as number) <= (opts.now ?? nowSeconds())) throw new JwsError('expired');
  return c as unknown as VisitTokenClaims;
}

/** The live record of a VT by its `jti`, or undefined when it is unknown, expired or revoked. */
export async function findVisitToken(store: TokenStore, jti: string, now = nowSeconds()): Promise<VisitTokenRecord | undefined> {
  if (!JTI_RE.test(jti)) return undefined;
  const raw = (await store.get(vtKey(jti))) ?? (await store.get(legacyVtKey(jti)));
  const rec = raw ? parseVisitRecord(raw) : undefined;
  return rec && rec.exp > now ? rec : undefined;
}
