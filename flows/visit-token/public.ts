import type { Middleware, Next } from 'koa';
import { createNetworkList, resolveClientAddress } from '../../platform/net/client-address.ts';
import { clientGone } from '../../platform/http/client-gone.ts';
import { noStore, readJsonBody } from '../../platform/http/body.ts';
import { MAX_ENVELOPE_LENGTH } from '../../platform/crypto/jwe.ts';
import { Problem } from '../../platform/http/problem.ts';
import { addressSubject, createRateLimiter } from '../rate-limit/limiter.ts';
import type { GatewayDeps } from '../deps.ts';
import type { AppRouter, RequestContext } from '../../platform/http/state.ts';
import type { IssuedVisitToken } from './seam.ts';

/** Mounts the flow's public half on the gateway's router: called by the H5 page, so with `browserCors`. */
export function mountVisitTokenPublic(router: AppRouter, deps: GatewayDeps, shared: { browserCors: Middleware; prefetchProduct?: ProductPrefetch }): void {
  router.options('/v1/visit-tokens', shared.browserCors);
  router.post('/v1/visit-tokens', shared.browserCors, ...exchangeVisitToken(deps, shared.prefetchProduct));
}

/**
 * The product document for a VT just issued, or undefined (product-api's productPrefetcher, handed
 * in by the gateway's composition so that this flow does not import that one).
 */
export type ProductPrefetch = (requestId: string, visit: IssuedVisitToken) => Promise<unknown>;

/** What `include` may name: the product document of the VT's product, in the same answer. */
const INCLUDABLE = new Set(['product']);

/** `POST /v1/visit-tokens`: the H5 page's envelope, passed to auth (VisitTokenService), which alone can open it. */
function exchangeVisitToken(deps: GatewayDeps, prefetchProduct?: ProductPrefetch) {
  const trustedProxies = createNetworkList(deps.config.trustedProxies ?? []);
  const perAddress = createRateLimiter(deps.store, 'exchange', deps.config.rateLimits?.exchange, deps.log);
  return [
    // First of all, before the body is read and long before auth spends an RSA or ECDH operation
    // on the envelope: a refused exchange does not reach auth, so its AT stays unused. The address
    // is the socket's, or a trusted proxy's X-Forwarded-For read from the right; never `ctx.ip`.
    async function limitExchangesPerAddress(ctx: RequestContext, next: Next): Promise<void> {
      const client = resolveClientAddress(ctx.req.socket.remoteAddress, ctx.get('x-forwarded-for') || undefined, trustedProxies);
      await perAddress.enforce(ctx, addressSubject(client.address), {
        detail: 'Too many visit-token exchanges from this network address; the access token was not used. Send it again after Retry-After.',
        audit: { clientAddress: client.address, route: 'POST /v1/visit-tokens' },
      });
      await next();
    },

    async function forwardEnvelope(ctx: RequestContext): Promise<void> {
      // The same limits as auth's, so an oversized envelope is refused here, before the hop.
      const { body } = await readJsonBody(ctx, { limit: MAX_ENVELOPE_LENGTH + 256 });
      if (typeof body.envelope !== 'string' || body.envelope.length > MAX_ENVELOPE_LENGTH) {
        throw new Problem('envelope_invalid', 'The envelope cannot be opened.');
      }
      // Checked before the AT is spent: a wrong `include` costs nothing.
      const include = body.include;
      if (include !== undefined && (typeof include !== 'string' || !INCLUDABLE.has(include))) {
        throw new Problem('invalid_request', '"include" may only be "product".');
      }
      const withProduct = include === 'product' && !!prefetchProduct;
      noStore(ctx);
      // In auth's process the page's own connection: an exchange whose page has gone does not spend its AT.
      const reply = await deps.auth.visitTokens.exchange(body.envelope, ctx.state.requestId, { clientGone: () => clientGone(ctx), withVisitToken: withProduct });
      // The VT in the clear stays here: the page gets it only sealed under its R.
      const product = withProduct && reply.visitToken && !clientGone(ctx) ? await prefetchProduct!(ctx.state.requestId, reply.visitToken) : undefined;
      ctx.body = { envelope: reply.envelope, ...(product !== undefined && { product }) };
    },
  ];
}
