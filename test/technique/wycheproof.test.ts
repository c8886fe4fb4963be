/**
 * Project Wycheproof vectors through our own decrypt path (docs/protocol.md section 2, "Failures"):
 * RSA-OAEP-256 (SHA-256, MGF1-SHA-256) through the envelope path's unwrap, the whole JWE path and
 * the running system over HTTP; AES-GCM through the exact GCM-open primitive. Every `valid` case
 * the contract covers opens; every other case is the one JweError, and over HTTP the one
 * `envelope_invalid` body, byte for byte: a failure says nothing about its cause (no padding oracle).
 *
 * Labels: a JWE never has an OAEP label (RFC 7518 section 4.3 uses the empty one), and our unwrap
 * takes none. A valid vector with a non-empty label is therefore a ciphertext the path must refuse
 * (its label hash does not match the empty label's); the test first checks with WebCrypto that
 * the vector does open under its own label, so the refusal is ours and not a broken vector.
 */
import { createCipheriv, createPrivateKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { expect } from 'chai';
import {
  b64u, decryptCompact, decryptCompactAsync, gcmDecrypt, JweError, MAX_ENVELOPE_LENGTH, rsaOaepUnwrap,
  type Decrypted, type DecryptOptions, type KeyManagementAlg,
} from '../../platform/crypto/jwe.ts';
import type { EncryptionKey } from '../../flows/keys/keys.ts';
import { http } from '../support/clients.ts';
import { connectTestRedis } from '../support/env.ts';
import { testKeys, useTestSystem } from '../support/system.ts';
import {
  hex, loadVectors, rsaEncryptionKey, rsaPrivateKey,
  type AeadGroup, type AeadTest, type JweGroup, type RsaOaepGroup, type RsaOaepTest,
} from '../support/wycheproof.ts';

const GENERIC = new JweError();

/** Asserts the one generic JweError: same class, code and message whatever went wrong. */
function expectGenericJweError(err: unknown, what: string): void {
  expect(err, what).to.be.instanceOf(JweError);
  expect((err as JweError).message, what).to.equal(GENERIC.message);
  expect((err as JweError).code, what).to.equal(GENERIC.code);
}

async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

const rsa2048 = loadVectors<RsaOaepGroup>('rsa_oaep_2048_sha256_mgf1sha256_test.json');
const rsaMisc = loadVectors<RsaOaepGroup>('rsa_oaep_misc_test.json');
const aesGcm = loadVectors<AeadGroup>('aes_gcm_test.json');
const jweVectors = loadVectors<JweGroup>('json_web_encryption_test.json');

const rsaGroup = rsa2048.testGroups[0]!;
const rsaTests = rsa2048.testGroups.flatMap((g) => g.tests);
/** The one hash pairing of RSA-OAEP-256: SHA-256 with MGF1-SHA-256. */
const isOurOaep = (g: RsaOaepGroup) => g.sha === 'SHA-256' && g.mgf === 'MGF1' && g.mgfSha === 'SHA-256';

/** Whether WebCrypto opens `t` under its own label to `t.msg`: proves a labelled vector is sound. */
async function opensWithItsLabel(pkcs8Hex: string, t: RsaOaepTest): Promise<boolean> {
  const key = await webcrypto.subtle.importKey('pkcs8', hex(pkcs8Hex), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
  const pt = Buffer.from(await webcrypto.subtle.decrypt({ name: 'RSA-OAEP', label: hex(t.label) }, key, hex(t.ct)));
  return pt.equals(hex(t.msg));
}

const HEADER = (kid: string) => b64u(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid }));

/**
 * A compact JWE whose encrypted key is the vector's ciphertext and whose content is sealed under
 * `cek` (the vector's message when it is a 32-byte R; otherwise any key: the attacker's guess).
 */
function envelopeWithEncryptedKey(kid: string, encryptedKey: Buffer, cek: Buffer, plaintext: string | Buffer, iv = randomBytes(12)): string {
  const protectedB64 = HEADER(kid);
  const c = createCipheriv('aes-256-gcm', cek, iv);
  c.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return [protectedB64, b64u(encryptedKey), b64u(iv), b64u(ct), b64u(c.getAuthTag())].join('.');
}

describe('Wycheproof RSA-OAEP-256 (2048 bits) through rsaOaepUnwrap, the envelope path\'s own unwrap', () => {
  const key = rsaPrivateKey(rsaGroup);

  it('opens every valid vector without a label to its exact message, and refuses every invalid one with the one JweError', async () => {
    const ran = { valid: 0, invalid: 0 };
    for (const t of rsaTests) {
      if (t.label !== '') continue;
      const what = `tcId ${t.tcId} (${t.result}: ${t.comment || t.flags.join(',')})`;
      if (t.result === 'valid') {
        expect((await rsaOaepUnwrap(key, hex(t.ct))).toString('hex'), what).to.equal(t.msg);
        ran.valid++;
      } else {
        expect(t.result, what).to.equal('invalid');
        expectGenericJweError(await failure(() => rsaOaepUnwrap(key, hex(t.ct))), what);
        ran.invalid++;
      }
    }
    expect(ran).to.deep.equal({ valid: 10, invalid: 19 });
  });

  it('refuses a valid vector made with a non-empty label (a JWE has none) with the one JweError, though the vector opens under its own label', async () => {
    let ran = 0;
    for (const t of rsaTests.filter((x) => x.label !== '')) {
      const what = `tcId ${t.tcId} (${t.comment || t.flags.join(',')})`;
      expect(t.result, what).to.equal('valid');
      expect(await opensWithItsLabel(rsaGroup.privateKeyPkcs8, t), `${what} opens under its label`).to.equal(true);
      expectGenericJweError(await failure(() => rsaOaepUnwrap(key, hex(t.ct))), what);
      ran++;
    }
    expect(ran).to.equal(8);
  });

  it('rsa_oaep_misc: opens SHA-256/MGF1-SHA-256 vectors without a label (1024 to 8192 bits) and refuses every other hash pairing or a label with the one JweError', async function () {
    this.timeout(60_000);
    const ran = { opened: 0, labelRefused: 0, otherHashRefused: 0 };
    await Promise.all(rsaMisc.testGroups.map(async (g) => {
      const k = rsaPrivateKey(g);
      for (const t of g.tests) {
        const what = `misc tcId ${t.tcId} (${g.keySize} bits, ${g.sha}/MGF1-${g.mgfSha}, ${t.result}, label ${t.label.length / 2} bytes)`;
        if (isOurOaep(g) && t.label === '') {
          expect(t.result, what).to.equal('valid');
          expect((await rsaOaepUnwrap(k, hex(t.ct))).toString('hex'), what).to.equal(t.msg);
          ran.opened++;
        } else {
          expectGenericJweError(await failure(() => rsaOaepUnwrap(k, hex(t.ct))), what);
          if (isOurOaep(g)) ran.labelRefused++;
          else ran.otherHashRefused++;
        }
      }
    }));
    expect(ran).to.deep.equal({ opened: 18, labelRefused: 16, otherHashRefused: 361 });
  });
});

describe('Wycheproof RSA-OAEP-256 (2048 bits) as the encrypted key of a whole JWE', () => {
  const encKey = rsaEncryptionKey(rsaGroup);
  const opts: DecryptOptions = { algorithms: ['RSA-OAEP-256'], key: (h) => (h.kid === encKey.kid ? encKey.privateKey : undefined), maxLength: MAX_ENVELOPE_LENGTH };
  const paths: [string, (jwe: string) => Decrypted | Promise<Decrypted>][] = [
    ['decryptCompactAsync (auth\'s envelope path)', (jwe) => decryptCompactAsync(jwe, opts)],
    ['decryptCompact', (jwe) => decryptCompact(jwe, opts)],
  ];

  for (const [name, open] of paths) {
    it(`${name}: opens only a valid 32-byte message with content sealed under it; every other vector is the one JweError`, async () => {
      const ran = { opened: 0, refused: 0 };
      for (const t of rsaTests) {
        const what = `tcId ${t.tcId} (${t.result}: ${t.comment || t.flags.join(',')})`;
        const msg = hex(t.msg);
        const r = t.result === 'valid' && t.label === '' && msg.length === 32 ? msg : undefined;
        const plaintext = `{"tcId":${t.tcId}}`;
        if (r) {
          const opened = await open(envelopeWithEncryptedKey(encKey.kid, hex(t.ct), r, plaintext));
          expect(opened.plaintext.toString(), what).to.equal(plaintext);
          expect(opened.cek.equals(r), what).to.equal(true);
          // The same encrypted key with content under any other key fails at the tag, generically.
          expectGenericJweError(await failure(() => open(envelopeWithEncryptedKey(encKey.kid, hex(t.ct), randomBytes(32), plaintext))), what);
          ran.opened++;
        } else {
          // Content sealed under the message itself (padded to 32 bytes) or under a random key:
          // neither opens, since an unwrap that fails yields a random CEK of ours.
          const guess = Buffer.concat([msg, Buffer.alloc(32)]).subarray(0, 32);
          for (const cek of [guess, randomBytes(32)]) {
            expectGenericJweError(await failure(() => open(envelopeWithEncryptedKey(encKey.kid, hex(t.ct), cek, plaintext))), what);
          }
          ran.refused++;
        }
      }
      expect(ran).to.deep.equal({ opened: 1, refused: 36 });
    });
  }
});

/** The group's private JWK as the key our decrypt path takes for each alg, or undefined. */
function jweVectorKey(group: JweGroup): (alg: KeyManagementAlg) => Uint8Array | KeyObject | undefined {
  const jwk = group.private;
  if (jwk.kty === 'oct') {
    const k = Buffer.from(jwk.k!, 'base64url');
    return (alg) => (alg === 'A256KW' || alg === 'dir' ? k : undefined);
  }
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  return (alg) => {
    if (alg === 'RSA-OAEP-256' && privateKey.asymmetricKeyType === 'rsa') return privateKey;
    if (alg === 'ECDH-ES+A256KW' && privateKey.asymmetricKeyType === 'ec') return privateKey;
    return undefined;
  };
}

describe('Wycheproof JWE vectors through decryptCompact and decryptCompactAsync', () => {
  it('open only the valid cases inside the contract (A256KW, RSA-OAEP-256, ECDH-ES+A256KW with A256GCM); every other case is the one JweError', async () => {
    const ran = { opened: 0, validOutsideContract: 0, invalid: 0 };
    const opened: number[] = [];
    for (const g of jweVectors.testGroups) {
      const keyFor = jweVectorKey(g);
      const opts: DecryptOptions = { algorithms: ['A256KW', 'RSA-OAEP-256', 'ECDH-ES+A256KW', 'dir'], key: (h) => keyFor(h.alg) };
      for (const t of g.tests) {
        const what = `JWE tcId ${t.tcId} (${t.result}: ${t.comment})`;
        const sync = await failure(() => decryptCompact(t.jwe, opts));
        const async = await failure(() => decryptCompactAsync(t.jwe, opts));
        if (sync === undefined) {
          expect(async, what).to.equal(undefined);
          expect(t.result, what).to.equal('valid');
          expect(decryptCompact(t.jwe, opts).plaintext.toString('hex'), what).to.equal(t.pt);
          expect((await decryptCompactAsync(t.jwe, opts)).plaintext.toString('hex'), what).to.equal(t.pt);
          opened.push(t.tcId);
          ran.opened++;
        } else {
          expectGenericJweError(sync, `${what}, sync`);
          expectGenericJweError(async, `${what}, async`);
          if (t.result === 'invalid') ran.invalid++;
          else ran.validOutsideContract++;
        }
      }
    }
    // 29: A256KW + A256GCM, 66: ECDH-ES+A256KW + A256GCM, 90: RSA-OAEP-256 + A256GCM.
    expect(opened).to.deep.equal([29, 66, 90]);
    expect(ran).to.deep.equal({ opened: 3, validOutsideContract: 62, invalid: 74 });
  });
});

/** POST /v1/visit-tokens with `envelope`; the answer's status, content type and exact body bytes. */
async function postEnvelope(gatewayUrl: string, envelope: unknown) {
  const res = await http.post(`${gatewayUrl}/v1/visit-tokens`, JSON.stringify({ envelope }), {
    headers: { 'content-type': 'application/json' },
    responseType: 'arraybuffer',
    transformResponse: (d) => d,
  });
  return { status: res.status, type: String(res.headers['content-type']), body: Buffer.from(res.data as ArrayBuffer) };
}

describe('Wycheproof RSA-OAEP-256 vectors over HTTP, as envelopes to POST /v1/visit-tokens', () => {
  const wycheproofKey: EncryptionKey = rsaEncryptionKey(rsaGroup);
  const suite = useTestSystem(connectTestRedis, { keys: [...testKeys(), wycheproofKey] });
  let garbage: Buffer;

  before(async () => {
    const res = await postEnvelope(suite.system.urls.gateway, 'garbage');
    expect(res.status).to.equal(400);
    expect(res.type).to.match(/^application\/problem\+json/);
    expect(JSON.parse(res.body.toString())).to.include({ code: 'envelope_invalid', status: 400 });
    garbage = res.body;
  });

  it('answers every vector that must not open with 400 and a body byte for byte the same as a garbage envelope\'s', async () => {
    const gw = suite.system.urls.gateway;
    const envelopes: [string, unknown][] = [
      ['empty string', ''],
      ['not a string', 42],
      ['one character over the limit', 'a'.repeat(MAX_ENVELOPE_LENGTH + 1)],
      ['four parts', 'a.b.c.d'],
    ];
    for (const t of rsaTests) {
      const msg = hex(t.msg);
      const at = randomBytes(32).toString('base64url');
      const plaintext = JSON.stringify({ at, iat: Math.floor(Date.now() / 1000) });
      if (t.result === 'valid' && t.label === '' && msg.length === 32) {
        // The one vector that opens: its encrypted key with content under another key, or with a
        // plaintext that is not the contract's, must look exactly like any other failure.
        envelopes.push([`tcId ${t.tcId}, content under another key`, envelopeWithEncryptedKey(wycheproofKey.kid, hex(t.ct), randomBytes(32), plaintext)]);
        envelopes.push([`tcId ${t.tcId}, plaintext not JSON`, envelopeWithEncryptedKey(wycheproofKey.kid, hex(t.ct), msg, 'not json')]);
        envelopes.push([`tcId ${t.tcId}, plaintext without iat`, envelopeWithEncryptedKey(wycheproofKey.kid, hex(t.ct), msg, JSON.stringify({ at }))]);
        continue;
      }
      const guess = Buffer.concat([msg, Buffer.alloc(32)]).subarray(0, 32);
      envelopes.push([`tcId ${t.tcId} (${t.result}: ${t.comment || t.flags.join(',')})`, envelopeWithEncryptedKey(wycheproofKey.kid, hex(t.ct), guess, plaintext)]);
    }
    // The Wycheproof JWE file's compact cases too: none names one of our keys.
    for (const t of jweVectors.testGroups.flatMap((g) => g.tests)) envelopes.push([`JWE tcId ${t.tcId}`, t.jwe]);

    let ran = 0;
    for (const [what, envelope] of envelopes) {
      const res = await postEnvelope(gw, envelope);
      expect(res.status, what).to.equal(400);
      expect(res.type, what).to.match(/^application\/problem\+json/);
      expect(res.body.toString(), what).to.equal(garbage.toString());
      expect(res.body.equals(garbage), what).to.equal(true);
      ran++;
    }
    expect(ran).to.equal(4 + 36 + 3 + 139);
  });

  it('opens the valid 32-byte vector sealed with real content: a bogus AT inside is 401 at_invalid, so the envelope did open', async () => {
    const gw = suite.system.urls.gateway;
    const opening = rsaTests.filter((t) => t.result === 'valid' && t.label === '' && t.msg.length === 64);
    expect(opening.map((t) => t.tcId)).to.deep.equal([7]);
    for (const t of opening) {
      const plaintext = JSON.stringify({ at: randomBytes(32).toString('base64url'), iat: Math.floor(Date.now() / 1000) });
      const res = await postEnvelope(gw, envelopeWithEncryptedKey(wycheproofKey.kid, hex(t.ct), hex(t.msg), plaintext));
      expect(res.status, `tcId ${t.tcId}`).to.equal(401);
      expect(JSON.parse(res.body.toString())).to.include({ code: 'at_invalid', status: 401 });
    }
  });
});

/** The Wycheproof AAD as the string our primitive takes (Node's 'ascii' encodes like latin1: byte for byte). */
function aadString(t: AeadTest): string {
  const s = hex(t.aad).toString('latin1');
  expect(Buffer.from(s, 'ascii').equals(hex(t.aad)), `tcId ${t.tcId} AAD round-trips`).to.equal(true);
  return s;
}

const openGcm = (t: AeadTest, tag = hex(t.tag)) => gcmDecrypt(hex(t.key), hex(t.iv), hex(t.ct), tag, aadString(t));

describe('Wycheproof AES-GCM through gcmDecrypt, the GCM-open primitive every JWE here goes through', () => {
  const inContract = (g: AeadGroup) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128;

  it('opens every valid 256-bit key, 96-bit IV, 128-bit tag vector to its message and refuses every invalid one with the one JweError', async () => {
    const ran = { valid: 0, invalid: 0 };
    for (const g of aesGcm.testGroups.filter(inContract)) {
      for (const t of g.tests) {
        const what = `tcId ${t.tcId} (${t.result}: ${t.comment || t.flags.join(',')})`;
        if (t.result === 'valid') {
          expect(openGcm(t).toString('hex'), what).to.equal(t.msg);
          ran.valid++;
        } else {
          expect(t.result, what).to.equal('invalid');
          expectGenericJweError(await failure(() => openGcm(t)), what);
          ran.invalid++;
        }
      }
    }
    expect(ran).to.deep.equal({ valid: 39, invalid: 27 });
  });

  it('refuses every vector of another key or IV size (valid or not) with the same JweError: the path takes A256GCM with a 96-bit IV only', async () => {
    const ran = { valid: 0, invalid: 0 };
    for (const g of aesGcm.testGroups.filter((x) => !inContract(x))) {
      for (const t of g.tests) {
        expectGenericJweError(await failure(() => openGcm(t)), `tcId ${t.tcId} (key ${g.keySize}, IV ${g.ivSize}, tag ${g.tagSize})`);
        if (t.result === 'valid') ran.valid++;
        else ran.invalid++;
      }
    }
    expect(ran).to.deep.equal({ valid: 190, invalid: 60 });
  });

  it('refuses a valid vector\'s tag truncated or extended (0, 4, 8, 12, 15 or 17 bytes) with the same JweError: only 128-bit tags', async () => {
    let ran = 0;
    for (const g of aesGcm.testGroups.filter(inContract)) {
      for (const t of g.tests.filter((x) => x.result === 'valid')) {
        const tag = hex(t.tag);
        for (const len of [0, 4, 8, 12, 15]) {
          expectGenericJweError(await failure(() => openGcm(t, tag.subarray(0, len))), `tcId ${t.tcId}, tag ${len} bytes`);
          ran++;
        }
        expectGenericJweError(await failure(() => openGcm(t, Buffer.concat([tag, Buffer.alloc(1)]))), `tcId ${t.tcId}, tag 17 bytes`);
        ran++;
      }
    }
    expect(ran).to.equal(39 * 6);
  });
});
