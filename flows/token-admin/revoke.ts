import { audit } from '../audit.ts';
import { legacyVtKey, vtKey } from '../visit-token/records.ts';
import { findVisibleToken, requireTokenClient, type TokenAdminContext } from './client-auth.ts';
import type { GatewayDeps } from '../deps.ts';
import type { VisitTokenChecker } from '../visit-token/checker.ts';

/**
 * `POST /v1/revoke` (RFC 7009) for registered apps and product backends: a live VT the caller may
 * see (its own app's, or one whose `aud` names one of the backend's products) loses its liveness
 * record, so the next product call with it is vt_invalid. Every other token (invalid, already
 * revoked, another client's) is answered 200 alike, as RFC 7009 section 2.2 says.
 */
export function revokeToken(deps: GatewayDeps, visitTokens: VisitTokenChecker) {
  return [
    requireTokenClient(deps.registry),
    findVisibleToken(visitTokens),
    async function revoke(ctx: TokenAdminContext): Promise<void> {
      const visible = ctx.state.visibleToken;
      if (visible) {
        const { client, claims } = visible;
        // Both names of the record (legacyVtKey: a VT issued before decision 80).
        const [tagged, legacy] = await Promise.all([deps.store.delete(vtKey(claims.jti)), deps.store.delete(legacyVtKey(claims.jti))]);
        const revoked = tagged || legacy;
        if (revoked) {
          audit(deps.log, 'vt.revoked', { appId: claims.app, by: `${client.kind}:${client.id}`, reason: 'rfc7009', reqId: ctx.state.requestId });
        }
      }
      ctx.status = 200;
      ctx.body = '';
      // An empty body has no media type (docs/protocol.md section 5): Koa would label it text/plain.
      ctx.remove('Content-Type');
    },
  ];
}
