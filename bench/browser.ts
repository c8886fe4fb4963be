/**
 * In Chromium: time from navigation to the product rendered, WebCrypto and node-forge paths; and
 * the same at a phone profile (CPU 4x slower, 400 ms RTT, 400 kbit/s each way, 390x844) beside a
 * static page with the same visible content under the same profile, in one run.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
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
  /** At the phone profile; absent when not measured. */
  phone?: PhoneResult;
}

/** Time to the product rendered at the phone profile, the flow's two paths and a static page. */
export interface PhoneResult {
  runs: number;
  profile: string;
  webcryptoMedianMs: number;
  forgeMedianMs: number;
  staticMedianMs: number;
  webcryptoSamples: number[];
  forgeSamples: number[];
  staticSamples: number[];
}

/** The phone profile (issue 14): CPU 4x slower, 400 ms round trip, 400 kbit/s down and up. */
export const PHONE_PROFILE = { cpuSlowdown: 4, latencyMs: 400, bytesPerSecond: 400_000 / 8, viewport: { width: 390, height: 844 } } as const;

async function throttle(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: PHONE_PROFILE.cpuSlowdown });
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: PHONE_PROFILE.latencyMs, downloadThroughput: PHONE_PROFILE.bytesPerSecond, uploadThroughput: PHONE_PROFILE.bytesPerSecond,
  });
}

/**
 * A static page with the same visible content as the rendered product page: the rendered DOM with
 * its scripts and the JWKS preload removed, served by a plain HTTP server that passes the H5
 * assets (stylesheet, imagery) through from the H5 server as they are (compressed alike), so the
 * static page loads what the product page shows from one origin, as the product page does.
 */
async function startStaticPage(html: string, h5Port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/static') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html);
      return;
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: h5Port, path: req.url, method: 'GET', headers: { 'accept-encoding': req.headers['accept-encoding'] ?? '' } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    upstream.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/static` };
}

/** The rendered product page as static HTML: no script, no preload of the JWKS, no gateway preconnect. */
function staticHtml(rendered: string): string {
  return `<!doctype html>\n${rendered
    .replace(/<script\b[^>]*>[\s\S]*?<\/script>/g, '')
    .replace(/<link rel="(?:preload|preconnect)"[^>]*>/g, '')
    .replace(/ data-(?:gateway|forge-src|webcrypto-src|session-src)="[^"]*"/g, '')}`;
}

/**
 * The phone profile: each path `runs` times (after one warm-up), each in a fresh context (a cold
 * cache, as a WebView opening the page for the first time). The flow's time is when the rendered
 * product's name was painted (its Element Timing entry, on the page's clock, once
 * `data-state="ready"`); the static page's, its first contentful paint (all of its content is in
 * its first paint). Both are paint times: reading the clock when a poll sees `ready` would add the
 * poll's own lag on a throttled CPU (up to 400 ms measured), which no user sees.
 */
async function measurePhone(browser: Browser, pageUrl: (host: string) => Promise<string>, h5Port: number, runs: number): Promise<PhoneResult> {
  const samples: Record<'webcrypto' | 'forge' | 'static', number[]> = { webcrypto: [], forge: [], static: [] };
  let rendered = '';
  for (const path of ['webcrypto', 'forge'] as const) {
    for (let i = 0; i < runs + 1; i++) {
      const url = await pageUrl(path === 'forge' ? 'h5.test' : '127.0.0.1');
      const context = await browser.newContext({ viewport: PHONE_PROFILE.viewport });
      const page = await context.newPage();
      await throttle(page);
      await page.goto(url);
      await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { polling: 5, timeout: 120_000 });
      const state = await page.evaluate(() => ({ state: document.body.dataset.state, env: document.body.dataset.envelope }));
      if (state.state !== 'ready' || state.env !== path) throw new Error(`phone profile: the ${path} page ended in ${state.state} on ${state.env}`);
      if (i > 0) samples[path].push(Math.round(await productPaintTime(page)));
      if (!rendered && path === 'webcrypto') rendered = await page.evaluate(() => document.documentElement.outerHTML);
      await context.close();
    }
  }
  const stat = await startStaticPage(staticHtml(rendered), h5Port);
  try {
    for (let i = 0; i < runs + 1; i++) {
      const context = await browser.newContext({ viewport: PHONE_PROFILE.viewport });
      const page = await context.newPage();
      await throttle(page);
      await page.goto(stat.url, { waitUntil: 'load', timeout: 120_000 });
      const fcp = await page.evaluate(() => new Promise<number>((resolve) => {
        const seen = performance.getEntriesByName('first-contentful-paint')[0];
        if (seen) return resolve(seen.startTime);
        new PerformanceObserver((list) => resolve(list.getEntriesByName('first-contentful-paint')[0]!.startTime)).observe({ type: 'paint', buffered: true });
      }));
      if (!(await page.$('h1.product-name'))) throw new Error('phone profile: the static page has no product');
      if (i > 0) samples.static.push(Math.round(fcp));
      await context.close();
    }
  } finally {
    stat.server.close();
  }
  return {
    runs,
    profile: `CPU ${PHONE_PROFILE.cpuSlowdown}x slower, ${PHONE_PROFILE.latencyMs} ms RTT, ${(PHONE_PROFILE.bytesPerSecond * 8) / 1000} kbit/s, ${PHONE_PROFILE.viewport.width}x${PHONE_PROFILE.viewport.height}`,
    webcryptoMedianMs: median(samples.webcrypto),
    forgeMedianMs: median(samples.forge),
    staticMedianMs: median(samples.static),
    webcryptoSamples: samples.webcrypto,
    forgeSamples: samples.forge,
    staticSamples: samples.static,
  };
}

/**
 * When the rendered product was painted, on the page's clock: the Element Timing entry of the
 * product's name (`elementtiming="h5-product"`, set by the page when it renders the product), so
 * that the flow is measured at its paint as the static page is at its first contentful paint.
 * Read after `data-state="ready"`; the entry is buffered.
 */
function productPaintTime(page: Page): Promise<number> {
  return page.evaluate(() => new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no element timing for the product')), 10_000);
    new PerformanceObserver((list) => {
      const entry = list.getEntries().find((e) => (e as PerformanceEntry & { identifier?: string }).identifier === 'h5-product') as (PerformanceEntry & { renderTime: number; loadTime: number }) | undefined;
      if (!entry) return;
      clearTimeout(timer);
      resolve(entry.renderTime || entry.loadTime);
    }).observe({ type: 'element', buffered: true });
  }));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function measureBrowser(opts: {
  store: TokenStore; ports: { gateway: number; auth: number; h5: number; products: number }; runs: number; chromiumPath: string;
  /** Runs at the phone profile (default `runs`); 0 skips it. */
  phoneRuns?: number;
  /** Only the phone profile (to check it alone): the cold-cache medians are then NaN. */
  phoneOnly?: boolean;
}): Promise<BrowserResult> {
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
  let phone: PhoneResult | undefined;
  try {
    // Interleaved, one navigation of each path in turn: a change in the machine's load hits both.
    for (let i = 0; i < (opts.phoneOnly ? 0 : opts.runs + 1); i++) {
      for (const path of ['webcrypto', 'forge'] as const) {
        const host = path === 'forge' ? 'h5.test' : '127.0.0.1';
        const { at } = await client.requestAccessToken({ userId: 'alice', productId: 'city-pass' });
        // A fresh context each time: a cold cache, as a WebView opening the page for the first time.
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`http://${host}:${p.h5}/h5/products/city-pass#at=${at}`);
        await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { polling: 5, timeout: 30_000 });
        const state = { ...(await page.evaluate(() => ({ state: document.body.dataset.state, env: document.body.dataset.envelope, alg: document.body.dataset.envelopeAlg }))), ms: await productPaintTime(page) };
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
    const phoneRuns = opts.phoneRuns ?? opts.runs;
    if (phoneRuns > 0) {
      phone = await measurePhone(browser, async (host) => {
        const { at } = await client.requestAccessToken({ userId: 'alice', productId: 'city-pass' });
        return `http://${host}:${p.h5}/h5/products/city-pass#at=${at}`;
      }, p.h5, phoneRuns);
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
    ...(phone && { phone }),
  };
}
