/**
 * Picks the envelope implementation: WebCrypto where `crypto.subtle` exists (secure origins),
 * otherwise the node-forge bundle, loaded on demand as a same-origin script (CSP script-src 'self').
 */
import { webCryptoEnvelope } from './envelope-webcrypto.ts';
import { loadChunk } from './script-loader.ts';
import type { EnvelopeImpl } from './jwe-compact.ts';

export function loadEnvelope(forgeSrc: string): Promise<EnvelopeImpl> {
  if (window.crypto && window.crypto.subtle) return Promise.resolve(webCryptoEnvelope);
  return loadChunk<EnvelopeImpl>(forgeSrc, '__h5EnvelopeForge');
}

export { sealToPreferredKey } from './seal-preferred.ts';
