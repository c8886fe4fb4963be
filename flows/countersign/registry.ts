/**
 * Registered keys of the countersign flow: device keys (they countersign) and relay keys (they
 * authenticate a relay and sign its decisions), each bound to one user of one app and revocable.
 *
 * Until the QR binding flow (flows/binding) lands, a key is "registered here on first use": the
 * user's VT authenticates `POST /v1/countersign/keys`. Everything else in the flow reads keys only
 * through the KeyRegistry interface, so a registry backed by the binding flow's bound keys can
 * replace `createStoreKeyRegistry` without touching the verification.
 */
import { createHash } from 'node:crypto';
import type { TokenStore } from '../../platform/store/index.ts';
import { TOMBSTONE_PREFIX } from '../../platform/store/index.ts';
import { nowSeconds } from '../../platform/time.ts';

export type KeyKind = 'device' | 'relay';
export interface PublicP256Jwk { kty: 'EC'; crv: 'P-256'; x: string; y: string }

export interface RegisteredKey {
  typ: 'cs-key';
  /** RFC 7638 thumbprint of the JWK, base64url: the `kid` every signature names. */
  kid: string;
  kind: KeyKind;
  app: string;
  sub: string;
  jwk: PublicP256Jwk;
  status: 'active' | 'revoked';
  iat: number;
}

export interface Owner { app: string; sub: string }

/** Where the flow finds keys. */
export interface KeyRegistry {
  /**
   * Registers `jwk` for `owner`; the key as registered (already registered to the same owner and
   * kind: that record, whatever its status). Undefined when the key is registered to another owner
   * or kind: a key belongs to one user of one app.
   */
  register(owner: Owner, kind: KeyKind, jwk: PublicP256Jwk): Promise<RegisteredKey | undefined>;
  /** The key with this kid, whatever its status; undefined when unknown. */
  find(kid: string): Promise<RegisteredKey | undefined>;
  /** Revokes the owner's key for good; false when it is not theirs (or unknown). */
  revoke(owner: Owner, kid: string): Promise<boolean>;
}

/** RFC 7638 thumbprint of a P-256 JWK. */
export const jwkThumbprint = (jwk: { x: string; y: string }) =>
  createHash('sha256').update(JSON.stringify({ crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y })).digest('base64url');

export const KID_RE = /^[A-Za-z0-9_-]{43}$/;
const keyRecordKey = (kid: string) => `cs-key:${kid}`;
/** Registered keys are kept this long after registration (a revocation keeps its record for good). */
export const KEY_TTL_SECONDS = 400 * 86400;

function parseKey(raw: string | null): RegisteredKey | undefined {
  if (!raw || raw.startsWith(TOMBSTONE_PREFIX)) return undefined;
  try {
    const r = JSON.parse(raw) as RegisteredKey;
    return r && r.typ === 'cs-key' && typeof r.kid === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Keys registered on first use, one store record per key (`cs-key:<kid>`). */
export function createStoreKeyRegistry(store: TokenStore): KeyRegistry {
  return {
    async register(owner, kind, jwk) {
      const kid = jwkThumbprint(jwk);
      const record: RegisteredKey = { typ: 'cs-key', kid, kind, app: owner.app, sub: owner.sub, jwk, status: 'active', iat: nowSeconds() };
      if (await store.setIfAbsent(keyRecordKey(kid), JSON.stringify(record), KEY_TTL_SECONDS)) return record;
      const existing = parseKey(await store.get(keyRecordKey(kid)));
      return existing && existing.app === owner.app && existing.sub === owner.sub && existing.kind === kind ? existing : undefined;
    },
    async find(kid) {
      return KID_RE.test(kid) ? parseKey(await store.get(keyRecordKey(kid))) : undefined;
    },
    async revoke(owner, kid) {
      if (!KID_RE.test(kid)) return false;
      // Compare-and-set against the record read: a concurrent revocation or registration is not lost.
      for (let i = 0; i < 5; i++) {
        const raw = await store.get(keyRecordKey(kid));
        const key = parseKey(raw);
        if (!key || key.app !== owner.app || key.sub !== owner.sub) return false;
        if (key.status === 'revoked') return true;
        if (await store.setIfUnchanged(keyRecordKey(kid), raw, { [keyRecordKey(kid)]: JSON.stringify({ ...key, status: 'revoked' }) })) return true;
      }
      return false;
    },
  };
}

/** The key is registered, active, of this kind and this owner. */
export function isActiveKeyOf(key: RegisteredKey | undefined, kind: KeyKind, owner: Owner): key is RegisteredKey {
  return !!key && key.status === 'active' && key.kind === kind && key.app === owner.app && key.sub === owner.sub;
}
