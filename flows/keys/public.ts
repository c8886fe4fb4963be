import type { Middleware } from 'koa';
import { Problem } from '../../platform/http/problem.ts';
import type { AppRouter, RequestContext } from '../../platform/http/state.ts';
import type { GatewayDeps } from '../deps.ts';

const FRESH_MS = 60_000;

/** Mounts the flow's public half on the gateway's router: anyone may read the keys, so with `browserCors`. */
export function mountKeysPublic(router: AppRouter, deps: GatewayDeps, shared: { browserCors: Middleware }): void {
  router.get('/.well-known/jwks.json', shared.browserCors, ...publishJwks(deps));
}

/**
 * `GET /.well-known/jwks.json`: auth's encryption keys (`use: "enc"`, cached here for a minute;
 * when auth is briefly unreachable the last good copy is served: they change rarely and are
 * public), then the VT signing keys as the gateway's own view of the key set holds them now
 * (current, next, and retired keys until their `notAfter`), so a rotation shows here within one
 * poll of the store.
 */
function publishJwks(deps: GatewayDeps) {
  let cached: { encKeys: unknown[]; at: number } | undefined;
  return [
    async function serveJwks(ctx: RequestContext): Promise<void> {
      if (!cached || Date.now() - cached.at > FRESH_MS) {
        try {
          const { keys } = await deps.auth.keys.jwks(ctx.state.requestId);
          cached = { encKeys: keys.filter((k) => k.use === 'enc'), at: Date.now() };
        } catch (err) {
          // Auth unreachable: its own problem (503, Retry-After); any other failure (a problem
          // answer, an answer that is no JWK set) says only that the keys are not available.
          const unreachable = err instanceof Problem && err.code === 'upstream_unavailable' && err.status === 503;
          if (!cached && !unreachable) throw new Problem('upstream_unavailable', 'The keys are not available right now.', { headers: { 'Retry-After': '1' }, cause: err });
          if (!cached) throw err;
          deps.log.warn({ err: (err as Error).message }, 'serving the cached encryption keys: auth did not answer');
        }
      }
      ctx.set('Cache-Control', 'public, max-age=300');
      ctx.type = 'application/jwk-set+json';
      ctx.body = JSON.stringify({ keys: [...cached!.encKeys, ...deps.signingKeys.publicJwks()] });
    },
  ];
}
