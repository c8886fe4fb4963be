import type { Context, Next } from 'koa';
import { createNetworkList, resolveClientAddress } from '../../platform/net/client-address.ts';
import { noStore, readJsonBody } from '../../platform/http/body.ts';
import { MAX_ENVELOPE_LENGTH } from '../../platform/crypto/jwe.ts';
import { Problem } from '../../platform/http/problem.ts';
import { addressSubject, createRateLimiter } from '../rate-limit/limiter.ts';
import type { GatewayDeps } from '../deps.ts';
import { relay } from '../../platform/http/upstream.ts';

/** `POST /v1/visit-tokens`: the H5 page's envelope, passed to auth, which alone can open it. */
export function exchangeVisitToken(deps: GatewayDeps) {
  const trustedProxies = createNetworkList(deps.config.trustedProxies ?? []);
  const perAddress = createRateLimiter(deps.store, 'exchange', deps.config.rateLimits?.exchange, deps.log);
  return [
    // First of all, before the body is read and long before auth spends an RSA or ECDH operation
    // on the envelope: a refused exchange does not reach auth, so its AT stays unused. The address
    // is the socket's, or a trusted proxy's X-Forwarded-For read from the right; never `ctx.ip`.
    async function limitExchangesPerAddress(ctx: Context, next: Next): Promise<void> {
      const client = resolveClientAddress(ctx.req.socket.remoteAddress, ctx.get('x-forwarded-for') || undefined, trustedProxies);
      await perAddress.enforce(ctx, addressSubject(client.address), {
        detail: 'Too many visit-token exchanges from this network address; the access token was not used. Send it again after Retry-After.',
        audit: { clientAddress: client.address, route: 'POST /v1/visit-tokens' },
      });
      await next();
    },

    async function forwardEnvelope(ctx: Context): Promise<void> {
      // The same limits as auth's, so an oversized envelope is refused here, before the hop.
      const { body } = await readJsonBody(ctx, { limit: MAX_ENVELOPE_LENGTH + 256 });
      if (typeof body.envelope !== 'string' || body.envelope.length > MAX_ENVELOPE_LENGTH) {
        throw new Problem('envelope_invalid', 'The envelope cannot be opened.');
      }
      const answer = await deps.auth.request(ctx, 'POST', '/internal/visit-tokens', { body: { envelope: body.envelope } });
      noStore(ctx);
      relay(ctx, answer, [200]);
    },
  ];
}
