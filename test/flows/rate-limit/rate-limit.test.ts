import type { AxiosResponse } from 'axios';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import nodeHttp from 'node:http';
import { parseList, type Item } from 'structured-headers';
import { loadConfig, RATE_LIMIT_DEFAULTS } from '../../../system/config.ts';
import { addressSubject } from '../../../flows/rate-limit/limiter.ts';
import { MemoryStore, RedisStore, type TokenStore } from '../../../platform/store/index.ts';
import type { RunningSystem } from '../../../system/start.ts';
import { connectTestRedis } from '../../support/env.ts';
import { demoClient, exchange, fetchEncJwk, fullFlow, http, openReply, postAtRequest, sealEnvelope, signAtRequest } from '../../support/clients.ts';
import { createRegistry } from '../../../flows/apps/registry.ts';
import { DEMO_APP, LogCapture, OTHER_APP, startTestSystem, useTestSystem } from '../../support/system.ts';

type Kind = 'memory' | 'redis';
type Answer = AxiosResponse<any>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const openStore = (kind: Kind) => (ctx: Mocha.Context): Promise<TokenStore> => (kind === 'memory' ? Promise.resolve(new MemoryStore()) : connectTestRedis(ctx));

/** The store as the system sees it, with every key written by setIfAbsent (ATs, VT records, nonces) recorded. */
function recording(inner: TokenStore): TokenStore & { written: string[] } {
  const written: string[] = [];
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'written') return written;
      const v = Reflect.get(target, prop, receiver);
      if (prop !== 'setIfAbsent') return typeof v === 'function' ? v.bind(target) : v;
      return async (key: string, value: string, ttl: number) => {
        const ok = await target.setIfAbsent(key, value, ttl);
        if (ok) written.push(key);
        return ok;
      };
    },
  }) as TokenStore & { written: string[] };
}

/** A signed AT request for a product the app may open; the same `signed` may be sent twice. */
const signAt = (gateway: string, app: { appId: string; appSecret: string }, opts: { secret?: string; nonce?: string } = {}) =>
  signAtRequest(gateway, app, { userId: 'alice', productId: app.appId === OTHER_APP.appId ? 'savings-plus' : 'city-pass' }, opts);
const sendAt = postAtRequest;
const requestAt = (gateway: string, app: { appId: string; appSecret: string }, opts: { secret?: string } = {}) => sendAt(gateway, signAt(gateway, app, opts));

function exchangeFrom(gateway: string, envelope: string, headers: Record<string, string> = {}) {
  return http.post(`${gateway}/v1/visit-tokens`, { envelope }, { headers: { 'content-type': 'application/json', ...headers } });
}
/**
 * An exchange whose client sends its own X-Forwarded-For among 100 header lines, and whose proxy
 * appends its X-Forwarded-For as the 101st (over node:http, which writes the lines as given).
 */
function exchangePadded(gateway: string, clientXff: string, proxyXff: string): Promise<Answer> {
  const body = JSON.stringify({ envelope: 'a.b.c.d.e' });
  const lines: string[] = ['Host', new URL(gateway).host, 'Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body)), 'X-Forwarded-For', clientXff];
  for (let i = 0; lines.length < 200; i++) lines.push(`x-pad-${i}`, 'a');
  lines.push('X-Forwarded-For', proxyXff);
  return new Promise((resolve, reject) => {
    const req = nodeHttp.request(`${gateway}/v1/visit-tokens`, { method: 'POST', headers: lines }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, data: JSON.parse(Buffer.concat(chunks).toString('utf8')) } as Answer));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const product = (gateway: string, vt: string, productId = 'city-pass') => http.get(`${gateway}/v1/products/${productId}`, { headers: { authorization: `Bearer ${vt}` } });

/** The one item of a RateLimit or RateLimit-Policy header: policy name and parameters. */
function sfItem(value: unknown): { name: string; params: Record<string, unknown> } {
  const list = parseList(String(value));
  expect(list).to.have.length(1);
  const [name, params] = list[0] as Item;
  return { name: String(name), params: Object.fromEntries(params) };
}

function expectLimitHeaders(res: Answer, policy: string, q: number, w: number, r: number) {
  expect(sfItem(res.headers['ratelimit-policy'])).to.deep.equal({ name: policy, params: { q, w } });
  const limit = sfItem(res.headers.ratelimit);
  expect(limit.name).to.equal(policy);
  expect(limit.params.r).to.equal(r);
  expect(limit.params.t).to.be.a('number').within(0, w);
}

function expectLimited(res: Answer, policy: string, q: number, w: number) {
  expect(res.status, JSON.stringify(res.data)).to.equal(429);
  expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
  expect(res.headers['cache-control']).to.equal('no-store');
  expect(res.data).to.include({ status: 429, code: 'rate_limited', type: 'https://h5-broker.dev/problems/rate_limited' });
  expect(res.headers['retry-after']).to.match(/^[1-9]\d*$/);
  expect(Number(res.headers['retry-after'])).to.be.at.most(w);
  expectLimitHeaders(res, policy, q, w, 0);
}

/** Request lines a component behind the gateway logged for `path`: how often the gateway called it. */
const upstreamCalls = (logs: LogCapture, component: string, path: RegExp) =>
  logs.lines.filter((l) => l.msg === 'request' && l.component === component && path.test(String(l.path))).length;

describe('rate limits: addressSubject', function () {
  it('counts an IPv4 client by its address and an IPv6 client by its /64', function () {
    expect(addressSubject('203.0.113.7')).to.equal('203.0.113.7');
    expect(addressSubject('2001:db8:1:2::1')).to.equal('2001:db8:1:2::/64');
    expect(addressSubject('2001:0db8:0001:0002:ffff:1:2:3')).to.equal('2001:db8:1:2::/64');
    expect(addressSubject('2001:db8::')).to.equal('2001:db8:0:0::/64');
    expect(addressSubject('::1')).to.equal('0:0:0:0::/64');
    expect(addressSubject('')).to.equal('unknown');
  });

  // Failed before the fix: the IPv4-mapped and -compatible spellings were all `0:0:0:0::/64`, and
  // a 6to4 address gave one IPv4 host 65,536 /64s. The NAT64 row used to be `64:ff9b:0:0::/64`
  // (every IPv4 client behind a NAT64 in one bucket): it is now its IPv4 host (decision 36).
  it('counts every IPv6 form that carries an IPv4 host as that IPv4 address', function () {
    const table: [string, string][] = [
      // IPv4-mapped, every spelling
      ['::ffff:1.2.3.4', '1.2.3.4'],
      ['::ffff:0102:0304', '1.2.3.4'],
      ['::ffff:102:304', '1.2.3.4'],
      ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
      ['0000:0000:0000:0000:0000:FFFF:0102:0304', '1.2.3.4'],
      ['::FFFF:1.2.3.4', '1.2.3.4'],
      ['0::ffff:1.2.3.4', '1.2.3.4'],
      // IPv4-compatible (deprecated ::/96), but not :: and ::1
      ['::1.2.3.4', '1.2.3.4'],
      ['::0102:0304', '1.2.3.4'],
      ['0:0:0:0:0:0:1.2.3.4', '1.2.3.4'],
      ['::', '0:0:0:0::/64'],
      ['::1', '0:0:0:0::/64'],
      ['::0.0.0.1', '0:0:0:0::/64'],
      // 6to4: the IPv4 in bytes 2-5, whatever the rest
      ['2002:0102:0304::1', '1.2.3.4'],
      ['2002:102:304:ffff:1:2:3:4', '1.2.3.4'],
      ['2002:102:305::1', '1.2.3.5'],
      // NAT64 well-known prefix
      ['64:ff9b::1.2.3.4', '1.2.3.4'],
      ['64:ff9b::102:304', '1.2.3.4'],
      ['64:ff9b::192.0.2.1', '192.0.2.1'],
      ['64:ff9b:1::1.2.3.4', '64:ff9b:1:0::/64'],
      // Teredo: the client's IPv4, inverted, in the last four bytes
      ['2001:0:4136:e378:8000:63bf:3fff:fdd2', '192.0.2.45'],
      ['2001::fefd:fcfb', '1.2.3.4'],
      // Any other IPv6 address: its /64
      ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
      ['2001:DB8:1:2:FFFF::', '2001:db8:1:2::/64'],
      ['::ffff:0:1:2:3', '0:0:0:ffff::/64'],
      ['1::1.2.3.4', '1:0:0:0::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ];
    for (const [address, subject] of table) expect(addressSubject(address), address).to.equal(subject);
    // IPv4 as it is, and anything that is not an IP counted as it is.
    expect(addressSubject('1.2.3.4')).to.equal('1.2.3.4');
    expect(addressSubject('unknown')).to.equal('unknown');
  });
});

describe('rate limits: configuration', function () {
  it('defaults to the documented limits; 0 or "off" turns one off', function () {
    expect(loadConfig({}).rateLimits).to.deep.equal(RATE_LIMIT_DEFAULTS);
    expect(RATE_LIMIT_DEFAULTS).to.deep.equal({
      issuance: { limit: 6000, windowSeconds: 60 }, exchange: { limit: 3000, windowSeconds: 60 }, product: { limit: 300, windowSeconds: 60 },
    });
    const set = loadConfig({ RATE_LIMIT_ISSUANCE: '10', RATE_LIMIT_ISSUANCE_WINDOW_SECONDS: '2', RATE_LIMIT_EXCHANGE: 'off', RATE_LIMIT_PRODUCT: '0' }).rateLimits;
    expect(set).to.deep.equal({ issuance: { limit: 10, windowSeconds: 2 }, exchange: undefined, product: undefined });
    expect(loadConfig({ RATE_LIMIT_PRODUCT: 'OFF' }).rateLimits.product).to.equal(undefined);
  });

  it('refuses bad values with a ConfigError naming the variable', function () {
    const bad: [string, string, RegExp][] = [
      ['RATE_LIMIT_ISSUANCE', 'many', /^RATE_LIMIT_ISSUANCE: must be a whole number of requests .* or 0 or "off"/],
      ['RATE_LIMIT_ISSUANCE', '-1', /^RATE_LIMIT_ISSUANCE: /],
      ['RATE_LIMIT_EXCHANGE', '1.5', /^RATE_LIMIT_EXCHANGE: /],
      ['RATE_LIMIT_PRODUCT', '1000001', /^RATE_LIMIT_PRODUCT: .*between 1 and 1000000/],
      ['RATE_LIMIT_ISSUANCE_WINDOW_SECONDS', '0', /^RATE_LIMIT_ISSUANCE_WINDOW_SECONDS: must be between 1 and 86400/],
      ['RATE_LIMIT_EXCHANGE_WINDOW_SECONDS', '86401', /^RATE_LIMIT_EXCHANGE_WINDOW_SECONDS: must be between 1 and 86400/],
      ['RATE_LIMIT_PRODUCT_WINDOW_SECONDS', '1m', /^RATE_LIMIT_PRODUCT_WINDOW_SECONDS: must be a whole number/],
      // A window is checked even for a limit that is off: a typo should not wait for the day it is turned on.
      ['RATE_LIMIT_PRODUCT_WINDOW_SECONDS', 'soon', /^RATE_LIMIT_PRODUCT_WINDOW_SECONDS: /],
    ];
    for (const [name, value, message] of bad) {
      const env = { [name]: value, ...(name === 'RATE_LIMIT_PRODUCT_WINDOW_SECONDS' && value === 'soon' ? { RATE_LIMIT_PRODUCT: 'off' } : {}) };
      expect(() => loadConfig(env), `${name}=${value}`).to.throw(message).with.property('name', 'ConfigError');
    }
  });
});

describe('rate limits: the GCRA step on the memory store, on a clock of its own', function () {
  it('allows a burst of the limit, then one request per window/limit; a refusal changes nothing', async function () {
    let now = 1_700_000_000_000;
    const store = new MemoryStore(() => now);
    try {
      const hit = () => store.rateLimit('k', 3, 1000);
      expect(await hit()).to.deep.equal({ allowed: true, remaining: 2, resetMs: 334, retryAfterMs: 0 });
      expect(await hit()).to.deep.equal({ allowed: true, remaining: 1, resetMs: 667, retryAfterMs: 0 });
      expect(await hit()).to.deep.equal({ allowed: true, remaining: 0, resetMs: 1000, retryAfterMs: 0 });
      expect(await hit()).to.deep.equal({ allowed: false, remaining: 0, resetMs: 1000, retryAfterMs: 334 });
      expect(await hit()).to.deep.equal({ allowed: false, remaining: 0, resetMs: 1000, retryAfterMs: 334 });
      now += 333;
      expect((await hit()).allowed).to.equal(false);
      now += 1;
      expect(await hit()).to.deep.equal({ allowed: true, remaining: 0, resetMs: 1000, retryAfterMs: 0 });
      // A whole window later the whole burst is back, and no more.
      now += 1000;
      expect((await Promise.all([hit(), hit(), hit(), hit()])).map((r) => r.allowed)).to.deep.equal([true, true, true, false]);
      // Steady traffic at exactly the rate is never refused, for a long time.
      for (let i = 0; i < 10_000; i++) {
        now += 334;
        expect((await hit()).allowed).to.equal(true);
      }
      // Another subject is counted apart.
      expect((await store.rateLimit('other', 3, 1000)).remaining).to.equal(2);
    } finally {
      await store.close();
    }
  });
});

for (const kind of ['memory', 'redis'] as const) {
  describe(`rate limits: the store's step (${kind} store)`, function () {
    let store: TokenStore;
    before(async function () {
      store = await openStore(kind)(this);
    });
    after(async function () {
      await store?.close();
    });

    it('a burst of exactly the limit passes; the next is refused with the time until one more fits', async function () {
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await store.rateLimit('burst', 3, 60_000));
      expect(results.map((r) => [r.allowed, r.remaining])).to.deep.equal([[true, 2], [true, 1], [true, 0], [false, 0]]);
      expect(results[3]!.retryAfterMs).to.be.within(1, 20_000);
      expect(results[3]!.resetMs).to.be.within(40_000, 60_000);
    });

    it('is atomic: of 100 concurrent requests against a limit of 10, exactly 10 pass', async function () {
      const results = await Promise.all(Array.from({ length: 100 }, () => store.rateLimit('race', 10, 60_000)));
      expect(results.filter((r) => r.allowed)).to.have.length(10);
      expect(results.filter((r) => r.allowed).map((r) => r.remaining).sort((a, b) => a - b)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('the allowance comes back once the window has passed', async function () {
      this.timeout(10_000);
      for (let i = 0; i < 2; i++) expect((await store.rateLimit('window', 2, 1000)).allowed).to.equal(true);
      const refused = await store.rateLimit('window', 2, 1000);
      expect(refused.allowed).to.equal(false);
      await sleep(refused.resetMs + 50);
      for (let i = 0; i < 2; i++) expect((await store.rateLimit('window', 2, 1000)).allowed).to.equal(true);
      expect((await store.rateLimit('window', 2, 1000)).allowed).to.equal(false);
    });
  });
}

describe('rate limits: two Redis connections (two gateway processes) share one count', function () {
  it('50 concurrent requests on each of two connections against a limit of 10: exactly 10 pass', async function () {
    const prefix = `test:${randomBytes(6).toString('hex')}:`;
    let a: RedisStore | undefined;
    let b: RedisStore | undefined;
    try {
      a = await connectTestRedis(this, prefix);
      b = await connectTestRedis(this, prefix);
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a! : b!).rateLimit('shared', 10, 60_000)));
      expect(results.filter((r) => r.allowed)).to.have.length(10);
    } finally {
      await a?.close();
      await b?.close();
    }
  });
});

/** Auth over its HTTP port, so that its request log lines show whether a request reached it. */
const HOP_OVER_HTTP = { authTransport: 'http' } as const;

for (const kind of ['memory', 'redis'] as const) {
  describe(`rate limits through the gateway (${kind} store)`, function () {
    describe('per app on AT issuance', function () {
      const logs = new LogCapture();
      let store: ReturnType<typeof recording>;
      const env = useTestSystem(async (ctx) => (store = recording(await openStore(kind)(ctx))), { env: { RATE_LIMIT_ISSUANCE: '3' }, log: logs.logger, system: HOP_OVER_HTTP });
      const atWrites = () => store.written.filter((k) => k.startsWith('at:')).length;

      it('the limit passes with RateLimit headers; beyond it 429 rate_limited, and no AT is issued', async function () {
        const gw = env.system.urls.gateway;
        for (let r = 2; r >= 0; r--) {
          const res = await requestAt(gw, DEMO_APP);
          expect(res.status, JSON.stringify(res.data)).to.equal(201);
          expectLimitHeaders(res, 'issuance', 3, 60, r);
        }
        const writes = atWrites();
        const authCalls = upstreamCalls(logs, 'auth', /^\/internal\/access-tokens$/);
        expect(authCalls).to.equal(3);
        const signed = signAt(gw, DEMO_APP);
        const res = await sendAt(gw, signed);
        expectLimited(res, 'issuance', 3, 60);
        expect(res.data.detail).to.match(/no token was issued/);
        expect(atWrites()).to.equal(writes);
        expect(upstreamCalls(logs, 'auth', /^\/internal\/access-tokens$/)).to.equal(authCalls);
        // Refused after the nonce: the request used it up, and sent again it is a replay.
        expect(store.written).to.include(`nonce:${DEMO_APP.appId}:${signed.nonce}`);
        const again = await sendAt(gw, signed);
        expect(again.status).to.equal(401);
        expect(again.data.code).to.equal('replayed_request');
        const line = logs.lines.find((l) => l.audit === 'rate.limited' && l.policy === 'issuance');
        expect(line).to.include({ appId: DEMO_APP.appId, route: 'POST /v1/access-tokens', reqId: res.headers['x-request-id'] });
        expect(line!.retryAfter).to.equal(Number(res.headers['retry-after']));
      });

      it('another app is not affected', async function () {
        const res = await requestAt(env.system.urls.gateway, OTHER_APP);
        expect(res.status, JSON.stringify(res.data)).to.equal(201);
        expectLimitHeaders(res, 'issuance', 3, 60, 2);
        expectLimited(await requestAt(env.system.urls.gateway, DEMO_APP), 'issuance', 3, 60);
      });

      it('requests that fail their signature count for nothing: nobody but the app can use up its quota', async function () {
        for (let i = 0; i < 5; i++) {
          const forged = await requestAt(env.system.urls.gateway, OTHER_APP, { secret: 'not-the-secret-0123456789abcdefghijklmnop' });
          expect(forged.status).to.equal(401);
          expect(forged.data.code).to.equal('invalid_signature');
          expect(forged.headers.ratelimit).to.equal(undefined);
        }
        const res = await requestAt(env.system.urls.gateway, OTHER_APP);
        expect(res.status).to.equal(201);
        expectLimitHeaders(res, 'issuance', 3, 60, 1);
      });
    });

    describe('per client address on the VT exchange', function () {
      describe('without trusted proxies: the socket address, whatever X-Forwarded-For says', function () {
        const logs = new LogCapture();
        const env = useTestSystem(openStore(kind), { env: { RATE_LIMIT_EXCHANGE: '3' }, log: logs.logger });

        it('a forged X-Forwarded-For neither dodges nor shifts the limit', async function () {
          const gw = env.system.urls.gateway;
          // Three from 127.0.0.1, each claiming another client: all are counted for 127.0.0.1.
          for (const [i, xff] of ['203.0.113.1', '203.0.113.2', '198.51.100.1, 203.0.113.3'].entries()) {
            const res = await exchangeFrom(gw, 'a.b.c.d.e', { 'x-forwarded-for': xff });
            expect(res.status).to.equal(400);
            expect(res.data.code).to.equal('envelope_invalid');
            expectLimitHeaders(res, 'exchange', 3, 60, 2 - i);
          }
          expectLimited(await exchangeFrom(gw, 'a.b.c.d.e', { 'x-forwarded-for': '203.0.113.99' }), 'exchange', 3, 60);
          expectLimited(await exchangeFrom(gw, 'a.b.c.d.e'), 'exchange', 3, 60);
          const line = logs.lines.find((l) => l.audit === 'rate.limited' && l.policy === 'exchange');
          expect(line).to.include({ clientAddress: '127.0.0.1', route: 'POST /v1/visit-tokens' });
        });
      });

      describe('behind a trusted proxy (TRUSTED_PROXIES=127.0.0.1): the client its X-Forwarded-For names', function () {
        const logs = new LogCapture();
        const env = useTestSystem(openStore(kind), { env: { RATE_LIMIT_EXCHANGE: '3', TRUSTED_PROXIES: '127.0.0.1' }, log: logs.logger, system: HOP_OVER_HTTP });

        it('each client has its own limit; a refused exchange leaves its AT unused and reaches no auth', async function () {
          const gw = env.system.urls.gateway;
          const client = { 'x-forwarded-for': '203.0.113.7' };
          for (let r = 2; r >= 0; r--) {
            const res = await exchangeFrom(gw, 'a.b.c.d.e', client);
            expect(res.status).to.equal(400);
            expectLimitHeaders(res, 'exchange', 3, 60, r);
          }
          const token = await demoClient(gw).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
          const sealed = sealEnvelope(await fetchEncJwk(gw), token.at);
          const authCalls = upstreamCalls(logs, 'auth', /^\/internal\/visit-tokens$/);
          expect(authCalls).to.equal(3);
          expectLimited(await exchangeFrom(gw, sealed.envelope, client), 'exchange', 3, 60);
          // What the client wrote itself, left of what the proxy appended, changes nothing.
          expectLimited(await exchangeFrom(gw, sealed.envelope, { 'x-forwarded-for': '198.51.100.1, 203.0.113.7' }), 'exchange', 3, 60);
          expect(upstreamCalls(logs, 'auth', /^\/internal\/visit-tokens$/)).to.equal(authCalls);
          // The AT was not consumed: the same envelope from another client opens.
          const ok = await exchangeFrom(gw, sealed.envelope, { 'x-forwarded-for': '203.0.113.8' });
          expect(ok.status, JSON.stringify(ok.data)).to.equal(200);
          expectLimitHeaders(ok, 'exchange', 3, 60, 2);
          expect(openReply(ok.data.envelope, sealed.r).productId).to.equal('city-pass');
          const line = logs.lines.find((l) => l.audit === 'rate.limited' && l.policy === 'exchange');
          expect(line).to.include({ clientAddress: '203.0.113.7' });
          for (const raw of logs.raw) expect(raw).to.not.include(token.at);
        });

        it('an IPv6 client is counted by its /64', async function () {
          const gw = env.system.urls.gateway;
          for (const address of ['2001:db8:1:2::1', '2001:db8:1:2::2', '[2001:db8:1:2:ffff::3]:443']) {
            expect((await exchangeFrom(gw, 'a.b.c.d.e', { 'x-forwarded-for': address })).status).to.equal(400);
          }
          expectLimited(await exchangeFrom(gw, 'a.b.c.d.e', { 'x-forwarded-for': '2001:db8:1:2:abcd::9' }), 'exchange', 3, 60);
          const other = await exchangeFrom(gw, 'a.b.c.d.e', { 'x-forwarded-for': '2001:db8:1:3::1' });
          expect(other.status).to.equal(400);
          expectLimitHeaders(other, 'exchange', 3, 60, 2);
        });

        // Failed before the fix: `::ffff:c633:6414`, `0:0:0:0:0:ffff:198.51.100.20` and
        // `::198.51.100.20` were all counted as `0:0:0:0::/64`, and 198.51.100.20 had a bucket apart.
        it('every spelling of one IPv4 client, and its 6to4 address, share its bucket', async function () {
          const gw = env.system.urls.gateway;
          for (const [i, address] of ['::ffff:c633:6414', '0:0:0:0:0:FFFF:198.51.100.20', '::198.51.100.20'].entries()) {
            const res = await exchangeFrom(gw, 'a.b.c.d.e', { 'x-forwarded-for': address });
            expect(res.status, address).to.equal(400);
            expectLimitHeaders(res, 'exchange', 3, 60, 2 - i);
          }
          expectLimited(await exchangeFrom(gw, 'a.b.c.d.e', { 'x-forwarded-for': '198.51.100.20' }), 'exchange', 3, 60);
          expectLimited(await exchangeFrom(gw, 'a.b.c.d.e', { 'x-forwarded-for': '2002:c633:6414:1::2' }), 'exchange', 3, 60);
          const line = logs.lines.filter((l) => l.audit === 'rate.limited' && l.policy === 'exchange').at(-1);
          expect(line).to.include({ clientAddress: '2002:c633:6414:1::2' });
          // Another IPv4 client next to it is not affected.
          expectLimitHeaders(await exchangeFrom(gw, 'a.b.c.d.e', { 'x-forwarded-for': '::ffff:198.51.100.21' }), 'exchange', 3, 60, 2);
        });

        // Failed before the fix: the 101st header line was dropped, so the client's own
        // X-Forwarded-For named it, a new address each time, and it was never refused.
        it('the proxy\'s X-Forwarded-For after 100 client lines is read: the limit holds (429)', async function () {
          const gw = env.system.urls.gateway;
          for (let r = 2; r >= 0; r--) {
            const res = await exchangePadded(gw, `192.0.2.${10 + r}`, '203.0.113.60');
            expect(res.status, JSON.stringify(res.data)).to.equal(400);
            expectLimitHeaders(res, 'exchange', 3, 60, r);
          }
          expectLimited(await exchangePadded(gw, '192.0.2.99', '203.0.113.60'), 'exchange', 3, 60);
          const line = logs.lines.filter((l) => l.audit === 'rate.limited' && l.policy === 'exchange').at(-1);
          expect(line).to.include({ clientAddress: '203.0.113.60' });
        });

        it('an H5 origin may read the headers (CORS Access-Control-Expose-Headers)', async function () {
          const origin = new URL(env.system.urls.h5).origin;
          const res = await exchangeFrom(env.system.urls.gateway, 'a.b.c.d.e', { 'x-forwarded-for': '203.0.113.50', origin });
          expect(res.headers['access-control-allow-origin']).to.equal(origin);
          const exposed = String(res.headers['access-control-expose-headers']).split(',').map((s) => s.trim().toLowerCase());
          expect(exposed).to.include.members(['ratelimit-policy', 'ratelimit', 'retry-after']);
        });
      });
    });

    describe('per VT on the product API', function () {
      const logs = new LogCapture();
      const env = useTestSystem(openStore(kind), { env: { RATE_LIMIT_PRODUCT: '3' }, log: logs.logger });

      it('each VT has its own limit; a refused call reaches no product backend and logs no token', async function () {
        const gw = env.system.urls.gateway;
        const first = await fullFlow(gw);
        expect(first.product.status).to.equal(200);
        expectLimitHeaders(first.product, 'product', 3, 60, 2);
        const vt = first.reply.vt;
        for (const r of [1, 0]) expectLimitHeaders(await product(gw, vt), 'product', 3, 60, r);
        const backendCalls = upstreamCalls(logs, 'products', /^\/products\//);
        expect(backendCalls).to.equal(3);
        const res = await product(gw, vt);
        expectLimited(res, 'product', 3, 60);
        // Counted per VT, whichever product it is sent to.
        expectLimited(await product(gw, vt, 'savings-plus'), 'product', 3, 60);
        expect(upstreamCalls(logs, 'products', /^\/products\//)).to.equal(backendCalls);

        const second = await fullFlow(gw);
        expect(second.product.status).to.equal(200);
        expectLimitHeaders(second.product, 'product', 3, 60, 2);

        const line = logs.lines.find((l) => l.audit === 'rate.limited' && l.policy === 'product');
        expect(line).to.include({ appId: DEMO_APP.appId, route: 'GET /v1/products/:productId' });
        const jti = JSON.parse(Buffer.from(vt.split('.')[1]!, 'base64url').toString()).jti as string;
        for (const raw of logs.raw) {
          expect(raw).to.not.include(vt.split('.')[2]!);
          expect(raw).to.not.include(jti);
        }
      });

      it('a VT whose signature does not verify is vt_invalid and counts for nothing', async function () {
        const gw = env.system.urls.gateway;
        const { reply } = await fullFlow(gw);
        const [h, p, s] = reply.vt.split('.') as [string, string, string];
        // One character inside the signature (the last one also carries padding bits).
        const forged = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
        for (let i = 0; i < 5; i++) {
          const res = await product(gw, forged);
          expect(res.status).to.equal(401);
          expect(res.data.code).to.equal('vt_invalid');
          expect(res.headers.ratelimit).to.equal(undefined);
        }
        expectLimitHeaders(await product(gw, reply.vt), 'product', 3, 60, 1);
      });
    });

    describe('a window later the limits let requests through again', function () {
      const env = useTestSystem(openStore(kind), {
        env: {
          RATE_LIMIT_ISSUANCE: '2', RATE_LIMIT_ISSUANCE_WINDOW_SECONDS: '2', RATE_LIMIT_EXCHANGE: '2', RATE_LIMIT_EXCHANGE_WINDOW_SECONDS: '2',
          RATE_LIMIT_PRODUCT: '2', RATE_LIMIT_PRODUCT_WINDOW_SECONDS: '2',
        },
      });

      it('issuance, exchange and product calls; the refused envelope goes through unchanged, the refused AT request once signed again', async function () {
        this.timeout(20_000);
        const gw = env.system.urls.gateway;
        const token = await demoClient(gw).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
        expect((await requestAt(gw, DEMO_APP)).status).to.equal(201);
        const refusedAt = signAt(gw, DEMO_APP);
        expectLimited(await sendAt(gw, refusedAt), 'issuance', 2, 2);

        const sealed = sealEnvelope(await fetchEncJwk(gw), token.at);
        const ex = await exchange(gw, sealed.envelope);
        expect(ex.status).to.equal(200);
        const { vt } = openReply(ex.data.envelope, sealed.r);
        expect((await exchange(gw, 'a.b.c.d.e')).status).to.equal(400);
        const other = await demoClient(gw, OTHER_APP).requestAccessToken({ userId: 'bob', productId: 'savings-plus' });
        const refusedEnvelope = sealEnvelope(await fetchEncJwk(gw), other.at);
        expectLimited(await exchange(gw, refusedEnvelope.envelope), 'exchange', 2, 2);

        for (let i = 0; i < 2; i++) expect((await product(gw, vt)).status).to.equal(200);
        expectLimited(await product(gw, vt), 'product', 2, 2);

        // A window (2 s) after the first of each pair, the whole limit is back.
        await sleep(2100);
        // The refused AT request used its nonce: sent again it is a replay; signed again it passes.
        expect((await sendAt(gw, refusedAt)).data.code).to.equal('replayed_request');
        const at = await requestAt(gw, DEMO_APP);
        expect(at.status, JSON.stringify(at.data)).to.equal(201);
        const opened = await exchange(gw, refusedEnvelope.envelope);
        expect(opened.status, JSON.stringify(opened.data)).to.equal(200);
        expect(openReply(opened.data.envelope, refusedEnvelope.r).userId).to.equal('bob');
        expect((await product(gw, vt)).status).to.equal(200);
      });
    });
  });
}

describe('rate limits: two gateways on one Redis share each limit', function () {
  const INTERNAL_TOKEN = `internal-${randomBytes(16).toString('hex')}`;
  const LIMITS = { RATE_LIMIT_ISSUANCE: '4', RATE_LIMIT_EXCHANGE: '4', INTERNAL_TOKEN };
  let stores: RedisStore[] = [];
  let first: RunningSystem | undefined;
  let second: RunningSystem | undefined;

  before(async function () {
    const prefix = `test:${randomBytes(6).toString('hex')}:`;
    stores = [await connectTestRedis(this, prefix), await connectTestRedis(this, prefix)];
    first = await startTestSystem({ store: stores[0]!, env: LIMITS });
    // A second gateway process: its own connection to the same Redis and prefix, the same auth.
    second = await startTestSystem({
      store: stores[1]!, components: ['gateway'], env: { ...LIMITS, AUTH_URL: first.urls.auth, PRODUCTS_URL: first.urls.products },
    });
  });
  after(async function () {
    await second?.close(0);
    await first?.close(0);
    for (const s of stores) await s.close();
  });

  it('AT issuance: four requests over both gateways pass, the fifth is refused by either', async function () {
    const gateways = [first!.urls.gateway, second!.urls.gateway];
    for (let r = 3; r >= 0; r--) {
      const res = await requestAt(gateways[r % 2]!, DEMO_APP);
      expect(res.status, JSON.stringify(res.data)).to.equal(201);
      expectLimitHeaders(res, 'issuance', 4, 60, r);
    }
    expectLimited(await requestAt(gateways[0]!, DEMO_APP), 'issuance', 4, 60);
    expectLimited(await requestAt(gateways[1]!, DEMO_APP), 'issuance', 4, 60);
  });

  it('the VT exchange: one count for the address across both gateways', async function () {
    const gateways = [first!.urls.gateway, second!.urls.gateway];
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => exchange(gateways[i % 2]!, 'a.b.c.d.e')));
    expect(answers.filter((a) => a.status === 400)).to.have.length(4);
    expect(answers.filter((a) => a.status === 429)).to.have.length(6);
  });
});

describe('rate limits: a store that fails during the check', function () {
  it('answers 503 store_unavailable with Retry-After, as every other store step, and calls nothing behind', async function () {
    const store = await connectTestRedis(this);
    const logs = new LogCapture();
    const system = await startTestSystem({ store, log: logs.logger });
    try {
      const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      const sealed = sealEnvelope(await fetchEncJwk(system.urls.gateway), token.at);
      await store.close();
      const calls = logs.lines.filter((l) => l.msg === 'request' && l.component === 'auth').length;
      for (const res of [await exchange(system.urls.gateway, sealed.envelope), await requestAt(system.urls.gateway, DEMO_APP)]) {
        expect(res.status).to.equal(503);
        expect(res.data.code).to.equal('store_unavailable');
        expect(res.headers['retry-after']).to.equal('1');
        expect(res.headers.ratelimit).to.equal(undefined);
      }
      expect(logs.lines.filter((l) => l.msg === 'request' && l.component === 'auth').length).to.equal(calls);
    } finally {
      await system.close(0);
    }
  });
});

describe('rate limits: an app\'s own issuance limit from the registry', function () {
  const registry = () => createRegistry({
    apps: [
      { ...DEMO_APP, rateLimit: { limit: 2, windowSeconds: 30 } },
      { ...OTHER_APP, rateLimit: null },
    ],
  });
  const env = useTestSystem(openStore('memory'), { env: { RATE_LIMIT_ISSUANCE: '3' }, system: { registry } });

  it('replaces RATE_LIMIT_ISSUANCE for that app (its own policy in the headers); null means none for that app', async function () {
    const gw = env.system.urls.gateway;
    for (let r = 1; r >= 0; r--) expectLimitHeaders(await requestAt(gw, DEMO_APP), 'issuance', 2, 30, r);
    expectLimited(await requestAt(gw, DEMO_APP), 'issuance', 2, 30);
    for (let i = 0; i < 6; i++) {
      const res = await requestAt(gw, OTHER_APP);
      expect(res.status, JSON.stringify(res.data)).to.equal(201);
      expect(res.headers['ratelimit-policy']).to.equal(undefined);
    }
  });

  it('the registry refuses a malformed rateLimit with a message that names the app', function () {
    for (const rateLimit of [{ limit: -1, windowSeconds: 60 }, { limit: 10 }, { limit: 1.5, windowSeconds: 60 }, { limit: 10, windowSeconds: 0 }, { limit: 10, windowSeconds: 60, burst: 3 }, { limit: 0, windowSeconds: 'x' }, 'lots', [10, 60]]) {
      expect(() => createRegistry({ apps: [{ ...DEMO_APP, rateLimit }] }), JSON.stringify(rateLimit)).to.throw(/app demo-app: rateLimit must be/);
    }
    expect(createRegistry({ apps: [{ ...DEMO_APP, rateLimit: { limit: 0 } }] }).get(DEMO_APP.appId)!.rateLimit).to.equal(null);
  });
});

describe('rate limits: replays of a captured AT request', function () {
  const env = useTestSystem(openStore('memory'), { env: { RATE_LIMIT_ISSUANCE: '3' } });

  it('count for nothing: each is replayed_request, refused before the limit, and the app keeps its quota', async function () {
    const gw = env.system.urls.gateway;
    const captured = signAt(gw, DEMO_APP);
    expectLimitHeaders(await sendAt(gw, captured), 'issuance', 3, 60, 2);
    for (let i = 0; i < 5; i++) {
      const replay = await sendAt(gw, captured);
      expect(replay.status).to.equal(401);
      expect(replay.data.code).to.equal('replayed_request');
      expect(replay.headers.ratelimit).to.equal(undefined);
    }
    expectLimitHeaders(await requestAt(gw, DEMO_APP), 'issuance', 3, 60, 1);
  });
});
