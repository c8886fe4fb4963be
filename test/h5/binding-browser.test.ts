/**
 * The binding in Chromium with the phone played by the token-app CLI's code: the page shows the
 * QR, the phone's request goes to the gateway (the page's own, or another gateway process on the
 * same Redis), and the page shows "bound" without a reload; the same over the polling fallback.
 * Takes the README's three screenshots (docs/screenshots/binding-*.png, written when absent).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningSystem } from '../../system/start.ts';
import type { RedisStore } from '../../platform/store/redis.ts';
import { connectTestRedis, CHROMIUM_ARGS, requireChromium } from '../support/env.ts';
import { demoClient } from '../support/clients.ts';
import { startTestSystem } from '../support/system.ts';
import { parseBindingUri } from '../../protocol/binding.ts';
import { sendScan } from '../../scripts/token-app.ts';
import { base32, totp } from '../../flows/binding/totp.ts';


/**
 * Takes a screenshot for the README: written to docs/screenshots/binding-<name>.png when that file
 * is absent (delete the files to take them again), so a test run does not rewrite committed images.
 */
async function shot(page: Page, name: string): Promise<void> {
  const png = await page.screenshot();
  expect(png.subarray(1, 4).toString('latin1')).to.equal('PNG');
  const path = fileURLToPath(new URL(`../../docs/screenshots/binding-${name}.png`, import.meta.url));
  if (!existsSync(path)) writeFileSync(path, png);
}

describe('binding in Chromium: QR shown -> phone request -> "bound" without a reload', function () {
  this.timeout(60_000);
  const INTERNAL_TOKEN = `internal-${randomBytes(16).toString('hex')}`;
  let browser: Browser;
  let stores: RedisStore[] = [];
  let first: RunningSystem | undefined;
  let second: RunningSystem | undefined;

  before(async function () {
    const executablePath = requireChromium(this);
    const prefix = `test:${randomBytes(6).toString('hex')}:`;
    stores = [await connectTestRedis(this, prefix), await connectTestRedis(this, prefix)];
    first = await startTestSystem({ store: stores[0]!, env: { INTERNAL_TOKEN } });
    second = await startTestSystem({ store: stores[1]!, components: ['gateway'], env: { INTERNAL_TOKEN, AUTH_URL: first.urls.auth, PRODUCTS_URL: first.urls.products } });
    browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], headless: true });
  });
  after(async function () {
    await browser?.close();
    await second?.close(0);
    await first?.close(0);
    for (const s of stores) await s.close();
  });

  async function openBindingPage(query = ''): Promise<{ page: Page; errors: string[]; navigations: number[] }> {
    const at = (await demoClient(first!.urls.gateway).requestAccessToken({ userId: `u${randomBytes(4).toString('hex')}`, productId: 'city-pass' })).at;
    const page = await browser.newPage({ viewport: { width: 380, height: 640 } });
    const errors: string[] = [];
    const navigations: number[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations.push(Date.now()));
    await page.goto(`${first!.urls.h5}/h5/bind${query}#at=${encodeURIComponent(at)}`);
    await page.waitForSelector('body[data-binding="waiting"]');
    return { page, errors, navigations };
  }

  async function phone(page: Page, gateway?: string): Promise<void> {
    const payload = parseBindingUri((await page.getAttribute('#bind-link', 'href')) ?? '');
    expect(payload, 'the page shows the token app URI').to.not.equal(undefined);
    const answer = await sendScan(payload!, { gateway });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(202);
  }

  it('over the stream, with the phone request on the same gateway; takes the screenshots', async function () {
    const { page, errors, navigations } = await openBindingPage();
    expect(await page.getAttribute('body', 'data-transport')).to.equal('sse');
    expect(await page.getAttribute('#bind-qr', 'src')).to.match(/^data:image\/png;base64,/);
    // The same-device path: the QR's URI is a tappable link to the token app.
    expect(await page.getAttribute('#bind-link', 'href')).to.match(/\/h5\/token-app#bind=[\w-]+$/);
    await shot(page, '1-qr');

    // What the phone shows before it sends (the token app page, opened from the link).
    const uri = (await page.getAttribute('#bind-link', 'href'))!;
    const tokenApp = await browser.newPage({ viewport: { width: 380, height: 640 } });
    await tokenApp.goto(uri);
    await tokenApp.waitForSelector('body[data-token="ready"]');
    expect(await tokenApp.textContent('#ta-origin')).to.equal(new URL(first!.urls.h5).origin);
    await shot(tokenApp, '2-token-app');
    await tokenApp.close();

    const before = navigations.length;
    await phone(page);
    await page.waitForSelector('body[data-binding="bound"]');
    expect(navigations.length, 'no reload').to.equal(before);
    expect(await page.getAttribute('body', 'data-receipt')).to.match(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await page.isVisible('#bind-qr'), 'the QR (it holds the key) is gone').to.equal(false);
    await shot(page, '3-bound');
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('over the stream, with the phone request sent to another gateway process', async function () {
    const { page, errors, navigations } = await openBindingPage();
    const before = navigations.length;
    await phone(page, second!.urls.gateway);
    await page.waitForSelector('body[data-binding="bound"]');
    expect(navigations.length).to.equal(before);
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('over the polling fallback (RFC 8628 words)', async function () {
    const { page, errors } = await openBindingPage('?transport=poll');
    expect(await page.getAttribute('body', 'data-transport')).to.equal('poll');
    await phone(page, second!.urls.gateway);
    await page.waitForSelector('body[data-binding="bound"]', { timeout: 20_000 });
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('a stock authenticator app: the otpauth link, and the typed code binds', async function () {
    const { page, errors } = await openBindingPage();
    const otpauth = (await page.getAttribute('#bind-otpauth', 'href'))!;
    const secret = new URL(otpauth.replace('otpauth:', 'http:')).searchParams.get('secret')!;
    const payload = parseBindingUri((await page.getAttribute('#bind-link', 'href'))!)!;
    expect(secret).to.equal(base32(Buffer.from(payload.key, 'base64url')));
    await page.fill('#bind-code', totp(Buffer.from(payload.key, 'base64url'), Math.floor(Date.now() / 1000)));
    await page.click('#bind-code-send');
    await page.waitForSelector('body[data-binding="bound"]');
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('the token app confirms from the tapped link and shows the 6-digit code (same device)', async function () {
    const { page } = await openBindingPage();
    const tokenApp = await browser.newPage({ viewport: { width: 380, height: 640 } });
    await tokenApp.goto((await page.getAttribute('#bind-link', 'href'))!);
    await tokenApp.click('#ta-send');
    await tokenApp.waitForSelector('body[data-token="sent"]');
    expect(await tokenApp.textContent('#ta-code')).to.match(/^\d{6}$/);
    await page.waitForSelector('body[data-binding="bound"]');
    await tokenApp.close();
    await page.close();
  });
});
