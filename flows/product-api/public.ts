import type { Middleware, Next } from 'koa';
import { noStore } from '../../platform/http/body.ts';
import { JwsError } from '../../platform/crypto/jws.ts';
import { Problem } from '../../platform/http/problem.ts';
import { createRateLimiter } from '../rate-limit/limiter.ts';
import { hasAudience, type VisitTokenClaims, type VisitTokenRecord } from '../visit-token/records.ts';
import type { GatewayDeps } from '../deps.ts';
import { relay } from '../../platform/http/upstream.ts';
import { authorizationVt, type VisitTokenChecker } from '../visit-token/checker.ts';
import type { AppRouter, RequestContext, RequestState } from '../../platform/http/state.ts';

const PRODUCT_ID_RE = /^[a-z0-9-]{1,64}$/;

/** Identity headers the product backend trusts: set here only, never taken from the client. */
export const IDENTITY_HEADERS = { app: 'x-broker-app', user: 'x-broker-user', product: 'x-broker-product' } as const;
/** The VT itself, passed on so that a product backend can verify it offline too. */
export const VT_HEADER = 'x-broker-vt';

function vtInvalid(detail = 'The visit token is missing, unknown, expired or revoked.'): Problem {
  // The challenge is the problem table's (protocol/problems.ts), as for every 401.
  return new Problem('vt_invalid', detail);
}

/** The request state of `GET /v1/products/:productId`, each key set by the step named, read after it. */
interface ProductCallState extends RequestState {
  /** verifyVisitToken: the VT as the page sent it, its scheme, and its claims, whose signature verified. */
  vt: string;
  scheme: 'Bearer' | 'DPoP';
  verifiedClaims: VisitTokenClaims;
  /** limitCallsPerVisitToken: the liveness read, sent with the count (awaited by checkVisitToken). */
  liveness: Promise<VisitTokenRecord | undefined>;
  /** checkVisitToken: a live VT for this product. */
  visit: { claims: VisitTokenClaims; vt: string; productId: string };
}
type ProductCallContext = RequestContext<ProductCallState>;

/** Mounts the flow's public half on the gateway's router: called by the H5 page, so with `browserCors`. */
export function mountProductApiPublic(router: AppRouter, deps: GatewayDeps, shared: { browserCors: Middleware; visitTokens: VisitTokenChecker }): void {
  router.options('/v1/products/:productId', shared.browserCors);
  router.get('/v1/products/:productId', shared.browserCors, ...getProduct(deps, shared.visitTokens));
}

/**
 * `GET /v1/products/:productId`: verifies the signed VT on every call (signature, typ, alg, iss,
 * exp), counts the call against the VT's rate limit, checks that the VT is live in the store (not
 * revoked) and for this product, then asks the product backend.
 */
function getProduct(deps: GatewayDeps, visitTokens: VisitTokenChecker) {
  const perVisitToken = createRateLimiter(deps.store, 'product', deps.config.rateLimits?.product, deps.log);
  return [
    async function verifyVisitToken(ctx: ProductCallContext, next: Next): Promise<void> {
      noStore(ctx);
      const sent = authorizationVt(ctx.get('authorization'));
      if (!sent) throw vtInvalid('Send the visit token as "Authorization: Bearer <VT>" (or "DPoP <VT>" with a DPoP proof when it is bound to a key).');
      try {
        ctx.state.verifiedClaims = await visitTokens.verify(ctx, sent.vt);
      } catch (err) {
        if (err instanceof JwsError) throw vtInvalid();
        throw err;
      }
      ctx.state.vt = sent.vt;
      ctx.state.scheme = sent.scheme;
      await next();
    },

    // Keyed by the `jti` of a VT whose signature verified (a forged token counts for nothing and
    // cannot use up another's quota), before the product backend: a refused call reaches no
    // backend. A revoked VT is counted too, so hammering with one is throttled as well. The
    // liveness read (checkVisitToken's) is sent in the same tick, after the count: node-redis
    // writes both commands at once, so the call costs one store round trip, not two (decision 87).
    async function limitCallsPerVisitToken(ctx: ProductCallContext, next: Next): Promise<void> {
      const claims = ctx.state.verifiedClaims;
      const counted = perVisitToken.enforce(ctx, claims.jti, {
        detail: 'Too many calls with this visit token; send the request again after Retry-After.',
        audit: { appId: claims.app, route: 'GET /v1/products/:productId' },
      });
      const liveness = visitTokens.live(claims);
      // Awaited by checkVisitToken; a refusal before that must not leave its failure unhandled.
      liveness.catch(() => undefined);
      await counted;
      ctx.state.liveness = liveness;
      await next();
    },

    // A VT bound to the page's key (`cnf.jkt`) is used only as `DPoP <VT>` with a proof signed by
    // that key for this very request, spent here (RFC 9449): a VT copied out of the page is useless
    // without the key. A VT bound to nothing is a bearer token, as it always was; sent under the
    // DPoP scheme it is refused (RFC 9449 section 7.2). After the rate limit, so that hammering
    // with a stolen VT costs one store step, not a signature check.
    async function checkProofOfPossession(ctx: ProductCallContext, next: Next): Promise<void> {
      const { verifiedClaims: claims, scheme, vt } = ctx.state;
      if (!(await visitTokens.proves(ctx, { scheme, vt }, claims))) throw vtInvalid('This visit token is bound to no key: send it as "Authorization: Bearer <VT>".');
      await next();
    },

    async function checkVisitToken(ctx: ProductCallContext, next: Next): Promise<void> {
      const claims = ctx.state.verifiedClaims;
      // The signature and claims were verified above; what is left is the liveness record, read
      // in the rate limit's round trip (after the count, before the backend is asked).
      const record = await ctx.state.liveness;
      if (!record) throw vtInvalid();
      const productId = ctx.params.productId ?? '';
      if (!PRODUCT_ID_RE.test(productId) || !hasAudience(claims, productId) || record.productId !== productId) {
        throw new Problem('forbidden_product', 'This visit token is for another product.');
      }
      ctx.state.visit = { claims, vt: ctx.state.vt, productId };
      await next();
    },

    async function forwardToProductBackend(ctx: ProductCallContext): Promise<void> {
      const v = ctx.state.visit;
      relay(ctx, await askProductBackend(deps, ctx.state.requestId, { vt: v.vt, app: v.claims.app, sub: v.claims.sub, productId: v.productId }), [200]);
    },
  ];
}

/** A VT and the identity it names, as the product backend is asked with them. */
type Visit = { vt: string; app: string; sub: string; productId: string };

/** The product backend's answer for one product, asked with the VT and the identity it names. */
function askProductBackend(deps: GatewayDeps, requestId: string, visit: Visit) {
  return deps.products.request(requestId, 'GET', `/products/${encodeURIComponent(visit.productId)}`, {
    headers: {
      [IDENTITY_HEADERS.app]: visit.app, [IDENTITY_HEADERS.user]: visit.sub, [IDENTITY_HEADERS.product]: visit.productId,
      [VT_HEADER]: visit.vt,
    },
  });
}

/**
 * Fetches a product document for a VT the gateway has just received from auth in an exchange
 * (protocol section 2, `include: "product"`): the same backend call as `GET /v1/products/:id`,
 * counted against the VT's rate limit the same way. The VT never left the server, so there is no
 * proof of possession to check and no liveness to read. Resolves to the document, or to undefined
 * on any failure (over the limit, the backend down or refusing): the exchange's answer never
 * depends on it, and the page then asks `GET /v1/products/:id` itself.
 */
export function productPrefetcher(deps: GatewayDeps, deadlineMs = PREFETCH_DEADLINE_MS): (requestId: string, visit: Visit & { jti: string }) => Promise<unknown> {
  const perVisitToken = createRateLimiter(deps.store, 'product', deps.config.rateLimits?.product, deps.log);
  async function fetchIt(requestId: string, visit: Visit & { jti: string }): Promise<unknown> {
    if (!PRODUCT_ID_RE.test(visit.productId) || !(await perVisitToken.take(visit.jti))) return undefined;
    const answer = await askProductBackend(deps, requestId, visit);
    const data = answer.data;
    return answer.status === 200 && data && typeof data === 'object' && !Array.isArray(data) ? data : undefined;
  }
  return async function prefetchProduct(requestId, visit) {
    // The AT is spent and the VT waits in this answer: a slow backend costs at most the deadline.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), deadlineMs);
    });
    try {
      return await Promise.race([fetchIt(requestId, visit), late]);
    } catch (err) {
      deps.log.warn({ reqId: requestId, err: (err as Error).message }, 'product prefetch failed');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
}

/** How long the exchange waits for the included product before it answers without it. */
export const PREFETCH_DEADLINE_MS = 2_000;
