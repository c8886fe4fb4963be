/** RFC 7662 introspection and RFC 7009 revocation of VTs, for registered apps and product backends (HTTP Basic). */
import { expect } from 'chai';
import { PROBLEMS } from '../../../protocol/problems.ts';
import { createRegistry, RegistryError } from '../../../flows/apps/registry.ts';
import { MemoryStore } from '../../../platform/store/index.ts';
import { signVisitToken, vtKey } from '../../../flows/visit-token/records.ts';
import type { RunningSystem } from '../../../system/start.ts';
import { fullFlow, http } from '../../support/clients.ts';
import { CITY_PASS_BACKEND, DEMO_APP, OTHER_APP, startTestSystem, testSigningKey } from '../../support/system.ts';

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const DEMO = basic(DEMO_APP.appId, DEMO_APP.appSecret);
const BACKEND = basic(CITY_PASS_BACKEND.clientId, CITY_PASS_BACKEND.clientSecret);

describe('introspection (RFC 7662) and revocation (RFC 7009)', function () {
  let system: RunningSystem;
  let store: MemoryStore;
  const post = (path: string, form: Record<string, string>, authorization = DEMO, type = 'application/x-www-form-urlencoded') =>
    http.post(`${system.urls.gateway}${path}`, new URLSearchParams(form).toString(), { headers: { authorization, 'content-type': type } });
  const introspect = (token: string, authorization?: string) => post('/v1/introspect', { token, token_type_hint: 'access_token' }, authorization);
  /** Every credential in `authorizations` gets 401 invalid_client with a Basic challenge, on both endpoints. */
  async function expectInvalidClient(vt: string, authorizations: string[]): Promise<void> {
    for (const authorization of authorizations) {
      for (const path of ['/v1/introspect', '/v1/revoke']) {
        const res = await post(path, { token: vt }, authorization);
        expect(res.status, `${path} ${authorization}`).to.equal(401);
        expect(res.data.code).to.equal('invalid_client');
        expect(res.headers['www-authenticate']).to.match(/^Basic /);
      }
    }
  }
  const product = (vt: string, productId = 'city-pass') => http.get(`${system.urls.gateway}/v1/products/${productId}`, { headers: { authorization: `Bearer ${vt}` } });

  before(async function () {
    store = new MemoryStore();
    system = await startTestSystem({ store, env: { VT_TTL_SECONDS: '60' } });
  });
  after(async function () {
    await system?.close(0);
    await store?.close();
  });

  it('a live VT is active with its claims, no-store', async function () {
    const { reply } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
    const res = await introspect(reply.vt);
    expect(res.status).to.equal(200);
    expect(res.headers['cache-control']).to.equal('no-store');
    expect(res.data).to.include({ active: true, sub: 'alice', app: 'demo-app', aud: 'city-pass', token_type: 'vt+jwt', iss: system.urls.gateway });
    expect(res.data.exp - res.data.iat).to.equal(60);
    expect(res.data.jti).to.match(/^[A-Za-z0-9_-]{22}$/);
  });

  it('expired, revoked (record gone), unknown and malformed tokens are inactive, and nothing more', async function () {
    const { reply, token } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
    const past = signVisitToken(testSigningKey(), { issuer: system.urls.gateway, userId: 'alice', appId: 'demo-app', productId: 'city-pass', ttlSeconds: 60, now: Math.floor(Date.now() / 1000) - 120 });
    await store.setIfAbsent(vtKey(past.claims.jti), JSON.stringify({ typ: 'vt', appId: 'demo-app', userId: 'alice', productId: 'city-pass', iat: past.claims.iat, exp: past.claims.exp }), 60);
    const jti = JSON.parse(Buffer.from(reply.vt.split('.')[1]!, 'base64url').toString()).jti;
    await store.delete(vtKey(jti)); // the record expired or was revoked
    for (const t of [past.vt, reply.vt, token.at, 'nonsense', 'a.b.c']) {
      const res = await introspect(t);
      expect(res.status).to.equal(200);
      expect(res.data).to.deep.equal({ active: false });
    }
  });

  it("another app's VT is inactive to it, and its revocation does nothing", async function () {
    const { reply } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
    const other = basic(OTHER_APP.appId, OTHER_APP.appSecret);
    expect((await introspect(reply.vt, other)).data).to.deep.equal({ active: false });
    const rev = await post('/v1/revoke', { token: reply.vt }, other);
    expect(rev.status).to.equal(200);
    expect((await product(reply.vt)).status).to.equal(200);
  });

  it('bad client credentials are 401 invalid_client, on both endpoints', async function () {
    const { reply } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
    await expectInvalidClient(reply.vt, [basic(DEMO_APP.appId, 'wrong-secret'), basic('nobody', DEMO_APP.appSecret), '', 'Basic !!!', `Bearer ${reply.vt}`, 'Basic ' + Buffer.from('no-colon').toString('base64')]);
    expect((await product(reply.vt)).status).to.equal(200);
  });

  it('a missing token is invalid_request; JSON is unsupported_media_type', async function () {
    expect((await post('/v1/introspect', {})).data.code).to.equal('invalid_request');
    expect((await post('/v1/introspect', { token: 'x' }, DEMO, 'application/json')).status).to.equal(415);
  });

  it('revocation takes effect on the next product call; revoking again is still 200', async function () {
    const { reply, product: first } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
    expect(first.status).to.equal(200);
    const rev = await post('/v1/revoke', { token: reply.vt, token_type_hint: 'access_token' });
    expect(rev.status).to.equal(200);
    expect(rev.headers['cache-control']).to.equal('no-store');
    // An empty body with no media type (docs/protocol.md section 5).
    expect(rev.headers['content-length']).to.equal('0');
    expect(rev.headers['content-type']).to.equal(undefined);
    const after = await product(reply.vt);
    expect(after.status).to.equal(401);
    expect(after.data.code).to.equal('vt_invalid');
    expect((await introspect(reply.vt)).data).to.deep.equal({ active: false });
    expect((await post('/v1/revoke', { token: reply.vt })).status).to.equal(200);
    expect((await post('/v1/revoke', { token: 'garbage' })).status).to.equal(200);
  });

  it('the Basic scheme is case-insensitive (RFC 9110 section 11.1); the challenge is the table\'s', async function () {
    const { reply } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
    for (const scheme of ['basic', 'BASIC']) {
      const res = await post('/v1/introspect', { token: reply.vt }, DEMO.replace(/^Basic/, scheme));
      expect(res.status, scheme).to.equal(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expect(res.data.active, scheme).to.equal(true);
    }
    const refused = await post('/v1/introspect', { token: reply.vt }, 'Bearer ' + reply.vt);
    expect(refused.status).to.equal(401);
    expect(refused.headers['www-authenticate']).to.equal(PROBLEMS.invalid_client.challenge);
  });

  describe('for a registered product backend', function () {
    it("introspects a VT for its product: active, with the VT's claims", async function () {
      const { reply } = await fullFlow(system.urls.gateway, 'bob', 'city-pass');
      const res = await introspect(reply.vt, BACKEND);
      expect(res.status).to.equal(200);
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.data).to.include({ active: true, sub: 'bob', app: 'demo-app', aud: 'city-pass', token_type: 'vt+jwt', iss: system.urls.gateway });
      expect(res.data.jti).to.match(/^[A-Za-z0-9_-]{22}$/);
    });

    it('a VT of another product is inactive to it, and its revocation does nothing', async function () {
      const { reply, product: first } = await fullFlow(system.urls.gateway, 'bob', 'savings-plus');
      expect(first.status).to.equal(200);
      expect((await introspect(reply.vt, BACKEND)).data).to.deep.equal({ active: false });
      expect((await post('/v1/revoke', { token: reply.vt }, BACKEND)).status).to.equal(200);
      expect((await product(reply.vt, 'savings-plus')).status).to.equal(200);
      // The app that holds it still sees it.
      expect((await introspect(reply.vt)).data.active).to.equal(true);
    });

    it('a bad or missing secret is 401 invalid_client, on both endpoints', async function () {
      const { reply } = await fullFlow(system.urls.gateway, 'bob', 'city-pass');
      await expectInvalidClient(reply.vt, [basic(CITY_PASS_BACKEND.clientId, 'wrong-secret'), basic(CITY_PASS_BACKEND.clientId, DEMO_APP.appSecret), basic(CITY_PASS_BACKEND.clientId, '')]);
      expect((await product(reply.vt)).status).to.equal(200);
    });

    it('revokes a VT for its product: the next product call is vt_invalid', async function () {
      const { reply, product: first } = await fullFlow(system.urls.gateway, 'bob', 'city-pass');
      expect(first.status).to.equal(200);
      const rev = await post('/v1/revoke', { token: reply.vt }, BACKEND);
      expect(rev.status).to.equal(200);
      expect(rev.data).to.equal('');
      const after = await product(reply.vt);
      expect(after.status).to.equal(401);
      expect(after.data.code).to.equal('vt_invalid');
      expect((await introspect(reply.vt, BACKEND)).data).to.deep.equal({ active: false });
      expect((await introspect(reply.vt)).data).to.deep.equal({ active: false });
    });

    it('the registry checks backends: secret length, products, unknown members, ids unique across apps and backends', function () {
      const apps = [{ ...DEMO_APP, allowedOrigins: [] }];
      const withBackend = (b: Record<string, unknown>) => createRegistry({ apps, backends: [{ ...CITY_PASS_BACKEND, ...b }] });
      expect(withBackend({}).backend('city-pass-backend')!.products).to.deep.equal(['city-pass']);
      expect(withBackend({}).get('city-pass-backend')).to.equal(undefined);
      expect(() => withBackend({ clientSecret: 'short' })).to.throw(RegistryError, /backend city-pass-backend: clientSecret must be at least 32 characters/);
      expect(() => withBackend({ products: [] })).to.throw(RegistryError, /backend city-pass-backend: products must be a non-empty list/);
      expect(() => withBackend({ products: ['City Pass'] })).to.throw(RegistryError, /products must be a non-empty list/);
      expect(() => withBackend({ clientId: 'x' })).to.throw(RegistryError, /backends\[0\]: clientId must be 3-64/);
      expect(() => withBackend({ appSecret: 'x'.repeat(40) })).to.throw(RegistryError, /has unknown members: appSecret/);
      expect(() => withBackend({ clientId: 'demo-app' })).to.throw(RegistryError, /backend demo-app: has the id of an app/);
      expect(() => createRegistry({ apps, backends: [CITY_PASS_BACKEND, CITY_PASS_BACKEND] })).to.throw(RegistryError, /is listed twice/);
      expect(() => createRegistry({ apps, backends: {} })).to.throw(RegistryError, /"backends" must be a list/);
    });
  });
});
