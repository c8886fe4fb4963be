/** Sealing the AT to the best encryption key a browser can use (apart, so that app.js can have it without the WebCrypto envelope code). */
import { PAGE_CODES, PageError } from './errors.ts';
import type { EncryptionJwk, EnvelopeImpl, PageKeyJwk, SealedEnvelope } from './jwe-compact.ts';

/**
 * Seals to the first of `keys` (ordered by preference; an X25519 key goes before a P-256 one)
 * that this browser can use. A WebCrypto without X25519 fails to seal to that key, before
 * anything is sent, and falls back to P-256; one without P-256 ECDH or AES-KW falls back to the
 * next key (RSA-OAEP-256), so such a browser still opens the page.
 */
export async function sealToPreferredKey(impl: EnvelopeImpl, keys: readonly EncryptionJwk[], at: string, iat: number, pageKey?: PageKeyJwk): Promise<SealedEnvelope> {
  let failure: unknown = new PageError(PAGE_CODES.badResponse);
  // X25519 first (same alg as P-256, cheaper to open); the rest in the order given.
  const ordered = [...keys.filter((k) => k.kty === 'OKP'), ...keys.filter((k) => k.kty !== 'OKP')];
  for (const jwk of ordered) {
    try {
      return await impl.seal(jwk, at, iat, pageKey);
    } catch (e) {
      failure = e;
    }
  }
  throw failure;
}
