/**
 * The user variant of the pass (flows/challenge/user-pass.ts) over the real gateway and a real
 * Redis: a client whose device key is registered in the countersign flow signs a short-lived pass
 * itself with jose's SignJWT (an implementation independent of the gate's check), and skips the
 * proof of work with it; every way of misusing one is refused with `pow_required`.
 */
import { expect } from 'chai';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, SignJWT } from 'jose';
import { solveChallenge } from 'altcha-lib/v1';
import { connectTestRedis } from '../../support/env.ts';
import { demoClient, fetchEncJwk, http, openReply, sealEnvelope } from '../../support/clients.ts';
import { useTestSystem } from '../../support/system.ts';
import type { AltchaChallenge } from '../../../flows/challenge/altcha.ts';
import { challengeMetrics } from '../../../flows/challenge/metrics.ts';
import { nowSeconds } from '../../../platform/time.ts';
import type { RedisStore } from '../../../platform/store/index.ts';
import { createSecretRing, userPassJtiKey } from '../../../flows/challenge/records.ts';
import { checkUserPass, issueUserNonce, USER_PASS_TYP } from '../../../flows/challenge/user-pass.ts';
import { createStoreKeyRegistry } from '../../../flows/countersign/registry.ts';

const GATE_ENV = {
  CHALLENGE_ROUTES: 'exchange,product',
  CHALLENGE_HASH_RATE: '2000', CHALLENGE_TARGET_MS: '1000',
  CHALLENGE_FREE_PER_MINUTE: '5', CHALLENGE_MAX_FACTOR: '8',
  TRUSTED_PROXIES: '127.0.0.1,::1',
};
const PRODUCT_PATH = '/v1/products/city-pass';

interface DeviceKey { privateKey: KeyObject; jwk: { kty: string; crv: string; x: string; y: string }; kid: string }
async function newDeviceKey(): Promise<DeviceKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const jwk = { kty: kty!, crv: crv!, x: x!, y: y! };
  return { privateKey, jwk, kid: await calculateJwkThumbprint(jwk, 'sha256') };
}

describe('the user pass: signed by a registered device key (flows/challenge, Redis)', function () {
  const env = useTestSystem((ctx) => connectTestRedis(ctx), { env: GATE_ENV });
  const gw = () => env.system.urls.gateway;
  const h5Origin = () => new URL(env.system.urls.h5).origin;
  let addressSeq = 0;
  const freshAddress = () => `198.51.100.${(addressSeq++ % 250) + 1}`;

  async function solve(ch: AltchaChallenge): Promise<string> {
    const s = await solveChallenge(ch.challenge, ch.salt, ch.algorithm, ch.maxnumber).promise;
    if (!s) throw new Error('altcha-lib found no solution');
    return Buffer.from(JSON.stringify({ algorithm: ch.algorithm, challenge: ch.challenge, number: s.number, salt: ch.salt, signature: ch.signature })).toString('base64');
  }
  const postExchange = (envelope: string, headers: Record<string, string> = {}) =>
    http.post(`${gw()}/v1/visit-tokens`, { envelope }, { headers: { 'content-type': 'application/json', 'x-forwarded-for': freshAddress(), ...headers } });
  async function newEnvelope(userId: string) {
    const token = await demoClient(gw()).requestAccessToken({ userId, productId: 'city-pass' });
    return sealEnvelope(await fetchEncJwk(gw()), token.at);
  }

  /** A user with a VT (through the gate, by a proof of work) and a device key registered for it. */
  async function newUser(): Promise<{ userId: string; vt: string; key: DeviceKey }> {
    const userId = `up-${process.pid}-${randomUUID()}`;
    const sealed = await newEnvelope(userId);
    const refused = await postExchange('x');
    expect(refused.data.code).to.equal('pow_required');
    const ex = await postExchange(sealed.envelope, { 'broker-pow': await solve(refused.data.altcha) });
    expect(ex.status, JSON.stringify(ex.data)).to.equal(200);
    const { vt } = openReply(ex.data.envelope, sealed.r);
    const key = await newDeviceKey();
    const reg = await http.post(`${gw()}/v1/countersign/keys`, { kind: 'device', jwk: key.jwk }, { headers: { authorization: `Bearer ${vt}` } });
    expect(reg.status, JSON.stringify(reg.data)).to.equal(201);
    expect(reg.data.kid).to.equal(key.kid);
    return { userId, vt, key };
  }

  async function userNonce(origin = h5Origin()): Promise<string> {
    const res = await http.post(`${gw()}/v1/challenge/user-nonce`, {}, { headers: { origin } });
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    expect(res.data.expiresIn).to.be.a('number');
    return res.data.nonce as string;
  }

  /** A user pass made with jose's SignJWT; `over` replaces claims, `kid` the header's kid. */
  async function userPass(userId: string, key: DeviceKey, over: Record<string, unknown> = {}, opts: { kid?: string; typ?: string } = {}): Promise<string> {
    const now = nowSeconds();
    const claims = { sub: userId, app: 'demo-app', origin: h5Origin(), htm: 'GET', htu: PRODUCT_PATH, iat: now, exp: now + 120, jti: randomUUID(), nonce: await userNonce(), ...over };
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: opts.typ ?? 'broker-user-pass+jwt', kid: opts.kid ?? key.kid }).sign(key.privateKey);
  }

  const product = (vt: string, headers: Record<string, string> = {}) =>
    http.get(`${gw()}${PRODUCT_PATH}`, { headers: { authorization: `Bearer ${vt}`, 'x-forwarded-for': freshAddress(), origin: h5Origin(), ...headers } });

  function expectRefused(res: { status: number; data: { code?: string; detail?: string } }, label: string) {
    expect(res.status, label).to.equal(401);
    expect(res.data.code, label).to.equal('pow_required');
    expect(res.data.detail, label).to.match(/user pass/);
  }

  it('a valid user pass skips the challenge on the product route and on the exchange', async function () {
    const alice = await newUser();
    const bypassed = challengeMetrics.bypassed;
    const withoutPass = await product(alice.vt);
    expect(withoutPass.data.code).to.equal('pow_required');
    const ok = await product(alice.vt, { 'broker-pass': await userPass(alice.userId, alice.key) });
    expect(ok.status, JSON.stringify(ok.data)).to.equal(200);
    expect(challengeMetrics.bypassed).to.equal(bypassed + 1);
    // The exchange, with a pass for its own method and path.
    const sealed = await newEnvelope(alice.userId);
    const ex = await postExchange(sealed.envelope, { origin: h5Origin(), 'broker-pass': await userPass(alice.userId, alice.key, { htm: 'POST', htu: '/v1/visit-tokens' }) });
    expect(ex.status, JSON.stringify(ex.data)).to.equal(200);
    expect(openReply(ex.data.envelope, sealed.r).userId).to.equal(alice.userId);
  });

  it('a pass signed by an unregistered key, by another user\'s key, or naming another user is refused', async function () {
    const alice = await newUser();
    const bob = await newUser();
    const stranger = await newDeviceKey();
    expectRefused(await product(alice.vt, { 'broker-pass': await userPass(alice.userId, stranger) }), 'unregistered key');
    // Bob's registered key, claiming to be Alice.
    expectRefused(await product(alice.vt, { 'broker-pass': await userPass(alice.userId, bob.key) }), 'another user\'s key');
    // Alice's key named by kid, but the signature is Bob's key.
    expectRefused(await product(alice.vt, { 'broker-pass': await userPass(alice.userId, bob.key, {}, { kid: alice.key.kid }) }), 'kid of one key, signed by another');
    // Another app's user id with Alice's key.
    expectRefused(await product(alice.vt, { 'broker-pass': await userPass(alice.userId, alice.key, { app: 'other-app' }) }), 'another app');
    // A relay key is not a device key.
    const relay = await newDeviceKey();
    const reg = await http.post(`${gw()}/v1/countersign/keys`, { kind: 'relay', jwk: relay.jwk }, { headers: { authorization: `Bearer ${alice.vt}` } });
    expect(reg.status).to.equal(201);
    expectRefused(await product(alice.vt, { 'broker-pass': await userPass(alice.userId, relay) }), 'relay key');
    // Bob's own pass still works: the refusals were about the keys, not the users.
    expect((await product(bob.vt, { 'broker-pass': await userPass(bob.userId, bob.key) })).status).to.equal(200);
  });

  it('revoking the device key takes effect at once, also for a pass signed before', async function () {
    const alice = await newUser();
    expect((await product(alice.vt, { 'broker-pass': await userPass(alice.userId, alice.key) })).status).to.equal(200);
    const signedBefore = await userPass(alice.userId, alice.key);
    const revoked = await http.post(`${gw()}/v1/countersign/keys/revoke`, { kid: alice.key.kid }, { headers: { authorization: `Bearer ${alice.vt}` } });
    expect(revoked.status, JSON.stringify(revoked.data)).to.equal(200);
    expectRefused(await product(alice.vt, { 'broker-pass': signedBefore }), 'signed before the revocation');
    expectRefused(await product(alice.vt, { 'broker-pass': await userPass(alice.userId, alice.key) }), 'signed after the revocation');
  });

  it('a pass for another origin or route, replayed, expired, too long-lived, with a foreign nonce or one bit flipped is refused', async function () {
    const alice = await newUser();
    const pass = (over: Record<string, unknown> = {}, opts: { kid?: string; typ?: string } = {}) => userPass(alice.userId, alice.key, over, opts);
    const now = nowSeconds();
    // Another origin: the pass's origin is not the request's, or the request comes from another origin.
    expectRefused(await product(alice.vt, { 'broker-pass': await pass(), origin: 'https://evil.example' }), 'sent from another origin');
    expectRefused(await product(alice.vt, { 'broker-pass': await pass({ origin: 'https://evil.example' }), origin: 'https://evil.example' }), 'for another origin (its nonce is the H5 origin\'s)');
    const noOrigin = await http.get(`${gw()}${PRODUCT_PATH}`, { headers: { authorization: `Bearer ${alice.vt}`, 'x-forwarded-for': freshAddress(), 'broker-pass': await pass() } });
    expectRefused(noOrigin, 'no Origin');
    // Another route or method.
    expectRefused(await product(alice.vt, { 'broker-pass': await pass({ htu: '/v1/visit-tokens' }) }), 'another path');
    expectRefused(await product(alice.vt, { 'broker-pass': await pass({ htm: 'POST' }) }), 'another method');
    // Expired; too long a lifetime; issued in the future.
    expectRefused(await product(alice.vt, { 'broker-pass': await pass({ iat: now - 400, exp: now - 100 }) }), 'expired');
    expectRefused(await product(alice.vt, { 'broker-pass': await pass({ exp: now + 3600 }) }), 'lifetime over 5 min');
    expectRefused(await product(alice.vt, { 'broker-pass': await pass({ iat: now + 600, exp: now + 700 }) }), 'issued in the future');
    // Nonces: made up, or another origin's.
    expectRefused(await product(alice.vt, { 'broker-pass': await pass({ nonce: 'un1.1.99999999999.AAAAAAAAAAAAAAAAAAAAAA.' + 'A'.repeat(43) }) }), 'forged nonce');
    const otherOrigin = (await http.post(`${gw()}/v1/challenge/user-nonce`, {}, { headers: { origin: 'https://evil.example' } }));
    expect(otherOrigin.status).to.equal(403);
    // Another typ (a JWT of another kind signed by the same key is not a pass).
    expectRefused(await product(alice.vt, { 'broker-pass': await pass({}, { typ: 'JWT' }) }), 'another typ');
    // One bit flipped in the signature, and in the payload.
    const good = await pass();
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[7] ^= 0x01;
    expectRefused(await product(alice.vt, { 'broker-pass': `${h}.${p}.${sig.toString('base64url')}` }), 'bit flipped in the signature');
    const body = Buffer.from(p, 'base64url');
    const i = body.indexOf('"htu"') + 2; // a letter of the claim's name
    body[i] ^= 0x01;
    expectRefused(await product(alice.vt, { 'broker-pass': `${h}.${body.toString('base64url')}.${s}` }), 'bit flipped in the payload');
    // None of the refusals spent the genuine pass's jti: it passes once, then its replay is refused.
    expect((await product(alice.vt, { 'broker-pass': good })).status).to.equal(200);
    expectRefused(await product(alice.vt, { 'broker-pass': good }), 'replayed');
  });

  it('parallel replays of one user pass: exactly one passes', async function () {
    const alice = await newUser();
    const pass = await userPass(alice.userId, alice.key);
    const results = await Promise.all(Array.from({ length: 20 }, () => product(alice.vt, { 'broker-pass': pass })));
    expect(results.filter((r) => r.status === 200)).to.have.length(1);
    expect(results.filter((r) => r.data.code === 'pow_required')).to.have.length(19);
  });
});

describe('checkUserPass: why each pass is refused, and nothing written for a refusal (Redis)', function () {
  let store: RedisStore;
  before(async function () {
    store = await connectTestRedis(this);
  });
  after(async () => store?.close());

  const ORIGIN = 'https://h5.example';
  const REQ = { origin: ORIGIN, method: 'GET', path: PRODUCT_PATH };

  it('names the reason: key, owner, expired, origin, route, nonce, signature, replayed', async function () {
    const secrets = createSecretRing(store);
    const registry = createStoreKeyRegistry(store);
    const deps = { store, secrets, registry };
    const alice = await newDeviceKey();
    const bob = await newDeviceKey();
    expect(await registry.register({ app: 'demo-app', sub: 'alice' }, 'device', alice.jwk as never)).to.include({ kid: alice.kid, status: 'active' });
    expect(await registry.register({ app: 'demo-app', sub: 'bob' }, 'device', bob.jwk as never)).to.include({ kid: bob.kid, status: 'active' });
    const now = nowSeconds();
    const { nonce } = await issueUserNonce(secrets, ORIGIN, now);
    const make = (key: DeviceKey, over: Record<string, unknown> = {}) =>
      new SignJWT({ sub: 'alice', app: 'demo-app', origin: ORIGIN, htm: 'GET', htu: PRODUCT_PATH, iat: now, exp: now + 60, jti: randomUUID(), nonce, ...over })
        .setProtectedHeader({ alg: 'ES256', typ: USER_PASS_TYP, kid: key.kid }).sign(key.privateKey);
    const reason = async (token: string, req = REQ) => {
      const r = await checkUserPass(deps, token, req, now);
      return r.ok ? 'ok' : r.reason;
    };
    expect(await reason(await make(await newDeviceKey()))).to.equal('key');
    expect(await reason(await make(bob))).to.equal('owner');
    expect(await reason(await make(alice, { iat: now - 400, exp: now - 100 }))).to.equal('expired');
    expect(await reason(await make(alice, { exp: now + 301 }))).to.equal('lifetime');
    expect(await reason(await make(alice), { ...REQ, origin: 'https://evil.example' })).to.equal('origin');
    expect(await reason(await make(alice), { ...REQ, path: '/v1/visit-tokens' })).to.equal('route');
    expect(await reason(await make(alice, { origin: 'https://evil.example' }), { ...REQ, origin: 'https://evil.example' })).to.equal('nonce');
    const good = await make(alice);
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[40] ^= 0x80;
    const flipped = `${h}.${p}.${sig.toString('base64url')}`;
    expect(await reason(flipped)).to.equal('signature');
    // No refusal wrote the jti: the genuine pass is accepted once, then replayed.
    const jti = JSON.parse(Buffer.from(p, 'base64url').toString()).jti as string;
    expect(await store.get(userPassJtiKey(alice.kid, jti))).to.equal(null);
    expect(await reason(good)).to.equal('ok');
    expect(await store.get(userPassJtiKey(alice.kid, jti))).to.equal('1');
    expect(await reason(good)).to.equal('replayed');
    // Revoked: refused as an unusable key at the next check.
    expect(await registry.revoke({ app: 'demo-app', sub: 'alice' }, alice.kid)).to.equal(true);
    expect(await reason(await make(alice))).to.equal('key');
  });
});
