/** In Chromium: time from navigation to the product rendered, WebCrypto and node-forge paths. */
import { chromium } from 'playwright-core';
import type { TokenStore } from '../platform/store/index.ts';
import { loadConfig } from '../system/config.ts';
import { createBrokerLogger } from '../system/logger.ts';
import { buildAssets, gzippedSize } from '../h5/bundle.ts';
import { startSystem } from '../system/start.ts';
import { BrokerClient } from '../sdk/broker-client.ts';

export interface BrowserResult {
  runs: number;
  webcryptoMedianMs: number;
  forgeMedianMs: number;
  webcryptoSamples: number[];
  forgeSamples: number[];
  envelopeAlgs: Record<string, string>;
  bundleGzipBytes: Record<string, number>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function measureBrowser(opts: { store: TokenStore; ports: { gateway: number; auth: number; h5: number; products: number }; runs: number; chromiumPath: string }): Promise<BrowserResult> {
  const p = opts.ports;
  const config = loadConfig({
    NODE_ENV: 'development', INTERNAL_TOKEN: 'bench-internal-token-0123456789abcdefghij', AUTH_KEYS_FILE: '',
    GATEWAY_PORT: String(p.gateway), AUTH_PORT: String(p.auth), H5_PORT: String(p.h5), PRODUCTS_PORT: String(p.products),
    CORS_ORIGINS: `http://h5.test:${p.h5}`,
  });
  const system = await startSystem(config, { components: ['products', 'auth', 'gateway', 'h5'], store: opts.store, log: createBrokerLogger('bench-browser', 'warn') });
  const browser = await chromium.launch({
    executablePath: opts.chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--host-resolver-rules=MAP h5.test 127.0.0.1'],
  });
  const entry = system.registry.get('demo-app')!;
  const client = new BrokerClient({ gatewayUrl: system.urls.gateway, appId: entry.appId, appSecret: entry.appSecret, encKey: entry.encKey!.toString('base64url') });
  const samples: Record<'webcrypto' | 'forge', number[]> = { webcrypto: [], forge: [] };
  const algs: Record<string, string> = {};
  try {
    // Interleaved, one navigation of each path in turn: a change in the machine's load hits both.
    for (let i = 0; i < opts.runs + 1; i++) {
      for (const path of ['webcrypto', 'forge'] as const) {
        const host = path === 'forge' ? 'h5.test' : '127.0.0.1';
        const { at } = await client.requestAccessToken({ userId: 'alice', productId: 'city-pass' });
        // A fresh context each time: a cold cache, as a WebView opening the page for the first time.
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`http://${host}:${p.h5}/h5/products/city-pass#at=${at}`);
        await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { polling: 5, timeout: 30_000 });
        const state = await page.evaluate(() => ({ state: document.body.dataset.state, ms: performance.now(), env: document.body.dataset.envelope, alg: document.body.dataset.envelopeAlg }));
        if (state.state !== 'ready') throw new Error(`the ${path} page ended in ${state.state}`);
        if (state.env !== path) throw new Error(`expected the ${path} path, the page used ${state.env}`);
        algs[path] = state.alg ?? (path === 'forge' ? 'RSA-OAEP-256' : 'unknown');
        if (path === 'webcrypto' && state.alg === 'ECDH-ES+A256KW') {
          // Which curve: the page takes X25519 where this WebCrypto has it (h5/client/envelope-loader.ts).
          const x25519 = await page.evaluate(async () => {
            try {
              await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
              return true;
            } catch {
              return false;
            }
          });
          algs[path] = `ECDH-ES+A256KW, ${x25519 ? 'X25519' : 'P-256'}`;
        }
        if (i > 0) samples[path].push(Math.round(state.ms * 10) / 10); // the first run warms the server
        await context.close();
      }
    }
  } finally {
    await browser.close();
    await system.close(0);
  }
  const assets = await buildAssets();
  return {
    runs: opts.runs,
    webcryptoMedianMs: median(samples.webcrypto),
    forgeMedianMs: median(samples.forge),
    webcryptoSamples: samples.webcrypto,
    forgeSamples: samples.forge,
    envelopeAlgs: algs,
    bundleGzipBytes: Object.fromEntries([...assets].map(([name, a]) => [name, gzippedSize(a)])),
  };
}
