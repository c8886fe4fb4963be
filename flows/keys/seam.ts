/**
 * The keys flow's seam between gateway and auth: auth's public keys as one typed interface, with
 * its route defined once. Auth implements it (service.ts createKeysService) and serves it on that
 * route (mountKeysService); a gateway in auth's process is handed auth's implementation itself,
 * one in another process this HTTP client.
 */
import { unexpectedAnswer, type InternalClient, type InternalRoute } from '../../platform/http/upstream.ts';
import type { Jwks, PublicJwk } from './keys.ts';

/** Auth's operations of this flow. Each throws Problem. */
export interface KeysService {
  /** The public keys: the encryption keys, then the signing keys (current, next, retired). */
  jwks(requestId?: string): Promise<Jwks>;
}

/** The routes auth serves this flow's operations on (internal: the gateway only). */
export const KEYS_ROUTES = {
  jwks: { method: 'GET', path: '/internal/jwks', status: 200 },
} as const satisfies Record<keyof KeysService, InternalRoute>;

/** KeysService over HTTP: auth in another process. */
export function keysClient(auth: InternalClient): KeysService {
  return {
    async jwks(requestId) {
      const data = await auth.call(KEYS_ROUTES.jwks, undefined, requestId);
      const keys = (data as { keys?: unknown } | undefined)?.keys;
      const isKey = (k: unknown) => !!k && typeof k === 'object' && typeof (k as { kty?: unknown }).kty === 'string';
      if (!Array.isArray(keys) || !keys.every(isKey)) throw unexpectedAnswer(auth.name, 'not a JWK set');
      return { keys: keys as PublicJwk[] };
    },
  };
}
