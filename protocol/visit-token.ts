/** The visit token (VT) as the wire contract defines it (docs/protocol.md). Browser-safe. */

/** The JOSE `typ` of a VT: no other token kind carries it, so none can pass as a VT. */
export const VT_TYP = 'vt+jwt';

/**
 * The claims of a VT. `aud` is the product id, or `[productId, audience]` when the AT named an
 * external server: every verifier for either accepts it, one for anything else refuses it.
 */
export interface VisitTokenClaims {
  iss: string;
  sub: string;
  app: string;
  aud: string | string[];
  iat: number;
  exp: number;
  jti: string;
  /** The third party's profile with the operator's attributes over it; omitted when both are empty. */
  profile?: Record<string, string>;
  /**
   * The key the VT is bound to (RFC 7800 `cnf`): `jkt` is the RFC 7638 SHA-256 thumbprint of the
   * H5 page's public key (RFC 9449). Present only when the page sent its key in the envelope; a VT
   * with it is used only with a DPoP proof signed by that key (docs/protocol.md section 3).
   */
  cnf?: { jkt: string };
}

/** The JOSE `typ` of a DPoP proof (RFC 9449 section 4.2). */
export const DPOP_TYP = 'dpop+jwt';

/** The one alg a DPoP proof may use here: ES256 over a P-256 key (what WebCrypto makes non-extractable). */
export const DPOP_ALG = 'ES256';

/**
 * How far a DPoP proof's `iat` may lie from the gateway's clock, in seconds, either way: a proof
 * older than this (or further ahead) is refused, and a proof's `jti` is remembered this long
 * twice over, so a proof is never accepted twice.
 */
export const DPOP_IAT_WINDOW_SECONDS = 60;

/** An RFC 7638 SHA-256 JWK thumbprint, base64url (43 characters). */
export const JKT_RE = /^[A-Za-z0-9_-]{43}$/;

