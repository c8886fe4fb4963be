/**
 * The sample product backend's demo action "Confirm payment": it acts only on a countersign grant
 * that the broker redeems for it (single use, every check made again there) for exactly this
 * operation, amount, currency and payee, and only for the user whose VT came with the call.
 */
import type { Logger } from 'pino';
import { requireInternalCaller } from '../platform/http/body.ts';
import { readJsonBody } from '../platform/http/body.ts';
import { isProblemBody, Problem, problemFromBody } from '../platform/http/problem.ts';
import type { AppRouter } from '../platform/http/state.ts';
import { VisitTokenRejected, type VisitTokenVerifier } from '../sdk/vt-verifier.ts';
import { COUNTERSIGN_PATHS } from '../protocol/countersign.ts';

/** Redeems a grant at the broker; its answer, or the broker's problem thrown as Problem. */
export type GrantRedeemer = (request: { grant: unknown; operation: string; params: Record<string, string>; level: 1 | 2; app: string; sub: string }, requestId?: string) => Promise<Record<string, unknown>>;

/** A GrantRedeemer over HTTP: `POST /v1/countersign/grants/redeem` on the gateway. */
export function redeemAtGateway(gatewayUrl: string): GrantRedeemer {
  return async (request, requestId) => {
    let res: Response;
    try {
      res = await fetch(`${gatewayUrl}${COUNTERSIGN_PATHS.redeem}`, {
        method: 'POST', headers: { 'content-type': 'application/json', ...(requestId && { 'x-request-id': requestId }) }, body: JSON.stringify(request),
        signal: AbortSignal.timeout(5000),
      });
    } catch (cause) {
      throw new Problem('upstream_unavailable', 'The broker did not answer the grant redemption.', { cause, headers: { 'Retry-After': '1' } });
    }
    const data = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (res.ok && data) return data;
    if (isProblemBody(data)) throw problemFromBody(data);
    throw new Problem('upstream_unavailable', 'The broker answered the grant redemption unexpectedly.', { status: 502 });
  };
}

/** Payments above this amount need level 2 (the offline authorization password too). */
export const LEVEL_2_ABOVE = 1000;

export function mountPaymentRoute(router: AppRouter, deps: { internalToken: string; log: Logger; visitTokens: VisitTokenVerifier; grants?: GrantRedeemer }): void {
  router.post('/products/:productId/payments', requireInternalCaller(deps.internalToken), async function confirmPayment(ctx) {
    if (!deps.grants) throw new Problem('not_found');
    const productId = ctx.params.productId ?? '';
    let vt;
    try {
      vt = await deps.visitTokens.verify(ctx.get('x-broker-vt'), { audience: productId });
    } catch (err) {
      if (!(err instanceof VisitTokenRejected)) throw err;
      throw new Problem('vt_invalid', 'The visit token is not valid for this product.');
    }
    if (ctx.get('x-broker-user') !== vt.sub || ctx.get('x-broker-app') !== vt.app) throw new Problem('vt_invalid', 'The visit token does not match the identity it came with.');
    const { body } = await readJsonBody(ctx, { limit: 32 * 1024 });
    const { amount, currency, payee, grant } = body;
    if (typeof amount !== 'string' || typeof currency !== 'string' || typeof payee !== 'string' || typeof grant !== 'string') {
      throw new Problem('invalid_request', 'Send amount, currency, payee and the countersign grant.');
    }
    // The backend names the operation and the exact parameters it will act on; the broker
    // refuses a grant for anything else, and spends it once.
    const level = Number(amount) > LEVEL_2_ABOVE ? 2 : 1;
    // Only a grant of the user whose VT came with the call; the broker refuses another's without spending it.
    const redeemed = await deps.grants({ grant, operation: 'payment.confirm', params: { amount, currency, payee }, level, app: vt.app, sub: vt.sub }, ctx.state.requestId);
    if (redeemed.sub !== vt.sub || redeemed.app !== vt.app) throw new Problem('grant_invalid', 'The grant was approved by another user.');
    deps.log.info({ reqId: ctx.state.requestId, acr: redeemed.acr, serial: redeemed.serial }, 'payment confirmed on a countersign grant');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'confirmed', amount, currency, payee, acr: redeemed.acr, serial: redeemed.serial };
  });
}
