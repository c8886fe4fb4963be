import { createHash } from 'node:crypto';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
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
import { renderLegalPage, renderNotFoundPage, renderProductPage } from './page.ts';
import { findLegalDocument, findProduct, productApiBody, secondFactorActions } from './products.ts';
import { pickEncoding } from './bundle.ts';
import { mountSecondFactorActions } from './second-factor-actions.ts';
import type { SecondFactorVerifier } from '../sdk/second-factor.ts';
import { renderBindingPage, renderTokenAppPage } from './binding-pages.ts';
import { mountPaymentRoute, type GrantRedeemer } from './payments.ts';

export interface H5Deps {
  gatewayUrl: string;
  registry: AppRegistry;
  /** Origins allowed to frame the pages besides the registered apps' (the bundled demo). */
  extraFrameAncestors?: readonly string[];
  assets: Map<string, Asset>;
  log: Logger;
  /** The gateway's JWKS as last read (h5/jwks.ts), carried inline by the product page; undefined until read. */
  jwks?: () => unknown;
}

/**
 * CSP of the H5 pages: our own script and style only (and the inline scripts whose sha256 is
 * listed: the product page's boot script), API calls to the gateway only.
 */
export function pageCsp(gatewayUrl: string, frameAncestors: readonly string[], scriptHashes: readonly string[] = []): string {
  const ancestors = frameAncestors.length ? `'self' ${frameAncestors.join(' ')}` : "'self'";
  return [
    "default-src 'none'",
    `script-src 'self'${scriptHashes.map((h) => ` 'sha256-${h}'`).join('')}`,
    "style-src 'self'",
    `connect-src ${new URL(gatewayUrl).origin}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${ancestors}`,
  ].join('; ');
}

/**
 * A page's HTML compressed for the browser (brotli, else gzip; a few kilobytes, a fraction of a
 * millisecond): on a slow link every kilobyte of the page delays everything after it. The pages
 * hold no secret (the AT travels in the fragment, never to the server), so compressing them beside
 * reflected input (BREACH) discloses nothing.
 */
function compressPage(ctx: Context): void {
  if (typeof ctx.body !== 'string' || ctx.body.length < 1024) return;
  const encoding = pickEncoding(ctx.get('accept-encoding'), { br: true, gzip: true });
  ctx.vary('Accept-Encoding');
  if (encoding === 'identity') return;
  const raw = Buffer.from(ctx.body, 'utf8');
  const type = ctx.type;
  ctx.body = encoding === 'br' ? brotliCompressSync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length } }) : gzipSync(raw, { level: 6 });
  ctx.type = type;
  ctx.set('Content-Encoding', encoding);
}

/** Longest `returnUrl` the page server accepts. */
const MAX_RETURN_URL_LENGTH = 1024;

/**
 * The `returnUrl` query parameter when it may be used as the page's "Back to the app" link: an
 * absolute http(s) URL whose origin is one a registered app (or the bundled demo) may frame the
 * page from. Anything else (another origin, `javascript:`, credentials in the URL) is dropped, so
 * the page is no open redirect.
 */
export function checkedReturnUrl(raw: unknown, allowedOrigins: ReadonlySet<string>): string | undefined {
  if (typeof raw !== 'string' || !raw || raw.length > MAX_RETURN_URL_LENGTH) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
  return allowedOrigins.has(url.origin) ? url.href : undefined;
}

/** The H5 page server: product pages and their assets. Opens no port. */
export function createH5App(deps: H5Deps): Koa {
  const router = new Router();
  // Native WebViews load the page top-level; frames are allowed only for registered app origins.
  const ancestors = [...new Set([...deps.registry.all().flatMap((a) => a.allowedOrigins), ...(deps.extraFrameAncestors ?? [])])];
  // The product page's boot script, inlined: allowed by its hash, never by 'unsafe-inline'.
  const bootScript = deps.assets.get('boot.js')?.body.toString('utf8');
  if (bootScript !== undefined && /<\/script|<!--/i.test(bootScript)) throw new Error('boot.js cannot be inlined: it contains </script or <!--');
  const csp = pageCsp(deps.gatewayUrl, ancestors, bootScript === undefined ? [] : [createHash('sha256').update(bootScript, 'utf8').digest('base64')]);
  const returnOrigins = new Set(ancestors);

  async function pageHeaders(ctx: Context, next: Next): Promise<void> {
    ctx.set('Content-Security-Policy', csp);
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    await next();
    compressPage(ctx);
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
    const returnUrl = checkedReturnUrl(ctx.query.returnUrl, returnOrigins);
    ctx.body = renderProductPage({
      gatewayUrl: deps.gatewayUrl, productId: product.id, product, returnUrl,
      ...(bootScript !== undefined && { boot: { script: bootScript, jwks: deps.jwks?.() } }),
      priceFormat: { locale: product.locale, currency: product.price.currency },
    });
  });
  router.get('/h5/legal/:productId/:docId', pageHeaders, async function legalPage(ctx) {
    const found = findLegalDocument(ctx.params.productId ?? '', ctx.params.docId ?? '');
    ctx.type = 'text/html; charset=utf-8';
    if (!found) {
      ctx.status = 404;
      ctx.body = renderNotFoundPage();
      return;
    }
    ctx.body = renderLegalPage(found.product, found.doc);
  });
  // The binding flow's pages (flows/binding/README.md).
  router.get('/h5/bind', pageHeaders, async function bindingPage(ctx) {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = renderBindingPage(deps.gatewayUrl);
  });
  router.get('/h5/token-app', pageHeaders, async function tokenAppPage(ctx) {
    ctx.type = 'text/html; charset=utf-8';
    // The camera for the token app's own origin only (never a frame of another origin); the
    // stream goes to the <video> as an object, which the CSP's media-src does not govern.
    ctx.set('Permissions-Policy', 'camera=(self)');
    ctx.body = renderTokenAppPage();
  });
  router.get('/h5/assets/:name', async function serveAsset(ctx) {
    const a = deps.assets.get(ctx.params.name ?? '');
    if (!a) throw new Problem('not_found');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'public, max-age=300');
    // The H5 SDK is loaded by product teams' pages on other origins; an ES module is fetched with
    // CORS. It is public code with no credentials involved.
    if (ctx.params.name === 'h5-sdk.mjs' || ctx.params.name === 'h5-sdk.js') ctx.set('Access-Control-Allow-Origin', '*');
    // Precompressed at start: brotli, else gzip, else identity; each encoding has its own ETag.
    ctx.set('Vary', 'Accept-Encoding');
    const encoding = pickEncoding(ctx.get('accept-encoding'), a);
    const etag = encoding === 'identity' ? a.etag : `${a.etag.slice(0, -1)}-${encoding}"`;
    ctx.set('ETag', etag);
    if (ctx.get('if-none-match') === etag) {
      ctx.status = 304;
      return;
    }
    ctx.type = a.type;
    if (encoding !== 'identity') ctx.set('Content-Encoding', encoding);
    ctx.body = encoding === 'br' ? a.br! : encoding === 'gzip' ? a.gzip! : a.body;
  });

  return createService(router, deps.log, { apiHeaders: false });
}

/**
 * The sample product backend behind the gateway. Only the gateway holds the internal credential;
 * besides that, the backend trusts the VT itself: the gateway passes it on in `x-broker-vt`, and the
 * backend verifies it offline (signature against the broker's JWKS, typ, alg, iss, exp, and `aud`
 * naming this product), and takes the viewer from its claims. Internal only.
 */
export function createProductBackendApp(deps: {
  internalToken: string;
  log: Logger;
  visitTokens: VisitTokenVerifier;
  /** The display name of a registered app, for the page's "Opened from" line. */
  appName?: (appId: string) => string | undefined;
  /** Verifies the second factor's assertions for the actions that need it (flows/binding). */
  secondFactor?: SecondFactorVerifier;
  /** Redeems a countersign grant before the demo payment is confirmed (flows/countersign). */
  grants?: GrantRedeemer;
}): Koa<RequestState> {
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
    const vt = ctx.state.vt as { sub: string; app: string; profile?: Record<string, string> };
    const displayName = vt.profile?.displayName;
    const appName = deps.appName?.(vt.app);
    ctx.body = {
      ...productApiBody(product),
      viewer: { userId: vt.sub, appId: vt.app, ...(displayName && { displayName }), ...(appName && { appName }) },
      secondFactorActions: secondFactorActions(product.id),
    };
  });
  mountSecondFactorActions(router, deps);
  // The demo action "Confirm payment" (countersign flow): h5/payments.ts.
  mountPaymentRoute(router, deps);
  return createService(router, deps.log);
}
