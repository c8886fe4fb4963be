/**
 * "Confirm payment" in real headless Chromium: the H5 page is the device (a non-extractable
 * WebCrypto key, the broker's keys pinned), the relay runs in the test and reaches the page only
 * through the near link the native host would offer (`window.countersignRelay`, a Playwright
 * binding: no network). The page shows amount and payee from the verified object, signs on "Sign",
 * and the product backend confirms the payment on the grant.
 */
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { MemoryStore } from '../../platform/store/index.ts';
import type { RunningSystem } from '../../system/start.ts';
import { CHROMIUM_ARGS, requireChromium } from '../support/env.ts';
import { demoClient } from '../support/clients.ts';
import { startTestSystem } from '../support/system.ts';
import { channelPair } from '../../flows/countersign/channel.ts';
import { generateDeviceKey } from '../../flows/countersign/device.ts';
import { Relay } from '../../flows/countersign/relay.ts';
import { createHash } from 'node:crypto';
import { canonicalParams, COUNTERSIGN_PATHS, TBS_TYP } from '../../protocol/countersign.ts';
import { es256Sign } from '../../flows/countersign/jws.ts';
import { fullFlow } from '../support/clients.ts';
import { registerKey } from '../flows/countersign/support.ts';


describe('H5 page in Chromium: confirm a payment with the device (countersign)', function () {
  this.timeout(60_000);
  let browser: Browser;
  let system: RunningSystem;
  const store = new MemoryStore();

  before(async function () {
    const executablePath = requireChromium(this);
    system = await startTestSystem({ store });
    browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], headless: true });
  });
  after(async function () {
    await browser?.close();
    await system?.close(0);
    await store.close();
  });

  it('shows amount and payee on the device, signs, and the payment is confirmed', async function () {
    const gw = system.urls.gateway;
    const userId = `cs-browser-${Date.now()}`;
    // The relay is the user's own authorization device, registered with a VT of theirs.
    const relayKey = generateDeviceKey();
    const { reply } = await fullFlow(gw, userId, 'city-pass');
    expect((await registerKey(gw, reply.vt, 'relay', relayKey)).status).to.equal(201);
    const shownToRelay: unknown[] = [];
    const relay = new Relay({ gateway: gw, key: relayKey, decide: (shown) => (shownToRelay.push(shown), true) });
    const [relayEnd, deviceEnd] = channelPair();
    let served: Promise<Record<string, unknown>> | undefined;

    const context = await browser.newContext();
    await context.exposeBinding('countersignRelay', async (_source, message: string) => {
      served ??= relay.serve(relayEnd);
      const msg = JSON.parse(message) as Record<string, unknown>;
      deviceEnd.send(msg);
      if (msg.type === 'refused') return '{}';
      return JSON.stringify(await deviceEnd.receive());
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));

    const token = await demoClient(gw).requestAccessToken({ userId, productId: 'city-pass' });
    await page.goto(`${system.urls.h5}/h5/products/city-pass#at=${token.at}`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
    await page.click('#countersign-confirm');
    await page.waitForSelector('#countersign-sign', { timeout: 30_000 });
    // Before it signs, the device shows what the server-signed object says.
    expect(await page.textContent('#countersign-amount')).to.equal('49.00 EUR');
    expect(await page.textContent('#countersign-payee')).to.equal('to Lisbon City Pass');
    await page.click('#countersign-sign');
    await page.waitForSelector('#countersign[data-state="confirmed"], #countersign[data-state="failed"]', { timeout: 30_000 });
    expect(await page.textContent('.countersign-status')).to.equal('Payment confirmed: 49.00 EUR to Lisbon City Pass.');
    const outcome = await served!;
    expect(outcome.status).to.equal('approved');
    expect(shownToRelay).to.deep.equal([{ operation: 'payment.confirm', amount: '49.00', currency: 'EUR', payee: 'Lisbon City Pass', level: 1, status: 'verified' }]);
    // The page itself registered its key and paid; every relay step went over the near link.
    expect(requests).to.include(`POST ${COUNTERSIGN_PATHS.registerKey}`);
    expect(requests).to.include('POST /v1/products/city-pass/payments');
    for (const op of ['apply', 'countersign', 'poll', 'decide', 'redeem'] as const) expect(requests).to.not.include(`POST ${COUNTERSIGN_PATHS[op]}`);
    expect(errors).to.deep.equal([]);
    await context.close();
  });

  it('an object the relay forged (not signed by a pinned key) is refused by the page: nothing signed, nothing paid', async function () {
    const gw = system.urls.gateway;
    const userId = `cs-browser-forged-${Date.now()}`;
    const forger = generateDeviceKey();
    const seenByRelay: Record<string, unknown>[] = [];
    const context = await browser.newContext();
    await context.exposeBinding('countersignRelay', async (_source, message: string) => {
      const msg = JSON.parse(message) as Record<string, unknown>;
      seenByRelay.push(msg);
      if (msg.type !== 'application') return '{}';
      // A relay that makes up the object itself: the right claims, its own key, the broker's kid.
      const jwks = (await (await fetch(`${gw}/.well-known/jwks.json`)).json()) as { keys: { use: string; kid: string }[] };
      const kid = jwks.keys.find((k) => k.use === 'sig')!.kid;
      const a = msg.application as Record<string, unknown> & { params: Record<string, string> };
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: gw, aid: 'A'.repeat(22), app: a.app, sub: a.sub, op: a.operation, pd: createHash('sha256').update(canonicalParams(a.params)).digest('base64url'),
        ...a.params, serial: a.serial, relay: forger.kid, kid: a.kid, nonce: 'N'.repeat(22), level: 1, iat: now, exp: now + 300,
      };
      return JSON.stringify({ type: 'tbs', auth_req_id: claims.aid, tbs: es256Sign({ typ: TBS_TYP, kid }, claims, forger.privateKey) });
    });
    const page = await context.newPage();
    const token = await demoClient(gw).requestAccessToken({ userId, productId: 'city-pass' });
    await page.goto(`${system.urls.h5}/h5/products/city-pass#at=${token.at}`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
    await page.click('#countersign-confirm');
    await page.waitForSelector('#countersign[data-state="failed"], #countersign[data-state="review"]', { timeout: 30_000 });
    expect(await page.getAttribute('#countersign', 'data-state')).to.equal('failed');
    expect(await page.textContent('.countersign-status')).to.equal('Not confirmed: the request to sign was not genuine.');
    expect(await page.$('#countersign-sign')).to.equal(null);
    expect(seenByRelay.map((m) => m.type)).to.deep.equal(['application', 'refused']);
    await context.close();
  });
});
