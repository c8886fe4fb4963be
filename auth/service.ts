/**
 * Auth's operations without HTTP around them: what its routes do, as functions. The HTTP app
 * (auth/app.ts) wraps them; a gateway that runs in this same process calls them directly
 * (gateway/upstream.ts createLocalUpstream), since a loopback HTTP hop between two parts of one
 * process protects nothing and costs more than the rest of an AT issuance (decision 33).
 */
import { toJwks, type Jwks } from '../flows/keys/keys.ts';
import { accessTokenIssuer, type IssuedAccessToken } from '../flows/access-token/service.ts';
import { visitTokenExchanger, type ExchangedVisitToken, type ExchangeOptions } from '../flows/visit-token/service.ts';
import type { AuthDeps } from '../flows/deps.ts';

export interface AuthService {
  /** Issues a single-use AT for a request the gateway verified; throws Problem. */
  issueAccessToken(body: Record<string, unknown>, requestId?: string): Promise<IssuedAccessToken>;
  /** Opens an envelope, consumes its AT once and seals a VT under R; throws Problem. */
  exchangeVisitToken(envelope: unknown, requestId?: string, opts?: ExchangeOptions): Promise<ExchangedVisitToken>;
  /** The public keys: the encryption keys, then the signing keys (current, next, retired). */
  jwks(): Jwks;
}

export function createAuthService(deps: AuthDeps): AuthService {
  return {
    issueAccessToken: accessTokenIssuer(deps),
    exchangeVisitToken: visitTokenExchanger(deps),
    // Built per call: the signing keys change as the set rotates (a few keys, cheap).
    jwks: () => ({ keys: [...toJwks(deps.keys).keys, ...deps.signingKeys.publicJwks()] }),
  };
}
