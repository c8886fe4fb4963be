/**
 * The gateway's check of a VT: the signature with auth's public signing key (fetched from
 * `/internal/jwks` once and cached; an unknown `kid` refetches at most once per 30 s), the claims,
 * and then the liveness record `vt:<jti>` in the store, so a revoked VT fails at once.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { JwsError } from '../common/jws.ts';
import { Problem } from '../common/problem.ts';
import { findVisitToken, verifyVisitToken, type VisitTokenClaims, type VisitTokenRecord } from '../common/tokens.ts';
import type { TokenStore } from '../common/store/index.ts';
import type { Upstream } from './upstream.ts';

/** At most one JWKS fetch per this long for an unknown `kid` (a storm of forged kids costs one fetch). */
export const UNKNOWN_KID_COOLDOWN_MS = 30_000;

/** The public ES256 keys of a JWKS by kid; every other entry (encryption keys) is left out. */
export function signingKeysOf(jwks: unknown): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  const keys = (jwks as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) return out;
  for (const k of keys as Record<string, unknown>[]) {
    if (k?.use !== 'sig' || k.alg !== 'ES256' || k.kty !== 'EC' || k.crv !== 'P-256' || typeof k.kid !== 'string') continue;
    try {
      out.set(k.kid, createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: k.x, y: k.y } as Record<string, string>, format: 'jwk' }));
    } catch {
      // A malformed entry is skipped; its kid stays unknown.
    }
  }
  return out;
}

export interface VisitTokenChecker {
  /** Claims of a VT whose signature, typ, alg, iss and exp hold, or JwsError. */
  verify(ctx: Context, vt: string): Promise<VisitTokenClaims>;
  /** Claims and live record of a VT that is also live (not revoked), or undefined. */
  check(ctx: Context, vt: string): Promise<{ claims: VisitTokenClaims; record: VisitTokenRecord } | undefined>;
}

/** Builds the gateway's VT checker over auth's JWKS and the store. */
export function createVisitTokenChecker(deps: { auth: Upstream; store: TokenStore; issuer: string; log: Logger }): VisitTokenChecker {
  let keys = new Map<string, KeyObject>();
  let fetchedAt = -Infinity;
  let inFlight: Promise<void> | undefined;

  async function refresh(ctx: Context): Promise<void> {
    fetchedAt = Date.now();
    const answer = await deps.auth.request(ctx, 'GET', '/internal/jwks');
    if (answer.status !== 200) {
      throw new Problem(503, 'upstream_unavailable', 'The keys are not available right now.', {
        cause: new Error(`auth answered ${answer.status} for its JWKS`), headers: { 'Retry-After': '1' },
      });
    }
    keys = signingKeysOf(answer.data);
  }

  async function keyFor(ctx: Context, kid: string): Promise<KeyObject | undefined> {
    const known = keys.get(kid);
    if (known) return known;
    if (!inFlight && Date.now() - fetchedAt >= UNKNOWN_KID_COOLDOWN_MS) {
      const first = keys.size === 0;
      inFlight = refresh(ctx).finally(() => {
        inFlight = undefined;
      });
      try {
        await inFlight;
      } catch (err) {
        // Without any key we cannot judge a token: a 503, not a refusal. Otherwise the kid stays unknown.
        if (first) {
          fetchedAt = -Infinity;
          throw err;
        }
        deps.log.warn({ err: (err as Error).message }, 'refetching the JWKS for an unknown kid failed');
      }
    } else if (inFlight) {
      await inFlight.catch(() => undefined);
    }
    return keys.get(kid);
  }

  const verify = (ctx: Context, vt: string) => verifyVisitToken(vt, { issuer: deps.issuer, keyFor: (kid) => keyFor(ctx, kid) });

  return {
    verify,
    async check(ctx, vt) {
      let claims: VisitTokenClaims;
      try {
        claims = await verify(ctx, vt);
      } catch (err) {
        if (err instanceof JwsError) return undefined;
        throw err;
      }
      const record = await findVisitToken(deps.store, claims.jti);
      if (!record || record.appId !== claims.app || record.userId !== claims.sub) return undefined;
      return { claims, record };
    },
  };
}
