/** The keys flow's internal half, run by auth: its public keys for the gateway's JWKS. */
import { mountInternalRoute } from '../../platform/http/upstream.ts';
import type { AppRouter, RequestMiddleware } from '../../platform/http/state.ts';
import type { AuthDeps } from '../deps.ts';
import { toJwks } from './keys.ts';
import { KEYS_ROUTES, type KeysService } from './seam.ts';

/** Auth's implementation of the flow's seam; a gateway in auth's process calls it directly (decision 33). */
export function createKeysService(deps: Pick<AuthDeps, 'keys' | 'signingKeys'>): KeysService {
  return {
    // Built per call: the signing keys change as the set rotates (a few keys, cheap).
    jwks: async () => ({ keys: [...toJwks(deps.keys).keys, ...deps.signingKeys.publicJwks()] }),
  };
}

/**
 * Mounts the flow's internal half on auth's router, behind `internal` (the internal credential):
 * `GET /internal/jwks`, the public halves of the encryption keys and the signing keys.
 */
export function mountKeysService(router: AppRouter, service: KeysService, internal: RequestMiddleware): void {
  mountInternalRoute(router, KEYS_ROUTES.jwks, internal, async function publishJwks(ctx) {
    return service.jwks(ctx.state.requestId);
  });
}
