/**
 * Picks the envelope implementation: WebCrypto where `crypto.subtle` exists (secure origins),
 * otherwise the node-forge bundle, loaded on demand as a same-origin script (CSP script-src 'self').
 */
import { webCryptoEnvelope } from './envelope-webcrypto.ts';
import { PAGE_CODES, PageError } from './errors.ts';
import { loadChunk } from './script-loader.ts';
import type { EncryptionJwk, EnvelopeImpl, PageKeyJwk, SealedEnvelope } from './jwe-compact.ts';

export function loadEnvelope(forgeSrc: string): Promise<EnvelopeImpl> {
  if (window.crypto && window.crypto.subtle) return Promise.resolve(webCryptoEnvelope);
  return loadChunk<EnvelopeImpl>(forgeSrc, '__h5EnvelopeForge');
}

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
