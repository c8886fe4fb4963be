/**
 * Security headers on every answer: API answers (2xx and problems) and the H5 pages. The pages'
 * CSP allows no inline script or style; every answer that carries a token is never cached.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import nodeHttp from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { MemoryStore } from '../../platform/store/index.ts';
import { BrokerClient } from '../../sdk/broker-client.ts';
import { createDemoApp, DEMO_OPEN_LIMIT } from '../../third-party-demo/app.ts';
import { demoClient, fetchEncJwk, fullFlow, http, sealEnvelope, exchange } from '../support/clients.ts';
import { DEMO_APP, useTestSystem } from '../support/system.ts';

type Headers = Record<string, unknown>;

function directives(csp: unknown): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of String(csp ?? '').split(';').map((s) => s.trim()).filter(Boolean)) {
    const [name, ...values] = part.split(/\s+/);
    map.set(name!.toLowerCase(), values);
  }
  return map;
}

function expectApiHeaders(what: string, h: Headers): void {
  expect(h['x-content-type-options'], `${what}: nosniff`).to.equal('nosniff');
  expect(h['referrer-policy'], `${what}: no-referrer`).to.equal('no-referrer');
  const csp = directives(h['content-security-policy']);
  expect(csp.get('default-src'), `${what}: CSP default-src 'none'`).to.deep.equal(["'none'"]);
  expect(csp.get('frame-ancestors'), `${what}: not framable`).to.deep.equal(["'none'"]);
  expect(h['x-powered-by'], `${what}: no X-Powered-By`).to.equal(undefined);
}

describe('security headers on every answer', function () {
  const env = useTestSystem(() => new MemoryStore());
  const basic = `Basic ${Buffer.from(`${DEMO_APP.appId}:${DEMO_APP.appSecret}`).toString('base64')}`;

  it('every gateway answer, 2xx or problem, has nosniff, no-referrer and a deny-all CSP', async function () {
    const gw = env.system.urls.gateway;
    const { reply } = await fullFlow(gw);
    const answers: [string, Promise<{ headers: Headers }>][] = [
      ['GET /healthz', http.get(`${gw}/healthz`)],
      ['GET /.well-known/jwks.json', http.get(`${gw}/.well-known/jwks.json`)],
      ['GET /v1/products/city-pass (200)', http.get(`${gw}/v1/products/city-pass`, { headers: { authorization: `Bearer ${reply.vt}` } })],
      ['GET /v1/products/city-pass (401)', http.get(`${gw}/v1/products/city-pass`)],
      ['POST /v1/visit-tokens (400)', http.post(`${gw}/v1/visit-tokens`, { envelope: 'x' })],
      ['POST /v1/access-tokens (401)', http.post(`${gw}/v1/access-tokens`, { userId: 'a' })],
      ['GET /v1/access-tokens (405)', http.get(`${gw}/v1/access-tokens`)],
      ['GET /nothing (404)', http.get(`${gw}/nothing`)],
      ['POST /v1/introspect (200)', http.post(`${gw}/v1/introspect`, `token=${reply.vt}`, { headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' } })],
    ];
    for (const [what, res] of answers) expectApiHeaders(what, (await res).headers);
  });

  it('every answer carrying a token, or refusing one, says Cache-Control: no-store', async function () {
    const gw = env.system.urls.gateway;
    const token = await demoClient(gw).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
    const at = await http.post(`${gw}/v1/access-tokens`, '{}', { headers: { 'content-type': 'application/json' } });
    const ex = await exchange(gw, sealEnvelope(await fetchEncJwk(gw), token.at).envelope);
    const again = await exchange(gw, sealEnvelope(await fetchEncJwk(gw), token.at).envelope);
    const { reply } = await fullFlow(gw);
    const intro = await http.post(`${gw}/v1/introspect`, `token=${reply.vt}`, { headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' } });
    expect(ex.status).to.equal(200);
    expect(again.status).to.equal(401);
    expect(intro.status).to.equal(200);
    for (const [what, res] of [['AT refusal', at], ['VT exchange', ex], ['AT replay', again], ['introspection', intro]] as const) {
      expect(res.headers['cache-control'], what).to.equal('no-store');
    }
  });

  it('the H5 product page: CSP without unsafe-inline or unsafe-eval, scripts from our origin only, nosniff, no-referrer, no-store', async function () {
    const res = await http.get(`${env.system.urls.h5}/h5/products/city-pass`);
    expect(res.status).to.equal(200);
    const h = res.headers as Headers;
    const raw = String(h['content-security-policy']);
    expect(raw).not.to.match(/unsafe-inline|unsafe-eval|unsafe-hashes|\*/);
    const csp = directives(raw);
    expect(csp.get('default-src')).to.deep.equal(["'none'"]);
    // Our origin, and the one inline script by its hash (the boot script, decision 89).
    const html = String(res.data);
    const inline = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(inline).to.have.length(1);
    expect(csp.get('script-src')).to.deep.equal(["'self'", `'sha256-${createHash('sha256').update(inline[0]!, 'utf8').digest('base64')}'`]);
    expect(csp.get('style-src')).to.deep.equal(["'self'"]);
    expect(csp.get('connect-src')).to.deep.equal([new URL(env.system.urls.gateway).origin]);
    expect(csp.get('base-uri')).to.deep.equal(["'none'"]);
    expect(csp.has('frame-ancestors')).to.equal(true);
    expect(h['x-content-type-options']).to.equal('nosniff');
    expect(h['referrer-policy']).to.equal('no-referrer');
    expect(h['cache-control']).to.equal('no-store');
    // Nothing else inline that the CSP would have to allow: the other scripts are files, or the
    // boot script's JSON data block, which never runs.
    expect(html).to.match(/<script[^>]+src=/);
    expect(html).not.to.match(/<script(?![^>]*\bsrc=)(?![^>]*type="application\/json")[^>]+>/);
    expect(html).not.to.match(/\son[a-z]+=|\sstyle=|<style/i);
  });

  it('the H5 server\'s problems and assets carry nosniff too', async function () {
    const missing = await http.get(`${env.system.urls.h5}/h5/assets/nothing.js`);
    expect(missing.status).to.equal(404);
    expectApiHeaders('H5 asset 404', missing.headers as Headers);
    const page404 = await http.get(`${env.system.urls.h5}/h5/products/no-such-product`);
    expect(page404.status).to.equal(404);
    expect(String(page404.headers['content-security-policy'])).not.to.match(/unsafe-inline/);
  });

  it('the demo app\'s page: CSP without unsafe-inline', async function () {
    const res = await http.get(env.system.urls.demo);
    expect(res.status).to.equal(200);
    expect(String(res.headers['content-security-policy'])).to.match(/default-src 'none'/).and.not.match(/unsafe-inline|unsafe-eval/);
    expect(res.headers['referrer-policy']).to.equal('no-referrer');
  });

  // Outside review (hardening issue): the demo's page had no frame-ancestors and no nosniff, and
  // its /api/open minted ATs for anyone with no limit. Both failed before.
  it('the demo app\'s page forbids framing and sniffing; its assets and API answers carry the same headers as ours', async function () {
    const demo = env.system.urls.demo;
    const page = await http.get(demo);
    const csp = directives(page.headers['content-security-policy']);
    expect(csp.get('frame-ancestors'), 'the demo page is not framable').to.deep.equal(["'none'"]);
    expect(csp.get('default-src')).to.deep.equal(["'none'"]);
    expect(page.headers['x-content-type-options']).to.equal('nosniff');
    expect(page.headers['referrer-policy']).to.equal('no-referrer');
    for (const [what, res] of [
      ['GET /demo.js', await http.get(`${demo}/demo.js`)],
      ['GET /demo.css', await http.get(`${demo}/demo.css`)],
      ['POST /api/open (400)', await http.post(`${demo}/api/open`, { userId: 'nobody', productId: 'city-pass' })],
      ['GET /nothing (404)', await http.get(`${demo}/nothing`)],
    ] as const) {
      expectApiHeaders(what, res.headers as Headers);
    }
  });

  it('the demo\'s POST /api/open is limited per client address: 429 rate_limited with Retry-After, and the broker is not asked', async function () {
    const gw = env.system.urls.gateway;
    let brokerCalls = 0;
    const client = new BrokerClient({ gatewayUrl: gw, appId: DEMO_APP.appId, appSecret: DEMO_APP.appSecret, encKey: DEMO_APP.encKey });
    const counting = Object.assign(Object.create(client), {
      requestAccessToken: (...args: Parameters<BrokerClient['requestAccessToken']>) => {
        brokerCalls++;
        return client.requestAccessToken(...args);
      },
    }) as BrokerClient;
    const app = createDemoApp({
      client: counting, appName: 'Demo', h5Url: env.system.urls.h5, products: [{ id: 'city-pass', name: 'City pass' }],
      log: pino({ level: 'silent' }), openLimit: { limit: 2, windowSeconds: 60 },
    });
    const server = nodeHttp.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const open = () => http.post(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/open`, { userId: 'alice', productId: 'city-pass' });
      for (let i = 0; i < 2; i++) {
        const ok = await open();
        expect(ok.status, JSON.stringify(ok.data)).to.equal(200);
        expect(ok.data.url).to.match(/#at=/);
      }
      const refused = await open();
      expect(refused.status).to.equal(429);
      expect(refused.data.code).to.equal('rate_limited');
      expect(Number(refused.headers['retry-after'])).to.be.greaterThan(0);
      expectApiHeaders('POST /api/open (429)', refused.headers as Headers);
      expect(brokerCalls, 'no AT asked for over the limit').to.equal(2);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // The demo that the system runs has the default limit: over it, 429 even for requests it would refuse anyway.
    const statuses: number[] = [];
    for (let i = 0; i <= DEMO_OPEN_LIMIT.limit; i++) statuses.push((await http.post(`${env.system.urls.demo}/api/open`, { userId: 'nobody', productId: 'x' })).status);
    expect(statuses.at(-1)).to.equal(429);
  });
});
