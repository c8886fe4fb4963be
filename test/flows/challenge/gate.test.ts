/**
 * The proof-of-work gate (flows/challenge) over the real gateway and a real Redis: scripted clients
 * solve its challenges with altcha-lib's v1 solver (an independent implementation of ALTCHA's
 * format), and every way of cheating named in issue 13 is refused.
 */
import { expect } from 'chai';
import { generateKeyPairSync, sign as signData, type KeyObject } from 'node:crypto';
import { solveChallenge } from 'altcha-lib/v1';
import { connectTestRedis } from '../../support/env.ts';
import { demoClient, exchange, fetchEncJwk, fullFlow, http, openReply, sealEnvelope } from '../../support/clients.ts';
import { useTestSystem } from '../../support/system.ts';
import { createChallenge, type AltchaChallenge } from '../../../flows/challenge/altcha.ts';
import { createSecretRing, lengthPrefixed } from '../../../flows/challenge/records.ts';
import { refreshMessage, signPass } from '../../../flows/challenge/pass.ts';
import { challengeMetrics } from '../../../flows/challenge/metrics.ts';
import { metricsText } from '../../../platform/metrics/index.ts';

/** A sample's value in this process's Prometheus text (0 before its first count). */
async function promValue(series: string): Promise<number> {
  const line = (await metricsText()).body.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
import { RedisStore } from '../../../platform/store/index.ts';
import { nowSeconds } from '../../../platform/time.ts';

const GATE_ENV = {
  CHALLENGE_ROUTES: 'exchange,product',
  // base maxnumber 2 × 2000 × 1 s = 4000: quick for the test's solver, the same code path as 1 s on a phone.
  CHALLENGE_HASH_RATE: '2000', CHALLENGE_TARGET_MS: '1000',
  CHALLENGE_FREE_PER_MINUTE: '5', CHALLENGE_MAX_FACTOR: '8',
  TRUSTED_PROXIES: '127.0.0.1,::1',
};
const BASE = 4000;

/** The ALTCHA v1 payload for a challenge, solved by altcha-lib (not by our code). */
async function solve(ch: AltchaChallenge): Promise<string> {
  const solution = await solveChallenge(ch.challenge, ch.salt, ch.algorithm, ch.maxnumber).promise;
  if (!solution) throw new Error('altcha-lib found no solution');
  return payloadOf(ch, solution.number);
}
function payloadOf(ch: Pick<AltchaChallenge, 'algorithm' | 'challenge' | 'salt' | 'signature'>, number: number): string {
  return Buffer.from(JSON.stringify({ algorithm: ch.algorithm, challenge: ch.challenge, number, salt: ch.salt, signature: ch.signature, took: 1 })).toString('base64');
}

/** A P-256 key as the page holds it, and its public JWK. */
function deviceKey(): { privateKey: KeyObject; jwk: { kty: string; crv: string; x: string; y: string } } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  return { privateKey, jwk: { kty: kty!, crv: crv!, x: x!, y: y! } };
}

describe('the proof-of-work gate (flows/challenge, Redis)', function () {
  const env = useTestSystem((ctx) => connectTestRedis(ctx), { env: GATE_ENV });
  const gw = () => env.system.urls.gateway;
  const h5Origin = () => new URL(env.system.urls.h5).origin;
  let addressSeq = 0;
  /** A fresh client address for each request that should see base difficulty (the proxy's X-Forwarded-For). */
  const freshAddress = () => `198.51.100.${(addressSeq++ % 250) + 1}`;

  async function newEnvelope() {
    const token = await demoClient(gw()).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
    return sealEnvelope(await fetchEncJwk(gw()), token.at);
  }
  function postExchange(envelope: string, headers: Record<string, string> = {}) {
    return http.post(`${gw()}/v1/visit-tokens`, { envelope }, { headers: { 'content-type': 'application/json', 'x-forwarded-for': freshAddress(), ...headers } });
  }
  /** A challenge the gateway issues for the exchange route. */
  async function exchangeChallenge(headers: Record<string, string> = {}): Promise<AltchaChallenge> {
    const res = await postExchange('not-an-envelope', headers);
    expect(res.status).to.equal(401);
    expect(res.data.code).to.equal('pow_required');
    return res.data.altcha as AltchaChallenge;
  }
  /** A VT through the gate, and a pass for it. */
  async function vtAndPass(key = deviceKey()) {
    const sealed = await newEnvelope();
    const ch = await exchangeChallenge();
    const ex = await postExchange(sealed.envelope, { 'broker-pow': await solve(ch) });
    expect(ex.status, JSON.stringify(ex.data)).to.equal(200);
    const { vt } = openReply(ex.data.envelope, sealed.r);
    const res = await http.post(`${gw()}/v1/challenge/pass`, { jwk: key.jwk }, { headers: { authorization: `Bearer ${vt}`, origin: h5Origin(), 'content-type': 'application/json' } });
    expect(res.status, JSON.stringify(res.data)).to.equal(201);
    return { vt, pass: res.data.pass as string, cookie: String(res.headers['set-cookie']), key };
  }
  function product(vt: string, headers: Record<string, string> = {}) {
    return http.get(`${gw()}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}`, 'x-forwarded-for': freshAddress(), ...headers } });
  }

  it('a client without a pass is refused with a challenge, solves it with altcha-lib and passes', async function () {
    const sealed = await newEnvelope();
    const refused = await postExchange(sealed.envelope);
    expect(refused.status).to.equal(401);
    expect(refused.headers['content-type']).to.match(/^application\/problem\+json/);
    expect(refused.data.code).to.equal('pow_required');
    expect(refused.data.detail).to.match(/Broker-PoW/);
    const ch = refused.data.altcha as AltchaChallenge;
    expect(ch).to.include({ algorithm: 'SHA-256', maxnumber: BASE });
    expect(ch.salt).to.match(/\?.*path=%2Fv1%2Fvisit-tokens.*&$/);
    expect(refused.headers['www-authenticate']).to.equal(
      `BrokerPoW realm="h5-broker", algorithm="SHA-256", challenge="${ch.challenge}", maxnumber=${ch.maxnumber}, salt="${ch.salt}", signature="${ch.signature}"`,
    );
    const solved = challengeMetrics.solved;
    const solvedSeries = await promValue('broker_challenge_events_total{event="solved"}');
    const ok = await postExchange(sealed.envelope, { 'broker-pow': await solve(ch) });
    expect(ok.status, JSON.stringify(ok.data)).to.equal(200);
    expect(openReply(ok.data.envelope, sealed.r).productId).to.equal('city-pass');
    expect(challengeMetrics.solved).to.equal(solved + 1);
    // The same count on /metrics (docs/metrics.md).
    expect(await promValue('broker_challenge_events_total{event="solved"}')).to.equal(solvedSeries + 1);
  });

  it('a random hash (no solution), a replayed solution and a solution for another route are refused', async function () {
    const ch = await exchangeChallenge();
    const failed = challengeMetrics.failed;
    // A number that is not the solution (altcha-lib's is the only one below maxnumber).
    const good = await solve(ch);
    const n = JSON.parse(Buffer.from(good, 'base64').toString()).number as number;
    const wrong = await postExchange('x', { 'broker-pow': payloadOf(ch, (n + 1) % (ch.maxnumber + 1)) });
    expect(wrong.status).to.equal(401);
    expect(wrong.data.code).to.equal('pow_required');
    // A payload that is random bytes.
    const junk = await postExchange('x', { 'broker-pow': Buffer.from('{"algorithm":"SHA-256","challenge":"' + 'ab'.repeat(32) + '"}').toString('base64') });
    expect(junk.status).to.equal(401);
    // Spent once (the envelope is refused after the gate: 400), then replayed: 401.
    const first = await postExchange('x', { 'broker-pow': good });
    expect(first.status).to.equal(400);
    expect(first.data.code).to.equal('envelope_invalid');
    const replay = await postExchange('x', { 'broker-pow': good });
    expect(replay.status).to.equal(401);
    expect(replay.data.detail).to.match(/already used/);
    // Another route: a solution of a product route's challenge at another product, and at the exchange.
    const { vt } = await vtAndPass();
    const pr = await product(vt);
    expect(pr.status).to.equal(401);
    const productPayload = await solve(pr.data.altcha);
    const other = await http.get(`${gw()}/v1/products/savings-plus`, { headers: { authorization: `Bearer ${vt}`, 'broker-pow': productPayload } });
    expect(other.status).to.equal(401);
    expect(other.data.code).to.equal('pow_required');
    const atExchange = await postExchange('x', { 'broker-pow': productPayload });
    expect(atExchange.status).to.equal(401);
    // ...and the same solution still works where it was issued for (it was not spent by the refusals).
    expect((await product(vt, { 'broker-pow': productPayload })).status).to.equal(200);
    expect(challengeMetrics.failed).to.be.at.least(failed + 5);
  });

  it('200 parallel submissions of one solution: exactly one passes the gate', async function () {
    this.timeout(60_000);
    const payload = await solve(await exchangeChallenge());
    const answers = await Promise.all(Array.from({ length: 200 }, () => postExchange('x', { 'broker-pow': payload })));
    const passed = answers.filter((a) => a.status !== 401);
    expect(passed).to.have.length(1);
    expect(passed[0]!.data.code).to.equal('envelope_invalid');
    expect(answers.filter((a) => a.status === 401 && a.data.code === 'pow_required')).to.have.length(199);
  });

  it('an expired challenge, a lowered difficulty and a spliced field are refused', async function () {
    const secrets = createSecretRing(env.store);
    const now = nowSeconds();
    const keys = await secrets.current(now);
    // Expired: a challenge signed with the gateway's own key whose expiry has passed.
    const expired = createChallenge(keys, { method: 'POST', path: '/v1/visit-tokens' }, 1000, now - 1);
    const r1 = await postExchange('x', { 'broker-pow': await solve(expired) });
    expect(r1.status).to.equal(401);
    // Lowered difficulty: a client rewrites the salt's maxnumber and makes its own challenge for
    // a number it chose, keeping the gateway's signature.
    const hard = await exchangeChallenge();
    const easySalt = hard.salt.replace(/maxnumber=\d+/, 'maxnumber=10');
    const { createHash } = await import('node:crypto');
    const forged = { ...hard, salt: easySalt, challenge: createHash('sha256').update(easySalt + '3').digest('hex') };
    const r2 = await postExchange('x', { 'broker-pow': payloadOf(forged, 3) });
    expect(r2.status).to.equal(401);
    // Also the payload's own maxnumber lowered on a genuine solution.
    const genuine = JSON.parse(Buffer.from(await solve(hard), 'base64').toString());
    const r3 = await postExchange('x', { 'broker-pow': Buffer.from(JSON.stringify({ ...genuine, maxnumber: 10 })).toString('base64') });
    expect(r3.status).to.equal(401);
    // Spliced: a digit moved from the number into the salt (salt + number is the same string, so the hash holds).
    const ch = await exchangeChallenge();
    const sol = JSON.parse(Buffer.from(await solve(ch), 'base64').toString());
    const digits = String(sol.number);
    if (digits.length > 1) {
      const spliced = { ...sol, salt: ch.salt + digits[0], number: Number(digits.slice(1)) };
      expect((await postExchange('x', { 'broker-pow': Buffer.from(JSON.stringify(spliced)).toString('base64') })).status).to.equal(401);
    }
    // A field moved across the path parameter's boundary.
    const moved = { ...sol, salt: ch.salt.replace('path=%2Fv1%2Fvisit-tokens', 'path=%2Fv1%2Fvisit-tokens%2F') };
    expect((await postExchange('x', { 'broker-pow': Buffer.from(JSON.stringify(moved)).toString('base64') })).status).to.equal(401);
    // Length-prefixed MAC input: two field lists that concatenate alike differ.
    expect(lengthPrefixed(['ab', 'c']).equals(lengthPrefixed(['a', 'bc']))).to.equal(false);
    // The genuine solution still passes (none of the refusals spent it).
    expect((await postExchange('x', { 'broker-pow': Buffer.from(JSON.stringify(sol)).toString('base64') })).status).to.equal(400);
  });

  describe('the pass', function () {
    it('a valid pass (header or cookie) skips the challenge on both routes; the user id in it is pairwise', async function () {
      const { vt, pass, cookie } = await vtAndPass();
      const bypassed = challengeMetrics.bypassed;
      expect((await product(vt, { 'broker-pass': pass, origin: h5Origin() })).status).to.equal(200);
      expect(cookie).to.match(/^broker_pass=bp1\.[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
      const cookiePair = cookie.split(';')[0]!;
      expect((await product(vt, { cookie: cookiePair, origin: h5Origin() })).status).to.equal(200);
      const sealed = await newEnvelope();
      const ex = await postExchange(sealed.envelope, { 'broker-pass': pass, origin: h5Origin() });
      expect(ex.status, JSON.stringify(ex.data)).to.equal(200);
      expect(challengeMetrics.bypassed).to.equal(bypassed + 3);
      const claims = JSON.parse(Buffer.from(pass.split('.')[1]!, 'base64url').toString());
      expect(claims.sub).to.match(/^[A-Za-z0-9_-]{22}$/).and.not.equal('alice');
      expect(JSON.stringify(claims)).not.to.include('alice');
      // The same user of the same app gets the same pairwise id.
      const again = await vtAndPass();
      expect(JSON.parse(Buffer.from(again.pass.split('.')[1]!, 'base64url').toString()).sub).to.equal(claims.sub);
    });

    it('a pass with one bit flipped, expired, revoked, for another origin or signed with another key does not skip it', async function () {
      const { vt, pass } = await vtAndPass();
      const o = { origin: h5Origin() };
      expect((await product(vt, { 'broker-pass': pass, ...o })).status).to.equal(200);
      // One bit flipped in the payload, and in the MAC.
      for (const part of [1, 2]) {
        const parts = pass.split('.');
        const bytes = Buffer.from(parts[part]!, 'base64url');
        bytes[5] ^= 0x01;
        parts[part] = bytes.toString('base64url');
        const res = await product(vt, { 'broker-pass': parts.join('.'), ...o });
        expect(res.status).to.equal(401);
        expect(res.data.code).to.equal('pow_required');
      }
      // Another origin.
      expect((await product(vt, { 'broker-pass': pass, origin: 'https://evil.example' })).status).to.equal(401);
      expect((await product(vt, { 'broker-pass': pass })).status).to.equal(401);
      // Expired: the same claims signed with the gateway's key, with an exp in the past.
      const claims = JSON.parse(Buffer.from(pass.split('.')[1]!, 'base64url').toString());
      const now = nowSeconds();
      const { kid: _kid, ...rest } = claims;
      const expired = await signPass(createSecretRing(env.store), { ...rest, iat: now - 600, exp: now - 1 }, now);
      expect((await product(vt, { 'broker-pass': expired.pass, ...o })).status).to.equal(401);
      const fresh = await signPass(createSecretRing(env.store), { ...rest, iat: now, exp: now + 60 }, now);
      expect((await product(vt, { 'broker-pass': fresh.pass, ...o })).status).to.equal(200);
      // Another key: the same claims under a broker secret of another store.
      const otherStore = await RedisStore.connect({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379', prefix: `test:other:${now}:${Math.random()}:` });
      try {
        const foreign = await signPass(createSecretRing(otherStore), { ...rest, iat: now, exp: now + 60 }, now);
        expect((await product(vt, { 'broker-pass': foreign.pass, ...o })).status).to.equal(401);
      } finally {
        await otherStore.close();
      }
      // Revoked by its holder.
      const rv = await http.post(`${gw()}/v1/challenge/revoke`, null, { headers: { 'broker-pass': pass, ...o } });
      expect(rv.status).to.equal(204);
      expect(String(rv.headers['set-cookie'])).to.match(/^broker_pass=; .*Max-Age=0/);
      expect((await product(vt, { 'broker-pass': pass, ...o })).status).to.equal(401);
      expect((await product(vt, { 'broker-pass': fresh.pass, ...o })).status).to.equal(401);
    });

    it('is refreshed against a single-use server nonce signed with its key; another key, a used nonce or another origin cannot', async function () {
      const { vt, pass, key } = await vtAndPass();
      const o = { origin: h5Origin() };
      const nonceOf = async (p: string) => {
        const res = await http.post(`${gw()}/v1/challenge/nonce`, null, { headers: { 'broker-pass': p, ...o } });
        expect(res.status, JSON.stringify(res.data)).to.equal(200);
        return res.data.nonce as string;
      };
      const proof = (k: KeyObject, nonce: string, origin = h5Origin()) => signData('sha256', Buffer.from(refreshMessage(nonce, origin)), { key: k, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      const refresh = (p: string, body: unknown, origin = h5Origin()) => http.post(`${gw()}/v1/challenge/refresh`, body, { headers: { 'broker-pass': p, origin, 'content-type': 'application/json' } });

      // Another key (its own JWK, or the pass's JWK with a proof by another key): refused.
      const thief = deviceKey();
      let nonce = await nonceOf(pass);
      const r1 = await refresh(pass, { nonce, jwk: thief.jwk, proof: proof(thief.privateKey, nonce) });
      expect(r1.status).to.equal(401);
      expect(r1.data.code).to.equal('pass_invalid');
      const r2 = await refresh(pass, { nonce, jwk: key.jwk, proof: proof(thief.privateKey, nonce) });
      expect(r2.status).to.equal(401);
      // Another origin.
      expect((await refresh(pass, { nonce, jwk: key.jwk, proof: proof(key.privateKey, nonce, 'https://evil.example') }, 'https://evil.example')).status).to.equal(401);
      // The holder's key: a new pass (the refusals did not spend the nonce), which skips the gate.
      const ok = await refresh(pass, { nonce, jwk: key.jwk, proof: proof(key.privateKey, nonce) });
      expect(ok.status, JSON.stringify(ok.data)).to.equal(200);
      expect(ok.data.pass).to.match(/^bp1\./);
      const exp = (p: string) => JSON.parse(Buffer.from(p.split('.')[1]!, 'base64url').toString()).exp as number;
      expect(exp(ok.data.pass)).to.be.at.least(exp(pass));
      expect((await product(vt, { 'broker-pass': ok.data.pass, ...o })).status).to.equal(200);
      // The nonce again: refused.
      const again = await refresh(pass, { nonce, jwk: key.jwk, proof: proof(key.privateKey, nonce) });
      expect(again.status).to.equal(401);
      expect(again.data.detail).to.match(/nonce/);
      // A nonce of another pass: refused.
      const otherPass = (await vtAndPass()).pass;
      nonce = await nonceOf(otherPass);
      expect((await refresh(pass, { nonce, jwk: key.jwk, proof: proof(key.privateKey, nonce) })).status).to.equal(401);
    });

    it('is issued only for a live VT, to an H5 origin, for a P-256 public key', async function () {
      const { vt, key } = await vtAndPass();
      const post = (headers: Record<string, string>, body: unknown) => http.post(`${gw()}/v1/challenge/pass`, body, { headers: { 'content-type': 'application/json', ...headers } });
      expect((await post({ authorization: `Bearer ${vt}`, origin: 'https://evil.example' }, { jwk: key.jwk })).data.code).to.equal('forbidden');
      expect((await post({ authorization: 'Bearer x.y.z', origin: h5Origin() }, { jwk: key.jwk })).data.code).to.equal('vt_invalid');
      expect((await post({ authorization: `Bearer ${vt}`, origin: h5Origin() }, { jwk: { ...key.jwk, crv: 'P-384' } })).data.code).to.equal('invalid_request');
    });
  });

  it('difficulty rises for a flooding address (an IPv6 client by its /64), capped, and not for another', async function () {
    const maxOf = async (address: string) => {
      const res = await http.post(`${gw()}/v1/visit-tokens`, { envelope: 'x' }, { headers: { 'content-type': 'application/json', 'x-forwarded-for': address } });
      expect(res.status).to.equal(401);
      return (res.data.altcha as AltchaChallenge).maxnumber;
    };
    const seen: number[] = [];
    for (let i = 0; i < 30; i++) seen.push(await maxOf(`2001:db8:77:1::${(i % 5) + 1}`));
    expect(seen.slice(0, 5)).to.deep.equal([BASE, BASE, BASE, BASE, BASE]);
    expect(seen.slice(5, 10)).to.deep.equal(Array(5).fill(2 * BASE));
    expect(seen.slice(10, 15)).to.deep.equal(Array(5).fill(4 * BASE));
    expect(seen.slice(15)).to.deep.equal(Array(15).fill(8 * BASE));
    // Another address, and another /64: the base.
    expect(await maxOf('203.0.113.200')).to.equal(BASE);
    expect(await maxOf('2001:db8:77:2::1')).to.equal(BASE);
    // The flooder's raised challenge still solves, with the independent solver.
    const res = await http.post(`${gw()}/v1/visit-tokens`, { envelope: 'x' }, { headers: { 'content-type': 'application/json', 'x-forwarded-for': '2001:db8:77:1::9' } });
    expect(res.data.altcha.maxnumber).to.equal(8 * BASE);
  });
});

describe('the proof-of-work gate is off by default', function () {
  const env = useTestSystem((ctx) => connectTestRedis(ctx));
  it('no route asks for a proof of work and no pass route is served', async function () {
    const { product } = await fullFlow(env.system.urls.gateway);
    expect(product.status).to.equal(200);
    expect((await exchange(env.system.urls.gateway, 'x')).data.code).to.equal('envelope_invalid');
    const pass = await http.post(`${env.system.urls.gateway}/v1/challenge/pass`, {});
    expect(pass.data.code, JSON.stringify(pass.data)).to.equal('not_found');
  });
});
