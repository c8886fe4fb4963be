import type { Context } from 'koa';
import { audit } from '../../common/logger.ts';
import { vtKey } from '../../common/tokens.ts';
import { clientMaySee, readTokenForm, requireTokenClient, type TokenClient } from '../client-auth.ts';
import type { GatewayDeps } from '../context.ts';
import type { VisitTokenChecker } from '../visit-tokens.ts';

/**
 * `POST /v1/revoke` (RFC 7009) for registered apps and product backends: a live VT the caller may
 * see (its own app's, or one whose `aud` names one of the backend's products) loses its liveness
 * record, so the next product call with it is vt_invalid. Every other token (invalid, already
 * revoked, another client's) is answered 200 alike, as RFC 7009 section 2.2 says.
 */
export function revokeToken(deps: GatewayDeps, visitTokens: VisitTokenChecker) {
  return [
    requireTokenClient(deps.registry),
    async function revoke(ctx: Context): Promise<void> {
      const { token } = await readTokenForm(ctx);
      const client = ctx.state.client as TokenClient;
      const live = await visitTokens.check(ctx, token);
      if (live && clientMaySee(client, live.claims)) {
        const revoked = await deps.store.delete(vtKey(live.claims.jti));
        if (revoked) {
          audit(deps.log, 'vt.revoked', { appId: live.claims.app, by: `${client.kind}:${client.id}`, reason: 'rfc7009', reqId: ctx.state.requestId });
        }
      }
      ctx.status = 200;
      ctx.body = '';
    },
  ];
}
