/**
 * Picks the envelope implementation: WebCrypto where `crypto.subtle` exists (secure origins),
 * otherwise the node-forge bundle, loaded on demand as a same-origin script (CSP script-src 'self').
 */
import { webCryptoEnvelope } from './envelope-webcrypto.ts';
import { PAGE_CODES, PageError } from './errors.ts';
import type { EncryptionJwk, EnvelopeImpl, SealedEnvelope } from './jwe-compact.ts';

const LOAD_TIMEOUT_MS = 20_000;
let forgeLoading: Promise<EnvelopeImpl> | undefined;

function loadForge(src: string): Promise<EnvelopeImpl> {
  return new Promise((resolve, reject) => {
    if (window.__h5EnvelopeForge) return resolve(window.__h5EnvelopeForge);
    const script = document.createElement('script');
    const fail = () => {
      clearTimeout(timer);
      script.remove();
      reject(new PageError(PAGE_CODES.network));
    };
    const timer = setTimeout(fail, LOAD_TIMEOUT_MS);
    script.addEventListener('load', () => {
      clearTimeout(timer);
      if (window.__h5EnvelopeForge) resolve(window.__h5EnvelopeForge);
      else fail();
    });
    script.addEventListener('error', fail);
    script.src = src;
    script.async = true;
    document.head.appendChild(script);
  });
}

/** The implementation to use here; a failed forge load may be tried again. */
export function loadEnvelope(forgeSrc: string): Promise<EnvelopeImpl> {
  if (window.crypto && window.crypto.subtle) return Promise.resolve(webCryptoEnvelope);
  if (!forgeLoading) {
    forgeLoading = loadForge(forgeSrc);
    forgeLoading.catch(() => {
      forgeLoading = undefined;
    });
  }
  return forgeLoading;
}

/**
 * Seals to the first of `keys` (ordered by preference; an X25519 key goes before a P-256 one)
 * that this browser can use. A WebCrypto without X25519 fails to seal to that key, before
 * anything is sent, and falls back to P-256; one without P-256 ECDH or AES-KW falls back to the
 * next key (RSA-OAEP-256), so such a browser still opens the page.
 */
export async function sealToPreferredKey(impl: EnvelopeImpl, keys: readonly EncryptionJwk[], at: string, iat: number): Promise<SealedEnvelope> {
  let failure: unknown = new PageError(PAGE_CODES.badResponse);
  // X25519 first (same alg as P-256, cheaper to open); the rest in the order given.
  const ordered = [...keys.filter((k) => k.kty === 'OKP'), ...keys.filter((k) => k.kty !== 'OKP')];
  for (const jwk of ordered) {
    try {
      return await impl.seal(jwk, at, iat);
    } catch (e) {
      failure = e;
    }
  }
  throw failure;
}
