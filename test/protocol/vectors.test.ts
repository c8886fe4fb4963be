/**
 * The test vectors of docs/vectors/ stay true: each is checked through our own code and, where it
 * is JOSE, through jose as an independent implementation (and node:crypto for the HMAC).
 */
import { expect } from 'chai';
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import { aesKeyWrap, b64u, concatKdf, decryptCompact } from '../../platform/crypto/jwe.ts';
import { parseSignature, signRequest, signatureBase, verifyContentDigest, verifySignature } from '../../platform/http/signature.ts';
import { verifyVisitToken } from '../../flows/visit-token/records.ts';

const vector = (name: string) => JSON.parse(readFileSync(new URL(`../../docs/vectors/${name}`, import.meta.url), 'utf8'));
const b64uBytes = (s: string) => Buffer.from(s, 'base64url');
const text = (u: Uint8Array) => Buffer.from(u).toString('utf8');

describe('docs/vectors', function () {
  it('signature.json: our signer makes the same headers; the base and HMAC match node:crypto; our verifier takes it', function () {
    const v = vector('signature.json');
    const signed = signRequest({
      method: v.method, targetUri: v.targetUri, headers: { 'content-type': v.contentType }, body: v.body,
      keyId: v.keyid, secret: v.secret, created: v.created, nonce: v.nonce,
    });
    expect(signed).to.deep.equal({ 'content-digest': v.headers['Content-Digest'], 'signature-input': v.headers['Signature-Input'], signature: v.headers.Signature });
    // Independently: SHA-256 of the body in padded standard base64, and HMAC-SHA256 keyed by the secret's UTF-8 bytes.
    expect(v.contentDigest).to.equal(`sha-256=:${createHash('sha256').update(v.body, 'utf8').digest('base64')}:`);
    const lines = v.base.split('\n');
    expect(lines).to.have.length(5);
    expect(v.base.endsWith('\n')).to.equal(false);
    expect(lines[0]).to.equal(`"@method": ${v.method}`);
    expect(lines[1]).to.equal(`"@target-uri": ${v.targetUri}`);
    expect(lines[4]).to.equal(`"@signature-params": ${v.headers['Signature-Input'].slice('sig1='.length)}`);
    const mac = createHmac('sha256', Buffer.from(v.secret, 'utf8')).update(v.base, 'utf8').digest();
    expect(mac.toString('hex')).to.equal(v.hmacHex);
    expect(v.headers.Signature).to.equal(`sig1=:${mac.toString('base64')}:`);
    // Our verifier builds the same base and accepts the signature; a changed body does not pass the digest.
    const headers = { 'content-type': v.contentType, 'content-digest': v.contentDigest };
    const parsed = parseSignature(v.headers['Signature-Input'], v.headers.Signature);
    expect(signatureBase(parsed.components, { method: v.method, targetUri: v.targetUri, headers }, parsed.paramsLine)).to.equal(v.base);
    verifySignature(parsed, { method: v.method, targetUri: v.targetUri, headers }, v.secret);
    verifyContentDigest(v.contentDigest, Buffer.from(v.body));
    expect(() => verifyContentDigest(v.contentDigest, Buffer.from(v.body + ' '))).to.throw();
    expect(() => verifySignature(parsed, { method: v.method, targetUri: v.targetUri + '?x', headers }, v.secret)).to.throw();
  });

  it('access-token.json: both sealed ATs open to the plaintext with our code and with jose', async function () {
    const v = vector('access-token.json');
    const encKey = b64uBytes(v.a256kw.encKey);
    const ours = decryptCompact(v.a256kw.jwe, { algorithms: ['A256KW'], key: () => encKey });
    expect(text(ours.plaintext)).to.equal(v.plaintext);
    expect(b64u(ours.cek)).to.equal(v.a256kw.cek);
    expect(text((await jose.compactDecrypt(v.a256kw.jwe, encKey)).plaintext)).to.equal(v.plaintext);

    const rsa = createPrivateKey({ key: v.rsaOaep256.privateJwk, format: 'jwk' });
    expect(text(decryptCompact(v.rsaOaep256.jwe, { algorithms: ['RSA-OAEP-256'], key: () => rsa }).plaintext)).to.equal(v.plaintext);
    expect(text((await jose.compactDecrypt(v.rsaOaep256.jwe, rsa)).plaintext)).to.equal(v.plaintext);
    const at = JSON.parse(v.plaintext);
    expect(at.at).to.match(/^[A-Za-z0-9_-]{43}$/);
  });

  for (const [file, alg] of [['envelope-rsa.json', 'RSA-OAEP-256'], ['envelope-ecdh.json', 'ECDH-ES+A256KW']] as const) {
    it(`${file}: opens to R and {at, iat} with our code and with jose; jose with the same R and IV gives the same ciphertext and tag`, async function () {
      const v = vector(file);
      const priv = createPrivateKey({ key: v.serverPrivateJwk, format: 'jwk' });
      const ours = decryptCompact(v.jwe, { algorithms: [alg], key: (h) => (h.kid === v.serverPublicJwk.kid ? priv : undefined) });
      expect(b64u(ours.cek)).to.equal(v.r);
      expect(text(ours.plaintext)).to.equal(v.plaintext);
      expect(Object.keys(JSON.parse(v.plaintext)).sort()).to.deep.equal(['at', 'iat']);
      const theirs = await jose.compactDecrypt(v.jwe, priv, { keyManagementAlgorithms: [alg] });
      expect(text(theirs.plaintext)).to.equal(v.plaintext);
      expect(v.jwe.split('.')[0]).to.equal(v.protectedHeader);
      // The content encryption is fixed by R, the IV and the header segment (the AAD): jose agrees.
      const header = JSON.parse(text(b64uBytes(v.protectedHeader)));
      if (alg === 'RSA-OAEP-256') {
        const again = await new jose.CompactEncrypt(Buffer.from(v.plaintext))
          .setProtectedHeader(header)
          .setContentEncryptionKey(b64uBytes(v.r))
          .setInitializationVector(b64uBytes(v.iv))
          .encrypt(createPublicKey({ key: v.serverPublicJwk, format: 'jwk' }));
        const [h, , iv, ct, tag] = again.split('.');
        expect([h, iv, ct, tag]).to.deep.equal([v.protectedHeader, v.iv, v.ciphertext, v.tag]);
      } else {
        // Every intermediate of the key agreement, recomputed.
        const eph = createPrivateKey({ key: v.ephemeralPrivateJwk, format: 'jwk' });
        const z = diffieHellman({ privateKey: eph, publicKey: createPublicKey({ key: v.serverPublicJwk, format: 'jwk' }) });
        expect(b64u(z)).to.equal(v.z);
        expect(b64u(diffieHellman({ privateKey: priv, publicKey: createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: header.epk.x, y: header.epk.y }, format: 'jwk' }) }))).to.equal(v.z);
        expect(b64u(concatKdf(z, 256, 'ECDH-ES+A256KW'))).to.equal(v.kek);
        expect(b64u(aesKeyWrap(b64uBytes(v.kek), b64uBytes(v.r)))).to.equal(v.encryptedKey);
        expect(v.jwe.split('.')[1]).to.equal(v.encryptedKey);
        expect(b64uBytes(v.encryptedKey)).to.have.length(40);
      }
    });
  }

  it('reply.json: opens under R with our code and with jose (dir)', async function () {
    const v = vector('reply.json');
    const r = b64uBytes(v.r);
    expect(v.jwe.split('.')[1]).to.equal('');
    expect(text(decryptCompact(v.jwe, { algorithms: ['dir'], key: () => r }).plaintext)).to.equal(v.plaintext);
    expect(text((await jose.compactDecrypt(v.jwe, r)).plaintext)).to.equal(v.plaintext);
    expect(v.r).to.equal(vector('envelope-ecdh.json').r);
  });

  it('visit-token.json: verifies with its JWKS through our verifier and through jose, as of verifyAt only', async function () {
    const v = vector('visit-token.json');
    const sig = v.jwks.keys.find((k: { use: string; kid: string }) => k.use === 'sig' && k.kid === v.header.kid);
    const key = createPublicKey({ key: sig, format: 'jwk' });
    const claims = await verifyVisitToken(v.vt, { issuer: v.issuer, keyFor: (kid) => (kid === sig.kid ? key : undefined), now: v.verifyAt });
    expect(claims).to.deep.equal(v.claims);
    const { payload, protectedHeader } = await jose.jwtVerify(v.vt, jose.createLocalJWKSet(v.jwks), {
      issuer: v.issuer, audience: v.audience, typ: 'vt+jwt', algorithms: ['ES256'], currentDate: new Date(v.verifyAt * 1000),
    });
    expect(payload).to.deep.equal(v.claims);
    expect(protectedHeader).to.deep.equal(v.header);
    // Both refuse it after its exp.
    const late = v.claims.exp + 1;
    let ourLate: unknown;
    try { await verifyVisitToken(v.vt, { issuer: v.issuer, keyFor: () => key, now: late }); } catch (e) { ourLate = e; }
    expect(ourLate).to.be.an('error');
    let joseLate: unknown;
    try { await jose.jwtVerify(v.vt, jose.createLocalJWKSet(v.jwks), { currentDate: new Date(late * 1000) }); } catch (e) { joseLate = e; }
    expect(joseLate).to.be.an('error');
  });
});
