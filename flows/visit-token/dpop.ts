/**
 * The VT bound to the H5 page's key (RFC 9449, DPoP): the page's public key, sent inside the
 * envelope, becomes the VT's `cnf.jkt` (its RFC 7638 thumbprint); a product call with a bound VT
 * carries a DPoP proof, checked by platform/crypto/dpop.ts (jose) and then spent here: its `jti`
 * is written with `setIfAbsent` under the key's thumbprint, kept past every `iat` the window
 * accepts, so a proof is never accepted twice, on any gateway sharing the store.
 */
import { Problem } from '../../platform/http/problem.ts';
import type { TokenStore } from '../../platform/store/index.ts';
import { DpopError, p256Thumbprint, proofMemorySeconds, verifyDpopProof } from '../../platform/crypto/dpop.ts';

/** The thumbprint of the page's key from the envelope (`jwk`), or undefined when it is not exactly a P-256 public key. */
export const pageKeyThumbprint = p256Thumbprint;

/** The store key remembering a spent proof's `jti`, under the key it was signed with. */
export const dpopProofKey = (jkt: string, jti: string) => `dpop:${jkt}:${jti}`;

/** 401 `dpop_invalid` (with the DPoP challenge of RFC 9449 section 7.1); `reason` goes to the log only. */
export const dpopInvalid = (reason?: string) =>
  new Problem('dpop_invalid', 'Send "Authorization: DPoP <VT>" with a DPoP proof signed by the key this visit token is bound to, for this request, used once.', reason ? { cause: new DpopError(reason) } : {});

/** Verifies a DPoP proof for a VT bound to `jkt` and spends it; throws Problem `dpop_invalid`. */
export async function checkDpopProof(c: { proof: string | undefined; jkt: string; method: string; url: string; vt: string; store: TokenStore; now?: number }): Promise<void> {
  let jti: string;
  try {
    ({ jti } = await verifyDpopProof(c.proof, { jkt: c.jkt, method: c.method, url: c.url, accessToken: c.vt, now: c.now }));
  } catch (err) {
    if (err instanceof DpopError) throw dpopInvalid(err.reason);
    throw err;
  }
  // Last, once everything else held: a proof refused for another reason is not spent.
  if (!(await c.store.setIfAbsent(dpopProofKey(c.jkt, jti), '1', proofMemorySeconds()))) throw dpopInvalid('replayed');
}
