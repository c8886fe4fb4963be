import { VT_TYP } from '../visit-token/records.ts';
import { findVisibleToken, requireTokenClient, type TokenAdminContext } from './client-auth.ts';
import type { GatewayDeps } from '../deps.ts';
import type { VisitTokenChecker } from '../visit-token/checker.ts';

/**
 * `POST /v1/introspect` (RFC 7662) for registered apps and product backends: a live VT issued to
 * the calling app, or whose `aud` names one of the calling backend's products, is `active` with
 * its claims (`profile` and `cnf` too when the VT has them); anything else (expired, revoked, unknown,
 * malformed, another client's, another kind of token) is `{"active": false}` and nothing more.
 */
export function introspectToken(deps: GatewayDeps, visitTokens: VisitTokenChecker) {
  return [
    requireTokenClient(deps.registry),
    findVisibleToken(visitTokens),
    async function introspect(ctx: TokenAdminContext): Promise<void> {
      const visible = ctx.state.visibleToken;
      if (!visible) {
        ctx.body = { active: false };
        return;
      }
      const { iss, sub, app, aud, iat, exp, jti, profile, cnf } = visible.claims;
      // `cnf` (RFC 7800, RFC 9449 section 6.2) when the VT is bound to the page's key.
      ctx.body = { active: true, iss, sub, app, aud, iat, exp, jti, ...(profile && { profile }), ...(cnf && { cnf: { jkt: cnf.jkt } }), token_type: VT_TYP };
    },
  ];
}
