/**
 * The gateway's check of a VT: the signature with a public key of the signing key set, which the
 * gateway reads from the store itself (the public entry only: it never holds a private key),
 * re-reads every few seconds and on an unknown `kid` (at most once a second), then the claims,
 * and then the liveness record `vt:<jti>` in the store, so a revoked VT fails at once.
 */
import type { Context } from 'koa';
import { JwsError } from '../../platform/crypto/jws.ts';
import type { SigningKeyRing } from '../keys/signing-keys.ts';
import { findVisitToken, verifyVisitToken, type VisitTokenClaims, type VisitTokenRecord } from './records.ts';
import { nowSeconds } from '../../platform/time.ts';
import type { TokenStore } from '../../platform/store/index.ts';
import { MAX_JWS_LENGTH } from '../../platform/crypto/jws.ts';
import { checkDpopProof, dpopInvalid } from './dpop.ts';

/**
 * `Authorization: Bearer <VT>` (a VT bound to nothing) or `DPoP <VT>` (a VT bound to a key, RFC
 * 9449 section 7.1). The scheme is matched case-insensitively (RFC 9110 section 11.1).
 */
const AUTHORIZATION_RE = /^(Bearer|DPoP) ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;

/** The scheme and VT of an Authorization header, or undefined when it is missing, malformed or too long. */
export function authorizationVt(header: string): { scheme: 'Bearer' | 'DPoP'; vt: string } | undefined {
  const m = header.length <= MAX_JWS_LENGTH + 7 ? AUTHORIZATION_RE.exec(header) : null;
  return m ? { scheme: m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', vt: m[2]! } : undefined;
}

/** A VT as a request presented it, verified, live, and with its proof of possession where it is bound. */
export interface PresentedVisitToken {
  vt: string;
  claims: VisitTokenClaims;
  record: VisitTokenRecord;
}

export interface VisitTokenChecker {
  /** Claims of a VT whose signature, typ, alg, iss and exp hold, or JwsError. */
  verify(ctx: Context, vt: string): Promise<VisitTokenClaims>;
  /** The live record of a VT whose claims were verified, when it is live (not revoked) and theirs; else undefined. */
  live(claims: VisitTokenClaims): Promise<VisitTokenRecord | undefined>;
  /** Claims and live record of a VT that verifies and is also live (not revoked), or undefined. */
  check(ctx: Context, vt: string): Promise<{ claims: VisitTokenClaims; record: VisitTokenRecord } | undefined>;
  /**
   * The VT of this request's Authorization header, checked as a browser route must: signature and
   * claims, then the binding (a VT bound to a key, `cnf.jkt`, only as `DPoP <VT>` with a DPoP proof
   * of that key for this method and URL, spent here; a VT bound to nothing only as `Bearer <VT>`),
   * then liveness. Undefined for a missing, malformed, refused or dead VT, or an unbound one sent
   * as DPoP (the caller answers vt_invalid); throws `dpop_invalid` for a bound VT without its proof.
   */
  presented(ctx: Context): Promise<PresentedVisitToken | undefined>;
  /**
   * The binding of a VT whose claims verified, for this request: a VT bound to a key (`cnf.jkt`)
   * only under `DPoP` with a DPoP proof of that key for this method and URL, spent here (else
   * throws `dpop_invalid`); a VT bound to nothing only under `Bearer` (else false: the caller
   * answers vt_invalid). True when it holds.
   */
  proves(ctx: Context, sent: { scheme: 'Bearer' | 'DPoP'; vt: string }, claims: VisitTokenClaims): Promise<boolean>;
}

/** How many verified VTs the gateway remembers (a few MB at most). */
export const VERIFIED_CACHE_SIZE = 10_000;

/** Builds the gateway's VT checker over the signing key set and the store. */
export function createVisitTokenChecker(deps: { signingKeys: SigningKeyRing; store: TokenStore; issuer: string }): VisitTokenChecker {
  // An ES256 check costs about 57 µs, and a page makes several product calls with one VT. The same
  // bytes verify the same way, so a VT whose signature and claims held is remembered by its exact
  // string until its `exp`, as long as its key is still published. Liveness (revocation) is
  // still read from the store on every call. Oldest entries go first when the cache is full.
  const verified = new Map<string, { claims: VisitTokenClaims; kid: string }>();

  async function verify(_ctx: Context, vt: string): Promise<VisitTokenClaims> {
    const hit = verified.get(vt);
    if (hit) {
      if (hit.claims.exp > nowSeconds() && (await deps.signingKeys.keyFor(hit.kid))) return hit.claims;
      verified.delete(vt);
    }
    let usedKid = '';
    const claims = await verifyVisitToken(vt, {
      issuer: deps.issuer,
      keyFor: (kid) => {
        usedKid = kid;
        return deps.signingKeys.keyFor(kid);
      },
    });
    if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
    verified.set(vt, { claims, kid: usedKid });
    return claims;
  }

  async function live(claims: VisitTokenClaims): Promise<VisitTokenRecord | undefined> {
    const record = await findVisitToken(deps.store, claims.jti);
    // The record names the key the VT was bound to at issue, if any: the claims must say the same.
    return record && record.appId === claims.app && record.userId === claims.sub && record.jkt === claims.cnf?.jkt ? record : undefined;
  }

  async function proves(ctx: Context, sent: { scheme: 'Bearer' | 'DPoP'; vt: string }, claims: VisitTokenClaims): Promise<boolean> {
    if (!claims.cnf) return sent.scheme === 'Bearer';
    if (sent.scheme !== 'DPoP') throw dpopInvalid('bearer scheme');
    await checkDpopProof({
      proof: ctx.get('dpop') || undefined, jkt: claims.cnf.jkt, method: ctx.method, url: `${deps.issuer.replace(/\/+$/, '')}${ctx.path}`, vt: sent.vt, store: deps.store,
    });
    return true;
  }

  return {
    verify,
    live,
    proves,
    async presented(ctx) {
      const sent = authorizationVt(ctx.get('authorization'));
      if (!sent) return undefined;
      let claims: VisitTokenClaims;
      try {
        claims = await verify(ctx, sent.vt);
      } catch (err) {
        if (err instanceof JwsError) return undefined;
        throw err;
      }
      if (!(await proves(ctx, sent, claims))) return undefined;
      const record = await live(claims);
      return record && { vt: sent.vt, claims, record };
    },
    async check(ctx, vt) {
      let claims: VisitTokenClaims;
      try {
        claims = await verify(ctx, vt);
      } catch (err) {
        if (err instanceof JwsError) return undefined;
        throw err;
      }
      const record = await live(claims);
      return record && { claims, record };
    },
  };
}
