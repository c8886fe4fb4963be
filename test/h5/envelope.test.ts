/**
 * The H5 browser envelope (protocol section 2), both implementations (WebCrypto and node-forge),
 * run in Node against the server's JWE code (platform/crypto/jwe.ts) and against jose as an independent peer.
 */
import { expect } from 'chai';
import * as jose from 'jose';
import { decryptCompact, encryptCompact, b64u } from '../../platform/crypto/jwe.ts';
import type { EcPublicEncJwk, EncryptionKey, EnvelopeAlg } from '../../flows/keys/keys.ts';
import { webCryptoEnvelope } from '../../h5/client/envelope-webcrypto.ts';
import { forgeEnvelope } from '../../h5/client/envelope-forge.ts';
import { sealToPreferredKey } from '../../h5/client/envelope-loader.ts';
import { usableEncryptionJwks } from '../../h5/client/gateway-api.ts';
import { b64uDecode, b64uEncode, EnvelopeError, type EncryptionJwk, type EnvelopeImpl } from '../../h5/client/jwe-compact.ts';
import { buildAssets, gzippedSize, type Asset } from '../../h5/bundle.ts';
import { testKey, testKeys } from '../support/system.ts';

const AT = 'q8ZQp0Jx3yK2h5bH1nW4cV7mD9sF6gT0rE2aL5uI8oY';
const IAT = 1_700_000_000;

function serverOpen(key: EncryptionKey, jwe: string) {
  return decryptCompact(jwe, { algorithms: [key.alg], key: (h) => (h.kid === key.kid ? key.privateKey : undefined) });
}

function serverReply(cek: Uint8Array, body: unknown): string {
  return encryptCompact({ header: { alg: 'dir', enc: 'A256GCM' }, plaintext: JSON.stringify(body), key: cek });
}

const reply = { vt: 'vt-abc', expiresIn: 1800, productId: 'travel-insurance', userId: 'alice' };

describe('h5 envelope: jwe-compact helpers', () => {
  it('base64url round-trips every byte value, without padding', () => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    const s = b64uEncode(bytes);
    expect(s).to.equal(b64u(bytes));
    expect(s).to.not.match(/[=+/]/);
    expect(Array.from(b64uDecode(s))).to.deep.equal(Array.from(bytes));
  });

  it('rejects non-base64url input', () => {
    expect(() => b64uDecode('ab+/')).to.throw(EnvelopeError);
    expect(() => b64uDecode('abc=')).to.throw(EnvelopeError);
    expect(() => b64uDecode('a')).to.throw(EnvelopeError);
  });
});

const cases: { impl: EnvelopeImpl; alg: EnvelopeAlg }[] = [
  { impl: webCryptoEnvelope, alg: 'RSA-OAEP-256' },
  { impl: forgeEnvelope, alg: 'RSA-OAEP-256' },
  { impl: webCryptoEnvelope, alg: 'ECDH-ES+A256KW' },
];

/** The header a sealed envelope must carry, member for member and in this order. */
function expectContractHeader(segment: string, key: EncryptionKey): void {
  const json = Buffer.from(segment, 'base64url').toString();
  if (key.alg === 'RSA-OAEP-256') {
    expect(json).to.equal(`{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"${key.kid}"}`);
    return;
  }
  const header = JSON.parse(json);
  expect(Object.keys(header)).to.deep.equal(['alg', 'enc', 'kid', 'epk']);
  expect(header).to.include({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: key.kid });
  expect(Object.keys(header.epk)).to.deep.equal(['kty', 'crv', 'x', 'y']);
  expect(header.epk).to.include({ kty: 'EC', crv: 'P-256' });
  expect(Buffer.from(header.epk.x, 'base64url')).to.have.length(32);
  expect(Buffer.from(header.epk.y, 'base64url')).to.have.length(32);
}

for (const { impl, alg } of cases) {
  describe(`h5 envelope: ${impl.name}${alg === 'RSA-OAEP-256' ? '' : `, ${alg}`}`, function () {
    let key: EncryptionKey;
    before(() => {
      key = testKey(alg);
    });

    it('seals {at, iat} under R with the exact contract header; the server opens it', async () => {
      const sealed = await impl.seal(key.publicJwk, AT, IAT);
      expect(sealed.alg).to.equal(alg);
      const [h, ek, iv, , tag] = sealed.jwe.split('.');
      expectContractHeader(h!, key);
      // RSA-2048: the OAEP block; AES-KW of a 32-byte R: 40 bytes.
      expect(Buffer.from(ek!, 'base64url')).to.have.length(alg === 'RSA-OAEP-256' ? 256 : 40);
      expect(Buffer.from(iv!, 'base64url')).to.have.length(12);
      expect(Buffer.from(tag!, 'base64url')).to.have.length(16);
      expect(sealed.jwe).to.not.include('=');

      const opened = serverOpen(key, sealed.jwe);
      expect(opened.header).to.deep.include({ alg, enc: 'A256GCM', kid: key.kid });
      expect(JSON.parse(opened.plaintext.toString('utf8'))).to.deep.equal({ at: AT, iat: IAT });
      expect(opened.cek).to.have.length(32);
    });

    it('opens the server reply sealed with R, once', async () => {
      const sealed = await impl.seal(key.publicJwk, AT, IAT);
      const { cek } = serverOpen(key, sealed.jwe);
      const jwe = serverReply(cek, reply);
      expect(await sealed.openReply(jwe)).to.deep.equal(reply);
      // R is dropped after use: the same reply does not open a second time.
      await expectEnvelopeError(sealed.openReply(jwe));
    });

    it('draws a fresh R and IV (and ephemeral key) on every seal', async () => {
      const a = serverOpen(key, (await impl.seal(key.publicJwk, AT, IAT)).jwe);
      const b = serverOpen(key, (await impl.seal(key.publicJwk, AT, IAT)).jwe);
      expect(a.cek.equals(b.cek)).to.equal(false);
      if (alg === 'ECDH-ES+A256KW') expect(a.header.epk!.x).to.not.equal(b.header.epk!.x);
    });

    it('carries non-ASCII text in the plaintext as UTF-8', async () => {
      const sealed = await impl.seal(key.publicJwk, AT, IAT);
      const { cek } = serverOpen(key, sealed.jwe);
      const body = { ...reply, userId: 'zoë-名前-😀' };
      expect(await sealed.openReply(serverReply(cek, body))).to.deep.equal(body);
    });

    it('rejects a reply under another key', async () => {
      const sealed = await impl.seal(key.publicJwk, AT, IAT);
      const other = new Uint8Array(32).fill(7);
      await expectEnvelopeError(sealed.openReply(serverReply(other, reply)));
    });

    it('rejects a reply with a flipped tag byte, and still opens the genuine one', async () => {
      const sealed = await impl.seal(key.publicJwk, AT, IAT);
      const { cek } = serverOpen(key, sealed.jwe);
      const jwe = serverReply(cek, reply);
      const parts = jwe.split('.');
      const tag = Buffer.from(parts[4]!, 'base64url');
      tag[0]! ^= 0x01;
      parts[4] = tag.toString('base64url');
      await expectEnvelopeError(sealed.openReply(parts.join('.')));
      expect(await sealed.openReply(jwe)).to.deep.equal(reply);
    });

    it('rejects replies that are not the contract: other alg, an encrypted key, a short IV, a changed header', async () => {
      const sealed = await impl.seal(key.publicJwk, AT, IAT);
      const { cek } = serverOpen(key, sealed.jwe);
      const [h, ek, iv, ct, tag] = serverReply(cek, reply).split('.') as [string, string, string, string, string];
      const a256kw = encryptCompact({ header: { alg: 'A256KW', enc: 'A256GCM' }, plaintext: JSON.stringify(reply), key: cek });
      const extraHeader = b64u(JSON.stringify({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' }));
      // Same bytes as the genuine header, but a different segment: the AAD no longer matches.
      const respelled = b64u(JSON.stringify({ enc: 'A256GCM', alg: 'dir' }));
      for (const bad of [
        a256kw,
        [h, 'AAAA', iv, ct, tag].join('.'),
        [h, ek, iv.slice(0, 8), ct, tag].join('.'),
        [extraHeader, ek, iv, ct, tag].join('.'),
        [respelled, ek, iv, ct, tag].join('.'),
        [h, ek, iv, ct].join('.'),
        `${h}.${ek}.${iv}.${ct}.${tag}=`,
      ]) {
        await expectEnvelopeError(sealed.openReply(bad));
      }
      expect(await sealed.openReply([h, ek, iv, ct, tag].join('.'))).to.deep.equal(reply);
    });

    it('is opened by jose (an independent implementation)', async () => {
      const sealed = await impl.seal(key.publicJwk, AT, IAT);
      const { plaintext, protectedHeader } = await jose.compactDecrypt(sealed.jwe, key.privateKey, { keyManagementAlgorithms: [alg] });
      expect(protectedHeader).to.deep.include({ alg, enc: 'A256GCM', kid: key.kid });
      expect(JSON.parse(new TextDecoder().decode(plaintext))).to.deep.equal({ at: AT, iat: IAT });
    });

    it('opens a dir reply that jose sealed with R', async () => {
      const sealed = await impl.seal(key.publicJwk, AT, IAT);
      const { cek } = serverOpen(key, sealed.jwe);
      const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify(reply)))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
        .encrypt(new Uint8Array(cek));
      expect(await sealed.openReply(jwe)).to.deep.equal(reply);
    });

    it('refuses a JWK without n, e or kid', async () => {
      await expectRejects(impl.seal({ n: '', e: 'AQAB', kid: 'k' }, AT, IAT));
      await expectRejects(impl.seal({ n: 'a+b/', e: 'AQAB', kid: 'k' }, AT, IAT));
    });

    it('refuses an EC JWK that is not P-256 with base64url coordinates', async () => {
      const ec = testKey('ECDH-ES+A256KW').publicJwk as EcPublicEncJwk;
      await expectRejects(impl.seal({ ...ec, crv: 'P-384' } as unknown as EncryptionJwk, AT, IAT));
      await expectRejects(impl.seal({ ...ec, x: 'a+b/' }, AT, IAT));
      await expectRejects(impl.seal({ ...ec, y: undefined } as unknown as EncryptionJwk, AT, IAT));
      // forge wraps with RSA-OAEP-256 only: a good P-256 key is refused too, never misused.
      if (!impl.algorithms.includes('ECDH-ES+A256KW')) await expectRejects(impl.seal(ec, AT, IAT));
    });
  });
}

describe('h5 envelope: the bundles', function () {
  let assets: Map<string, Asset>;
  before(async () => {
    assets = await buildAssets();
  });

  it('the forge bundle carries no ECDH code; the boot script and the WebCrypto chunk carry it, app.js does not and stays small', () => {
    const ecdhCode = /ECDH|AES-KW|deriveBits/;
    expect(assets.get('envelope-forge.js')!.body.toString()).to.not.match(ecdhCode);
    // The ECDH-ES code itself (the alg's name alone is in app.js, which picks the JWKS key).
    const ecdhCrypto = /AES-KW|deriveBits/;
    // The WebCrypto envelope comes with the boot script (inline in the product page), or as its
    // own chunk where the boot script did not run (decision 89); app.js carries no copy.
    expect(assets.get('boot.js')!.body.toString()).to.match(ecdhCrypto);
    expect(assets.get('envelope-webcrypto.js')!.body.toString()).to.match(ecdhCrypto);
    const app = assets.get('app.js')!;
    expect(app.body.toString()).to.not.match(ecdhCrypto);
    // Budgets: app.js with the provider page of issue 14 and the hooks and words of the flows that
    // reach the product page (the gate's hook, the DPoP signer, the chunk loader, the session glue);
    // the boot script, which every product page carries inline, at most 5 KiB.
    expect(gzippedSize(app)).to.be.below(9 * 1024);
    expect(gzippedSize(assets.get('boot.js')!)).to.be.below(5 * 1024);
    const text = app.body.toString();
    // What only some pages run is a chunk of its own, loaded on demand, and stays out of app.js.
    for (const [chunk, marker] of [['second-factor.js', '/actions/'], ['countersign.js', '/payments'], ['challenge.js', '/v1/challenge/pass'], ['session.js', 'indexedDB.open']] as const) {
      expect(assets.get(chunk)!.body.toString(), `${chunk} holds its marker`).to.include(marker);
      expect(text, `${chunk}'s code stays out of app.js`).to.not.include(marker);
    }
    // app.js signs the DPoP proofs itself (a session chunk that failed to load must not strand a VT
    // whose AT is spent), but keeps no IndexedDB code.
    expect(text).to.match(/dpop\+jwt/);
    expect(text, 'no IndexedDB code in app.js').to.not.match(/indexedDB\.open/);
  });

  it('the page key and the DPoP proof are in the boot script and app.js, IndexedDB in session.js, which stays small; forge does not load it', () => {
    const session = assets.get('session.js')!;
    // page-key.ts: carried by the boot script (which makes the key) and app.js (which signs proofs
    // and makes the key where the boot script did not run); the session chunk only keeps them.
    for (const name of ['boot.js', 'app.js']) expect(assets.get(name)!.body.toString(), name).to.match(/generateKey/);
    expect(assets.get('app.js')!.body.toString()).to.match(/dpop\+jwt/);
    expect(session.body.toString()).to.match(/indexedDB/);
    expect(gzippedSize(session)).to.be.below(1.5 * 1024);
    expect(assets.get('envelope-forge.js')!.body.toString()).to.not.match(/dpop\+jwt/);
  });
});

describe('h5 envelope: which key the page wraps R to', () => {
  const [rsa, ec] = testKeys().map((k) => k.publicJwk);
  const jwks = { keys: [rsa, ec] };

  it('WebCrypto prefers the ECDH-ES+A256KW key and keeps the RSA one as a fallback; forge takes the RSA key', () => {
    expect(usableEncryptionJwks(jwks, webCryptoEnvelope.algorithms).map((k) => k.kid)).to.deep.equal([ec!.kid, rsa!.kid]);
    expect(usableEncryptionJwks(jwks, forgeEnvelope.algorithms).map((k) => k.kid)).to.deep.equal([rsa!.kid]);
    expect(usableEncryptionJwks({ keys: [rsa] }, webCryptoEnvelope.algorithms).map((k) => k.kid)).to.deep.equal([rsa!.kid]);
  });

  it('skips entries that are not an encryption key of a known alg', () => {
    const bad = [
      { ...ec, use: 'sig' },
      { ...ec, alg: 'ECDH-ES' },
      { ...ec, crv: 'P-384' },
      { ...ec, kty: 'OKP' },
      { ...ec, kid: '' },
      { ...ec, x: 7 },
      { ...rsa, alg: 'RSA-OAEP' },
      { ...rsa, n: 'a+b/' },
      'junk',
    ];
    expect(usableEncryptionJwks({ keys: bad }, webCryptoEnvelope.algorithms)).to.deep.equal([]);
    expect(usableEncryptionJwks({ keys: 'nope' }, webCryptoEnvelope.algorithms)).to.deep.equal([]);
    expect(usableEncryptionJwks(null, webCryptoEnvelope.algorithms)).to.deep.equal([]);
  });

  it('seals to the ECDH-ES+A256KW key, or falls back to the RSA key where the browser cannot do ECDH', async () => {
    const keys = usableEncryptionJwks(jwks, webCryptoEnvelope.algorithms);
    expect((await sealToPreferredKey(webCryptoEnvelope, keys, AT, IAT)).alg).to.equal('ECDH-ES+A256KW');
    const noEcdh: EnvelopeImpl = {
      ...webCryptoEnvelope,
      seal: (jwk, at, iat) => (jwk.kty === 'EC' ? Promise.reject(new DOMException('ECDH', 'NotSupportedError')) : webCryptoEnvelope.seal(jwk, at, iat)),
    };
    const sealed = await sealToPreferredKey(noEcdh, keys, AT, IAT);
    expect(sealed.alg).to.equal('RSA-OAEP-256');
    expect(JSON.parse(serverOpen(testKey('RSA-OAEP-256'), sealed.jwe).plaintext.toString())).to.deep.equal({ at: AT, iat: IAT });
    await expectRejects(sealToPreferredKey(noEcdh, [keys[0]!], AT, IAT));
    await expectRejects(sealToPreferredKey(webCryptoEnvelope, [], AT, IAT));
  });
});

describe('h5 envelope: the X25519 key (RFC 8037)', () => {
  const [rsa, ec, okp] = testKeys().map((k) => k.publicJwk);
  const jwks = { keys: [rsa, ec, okp] };

  it('the JWKS reader takes the OKP X25519 key and nothing else of kty OKP', () => {
    expect(okp).to.include({ kty: 'OKP', crv: 'X25519', alg: 'ECDH-ES+A256KW' });
    expect(usableEncryptionJwks(jwks, webCryptoEnvelope.algorithms).map((k) => k.kid)).to.deep.equal([ec!.kid, okp!.kid, rsa!.kid]);
    expect(usableEncryptionJwks(jwks, forgeEnvelope.algorithms).map((k) => k.kid)).to.deep.equal([rsa!.kid]);
    const bad = [{ ...okp, crv: 'X448' }, { ...okp, crv: 'Ed25519' }, { ...okp, x: 'a+b/' }, { ...okp, kty: 'EC' }, { ...okp, alg: 'ECDH-ES' }];
    expect(usableEncryptionJwks({ keys: bad }, webCryptoEnvelope.algorithms)).to.deep.equal([]);
  });

  it('WebCrypto seals to the X25519 key first (an OKP epk), and the server opens it with its X25519 key', async () => {
    const keys = usableEncryptionJwks(jwks, webCryptoEnvelope.algorithms);
    const sealed = await sealToPreferredKey(webCryptoEnvelope, keys, AT, IAT);
    expect(sealed.alg).to.equal('ECDH-ES+A256KW');
    const header = JSON.parse(Buffer.from(sealed.jwe.split('.')[0]!, 'base64url').toString());
    expect(header.kid).to.equal(okp!.kid);
    expect(Object.keys(header.epk)).to.deep.equal(['kty', 'crv', 'x']);
    expect(header.epk).to.include({ kty: 'OKP', crv: 'X25519' });
    const opened = serverOpen(testKey('X25519'), sealed.jwe);
    expect(JSON.parse(opened.plaintext.toString())).to.deep.equal({ at: AT, iat: IAT });
    // jose opens it too.
    const { plaintext } = await jose.compactDecrypt(sealed.jwe, testKey('X25519').privateKey, { keyManagementAlgorithms: ['ECDH-ES+A256KW'] });
    expect(JSON.parse(new TextDecoder().decode(plaintext))).to.deep.equal({ at: AT, iat: IAT });
  });

  it('a WebCrypto without X25519 falls back to P-256, then to RSA', async () => {
    const keys = usableEncryptionJwks(jwks, webCryptoEnvelope.algorithms);
    const refuse = (kty: string[]): EnvelopeImpl => ({
      ...webCryptoEnvelope,
      seal: (jwk, at, iat) => (kty.includes(jwk.kty ?? 'RSA') ? Promise.reject(new DOMException('X25519', 'NotSupportedError')) : webCryptoEnvelope.seal(jwk, at, iat)),
    });
    const p256 = await sealToPreferredKey(refuse(['OKP']), keys, AT, IAT);
    expect(JSON.parse(Buffer.from(p256.jwe.split('.')[0]!, 'base64url').toString()).epk).to.include({ kty: 'EC', crv: 'P-256' });
    expect(JSON.parse(serverOpen(testKey('ECDH-ES+A256KW'), p256.jwe).plaintext.toString())).to.deep.equal({ at: AT, iat: IAT });
    expect((await sealToPreferredKey(refuse(['OKP', 'EC']), keys, AT, IAT)).alg).to.equal('RSA-OAEP-256');
  });
});

async function expectRejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return expect.fail('expected a rejection');
}

/** A reply that must not open fails with the one uniform EnvelopeError, never anything else. */
async function expectEnvelopeError(p: Promise<unknown>): Promise<void> {
  expect(await expectRejects(p)).to.be.instanceOf(EnvelopeError);
}
