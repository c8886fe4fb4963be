/**
 * The ECDH-ES+A256KW envelope (RFC 7518 section 4.6): everything that must not open does not, over
 * HTTP through the gateway with the one `400 envelope_invalid` body, and in platform/crypto/jwe.ts with the
 * one JweError. Each refused envelope is genuine but for the one thing named.
 */
import { expect } from 'chai';
import { constants, createCipheriv, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { aesKeyWrap, b64u, concatKdf, decryptCompact, encryptCompact, JweError, type KeyManagementAlg } from '../../../platform/crypto/jwe.ts';
import type { EncryptionKey } from '../../../flows/keys/keys.ts';
import { MemoryStore } from '../../../platform/store/index.ts';
import { concatKdf as browserConcatKdf } from '../../../h5/client/ecdh-es.ts';
import { demoClient, exchange, openReply } from '../../support/clients.ts';
import { testKey, useTestSystem } from '../../support/system.ts';

type Header = Record<string, unknown>;
type Epk = { kty: string; crv: string; x: string; y: string };

/** Seals `{at, iat}` under R with exactly this header and encrypted key, as a page would. */
function craft(header: Header, encryptedKey: Uint8Array, r: Buffer, at: string): string {
  const h = b64u(JSON.stringify(header));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', r, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(h, 'ascii'));
  const ct = Buffer.concat([cipher.update(JSON.stringify({ at, iat: Math.floor(Date.now() / 1000) })), cipher.final()]);
  return [h, b64u(encryptedKey), b64u(iv), b64u(ct), b64u(cipher.getAuthTag())].join('.');
}

/** A genuine ECDH-ES+A256KW wrap of R to `recipient`: the ephemeral public key and the wrapped R. */
function ecdhWrap(recipient: KeyObject, r: Buffer): { epk: Epk; encryptedKey: Buffer } {
  const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { x, y } = ephemeral.publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  const kek = concatKdf(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient }), 256, 'ECDH-ES+A256KW');
  return { epk: { kty: 'EC', crv: 'P-256', x, y }, encryptedKey: aesKeyWrap(kek, r) };
}

function rsaWrap(recipient: KeyObject, r: Buffer): Buffer {
  return publicEncrypt({ key: recipient, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, r);
}

function flipLastBit(b64: string): string {
  const bytes = Buffer.from(b64, 'base64url');
  bytes[bytes.length - 1]! ^= 1;
  return b64u(bytes);
}

const P256_P = 'ffffffff00000001000000000000000000000000ffffffffffffffffffffffff';

/** Envelopes for `at` that must be refused, each wrong in the one way its name says. */
function refusals(rsa: EncryptionKey, ec: EncryptionKey): Record<string, (at: string) => string> {
  const ecdhHeader = (epk: unknown, extra: Header = {}) => ({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: ec.kid, epk, ...extra });
  /** A genuine ECDH envelope with its epk (and other header members) changed by `change`. */
  const withEpk = (change: (epk: Epk) => unknown, extra: Header = {}) => (at: string) => {
    const r = randomBytes(32);
    const { epk, encryptedKey } = ecdhWrap(ec.publicKey, r);
    return craft(ecdhHeader(change(epk), extra), encryptedKey, r, at);
  };
  const p384 = () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }) as Epk;
  return {
    'an epk off the curve': withEpk((epk) => ({ ...epk, y: flipLastBit(epk.y) })),
    'an epk on P-384': withEpk(() => p384()),
    'an epk that says P-256 with P-384 coordinates': withEpk(() => ({ ...p384(), crv: 'P-256' })),
    'an epk with a coordinate shorter than 32 bytes': withEpk((epk) => ({ ...epk, x: b64u(Buffer.from(epk.x, 'base64url').subarray(1)) })),
    'an epk with x = p (not reduced)': withEpk((epk) => ({ ...epk, x: b64u(Buffer.from(P256_P, 'hex')) })),
    'an epk of zeros': withEpk((epk) => ({ ...epk, x: b64u(Buffer.alloc(32)), y: b64u(Buffer.alloc(32)) })),
    'an epk that is not kty EC': withEpk(() => ({ kty: 'OKP', crv: 'X25519', x: b64u(randomBytes(32)) })),
    'an epk that is a string': withEpk((epk) => JSON.stringify(epk)),
    'an epk with an extra member (d)': withEpk((epk) => ({ ...epk, d: b64u(randomBytes(32)) })),
    'an epk with an extra member (kid)': withEpk((epk) => ({ ...epk, kid: 'eph' })),
    'no epk': withEpk(() => undefined),
    'an apu that is not a string': withEpk((epk) => epk, { apu: 5 }),
    'an apu that is not base64url': withEpk((epk) => epk, { apu: 'a+b/' }),
    'a header member outside the allow-list': withEpk((epk) => epk, { jku: 'https://evil.example/jwks' }),
    'an RSA kid with the ECDH alg': (at) => {
      const r = randomBytes(32);
      const { epk, encryptedKey } = ecdhWrap(ec.publicKey, r);
      return craft(ecdhHeader(epk, { kid: rsa.kid }), encryptedKey, r, at);
    },
    'an ECDH kid with the RSA alg': (at) => {
      const r = randomBytes(32);
      return craft({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: ec.kid }, rsaWrap(rsa.publicKey, r), r, at);
    },
    'an RSA-OAEP-256 header that carries an epk': (at) => {
      const r = randomBytes(32);
      const { epk } = ecdhWrap(ec.publicKey, r);
      return craft({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: rsa.kid, epk }, rsaWrap(rsa.publicKey, r), r, at);
    },
    'ECDH-ES (direct key agreement), not offered': (at) => {
      const r = randomBytes(32);
      const { epk } = ecdhWrap(ec.publicKey, r);
      return craft({ alg: 'ECDH-ES', enc: 'A256GCM', kid: ec.kid, epk }, Buffer.alloc(0), r, at);
    },
    'a tampered wrapped key': (at) => {
      const r = randomBytes(32);
      const { epk, encryptedKey } = ecdhWrap(ec.publicKey, r);
      encryptedKey[5]! ^= 0x40;
      return craft(ecdhHeader(epk), encryptedKey, r, at);
    },
    'a wrapped key of the wrong length': (at) => {
      const r = randomBytes(32);
      const { epk, encryptedKey } = ecdhWrap(ec.publicKey, r);
      return craft(ecdhHeader(epk), encryptedKey.subarray(0, 32), r, at);
    },
    'R wrapped under another ephemeral key than the epk': (at) => {
      const r = randomBytes(32);
      const { encryptedKey } = ecdhWrap(ec.publicKey, r);
      return craft(ecdhHeader(ecdhWrap(ec.publicKey, r).epk), encryptedKey, r, at);
    },
  };
}

describe('ECDH-ES+A256KW envelope: refusals over HTTP', function () {
  const env = useTestSystem(() => new MemoryStore());

  it('every bad envelope is 400 envelope_invalid with one identical body, and the AT stays unspent', async function () {
    const rsa = testKey('RSA-OAEP-256');
    const ec = testKey('ECDH-ES+A256KW');
    const token = await demoClient(env.system.urls.gateway).requestAccessToken({ userId: 'erin', productId: 'city-pass' });
    const baseline = await exchange(env.system.urls.gateway, 'a.b.c.d.e');
    expect(baseline.status).to.equal(400);
    expect(baseline.data.code).to.equal('envelope_invalid');

    for (const [name, make] of Object.entries(refusals(rsa, ec))) {
      const res = await exchange(env.system.urls.gateway, make(token.at));
      expect(res.status, name).to.equal(400);
      expect(res.headers['content-type'], name).to.match(/^application\/problem\+json/);
      expect(JSON.stringify(res.data), name).to.equal(JSON.stringify(baseline.data));
    }

    // The same helper with nothing wrong: opens, and the AT none of the above spent gives a VT.
    const r = randomBytes(32);
    const { epk, encryptedKey } = ecdhWrap(ec.publicKey, r);
    const good = await exchange(env.system.urls.gateway, craft({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: ec.kid, epk }, encryptedKey, r, token.at));
    expect(good.status, JSON.stringify(good.data)).to.equal(200);
    expect(openReply(good.data.envelope, r)).to.include({ userId: 'erin', productId: 'city-pass' });
  });
});

describe('ECDH-ES+A256KW in platform/crypto/jwe.ts', function () {
  const ec = () => testKey('ECDH-ES+A256KW');
  const rsa = () => testKey('RSA-OAEP-256');
  const ALL: readonly KeyManagementAlg[] = ['ECDH-ES+A256KW', 'RSA-OAEP-256', 'A256KW', 'dir'];
  const openWith = (jwe: string, key: KeyObject | Uint8Array, algorithms = ALL) => decryptCompact(jwe, { algorithms, key: () => key });

  function expectJweError(f: () => unknown): JweError {
    let caught: unknown;
    try {
      f();
    } catch (e) {
      caught = e;
    }
    expect(caught).to.be.instanceOf(JweError);
    expect((caught as Error).message).to.equal('JWE cannot be opened');
    return caught as JweError;
  }

  it('round-trips with the given CEK (R), a fresh epk each time', function () {
    const r = randomBytes(32);
    const a = encryptCompact({ header: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: ec().kid }, plaintext: 'x', key: ec().publicKey, cek: r });
    const b = encryptCompact({ header: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: ec().kid }, plaintext: 'x', key: ec().publicKey, cek: r });
    const opened = openWith(a, ec().privateKey);
    expect(opened.cek.equals(r)).to.equal(true);
    expect(opened.plaintext.toString()).to.equal('x');
    expect(opened.header.epk!.x).to.not.equal(openWith(b, ec().privateKey).header.epk!.x);
  });

  it('every refused envelope throws the one JweError', function () {
    for (const [name, make] of Object.entries(refusals(rsa(), ec()))) {
      const jwe = make('B'.repeat(43));
      // By kid and alg as auth does; a mismatch yields no key.
      const err = (() => {
        try {
          decryptCompact(jwe, {
            algorithms: ['RSA-OAEP-256', 'ECDH-ES+A256KW'],
            key: (h) => [rsa(), ec()].find((k) => k.kid === h.kid && k.alg === h.alg)?.privateKey,
          });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, name).to.be.instanceOf(JweError);
      expect((err as Error).message, name).to.equal('JWE cannot be opened');
    }
  });

  it('a point off the curve is refused where it is decoded, before any use (invalid-curve attacks)', function () {
    for (const name of ['an epk off the curve', 'an epk with x = p (not reduced)']) {
      const err = expectJweError(() => openWith(refusals(rsa(), ec())[name]!('B'.repeat(43)), ec().privateKey));
      expect((err.cause as { code?: string })?.code, name).to.equal('ERR_CRYPTO_ECDH_INVALID_PUBLIC_KEY');
    }
  });

  it('a tampered wrapped key fails at the tag check, like a bad RSA-OAEP block', function () {
    const jwe = refusals(rsa(), ec())['a tampered wrapped key']!('B'.repeat(43));
    const err = expectJweError(() => openWith(jwe, ec().privateKey));
    expect(String((err.cause as Error)?.message)).to.match(/authenticate/);
  });

  it('a key of the other kind never opens: an RSA key for ECDH, an EC key for RSA-OAEP', function () {
    const r = randomBytes(32);
    const ecdh = encryptCompact({ header: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' }, plaintext: 'x', key: ec().publicKey, cek: r });
    const oaep = encryptCompact({ header: { alg: 'RSA-OAEP-256', enc: 'A256GCM' }, plaintext: 'x', key: rsa().publicKey, cek: r });
    expectJweError(() => openWith(ecdh, rsa().privateKey));
    expectJweError(() => openWith(ecdh, ec().publicKey));
    expectJweError(() => openWith(ecdh, r));
    expectJweError(() => openWith(oaep, ec().privateKey));
    expectJweError(() => openWith(ecdh, ec().privateKey, ['RSA-OAEP-256']));
  });

  it('epk, apu and apv are refused in headers of other algs', function () {
    const secret = randomBytes(32);
    const { epk } = ecdhWrap(ec().publicKey, secret);
    for (const extra of [{ epk }, { apu: 'QQ' }, { apv: 'QQ' }]) {
      const kw = craft({ alg: 'A256KW', enc: 'A256GCM', ...extra }, aesKeyWrap(secret, secret), secret, 'x');
      expectJweError(() => openWith(kw, secret));
      const dir = craft({ alg: 'dir', enc: 'A256GCM', ...extra }, Buffer.alloc(0), secret, 'x');
      expectJweError(() => openWith(dir, secret));
    }
    // The same envelopes without the extra member open: the member is the only fault.
    expect(() => openWith(craft({ alg: 'dir', enc: 'A256GCM' }, Buffer.alloc(0), secret, 'x'), secret)).to.not.throw();
  });
});

describe('Concat KDF (RFC 7518 appendix C)', function () {
  // Z, AlgorithmID "A128GCM", PartyUInfo "Alice", PartyVInfo "Bob", keydatalen 128.
  const z = Uint8Array.from([
    158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156,
    251, 49, 110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
  ]);
  const expected = 'VqqN6vgjbSBcIijNcacQGg';
  const alice = new TextEncoder().encode('Alice');
  const bob = new TextEncoder().encode('Bob');

  it('the server derives the appendix C key', function () {
    expect(b64u(concatKdf(z, 128, 'A128GCM', alice, bob))).to.equal(expected);
  });

  it('the page (WebCrypto) derives the appendix C key, and the server\'s key for ECDH-ES+A256KW', async function () {
    expect(b64u(await browserConcatKdf(crypto.subtle, z, 128, 'A128GCM', alice, bob))).to.equal(expected);
    expect(b64u(await browserConcatKdf(crypto.subtle, z, 256, 'ECDH-ES+A256KW'))).to.equal(b64u(concatKdf(z, 256, 'ECDH-ES+A256KW')));
  });
});
