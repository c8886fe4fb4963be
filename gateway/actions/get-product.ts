import type { Context, Next } from 'koa';
import { noStore } from '../../common/http.ts';
import { Problem } from '../../common/problem.ts';
import { findVisitToken } from '../../common/tokens.ts';
import type { GatewayDeps } from '../context.ts';
import { relay } from '../upstream.ts';

const BEARER_RE = /^Bearer ([A-Za-z0-9_-]{1,128})$/;
const PRODUCT_ID_RE = /^[a-z0-9-]{1,64}$/;

/** Identity headers the product backend trusts: set here only, never taken from the client. */
export const IDENTITY_HEADERS = { app: 'x-broker-app', user: 'x-broker-user', product: 'x-broker-product' } as const;

function vtInvalid(detail = 'The visit token is missing, unknown, expired or revoked.'): Problem {
  return new Problem(401, 'vt_invalid', detail, { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
}

/** `GET /v1/products/:productId`: checks the VT on every call, then asks the product backend. */
export function getProduct(deps: GatewayDeps) {
  return [
    async function checkVisitToken(ctx: Context, next: Next): Promise<void> {
      noStore(ctx);
      const m = BEARER_RE.exec(ctx.get('authorization'));
      if (!m) throw vtInvalid('Send the visit token as "Authorization: Bearer <VT>".');
      const record = await findVisitToken(deps.store, m[1]!);
      if (!record) throw vtInvalid();
      const productId = ctx.params.productId ?? '';
      if (!PRODUCT_ID_RE.test(productId) || record.productId !== productId) {
        throw new Problem(403, 'forbidden_product', 'This visit token is for another product.');
      }
      ctx.state.visit = record;
      await next();
    },

    async function forwardToProductBackend(ctx: Context): Promise<void> {
      const v = ctx.state.visit as { appId: string; userId: string; productId: string };
      const answer = await deps.products.request(ctx, 'GET', `/products/${encodeURIComponent(v.productId)}`, {
        headers: { [IDENTITY_HEADERS.app]: v.appId, [IDENTITY_HEADERS.user]: v.userId, [IDENTITY_HEADERS.product]: v.productId },
      });
      relay(ctx, answer, [200]);
    },
  ];
}
