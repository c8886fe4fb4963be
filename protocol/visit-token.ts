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
}
