/** The token-admin flow's public half: RFC 7662 introspection and RFC 7009 revocation at the gateway. */
import type { AppRouter } from '../../platform/http/state.ts';
import type { GatewayDeps } from '../deps.ts';
import type { VisitTokenChecker } from '../visit-token/checker.ts';
import { introspectToken } from './introspect.ts';
import { revokeToken } from './revoke.ts';

/** Mounts the flow's public half on the gateway's router: for registered apps (HTTP Basic), server to server, no CORS. */
export function mountTokenAdminPublic(router: AppRouter, deps: GatewayDeps, shared: { visitTokens: VisitTokenChecker }): void {
  router.post('/v1/introspect', ...introspectToken(deps, shared.visitTokens));
  router.post('/v1/revoke', ...revokeToken(deps, shared.visitTokens));
}
