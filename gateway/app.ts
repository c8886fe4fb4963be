import type Koa from 'koa';
import type { Middleware } from 'koa';
import Router from '@koa/router';
import cors from '@koa/cors';
import { Problem } from '../platform/http/problem.ts';
import { RATE_LIMIT_HEADERS } from '../flows/rate-limit/limiter.ts';
import { createService } from '../platform/http/service.ts';
import type { AppRouter, RequestState } from '../platform/http/state.ts';
import { mountVisitTokenPublic } from '../flows/visit-token/public.ts';
import { mountProductApiPublic, productPrefetcher } from '../flows/product-api/public.ts';
import { mountTokenAdminPublic } from '../flows/token-admin/public.ts';
import { mountAccessTokenPublic } from '../flows/access-token/public.ts';
import { mountKeysPublic } from '../flows/keys/public.ts';
import { mountBindingPublic } from '../flows/binding/public.ts';
import { mountCountersignPublic } from '../flows/countersign/public.ts';
import type { GatewayDeps } from '../flows/deps.ts';
import { createVisitTokenChecker } from '../flows/visit-token/checker.ts';
import { mountApiDocs } from './api-docs.ts';
import { CHALLENGE_ALLOW_HEADERS, CHALLENGE_EXPOSE_HEADERS, mountChallengePublic } from '../flows/challenge/public.ts';

/** The gateway: the only public entry of the broker. Opens no port. */
export function createGatewayApp(deps: GatewayDeps): Koa<RequestState> {
  const router: AppRouter = new Router();
  const visitTokens = createVisitTokenChecker({ signingKeys: deps.signingKeys, store: deps.store, issuer: deps.config.issuer });
  const browserOrigins = new Set([deps.config.h5Origin, ...deps.config.corsOrigins]);

  // Only the H5 pages' origins may call the browser-facing APIs; AT issuance is server to server
  // and answers no preflight at all. The page may read the rate-limit headers of its answers, and
  // the proof-of-work gate's challenge; it may send a solution or a pass, and its pass cookie
  // (credentials) where the gate is on (flows/challenge).
  const browserCors: Middleware = cors({
    origin: (ctx) => (browserOrigins.has(ctx.get('origin')) ? ctx.get('origin') : ''),
    allowMethods: ['GET', 'POST'],
    allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'DPoP', ...CHALLENGE_ALLOW_HEADERS],
    exposeHeaders: ['X-Request-Id', 'Retry-After', ...RATE_LIMIT_HEADERS, ...CHALLENGE_EXPOSE_HEADERS],
    maxAge: 600,
    credentials: !!deps.config.challenge?.routes.length,
  });

  router.get('/healthz', async function liveness(ctx) {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async function readiness(ctx) {
    // Both at once, each bounded (the store's command timeout, the upstream timeout): a probe
    // gets its answer in about the time of the slower one.
    const [store, auth] = await Promise.all([
      deps.store.ping().then(() => 'ok', () => 'unavailable'),
      deps.authLive(ctx.state.requestId).then((live) => (live ? 'ok' : 'unavailable'), () => 'unavailable'),
    ]);
    const checks: Record<string, string> = { store, auth };
    if (checks.store !== 'ok') throw new Problem('store_unavailable', 'The token store does not answer.', { extensions: { checks } });
    if (checks.auth !== 'ok') throw new Problem('upstream_unavailable', 'The auth service does not answer.', { extensions: { checks } });
    ctx.body = { status: 'ok', checks };
  });
  // Each flow's public half (flows/<flow>/public.ts). The browser-facing routes (JWKS, the VT
  // exchange, product calls) take browserCors; AT issuance, introspection and revocation are
  // server to server and answer no CORS at all.
  mountKeysPublic(router, deps, { browserCors });
  mountAccessTokenPublic(router, deps);
  // The proof-of-work gate runs after the CORS layer of the routes CHALLENGE_ROUTES names.
  const challenge = mountChallengePublic(router, deps, { visitTokens, browserOrigins });
  // The exchange may carry the product document (`include: "product"`), fetched as product-api does.
  mountVisitTokenPublic(router, deps, { browserCors: challenge.guarded('exchange', browserCors), prefetchProduct: productPrefetcher(deps) });
  mountProductApiPublic(router, deps, { browserCors: challenge.guarded('product', browserCors), visitTokens });
  mountTokenAdminPublic(router, deps, { visitTokens });
  mountBindingPublic(router, deps, { browserCors, visitTokens });
  mountCountersignPublic(router, deps, { browserCors, visitTokens });
  // The OpenAPI description of the routes above, and the same as a page (docs/openapi.json).
  mountApiDocs(router, deps.config.issuer);

  return createService(router, deps.log);
}
