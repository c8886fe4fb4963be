import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Koa from 'koa';
import Router from '@koa/router';
import type { Logger } from 'pino';
import { escapeHtml } from '../platform/http/html.ts';
import { field, noStore, readJsonBody } from '../platform/http/body.ts';
import { Problem, SECURITY_HEADERS } from '../platform/http/problem.ts';
import { MemoryStore, type TokenStore } from '../platform/store/index.ts';
import { addressSubject, createRateLimiter, type RateLimitRule } from '../flows/rate-limit/limiter.ts';
import { createService } from '../platform/http/service.ts';
import { BrokerClient, BrokerError, h5PageUrl } from '../sdk/broker-client.ts';

export interface DemoDeps {
  client: BrokerClient;
  appName: string;
  h5Url: string;
  products: readonly { id: string; name: string }[];
  log: Logger;
  /**
   * `POST /api/open` per client address (the socket's: the demo trusts no proxy header); default
   * DEMO_OPEN_LIMIT, `null` for none.
   */
  openLimit?: RateLimitRule | null;
  /** Where the open limit counts; default a memory store of this process. */
  store?: TokenStore;
}

/** The demo's own limit on `POST /api/open`: it mints an AT for anyone who asks, so not many. */
export const DEMO_OPEN_LIMIT: RateLimitRule = Object.freeze({ limit: 10, windowSeconds: 60 });

/** The demo app's users (a real app has its own accounts; these stand in). */
export const DEMO_USERS = [
  { id: 'alice', name: 'Alice Martin' },
  { id: 'bob', name: 'Bob Okafor' },
  { id: 'chen', name: 'Chen Wei' },
];

const file = (p: string) => readFileSync(fileURLToPath(new URL(p, import.meta.url)));

function renderAppPage(deps: DemoDeps): string {
  const users = DEMO_USERS.map((u) => `<option value="${escapeHtml(u.id)}">${escapeHtml(u.name)}</option>`).join('');
  const products = deps.products
    .map((p) => `<li><span id="name-${escapeHtml(p.id)}">${escapeHtml(p.name)}</span><button type="button" class="open" id="open-${escapeHtml(p.id)}" data-product-id="${escapeHtml(p.id)}" data-product-name="${escapeHtml(p.name)}" aria-labelledby="open-${escapeHtml(p.id)} name-${escapeHtml(p.id)}">Open</button></li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(deps.appName)}</title><link rel="stylesheet" href="/demo.css"><script defer src="/demo.js"></script></head>
<body data-h5-origin="${escapeHtml(new URL(deps.h5Url).origin)}"><main class="layout">
<section class="app" aria-labelledby="app-title"><h1 id="app-title">${escapeHtml(deps.appName)}</h1>
<p class="lead">A third-party app. Pick a signed-in user, then open a partner product: the app's backend gets a one-time access token from the broker and opens the provider's H5 page with it.</p>
<label for="user">Signed in as</label> <select id="user">${users}</select>
<ul class="products">${products}</ul>
<p id="status" role="status"></p></section>
<section class="phone" id="phone" aria-label="WebView"><div class="screen"><iframe id="webview" title="Provider H5 page" referrerpolicy="no-referrer"></iframe></div></section>
</main></body></html>`;
}

/** The demo third-party app: its page, and its backend's one call to the broker. Opens no port. */
export function createDemoApp(deps: DemoDeps): Koa {
  const router = new Router();
  const h5Origin = new URL(deps.h5Url).origin;
  const assets = { js: file('./public/demo.js'), css: file('./public/demo.css') };
  const productIds = new Set(deps.products.map((p) => p.id));
  const openLimit = createRateLimiter(deps.store ?? new MemoryStore(), 'open', deps.openLimit === undefined ? DEMO_OPEN_LIMIT : deps.openLimit ?? undefined, deps.log);

  // The same headers as every other answer of ours (nosniff, no-referrer, a deny-all CSP that
  // forbids framing); the page replaces the CSP with its own, which still forbids framing.
  router.use(async function securityHeaders(ctx, next) {
    ctx.set(SECURITY_HEADERS);
    await next();
  });
  router.get('/', async function appPage(ctx) {
    ctx.set('Content-Security-Policy', `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-src ${h5Origin}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = renderAppPage(deps);
  });
  router.get('/demo.js', async function script(ctx) {
    ctx.type = 'application/javascript; charset=utf-8';
    ctx.body = assets.js;
  });
  router.get('/demo.css', async function style(ctx) {
    ctx.type = 'text/css; charset=utf-8';
    ctx.body = assets.css;
  });
  router.post('/api/open', async function limitOpen(ctx, next) {
    // Anyone who can reach the demo can have it mint ATs: a few per minute per address.
    const address = ctx.req.socket.remoteAddress ?? '';
    await openLimit.enforce(ctx, addressSubject(address), {
      detail: 'Too many products opened from this address; try again after Retry-After.',
      audit: { route: 'POST /api/open', clientAddress: address },
    });
    await next();
  }, async function openProduct(ctx) {
    const { body } = await readJsonBody(ctx, { limit: 1024 });
    const userId = field(body, 'userId', /^[a-z]{1,32}$/);
    const productId = field(body, 'productId', /^[a-z0-9-]{1,64}$/);
    const user = DEMO_USERS.find((u) => u.id === userId);
    if (!user || !productIds.has(productId)) throw new Problem('invalid_request', 'Unknown user or product.');
    try {
      // The page greets the user by the name the app shows, not by an id.
      const token = await deps.client.requestAccessToken({ userId, productId, profile: { displayName: user.name } });
      noStore(ctx);
      // "Back to the app" on the page returns here, on the origin the user opened the demo on.
      ctx.body = { url: h5PageUrl(deps.h5Url, productId, token.at, { returnUrl: `${ctx.origin}/` }), expiresAt: token.exp };
    } catch (err) {
      if (err instanceof BrokerError && err.problem.code) {
        throw new Problem('upstream_unavailable', `The broker refused: ${err.problem.code}.`, { status: 502, cause: err });
      }
      throw new Problem('upstream_unavailable', 'The broker did not answer.', { status: 502, cause: err });
    }
  });

  return createService(router, deps.log, { apiHeaders: false });
}
