/**
 * The H5 page as a user meets it (issue 14), in real headless Chromium at a phone viewport:
 * every error state has its words and its way out, axe-core finds no violation on any page or
 * state, the hero's rendered colours pass WCAG AA, the content's language, direction and price
 * format win over the device's, long words wrap at 320 px, dark mode is dark, and the demo says
 * names and real outcomes. Writes the README screenshots (into docs/screenshots/ with UPDATE_SCREENSHOTS=1).
 */
import { createHash } from 'node:crypto';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type Frame, type Page } from 'playwright-core';
import { MemoryStore } from '../../platform/store/index.ts';
import type { RunningSystem } from '../../system/start.ts';
import { CHROMIUM_ARGS, requireChromium } from '../support/env.ts';
import { demoClient } from '../support/clients.ts';
import { startTestSystem } from '../support/system.ts';
import { freePort } from '../../scripts/free-port.ts';
import { checkedReturnUrl, createH5App } from '../../h5/app.ts';
import { buildAssets } from '../../h5/bundle.ts';
import { pino } from 'pino';
import { PRODUCTS } from '../../h5/products.ts';
import { sessionKept } from '../support/page-probes.ts';

const PHONE = { width: 390, height: 844 };
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/**
 * Where the screenshots go: the README's copies in docs/screenshots/ with UPDATE_SCREENSHOTS=1,
 * else test-results/screenshots/ (ignored by git), so that a test run leaves the tree clean.
 */
const SCREENSHOTS = fileURLToPath(new URL(process.env.UPDATE_SCREENSHOTS === '1' ? '../../docs/screenshots/' : '../../test-results/screenshots/', import.meta.url));
mkdirSync(SCREENSHOTS, { recursive: true });

type Target = Page | Frame;

/** axe-core's violations on the page (WCAG 2.x A and AA, and best practices), as "rule: targets". */
async function axeViolations(target: Target): Promise<string[]> {
  // Evaluated through the DevTools protocol: the page's CSP (script-src 'self') does not apply.
  await target.evaluate(AXE_SOURCE);
  const result = await target.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; nodes: { target: unknown }[] }[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } });
    return r.violations.map((v) => `${v.id}: ${JSON.stringify(v.nodes.map((n) => n.target))}`);
  });
  return result;
}

/**
 * WCAG contrast of each visible text element under `selector`, from its rendered colours: the
 * text colour against the backgrounds below it, composed up the tree (alpha included).
 */
async function renderedContrasts(target: Target, selector: string): Promise<{ text: string; ratio: number }[]> {
  // A string, so that the test runner's transform adds no helper the page does not have.
  return target.evaluate(`(${CONTRAST_SCRIPT})(${JSON.stringify(selector)})`) as Promise<{ text: string; ratio: number }[]>;
}

const CONTRAST_SCRIPT = `function (sel) {
  function parse(c) {
    var m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    var p = m[1].split(/[,\\s/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, bottom) {
    var a = top[3];
    return [0, 1, 2].map(function (i) { return top[i] * a + bottom[i] * (1 - a); }).concat(1);
  }
  function lum(c) {
    var ch = c.slice(0, 3).map(function (v) { var s = v / 255; return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4); });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  }
  var out = [];
  document.querySelectorAll(sel).forEach(function (el) {
    if (!el.textContent.trim() || el.getClientRects().length === 0) return;
    var layers = [];
    for (var n = el; n; n = n.parentElement) {
      var st = getComputedStyle(n);
      if (st.backgroundImage !== 'none') throw new Error('a background image under "' + el.textContent + '": contrast cannot be computed');
      var bgc = parse(st.backgroundColor);
      if (bgc[3] > 0) layers.push(bgc);
      if (bgc[3] === 1) break;
    }
    var bg = [255, 255, 255, 1];
    var root = parse(getComputedStyle(document.documentElement).backgroundColor);
    if (root[3] > 0) bg = over(root, bg);
    layers.reverse().forEach(function (layer) { bg = over(layer, bg); });
    var style = getComputedStyle(el);
    var fgc = parse(style.color);
    fgc[3] = fgc[3] * Number(style.opacity);
    var fg = over(fgc, bg);
    var a = lum(fg), b = lum(bg);
    out.push({ text: el.textContent.trim().slice(0, 40), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) });
  });
  return out;
}`;

async function noticeState(page: Target) {
  return page.evaluate(() => ({
    code: document.body.dataset.errorCode,
    title: document.querySelector('.notice-title')?.textContent ?? '',
    text: document.querySelector('.notice-text')?.textContent ?? '',
    support: document.querySelector('.notice-code')?.textContent ?? '',
    buttons: Array.from(document.querySelectorAll<HTMLButtonElement>('.notice button')).map((b) => ({ label: b.textContent, disabled: b.disabled })),
    focused: document.activeElement?.className ?? '',
  }));
}

async function h5Frame(page: Page): Promise<Frame> {
  const handle = await page.waitForSelector('#webview');
  for (let i = 0; i < 100; i++) {
    const frame = await handle.contentFrame();
    if (frame && frame.url().includes('/h5/products/')) return frame;
    await page.waitForTimeout(100);
  }
  throw new Error('the H5 frame did not load');
}

function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Deletes the page's IndexedDB session store (run in the H5 page). */
function forgetSession(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase('h5-session');
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
    req.onblocked = () => resolve();
  });
}

describe('H5 page as a user meets it (issue 14), Chromium at a phone viewport', function () {
  this.timeout(90_000);
  let browser: Browser;
  let system: RunningSystem;
  let light: BrowserContext;
  /** Ports for page servers of a test's own (allowed by the gateway's CORS_ORIGINS). */
  let extraPagePorts: number[] = [];
  let dark: BrowserContext;
  const store = new MemoryStore();

  /** A fresh AT for `productId`, with the name the app shows its user by. */
  async function pageUrl(productId: string, opts: { userId?: string; displayName?: string; returnUrl?: string; path?: string } = {}): Promise<string> {
    const token = await demoClient(system.urls.gateway).requestAccessToken({
      userId: opts.userId ?? 'chen', productId: opts.path ? 'city-pass' : productId, profile: { displayName: opts.displayName ?? 'Chen Wei' },
    });
    const query = opts.returnUrl ? `?returnUrl=${encodeURIComponent(opts.returnUrl)}` : '';
    return `${system.urls.h5}/h5/products/${opts.path ?? productId}${query}#at=${token.at}`;
  }

  async function openProduct(ctx: BrowserContext, productId: string, opts: Parameters<typeof pageUrl>[1] = {}): Promise<Page> {
    const page = await ctx.newPage();
    await page.goto(await pageUrl(productId, opts));
    await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
    return page;
  }

  before(async function () {
    const executablePath = requireChromium(this);
    const port = await freePort();
    extraPagePorts = [await freePort(), await freePort()];
    system = await startTestSystem({
      store,
      env: { H5_PORT: String(port), H5_PUBLIC_URL: `http://127.0.0.1:${port}`, CORS_ORIGINS: extraPagePorts.map((p) => `http://127.0.0.1:${p}`).join(',') },
    });
    browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], headless: true });
    light = await browser.newContext({ viewport: PHONE, colorScheme: 'light', locale: 'en-US' });
    dark = await browser.newContext({ viewport: PHONE, colorScheme: 'dark', locale: 'en-US' });
    mkdirSync(SCREENSHOTS, { recursive: true });
  });
  after(async function () {
    await browser?.close();
    await system?.close(0);
    await store.close();
  });

  describe('a real provider page', function () {
    it('shows the brand, the app and user by name, the headline figure, the product CTA, imagery and linked legal documents; focus on the heading, no live region on main', async function () {
      const page = await openProduct(light, 'savings-plus', { displayName: 'Chen Wei' });
      const view = await page.evaluate(() => ({
        brand: document.querySelector('.brand-name')?.textContent,
        footer: document.querySelector('.viewer')?.textContent,
        headline: document.querySelector('.headline-value')?.textContent,
        cta: document.querySelector('.product-cta button')?.textContent,
        image: (document.querySelector('.product-image') as HTMLImageElement | null)?.naturalWidth ?? 0,
        legal: Array.from(document.querySelectorAll<HTMLAnchorElement>('.legal-link')).map((a) => a.href),
        focused: document.activeElement?.classList.contains('product-name'),
        mainLive: document.querySelector('main')?.getAttribute('aria-live'),
        ctaBackground: getComputedStyle(document.querySelector('.product-cta')!).backgroundColor,
      }));
      expect(view.brand).to.equal('Meridian');
      expect(view.footer).to.equal('Opened from Demo for Chen Wei');
      expect(view.footer).to.not.contain('chen');
      expect(view.headline).to.equal('3.10% AER');
      expect(view.cta).to.equal('Open an account');
      expect(view.image).to.be.greaterThan(0);
      expect(view.focused).to.equal(true);
      expect(view.mainLive).to.equal(null);
      expect(view.ctaBackground).to.match(/^rgb\(/); // solid, not rgba
      expect(view.legal).to.have.length(4);
      for (const href of view.legal) {
        const res = await rawGet(href, {});
        expect(res.status, href).to.equal(200);
        expect(res.body.toString()).to.contain('<h1 class="legal-title">');
      }
      // The CTA acknowledges, politely, in the product's words.
      await page.click('.product-cta button');
      expect(await page.textContent('.cta-note[role="status"]')).to.equal('Thanks! This is a demo, so no account has been opened.');
      await page.close();
    });

    it('hero text passes WCAG AA (4.5:1) from its rendered colours, for every product, light and dark', async function () {
      for (const ctx of [light, dark]) {
        for (const p of PRODUCTS) {
          const page = await openProduct(ctx, p.id);
          const ratios = await renderedContrasts(page, '.product-hero .product-category, .product-hero .product-name, .product-hero .product-tagline, .product-hero .headline-value, .product-hero .headline-label, .product-hero .product-price-small');
          expect(ratios.length, p.id).to.be.at.least(5);
          for (const r of ratios) expect(r.ratio, `${p.id}: "${r.text}"`).to.be.at.least(4.5);
          await page.close();
        }
      }
    });

    it('the zh-CN and the Arabic (RTL) products render with their lang, dir and price format, not the device locale (en-US)', async function () {
      const cn = await openProduct(light, 'travel-insurance-cn');
      expect(await cn.evaluate(() => [document.documentElement.lang, document.documentElement.dir])).to.deep.equal(['zh-CN', 'ltr']);
      expect(await cn.textContent('.product-price-small')).to.equal('价格: ¥38.00/次行程');
      expect(await cn.textContent('.section-title')).to.equal('产品介绍');
      await cn.close();

      const ar = await openProduct(light, 'dubai-pass');
      expect(await ar.evaluate(() => [document.documentElement.lang, document.documentElement.dir, getComputedStyle(document.querySelector('.product-body')!).direction])).to.deep.equal(['ar', 'rtl', 'rtl']);
      const price = (await ar.textContent('.product-price-small')) ?? '';
      const expected = await ar.evaluate(() => new Intl.NumberFormat('ar-AE', { style: 'currency', currency: 'AED' }).format(299));
      const device = await ar.evaluate(() => new Intl.NumberFormat(undefined, { style: 'currency', currency: 'AED' }).format(299));
      expect(price).to.contain(expected);
      expect(expected).to.not.equal(device);
      expect(price).to.not.contain(device);
      // The brand and any error stay English and say so.
      expect(await ar.getAttribute('.brand', 'lang')).to.equal('en');
      await ar.close();
    });

    it('the server-rendered skeleton is in the product name, colour, lang and dir before any script runs', async function () {
      const res = await rawGet(`${system.urls.h5}/h5/products/dubai-pass`, {});
      const html = res.body.toString();
      expect(html).to.contain('<html lang="ar" dir="rtl">');
      expect(html).to.contain('<h1 class="product-name">بطاقة دبي السياحية</h1>');
      expect(html).to.contain('class="accent-047857"');
      expect(html).to.match(/<link rel="preconnect" href="http:\/\/127\.0\.0\.1:\d+" crossorigin="anonymous">/);
    });

    /** The product page's HTML once the page server has read the gateway's JWKS (it reads it on the first page). */
    async function pageWithJwks(productId: string): Promise<{ html: string; csp: string }> {
      for (let i = 0; ; i++) {
        const res = await rawGet(`${system.urls.h5}/h5/products/${productId}`, {});
        const html = res.body.toString();
        if (html.includes('"jwks":') || i === 50) return { html, csp: String(res.headers['content-security-policy']) };
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    it('one round trip to the product: the inline boot script (allowed by its sha256, before the stylesheet) seals to the JWKS the page carries and gets the product with the VT', async function () {
      const { html, csp } = await pageWithJwks('city-pass');
      // The JWKS the page carries is the gateway's.
      const data = JSON.parse(/<script type="application\/json" id="h5-boot">([^<]*)<\/script>/.exec(html)![1]!) as { gateway: string; jwks: unknown; locale: string; currency: string };
      const gatewayJwks = JSON.parse((await rawGet(`${system.urls.gateway}/.well-known/jwks.json`, {})).body.toString());
      expect(data.jwks).to.deep.equal(gatewayJwks);
      expect(data).to.include({ gateway: system.urls.gateway, locale: 'en-IE', currency: 'EUR' });
      // The inline script is allowed by its hash only: no 'unsafe-inline'.
      const boot = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
      const hash = createHash('sha256').update(boot, 'utf8').digest('base64');
      expect(csp).to.contain(`script-src 'self' 'sha256-${hash}'`);
      expect(csp).to.not.contain('unsafe-inline');
      expect(html.indexOf('id="h5-boot"')).to.be.lessThan(html.indexOf('<link rel="stylesheet"'));

      const page = await light.newPage();
      const requests: { path: string; method: string; body: string | null }[] = [];
      page.on('request', (r) => requests.push({ path: new URL(r.url()).pathname, method: r.method(), body: r.postData() }));
      const violations: string[] = [];
      page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
      await page.goto(await pageUrl('city-pass'));
      await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      expect(await page.getAttribute('body', 'data-boot')).to.equal('sent');
      const paths = requests.map((r) => r.path);
      // No JWKS round trip, no second call for the product, no envelope code fetched.
      expect(paths).to.not.include('/.well-known/jwks.json');
      expect(requests.filter((r) => r.path.startsWith('/v1/products/'))).to.deep.equal([]);
      expect(paths).to.not.include('/h5/assets/envelope-forge.js');
      expect(paths).to.not.include('/h5/assets/envelope-webcrypto.js');
      const exchanges = requests.filter((r) => r.path === '/v1/visit-tokens' && r.method === 'POST');
      expect(exchanges).to.have.length(1);
      expect(JSON.parse(exchanges[0]!.body!)).to.have.property('include', 'product');
      expect(violations).to.deep.equal([]);
      await page.close();
    });

    it('without the inline JWKS the boot script fetches it; without the boot script app.js does it all (the WebCrypto envelope as a chunk)', async function () {
      const assets = await buildAssets();
      const withoutBoot = new Map([...assets].filter(([name]) => name !== 'boot.js'));
      const variants = [
        // A page server that has not read the JWKS (the gateway was down when it tried).
        { variant: 'no-jwks', deps: { assets }, port: extraPagePorts[0]! },
        // A browser where the boot script cannot run (no ES2017) is served what this server serves.
        { variant: 'no-boot', deps: { assets: withoutBoot }, port: extraPagePorts[1]! },
      ];
      for (const { variant, deps, port } of variants) {
        const app = createH5App({ gatewayUrl: system.urls.gateway, registry: system.registry, log: pino({ level: 'silent' }), ...deps });
        const server = createServer(app.callback());
        await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
        try {
          const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
          const page = await light.newPage();
          const paths: string[] = [];
          page.on('request', (r) => paths.push(new URL(r.url()).pathname));
          await page.goto(`http://127.0.0.1:${port}/h5/products/city-pass#at=${token.at}`);
          await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
          expect(await page.textContent('h1.product-name'), variant).to.equal('Lisbon City Pass');
          expect(paths.filter((p) => p === '/.well-known/jwks.json'), variant).to.have.length(1);
          expect(paths.filter((p) => p.startsWith('/v1/products/')), variant).to.deep.equal([]);
          expect(paths, variant).to.not.include('/h5/assets/envelope-forge.js');
          expect(await page.getAttribute('body', 'data-envelope'), variant).to.equal('webcrypto');
          if (variant === 'no-jwks') {
            expect(await page.getAttribute('body', 'data-boot')).to.equal('sent');
            expect(paths).to.not.include('/h5/assets/envelope-webcrypto.js');
          } else {
            expect(await page.getAttribute('body', 'data-boot')).to.equal(null);
            expect(paths).to.include('/h5/assets/envelope-webcrypto.js');
          }
          await page.close();
        } finally {
          server.close();
        }
      }
    });

    it('no horizontal overflow at 320 px with the long-word fixture (German compounds, a long URL)', async function () {
      const ctx = await browser.newContext({ viewport: { width: 320, height: 640 } });
      const page = await openProduct(ctx, 'hausrat');
      const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, inner: window.innerWidth }));
      expect(widths.inner).to.equal(320);
      expect(widths.doc).to.be.at.most(320);
      expect(widths.body).to.be.at.most(320);
      await ctx.close();
    });

    it('dark mode is dark: the colour scheme, the canvas, and the screenshots differ from light (written to docs/screenshots)', async function () {
      const shots: Buffer[] = [];
      for (const [name, ctx] of [['light', light], ['dark', dark]] as const) {
        const page = await openProduct(ctx, 'travel-insurance', { displayName: 'Chen Wei' });
        const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        if (name === 'dark') expect(bg).to.equal('rgb(16, 21, 28)');
        else expect(bg).to.equal('rgb(243, 245, 248)');
        await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
        const shot = await page.screenshot({ type: 'png' });
        writeFileSync(`${SCREENSHOTS}product-${name}.png`, shot);
        shots.push(shot);
        await page.close();
      }
      expect(shots[0]!.equals(shots[1]!)).to.equal(false);
    });

    it('without JavaScript the page says so and shows no endless spinner (@media (scripting: none))', async function () {
      const ctx = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false });
      const page = await ctx.newPage();
      await page.goto(`${system.urls.h5}/h5/products/city-pass`);
      expect(await page.isVisible('text=JavaScript is needed')).to.equal(true);
      expect(await page.isVisible('.spinner')).to.equal(false);
      // The product's name stays: the skeleton's hero is plain HTML.
      expect(await page.isVisible('h1.product-name')).to.equal(true);
      await ctx.close();
    });

    it('assets are sent brotli or gzip compressed with Vary and Content-Encoding, and the same bytes decompressed', async function () {
      for (const name of ['app.js', 'envelope-forge.js', 'app.css', 'product-city-pass.svg']) {
        const url = `${system.urls.h5}/h5/assets/${name}`;
        const plain = await rawGet(url, {});
        expect(plain.headers['content-encoding'], name).to.equal(undefined);
        expect(plain.headers.vary).to.match(/accept-encoding/i);
        const br = await rawGet(url, { 'accept-encoding': 'gzip, deflate, br' });
        expect(br.headers['content-encoding']).to.equal('br');
        expect(br.headers.vary).to.match(/accept-encoding/i);
        expect(br.body.length).to.be.lessThan(plain.body.length);
        expect(brotliDecompressSync(br.body).equals(plain.body), name).to.equal(true);
        const gz = await rawGet(url, { 'accept-encoding': 'gzip' });
        expect(gz.headers['content-encoding']).to.equal('gzip');
        expect(gunzipSync(gz.body).equals(plain.body), name).to.equal(true);
        expect(gz.headers.etag).to.not.equal(br.headers.etag);
        const refused = await rawGet(url, { 'accept-encoding': 'br;q=0, gzip;q=0' });
        expect(refused.headers['content-encoding']).to.equal(undefined);
      }
    });
  });

  describe('errors with a way out', function () {
    it('a reload with no session kept (no AT any more, none in IndexedDB) does not blame the user and offers Back to the app, which follows the returnUrl', async function () {
      const back = `${system.urls.demo}/`;
      const page = await openProduct(light, 'city-pass', { returnUrl: back });
      // The session a reload would pick up is gone (ended, or storage cleared): once it was kept.
      await page.waitForFunction(sessionKept, 'city-pass', { timeout: 10_000 });
      await page.evaluate(forgetSession);
      await page.reload();
      await page.waitForSelector('body[data-state="error"]');
      const s = await noticeState(page);
      expect(s.code).to.equal('at_missing');
      expect(s.title).to.equal('Open the product again from the app');
      expect(s.text).to.match(/reloaded or reopened/);
      expect(s.text).to.not.match(/only works when you open it/);
      expect(s.buttons).to.deep.equal([{ label: 'Back to the app', disabled: false }]);
      expect(s.focused).to.contain('notice-title');
      expect(s.support).to.equal('Error code: at_missing');
      expect(await axeViolations(page)).to.deep.equal([]);
      await page.click('button.back');
      await page.waitForURL(back);
      await page.close();
    });

    it('a returnUrl on an origin no app registered is dropped (no open redirect); the action then goes back in history', async function () {
      const allowed = new Set(['https://app.example']);
      expect(checkedReturnUrl('https://app.example/back?x=1', allowed)).to.equal('https://app.example/back?x=1');
      expect(checkedReturnUrl('https://evil.example/', allowed)).to.equal(undefined);
      expect(checkedReturnUrl('javascript:alert(1)', allowed)).to.equal(undefined);
      expect(checkedReturnUrl('https://user:pw@app.example/', allowed)).to.equal(undefined);
      expect(checkedReturnUrl(['https://app.example/'], allowed)).to.equal(undefined);
      const res = await rawGet(`${system.urls.h5}/h5/products/city-pass?returnUrl=${encodeURIComponent('https://evil.example/')}`, {});
      expect(res.body.toString()).to.not.contain('data-return-url');
      const ok = await rawGet(`${system.urls.h5}/h5/products/city-pass?returnUrl=${encodeURIComponent(`${system.urls.demo}/x`)}`, {});
      expect(ok.body.toString()).to.contain(`data-return-url="${system.urls.demo}/x"`);
    });

    it('a garbage or used AT: "can\'t be used" (not "expired"), Back to the app, the code and the request id small', async function () {
      const page = await light.newPage();
      await page.goto(`${system.urls.h5}/h5/products/city-pass#at=not-a-real-token`);
      await page.waitForSelector('body[data-state="error"]');
      const s = await noticeState(page);
      expect(s.code).to.equal('at_invalid');
      expect(s.title).to.equal("This link can't be used");
      expect(s.text).to.match(/expired or was already used, or it is not valid/);
      expect(s.buttons).to.deep.equal([{ label: 'Back to the app', disabled: false }]);
      expect(s.support).to.match(/^Error code: at_invalid\s*Request ID: [A-Za-z0-9._:-]+$/);
      expect(await page.evaluate(() => getComputedStyle(document.querySelector('.notice-code')!).fontSize)).to.equal('12px');
      expect(await axeViolations(page)).to.deep.equal([]);
      for (const [name, ctx] of [['light', light], ['dark', dark]] as const) {
        const p = ctx === light ? page : await ctx.newPage();
        if (p !== page) {
          await p.goto(`${system.urls.h5}/h5/products/city-pass#at=not-a-real-token`);
          await p.waitForSelector('body[data-state="error"]');
          expect(await axeViolations(p)).to.deep.equal([]);
        }
        await p.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
        writeFileSync(`${SCREENSHOTS}error-${name}.png`, await p.screenshot({ type: 'png' }));
        await p.close();
      }
    });

    it('a token for another product: "can\'t be opened here", with Back to the app', async function () {
      const page = await light.newPage();
      await page.goto(await pageUrl('savings-plus', { path: 'savings-plus' }));
      await page.waitForSelector('body[data-state="error"]');
      const s = await noticeState(page);
      expect(s.code).to.equal('forbidden_product');
      expect(s.title).to.equal("This product can't be opened here");
      expect(s.text).to.match(/for another product/);
      expect(s.buttons).to.deep.equal([{ label: 'Back to the app', disabled: false }]);
      expect(await axeViolations(page)).to.deep.equal([]);
      await page.close();
    });

    it('the service down (device online) and the device offline read differently; both offer Try again and Back to the app', async function () {
      const ctx = await browser.newContext({ viewport: PHONE });
      const page = await ctx.newPage();
      // The gateway refuses connections: the browser is online, the service is not there.
      await page.route(`${system.urls.gateway}/**`, (route) => route.abort('connectionrefused'));
      await page.goto(await pageUrl('city-pass'));
      await page.waitForSelector('body[data-state="error"]');
      let s = await noticeState(page);
      expect(s.code).to.equal('network_error');
      expect(s.title).to.equal("We can't reach the service right now");
      expect(s.text).to.match(/connection looks fine/);
      expect(s.buttons.map((b) => b.label)).to.deep.equal(['Try again', 'Back to the app']);
      expect(await axeViolations(page)).to.deep.equal([]);

      await ctx.setOffline(true);
      await page.click('button.retry');
      await page.waitForSelector('body[data-offline="true"]');
      s = await noticeState(page);
      expect(s.code).to.equal('network_error');
      expect(s.title).to.equal('You are offline');
      expect(s.buttons.map((b) => b.label)).to.deep.equal(['Try again', 'Back to the app']);

      // Back online and the gateway reachable again: Try again opens the product (the AT was never spent).
      await ctx.setOffline(false);
      await page.unroute(`${system.urls.gateway}/**`);
      await page.click('button.retry');
      await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      await ctx.close();
    });
  });

  describe('too many requests', function () {
    let limited: RunningSystem;
    const limitedStore = new MemoryStore();
    before(async function () {
      const port = await freePort();
      limited = await startTestSystem({
        store: limitedStore, components: ['products', 'auth', 'gateway', 'h5'],
        env: { H5_PORT: String(port), H5_PUBLIC_URL: `http://127.0.0.1:${port}`, RATE_LIMIT_EXCHANGE: '1', RATE_LIMIT_EXCHANGE_WINDOW_SECONDS: '600' },
      });
    });
    after(async function () {
      await limited?.close(0);
      await limitedStore.close();
    });

    it('honours Retry-After: says how long, holds Try again back, and offers Back to the app', async function () {
      const client = demoClient(limited.urls.gateway);
      const first = await client.requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      const second = await client.requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      const page = await light.newPage();
      await page.goto(`${limited.urls.h5}/h5/products/city-pass#at=${first.at}`);
      await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      await page.close();
      // A second page (a new document: the same URL with another fragment would not reload).
      const page2 = await light.newPage();
      await page2.goto(`${limited.urls.h5}/h5/products/city-pass#at=${second.at}`);
      await page2.waitForSelector('body[data-state="error"]');
      await checkRateLimited(page2);
      await page2.close();
    });
    async function checkRateLimited(page: Page): Promise<void> {
      const s = await noticeState(page);
      expect(s.code).to.equal('rate_limited');
      expect(s.title).to.equal('Too many requests');
      const wait = (await page.textContent('.notice-wait')) ?? '';
      const seconds = Number(/try again in (\d+) seconds?/.exec(wait)?.[1]);
      expect(seconds).to.be.greaterThan(60).and.at.most(600);
      expect(s.buttons).to.deep.equal([{ label: 'Try again', disabled: true }, { label: 'Back to the app', disabled: false }]);
      expect(await axeViolations(page)).to.deep.equal([]);
    }
  });

  describe('axe-core on every page and state', function () {
    it('finds no violation on each product (light and dark), a legal document, the 404 page and the demo', async function () {
      for (const ctx of [light, dark]) {
        for (const p of PRODUCTS) {
          const page = await openProduct(ctx, p.id);
          expect(await axeViolations(page), p.id).to.deep.equal([]);
          await page.close();
        }
        const page = await ctx.newPage();
        for (const path of ['/h5/legal/travel-insurance/policy-wording', '/h5/legal/dubai-pass/privacy', '/h5/products/nope']) {
          await page.goto(`${system.urls.h5}${path}`);
          expect(await axeViolations(page), path).to.deep.equal([]);
        }
        // The skeleton (loading state), as the server sends it.
        await page.route(`${system.urls.gateway}/**`, () => undefined); // never answers: stays loading
        await page.goto(await pageUrl('city-pass'));
        expect(await page.getAttribute('body', 'data-state')).to.equal('loading');
        expect(await axeViolations(page), 'loading').to.deep.equal([]);
        await page.unroute(`${system.urls.gateway}/**`);
        await page.goto(system.urls.demo);
        expect(await axeViolations(page), 'demo').to.deep.equal([]);
        await page.close();
      }
    });
  });

  describe('the demo on a phone', function () {
    for (const host of ['127.0.0.1', 'localhost']) {
      it(`as ${host}: keeps focus on Open (Enter), scrolls the WebView into view, says names and the real outcome, 44x44 targets`, async function () {
        const page = await light.newPage();
        await page.goto(system.urls.demo.replace('127.0.0.1', host));
        const targets = await page.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>('button, select')).map((b) => {
          const r = b.getBoundingClientRect();
          return { w: r.width, h: r.height };
        }));
        for (const t of targets) expect(t.w).to.be.at.least(44) && expect(t.h).to.be.at.least(44);
        await page.selectOption('#user', 'bob');
        await page.focus('#open-city-pass');
        await page.keyboard.press('Enter');
        const frame = await h5Frame(page);
        await frame.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
        await page.waitForFunction(() => /is open for/.test(document.getElementById('status')!.textContent ?? ''));
        expect(await page.textContent('#status')).to.equal('Lisbon City Pass is open for Bob Okafor.');
        expect(await page.evaluate(() => document.activeElement?.id)).to.equal('open-city-pass');
        // Scrolled (smoothly) so that the WebView's top is in the upper half of the phone's screen.
        await page.waitForFunction((h) => document.getElementById('phone')!.getBoundingClientRect().top < h / 2, PHONE.height, { timeout: 5000 });
        expect(await frame.textContent('.viewer')).to.equal('Opened from Demo for Bob Okafor');
        await page.waitForTimeout(600); // the smooth scroll settles
        if (host === '127.0.0.1') writeFileSync(`${SCREENSHOTS}demo-phone-light.png`, await page.screenshot({ type: 'png' }));

        // A reload inside the WebView picks the session up from IndexedDB (the WebCrypto path). As
        // `localhost` the H5 frame is cross-site to the demo, and Chromium denies a third-party
        // frame its IndexedDB: the session there was in memory only, and the reload finds none.
        if (host === '127.0.0.1') await frame.waitForFunction(sessionKept, 'city-pass', { timeout: 10_000 });
        await frame.evaluate(() => location.reload());
        if (host === '127.0.0.1') {
          const reloaded = await h5Frame(page);
          await reloaded.waitForSelector('body[data-state="ready"][data-session="restored"]', { timeout: 30_000 });
          // Once no session is kept any more, a reload says so; its Back to the app reaches the app, which closes it.
          await reloaded.evaluate(forgetSession);
          await reloaded.evaluate(() => location.reload());
        }
        const again = await h5Frame(page);
        await again.waitForSelector('body[data-error-code="at_missing"]', { timeout: 30_000 });
        await page.waitForFunction(() => /could not be shown \(at_missing\)/.test(document.getElementById('status')!.textContent ?? ''));
        await again.click('button.back');
        await page.waitForFunction(() => document.getElementById('status')!.textContent === 'Back from Lisbon City Pass.');
        expect(await page.evaluate(() => document.activeElement?.id)).to.equal('open-city-pass');
        expect(await page.getAttribute('#webview', 'src')).to.equal(null);
        await page.close();
      });
    }

    it('in dark mode (screenshot for the README)', async function () {
      const page = await dark.newPage();
      await page.goto(system.urls.demo);
      await page.click('#open-travel-insurance');
      const frame = await h5Frame(page);
      await frame.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      await page.waitForTimeout(600);
      await frame.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      writeFileSync(`${SCREENSHOTS}demo-phone-dark.png`, await page.screenshot({ type: 'png' }));
      await page.close();
    });
  });
});
