/** RFC 7662 introspection and RFC 7009 revocation of VTs, for registered apps (HTTP Basic). */
import { expect } from 'chai';
import { MemoryStore } from '../common/store/index.ts';
import { signVisitToken, vtKey } from '../common/tokens.ts';
import type { RunningSystem } from '../scripts/system.ts';
import { fullFlow, http } from './support/clients.ts';
import { DEMO_APP, OTHER_APP, startTestSystem, testSigningKey } from './support/system.ts';

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const DEMO = basic(DEMO_APP.appId, DEMO_APP.appSecret);

describe('introspection (RFC 7662) and revocation (RFC 7009)', function () {
  let system: RunningSystem;
  let store: MemoryStore;
  const post = (path: string, form: Record<string, string>, authorization = DEMO, type = 'application/x-www-form-urlencoded') =>
    http.post(`${system.urls.gateway}${path}`, new URLSearchParams(form).toString(), { headers: { authorization, 'content-type': type } });
  const introspect = (token: string, authorization?: string) => post('/v1/introspect', { token, token_type_hint: 'access_token' }, authorization);
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
    for (const authorization of [basic(DEMO_APP.appId, 'wrong-secret'), basic('nobody', DEMO_APP.appSecret), '', 'Basic !!!', `Bearer ${reply.vt}`, 'Basic ' + Buffer.from('no-colon').toString('base64')]) {
      for (const path of ['/v1/introspect', '/v1/revoke']) {
        const res = await post(path, { token: reply.vt }, authorization);
        expect(res.status, `${path} ${authorization}`).to.equal(401);
        expect(res.data.code).to.equal('invalid_client');
        expect(res.headers['www-authenticate']).to.match(/^Basic /);
      }
    }
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
    const after = await product(reply.vt);
    expect(after.status).to.equal(401);
    expect(after.data.code).to.equal('vt_invalid');
    expect((await introspect(reply.vt)).data).to.deep.equal({ active: false });
    expect((await post('/v1/revoke', { token: reply.vt })).status).to.equal(200);
    expect((await post('/v1/revoke', { token: 'garbage' })).status).to.equal(200);
  });
});
