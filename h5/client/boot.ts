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
import { encryptionJwksFrom, fetchJwks } from './gateway-api.ts';
import { createPageKey } from './page-key.ts';
import type { BootExchange } from './jwe-compact.ts';

/** Gives up on the exchange after this long (app.js then sends the same envelope again). */
const TIMEOUT_MS = 15_000;

interface BootConfig {
  gateway: string;
  jwks?: unknown;
  /** The locale and currency the product's prices are written in, to warm Intl up while waiting. */
  locale?: string;
  currency?: string;
}

function readConfig(): BootConfig | null {
  try {
    const raw = JSON.parse(document.getElementById('h5-boot')?.textContent || 'null') as Partial<BootConfig> | null;
    const gateway = typeof raw?.gateway === 'string' ? raw.gateway.replace(/\/+$/, '') : '';
    return /^https?:\/\/[^/]+/.test(gateway) ? { ...raw, gateway } : null;
  } catch {
    return null;
  }
}

/** `POST /v1/visit-tokens` as app.js sends it (no cookie, no Referer); undefined when it fails or times out. */
function send(gateway: string, jwe: string): Promise<Response | undefined> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  return fetch(`${gateway}/v1/visit-tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ envelope: jwe, include: 'product' }),
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
    cache: 'no-store',
    signal: controller.signal,
  }).then((res) => res, () => undefined).finally(() => clearTimeout(timer));
}

async function prepare(config: BootConfig, at: string): Promise<BootExchange> {
  const [key, jwks] = await Promise.all([createPageKey(), config.jwks ?? fetchJwks(config.gateway)]);
  const sealed = await sealToPreferredKey(webCryptoEnvelope, encryptionJwksFrom(jwks, webCryptoEnvelope.algorithms), at, Math.floor(Date.now() / 1000), key.jwk);
  const answer = send(config.gateway, sealed.jwe);
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
