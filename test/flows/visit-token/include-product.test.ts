/**
 * `POST /v1/visit-tokens` with `include: "product"` (protocol section 2): the answer carries the
 * product document beside the sealed reply, fetched by the gateway with the VT auth has just
 * issued, exactly as `GET /v1/products/:id` answers it, and counted against the VT's rate limit;
 * a wrong `include` is refused before the AT is spent; any failure of the fetch leaves only the
 * product out, never the VT. Over HTTP through startSystem, with auth in the gateway's process and
 * over HTTP (the seam's `withVisitToken`), on memory and on the real Redis.
 */
import { expect } from 'chai';
import { MemoryStore } from '../../../platform/store/index.ts';
import { connectTestRedis } from '../../support/env.ts';
import { demoClient, fetchEncJwk, http as client, openReply, sealEnvelope } from '../../support/clients.ts';
import { startTestSystem, useTestSystem, type SuiteSystem } from '../../support/system.ts';
import { freePort } from '../../../scripts/free-port.ts';

const post = (gw: string, body: unknown) => client.post(`${gw}/v1/visit-tokens`, body, { headers: { 'content-type': 'application/json' } });

for (const [kind, authTransport] of [['memory', 'local'], ['redis', 'http']] as const) {
  describe(`the exchange with the product in the same answer (${kind} store, gateway -> auth ${authTransport})`, function () {
    const env: SuiteSystem = useTestSystem(
      async (ctx) => (kind === 'memory' ? new MemoryStore() : connectTestRedis(ctx)),
      { system: { authTransport }, env: { RATE_LIMIT_PRODUCT: '2', RATE_LIMIT_PRODUCT_WINDOW_SECONDS: '60' } },
    );
    const gw = () => env.system.urls.gateway;
    const sealedFor = async (productId = 'city-pass', userId = 'alice') => {
      const { at } = await demoClient(gw()).requestAccessToken({ userId, productId });
      return sealEnvelope(await fetchEncJwk(gw(), 'ECDH-ES+A256KW'), at);
    };

    it('answers the product document as GET /v1/products/:id does, for the VT sealed beside it', async function () {
      const sealed = await sealedFor('travel-insurance', 'bob');
      const res = await post(gw(), { envelope: sealed.envelope, include: 'product' });
      expect(res.status, JSON.stringify(res.data)).to.equal(200);
      expect(Object.keys(res.data).sort()).to.deep.equal(['envelope', 'product']);
      const { vt, productId } = openReply(res.data.envelope, sealed.r);
      expect(productId).to.equal('travel-insurance');
      const got = await client.get(`${gw()}/v1/products/travel-insurance`, { headers: { authorization: `Bearer ${vt}` } });
      expect(got.status).to.equal(200);
      expect(res.data.product).to.deep.equal(got.data);
      expect(res.data.product.viewer).to.include({ userId: 'bob' });
      expect(res.headers['cache-control']).to.equal('no-store');
    });

    it('without include: the sealed reply only', async function () {
      const sealed = await sealedFor();
      const res = await post(gw(), { envelope: sealed.envelope });
      expect(res.status).to.equal(200);
      expect(Object.keys(res.data)).to.deep.equal(['envelope']);
    });

    it('a wrong include is invalid_request before anything is spent: the same envelope is then exchanged', async function () {
      const sealed = await sealedFor();
      for (const include of ['products', '', 1, ['product'], { product: true }]) {
        const res = await post(gw(), { envelope: sealed.envelope, include });
        expect(res.status, JSON.stringify(include)).to.equal(400);
        expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
        expect(res.data.code).to.equal('invalid_request');
      }
      const res = await post(gw(), { envelope: sealed.envelope, include: 'product' });
      expect(res.status).to.equal(200);
      expect(res.data.product.id).to.equal('city-pass');
    });

    it('the included product counts against the VT rate limit like a product call', async function () {
      const sealed = await sealedFor();
      const res = await post(gw(), { envelope: sealed.envelope, include: 'product' });
      expect(res.data.product).to.be.an('object');
      const { vt } = openReply(res.data.envelope, sealed.r);
      const call = () => client.get(`${gw()}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } });
      // A limit of 2: the included product was the first, this is the second, the third is refused.
      expect((await call()).status).to.equal(200);
      const third = await call();
      expect(third.status).to.equal(429);
      expect(third.data.code).to.equal('rate_limited');
    });

    it('the page retry with the same envelope (same R) gets the VT again but no product: a copy of the envelope reads nothing R does not open', async function () {
      const sealed = await sealedFor();
      const first = await post(gw(), { envelope: sealed.envelope, include: 'product' });
      expect(first.data.product).to.be.an('object');
      const again = await post(gw(), { envelope: sealed.envelope, include: 'product' });
      expect(again.status).to.equal(200);
      expect(Object.keys(again.data)).to.deep.equal(['envelope']);
      // The same VT (its claims; ES256 signs with a fresh nonce each time).
      const claims = (env: string) => openReply(env, sealed.r).vt.split('.')[1];
      expect(claims(again.data.envelope)).to.equal(claims(first.data.envelope));
    });
  });
}

describe('the exchange with the product in the same answer, the product backend down', function () {
  it('answers the VT without the product: the page then asks for it itself', async function () {
    const store = new MemoryStore();
    // Nothing listens where the gateway looks for the product backend.
    const system = await startTestSystem({ store, components: ['auth', 'gateway'], env: { PRODUCTS_URL: `http://127.0.0.1:${await freePort()}` } });
    try {
      const { at } = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      const sealed = sealEnvelope(await fetchEncJwk(system.urls.gateway, 'ECDH-ES+A256KW'), at);
      const res = await post(system.urls.gateway, { envelope: sealed.envelope, include: 'product' });
      expect(res.status, JSON.stringify(res.data)).to.equal(200);
      expect(Object.keys(res.data)).to.deep.equal(['envelope']);
      expect(openReply(res.data.envelope, sealed.r).productId).to.equal('city-pass');
      // The AT is spent: the VT was not lost with the product.
      const replay = await post(system.urls.gateway, { envelope: sealEnvelope(await fetchEncJwk(system.urls.gateway, 'ECDH-ES+A256KW'), at).envelope });
      expect(replay.data.code).to.equal('at_invalid');
    } finally {
      await system.close(0);
      await store.close();
    }
  });
});
