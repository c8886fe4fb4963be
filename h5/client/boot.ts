/**
 * The product page's boot script (bundled to boot.js and inlined in the page's <head>, before the
 * stylesheet, allowed by its sha256 in the CSP): it runs while the HTML is parsed, long before
 * app.js and the stylesheet have arrived, and starts the exchange at once on the WebCrypto path:
 * takes the AT from the fragment (and erases it), makes the page's non-extractable key, seals the
 * AT to the encryption key the page carries inline (`#h5-boot`, the gateway's JWKS as the page
 * server last read it; fetched when absent), and sends `POST /v1/visit-tokens` asking for the
 * product in the same answer. app.js takes it all up from `window.__h5Boot`: the AT, the key, the
 * sealed envelope (so that its retries send the same R) and the answer, which it reads as if it
 * had sent the request itself (a proof-of-work challenge included).
 *
 * Where WebCrypto or IndexedDB is missing, or anything here fails, it leaves the rest to app.js
 * (the AT then stays in the fragment, or is handed over unsent).
 */
import { takeAccessToken } from './access-token.ts';
import { webCryptoEnvelope } from './envelope-webcrypto.ts';
import { sealToPreferredKey } from './seal-preferred.ts';
import { encryptionJwksFrom, fetchJwks, sendExchange } from './gateway-api.ts';
import { readBootData } from './boot-data.ts';
import { createPageKey } from './page-key.ts';
import type { BootExchange } from './jwe-compact.ts';

interface BootConfig {
  gateway: string;
  jwks?: unknown;
  /** The locale and currency the product's prices are written in, to warm Intl up while waiting. */
  locale?: string;
  currency?: string;
}

function readConfig(): BootConfig | null {
  const raw = readBootData();
  const gateway = typeof raw?.gateway === 'string' ? raw.gateway.replace(/\/+$/, '') : '';
  return /^https?:\/\/[^/]+/.test(gateway) ? { ...raw, gateway } : null;
}

async function prepare(config: BootConfig, at: string): Promise<BootExchange> {
  const [key, jwks] = await Promise.all([createPageKey(), config.jwks ?? fetchJwks(config.gateway)]);
  const sealed = await sealToPreferredKey(webCryptoEnvelope, encryptionJwksFrom(jwks, webCryptoEnvelope.algorithms), at, Math.floor(Date.now() / 1000), key.jwk);
  // The request app.js would send; a failure or a timeout leaves no answer (app.js then sends the
  // same envelope again).
  const answer = sendExchange(config.gateway, sealed.jwe, 'product').catch(() => undefined);
  // While the answer travels: the first Intl.NumberFormat of a locale loads its data (tens of
  // milliseconds on a slow phone), which the rendering would otherwise pay.
  setTimeout(() => {
    try {
      new Intl.NumberFormat(config.locale || document.documentElement.lang || 'en', { style: 'currency', currency: config.currency || 'EUR' }).format(1);
    } catch {
      // No such locale or currency data here: the rendering falls back.
    }
  }, 0);
  return { key, sealed, answer };
}

function boot(): void {
  // app.js takes the WebCrypto envelope from here rather than carrying its own copy.
  window.__h5WebCrypto = webCryptoEnvelope;
  if (!location.hash || !window.crypto || !crypto.subtle || !window.indexedDB) return;
  const config = readConfig();
  if (!config) return;
  const at = takeAccessToken();
  const exchange = at ? prepare(config, at) : Promise.reject(new Error('no AT'));
  exchange.catch(() => undefined);
  window.__h5Boot = { at, exchange };
}

boot();
