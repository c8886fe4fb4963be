import type { Context } from 'koa';
import { Problem } from '../../platform/http/problem.ts';
import type { GatewayDeps } from '../deps.ts';

const FRESH_MS = 60_000;

/**
 * `GET /.well-known/jwks.json`: auth's encryption keys (`use: "enc"`, cached here for a minute;
 * when auth is briefly unreachable the last good copy is served: they change rarely and are
 * public), then the VT signing keys as the gateway's own view of the key set holds them now
 * (current, next, and retired keys until their `notAfter`), so a rotation shows here within one
 * poll of the store.
 */
export function publishJwks(deps: GatewayDeps) {
  let cached: { encKeys: unknown[]; at: number } | undefined;
  return [
    async function serveJwks(ctx: Context): Promise<void> {
      if (!cached || Date.now() - cached.at > FRESH_MS) {
        try {
          const answer = await deps.auth.request(ctx, 'GET', '/internal/jwks');
          const keys = (answer.data as { keys?: unknown })?.keys;
          if (answer.status === 200 && Array.isArray(keys)) {
            cached = { encKeys: keys.filter((k) => (k as { use?: unknown })?.use === 'enc'), at: Date.now() };
          } else if (!cached) {
            throw new Problem('upstream_unavailable', 'The keys are not available right now.', { headers: { 'Retry-After': '1' } });
          }
        } catch (err) {
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
