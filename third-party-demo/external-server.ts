/**
 * The demo third party's "external server": a partner API that a VT can be bound to (the AT
 * request's `audience`). It trusts a VT offline, with `createVisitTokenVerifier` configured for
 * its own address as the audience and its own app as the only `app`, and never calls the broker per request; a VT bound to no
 * audience, or to another one, or a VT of another app (which could name this address only if the
 * registry let it), is refused. Opens no port.
 */
import Koa from 'koa';
import Router from '@koa/router';
import type { Logger } from 'pino';
import { bearerJws, noStore } from '../platform/http/body.ts';
import { Problem } from '../platform/http/problem.ts';
import { createService } from '../platform/http/service.ts';
import type { AppRouter, RequestState } from '../platform/http/state.ts';
import { VisitTokenRejected, type VisitTokenVerifier } from '../sdk/vt-verifier.ts';
import type { VisitTokenClaims } from '../protocol/visit-token.ts';

export interface ExternalServerDeps {
  /** A verifier over the broker's JWKS whose `audience` is this server's own address. */
  verifier: VisitTokenVerifier;
  /**
   * The app (or apps) this partner server serves: a VT whose `app` claim is another is refused,
   * whatever its `aud` (a partner checks `aud` AND `app`, docs/protocol.md).
   */
  app: string | readonly string[];
  log: Logger;
}

function vtInvalid(detail: string): Problem {
  // The challenge is the problem table's (protocol/problems.ts), as for every 401.
  return new Problem('vt_invalid', detail);
}

/** The partner API: `GET /api/me` with `Authorization: Bearer <VT>` answers who the VT is for. */
export function createExternalServerApp(deps: ExternalServerDeps): Koa<RequestState> {
  const router: AppRouter = new Router();
  router.get('/healthz', async function health(ctx) {
    ctx.body = { status: 'ok' };
  });
  // The request state: `vt`, the claims verifyVisitToken verified, read by whoAmI.
  router.get<{ vt: VisitTokenClaims }>('/api/me', async function verifyVisitToken(ctx, next) {
    noStore(ctx);
    const vt = bearerJws(ctx);
    if (!vt) throw vtInvalid('Send the visit token as "Authorization: Bearer <VT>".');
    try {
      ctx.state.vt = await deps.verifier.verify(vt, { app: deps.app });
    } catch (err) {
      if (!(err instanceof VisitTokenRejected)) throw err;
      deps.log.warn({ reason: err.reason, reqId: ctx.state.requestId }, 'visit token refused by the external server');
      throw vtInvalid('The visit token is not valid for this server.');
    }
    await next();
  }, async function whoAmI(ctx) {
    const { sub, app, profile } = ctx.state.vt;
    ctx.body = { sub, app, ...(profile && { profile }) };
  });
  return createService(router, deps.log);
}
