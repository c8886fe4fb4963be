/** The verifier product backends use (sdk/vt-verifier.ts, on jose): fetch, cache, unknown kid storm, audience. */
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import * as jose from 'jose';
import { toJwks } from '../../flows/keys/keys.ts';
import { signVisitToken } from '../../flows/visit-token/records.ts';
import { createVisitTokenVerifier, VerifierUnavailable, VisitTokenRejected } from '../../sdk/vt-verifier.ts';
import { testKeys, testSigningKey } from '../support/system.ts';

const ISSUER = 'https://gateway.example';

describe('the VT verifier for product backends', function () {
  let server: http.Server;
  let jwksUrl: string;
  let fetches = 0;

  before(async function () {
    const body = JSON.stringify(toJwks(testKeys(), [testSigningKey()]));
    server = http.createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    fetches = 0;
  });

  const vtFor = (productId = 'city-pass', issuer = ISSUER) =>
    signVisitToken(testSigningKey(), { issuer, userId: 'alice', appId: 'demo-app', productId, ttlSeconds: 600 }).vt;
  async function rejection(p: Promise<unknown>): Promise<VisitTokenRejected> {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(VisitTokenRejected);
      return err as VisitTokenRejected;
    }
    throw new Error('expected a rejection');
  }

  it('verifies a VT, fetching the JWKS once and then from its cache', async function () {
    const verifier = createVisitTokenVerifier({ jwksUrl, issuer: ISSUER, audience: 'city-pass' });
    for (let i = 0; i < 20; i++) expect(await verifier.verify(vtFor())).to.include({ sub: 'alice', app: 'demo-app', aud: 'city-pass' });
    expect(fetches).to.equal(1);
  });

  // Outside review (hardening issue): the verifier could not pin `app`, so a partner server took
  // any app's VT that named its address. Failed before (the option did not exist).
  it('pins the app when given one: another app\'s VT is refused as a claim failure, cached or not', async function () {
    const vt = vtFor();
    const pinned = createVisitTokenVerifier({ jwksUrl, issuer: ISSUER, audience: 'city-pass', app: 'app-b' });
    expect((await rejection(pinned.verify(vt))).reason).to.equal('ERR_JWT_CLAIM_VALIDATION_FAILED');
    expect(await pinned.verify(vt, { app: ['app-b', 'demo-app'] })).to.include({ app: 'demo-app' });
    // Verified once for a list that allows it, and still refused where only app-b is allowed.
    expect((await rejection(pinned.verify(vt))).reason).to.equal('ERR_JWT_CLAIM_VALIDATION_FAILED');
    expect(await createVisitTokenVerifier({ jwksUrl, issuer: ISSUER, audience: 'city-pass', app: 'demo-app' }).verify(vt)).to.include({ sub: 'alice' });
    expect(await createVisitTokenVerifier({ jwksUrl, issuer: ISSUER, audience: 'city-pass', app: [] }).verify(vt).catch((e) => e)).to.be.instanceOf(VisitTokenRejected);
  });

  it('refuses another audience, another issuer, an expired VT and another typ', async function () {
    const verifier = createVisitTokenVerifier({ jwksUrl, issuer: ISSUER, audience: 'city-pass' });
    expect((await rejection(verifier.verify(vtFor('savings-plus')))).reason).to.equal('ERR_JWT_CLAIM_VALIDATION_FAILED');
    expect((await verifier.verify(vtFor('savings-plus'), { audience: 'savings-plus' })).aud).to.equal('savings-plus');
    await rejection(verifier.verify(vtFor('city-pass', 'https://evil.example')));
    const expired = signVisitToken(testSigningKey(), { issuer: ISSUER, userId: 'a', appId: 'demo-app', productId: 'city-pass', ttlSeconds: 60, now: Math.floor(Date.now() / 1000) - 120 }).vt;
    expect((await rejection(verifier.verify(expired))).reason).to.equal('ERR_JWT_EXPIRED');
    const at = await new jose.SignJWT({ sub: 'a', app: 'demo-app', jti: 'x' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: testSigningKey().kid })
      .setIssuer(ISSUER).setAudience('city-pass').setIssuedAt().setExpirationTime('5m').sign(testSigningKey().privateKey);
    await rejection(verifier.verify(at));
  });

  it('remembers a verified VT only until its exp, and only for the audience it was checked for', async function () {
    this.timeout(10_000);
    const verifier = createVisitTokenVerifier({ jwksUrl, issuer: ISSUER, audience: 'city-pass' });
    const now = Math.floor(Date.now() / 1000);
    // A VT that expires within the next two seconds: accepted now (and remembered)...
    const short = signVisitToken(testSigningKey(), { issuer: ISSUER, userId: 'a', appId: 'demo-app', productId: 'city-pass', ttlSeconds: 2, now }).vt;
    expect((await verifier.verify(short)).sub).to.equal('a');
    expect((await verifier.verify(short)).sub).to.equal('a');
    // ...checked anew, and refused, for another audience even though it is remembered...
    expect((await rejection(verifier.verify(short, { audience: 'savings-plus' }))).reason).to.equal('ERR_JWT_CLAIM_VALIDATION_FAILED');
    // ...and refused once its exp has passed: the memory never outlives the token.
    await new Promise((r) => setTimeout(r, (now + 2 - Date.now() / 1000) * 1000 + 100));
    expect((await rejection(verifier.verify(short))).reason).to.equal('ERR_JWT_EXPIRED');
  });

  it('a storm of 50 tokens with an unknown kid makes at most 2 JWKS fetches', async function () {
    const verifier = createVisitTokenVerifier({ jwksUrl, issuer: ISSUER, audience: 'city-pass', cooldownMs: 30_000 });
    await verifier.verify(vtFor());
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      new jose.SignJWT({ sub: 'a', app: 'demo-app', jti: `j${i}` }).setProtectedHeader({ alg: 'ES256', typ: 'vt+jwt', kid: `unknown-${i}` })
        .setIssuer(ISSUER).setAudience('city-pass').setIssuedAt().setExpirationTime('5m').sign(other.privateKey)));
    const results = await Promise.allSettled(forged.map((t) => verifier.verify(t)));
    expect(results.every((r) => r.status === 'rejected')).to.equal(true);
    expect(fetches).to.be.at.most(2);
    // Known keys go on verifying throughout.
    expect((await verifier.verify(vtFor())).sub).to.equal('alice');
  });

  it('a JWKS that cannot be fetched (no server, a 500, not a JWKS) is VerifierUnavailable (503), never a refused token', async function () {
    const broken = http.createServer((req, res) => {
      if (req.url === '/500') res.writeHead(500).end('oops');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"nope"}');
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/jwks`;
    await new Promise<void>((r) => closed.close(() => r()));
    try {
      for (const url of [closedUrl, `${base}/500`, `${base}/not-a-jwks`]) {
        const verifier = createVisitTokenVerifier({ jwksUrl: url, issuer: ISSUER, audience: 'city-pass' });
        const err = await verifier.verify(vtFor()).then(() => undefined, (e: unknown) => e);
        expect(err, url).to.be.instanceOf(VerifierUnavailable);
        expect((err as VerifierUnavailable).toJSON()).to.include({ status: 503, code: 'upstream_unavailable' });
      }
    } finally {
      await new Promise<void>((r) => broken.close(() => r()));
    }
  });
});
