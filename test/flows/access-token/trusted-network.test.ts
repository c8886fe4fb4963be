import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { signRequest } from '../../../platform/http/signature.ts';
import { createRegistry } from '../../../flows/apps/registry.ts';
import type { TokenStore } from '../../../platform/store/index.ts';
import { startSystem, type RunningSystem } from '../../../system/start.ts';
import { LogCapture, testConfig, testKeys } from '../../support/system.ts';
import { RecordingStore } from '../../support/recording-store.ts';


const app = (appId: string, n: number, extra: Record<string, unknown> = {}) => ({
  appId,
  name: appId,
  appSecret: `${appId}-secret-0123456789abcdefghijklmnopqrstuvwxyz`,
  encKey: Buffer.alloc(32, n).toString('base64url'),
  products: ['city-pass'],
  ...extra,
});
// The tests connect from 127.0.0.1.
const INSIDE = app('inside-app', 1, { trustedNetworks: ['10.0.0.0/8', '127.0.0.0/8'] });
const OUTSIDE = app('outside-app', 2, { trustedNetworks: ['10.0.0.0/8', '2001:db8::/32'] });
const OPEN = app('open-app', 3);
const EDGE = app('edge-app', 4, { trustedNetworks: ['10.0.0.0/8'], requiredHeader: { name: 'x-operator-subscriber-id', claim: 'subscriber' } });
const EDGE_LOCAL = app('edge-local-app', 5, { trustedNetworks: ['127.0.0.0/8'], requiredHeader: { name: 'x-operator-subscriber-id', claim: 'subscriber' } });
const registry = () => createRegistry({ apps: [INSIDE, OUTSIDE, OPEN, EDGE, EDGE_LOCAL] });

interface Send {
  secret?: string;
  nonce?: string;
  headers?: Record<string, string | string[]>;
  /**
   * Lines the trusted proxy appends after everything the client sent: the client's own lines
   * (Host, the signature, `headers`) are padded to exactly 100, so the first of these is the 101st.
   */
  proxyLines?: [string, string][];
}

/** The request's header lines as a flat [name, value, ...] list, `proxyLines` from the 101st on. */
function paddedLines(gateway: string, headers: Record<string, string | string[]>, proxyLines: [string, string][]): string[] {
  const lines: [string, string][] = [['Host', new URL(gateway).host]];
  for (const [name, value] of Object.entries(headers)) for (const v of [value].flat()) lines.push([name, v]);
  for (let i = 0; lines.length < 100; i++) lines.push([`x-pad-${i}`, 'a']);
  expect(lines.length).to.equal(100);
  return [...lines, ...proxyLines].flat();
}

/** Signs and sends an AT request for `entry` over plain node:http (so headers may repeat). */
function requestAt(gateway: string, entry: { appId: string; appSecret: string }, opts: Send = {}) {
  const body = JSON.stringify({ userId: 'alice', productId: 'city-pass' });
  const base = { 'content-type': 'application/json' };
  const sig = signRequest({
    method: 'POST', targetUri: `${gateway}/v1/access-tokens`, headers: base, body,
    keyId: entry.appId, secret: opts.secret ?? entry.appSecret, nonce: opts.nonce,
  });
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; data: Record<string, any> }>((resolve, reject) => {
    const headers = { ...base, ...sig, ...opts.headers, 'content-length': String(Buffer.byteLength(body)) };
    const lines = opts.proxyLines ? paddedLines(gateway, headers, opts.proxyLines) : headers;
    const req = http.request(`${gateway}/v1/access-tokens`, { method: 'POST', headers: lines }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, data: text ? JSON.parse(text) : {} });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function expectUntrusted(res: { status: number; headers: http.IncomingHttpHeaders; data: Record<string, any> }) {
  expect(res.status, JSON.stringify(res.data)).to.equal(403);
  expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
  expect(res.data).to.include({ status: 403, code: 'untrusted_network' });
  expect(res.data.detail).to.match(/no token was issued/);
  expect(res.headers['cache-control']).to.equal('no-store');
}

describe('AT issuance only over an app\'s trusted networks', function () {
  describe('without trusted proxies: the socket address decides', function () {
    let system: RunningSystem;
    let store: RecordingStore;
    let logs: LogCapture;
    let gw: string;

    before(async function () {
      store = new RecordingStore();
      logs = new LogCapture();
      system = await startSystem(testConfig(), { components: ['auth', 'gateway'], store: store as TokenStore, registry, keys: testKeys(), log: logs.logger });
      gw = system.urls.gateway;
    });
    after(async function () {
      await system?.close(0);
      await store?.close();
    });

    it('from a trusted network: 201 and an AT', async function () {
      const before = store.issuedAccessTokens();
      const res = await requestAt(gw, INSIDE);
      expect(res.status, JSON.stringify(res.data)).to.equal(201);
      expect(store.issuedAccessTokens()).to.equal(before + 1);
    });

    it('an app without trustedNetworks is served from any network, as before', async function () {
      expect((await requestAt(gw, OPEN)).status).to.equal(201);
    });

    it('from outside: 403 untrusted_network, no AT written, an audit line', async function () {
      const before = store.issuedAccessTokens();
      const res = await requestAt(gw, OUTSIDE);
      expectUntrusted(res);
      expect(res.data.detail).to.equal('Access tokens for this app are issued only over its trusted network; no token was issued.');
      expect(store.issuedAccessTokens()).to.equal(before);
      const line = logs.lines.find((l) => l.audit === 'issuance.refused' && l.appId === 'outside-app');
      expect(line).to.include({ reason: 'outside_trusted_networks', clientAddress: '127.0.0.1' });
    });

    it('a forged X-Forwarded-For from a client that is not a trusted proxy is ignored', async function () {
      const before = store.issuedAccessTokens();
      expectUntrusted(await requestAt(gw, OUTSIDE, { headers: { 'x-forwarded-for': '10.0.0.5' } }));
      expectUntrusted(await requestAt(gw, OUTSIDE, { headers: { 'x-forwarded-for': ['10.0.0.5', '10.0.0.6'] } }));
      expect(store.issuedAccessTokens()).to.equal(before);
      // And it cannot push a request out of the network either.
      expect((await requestAt(gw, INSIDE, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).to.equal(201);
    });

    it('a refused signature answers invalid_signature: nothing about the networks leaks', async function () {
      const res = await requestAt(gw, OUTSIDE, { secret: 'not-the-secret-0123456789abcdefghijklmnop' });
      expect(res.status).to.equal(401);
      expect(res.data.code).to.equal('invalid_signature');
    });

    it('a refused request does not use up its nonce', async function () {
      const nonce = 'untrusted-nonce-0123456789';
      const before = store.written.length;
      expectUntrusted(await requestAt(gw, OUTSIDE, { nonce }));
      expect(store.written.length).to.equal(before);
    });

    it('a required edge header is not believed without a trusted proxy', async function () {
      const before = store.issuedAccessTokens();
      expectUntrusted(await requestAt(gw, EDGE, { headers: { 'x-operator-subscriber-id': 'sub-42', 'x-forwarded-for': '10.0.0.5' } }));
      // From a trusted network, but straight from the client: the header is its own claim.
      const res = await requestAt(gw, EDGE_LOCAL, { headers: { 'x-operator-subscriber-id': 'sub-42' } });
      expectUntrusted(res);
      expect(res.data.detail).to.match(/did not vouch for this request; no token was issued/);
      expect(store.issuedAccessTokens()).to.equal(before);
      const line = logs.lines.find((l) => l.audit === 'issuance.refused' && l.appId === 'edge-local-app');
      expect(line).to.include({ reason: 'not_via_trusted_proxy', clientAddress: '127.0.0.1' });
    });

    it('warns at start when an app needs an edge header but no proxy is trusted', function () {
      const warned = logs.lines.filter((l) => l.level === 40 && /TRUSTED_PROXIES is empty/.test(String(l.msg))).map((l) => l.appId);
      expect(warned).to.have.members(['edge-app', 'edge-local-app']);
    });
  });

  describe('behind a trusted proxy (TRUSTED_PROXIES=127.0.0.1): X-Forwarded-For decides, read from the right', function () {
    let system: RunningSystem;
    let store: RecordingStore;
    let gw: string;
    /** What the gateway sent to auth: a stand-in auth that records each AT request. */
    const authBodies: Record<string, unknown>[] = [];
    let fakeAuth: http.Server;

    before(async function () {
      store = new RecordingStore();
      fakeAuth = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          authBodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ accessToken: 'a.b.c.d.e', expiresIn: 300 }));
        });
      });
      await new Promise<void>((resolve) => fakeAuth.listen(0, '127.0.0.1', resolve));
      const authUrl = `http://127.0.0.1:${(fakeAuth.address() as AddressInfo).port}`;
      system = await startSystem(testConfig({ TRUSTED_PROXIES: '127.0.0.1', AUTH_URL: authUrl }), {
        components: ['gateway'], store: store as TokenStore, registry, keys: [], log: pino({ level: 'silent' }),
      });
      gw = system.urls.gateway;
    });
    after(async function () {
      await system?.close(0);
      await store?.close();
      await new Promise((resolve) => fakeAuth?.close(resolve));
    });

    /** Sends for `entry` and says whether the gateway passed the request on to auth. */
    async function issued(entry: { appId: string; appSecret: string }, headers: Record<string, string | string[]>) {
      const before = authBodies.length;
      const res = await requestAt(gw, entry, { headers });
      expect(res.status, JSON.stringify(res.data)).to.be.oneOf([201, 403]);
      if (res.status === 403) expectUntrusted(res);
      expect(authBodies.length).to.equal(before + (res.status === 201 ? 1 : 0));
      return res.status === 201;
    }

    it('the client named by the proxy is inside: 201', async function () {
      expect(await issued(OUTSIDE, { 'x-forwarded-for': '10.0.0.5' })).to.equal(true);
    });

    it('no X-Forwarded-For: the proxy itself is the client', async function () {
      expect(await issued(OUTSIDE, {})).to.equal(false);
      expect(await issued(INSIDE, {})).to.equal(true);
    });

    it('a spoofed leftmost entry does not help', async function () {
      expect(await issued(OUTSIDE, { 'x-forwarded-for': '10.0.0.5, 203.0.113.7' })).to.equal(false);
      expect(await issued(OUTSIDE, { 'x-forwarded-for': ['10.0.0.5', '203.0.113.7'] })).to.equal(false);
    });

    it('trusted hops are skipped', async function () {
      expect(await issued(OUTSIDE, { 'x-forwarded-for': '203.0.113.7, 10.0.0.5, 127.0.0.1' })).to.equal(true);
      expect(await issued(OUTSIDE, { 'x-forwarded-for': '10.0.0.5, 203.0.113.7, 127.0.0.1' })).to.equal(false);
    });

    it('IPv6 clients are matched against IPv6 ranges', async function () {
      expect(await issued(OUTSIDE, { 'x-forwarded-for': '2001:db8::77' })).to.equal(true);
      expect(await issued(OUTSIDE, { 'x-forwarded-for': '[2001:db9::77]:443' })).to.equal(false);
      expect(await issued(OUTSIDE, { 'x-forwarded-for': '::ffff:10.0.0.5' })).to.equal(true);
    });

    it('a malformed X-Forwarded-For never answers 5xx: the proxy is taken as the client', async function () {
      for (const xff of ['garbage', '10.0.0.5, unknown', ',,,', ' ', '10.0.0.5,', '1.2.3.4.5', '[10.0.0.5]', 'fe80::1%eth0', `${'9'.repeat(4000)}`, '10.0.0.5\t, ::1::1']) {
        const res = await requestAt(gw, OUTSIDE, { headers: { 'x-forwarded-for': xff } });
        expect(res.status, xff).to.be.below(500);
        expectUntrusted(res);
      }
      // Garbage left of the client is never read.
      expect(await issued(OUTSIDE, { 'x-forwarded-for': 'garbage, 10.0.0.5' })).to.equal(true);
    });

    it('the nonce of a refused request is not used up: the same request over the right network passes', async function () {
      const nonce = 'proxy-nonce-0123456789abc';
      expect((await requestAt(gw, OUTSIDE, { nonce, headers: { 'x-forwarded-for': '203.0.113.7' } })).status).to.equal(403);
      expect((await requestAt(gw, OUTSIDE, { nonce, headers: { 'x-forwarded-for': '10.0.0.5' } })).status).to.equal(201);
      expect((await requestAt(gw, OUTSIDE, { nonce, headers: { 'x-forwarded-for': '10.0.0.5' } })).data.code).to.equal('replayed_request');
    });

    it('the required header, set by the proxy: 201, and its value goes to auth as an attribute', async function () {
      expect(await issued(EDGE, { 'x-forwarded-for': '10.0.0.5', 'x-operator-subscriber-id': 'sub-42' })).to.equal(true);
      expect(authBodies.at(-1)).to.deep.equal({ appId: 'edge-app', userId: 'alice', productId: 'city-pass', attributes: { subscriber: 'sub-42' } });
    });

    it('apps without a required header send no attributes', async function () {
      expect(await issued(INSIDE, {})).to.equal(true);
      expect(authBodies.at(-1)).not.to.have.property('attributes');
    });

    it('the required header absent, malformed or sent twice: untrusted_network', async function () {
      expect(await issued(EDGE, { 'x-forwarded-for': '10.0.0.5' })).to.equal(false);
      expect(await issued(EDGE, { 'x-forwarded-for': '10.0.0.5', 'x-operator-subscriber-id': '' })).to.equal(false);
      expect(await issued(EDGE, { 'x-forwarded-for': '10.0.0.5', 'x-operator-subscriber-id': 'x'.repeat(129) })).to.equal(false);
      expect(await issued(EDGE, { 'x-forwarded-for': '10.0.0.5', 'x-operator-subscriber-id': ['sub-1', 'sub-2'] })).to.equal(false);
    });

    // Failed before the fix: the gateway read at most 100 header lines (maxHeadersCount) and
    // dropped the rest without a word, so the proxy's lines were lost: 201 from a forbidden
    // network, and the client's own subscriber id as the attribute.
    describe('the proxy\'s lines after 100 of the client\'s are read, never dropped', function () {
      async function issuedPadded(entry: { appId: string; appSecret: string }, headers: Record<string, string>, proxyLines: [string, string][]) {
        const before = authBodies.length;
        const res = await requestAt(gw, entry, { headers, proxyLines });
        expect(res.status, JSON.stringify(res.data)).to.be.oneOf([201, 403]);
        if (res.status === 403) expectUntrusted(res);
        expect(authBodies.length).to.equal(before + (res.status === 201 ? 1 : 0));
        return res.status === 201;
      }

      it('a forbidden network named by the proxy\'s X-Forwarded-For as the 101st line: 403 untrusted_network', async function () {
        expect(await issuedPadded(OUTSIDE, { 'x-forwarded-for': '10.0.0.5' }, [['X-Forwarded-For', '203.0.113.7']])).to.equal(false);
        // And the proxy's word is read there when it is the only one.
        expect(await issuedPadded(OUTSIDE, {}, [['X-Forwarded-For', '203.0.113.7']])).to.equal(false);
        expect(await issuedPadded(OUTSIDE, {}, [['X-Forwarded-For', '10.0.0.5']])).to.equal(true);
      });

      it('the operator\'s header as the 101st line: the client\'s own value is not taken for it', async function () {
        // The client sends its own subscriber id; the proxy appends the real one. Both are read,
        // so the value is two values: refused, and no forged attribute goes to auth.
        const forged = { 'x-forwarded-for': '10.0.0.5', 'x-operator-subscriber-id': 'forged-sub' };
        expect(await issuedPadded(EDGE, forged, [['X-Forwarded-For', '10.0.0.5'], ['X-Operator-Subscriber-Id', 'sub-42']])).to.equal(false);
        expect(authBodies.map((b) => (b.attributes as Record<string, string> | undefined)?.subscriber)).not.to.include('forged-sub');
        // A proxy that sets the header alone, after 100 client lines: its value is the attribute.
        expect(await issuedPadded(EDGE, {}, [['X-Forwarded-For', '10.0.0.5'], ['X-Operator-Subscriber-Id', 'sub-42']])).to.equal(true);
        expect(authBodies.at(-1)).to.deep.include({ appId: 'edge-app', attributes: { subscriber: 'sub-42' } });
      });
    });

    it('the required header does not open a network the app does not trust', async function () {
      expect(await issued(EDGE, { 'x-forwarded-for': '203.0.113.7', 'x-operator-subscriber-id': 'sub-42' })).to.equal(false);
    });
  });
});
