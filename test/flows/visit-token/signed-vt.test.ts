/** The VT as a signed JWT (ES256, typ vt+jwt): interop with jose, tampering, cross-kind confusion. */
import { expect } from 'chai';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import * as jose from 'jose';
import { signCompact, verifyCompact } from '../../../platform/crypto/jws.ts';
import { MemoryStore } from '../../../platform/store/index.ts';
import { signVisitToken, VT_TYP, vtKey, type VisitTokenRecord } from '../../../flows/visit-token/records.ts';
import type { RunningSystem } from '../../../system/start.ts';
import { demoClient, exchange, fetchEncJwk, fullFlow, http, openReply, sealEnvelope } from '../../support/clients.ts';
import { startTestSystem, testSigningKey } from '../../support/system.ts';

const INTERNAL_TOKEN = 'internal-test-token-0123456789abcdefghij';
const b64u = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('the VT is a signed JWT', function () {
  let system: RunningSystem;
  let store: MemoryStore;
  const product = (vt: string, productId = 'city-pass') =>
    http.get(`${system.urls.gateway}/v1/products/${productId}`, { headers: { authorization: `Bearer ${vt}` } });
  const expectVtInvalid = async (vt: string, productId?: string) => {
    const res = await product(vt, productId);
    expect(res.status, JSON.stringify(res.data)).to.equal(401);
    expect(res.data.code).to.equal('vt_invalid');
    expect(res.headers['www-authenticate']).to.match(/^Bearer error="invalid_token"/);
  };
  /** A VT signed with our key and live in the store, as auth would make it. */
  async function liveVt(over: { productId?: string; now?: number; ttl?: number } = {}) {
    const productId = over.productId ?? 'city-pass';
    const signed = signVisitToken(testSigningKey(), {
      issuer: system.urls.gateway, userId: 'alice', appId: 'demo-app', productId, ttlSeconds: over.ttl ?? 600, now: over.now,
    });
    const record: VisitTokenRecord = { typ: 'vt', appId: 'demo-app', userId: 'alice', productId, iat: signed.claims.iat, exp: signed.claims.exp };
    await store.setIfAbsent(vtKey(signed.claims.jti), JSON.stringify(record), 600);
    return signed;
  }
  /** Claims of a real VT, for forgeries that keep them. */
  const claimsOf = (vt: string) => JSON.parse(Buffer.from(vt.split('.')[1]!, 'base64url').toString('utf8'));

  before(async function () {
    store = new MemoryStore();
    system = await startTestSystem({ store, env: { INTERNAL_TOKEN } });
  });
  after(async function () {
    await system?.close(0);
    await store?.close();
  });

  it('verifies with jose against our JWKS: header, typ, iss, aud, exp and the claims', async function () {
    const { reply, product: res } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
    expect(res.status).to.equal(200);
    expect(res.data.viewer).to.deep.equal({ userId: 'alice', appId: 'demo-app', appName: 'Demo' });
    const jwks = (await http.get(`${system.urls.gateway}/.well-known/jwks.json`)).data;
    const { payload, protectedHeader } = await jose.jwtVerify(reply.vt, jose.createLocalJWKSet(jwks), {
      typ: 'vt+jwt', algorithms: ['ES256'], issuer: system.urls.gateway, audience: 'city-pass',
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    });
    expect(protectedHeader).to.deep.equal({ alg: 'ES256', typ: 'vt+jwt', kid: testSigningKey().kid });
    expect(Object.keys(payload).sort()).to.deep.equal(['app', 'aud', 'exp', 'iat', 'iss', 'jti', 'sub']);
    expect(payload).to.include({ sub: 'alice', app: 'demo-app', aud: 'city-pass', iss: system.urls.gateway });
    expect(payload.exp! - payload.iat!).to.equal(1800);
    expect(Buffer.from(payload.jti!, 'base64url')).to.have.length(16);
    expect(reply.vt.length).to.be.below(1024);
    await expectJoseRefuses(reply.vt, jwks, { audience: 'savings-plus' });
    await expectJoseRefuses(reply.vt, jwks, { issuer: 'https://elsewhere.example' });
  });

  async function expectJoseRefuses(vt: string, jwks: jose.JSONWebKeySet, over: Partial<jose.JWTVerifyOptions>) {
    let failed = false;
    try {
      await jose.jwtVerify(vt, jose.createLocalJWKSet(jwks), { typ: 'vt+jwt', algorithms: ['ES256'], issuer: system.urls.gateway, audience: 'city-pass', ...over });
    } catch {
      failed = true;
    }
    expect(failed).to.equal(true);
  }

  it('our JWS code and jose agree both ways', async function () {
    const key = testSigningKey();
    const claims = { iss: 'i', sub: 's', n: 1 };
    const ours = signCompact({ typ: VT_TYP, kid: key.kid }, claims, key.privateKey);
    expect((await jose.compactVerify(ours, key.publicKey)).protectedHeader).to.deep.equal({ alg: 'ES256', typ: VT_TYP, kid: key.kid });
    const theirs = await new jose.CompactSign(Buffer.from(JSON.stringify(claims))).setProtectedHeader({ alg: 'ES256', typ: VT_TYP, kid: key.kid }).sign(key.privateKey);
    expect((await verifyCompact(theirs, { typ: VT_TYP, keyFor: () => key.publicKey })).payload).to.deep.equal(claims);
  });

  it('a VT jose signs with our key, live in the store, passes the gateway', async function () {
    const signed = await liveVt();
    const token = await new jose.SignJWT({ ...signed.claims }).setProtectedHeader({ alg: 'ES256', typ: 'vt+jwt', kid: testSigningKey().kid }).sign(testSigningKey().privateKey);
    expect((await product(token)).status).to.equal(200);
  });

  it('a tampered payload or signature is vt_invalid', async function () {
    const { vt } = await liveVt();
    expect((await product(vt)).status).to.equal(200);
    const [h, p, s] = vt.split('.') as [string, string, string];
    await expectVtInvalid(`${h}.${b64u({ ...claimsOf(vt), sub: 'mallory' })}.${s}`);
    const sig = Buffer.from(s, 'base64url');
    sig[10] ^= 1;
    await expectVtInvalid(`${h}.${p}.${sig.toString('base64url')}`);
    await expectVtInvalid(`${h}.${p}.${s.slice(0, -4)}`);
    await expectVtInvalid(`${h}.${p}`);
    await expectVtInvalid(`${vt}x`.repeat(20));
  });

  it('an AT presented as a VT is vt_invalid; a VT presented as an AT in an envelope is at_invalid', async function () {
    const { token, reply } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
    await expectVtInvalid(token.at);
    const jwk = await fetchEncJwk(system.urls.gateway, 'ECDH-ES+A256KW');
    const res = await exchange(system.urls.gateway, sealEnvelope(jwk, reply.vt).envelope);
    expect(res.status).to.equal(401);
    expect(res.data.code).to.equal('at_invalid');
  });

  it('alg none, "noNE", HS256 keyed with our public key, and another typ are refused', async function () {
    const { vt } = await liveVt();
    const claims = claimsOf(vt);
    const kid = testSigningKey().kid;
    const body = b64u(claims);
    await expectVtInvalid(`${b64u({ alg: 'none', typ: 'vt+jwt', kid })}.${body}.`);
    await expectVtInvalid(`${b64u({ alg: 'none', typ: 'vt+jwt', kid })}.${body}.${'A'.repeat(86)}`);
    await expectVtInvalid(`${b64u({ alg: 'noNE', typ: 'vt+jwt', kid })}.${body}.${'A'.repeat(86)}`);
    // The classic key confusion: HMAC keyed with the public key's bytes, in every usual form.
    const pub = testSigningKey().publicKey;
    const forms = [pub.export({ format: 'pem', type: 'spki' }), pub.export({ format: 'der', type: 'spki' }), JSON.stringify(testSigningKey().publicJwk)];
    for (const keyBytes of forms) {
      const input = `${b64u({ alg: 'HS256', typ: 'vt+jwt', kid })}.${body}`;
      await expectVtInvalid(`${input}.${createHmac('sha256', keyBytes).update(input).digest('base64url')}`);
    }
    // A correct ES256 signature over another typ (or none) is not a VT.
    for (const typ of ['JWT', 'at+jwt', undefined]) {
      const header = typ ? { alg: 'ES256' as const, typ, kid } : { alg: 'ES256' as const, kid };
      await expectVtInvalid(await new jose.SignJWT(claims).setProtectedHeader(header).sign(testSigningKey().privateKey));
    }
  });

  it('a JWT signed by another P-256 key under our kid is vt_invalid', async function () {
    const { vt } = await liveVt();
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await expectVtInvalid(await new jose.SignJWT(claimsOf(vt)).setProtectedHeader({ alg: 'ES256', typ: 'vt+jwt', kid: testSigningKey().kid }).sign(other.privateKey));
    // An unknown kid as well (it costs at most one JWKS refetch per 30 s).
    await expectVtInvalid(await new jose.SignJWT(claimsOf(vt)).setProtectedHeader({ alg: 'ES256', typ: 'vt+jwt', kid: 'nobody' }).sign(other.privateKey));
  });

  it('a VT for another product is forbidden_product; an expired or unrecorded one is vt_invalid', async function () {
    const { vt } = await liveVt({ productId: 'savings-plus' });
    const res = await product(vt, 'city-pass');
    expect(res.status).to.equal(403);
    expect(res.data.code).to.equal('forbidden_product');
    const old = await liveVt({ now: Math.floor(Date.now() / 1000) - 700, ttl: 600 });
    await expectVtInvalid(old.vt);
    const unrecorded = signVisitToken(testSigningKey(), { issuer: system.urls.gateway, userId: 'alice', appId: 'demo-app', productId: 'city-pass', ttlSeconds: 600 });
    await expectVtInvalid(unrecorded.vt);
    const otherIssuer = signVisitToken(testSigningKey(), { issuer: 'https://evil.example', userId: 'alice', appId: 'demo-app', productId: 'city-pass', ttlSeconds: 600 });
    await store.setIfAbsent(vtKey(otherIssuer.claims.jti), JSON.stringify({ typ: 'vt', appId: 'demo-app', userId: 'alice', productId: 'city-pass', iat: 0, exp: otherIssuer.claims.exp }), 600);
    await expectVtInvalid(otherIssuer.vt);
  });

  it('revocation by replay makes the next product call fail at once, though the signature still verifies', async function () {
    const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
    const jwk = await fetchEncJwk(system.urls.gateway);
    const first = sealEnvelope(jwk, token.at);
    const ex = await exchange(system.urls.gateway, first.envelope);
    const { vt } = openReply(ex.data.envelope, first.r);
    expect((await product(vt)).status).to.equal(200);
    expect((await exchange(system.urls.gateway, sealEnvelope(jwk, token.at).envelope)).data.code).to.equal('at_invalid');
    await expectVtInvalid(vt);
    expect(await store.get(vtKey(claimsOf(vt).jti))).to.equal(null);
  });

  it('the product backend verifies the VT itself: without it, or with one for another product, it refuses', async function () {
    const { reply } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
    const call = (headers: Record<string, string>) =>
      http.get(`${system.urls.products}/products/city-pass`, { headers: { 'x-broker-internal': INTERNAL_TOKEN, 'x-broker-user': 'alice', 'x-broker-app': 'demo-app', ...headers } });
    expect((await call({ 'x-broker-vt': reply.vt })).status).to.equal(200);
    expect((await call({})).data.code).to.equal('vt_invalid');
    const other = await liveVt({ productId: 'savings-plus' });
    expect((await call({ 'x-broker-vt': other.vt })).data.code).to.equal('vt_invalid');
    expect((await call({ 'x-broker-vt': reply.vt, 'x-broker-user': 'mallory' })).data.code).to.equal('vt_invalid');
  });
});
