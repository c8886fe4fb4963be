/**
 * A lost answer does not spend the AT for nothing (decision 41): the page's retry with the same
 * envelope (the same R) gets the same VT, sealed under R again with a new IV; another R is a
 * replay and revokes that VT; after the AT's lifetime the retry is at_invalid; an exchange whose
 * client is gone before the redeem step does not redeem. Over HTTP through startSystem, on memory
 * and on the real Redis, with auth in the gateway's process and over HTTP.
 */
import http from 'node:http';
import { expect } from 'chai';
import { pino } from 'pino';
import { MemoryStore, RedisStore, TOMBSTONE_PREFIX, type TokenStore } from '../../../platform/store/index.ts';
import { atKey } from '../../../flows/access-token/records.ts';
import { redeemedKey, vtKey } from '../../../flows/visit-token/records.ts';
import { createVisitTokenService } from '../../../flows/visit-token/service.ts';
import { tokenHash } from '../../../platform/crypto/opaque.ts';
import { nowSeconds } from '../../../platform/time.ts';
import { connectTestRedis } from '../../support/env.ts';
import { demoClient, exchange, fetchEncJwk, fullFlow, http as client, openReply, sealEnvelope } from '../../support/clients.ts';
import { RedisServer } from '../../support/redis-server.ts';
import { startTestSystem, testConfig, type SuiteSystem, useTestSystem } from '../../support/system.ts';
import type { RunningSystem } from '../../../system/start.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const claimsOf = (vt: string) => JSON.parse(Buffer.from(vt.split('.')[1]!, 'base64url').toString('utf8'));
/** The VT a tombstone names. */
const tombstoneJti = (value: string | null) => (value?.startsWith(TOMBSTONE_PREFIX) ? value.slice(TOMBSTONE_PREFIX.length).split('.')[0] : undefined);

/**
 * The real store, with a hold after each `consume`: the step has run (on Redis: the script ran)
 * and its answer waits until the test releases it, as an answer still on its way would.
 */
function holdingStore(store: TokenStore) {
  let hold: { done: () => void; released: Promise<void> } | undefined;
  let consumed: (() => void) | undefined;
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'consume') {
        return async (...args: Parameters<TokenStore['consume']>) => {
          const result = await target.consume(...args);
          const h = hold;
          if (h) {
            consumed?.();
            await h.released;
          }
          return result;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return {
    store: wrapped,
    /** Holds the next consume's answer; resolves `ran` once it has run. */
    arm(): { ran: Promise<void>; release: () => void } {
      let done!: () => void;
      const released = new Promise<void>((r) => (done = r));
      hold = { done, released };
      const ran = new Promise<void>((r) => (consumed = r));
      return { ran, release: () => { hold = undefined; done(); } };
    },
  };
}

/** POST /v1/visit-tokens on a socket of its own, which the caller may cut before the answer. */
function postCuttable(gatewayUrl: string, envelope: string): { cut: () => void; answered: Promise<boolean> } {
  const url = new URL(`${gatewayUrl}/v1/visit-tokens`);
  const body = JSON.stringify({ envelope });
  const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  const answered = new Promise<boolean>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('close', () => resolve(false));
  });
  req.end(body);
  return { cut: () => req.destroy(), answered };
}

for (const [kind, authTransport] of [['memory', 'local'], ['redis', 'local'], ['redis', 'http']] as const) {
  describe(`a lost answer: the page's retry with the same R (${kind} store, gateway -> auth ${authTransport})`, function () {
    let holding: ReturnType<typeof holdingStore>;
    const env: SuiteSystem = useTestSystem(
      async (ctx) => {
        holding = holdingStore(kind === 'memory' ? new MemoryStore() : await connectTestRedis(ctx));
        return holding.store;
      },
      { system: { authTransport } },
    );
    const gw = () => env.system.urls.gateway;
    const newAt = async () => (await demoClient(gw()).requestAccessToken({ userId: 'alice', productId: 'city-pass' })).at;
    const product = (vt: string) => client.get(`${gw()}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } });

    it('an exchange aborted by the client after its redeem: the retry with the same R gets the same VT; another R gets at_invalid and revokes it', async function () {
      const at = await newAt();
      const jwk = await fetchEncJwk(gw());
      const sealed = sealEnvelope(jwk, at);
      const { ran, release } = holding.arm();
      const call = postCuttable(gw(), sealed.envelope);
      await ran;
      call.cut();
      expect(await call.answered, 'the client got no answer').to.equal(false);
      release();
      // The redeem ran: the AT is spent, its tombstone names a VT nobody received.
      const jti = tombstoneJti(await env.store.get(atKey(tokenHash(at))));
      expect(jti).to.be.a('string');

      const retry = await exchange(gw(), sealed.envelope);
      expect(retry.status, JSON.stringify(retry.data)).to.equal(200);
      const reply = openReply(retry.data.envelope, sealed.r);
      expect(claimsOf(reply.vt).jti, 'the same VT').to.equal(jti);
      expect(reply).to.include({ productId: 'city-pass', userId: 'alice' });
      expect((await product(reply.vt)).status).to.equal(200);

      const other = await exchange(gw(), sealEnvelope(jwk, at).envelope);
      expect(other.status).to.equal(401);
      expect(other.data.code).to.equal('at_invalid');
      const after = await product(reply.vt);
      expect(after.status).to.equal(401);
      expect(after.data.code).to.equal('vt_invalid');
      // Revoked: the same R cannot bring it back either.
      const late = await exchange(gw(), sealed.envelope);
      expect(late.status).to.equal(401);
      expect(late.data.code).to.equal('at_invalid');
    });

    it('a retry after the AT\'s lifetime is at_invalid, and revokes nothing', async function () {
      const at = await newAt();
      const sealed = sealEnvelope(await fetchEncJwk(gw()), at);
      const first = await exchange(gw(), sealed.envelope);
      expect(first.status).to.equal(200);
      const { vt } = openReply(first.data.envelope, sealed.r);
      // The AT's lifetime is over: its kept record says so (its `exp`; its TTL ends it as well).
      const kept = JSON.parse((await env.store.get(redeemedKey(tokenHash(at))))!);
      expect(kept).to.include({ typ: 'at', userId: 'alice' });
      await env.store.delete(redeemedKey(tokenHash(at)));
      await env.store.setIfAbsent(redeemedKey(tokenHash(at)), JSON.stringify({ ...kept, exp: nowSeconds() - 1 }), 60);
      const retry = await exchange(gw(), sealed.envelope);
      expect(retry.status).to.equal(401);
      expect(retry.data.code).to.equal('at_invalid');
      expect((await product(vt)).status, 'the VT the page holds still works').to.equal(200);
      // Gone altogether (its TTL ran out): the same.
      await env.store.delete(redeemedKey(tokenHash(at)));
      expect((await exchange(gw(), sealed.envelope)).status).to.equal(401);
    });
  });
}

describe('a lost answer: an exchange whose client is gone before the redeem step', function () {
  const env = useTestSystem(() => new MemoryStore());

  it('does not redeem: the AT stays unspent, and the same envelope then gets a VT', async function () {
    const at = await demoClient(env.system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' }).then((t) => t.at);
    const sealed = sealEnvelope(await fetchEncJwk(env.system.urls.gateway), at);
    const deps = { config: { ...testConfig(), issuer: env.system.urls.gateway }, store: env.store, registry: env.system.registry, keys: env.system.keys, signingKeys: env.system.signingKeys.auth!, log: pino({ level: 'silent' }) };
    const exchanger = createVisitTokenService(deps).exchange;
    const refused = await exchanger(sealed.envelope, 'req-1', { clientGone: () => true }).then(() => undefined, (e: { code?: string }) => e);
    expect(refused).to.include({ code: 'invalid_request' });
    expect(await env.store.get(atKey(tokenHash(at)))).to.match(/^\{"typ":"at"/);
    const ok = await exchange(env.system.urls.gateway, sealed.envelope);
    expect(ok.status).to.equal(200);
    expect(openReply(ok.data.envelope, sealed.r).userId).to.equal('alice');
  });

  it('the check sees a client whose connection closed after it sent the whole body, and not one still connected', async function () {
    const { clientGone } = await import('../../../platform/http/client-gone.ts');
    const seen: boolean[] = [];
    let bodyRead!: () => void;
    const read = new Promise<void>((r) => (bodyRead = r));
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        seen.push(clientGone({ req, res } as never));
        bodyRead();
        while (!req.socket.destroyed) await sleep(5);
        seen.push(clientGone({ req, res } as never));
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
      req.on('error', () => undefined);
      req.end('{"envelope":"x"}');
      await read;
      req.destroy();
      while (seen.length < 2) await sleep(5);
      expect(seen).to.deep.equal([false, true]);
    } finally {
      server.close();
    }
  });
});

describe('a lost answer: a redeem that timed out (Redis paused), then the page\'s retry with the same R', function () {
  let server: RedisServer;
  let store: RedisStore;
  let system: RunningSystem;

  before(async function () {
    server = await RedisServer.start(this);
    store = await RedisStore.connect({ url: server.url, prefix: 'h5b:', commandTimeoutMs: 1000 });
    // No exchange rate limit: the redeem is then the exchange's one store step.
    // No key-set poll either, so that no other command is waiting on the connection when it is dropped.
    system = await startTestSystem({ store, env: { RATE_LIMIT_EXCHANGE: 'off' }, system: { keysPollMs: 600_000 } });
  });
  after(async function () {
    server?.resume();
    await system?.close(0);
    await store?.close();
    await server?.stop();
  });

  it('the exchange is 503; once Redis resumes the redeem has run, and the retry with the same R gets its VT', async function () {
    const gw = system.urls.gateway;
    const at = (await demoClient(gw).requestAccessToken({ userId: 'bob', productId: 'city-pass' })).at;
    const jwk = await fetchEncJwk(gw);
    const sealed = sealEnvelope(jwk, at);
    // One exchange first, so that Redis knows the consume script: the timed-out step is then one
    // EVALSHA that runs when Redis resumes (a first EVALSHA would get NOSCRIPT, on a dropped connection).
    expect((await fullFlow(gw, 'warm-up')).product.status).to.equal(200);
    server.pause();
    let first;
    try {
      first = await exchange(gw, sealed.envelope);
    } finally {
      server.resume();
    }
    expect(first.status, JSON.stringify(first.data)).to.equal(503);
    expect(first.data.code).to.equal('store_unavailable');
    const resumed = Date.now();
    while (!(await store.ping().then(() => true, () => false))) {
      expect(Date.now() - resumed, 'Redis answers again').to.be.below(5000);
      await sleep(50);
    }
    // The script's bytes were in Redis's buffer: it ran, once, when Redis resumed.
    const jti = tombstoneJti(await store.get(atKey(tokenHash(at))));
    expect(jti).to.be.a('string');
    expect(await store.get(vtKey(jti!))).to.match(/^\{"typ":"vt"/);

    const retry = await exchange(gw, sealed.envelope);
    expect(retry.status, JSON.stringify(retry.data)).to.equal(200);
    const { vt } = openReply(retry.data.envelope, sealed.r);
    expect(claimsOf(vt).jti).to.equal(jti);
    expect((await client.get(`${gw}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } })).status).to.equal(200);
  });
});
