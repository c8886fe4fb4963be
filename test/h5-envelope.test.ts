/**
 * The H5 browser envelope (protocol section 2), both implementations (WebCrypto and node-forge),
 * run in Node against the server's JWE code (common/jwe.ts) and against jose as an independent peer.
 */
import { expect } from 'chai';
import * as jose from 'jose';
import { decryptCompact, encryptCompact, b64u } from '../common/jwe.ts';
import { generateEncryptionKey, type EncryptionKey } from '../common/keys.ts';
import { webCryptoEnvelope } from '../h5/client/envelope-webcrypto.ts';
import { forgeEnvelope } from '../h5/client/envelope-forge.ts';
import { b64uDecode, b64uEncode, EnvelopeError, type EnvelopeImpl } from '../h5/client/jwe-compact.ts';

const AT = 'q8ZQp0Jx3yK2h5bH1nW4cV7mD9sF6gT0rE2aL5uI8oY';
const IAT = 1_700_000_000;

function serverOpen(key: EncryptionKey, jwe: string) {
  return decryptCompact(jwe, { algorithms: ['RSA-OAEP-256'], key: (h) => (h.kid === key.kid ? key.privateKey : undefined) });
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

for (const impl of [webCryptoEnvelope, forgeEnvelope] as EnvelopeImpl[]) {
  describe(`h5 envelope: ${impl.name}`, function () {
    let key: EncryptionKey;
    before(() => {
      key = generateEncryptionKey();
    });

    it('seals {at, iat} under R with the exact contract header; the server opens it', async () => {
      const sealed = await impl.seal(key.publicJwk, AT, IAT);
      const [h, ek, iv, , tag] = sealed.jwe.split('.');
      expect(Buffer.from(h!, 'base64url').toString()).to.equal(`{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"${key.kid}"}`);
      expect(Buffer.from(ek!, 'base64url')).to.have.length(256);
      expect(Buffer.from(iv!, 'base64url')).to.have.length(12);
      expect(Buffer.from(tag!, 'base64url')).to.have.length(16);
      expect(sealed.jwe).to.not.include('=');

      const opened = serverOpen(key, sealed.jwe);
      expect(opened.header).to.deep.equal({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: key.kid });
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

    it('draws a fresh R and IV on every seal', async () => {
      const a = serverOpen(key, (await impl.seal(key.publicJwk, AT, IAT)).jwe);
      const b = serverOpen(key, (await impl.seal(key.publicJwk, AT, IAT)).jwe);
      expect(a.cek.equals(b.cek)).to.equal(false);
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
      const { plaintext, protectedHeader } = await jose.compactDecrypt(sealed.jwe, key.privateKey);
      expect(protectedHeader).to.deep.equal({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: key.kid });
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
  });
}

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
