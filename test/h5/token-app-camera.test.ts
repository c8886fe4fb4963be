/**
 * The token app's camera (h5/client/camera.ts): Chromium with a fake camera that shows the binding's
 * real QR code (a Y4M file drawn from the `qrcode` package's module matrix). Where this Chromium has
 * `BarcodeDetector`, the token app scans it end to end; where it has not (Chromium on Linux has
 * none), the "Scan with camera" button stays hidden and the paste field binds, and the test checks
 * that the fake camera really shows that QR code under the page's CSP. A stand-in detector (the one
 * thing this Chromium lacks) checks when the button shows and that a scan stops the camera.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import QRCode from 'qrcode';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { RunningSystem } from '../../system/start.ts';
import type { RedisStore } from '../../platform/store/redis.ts';
import { connectTestRedis, CHROMIUM_ARGS, requireChromium } from '../support/env.ts';
import { demoClient } from '../support/clients.ts';
import { startTestSystem } from '../support/system.ts';
import { maskAccount, parseBindingUri } from '../../protocol/binding.ts';
import { canScanQr } from '../../h5/client/camera.ts';

const W = 640;
const H = 480;

/** Where the QR's modules fall in the camera frame. */
function layout(text: string): { size: number; dark: boolean[]; scale: number; ox: number; oy: number } {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const size = modules.size;
  const scale = Math.floor(Math.min(W, H) / (size + 8));
  const dark = Array.from({ length: size * size }, (_, i) => !!modules.get(Math.floor(i / size), i % size));
  return { size, dark, scale, ox: Math.floor((W - size * scale) / 2), oy: Math.floor((H - size * scale) / 2) };
}

/** A one-frame Y4M video (YUV 4:2:0) of `text` as a QR code, black on white with its quiet zone. */
function qrVideo(text: string): Buffer {
  const { size, dark, scale, ox, oy } = layout(text);
  const y = Buffer.alloc(W * H, 235);
  for (let i = 0; i < dark.length; i++) {
    if (!dark[i]) continue;
    const top = oy + Math.floor(i / size) * scale;
    const left = ox + (i % size) * scale;
    for (let row = top; row < top + scale; row++) y.fill(16, row * W + left, row * W + left + scale);
  }
  const chroma = Buffer.alloc((W * H) / 2, 128);
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\nFRAME\n`), y, chroma]);
}

describe('token app: canScanQr (what the page reads to show "Scan with camera")', function () {
  const gum = { mediaDevices: { getUserMedia: () => undefined } };
  const detector = (formats: string[]) => Object.assign(class {}, { getSupportedFormats: async () => formats }) as never;
  it('needs BarcodeDetector reading qr_code and getUserMedia', async function () {
    expect(await canScanQr({ BarcodeDetector: detector(['ean_13', 'qr_code']), navigator: gum })).to.equal(true);
    expect(await canScanQr({ BarcodeDetector: detector(['ean_13', 'qr_code']), navigator: {} }), 'no getUserMedia').to.equal(false);
    expect(await canScanQr({ BarcodeDetector: detector(['ean_13', 'qr_code']), navigator: { mediaDevices: {} } }), 'no getUserMedia').to.equal(false);
    expect(await canScanQr({ BarcodeDetector: detector(['ean_13']), navigator: gum }), 'no qr_code').to.equal(false);
    expect(await canScanQr({ navigator: gum }), 'no BarcodeDetector').to.equal(false);
  });
});

describe('token app in Chromium with a fake camera showing the QR code', function () {
  this.timeout(60_000);
  const INTERNAL_TOKEN = `internal-${randomBytes(16).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'token-app-camera-'));
  const video = join(dir, 'qr.y4m');
  let browser: Browser;
  let store: RedisStore | undefined;
  let system: RunningSystem | undefined;

  before(async function () {
    const executablePath = requireChromium(this);
    store = await connectTestRedis(this, `test:${randomBytes(6).toString('hex')}:`);
    system = await startTestSystem({ store, env: { INTERNAL_TOKEN } });
    writeFileSync(video, qrVideo('not yet'));
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS,
        '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`],
    });
  });
  after(async function () {
    await browser?.close();
    await system?.close(0);
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A binding page waiting for the phone; the camera now shows its QR code. */
  async function binding(): Promise<{ page: Page; uri: string }> {
    const at = (await demoClient(system!.urls.gateway).requestAccessToken({ userId: `u${randomBytes(4).toString('hex')}`, productId: 'city-pass' })).at;
    const page = await browser.newPage();
    await page.goto(`${system!.urls.h5}/h5/bind#at=${encodeURIComponent(at)}`);
    await page.waitForSelector('body[data-binding="waiting"]');
    const uri = (await page.getAttribute('#bind-link', 'href'))!;
    writeFileSync(video, qrVideo(uri));
    return { page, uri };
  }

  async function tokenApp(init?: string): Promise<{ context: BrowserContext; app: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 380, height: 640 } });
    await context.grantPermissions(['camera'], { origin: new URL(system!.urls.h5).origin });
    if (init) await context.addInitScript(init);
    const app = await context.newPage();
    const errors: string[] = [];
    app.on('pageerror', (e) => errors.push(e.message));
    const res = await app.goto(`${system!.urls.h5}/h5/token-app`);
    expect(res!.headers()['permissions-policy']).to.equal('camera=(self)');
    await app.waitForSelector('body[data-camera]');
    return { context, app, errors };
  }

  async function confirmAndSend(app: Page, page: Page, uri: string): Promise<void> {
    await app.waitForSelector('body[data-token="ready"]');
    expect(await app.textContent('#ta-origin')).to.equal(new URL(system!.urls.h5).origin);
    expect(await app.textContent('#ta-account')).to.equal(maskAccount(parseBindingUri(uri)!.account));
    expect(await page.getAttribute('body', 'data-binding'), 'nothing is sent before the user confirms').to.equal('waiting');
    await app.click('#ta-send');
    await app.waitForSelector('body[data-token="sent"]');
    await page.waitForSelector('body[data-binding="bound"]');
  }

  it('scans the QR code where the browser has BarcodeDetector; else the button is hidden and the paste field binds', async function () {
    const { page, uri } = await binding();
    const { context, app, errors } = await tokenApp();
    const hasDetector = await app.evaluate(() => 'BarcodeDetector' in globalThis);
    if (hasDetector) {
      expect(await app.getAttribute('body', 'data-camera')).to.equal('available');
      await app.click('#ta-scan');
      await confirmAndSend(app, page, uri);
      expect(await app.getAttribute('body', 'data-camera')).to.equal('done');
      expect(await app.isVisible('#ta-video'), 'the camera is off').to.equal(false);
    } else {
      expect(await app.getAttribute('body', 'data-camera')).to.equal('none');
      expect(await app.isVisible('#ta-scan')).to.equal(false);
      // The camera itself works on this page (its CSP and Permissions-Policy) and shows the QR code.
      const { size, dark, scale, ox, oy } = layout(uri);
      const seen = await app.evaluate(async ({ size, scale, ox, oy }) => {
        const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
        const v = document.getElementById('ta-video') as HTMLVideoElement;
        v.srcObject = stream;
        await v.play();
        while (v.readyState < 2) await new Promise((r) => setTimeout(r, 50));
        const canvas = document.createElement('canvas');
        canvas.width = v.videoWidth;
        canvas.height = v.videoHeight;
        const g = canvas.getContext('2d')!;
        g.drawImage(v, 0, 0);
        for (const t of stream.getTracks()) t.stop();
        v.srcObject = null;
        const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
        return Array.from({ length: size * size }, (_, i) => {
          const x = ox + Math.floor(((i % size) + 0.5) * scale);
          const y = oy + Math.floor((Math.floor(i / size) + 0.5) * scale);
          return px[(y * canvas.width + x) * 4]! < 128;
        });
      }, { size, scale, ox, oy });
      expect(seen.length).to.equal(dark.length);
      expect(seen.filter((d, i) => d !== dark[i]).length, 'modules the camera shows differently').to.equal(0);
      await app.fill('#ta-text', uri);
      await app.click('#ta-read');
      await confirmAndSend(app, page, uri);
    }
    expect(errors).to.deep.equal([]);
    await context.close();
    await page.close();
  });

  it('token-app.js stays small: the camera adds no decoder (about 2 KB gzipped)', async function () {
    const js = Buffer.from(await (await fetch(`${system!.urls.h5}/h5/assets/token-app.js`)).arrayBuffer());
    expect(js.toString()).to.include('getUserMedia');
    expect(gzipSync(js, { level: 9 }).length).to.be.below(2 * 1024);
  });

  /** A stand-in for BarcodeDetector (absent in this Chromium): it reads the URI given to it once a real camera frame is drawn. */
  const standIn = (formats: string[], value: string) => `
    globalThis.__streams = [];
    const gum = navigator.mediaDevices && navigator.mediaDevices.getUserMedia && navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    if (gum) navigator.mediaDevices.getUserMedia = async (c) => { const s = await gum(c); globalThis.__streams.push(s); return s; };
    globalThis.BarcodeDetector = class {
      constructor(o) { this.formats = o.formats; }
      static async getSupportedFormats() { return ${JSON.stringify(formats)}; }
      async detect(v) {
        if (!(v instanceof HTMLVideoElement) || !(v.srcObject instanceof MediaStream) || v.videoWidth === 0) throw new Error('no frame');
        globalThis.__detectedFormats = this.formats;
        return [{ rawValue: 'https://example.com/not-a-binding' }, { rawValue: ${JSON.stringify(value)} }];
      }
    };`;

  it('with a stand-in detector: a detected value takes the paste path (confirm first) and the camera stops', async function () {
    const { page, uri } = await binding();
    const { context, app, errors } = await tokenApp(standIn(['qr_code'], uri));
    expect(await app.getAttribute('body', 'data-camera')).to.equal('available');
    expect(await app.isVisible('#ta-scan')).to.equal(true);
    await app.click('#ta-scan');
    await app.waitForSelector('body[data-camera="done"]');
    expect(await app.evaluate(() => (globalThis as unknown as { __detectedFormats: string[] }).__detectedFormats)).to.deep.equal(['qr_code']);
    const tracks = await app.evaluate(() => (globalThis as unknown as { __streams: MediaStream[] }).__streams.flatMap((s) => s.getTracks().map((t) => `${t.kind}:${t.readyState}`)));
    expect(tracks).to.deep.equal(['video:ended']);
    expect(await app.isVisible('#ta-video')).to.equal(false);
    await confirmAndSend(app, page, uri);
    expect(errors).to.deep.equal([]);
    await context.close();
    await page.close();
  });

  it('with a stand-in detector: the button stays hidden without getUserMedia or without qr_code', async function () {
    for (const init of [
      `delete MediaDevices.prototype.getUserMedia;${standIn(['qr_code'], 'x')}`,
      standIn(['ean_13', 'code_128'], 'x'),
    ]) {
      const { context, app, errors } = await tokenApp(init);
      expect(await app.getAttribute('body', 'data-camera')).to.equal('none');
      expect(await app.isVisible('#ta-scan')).to.equal(false);
      expect(await app.isVisible('#ta-text'), 'the paste field stays').to.equal(true);
      expect(errors).to.deep.equal([]);
      await context.close();
    }
  });
});
