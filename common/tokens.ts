/**
 * Opaque tokens (AT and VT) and their records in the store. Tokens are stored under the SHA-256
 * of their value, so a dump of the store yields no usable token.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { TokenStore } from './store/index.ts';

/** 256 random bits, base64url: 43 characters. */
export function newOpaqueToken(): string {
  return randomBytes(32).toString('base64url');
}

export const OPAQUE_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export const atKey = (atHash: string) => `at:${atHash}`;
export const vtKey = (vtHash: string) => `vt:${vtHash}`;
export const nonceKey = (appId: string, nonce: string) => `nonce:${appId}:${nonce}`;

export interface AccessTokenRecord {
  typ: 'at';
  appId: string;
  userId: string;
  productId: string;
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

/** The live record of a VT, or undefined when it is unknown, expired or revoked. */
export async function findVisitToken(store: TokenStore, vt: string, now = nowSeconds()): Promise<VisitTokenRecord | undefined> {
  if (!OPAQUE_TOKEN_RE.test(vt)) return undefined;
  const raw = await store.get(vtKey(tokenHash(vt)));
  const rec = raw ? parseRecord<VisitTokenRecord>(raw, 'vt') : undefined;
  return rec && rec.exp > now ? rec : undefined;
}
