/**
 * The proof-of-work gate with the H5 page in real headless Chromium: the page solves a real
 * challenge in a Web Worker with its "Checking your browser…" progress shown (and on the main
 * thread where there is no Worker), and, with third-party cookies blocked (the page on
 * `localhost`, the gateway on `127.0.0.1`: another site), sends its pass as the `Broker-Pass`
 * header once the cookie does not come back.
 */
import { expect } from 'chai';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import { MemoryStore } from '../../platform/store/index.ts';
import type { RunningSystem } from '../../system/start.ts';
import { CHROMIUM_ARGS, requireChromium } from '../support/env.ts';
import { demoClient } from '../support/clients.ts';
import { startTestSystem } from '../support/system.ts';
import { freePort } from '../../scripts/free-port.ts';
import { challengeMetrics } from '../../flows/challenge/metrics.ts';

/** Records what the page shows of the check: each progress value, and whether the box was there. */
const RECORD_PROGRESS = `
  window.__pow = { progress: [], boxSeen: false, text: '' };
  new MutationObserver(() => {
    const p = document.body && document.body.dataset.powProgress;
    if (p != null && window.__pow.progress[window.__pow.progress.length - 1] !== p) window.__pow.progress.push(p);
    const box = document.getElementById('pow-progress');
    if (box) { window.__pow.boxSeen = true; window.__pow.text = box.textContent; }
  }).observe(document, { subtree: true, childList: true, attributes: true });
`;


describe('H5 page in Chromium behind the proof-of-work gate', function () {
  this.timeout(90_000);
  let browser: Browser;
  let system: RunningSystem;
  const store = new MemoryStore();

  before(async function () {
    const executablePath = requireChromium(this);
    const port = await freePort();
    system = await startTestSystem({
      store,
      env: {
        H5_PORT: String(port), H5_PUBLIC_URL: `http://localhost:${port}`,
        // base maxnumber 2 × 40000 × 1 s = 80000: a real search, with several progress steps.
        CHALLENGE_ROUTES: 'exchange,product', CHALLENGE_HASH_RATE: '40000', CHALLENGE_TARGET_MS: '1000',
      },
    });
    browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS, '--test-third-party-cookie-phaseout'], headless: true });
  });
  after(async function () {
    await browser?.close();
    await system?.close(0);
    await store.close();
  });

  async function openProduct(opts: { noWorker?: boolean; withoutIncludedProduct?: boolean } = {}): Promise<{ page: Page; requests: Request[] }> {
    const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'bob', productId: 'city-pass' });
    const context = await browser.newContext();
    const page = await context.newPage();
    if (opts.withoutIncludedProduct) {
      await page.route('**/v1/visit-tokens', async (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        const answer = await route.fetch();
        const body = answer.status() === 200 ? { ...(await answer.json()), product: undefined } : undefined;
        await route.fulfill(body ? { response: answer, json: body } : { response: answer });
      });
    }
    if (opts.noWorker) await page.addInitScript('delete window.Worker;');
    await page.addInitScript(RECORD_PROGRESS);
    const requests: Request[] = [];
    page.on('request', (r) => requests.push(r));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${system.urls.h5}/h5/products/city-pass#at=${token.at}`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    expect(await page.textContent('h1.product-name')).to.equal('Lisbon City Pass');
    expect(errors).to.deep.equal([]);
    return { page, requests };
  }

  it('solves a real challenge in a Web Worker, showing "Checking your browser…" with progress', async function () {
    const before = { ...challengeMetrics };
    const { page, requests } = await openProduct();
    expect(await page.getAttribute('body', 'data-pow-solver')).to.equal('worker');
    const solved = requests.find((r) => r.headers()['broker-pow']);
    const number = JSON.parse(Buffer.from(solved!.headers()['broker-pow']!, 'base64').toString()).number as number;
    expect(await page.getAttribute('body', 'data-pow')).to.equal('solved');
    const seen = (await page.evaluate('window.__pow')) as { progress: string[]; boxSeen: boolean; text: string };
    expect(seen.boxSeen, JSON.stringify(seen)).to.equal(true);
    expect(seen.text).to.match(/Checking your browser/);
    expect(seen.progress[0]).to.equal('0');
    // The worker reports after each slice of 5000 numbers it tried without finding the solution.
    if (number >= 5000) expect(seen.progress.length, JSON.stringify(seen)).to.be.at.least(2);
    // The box is gone once solved.
    expect(await page.$('#pow-progress')).to.equal(null);
    expect(challengeMetrics.issued).to.be.above(before.issued);
    expect(challengeMetrics.solved).to.be.above(before.solved);
    await page.context().close();
  });

  it('without Web Workers, solves on the main thread', async function () {
    const { page } = await openProduct({ noWorker: true });
    expect(await page.getAttribute('body', 'data-pow-solver')).to.equal('main-thread');
    await page.context().close();
  });

  it('with third-party cookies blocked, the page sends its pass as the Broker-Pass header and skips a second challenge', async function () {
    const before = { ...challengeMetrics };
    // The product without the exchange's answer (as from a gateway that leaves it out), so that the
    // page makes a product call of its own after it has its pass.
    const { page, requests } = await openProduct({ withoutIncludedProduct: true });
    expect(await page.getAttribute('body', 'data-pass')).to.equal('held');
    // One challenge solved (the exchange); the product call went through on the pass.
    expect(challengeMetrics.solved - before.solved).to.equal(1);
    expect(challengeMetrics.passesIssued - before.passesIssued).to.equal(1);
    expect(challengeMetrics.bypassed - before.bypassed).to.be.at.least(1);
    const productCalls = requests.filter((r) => r.url().includes('/v1/products/city-pass') && r.method() === 'GET');
    const headers = await Promise.all(productCalls.map((r) => r.allHeaders()));
    // The cookie never came back to the gateway (another site, third-party cookies blocked)...
    for (const h of headers) expect(h.cookie ?? '').not.to.include('broker_pass');
    // ...so the last product call carried the pass as a header, and got the product.
    const last = productCalls.at(-1)!;
    expect((await last.allHeaders())['broker-pass']).to.match(/^bp1\./);
    expect((await last.response())!.status()).to.equal(200);
    await page.context().close();
  });
});
