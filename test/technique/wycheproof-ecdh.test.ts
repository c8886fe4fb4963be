/**
 * Project Wycheproof ECDH vectors through our own ECDH-ES derive (ecdhEsSharedSecret, what
 * decryptCompact and the envelope exchange call with the header's `epk`): X25519 (RFC 7748, the
 * raw and the JWK files) and P-256 with JWK public keys (the WebCrypto file), each public key given
 * as an `epk` arrives in a JWE header. A `valid` case derives the vector's shared secret; an
 * `invalid` one (a point off the curve, another curve, a malformed JWK) and an `acceptable` one
 * whose shared secret is all zero (a low-order X25519 key, RFC 7748 section 6.1) is the one
 * JweError. The other `acceptable` X25519 cases (twist points, non-canonical u) are what RFC 7748
 * section 5 asks a receiver to accept: they derive the vector's secret.
 *
 * The vectors' JWKs carry `"kid": "none"`; an `epk` has exactly kty, crv, x (and y for EC), so the
 * kid is dropped before the key goes in as an `epk`.
 */
import { createPrivateKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { expect } from 'chai';
import { b64u, ecdhEsSharedSecret, JweError } from '../../platform/crypto/jwe.ts';
import { hex, loadVectors, type WycheproofResult } from '../support/wycheproof.ts';

interface XdhTest { tcId: number; comment: string; flags: string[]; public: string; private: string; shared: string; result: WycheproofResult }
interface JwkEcdhTest { tcId: number; comment: string; flags: string[]; public: JsonWebKey & { kid?: string }; private: JsonWebKey & { kid?: string }; shared: string; result: WycheproofResult }

const x25519Raw = loadVectors<{ tests: XdhTest[] }>('x25519_test.json');
const x25519Jwk = loadVectors<{ tests: JwkEcdhTest[] }>('x25519_jwk_test.json');
const p256Jwk = loadVectors<{ tests: JwkEcdhTest[] }>('ecdh_secp256r1_webcrypto_test.json');

/** PKCS #8 prefix of an X25519 private key (RFC 8410): the 32 raw bytes follow. */
const X25519_PKCS8_PREFIX = hex('302e020100300506032b656e04220420');
const x25519Private = (raw: string): KeyObject => createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, hex(raw)]), format: 'der', type: 'pkcs8' });
const withoutKid = ({ kid: _kid, ...jwk }: JsonWebKey & { kid?: string }) => jwk;

/** Z, or the error thrown. */
function derive(privateKey: KeyObject, epk: unknown): { z?: Buffer; err?: unknown } {
  try {
    return { z: ecdhEsSharedSecret(privateKey, epk) };
  } catch (err) {
    return { err };
  }
}

function expectOutcome(t: { tcId: number; comment: string; flags: string[]; shared: string; result: WycheproofResult }, out: { z?: Buffer; err?: unknown }, counts: Record<string, number>): void {
  const what = `tcId ${t.tcId} (${t.comment}; ${t.result}; ${t.flags.join(',')})`;
  const mustFail = t.result === 'invalid' || t.flags.includes('ZeroSharedSecret');
  if (mustFail) {
    expect(out.err, what).to.be.instanceOf(JweError);
    expect((out.err as JweError).message, what).to.equal('JWE cannot be opened');
    counts.refused = (counts.refused ?? 0) + 1;
  } else {
    expect(out.err, what).to.equal(undefined);
    expect(out.z!.toString('hex'), what).to.equal(t.shared);
    counts.derived = (counts.derived ?? 0) + 1;
  }
}

describe('Wycheproof X25519 through ecdhEsSharedSecret (the ECDH-ES derive of every envelope)', () => {
  it(`x25519_test.json: all ${x25519Raw.testGroups.flatMap((g) => g.tests).length} cases, the public key as an OKP epk`, () => {
    const counts: Record<string, number> = {};
    for (const t of x25519Raw.testGroups.flatMap((g) => g.tests)) {
      expectOutcome(t, derive(x25519Private(t.private), { kty: 'OKP', crv: 'X25519', x: b64u(hex(t.public)) }), counts);
    }
    // Every low-order public key is among the vectors; the all-zero secret is refused each time.
    expect(counts.refused).to.be.greaterThan(20);
    expect(counts.derived).to.be.greaterThan(400);
  });

  it(`x25519_jwk_test.json: all ${x25519Jwk.testGroups.flatMap((g) => g.tests).length} cases, JWK private keys, the public JWK as an epk`, () => {
    const counts: Record<string, number> = {};
    for (const t of x25519Jwk.testGroups.flatMap((g) => g.tests)) {
      const privateKey = createPrivateKey({ key: withoutKid(t.private), format: 'jwk' });
      expectOutcome(t, derive(privateKey, withoutKid(t.public)), counts);
    }
    // The 13 invalid JWKs (another curve, a bad or missing kty, crv or x) are among the refused.
    expect(counts.refused).to.be.greaterThan(13 + 20);
  });

  it('an epk with an extra member (the vectors\' own kid) is refused, however good the key', () => {
    const t = x25519Jwk.testGroups[0]!.tests[0]!;
    expect(t.result).to.equal('valid');
    const privateKey = createPrivateKey({ key: withoutKid(t.private), format: 'jwk' });
    expect(derive(privateKey, withoutKid(t.public)).z!.toString('hex')).to.equal(t.shared);
    expect(derive(privateKey, t.public).err).to.be.instanceOf(JweError);
  });

  it('an epk of the other curve than our key is refused both ways', () => {
    const x = generateKeyPairSync('x25519');
    const p = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const xEpk = withoutKid(x.publicKey.export({ format: 'jwk' }));
    const pEpk = withoutKid(p.publicKey.export({ format: 'jwk' }));
    expect(derive(p.privateKey, xEpk).err).to.be.instanceOf(JweError);
    expect(derive(x.privateKey, pEpk).err).to.be.instanceOf(JweError);
    expect(derive(x.privateKey, xEpk).z).to.have.length(32);
    expect(derive(p.privateKey, pEpk).z).to.have.length(32);
  });
});

describe('Wycheproof ECDH P-256 (WebCrypto JWK form) through ecdhEsSharedSecret', () => {
  it(`ecdh_secp256r1_webcrypto_test.json: all ${p256Jwk.testGroups.flatMap((g) => g.tests).length} cases, the public JWK as an epk`, () => {
    const counts: Record<string, number> = {};
    for (const t of p256Jwk.testGroups.flatMap((g) => g.tests)) {
      const privateKey = createPrivateKey({ key: withoutKid(t.private), format: 'jwk' });
      expectOutcome(t, derive(privateKey, withoutKid(t.public)), counts);
    }
    // 16 invalid-curve points, 4 on other curves, 3 modified points or groups.
    expect(counts.refused).to.equal(23);
    expect(counts.derived).to.equal(330);
  });
});
