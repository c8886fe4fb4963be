/**
 * The stock `altcha` widget (3.x, an independent browser solver) in headless Chromium solves a
 * challenge the gateway issues (ALTCHA's v1 format, which the widget still takes), and the payload
 * it makes passes the gate.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser } from 'playwright-core';
import { MemoryStore } from '../../platform/store/index.ts';
import type { RunningSystem } from '../../system/start.ts';
import { CHROMIUM_ARGS, requireChromium } from '../support/env.ts';
import { http } from '../support/clients.ts';
import { startTestSystem } from '../support/system.ts';

const require = createRequire(import.meta.url);

describe('the stock altcha widget in Chromium solves the gate\'s challenges', function () {
  this.timeout(60_000);
  let browser: Browser;
  let system: RunningSystem;
  const store = new MemoryStore();

  before(async function () {
    const executablePath = requireChromium(this);
    system = await startTestSystem({ store, env: { CHALLENGE_ROUTES: 'exchange', CHALLENGE_HASH_RATE: '5000' } });
    browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], headless: true });
  });
  after(async function () {
    await browser?.close();
    await system?.close(0);
    await store.close();
  });

  it('the widget verifies with our challenge JSON, and its payload passes the gate once', async function () {
    const post = (headers: Record<string, string> = {}) => http.post(`${system.urls.gateway}/v1/visit-tokens`, { envelope: 'x' }, { headers: { 'content-type': 'application/json', ...headers } });
    const refused = await post();
    expect(refused.status).to.equal(401);
    const challenge = JSON.stringify(refused.data.altcha);
    const widgetJs = readFileSync(require.resolve('altcha'));
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(e.message));
    const escaped = challenge.replace(/&/g, '&amp;').replace(/'/g, '&#39;');
    await page.route('http://localhost:9/**', (route) => {
      const url = route.request().url();
      if (url.endsWith('/altcha.js')) return route.fulfill({ contentType: 'text/javascript', body: widgetJs });
      return route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><html><body><form><altcha-widget challenge='${escaped}' auto="onload"></altcha-widget></form>
<script>window.__payload = null; document.addEventListener('verified', (e) => { window.__payload = e.detail && e.detail.payload; }, true);
document.querySelector('altcha-widget').addEventListener('verified', (e) => { window.__payload = e.detail && e.detail.payload; });</script>
<script type="module" src="/altcha.js"></script></body></html>`,
      });
    });
    await page.goto('http://localhost:9/');
    await page.waitForFunction('window.__payload', undefined, { timeout: 30_000 }).catch((e) => { throw new Error(`${e.message}: ${logs.join(' / ')}`); });
    const payload = (await page.evaluate('window.__payload')) as string;
    await page.close();
    const decoded = JSON.parse(Buffer.from(payload, 'base64').toString());
    expect(decoded).to.include({ algorithm: 'SHA-256', challenge: refused.data.altcha.challenge, salt: refused.data.altcha.salt });
    const passed = await post({ 'broker-pow': payload });
    expect(passed.status, JSON.stringify(passed.data)).to.equal(400);
    expect(passed.data.code).to.equal('envelope_invalid');
    expect((await post({ 'broker-pow': payload })).status).to.equal(401);
  });
});
