/**
 * Interop with jose, an independent JOSE implementation: a third party or an H5 page built with
 * an off-the-shelf library, not our code, must be able to do every step.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { decryptCompact, encryptCompact } from '../../platform/crypto/jwe.ts';
import { MemoryStore } from '../../platform/store/index.ts';
import { fetchEncJwk, http } from '../support/clients.ts';
import { DEMO_APP, testKey, useTestSystem } from '../support/system.ts';
import { signRequest } from '../../platform/http/signature.ts';

describe('interop with jose', function () {
  const env = useTestSystem(() => new MemoryStore());

  async function requestAtJwe(userId = 'alice', productId = 'city-pass'): Promise<string> {
    const path = '/v1/access-tokens';
    const body = JSON.stringify({ userId, productId });
    const headers = { 'content-type': 'application/json' };
    const sig = signRequest({ method: 'POST', targetUri: env.system.urls.gateway + path, headers, body, keyId: DEMO_APP.appId, secret: DEMO_APP.appSecret });
    const res = await http.post(env.system.urls.gateway + path, body, { headers: { ...headers, ...sig }, transformRequest: [(d) => d] });
    expect(res.status).to.equal(201);
    return res.data.accessToken;
  }

  it('jose opens the AT JWE with the app encKey (A256KW / A256GCM)', async function () {
    const jwe = await requestAtJwe();
    const { plaintext, protectedHeader } = await jose.compactDecrypt(jwe, Buffer.from(DEMO_APP.encKey, 'base64url'), {
      keyManagementAlgorithms: ['A256KW'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    expect(protectedHeader).to.include({ alg: 'A256KW', enc: 'A256GCM' });
    const payload = JSON.parse(new TextDecoder().decode(plaintext));
    expect(payload).to.include({ userId: 'alice', productId: 'city-pass' });
    expect(payload.at).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(payload.exp).to.be.a('number');
  });

  it('a jose client seals the envelope, gets a VT, and opens the reply with its own R', async function () {
    const jwe = await requestAtJwe('chen', 'savings-plus');
    const { plaintext } = await jose.compactDecrypt(jwe, Buffer.from(DEMO_APP.encKey, 'base64url'));
    const { at } = JSON.parse(new TextDecoder().decode(plaintext));

    const jwk = await fetchEncJwk(env.system.urls.gateway);
    const publicKey = await jose.importJWK(jwk, 'RSA-OAEP-256');
    const r = randomBytes(32);
    const envelope = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify({ at, iat: Math.floor(Date.now() / 1000) })))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid })
      .setContentEncryptionKey(r)
      .encrypt(publicKey);
    const ex = await http.post(`${env.system.urls.gateway}/v1/visit-tokens`, { envelope });
    expect(ex.status, JSON.stringify(ex.data)).to.equal(200);

    const reply = await jose.compactDecrypt(ex.data.envelope, r, { keyManagementAlgorithms: ['dir'] });
    expect(reply.protectedHeader).to.deep.equal({ alg: 'dir', enc: 'A256GCM' });
    const vt = JSON.parse(new TextDecoder().decode(reply.plaintext));
    expect(vt).to.include({ userId: 'chen', productId: 'savings-plus', expiresIn: 1800 });
    const product = await http.get(`${env.system.urls.gateway}/v1/products/savings-plus`, { headers: { authorization: `Bearer ${vt.vt}` } });
    expect(product.status).to.equal(200);
    expect(product.data.viewer.userId).to.equal('chen');
  });

  it('a jose client seals an ECDH-ES+A256KW envelope, gets a VT through the gateway, and opens the reply with its own R', async function () {
    const jwe = await requestAtJwe('dana', 'travel-insurance');
    const { plaintext } = await jose.compactDecrypt(jwe, Buffer.from(DEMO_APP.encKey, 'base64url'));
    const { at } = JSON.parse(new TextDecoder().decode(plaintext));

    const jwk = await fetchEncJwk(env.system.urls.gateway, 'ECDH-ES+A256KW');
    expect(jwk).to.include({ kty: 'EC', crv: 'P-256', use: 'enc', alg: 'ECDH-ES+A256KW' });
    const publicKey = await jose.importJWK(jwk, 'ECDH-ES+A256KW');
    const r = randomBytes(32);
    const envelope = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify({ at, iat: Math.floor(Date.now() / 1000) })))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: jwk.kid })
      .setContentEncryptionKey(r)
      .encrypt(publicKey);
    expect(jose.decodeProtectedHeader(envelope).epk).to.include({ kty: 'EC', crv: 'P-256' });
    const ex = await http.post(`${env.system.urls.gateway}/v1/visit-tokens`, { envelope });
    expect(ex.status, JSON.stringify(ex.data)).to.equal(200);

    const reply = await jose.compactDecrypt(ex.data.envelope, r, { keyManagementAlgorithms: ['dir'] });
    expect(reply.protectedHeader).to.deep.equal({ alg: 'dir', enc: 'A256GCM' });
    const vt = JSON.parse(new TextDecoder().decode(reply.plaintext));
    expect(vt).to.include({ userId: 'dana', productId: 'travel-insurance', expiresIn: 1800 });
    const product = await http.get(`${env.system.urls.gateway}/v1/products/travel-insurance`, { headers: { authorization: `Bearer ${vt.vt}` } });
    expect(product.status).to.equal(200);
    expect(product.data.viewer.userId).to.equal('dana');
  });

  it('our code opens ECDH-ES+A256KW JWEs jose made, with and without apu/apv, and gets jose\'s CEK', async function () {
    const key = testKey('ECDH-ES+A256KW');
    const open = (jwe: string) => decryptCompact(jwe, { algorithms: ['ECDH-ES+A256KW'], key: () => key.privateKey });
    const cek = randomBytes(32);
    const plain = await new jose.CompactEncrypt(new TextEncoder().encode('ecdh'))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: key.kid })
      .setContentEncryptionKey(cek)
      .encrypt(key.publicKey);
    const opened = open(plain);
    expect(opened.plaintext.toString()).to.equal('ecdh');
    expect(opened.cek.equals(cek)).to.equal(true);

    const withParties = await new jose.CompactEncrypt(new TextEncoder().encode('parties'))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' })
      .setKeyManagementParameters({ apu: new TextEncoder().encode('Alice'), apv: new TextEncoder().encode('Bob') })
      .encrypt(key.publicKey);
    expect(jose.decodeProtectedHeader(withParties)).to.include({ apu: 'QWxpY2U', apv: 'Qm9i' });
    expect(open(withParties).plaintext.toString()).to.equal('parties');
  });

  it('jose opens ECDH-ES+A256KW JWEs our code made', async function () {
    const key = testKey('ECDH-ES+A256KW');
    const cek = randomBytes(32);
    for (const header of [
      { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: key.kid },
      { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', apu: 'QWxpY2U', apv: 'Qm9i' },
    ] as const) {
      const ours = encryptCompact({ header, plaintext: 'hello', key: key.publicKey, cek });
      const { plaintext, protectedHeader } = await jose.compactDecrypt(ours, key.privateKey, { keyManagementAlgorithms: ['ECDH-ES+A256KW'] });
      expect(new TextDecoder().decode(plaintext)).to.equal('hello');
      expect(protectedHeader).to.deep.include(header);
      expect(protectedHeader.epk).to.have.all.keys('kty', 'crv', 'x', 'y');
    }
  });

  it('a jose client seals an ECDH-ES+A256KW envelope to the X25519 key (RFC 8037) of the JWKS, gets a VT, and opens the reply', async function () {
    const jwe = await requestAtJwe('erin', 'city-pass');
    const { plaintext } = await jose.compactDecrypt(jwe, Buffer.from(DEMO_APP.encKey, 'base64url'));
    const { at } = JSON.parse(new TextDecoder().decode(plaintext));

    const jwks = (await http.get(`${env.system.urls.gateway}/.well-known/jwks.json`)).data as { keys: Record<string, string>[] };
    const jwk = jwks.keys.find((k) => k.kty === 'OKP')!;
    expect(jwk).to.deep.include({ kty: 'OKP', crv: 'X25519', use: 'enc', alg: 'ECDH-ES+A256KW' });
    expect(jwk).to.have.all.keys('kty', 'crv', 'x', 'kid', 'use', 'alg');
    const publicKey = await jose.importJWK(jwk, 'ECDH-ES+A256KW');
    const r = randomBytes(32);
    const envelope = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify({ at, iat: Math.floor(Date.now() / 1000) })))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: jwk.kid! })
      .setContentEncryptionKey(r)
      .encrypt(publicKey);
    expect(jose.decodeProtectedHeader(envelope).epk).to.deep.include({ kty: 'OKP', crv: 'X25519' });
    const ex = await http.post(`${env.system.urls.gateway}/v1/visit-tokens`, { envelope });
    expect(ex.status, JSON.stringify(ex.data)).to.equal(200);
    const reply = await jose.compactDecrypt(ex.data.envelope, r, { keyManagementAlgorithms: ['dir'] });
    const vt = JSON.parse(new TextDecoder().decode(reply.plaintext));
    expect(vt).to.include({ userId: 'erin', productId: 'city-pass' });
    const product = await http.get(`${env.system.urls.gateway}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt.vt}` } });
    expect(product.status).to.equal(200);
  });

  it('our code opens X25519 ECDH-ES+A256KW JWEs jose made (with and without apu/apv), and jose opens ours', async function () {
    const key = testKey('X25519');
    expect(key.publicJwk).to.include({ kty: 'OKP', crv: 'X25519' });
    const open = (jwe: string) => decryptCompact(jwe, { algorithms: ['ECDH-ES+A256KW'], key: () => key.privateKey });
    const cek = randomBytes(32);
    const fromJose = await new jose.CompactEncrypt(new TextEncoder().encode('x25519'))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: key.kid })
      .setContentEncryptionKey(cek)
      .encrypt(key.publicKey);
    const opened = open(fromJose);
    expect(opened.plaintext.toString()).to.equal('x25519');
    expect(opened.cek.equals(cek)).to.equal(true);
    const withParties = await new jose.CompactEncrypt(new TextEncoder().encode('parties'))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' })
      .setKeyManagementParameters({ apu: new TextEncoder().encode('Alice'), apv: new TextEncoder().encode('Bob') })
      .encrypt(key.publicKey);
    expect(open(withParties).plaintext.toString()).to.equal('parties');

    for (const header of [
      { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: key.kid },
      { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', apu: 'QWxpY2U', apv: 'Qm9i' },
    ] as const) {
      const ours = encryptCompact({ header, plaintext: 'hello', key: key.publicKey, cek });
      const { plaintext, protectedHeader } = await jose.compactDecrypt(ours, key.privateKey, { keyManagementAlgorithms: ['ECDH-ES+A256KW'] });
      expect(new TextDecoder().decode(plaintext)).to.equal('hello');
      expect(protectedHeader.epk).to.have.all.keys('kty', 'crv', 'x');
      expect(protectedHeader.epk).to.include({ kty: 'OKP', crv: 'X25519' });
    }
  });

  it('our code opens JWEs jose made: A256KW, RSA-OAEP-256 and dir', async function () {
    const secret = randomBytes(32);
    const kw = await new jose.CompactEncrypt(new TextEncoder().encode('kw')).setProtectedHeader({ alg: 'A256KW', enc: 'A256GCM' }).encrypt(secret);
    expect(decryptCompact(kw, { algorithms: ['A256KW'], key: () => secret }).plaintext.toString()).to.equal('kw');

    const { publicKey, privateKey } = await jose.generateKeyPair('RSA-OAEP-256', { extractable: true });
    const rsa = await new jose.CompactEncrypt(new TextEncoder().encode('rsa')).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'k1' }).encrypt(publicKey);
    const opened = decryptCompact(rsa, { algorithms: ['RSA-OAEP-256'], key: () => privateKey as unknown as import('node:crypto').KeyObject });
    expect(opened.plaintext.toString()).to.equal('rsa');
    expect(opened.cek).to.have.length(32);

    const dir = await new jose.CompactEncrypt(new TextEncoder().encode('dir')).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(secret);
    expect(decryptCompact(dir, { algorithms: ['dir'], key: () => secret }).plaintext.toString()).to.equal('dir');
  });

  it('jose opens JWEs our code made, and ours refuses what jose would refuse', async function () {
    const secret = randomBytes(32);
    const ours = encryptCompact({ header: { alg: 'A256KW', enc: 'A256GCM' }, plaintext: 'hello', key: secret });
    expect(new TextDecoder().decode((await jose.compactDecrypt(ours, secret)).plaintext)).to.equal('hello');
    const parts = ours.split('.');
    const tag = Buffer.from(parts[4]!, 'base64url');
    tag[0]! ^= 1;
    const tampered = [...parts.slice(0, 4), tag.toString('base64url')].join('.');
    let joseError: unknown;
    await jose.compactDecrypt(tampered, secret).catch((e) => (joseError = e));
    expect(joseError).to.be.instanceOf(jose.errors.JWEDecryptionFailed);
    expect(() => decryptCompact(tampered, { algorithms: ['A256KW'], key: () => secret })).to.throw('JWE cannot be opened');
  });
});
