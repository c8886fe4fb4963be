import Koa from 'koa';
import Router from '@koa/router';
import cors from '@koa/cors';
import { Problem } from '../platform/http/problem.ts';
import { RATE_LIMIT_HEADERS } from '../flows/rate-limit/limiter.ts';
import { createService } from '../platform/http/service.ts';
import { exchangeVisitToken } from '../flows/visit-token/public.ts';
import { getProduct } from '../flows/product-api/public.ts';
import { introspectToken } from '../flows/token-admin/introspect.ts';
import { revokeToken } from '../flows/token-admin/revoke.ts';
import { issueAccessToken } from '../flows/access-token/public.ts';
import { publishJwks } from '../flows/keys/public.ts';
import type { GatewayDeps } from '../flows/deps.ts';
import { createVisitTokenChecker } from '../flows/visit-token/checker.ts';

/** The gateway: the only public entry of the broker. Opens no port. */
export function createGatewayApp(deps: GatewayDeps): Koa {
  const router = new Router();
  const visitTokens = createVisitTokenChecker({ signingKeys: deps.signingKeys, store: deps.store, issuer: deps.config.issuer });
  const browserOrigins = new Set([deps.config.h5Origin, ...deps.config.corsOrigins]);

  // Only the H5 pages' origins may call the browser-facing APIs; AT issuance is server to server
  // and answers no preflight at all. The page may read the rate-limit headers of its answers.
  const browserCors = cors({
    origin: (ctx) => (browserOrigins.has(ctx.get('origin')) ? ctx.get('origin') : ''),
    allowMethods: ['GET', 'POST'],
    allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    exposeHeaders: ['X-Request-Id', 'Retry-After', ...RATE_LIMIT_HEADERS],
    maxAge: 600,
    credentials: false,
  });

  router.get('/healthz', async function liveness(ctx) {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async function readiness(ctx) {
    // Both at once, each bounded (the store's command timeout, the upstream timeout): a probe
    // gets its answer in about the time of the slower one.
    const [store, auth] = await Promise.all([
      deps.store.ping().then(() => 'ok', () => 'unavailable'),
      deps.auth.request(ctx, 'GET', '/healthz').then((a) => (a.status === 200 ? 'ok' : 'unavailable'), () => 'unavailable'),
    ]);
    const checks: Record<string, string> = { store, auth };
    if (checks.store !== 'ok') throw new Problem('store_unavailable', 'The token store does not answer.', { extensions: { checks } });
    if (checks.auth !== 'ok') throw new Problem('upstream_unavailable', 'The auth service does not answer.', { extensions: { checks } });
    ctx.body = { status: 'ok', checks };
  });
  router.get('/.well-known/jwks.json', browserCors, ...publishJwks(deps));
  router.post('/v1/access-tokens', ...issueAccessToken(deps));
  router.options('/v1/visit-tokens', browserCors);
  router.post('/v1/visit-tokens', browserCors, ...exchangeVisitToken(deps));
  router.options('/v1/products/:productId', browserCors);
  router.get('/v1/products/:productId', browserCors, ...getProduct(deps, visitTokens));
  // RFC 7662 and RFC 7009, for registered apps (HTTP Basic), server to server: no CORS.
  router.post('/v1/introspect', ...introspectToken(deps, visitTokens));
  router.post('/v1/revoke', ...revokeToken(deps, visitTokens));

  return createService(router, deps.log);
}
