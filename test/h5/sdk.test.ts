/**
 * The H5 SDK (h5/client/sdk.ts) in headless Chromium: docs/h5-products.md's page, verbatim but for
 * its two URLs, served from a product team's origin, opens a product on WebCrypto (node-forge never
 * loaded) and on a plain-http origin through node-forge; a lost exchange answer is retried with the
 * same envelope; a revoked VT ends the session clearly; the ES module exports the same API.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import nodeHttp from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { MemoryStore } from '../../platform/store/index.ts';
import type { RunningSystem } from '../../system/start.ts';
import { requireChromium } from '../support/env.ts';
import { demoClient } from '../support/clients.ts';
import { startTestSystem } from '../support/system.ts';
import { freePort } from '../../scripts/free-port.ts';
import { h5SdkSizes } from '../../h5/sdk-size.ts';
import { CHROMIUM_ARGS } from './browser.test.ts';

const DOC = readFileSync(new URL('../../docs/h5-products.md', import.meta.url), 'utf8');
const PAGE = [...DOC.matchAll(/^```html\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

describe('H5 SDK in Chromium (docs/h5-products.md)', function () {
  this.timeout(90_000);
  let browser: Browser;
  let system: RunningSystem;
  let pages: nodeHttp.Server;
  let port: number;
  const store = new MemoryStore();

  before(async function () {
    const executablePath = requireChromium(this);
    expect(PAGE, 'one html block in the doc').to.have.length(1);
    port = await freePort();
    // The product team's page server: the doc's page with the real gateway and h5 addresses.
    pages = nodeHttp.createServer((req, res) => {
      if (!req.url?.startsWith('/page')) return void res.writeHead(404).end();
      const html = PAGE[0]!.replaceAll('https://gateway.example', system.urls.gateway).replaceAll('https://h5.example', system.urls.h5);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
    });
    await new Promise<void>((resolve) => pages.listen(port, '127.0.0.1', resolve));
    system = await startTestSystem({ store, env: { CORS_ORIGINS: `http://127.0.0.1:${port},http://h5.test:${port}` } });
    browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], headless: true });
  });
  after(async function () {
    await browser?.close();
    await system?.close(0);
    await new Promise((resolve) => pages?.close(resolve));
    await store.close();
  });

  it('the page of the doc is under 50 lines', function () {
    expect(PAGE[0]!.trimEnd().split('\n').length).to.be.below(50);
  });

  for (const c of [
    { name: 'WebCrypto, node-forge never loaded', host: '127.0.0.1', envelope: 'webcrypto', forge: false },
    { name: 'a plain-http origin: node-forge loaded next to the SDK', host: 'h5.test', envelope: 'forge', forge: true },
  ] as const) {
    it(`opens a product: ${c.name}`, async function () {
      const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      const page = await browser.newPage();
      const errors: string[] = [];
      const loaded: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => loaded.push(new URL(r.url()).pathname));
      await page.goto(`http://${c.host}:${port}/page#at=${token.at}`);
      await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      expect(await page.textContent('h1')).to.equal('Lisbon City Pass');
      expect(await page.title()).to.equal('Lisbon City Pass');
      expect(await page.getAttribute('body', 'data-envelope')).to.equal(c.envelope);
      expect(await page.evaluate(() => location.hash)).to.equal('');
      expect(loaded.includes('/h5/assets/envelope-forge.js')).to.equal(c.forge);
      expect(errors).to.deep.equal([]);
      await page.close();
    });
  }

  it('a used link shows the final message; a lost exchange answer is retried with the same envelope', async function () {
    const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
    const page = await browser.newPage();
    const sent: string[] = [];
    await page.route('**/v1/visit-tokens', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      sent.push(route.request().postData() ?? '');
      if (sent.length > 1) return route.continue();
      await route.fetch(); // the gateway spends the AT; the answer is lost
      await route.abort('connectionreset');
    });
    await page.goto(`http://127.0.0.1:${port}/page#at=${token.at}`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
    expect(sent).to.have.length(2);
    expect(sent[1]).to.equal(sent[0]);
    await page.close();
    const again = await browser.newPage();
    await again.goto(`http://127.0.0.1:${port}/page#at=${token.at}`);
    await again.waitForSelector('body[data-state="at_invalid"]', { timeout: 30_000 });
    expect(await again.textContent('#status')).to.match(/expired/);
    const none = await browser.newPage();
    await none.goto(`http://127.0.0.1:${port}/page`);
    await none.waitForSelector('body[data-state="at_missing"]', { timeout: 30_000 });
    await again.close();
    await none.close();
  });

  it('a revoked VT ends the session: onEnd runs once, product() rejects with session_ended (the ES module)', async function () {
    const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'bob', productId: 'city-pass' });
    const page = await browser.newPage();
    // Only to revoke it from the test: the VT the page sends with its product call.
    const vts: string[] = [];
    page.on('request', (r) => {
      const auth = r.headers().authorization;
      if (auth?.startsWith('Bearer ')) vts.push(auth.slice(7));
    });
    await page.goto(`http://127.0.0.1:${port}/page`); // an origin the gateway allows; no AT in the URL
    const moduleUrl = `${system.urls.h5}/h5/assets/h5-sdk.mjs`;
    const first = await page.evaluate(async ({ moduleUrl, gateway, at }) => {
      const sdk = await import(moduleUrl);
      const session = await sdk.startSession({ gateway, at });
      const ends: string[] = [];
      session.onEnd((code: string) => ends.push(code));
      const product = await session.product();
      (window as unknown as { __session: unknown; __ends: string[] }).__session = session;
      (window as unknown as { __ends: string[] }).__ends = ends;
      return { name: product.name, userId: session.userId, viewer: product.viewer.userId, ended: session.ended };
    }, { moduleUrl, gateway: system.urls.gateway, at: token.at });
    expect(first).to.deep.equal({ name: 'Lisbon City Pass', userId: 'bob', viewer: 'bob', ended: false });
    // The app revokes the VT (RFC 7009) from its server; the page's next call ends the session.
    expect(vts).to.have.length(1);
    await demoClient(system.urls.gateway).revoke(vts[0]!);
    const after = await page.evaluate(async () => {
      const w = window as unknown as { __session: { product(): Promise<unknown>; ended: boolean }; __ends: string[] };
      const codes: string[] = [];
      for (let i = 0; i < 2; i++) {
        try {
          await w.__session.product();
        } catch (e) {
          codes.push((e as { code: string; final: boolean }).code + (((e as { final: boolean }).final) ? ':final' : ''));
        }
      }
      return { codes, ended: w.__session.ended, ends: w.__ends };
    });
    expect(after).to.deep.equal({ codes: ['vt_invalid:final', 'session_ended:final'], ended: true, ends: ['vt_invalid'] });
    await page.close();
  });

  it('reports its sizes: the SDK a few KiB gzipped, node-forge apart', async function () {
    const sizes = await h5SdkSizes();
    expect(sizes['h5-sdk.js']!.gzip).to.be.below(8 * 1024);
    expect(sizes['h5-sdk.mjs']!.gzip).to.be.below(8 * 1024);
    expect(sizes['envelope-forge.js']!.gzip).to.be.above(sizes['h5-sdk.js']!.gzip);
  });
});
