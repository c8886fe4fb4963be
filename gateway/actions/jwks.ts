import type { Context } from 'koa';
import { Problem } from '../../common/problem.ts';
import type { GatewayDeps } from '../context.ts';

const FRESH_MS = 60_000;

/**
 * `GET /.well-known/jwks.json`: auth's public keys, cached here for a minute. When auth is
 * briefly unreachable the last good copy is served: keys change rarely and are public.
 */
export function publishJwks(deps: GatewayDeps) {
  let cached: { body: unknown; at: number } | undefined;
  return [
    async function serveJwks(ctx: Context): Promise<void> {
      if (!cached || Date.now() - cached.at > FRESH_MS) {
        try {
          const answer = await deps.auth.request(ctx, 'GET', '/internal/jwks');
          if (answer.status === 200) cached = { body: answer.data, at: Date.now() };
          else if (!cached) throw new Problem(503, 'upstream_unavailable', 'The keys are not available right now.', { headers: { 'Retry-After': '1' } });
        } catch (err) {
          if (!cached) throw err;
          deps.log.warn({ err: (err as Error).message }, 'serving the cached JWKS: auth did not answer');
        }
      }
      ctx.set('Cache-Control', 'public, max-age=300');
      ctx.type = 'application/jwk-set+json';
      ctx.body = JSON.stringify(cached!.body);
    },
  ];
}
