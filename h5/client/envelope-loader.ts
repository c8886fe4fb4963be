/**
 * Picks the envelope implementation: WebCrypto where `crypto.subtle` exists (secure origins),
 * otherwise the node-forge bundle, loaded on demand as a same-origin script (CSP script-src 'self').
 */
import { webCryptoEnvelope } from './envelope-webcrypto.ts';
import { PAGE_CODES, PageError } from './errors.ts';
import type { EncryptionJwk, EnvelopeImpl, PageKeyJwk, SealedEnvelope } from './jwe-compact.ts';

const LOAD_TIMEOUT_MS = 20_000;
let forgeLoading: Promise<EnvelopeImpl> | undefined;

/** Loads a same-origin script that sets `window[name]`, and resolves with it. */
export function loadScript<K extends '__h5EnvelopeForge' | '__h5Session'>(src: string, name: K): Promise<NonNullable<Window[K]>> {
  return new Promise((resolve, reject) => {
    if (window[name]) return resolve(window[name]!);
    const script = document.createElement('script');
    const fail = () => {
      clearTimeout(timer);
      script.remove();
      reject(new PageError(PAGE_CODES.network));
    };
    const timer = setTimeout(fail, LOAD_TIMEOUT_MS);
    script.addEventListener('load', () => {
      clearTimeout(timer);
      if (window[name]) resolve(window[name]!);
      else fail();
    });
    script.addEventListener('error', fail);
    script.src = src;
    script.async = true;
    document.head.appendChild(script);
  });
}

const loadForge = (src: string) => loadScript(src, '__h5EnvelopeForge');

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
 * Seals to the first of `keys` (ordered by preference) that this browser can use. A WebCrypto
 * without P-256 ECDH or AES-KW fails to seal, before anything is sent, and falls back to the next
 * key (RSA-OAEP-256), so such a browser still opens the page.
 */
export async function sealToPreferredKey(impl: EnvelopeImpl, keys: readonly EncryptionJwk[], at: string, iat: number, pageKey?: PageKeyJwk): Promise<SealedEnvelope> {
  let failure: unknown = new PageError(PAGE_CODES.badResponse);
  for (const jwk of keys) {
    try {
      return await impl.seal(jwk, at, iat, pageKey);
    } catch (e) {
      failure = e;
    }
  }
  throw failure;
}
