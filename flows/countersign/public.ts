/**
 * The countersign flow's public half on the gateway: each route passes the caller's
 * `Authorization` header and JSON body to auth (CountersignService), which checks everything
 * itself. The VT-authenticated routes (key registration and revocation, the password) are called
 * by the H5 page, so with `browserCors`; the relay's and the product backend's are not.
 *
 * `POST /v1/products/:productId/payments` is the demo product action "Confirm payment": a product
 * call like `GET /v1/products/:productId` (a live VT for this product), forwarded with its body to
 * the product backend, which redeems the grant in it before it acts.
 */
import type { Middleware } from 'koa';
import { noStore, readJsonBody } from '../../platform/http/body.ts';
import { Problem } from '../../platform/http/problem.ts';
import { relay } from '../../platform/http/upstream.ts';
import type { AppRouter, RequestContext } from '../../platform/http/state.ts';
import { COUNTERSIGN_PATHS, type CountersignOp } from '../../protocol/countersign.ts';
import type { GatewayDeps } from '../deps.ts';
import type { VisitTokenChecker } from '../visit-token/checker.ts';
import { hasAudience } from '../visit-token/records.ts';
import { IDENTITY_HEADERS, VT_HEADER } from '../product-api/public.ts';
import { COUNTERSIGN_ROUTES } from './seam.ts';

/** Longest body of a countersign request (a relay request with a countersignature and a JWE is under 8 KiB). */
export const MAX_COUNTERSIGN_BODY = 32 * 1024;
const BROWSER_OPS: readonly CountersignOp[] = ['registerKey', 'revokeKey', 'setPassword'];
const PRODUCT_ID_RE = /^[a-z0-9-]{1,64}$/;

export function mountCountersignPublic(router: AppRouter, deps: GatewayDeps, shared: { browserCors: Middleware; visitTokens: VisitTokenChecker }): void {
  for (const op of Object.keys(COUNTERSIGN_PATHS) as CountersignOp[]) {
    const path = COUNTERSIGN_PATHS[op];
    const action = async function forwardCountersign(ctx: RequestContext): Promise<void> {
      const { body } = await readJsonBody(ctx, { limit: MAX_COUNTERSIGN_BODY });
      noStore(ctx);
      let authorization = ctx.get('authorization') || undefined;
      // The page's calls: the VT checked here as on every browser route (a VT bound to the page's
      // key only as `DPoP <VT>` with its proof), then passed on to auth as a bearer VT from the
      // gateway (auth checks it again). One that does not pass here goes no further.
      if (BROWSER_OPS.includes(op)) {
        const presented = await shared.visitTokens.presented(ctx);
        if (!presented) throw new Problem('vt_invalid', 'Send a live visit token as "Authorization: Bearer <VT>" (or "DPoP <VT>" with a DPoP proof when it is bound to a key).');
        authorization = `Bearer ${presented.vt}`;
      }
      ctx.body = await deps.auth.countersign[op]({ authorization, body }, ctx.state.requestId);
      ctx.status = COUNTERSIGN_ROUTES[op].status;
    };
    if (BROWSER_OPS.includes(op)) {
      router.options(path, shared.browserCors);
      router.post(path, shared.browserCors, action);
    } else {
      router.post(path, action);
    }
  }
  router.options('/v1/products/:productId/payments', shared.browserCors);
  router.post('/v1/products/:productId/payments', shared.browserCors, async function confirmPayment(ctx: RequestContext) {
    noStore(ctx);
    // Checked as the product API checks it: a bound VT only with its DPoP proof for this request.
    const presented = await shared.visitTokens.presented(ctx);
    if (!presented) throw new Problem('vt_invalid', 'The visit token is missing, unknown, expired or revoked.');
    const { vt, claims, record } = presented;
    const productId = ctx.params.productId ?? '';
    if (!PRODUCT_ID_RE.test(productId) || !hasAudience(claims, productId) || record.productId !== productId) {
      throw new Problem('forbidden_product', 'This visit token is for another product.');
    }
    const { body } = await readJsonBody(ctx, { limit: MAX_COUNTERSIGN_BODY });
    const answer = await deps.products.request(ctx.state.requestId, 'POST', `/products/${encodeURIComponent(productId)}/payments`, {
      body,
      headers: { [IDENTITY_HEADERS.app]: claims.app, [IDENTITY_HEADERS.user]: claims.sub, [IDENTITY_HEADERS.product]: productId, [VT_HEADER]: vt },
    });
    relay(ctx, answer, [200]);
  });
}
