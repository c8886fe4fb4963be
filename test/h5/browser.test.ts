/**
 * The H5 pages in real headless Chromium (Debian's), driven by playwright-core: the demo app opens
 * a product in its "WebView" frame, once on WebCrypto and once on the node-forge fallback.
 */
import { expect } from 'chai';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { MemoryStore } from '../../platform/store/index.ts';
import type { RunningSystem } from '../../system/start.ts';
import { CHROMIUM_ARGS as BASE_CHROMIUM_ARGS, requireChromium } from '../support/env.ts';
import { demoClient } from '../support/clients.ts';
import { startTestSystem } from '../support/system.ts';
import { freePort } from '../../scripts/free-port.ts';
import * as jose from 'jose';
import { randomBytes } from 'node:crypto';
import { accessTokenHash } from '../../platform/crypto/dpop.ts';
import { PROBLEMS } from '../../protocol/problems.ts';
import { http } from '../support/clients.ts';
import { sessionKept } from '../support/page-probes.ts';

export const CHROMIUM_ARGS = [
  ...BASE_CHROMIUM_ARGS,
  // A host name that is not loopback makes the H5 origin a plain-http, non-secure context, where
  // browsers hide crypto.subtle: the real condition the node-forge path exists for.
  '--host-resolver-rules=MAP h5.test 127.0.0.1',
];


async function h5Frame(page: Page): Promise<Frame> {
  const handle = await page.waitForSelector('#webview');
  for (let i = 0; i < 100; i++) {
    const frame = await handle.contentFrame();
    if (frame && frame.url().includes('/h5/products/')) return frame;
    await page.waitForTimeout(100);
  }
  throw new Error('the H5 frame did not load');
}

/** A DPoP proof from Node, by a key the page never had. */
async function foreignProof(url: string, vt: string): Promise<string> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const { x, y } = await jose.exportJWK(publicKey);
  return new jose.SignJWT({ jti: randomBytes(16).toString('base64url'), htm: 'GET', htu: url, iat: Math.floor(Date.now() / 1000), ath: accessTokenHash(vt) })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x, y } })
    .sign(privateKey);
}

const cases = [
  { name: 'WebCrypto', envelope: 'webcrypto', envelopeAlg: 'ECDH-ES+A256KW', h5Host: '127.0.0.1', keyType: 'OKP' },
  { name: 'node-forge (plain-http origin, no crypto.subtle)', envelope: 'forge', envelopeAlg: 'RSA-OAEP-256', h5Host: 'h5.test', keyType: 'RSA' },
] as const;

for (const c of cases) {
  describe(`H5 page in Chromium: ${c.name}`, function () {
    this.timeout(60_000);
    let browser: Browser;
    let system: RunningSystem;
    const store = new MemoryStore();

    before(async function () {
      const executablePath = requireChromium(this);
      const port = await freePort();
      system = await startTestSystem({ store, env: { H5_PORT: String(port), H5_PUBLIC_URL: `http://${c.h5Host}:${port}` } });
      browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], headless: true });
    });
    after(async function () {
      await browser?.close();
      await system?.close(0);
      await store.close();
    });

    it('the demo app opens a product and the page renders it', async function () {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // Which key the page sealed to, read from the envelope it sent.
      const sealedTo: string[] = [];
      page.on('request', (req) => {
        if (req.method() !== 'POST' || !req.url().endsWith('/v1/visit-tokens')) return;
        const header = JSON.parse(Buffer.from(String(req.postDataJSON()?.envelope).split('.')[0]!, 'base64url').toString());
        sealedTo.push(header.epk ? `${header.epk.kty}` : 'RSA');
      });
      await page.goto(system.urls.demo);
      await page.selectOption('#user', 'bob');
      await page.click('button[data-product-id="city-pass"]');
      const frame = await h5Frame(page);
      await frame.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      expect(await frame.textContent('h1.product-name')).to.equal('Lisbon City Pass');
      expect(await frame.getAttribute('body', 'data-envelope')).to.equal(c.envelope);
      expect(await frame.getAttribute('body', 'data-envelope-alg')).to.equal(c.envelopeAlg);
      // Chromium's WebCrypto has X25519 (since 133): the page seals to the X25519 key (RFC 8037).
      expect(sealedTo).to.deep.equal([c.keyType]);
      // The page names the user as the app shows them (profile.displayName), not by id (issue 14).
      expect(await frame.evaluate(() => document.body.textContent)).to.contain('Bob Okafor');
      // The AT was erased from the address bar as soon as the page read it.
      expect(await frame.evaluate(() => location.hash)).to.equal('');
      expect(errors).to.deep.equal([]);
      await page.close();
    });

    it('an AT that was already used shows the friendly expired-link page', async function () {
      const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'travel-insurance' });
      const url = `${system.urls.h5}/h5/products/travel-insurance#at=${token.at}`;
      const first = await browser.newPage();
      await first.goto(url);
      await first.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      const second = await browser.newPage();
      await second.goto(url);
      await second.waitForSelector('body[data-state="error"]', { timeout: 30_000 });
      expect(await second.getAttribute('body', 'data-error-code')).to.equal('at_invalid');
      expect(await second.textContent('main')).to.match(/expired or was already used/i);
      await first.close();
      await second.close();
    });

    if (c.envelope === 'webcrypto') {
      it('a reload after render shows the product again from IndexedDB, without a new AT, with a DPoP proof on each call', async function () {
        const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
        const page = await browser.newPage();
        const exchanges: string[] = [];
        const productCalls: Record<string, string>[] = [];
        page.on('request', (r) => {
          if (r.url().endsWith('/v1/visit-tokens') && r.method() === 'POST') exchanges.push(r.postData() ?? '');
          if (r.url().includes('/v1/products/') && r.method() === 'GET') productCalls.push(r.headers());
        });
        await page.goto(`${system.urls.h5}/h5/products/city-pass#at=${token.at}`);
        await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
        // The first render needs no product call: the product came with the exchange's answer.
        expect(productCalls).to.have.length(0);
        expect(JSON.parse(exchanges[0]!)).to.have.property('include', 'product');
        await page.waitForFunction(sessionKept, 'city-pass', { timeout: 10_000 });
        for (const _ of [1, 2]) {
          await page.reload();
          await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
          expect(await page.getAttribute('body', 'data-session')).to.equal('restored');
          expect(await page.textContent('h1.product-name')).to.equal('Lisbon City Pass');
        }
        expect(exchanges, 'one exchange: the reloads spent no AT').to.have.length(1);
        expect(productCalls, 'a product call with its own proof on each reload').to.have.length(2);
        for (const h of productCalls) {
          expect(h.authorization).to.match(/^DPoP [\w-]+\.[\w-]+\.[\w-]+$/);
          expect(h.dpop).to.be.a('string');
        }
        expect(productCalls[0]!.dpop).to.not.equal(productCalls[1]!.dpop);
        // What IndexedDB holds: the VT and a key the page itself cannot export.
        const kept = await page.evaluate(() => new Promise<{ vt: string; extractable: boolean; exported: string }>((resolve, reject) => {
          const open = indexedDB.open('h5-session');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const get = open.result.transaction('sessions').objectStore('sessions').get('city-pass');
            get.onsuccess = async () => {
              const key = get.result.key.privateKey as CryptoKey;
              const exported = await crypto.subtle.exportKey('jwk', key).then(() => 'exported', (e: Error) => e.name);
              resolve({ vt: get.result.vt, extractable: key.extractable, exported });
            };
          };
        }));
        expect(kept.extractable).to.equal(false);
        expect(kept.exported).to.equal('InvalidAccessError');
        expect(productCalls[1]!.authorization).to.equal(`DPoP ${kept.vt}`);
        await page.close();
      });

      it('a VT lifted from the page and replayed from Node is refused: without a proof, with a proof of another key, with the page own proof again', async function () {
        const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
        const page = await browser.newPage();
        const seen: Record<string, string>[] = [];
        page.on('request', (r) => {
          if (r.url().includes('/v1/products/') && r.method() === 'GET') seen.push(r.headers());
        });
        await page.goto(`${system.urls.h5}/h5/products/city-pass#at=${token.at}`);
        await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
        // The product came with the exchange; a reload makes the page call the product API with its VT and a proof.
        await page.waitForFunction(sessionKept, 'city-pass', { timeout: 10_000 });
        await page.reload();
        await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
        const vt = seen[0]!.authorization!.slice('DPoP '.length);
        const url = `${system.urls.gateway}/v1/products/city-pass`;
        const replay = (headers: Record<string, string>) => http.get(url, { headers });
        const answers = [
          await replay({ authorization: `Bearer ${vt}` }),
          await replay({ authorization: `DPoP ${vt}` }),
          await replay({ authorization: `DPoP ${vt}`, dpop: await foreignProof(url, vt) }),
          await replay({ authorization: `DPoP ${vt}`, dpop: seen[0]!.dpop! }),
        ];
        for (const res of answers) {
          expect(res.status, JSON.stringify(res.data)).to.equal(401);
          expect(res.data.code).to.equal('dpop_invalid');
          expect(res.headers['www-authenticate']).to.equal(PROBLEMS.dpop_invalid.challenge);
        }
        await page.close();
      });
    } else {
      it('a reload on the forge path (no non-extractable keys) keeps no session and says so, with Back to the app', async function () {
        const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
        const page = await browser.newPage();
        const product: string[] = [];
        const urls: string[] = [];
        page.on('request', (r) => {
          urls.push(r.url());
          if (r.url().includes('/v1/products/') && r.method() === 'GET') product.push(r.headers().authorization ?? '');
        });
        await page.goto(`${system.urls.h5}/h5/products/city-pass#at=${token.at}`);
        await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
        // The product came with the exchange (a bearer VT, in memory only): no product call.
        expect(product).to.deep.equal([]);
        await page.reload();
        await page.waitForSelector('body[data-state="error"]', { timeout: 30_000 });
        expect(await page.getAttribute('body', 'data-error-code')).to.equal('session_not_kept');
        expect(await page.textContent('main')).to.match(/cannot keep your session safely/);
        expect(await page.$$eval('main button', (bs) => bs.map((b) => b.textContent))).to.deep.equal(['Back to the app']);
        // The chunk is preloaded with the page (for the WebCrypto path), but never run here.
        expect(await page.evaluate(() => typeof (window as { __h5Session?: unknown }).__h5Session)).to.equal('undefined');
        expect(urls.filter((u) => u.includes('/h5/assets/session.js')).length, 'the preload, once per document').to.be.at.most(2);
        await page.close();
      });
    }

    it('an exchange whose answer is lost: "Try again" sends the same envelope (the same R) and gets the VT, not a revocation', async function () {
      const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      const page = await browser.newPage();
      const sent: string[] = [];
      // On the WebCrypto path the boot script sends the envelope and app.js, finding its answer
      // lost, sends the same envelope once by itself: both answers are lost here.
      const lost = c.envelope === 'webcrypto' ? 2 : 1;
      await page.route('**/v1/visit-tokens', async (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        sent.push(route.request().postData() ?? '');
        if (sent.length > lost) return route.continue();
        // It reaches the gateway (the first spends the AT); its answer never reaches the page.
        const answer = await route.fetch();
        expect(answer.status()).to.equal(200);
        await route.abort('connectionreset');
      });
      await page.goto(`${system.urls.h5}/h5/products/city-pass#at=${token.at}`);
      await page.waitForSelector('body[data-state="error"]', { timeout: 30_000 });
      expect(await page.getAttribute('body', 'data-error-code')).to.equal('network_error');
      await page.click('button:has-text("Try again")');
      await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      expect(await page.textContent('h1.product-name')).to.equal('Lisbon City Pass');
      expect(sent).to.have.length(lost + 1);
      for (const again of sent.slice(1)) expect(again, 'the same envelope').to.equal(sent[0]);
      await page.close();
    });
  });
}
