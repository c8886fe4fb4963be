/**
 * The verifier a product backend (or any server a VT is meant for) uses to trust a VT offline:
 * it fetches the broker's JWKS, caches it, refetches once on an unknown `kid` with a cool-down,
 * and checks `typ`, `alg`, `iss`, `aud`, `exp` and, when given, `app`. Built on `jose`, a well-kept library, rather
 * than our own code: this is what we hand to others. It cannot see revocation; a server that
 * must honour a revocation at once asks `POST /v1/introspect` (or sits behind the gateway, which
 * checks liveness on every call).
 */
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { Problem } from '../platform/http/problem.ts';
import { DpopError, proofMemorySeconds, verifyDpopProof } from '../platform/crypto/dpop.ts';
import { DPOP_IAT_WINDOW_SECONDS, VT_TYP, type VisitTokenClaims } from '../protocol/visit-token.ts';

export interface VisitTokenVerifierOptions {
  /** The broker's JWKS, e.g. `<GATEWAY_PUBLIC_URL>/.well-known/jwks.json`. */
  jwksUrl: string | URL;
  /** The gateway's public URL, the VT's `iss`. */
  issuer: string;
  /** The audience this server accepts (its product id, or its own address); a VT must name one. */
  audience: string | string[];
  /**
   * The app (or apps) whose VTs this server accepts: the VT's `app` claim must be one of them.
   * A partner server a VT is bound to by `audience` must set it (its own app); a product backend,
   * which serves every app the registry allows, may leave it out.
   */
  app?: string | readonly string[];
  /** Least time between two JWKS fetches on an unknown `kid` (default 30 s). */
  cooldownMs?: number;
  /** How long a fetched JWKS is used before it is fetched again (default 10 min). */
  cacheMaxAgeMs?: number;
  /** Allowed clock skew in seconds for `exp` and `iat` (default 0). */
  clockToleranceSeconds?: number;
  /**
   * How many verified VTs to remember (default 10,000; 0 turns it off). A page makes several calls
   * with one VT and an ES256 check costs tens of microseconds, so a VT that verified is accepted
   * again by its exact string until its `exp`. A key leaves the JWKS only after every VT it signed
   * has expired, so this accepts nothing a fresh check would refuse — except a revoked VT, which
   * no offline check can see (ask introspection for that).
   */
  cacheSize?: number;
  /**
   * How a VT bound to a key (`cnf.jkt`, the H5 page's VTs) is accepted:
   * - `'proof'` (the default): only with a DPoP proof of that key for this request, passed to
   *   `verify` as `dpop`, and seen once (`dpopReplay`). For a server the page (or a client holding
   *   the key) calls directly.
   * - `'gateway'`: without a proof, for a product backend that is reached only through the gateway
   *   (its internal credential checked first): the gateway checked the proof and spent it, so the
   *   backend cannot check it again, and trusts that check as it trusts the identity headers.
   * A VT bound to nothing (the forge path, third parties' own clients) is accepted as always.
   */
  boundTokens?: 'proof' | 'gateway';
  /**
   * Spends a proof: true the first time `key` is seen within `ttlSeconds`, false after. Default: a
   * map in this process, right for a single instance; several instances pass their shared store's
   * set-if-absent.
   */
  dpopReplay?: (key: string, ttlSeconds: number) => Promise<boolean>;
}

/** A DPoP proof as the request carried it: the `DPoP` header, the method and the URL the client addressed. */
export interface DpopRequest {
  proof: string | undefined;
  method: string;
  url: string;
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

/**
 * The broker's JWKS could not be fetched (no answer, not 200, not a JWKS): nothing is known of the
 * VT either way. A Problem, so a Koa app that rethrows it answers 503 `upstream_unavailable`; any
 * other server maps it to its own "try again" answer, never to a refused token.
 */
export class VerifierUnavailable extends Problem {
  constructor(cause?: unknown) {
    super('upstream_unavailable', 'The broker\'s signing keys could not be fetched; try again shortly.', { cause, headers: { 'Retry-After': '5' } });
  }
}

/** jose's codes for a JWKS that could not be had, as against a token that is wrong. */
const JWKS_UNAVAILABLE = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID', 'ERR_JOSE_GENERIC']);

export interface VisitTokenVerifier {
  /**
   * The VT's claims when it verifies; VisitTokenRejected otherwise, or VerifierUnavailable when
   * the JWKS cannot be fetched. `audience` and `app` override the defaults.
   */
  verify(token: string, opts?: { audience?: string | string[]; app?: string | readonly string[]; dpop?: DpopRequest }): Promise<VisitTokenClaims>;
}

/** Creates a verifier over the broker's JWKS. */
export function createVisitTokenVerifier(opts: VisitTokenVerifierOptions): VisitTokenVerifier {
  const jwks = createRemoteJWKSet(new URL(opts.jwksUrl), {
    cooldownDuration: opts.cooldownMs ?? 30_000,
    cacheMaxAge: opts.cacheMaxAgeMs ?? 600_000,
    timeoutDuration: 5_000,
  });
  const cacheSize = opts.cacheSize ?? 10_000;
  const verified = new Map<string, VisitTokenClaims>();
  /** The `app` claim against the allowed apps; the same rejection as jose's other claim checks. */
  function checkApp(claims: VisitTokenClaims, allowed: string | readonly string[] | undefined): VisitTokenClaims {
    if (allowed === undefined) return claims;
    const apps: readonly string[] = typeof allowed === 'string' ? [allowed] : allowed;
    if (typeof claims.app !== 'string' || !apps.includes(claims.app)) throw new VisitTokenRejected('ERR_JWT_CLAIM_VALIDATION_FAILED');
    return claims;
  }
  const seen = new Map<string, number>();
  const spend = opts.dpopReplay ?? (async (key: string, ttlSeconds: number) => {
    const now = Date.now();
    if (seen.size >= 100_000) for (const [k, until] of seen) if (until <= now) seen.delete(k);
    if ((seen.get(key) ?? 0) > now) return false;
    seen.set(key, now + ttlSeconds * 1000);
    return true;
  });
  /** A bound VT's proof of possession, unless the gateway checked it (`boundTokens: 'gateway'`). */
  async function checkBinding(token: string, claims: VisitTokenClaims, dpop: DpopRequest | undefined): Promise<VisitTokenClaims> {
    const jkt = claims.cnf?.jkt;
    if (jkt === undefined || opts.boundTokens === 'gateway') return claims;
    if (!dpop) throw new VisitTokenRejected('ERR_DPOP_PROOF_MISSING');
    try {
      const { jti } = await verifyDpopProof(dpop.proof, { jkt, method: dpop.method, url: dpop.url, accessToken: token, windowSeconds: DPOP_IAT_WINDOW_SECONDS + (opts.clockToleranceSeconds ?? 0) });
      if (!(await spend(`${jkt}:${jti}`, proofMemorySeconds(DPOP_IAT_WINDOW_SECONDS + (opts.clockToleranceSeconds ?? 0))))) throw new DpopError('replayed');
    } catch (err) {
      if (err instanceof DpopError) throw new VisitTokenRejected(`ERR_DPOP_${err.reason.toUpperCase()}`);
      throw err;
    }
    return claims;
  }
  return {
    async verify(token, o = {}) {
      return checkBinding(token, await verifyClaims(token, o), o.dpop);
    },
  };

  async function verifyClaims(token: string, o: { audience?: string | string[]; app?: string | readonly string[] }): Promise<VisitTokenClaims> {
    const audience = o.audience ?? opts.audience;
    const app = o.app ?? opts.app;
    // Remembered per audience asked for: a VT accepted for one audience says nothing of another.
    const key = `${JSON.stringify(audience)} ${token}`;
    const hit = cacheSize > 0 ? verified.get(key) : undefined;
    if (hit) {
      if (hit.exp + (opts.clockToleranceSeconds ?? 0) > Date.now() / 1000) return checkApp(hit, app);
      verified.delete(key);
    }
    try {
      const { payload } = await jwtVerify(token, jwks, {
        typ: VT_TYP,
        algorithms: ['ES256'],
        issuer: opts.issuer,
        audience,
        clockTolerance: opts.clockToleranceSeconds ?? 0,
        requiredClaims: ['sub', 'app', 'aud', 'iat', 'exp', 'jti'],
      });
      const claims = payload as unknown as VisitTokenClaims;
      if (cacheSize > 0) {
        if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!);
        verified.set(key, claims);
      }
      return checkApp(claims, app);
    } catch (err) {
      if (err instanceof VisitTokenRejected) throw err;
      if (err instanceof errors.JOSEError && !JWKS_UNAVAILABLE.has(err.code)) throw new VisitTokenRejected(err.code);
      // A fetch that failed (a TypeError from fetch, a timeout, a non-200 or a non-JWKS answer).
      throw new VerifierUnavailable(err);
    }
  }
}
