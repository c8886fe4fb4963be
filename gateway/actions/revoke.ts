import type { Context } from 'koa';
import { audit } from '../../common/logger.ts';
import type { AppEntry } from '../../common/registry.ts';
import { vtKey } from '../../common/tokens.ts';
import { readTokenForm, requireAppClient } from '../client-auth.ts';
import type { GatewayDeps } from '../context.ts';
import type { VisitTokenChecker } from '../visit-tokens.ts';

/**
 * `POST /v1/revoke` (RFC 7009) for registered apps: a live VT issued to the calling app loses its
 * liveness record, so the next product call with it is vt_invalid. Every other token (invalid,
 * already revoked, another app's) is answered 200 alike, as RFC 7009 section 2.2 says.
 */
export function revokeToken(deps: GatewayDeps, visitTokens: VisitTokenChecker) {
  return [
    requireAppClient(deps.registry),
    async function revoke(ctx: Context): Promise<void> {
      const { token } = await readTokenForm(ctx);
      const client = ctx.state.client as AppEntry;
      const live = await visitTokens.check(ctx, token);
      if (live && live.claims.app === client.appId) {
        const revoked = await deps.store.delete(vtKey(live.claims.jti));
        if (revoked) audit(deps.log, 'vt.revoked', { appId: client.appId, reason: 'rfc7009', reqId: ctx.state.requestId });
      }
      ctx.status = 200;
      ctx.body = '';
    },
  ];
}
