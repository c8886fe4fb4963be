import { expect } from 'chai';
import { MemoryStore } from '../../platform/store/index.ts';
import { connectTestRedis } from '../support/env.ts';
import { fullFlow, http } from '../support/clients.ts';
import { testSigningKey, useTestSystem } from '../support/system.ts';

// Gateway and auth in one process call each other directly; the last run goes over auth's HTTP
// port as a gateway in another process does.
for (const [kind, authTransport] of [['memory', 'local'], ['redis', 'local'], ['redis', 'http']] as const) {
  describe(`the whole flow over HTTP (${kind} store, gateway -> auth ${authTransport})`, function () {
    const env = useTestSystem((ctx) => (kind === 'memory' ? new MemoryStore() : connectTestRedis(ctx)), { system: { authTransport } });

    it('signs -> AT -> envelope -> VT -> product', async function () {
      const { token, reply, product } = await fullFlow(env.system.urls.gateway, 'alice', 'city-pass');
      expect(token.userId).to.equal('alice');
      expect(token.productId).to.equal('city-pass');
      expect(token.at).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(token.exp - Math.floor(Date.now() / 1000)).to.be.within(290, 300);
      expect(reply).to.include({ userId: 'alice', productId: 'city-pass', expiresIn: 1800 });
      expect(product.status).to.equal(200);
      expect(product.data.name).to.equal('Lisbon City Pass');
      // The product backend saw the identity the gateway verified, not anything the client sent.
      expect(product.data.viewer).to.deep.equal({ userId: 'alice', appId: 'demo-app', appName: 'Demo' });
      expect(product.headers['cache-control']).to.equal('no-store');
    });

    it('signs -> AT -> ECDH-ES+A256KW envelope -> VT -> product', async function () {
      const { reply, product } = await fullFlow(env.system.urls.gateway, 'chen', 'travel-insurance', 'ECDH-ES+A256KW');
      expect(reply).to.include({ userId: 'chen', productId: 'travel-insurance', expiresIn: 1800 });
      expect(product.status).to.equal(200);
      expect(product.data.viewer).to.deep.equal({ userId: 'chen', appId: 'demo-app', appName: 'Demo' });
    });

    it('the product backend ignores identity headers a client sets itself', async function () {
      const { reply } = await fullFlow(env.system.urls.gateway, 'bob', 'savings-plus');
      const res = await http.get(`${env.system.urls.gateway}/v1/products/savings-plus`, {
        headers: { authorization: `Bearer ${reply.vt}`, 'x-broker-user': 'mallory', 'x-broker-app': 'evil' },
      });
      expect(res.data.viewer).to.deep.equal({ userId: 'bob', appId: 'demo-app', appName: 'Demo' });
    });

    it('a VT opens only its own product', async function () {
      const { reply } = await fullFlow(env.system.urls.gateway, 'alice', 'city-pass');
      const res = await http.get(`${env.system.urls.gateway}/v1/products/savings-plus`, { headers: { authorization: `Bearer ${reply.vt}` } });
      expect(res.status).to.equal(403);
      expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
      expect(res.data.code).to.equal('forbidden_product');
    });

    it('the product API refuses a missing or unknown VT with vt_invalid', async function () {
      const none = await http.get(`${env.system.urls.gateway}/v1/products/city-pass`);
      const unknown = await http.get(`${env.system.urls.gateway}/v1/products/city-pass`, { headers: { authorization: `Bearer ${'A'.repeat(43)}` } });
      for (const res of [none, unknown]) {
        expect(res.status).to.equal(401);
        expect(res.data).to.include({ code: 'vt_invalid', status: 401 });
        expect(res.headers['www-authenticate']).to.match(/^Bearer/);
      }
    });

    it('auth refuses anyone but the gateway', async function () {
      const res = await http.post(`${env.system.urls.auth}/internal/access-tokens`, { appId: 'demo-app', userId: 'x', productId: 'city-pass' });
      expect(res.status).to.equal(403);
      expect(res.data.code).to.equal('forbidden');
      const wrong = await http.post(`${env.system.urls.auth}/internal/access-tokens`, { appId: 'demo-app', userId: 'x', productId: 'city-pass' }, { headers: { 'x-broker-internal': 'guess' } });
      expect(wrong.status).to.equal(403);
    });

    it('publishes the encryption keys (use enc) and the VT signing keys (use sig: current, then next) in the JWKS, with kids and no private part', async function () {
      const res = await http.get(`${env.system.urls.gateway}/.well-known/jwks.json`);
      expect(res.status).to.equal(200);
      const [rsa, ec, okp, sig, next, ...more] = res.data.keys;
      expect(more).to.deep.equal([]);
      expect(sig).to.deep.equal(testSigningKey().publicJwk);
      expect(next).to.include({ kty: 'EC', crv: 'P-256', use: 'sig', alg: 'ES256' });
      expect(Object.keys(next).sort()).to.deep.equal(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(next.kid).to.not.equal(sig.kid);
      expect(sig).to.include({ kty: 'EC', crv: 'P-256', use: 'sig', alg: 'ES256' });
      expect(rsa).to.include({ kty: 'RSA', use: 'enc', alg: 'RSA-OAEP-256' });
      expect(ec).to.include({ kty: 'EC', crv: 'P-256', use: 'enc', alg: 'ECDH-ES+A256KW' });
      expect(Object.keys(ec).sort()).to.deep.equal(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(okp).to.include({ kty: 'OKP', crv: 'X25519', use: 'enc', alg: 'ECDH-ES+A256KW' });
      expect(Object.keys(okp).sort()).to.deep.equal(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      for (const key of [rsa, ec, okp, sig]) {
        expect(key.kid).to.be.a('string').with.length.greaterThan(20);
        for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.to.have.property(priv);
      }
      expect(new Set([rsa.kid, ec.kid, okp.kid, sig.kid]).size).to.equal(4);
    });

    it('health and readiness answer', async function () {
      expect((await http.get(`${env.system.urls.gateway}/healthz`)).status).to.equal(200);
      const ready = await http.get(`${env.system.urls.gateway}/readyz`);
      expect(ready.status).to.equal(200);
      expect(ready.data.checks).to.deep.equal({ store: 'ok', auth: 'ok' });
    });

    it('a wrong method is a problem+json 405 that names the allowed ones', async function () {
      const res = await http.get(`${env.system.urls.gateway}/v1/access-tokens`);
      expect(res.status).to.equal(405);
      expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
      expect(res.data.code).to.equal('method_not_allowed');
      expect(res.headers.allow).to.match(/POST/);
    });

    it('an unknown route is a problem+json 404, never a stack trace', async function () {
      const res = await http.get(`${env.system.urls.gateway}/v1/nothing-here`);
      expect(res.status).to.equal(404);
      expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
      expect(res.data.code).to.equal('not_found');
    });
  });
}
