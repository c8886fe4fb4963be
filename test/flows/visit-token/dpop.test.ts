/**
 * The VT bound to the page's key (RFC 9449, DPoP), from Node against a running system: the page's
 * public key in the envelope becomes `cnf.jkt`; a product call with a bound VT needs a DPoP proof of
 * that key for this very request, used once; introspection shows `cnf`; VTs bound to nothing work
 * as before; the SDK's verifier checks the binding, or trusts the gateway's check.
 */
import { expect } from 'chai';
import { createPublicKey, randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { decryptCompact, encryptCompact } from '../../../platform/crypto/jwe.ts';
import { MemoryStore } from '../../../platform/store/index.ts';
import { accessTokenHash } from '../../../platform/crypto/dpop.ts';
import type { PublicEncJwk } from '../../../flows/keys/keys.ts';
import { createVisitTokenVerifier, VisitTokenRejected } from '../../../sdk/vt-verifier.ts';
import { PROBLEMS } from '../../../protocol/problems.ts';
import type { RunningSystem } from '../../../system/start.ts';
import { demoClient, exchange, fetchEncJwk, http } from '../../support/clients.ts';
import { DEMO_APP, startTestSystem } from '../../support/system.ts';

interface PageKey {
  privateKey: jose.CryptoKey;
  jwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
  jkt: string;
}

async function pageKey(): Promise<PageKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const { x, y } = await jose.exportJWK(publicKey);
  const jwk = { kty: 'EC' as const, crv: 'P-256' as const, x: x!, y: y! };
  return { privateKey, jwk, jkt: await jose.calculateJwkThumbprint(jwk, 'sha256') };
}

/** A DPoP proof as the page makes it; `over` changes one member (for the refusals). */
async function proof(key: PageKey, url: string, vt: string, over: { htm?: string; htu?: string; iat?: number; ath?: string; jwk?: PageKey['jwk']; typ?: string } = {}): Promise<string> {
  return new jose.SignJWT({
    jti: randomBytes(16).toString('base64url'), htm: over.htm ?? 'GET', htu: over.htu ?? url,
    iat: over.iat ?? Math.floor(Date.now() / 1000), ath: over.ath ?? accessTokenHash(vt),
  })
    .setProtectedHeader({ typ: over.typ ?? 'dpop+jwt', alg: 'ES256', jwk: over.jwk ?? key.jwk })
    .sign(key.privateKey);
}

/** The envelope with the page's key in its plaintext (protocol section 2), and R to open the reply. */
function sealWithKey(enc: PublicEncJwk, at: string, jwk: unknown): { envelope: string; r: Buffer } {
  const r = randomBytes(32);
  const envelope = encryptCompact({
    header: { alg: enc.alg, enc: 'A256GCM', kid: enc.kid },
    plaintext: JSON.stringify({ at, iat: Math.floor(Date.now() / 1000), ...(jwk !== undefined && { jwk }) }),
    key: createPublicKey({ key: { ...enc } as Record<string, string>, format: 'jwk' }),
    cek: r,
  });
  return { envelope, r };
}

const claimsOf = (vt: string) => JSON.parse(Buffer.from(vt.split('.')[1]!, 'base64url').toString('utf8'));

describe('DPoP: the VT bound to the page key (RFC 9449)', function () {
  this.timeout(30_000);
  let system: RunningSystem;
  const store = new MemoryStore();
  const productUrl = (productId = 'city-pass') => `${system.urls.gateway}/v1/products/${productId}`;
  const call = (vt: string, headers: Record<string, string> = {}, scheme = 'DPoP', productId = 'city-pass') =>
    http.get(productUrl(productId), { headers: { authorization: `${scheme} ${vt}`, ...headers } });

  /** The whole exchange with the page's key in the envelope; the VT and the answer. */
  async function boundVt(key: PageKey, productId = 'city-pass') {
    const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId });
    const { envelope, r } = sealWithKey(await fetchEncJwk(system.urls.gateway, 'ECDH-ES+A256KW'), token.at, key.jwk);
    const ex = await exchange(system.urls.gateway, envelope);
    expect(ex.status, JSON.stringify(ex.data)).to.equal(200);
    const { plaintext } = decryptCompact(ex.data.envelope, { algorithms: ['dir'], key: () => r });
    return { vt: JSON.parse(plaintext.toString()).vt as string, envelope, r, at: token.at };
  }

  const expectDpopInvalid = (res: { status: number; data: { code?: string }; headers: Record<string, unknown> }) => {
    expect(res.status, JSON.stringify(res.data)).to.equal(401);
    expect(res.data.code).to.equal('dpop_invalid');
    expect(res.headers['www-authenticate']).to.equal(PROBLEMS.dpop_invalid.challenge);
    expect(res.headers['www-authenticate']).to.match(/^DPoP .*error="invalid_dpop_proof".*algs="ES256"/);
  };

  before(async function () {
    system = await startTestSystem({ store });
  });
  after(async function () {
    await system?.close(0);
    await store.close();
  });

  it('the page key in the envelope becomes cnf.jkt (its RFC 7638 thumbprint); a proof for this request opens the product', async function () {
    const key = await pageKey();
    const { vt } = await boundVt(key);
    expect(claimsOf(vt).cnf).to.deep.equal({ jkt: key.jkt });
    const res = await call(vt, { dpop: await proof(key, productUrl(), vt) });
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    expect(res.data.id).to.equal('city-pass');
    // Each call its own proof: a second fresh one works too.
    expect((await call(vt, { dpop: await proof(key, productUrl(), vt) })).status).to.equal(200);
  });

  it('a bound VT without a proof, as a bearer token, with a proof of another key, or a reused proof is refused (dpop_invalid)', async function () {
    const key = await pageKey();
    const { vt } = await boundVt(key);
    expectDpopInvalid(await call(vt));
    expectDpopInvalid(await call(vt, { dpop: await proof(key, productUrl(), vt) }, 'Bearer'));
    const other = await pageKey();
    expectDpopInvalid(await call(vt, { dpop: await proof(other, productUrl(), vt) }));
    // Another key's proof that names our key in its header: the signature does not verify.
    expectDpopInvalid(await call(vt, { dpop: await proof(other, productUrl(), vt, { jwk: key.jwk }) }));
    const once = await proof(key, productUrl(), vt);
    expect((await call(vt, { dpop: once })).status).to.equal(200);
    expectDpopInvalid(await call(vt, { dpop: once }));
  });

  it('every other route that takes the page VT refuses a bound VT without its proof, and takes it with one (payments, second factor, bindings, countersign keys)', async function () {
    const key = await pageKey();
    const { vt } = await boundVt(key);
    const gw = system.urls.gateway;
    const routes: { method: 'GET' | 'POST'; path: string; body?: unknown }[] = [
      { method: 'POST', path: '/v1/products/city-pass/payments', body: { amount: '1.00', currency: 'EUR', payee: 'x', grant: 'not-a-grant' } },
      { method: 'POST', path: '/v1/second-factor', body: { code: '000000', action: 'x' } },
      { method: 'POST', path: '/v1/products/city-pass/actions/close-account', body: { code: '000000' } },
      { method: 'POST', path: '/v1/bindings', body: {} },
      { method: 'GET', path: '/v1/bindings/AAAAAAAAAAAAAAAAAAAAAA' },
      { method: 'POST', path: '/v1/countersign/keys', body: { kind: 'device', jwk: (await pageKey()).jwk } },
    ];
    for (const r of routes) {
      const url = `${gw}${r.path}`;
      const send = (headers: Record<string, string>) => http.request({ method: r.method, url, data: r.body, headers: { 'content-type': 'application/json', ...headers } });
      // As a bearer token, without a proof, with another key's proof, with a proof for another request.
      expectDpopInvalid(await send({ authorization: `Bearer ${vt}` }));
      expectDpopInvalid(await send({ authorization: `DPoP ${vt}` }));
      expectDpopInvalid(await send({ authorization: `DPoP ${vt}`, dpop: await proof(await pageKey(), url, vt, { htm: r.method }) }));
      expectDpopInvalid(await send({ authorization: `DPoP ${vt}`, dpop: await proof(key, productUrl(), vt) }));
      // With its proof the VT is taken: whatever the route answers next, it is not about the VT.
      const ok = await send({ authorization: `DPoP ${vt}`, dpop: await proof(key, url, vt, { htm: r.method }) });
      expect(['vt_invalid', 'dpop_invalid'], `${r.method} ${r.path}: ${ok.status} ${JSON.stringify(ok.data)}`).to.not.include(ok.data?.code);
    }
  });

  it('a proof for another htu or htm, with an iat out of the window, a wrong ath, or another typ is refused', async function () {
    const key = await pageKey();
    const { vt } = await boundVt(key);
    const now = Math.floor(Date.now() / 1000);
    const refused = [
      await proof(key, productUrl(), vt, { htu: productUrl('travel-insurance') }),
      await proof(key, productUrl(), vt, { htu: `http://127.0.0.1:1/v1/products/city-pass` }),
      await proof(key, productUrl(), vt, { htm: 'POST' }),
      await proof(key, productUrl(), vt, { iat: now - 120 }),
      await proof(key, productUrl(), vt, { iat: now + 120 }),
      await proof(key, productUrl(), vt, { ath: accessTokenHash(`${vt}x`) }),
      await proof(key, productUrl(), vt, { typ: 'JWT' }),
      'not.a.proof',
    ];
    for (const p of refused) expectDpopInvalid(await call(vt, { dpop: p }));
    // A query string is not part of htu (RFC 9449 section 4.3).
    expect((await call(vt, { dpop: await proof(key, `${productUrl()}?x=1`, vt) })).status).to.equal(200);
  });

  it('introspection shows cnf for a bound VT (and none for a VT bound to nothing)', async function () {
    const key = await pageKey();
    const { vt } = await boundVt(key);
    const basic = `Basic ${Buffer.from(`${DEMO_APP.appId}:${DEMO_APP.appSecret}`).toString('base64')}`;
    const introspect = (token: string) => http.post(`${system.urls.gateway}/v1/introspect`, new URLSearchParams({ token }).toString(), {
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    });
    const res = await introspect(vt);
    expect(res.data.active).to.equal(true);
    expect(res.data.cnf).to.deep.equal({ jkt: key.jkt });
    const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
    const { envelope, r } = sealWithKey(await fetchEncJwk(system.urls.gateway), token.at, undefined);
    const ex = await exchange(system.urls.gateway, envelope);
    const unbound = JSON.parse(decryptCompact(ex.data.envelope, { algorithms: ['dir'], key: () => r }).plaintext.toString()).vt;
    const plain = await introspect(unbound);
    expect(plain.data.active).to.equal(true);
    expect(plain.data).to.not.have.property('cnf');
  });

  it('a VT bound to nothing works as a bearer token, as before, and is refused under the DPoP scheme', async function () {
    const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
    const { envelope, r } = sealWithKey(await fetchEncJwk(system.urls.gateway), token.at, undefined);
    const ex = await exchange(system.urls.gateway, envelope);
    const vt = JSON.parse(decryptCompact(ex.data.envelope, { algorithms: ['dir'], key: () => r }).plaintext.toString()).vt;
    expect(claimsOf(vt)).to.not.have.property('cnf');
    expect((await call(vt, {}, 'Bearer')).status).to.equal(200);
    const key = await pageKey();
    const res = await call(vt, { dpop: await proof(key, productUrl(), vt) }, 'DPoP');
    expect(res.status).to.equal(401);
    expect(res.data.code).to.equal('vt_invalid');
  });

  it('an envelope whose jwk is not exactly a P-256 public key is envelope_invalid, and its AT stays unspent', async function () {
    const key = await pageKey();
    const { privateKey: _p, ...rest } = key;
    const priv = await jose.exportJWK((await jose.generateKeyPair('ES256', { extractable: true })).privateKey);
    const rsa = await jose.exportJWK((await jose.generateKeyPair('RS256')).publicKey);
    const offCurve = { ...rest.jwk, y: rest.jwk.x };
    const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
    const enc = await fetchEncJwk(system.urls.gateway);
    for (const jwk of [priv, rsa, offCurve, { ...rest.jwk, kid: 'x' }, { ...rest.jwk, crv: 'P-384' }, 'jwk', null]) {
      const res = await exchange(system.urls.gateway, sealWithKey(enc, token.at, jwk).envelope);
      expect(res.status, JSON.stringify(jwk)).to.equal(400);
      expect(res.data.code).to.equal('envelope_invalid');
    }
    const ok = await exchange(system.urls.gateway, sealWithKey(enc, token.at, key.jwk).envelope);
    expect(ok.status, 'the AT was not spent by the refused envelopes').to.equal(200);
  });

  it("the page's retry with the same R gets the same bound VT again (cnf from the VT's record)", async function () {
    const key = await pageKey();
    const first = await boundVt(key);
    const again = await exchange(system.urls.gateway, first.envelope);
    expect(again.status).to.equal(200);
    const vt = JSON.parse(decryptCompact(again.data.envelope, { algorithms: ['dir'], key: () => first.r }).plaintext.toString()).vt;
    expect(claimsOf(vt).jti).to.equal(claimsOf(first.vt).jti);
    expect(claimsOf(vt).cnf).to.deep.equal({ jkt: key.jkt });
  });

  describe('sdk/vt-verifier', function () {
    const verifier = (boundTokens?: 'proof' | 'gateway') =>
      createVisitTokenVerifier({ jwksUrl: `${system.urls.gateway}/.well-known/jwks.json`, issuer: system.urls.gateway, audience: 'city-pass', boundTokens });
    const url = 'https://partner.example/api/me';

    it("a bound VT needs a proof of its key for this request, once ('proof', the default)", async function () {
      const key = await pageKey();
      const { vt } = await boundVt(key);
      const v = verifier();
      const rejected = async (p: Promise<unknown>, reason: RegExp) => {
        const err = await p.then(() => undefined, (e: unknown) => e);
        expect(err).to.be.instanceOf(VisitTokenRejected);
        expect((err as VisitTokenRejected).reason).to.match(reason);
      };
      await rejected(v.verify(vt), /DPOP_PROOF_MISSING/);
      await rejected(v.verify(vt, { dpop: { proof: undefined, method: 'GET', url } }), /DPOP_MISSING/);
      await rejected(v.verify(vt, { dpop: { proof: await proof(await pageKey(), url, vt), method: 'GET', url } }), /DPOP_KEY/);
      await rejected(v.verify(vt, { dpop: { proof: await proof(key, url, vt), method: 'POST', url } }), /DPOP_HTM/);
      await rejected(v.verify(vt, { dpop: { proof: await proof(key, `${url}x`, vt), method: 'GET', url } }), /DPOP_HTU/);
      const once = await proof(key, url, vt);
      expect((await v.verify(vt, { dpop: { proof: once, method: 'GET', url } })).cnf).to.deep.equal({ jkt: key.jkt });
      await rejected(v.verify(vt, { dpop: { proof: once, method: 'GET', url } }), /DPOP_REPLAYED/);
    });

    it("'gateway' (a product backend behind the gateway) accepts a bound VT without a proof; a VT bound to nothing needs none either way", async function () {
      const { vt } = await boundVt(await pageKey());
      expect((await verifier('gateway').verify(vt)).cnf?.jkt).to.be.a('string');
      const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      const { envelope, r } = sealWithKey(await fetchEncJwk(system.urls.gateway), token.at, undefined);
      const ex = await exchange(system.urls.gateway, envelope);
      const unbound = JSON.parse(decryptCompact(ex.data.envelope, { algorithms: ['dir'], key: () => r }).plaintext.toString()).vt;
      expect((await verifier().verify(unbound)).sub).to.equal('alice');
    });
  });
});
