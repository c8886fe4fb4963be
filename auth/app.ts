import Koa from 'koa';
import Router from '@koa/router';
import { requireInternalCaller } from '../platform/http/body.ts';
import { Problem } from '../platform/http/problem.ts';
import { createService } from '../platform/http/service.ts';
import type { AppRouter, RequestState } from '../platform/http/state.ts';
import { mountVisitTokenService } from '../flows/visit-token/service.ts';
import { mountAccessTokenService } from '../flows/access-token/service.ts';
import { mountKeysService } from '../flows/keys/service.ts';
import { mountCountersignService } from '../flows/countersign/service.ts';
import type { AuthDeps, AuthServices } from '../flows/deps.ts';
import { createAuthService } from './service.ts';

/** The auth service: internal only, answers the gateway alone. Opens no port. */
export function createAuthApp(deps: AuthDeps, services: AuthServices = createAuthService(deps)): Koa<RequestState> {
  const router: AppRouter = new Router();
  const internal = requireInternalCaller(deps.config.internalToken);

  // Liveness only: a store outage is no reason to restart auth (it recovers by itself when the
  // store returns, and restarts would not bring Redis back), and the answer must not wait on it.
  router.get('/healthz', async function liveness(ctx) {
    ctx.body = { status: 'ok' };
  });
  // Readiness: 503 store_unavailable while the store does not answer (within its command timeout),
  // a problem like the gateway's, with the same `checks` member.
  router.get('/readyz', async function readiness(ctx) {
    try {
      await deps.store.ping();
    } catch {
      throw new Problem('store_unavailable', 'The token store does not answer.', { extensions: { checks: { store: 'unavailable' } } });
    }
    ctx.body = { status: 'ok', checks: { store: 'ok' } };
  });
  // Each flow's internal half, on the routes its seam defines (flows/<flow>/seam.ts).
  mountKeysService(router, services.keys, internal);
  mountAccessTokenService(router, services.accessTokens, internal);
  mountVisitTokenService(router, services.visitTokens, internal);
  mountCountersignService(router, services.countersign, internal);

  return createService(router, deps.log);
}
