import Koa, { type Context, type Next } from 'koa';
import Router from '@koa/router';
import type { Logger } from 'pino';
import { requireInternalCaller } from '../platform/http/body.ts';
import { Problem } from '../platform/http/problem.ts';
import { createService } from '../platform/http/service.ts';
import type { AppRouter, RequestState } from '../platform/http/state.ts';
import type { AppRegistry } from '../flows/apps/registry.ts';
import { VisitTokenRejected, type VisitTokenVerifier } from '../sdk/vt-verifier.ts';
import type { VisitTokenClaims } from '../protocol/visit-token.ts';
import type { Asset } from './bundle.ts';
import { renderNotFoundPage, renderProductPage } from './page.ts';
import { findProduct } from './products.ts';
import { mountPaymentRoute, type GrantRedeemer } from './payments.ts';

export interface H5Deps {
  gatewayUrl: string;
  registry: AppRegistry;
  /** Origins allowed to frame the pages besides the registered apps' (the bundled demo). */
  extraFrameAncestors?: readonly string[];
  assets: Map<string, Asset>;
  log: Logger;
}

/** CSP of the H5 pages: our own script and style only, API calls to the gateway only. */
export function pageCsp(gatewayUrl: string, frameAncestors: readonly string[]): string {
  const ancestors = frameAncestors.length ? `'self' ${frameAncestors.join(' ')}` : "'self'";
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src ${new URL(gatewayUrl).origin}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${ancestors}`,
  ].join('; ');
}

/** The H5 page server: product pages and their assets. Opens no port. */
export function createH5App(deps: H5Deps): Koa {
  const router = new Router();
  // Native WebViews load the page top-level; frames are allowed only for registered app origins.
  const ancestors = [...new Set([...deps.registry.all().flatMap((a) => a.allowedOrigins), ...(deps.extraFrameAncestors ?? [])])];
  const csp = pageCsp(deps.gatewayUrl, ancestors);

  async function pageHeaders(ctx: Context, next: Next): Promise<void> {
    ctx.set('Content-Security-Policy', csp);
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    await next();
  }

  router.get('/healthz', async function health(ctx) {
    ctx.body = { status: 'ok' };
  });
  router.get('/h5/products/:productId', pageHeaders, async function productPage(ctx) {
    const product = findProduct(ctx.params.productId ?? '');
    ctx.type = 'text/html; charset=utf-8';
    if (!product) {
      ctx.status = 404;
      ctx.body = renderNotFoundPage();
      return;
    }
    ctx.body = renderProductPage({ gatewayUrl: deps.gatewayUrl, productId: product.id, title: product.name });
  });
  router.get('/h5/assets/:name', async function serveAsset(ctx) {
    const a = deps.assets.get(ctx.params.name ?? '');
    if (!a) throw new Problem('not_found');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('ETag', a.etag);
    if (ctx.get('if-none-match') === a.etag) {
      ctx.status = 304;
      return;
    }
    ctx.type = a.type;
    ctx.body = a.body;
  });

  return createService(router, deps.log, { apiHeaders: false });
}

/**
 * The sample product backend behind the gateway. Only the gateway holds the internal credential;
 * besides that, the backend trusts the VT itself: the gateway passes it on in `x-broker-vt`, and the
 * backend verifies it offline (signature against the broker's JWKS, typ, alg, iss, exp, and `aud`
 * naming this product), and takes the viewer from its claims. Internal only.
 */
export function createProductBackendApp(deps: { internalToken: string; log: Logger; visitTokens: VisitTokenVerifier; grants?: GrantRedeemer }): Koa<RequestState> {
  const router: AppRouter = new Router();
  router.get('/healthz', async function health(ctx) {
    ctx.body = { status: 'ok' };
  });
  // The request state: `vt`, the claims verifyVisitToken verified, read by productDetails.
  router.get<{ vt: VisitTokenClaims }>('/products/:productId', requireInternalCaller(deps.internalToken), async function verifyVisitToken(ctx, next) {
    const productId = ctx.params.productId ?? '';
    try {
      ctx.state.vt = await deps.visitTokens.verify(ctx.get('x-broker-vt'), { audience: productId });
    } catch (err) {
      if (!(err instanceof VisitTokenRejected)) throw err;
      deps.log.warn({ reason: err.reason, reqId: ctx.state.requestId }, 'visit token refused by the product backend');
      throw new Problem('vt_invalid', 'The visit token is not valid for this product.');
    }
    // The gateway's identity headers must say what the token says.
    if (ctx.get('x-broker-user') !== ctx.state.vt.sub || ctx.get('x-broker-app') !== ctx.state.vt.app) {
      throw new Problem('vt_invalid', 'The visit token does not match the identity it came with.');
    }
    await next();
  }, async function productDetails(ctx) {
    const product = findProduct(ctx.params.productId ?? '');
    if (!product) throw new Problem('unknown_product');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ...product, viewer: { userId: ctx.state.vt.sub, appId: ctx.state.vt.app } };
  });
  // The demo action "Confirm payment" (countersign flow): h5/payments.ts.
  mountPaymentRoute(router, deps);
  return createService(router, deps.log);
}
