/**
 * The verifier a product backend (or any server a VT is meant for) uses to trust a VT offline:
 * it fetches the broker's JWKS, caches it, refetches once on an unknown `kid` with a cool-down,
 * and checks `typ`, `alg`, `iss`, `aud` and `exp`. Built on `jose`, a well-kept library, rather
 * than our own code: this is what we hand to others. It cannot see revocation; a server that
 * must honour a revocation at once asks `POST /v1/introspect` (or sits behind the gateway, which
 * checks liveness on every call).
 */
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { VT_TYP, type VisitTokenClaims } from './tokens.ts';

export interface VisitTokenVerifierOptions {
  /** The broker's JWKS, e.g. `<GATEWAY_PUBLIC_URL>/.well-known/jwks.json`. */
  jwksUrl: string | URL;
  /** The gateway's public URL, the VT's `iss`. */
  issuer: string;
  /** The audience this server accepts (its product id, or its own address); a VT must name one. */
  audience: string | string[];
  /** Least time between two JWKS fetches on an unknown `kid` (default 30 s). */
  cooldownMs?: number;
  /** How long a fetched JWKS is used before it is fetched again (default 10 min). */
  cacheMaxAgeMs?: number;
  /** Allowed clock skew in seconds for `exp` and `iat` (default 0). */
  clockToleranceSeconds?: number;
}

/** A VT this verifier refused; `reason` is for logs (jose's error code), never for the caller. */
export class VisitTokenRejected extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`visit token rejected: ${reason}`);
    this.name = 'VisitTokenRejected';
    this.reason = reason;
  }
}

export interface VisitTokenVerifier {
  /** The VT's claims when it verifies; VisitTokenRejected otherwise. `audience` overrides the default. */
  verify(token: string, opts?: { audience?: string | string[] }): Promise<VisitTokenClaims>;
}

/** Creates a verifier over the broker's JWKS. */
export function createVisitTokenVerifier(opts: VisitTokenVerifierOptions): VisitTokenVerifier {
  const jwks = createRemoteJWKSet(new URL(opts.jwksUrl), {
    cooldownDuration: opts.cooldownMs ?? 30_000,
    cacheMaxAge: opts.cacheMaxAgeMs ?? 600_000,
    timeoutDuration: 5_000,
  });
  return {
    async verify(token, o = {}) {
      try {
        const { payload } = await jwtVerify(token, jwks, {
          typ: VT_TYP,
          algorithms: ['ES256'],
          issuer: opts.issuer,
          audience: o.audience ?? opts.audience,
          clockTolerance: opts.clockToleranceSeconds ?? 0,
          requiredClaims: ['sub', 'app', 'aud', 'iat', 'exp', 'jti'],
        });
        return payload as unknown as VisitTokenClaims;
      } catch (err) {
        if (err instanceof errors.JOSEError) throw new VisitTokenRejected(err.code);
        throw err;
      }
    },
  };
}
