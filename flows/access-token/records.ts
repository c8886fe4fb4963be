/**
 * The AT's record in the store, under the SHA-256 of the opaque AT, and the nonce record of a
 * signed AT request.
 */
import type { Profile } from '../apps/profile.ts';
import { slotTag } from '../../platform/store/index.ts';

/**
 * In the Redis Cluster slot the hash's first characters name (`{<tag>}`, platform/store slotTag):
 * the exchange consumes it and writes the VT record and the kept copy in that slot (decision 80).
 */
export const atKey = (atHash: string) => `at:${slotTag(atHash)}${atHash}`;
export const nonceKey = (appId: string, nonce: string) => `nonce:${appId}:${nonce}`;

export interface AccessTokenRecord {
  typ: 'at';
  appId: string;
  userId: string;
  productId: string;
  /** The external server the VT is also for (its `aud` then names both); absent: the product only. */
  audience?: string;
  /** The user profile the third party supplied (see flows/apps/profile.ts). */
  profile?: Profile;
  /** What the operator's edge proxy vouched for, by claim name (the app's `requiredHeader`). */
  attributes?: Profile;
  /** unix seconds */
  exp: number;
}

/** Parses a stored AT record; undefined when it is not one. */
export function parseAccessTokenRecord(raw: string): AccessTokenRecord | undefined {
  try {
    const r = JSON.parse(raw) as AccessTokenRecord;
    return r && r.typ === 'at' && typeof r.exp === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}
