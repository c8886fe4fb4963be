import type { Context, Next } from 'koa';
import { noStore } from '../../common/http.ts';
import { MAX_JWS_LENGTH } from '../../common/jws.ts';
import { Problem } from '../../common/problem.ts';
import { hasAudience, type VisitTokenClaims } from '../../common/tokens.ts';
import type { GatewayDeps } from '../context.ts';
import { relay } from '../upstream.ts';
import type { VisitTokenChecker } from '../visit-tokens.ts';

/** A compact JWS, bounded: three base64url segments, at most MAX_JWS_LENGTH characters in all. */
const BEARER_RE = new RegExp(`^Bearer ([A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)$`);
const PRODUCT_ID_RE = /^[a-z0-9-]{1,64}$/;

/** Identity headers the product backend trusts: set here only, never taken from the client. */
export const IDENTITY_HEADERS = { app: 'x-broker-app', user: 'x-broker-user', product: 'x-broker-product' } as const;
/** The VT itself, passed on so that a product backend can verify it offline too. */
export const VT_HEADER = 'x-broker-vt';

function vtInvalid(detail = 'The visit token is missing, unknown, expired or revoked.'): Problem {
  return new Problem(401, 'vt_invalid', detail, { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
}

/**
 * `GET /v1/products/:productId`: verifies the signed VT on every call (signature, typ, alg, iss,
 * exp), checks that it is live in the store (not revoked) and for this product, then asks the
 * product backend.
 */
export function getProduct(deps: GatewayDeps, visitTokens: VisitTokenChecker) {
  return [
    async function checkVisitToken(ctx: Context, next: Next): Promise<void> {
      noStore(ctx);
      const header = ctx.get('authorization');
      const m = header.length <= MAX_JWS_LENGTH + 7 ? BEARER_RE.exec(header) : null;
      if (!m) throw vtInvalid('Send the visit token as "Authorization: Bearer <VT>".');
      const live = await visitTokens.check(ctx, m[1]!);
      if (!live) throw vtInvalid();
      const productId = ctx.params.productId ?? '';
      if (!PRODUCT_ID_RE.test(productId) || !hasAudience(live.claims, productId) || live.record.productId !== productId) {
        throw new Problem(403, 'forbidden_product', 'This visit token is for another product.');
      }
      ctx.state.visit = { claims: live.claims, vt: m[1]!, productId };
      await next();
    },

    async function forwardToProductBackend(ctx: Context): Promise<void> {
      const v = ctx.state.visit as { claims: VisitTokenClaims; vt: string; productId: string };
      const answer = await deps.products.request(ctx, 'GET', `/products/${encodeURIComponent(v.productId)}`, {
        headers: {
          [IDENTITY_HEADERS.app]: v.claims.app, [IDENTITY_HEADERS.user]: v.claims.sub, [IDENTITY_HEADERS.product]: v.productId,
          [VT_HEADER]: v.vt,
        },
      });
      relay(ctx, answer, [200]);
    },
  ];
}
