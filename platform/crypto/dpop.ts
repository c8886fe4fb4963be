/**
 * DPoP (RFC 9449) with `jose`, a well-kept library: the thumbprint of a P-256 public key
 * (RFC 7638) and the check of a proof (`typ: dpop+jwt`, ES256, the embedded JWK) against the key a
 * token is bound to, the request's method and URL, the clock, and the token's hash. Spending the
 * proof (its `jti` seen once) is the caller's: the gateway does it in the store, the SDK's
 * verifier in memory or the caller's own store.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, errors, jwtVerify, type JWK } from 'jose';
import { DPOP_ALG, DPOP_IAT_WINDOW_SECONDS, DPOP_TYP, JKT_RE } from '../../protocol/visit-token.ts';

const COORDINATE_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The RFC 7638 SHA-256 thumbprint of a P-256 public key, or undefined when `jwk` is not exactly
 * one (`kty`, `crv`, `x`, `y` and nothing else; a point on the curve).
 */
export async function p256Thumbprint(jwk: unknown): Promise<string | undefined> {
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) return undefined;
  const k = jwk as Record<string, unknown>;
  if (Object.keys(k).sort().join(',') !== 'crv,kty,x,y' || k.kty !== 'EC' || k.crv !== 'P-256') return undefined;
  if (typeof k.x !== 'string' || typeof k.y !== 'string' || !COORDINATE_RE.test(k.x) || !COORDINATE_RE.test(k.y)) return undefined;
  try {
    // Node refuses a point that is not on the curve.
    createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: k.x, y: k.y }, format: 'jwk' });
  } catch {
    return undefined;
  }
  return calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: k.x, y: k.y }, 'sha256');
}

/** Longest DPoP proof accepted (a real one is about 500 characters). */
export const MAX_DPOP_PROOF_LENGTH = 2048;
/** A proof's `jti`: 16 to 64 base64url characters (the H5 page sends 22: 128 random bits). */
const PROOF_JTI_RE = /^[A-Za-z0-9_-]{16,64}$/;

/** `ath`: base64url SHA-256 of the access token (RFC 9449 section 4.2). */
export const accessTokenHash = (token: string) => createHash('sha256').update(token, 'ascii').digest('base64url');

/** The request URI without query and fragment, normalized by URL parsing (RFC 9449 section 4.3). */
function normalizedHtu(url: string): string | undefined {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return undefined;
  }
}

/** A DPoP proof that does not hold; `reason` is for logs only. */
export class DpopError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`DPoP proof refused: ${reason}`);
    this.name = 'DpopError';
    this.reason = reason;
  }
}

export interface DpopExpectation {
  /** The thumbprint the token is bound to (`cnf.jkt`). */
  jkt: string;
  /** The request's method, and its URL as the client addressed it. */
  method: string;
  url: string;
  /** The access token sent with the proof, for `ath`. */
  accessToken: string;
  /** Seconds since the epoch (default: now). */
  now?: number;
  /** How far `iat` may lie from `now`, either way (default DPOP_IAT_WINDOW_SECONDS). */
  windowSeconds?: number;
}

/**
 * Checks a DPoP proof: signature by its embedded JWK (ES256, `typ: dpop+jwt`), that JWK's
 * thumbprint equals `jkt`, `htm` and `htu` are the request's, `iat` is within the window, `ath` is
 * the token's hash, and `jti` is well-formed. Returns the `jti` to spend; throws DpopError.
 */
export async function verifyDpopProof(proof: string | undefined, x: DpopExpectation): Promise<{ jti: string }> {
  if (!proof || proof.length > MAX_DPOP_PROOF_LENGTH) throw new DpopError('missing');
  if (!JKT_RE.test(x.jkt)) throw new DpopError('jkt');
  let payload: Record<string, unknown>;
  let jwk: JWK | undefined;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, { typ: DPOP_TYP, algorithms: [DPOP_ALG], requiredClaims: ['jti', 'htm', 'htu', 'iat', 'ath'] });
    payload = verified.payload as Record<string, unknown>;
    jwk = (verified.protectedHeader as { jwk?: JWK }).jwk;
  } catch (err) {
    if (err instanceof errors.JOSEError) throw new DpopError(err.code);
    if (err instanceof TypeError || err instanceof SyntaxError) throw new DpopError('malformed');
    throw err;
  }
  if (!jwk || (await calculateJwkThumbprint(jwk, 'sha256')) !== x.jkt) throw new DpopError('key');
  if (payload.htm !== x.method) throw new DpopError('htm');
  const htu = typeof payload.htu === 'string' ? normalizedHtu(payload.htu) : undefined;
  if (!htu || htu !== normalizedHtu(x.url)) throw new DpopError('htu');
  const now = x.now ?? Math.floor(Date.now() / 1000);
  if (typeof payload.iat !== 'number' || Math.abs(payload.iat - now) > (x.windowSeconds ?? DPOP_IAT_WINDOW_SECONDS)) throw new DpopError('iat');
  if (payload.ath !== accessTokenHash(x.accessToken)) throw new DpopError('ath');
  if (typeof payload.jti !== 'string' || !PROOF_JTI_RE.test(payload.jti)) throw new DpopError('jti');
  return { jti: payload.jti };
}

/** How long a spent proof's `jti` must be remembered: past every `iat` the window accepts. */
export const proofMemorySeconds = (windowSeconds = DPOP_IAT_WINDOW_SECONDS) => 2 * windowSeconds + 1;
