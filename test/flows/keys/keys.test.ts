/** auth's key set: one RSA-OAEP-256 and one ECDH-ES+A256KW (P-256) key, kept in AUTH_KEYS_FILE. */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import { generateEncryptionKey, loadOrCreateAuthKeys, loadOrCreateEncryptionKeys, loadOrCreateKeysKek, toJwks } from '../../../flows/keys/keys.ts';

describe('encryption keys', function () {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'h5b-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const mode = (file: string) => statSync(file).mode & 0o777;
  const stored = (file: string) => JSON.parse(readFileSync(file, 'utf8')).keys as Record<string, string>[];

  it('six processes starting at once on one new file end with one key set and one KEK (the file is locked while keys are added)', async function () {
    this.timeout(30_000);
    const file = join(dir, 'keys.json');
    const script = `
      import { createHash } from 'node:crypto';
      import { loadOrCreateEncryptionKeys, loadOrCreateKeysKek, loadOrCreateSigningKey } from ${JSON.stringify(new URL('../../../flows/keys/keys.ts', import.meta.url).href)};
      const file = ${JSON.stringify(file)};
      const enc = loadOrCreateEncryptionKeys(file).map((k) => k.kid);
      const sig = loadOrCreateSigningKey(file).kid;
      const kek = createHash('sha256').update(loadOrCreateKeysKek(file)).digest('hex');
      console.log(JSON.stringify({ enc, sig, kek }));`;
    const run = promisify(execFile);
    const outs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd() })));
    const views = outs.map((o) => o.stdout.trim());
    expect(new Set(views).size, views.join('\n')).to.equal(1);
    const view = JSON.parse(views[0]!);
    expect(loadOrCreateEncryptionKeys(file).map((k) => k.kid)).to.deep.equal(view.enc);
    expect(createHash('sha256').update(loadOrCreateKeysKek(file)).digest('hex')).to.equal(view.kek);
    // RSA, P-256, X25519 and the signing key.
    expect(stored(file)).to.have.length(4);
  });

  it('a fresh start generates an RSA, a P-256 and an X25519 key, keeps them (0600), and loads the same kids again', function () {
    const file = join(dir, 'sub', 'keys.json');
    const keys = loadOrCreateEncryptionKeys(file);
    expect(keys.map((k) => k.alg)).to.deep.equal(['RSA-OAEP-256', 'ECDH-ES+A256KW', 'ECDH-ES+A256KW']);
    expect(keys.map((k) => k.kind)).to.deep.equal(['RSA', 'P-256', 'X25519']);
    expect(mode(file)).to.equal(0o600);
    expect(stored(file).map((k) => [k.kty, k.alg, k.use, k.kid])).to.deep.equal(keys.map((k) => [k.publicJwk.kty, k.alg, 'enc', k.kid]));
    expect(loadOrCreateEncryptionKeys(file).map((k) => k.kid)).to.deep.equal(keys.map((k) => k.kid));
  });

  it('the signing keys\' KEK: KEYS_KEK wins; otherwise generated once into the file beside the keys, which stay; never created where asked not to', function () {
    const file = join(dir, 'keys.json');
    const keys = loadOrCreateEncryptionKeys(file);
    expect(() => loadOrCreateKeysKek(file, undefined, { create: false })).to.throw(/holds no kek/);
    const kek = loadOrCreateKeysKek(file);
    expect(kek).to.have.length(32);
    expect(mode(file)).to.equal(0o600);
    expect(loadOrCreateKeysKek(file, undefined, { create: false }).equals(kek)).to.equal(true);
    expect(loadOrCreateEncryptionKeys(file).map((k) => k.kid)).to.deep.equal(keys.map((k) => k.kid));
    expect(loadOrCreateKeysKek(file).equals(kek)).to.equal(true);
    const fromEnv = Buffer.alloc(32, 3);
    expect(loadOrCreateKeysKek(file, fromEnv)).to.equal(fromEnv);
    expect(() => loadOrCreateKeysKek(join(dir, 'absent.json'), undefined, { create: false })).to.throw(/no key-encryption key/);
  });

  it('a file from before ECDH-ES+A256KW (RSA only) gets a P-256 and an X25519 key added; the RSA key and its kid stay', function () {
    const file = join(dir, 'keys.json');
    const rsa = generateEncryptionKey('RSA-OAEP-256');
    // What the RSA-only version wrote.
    const old = { ...rsa.privateKey.export({ format: 'jwk' }), kid: rsa.kid, use: 'enc', alg: 'RSA-OAEP-256' };
    writeFileSync(file, JSON.stringify({ keys: [old] }, null, 2) + '\n', { mode: 0o644 });

    const keys = loadOrCreateEncryptionKeys(file);
    expect(keys.map((k) => k.alg)).to.deep.equal(['RSA-OAEP-256', 'ECDH-ES+A256KW', 'ECDH-ES+A256KW']);
    expect(keys[0]!.kid).to.equal(rsa.kid);
    expect(mode(file)).to.equal(0o600);
    const [first, second, third] = stored(file);
    expect(first).to.deep.equal(old);
    expect(second).to.include({ kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', use: 'enc', kid: keys[1]!.kid });
    expect(second!.d).to.be.a('string');
    expect(third).to.include({ kty: 'OKP', crv: 'X25519', alg: 'ECDH-ES+A256KW', use: 'enc', kid: keys[2]!.kid });
    expect(third!.d).to.be.a('string');
    // A second start changes nothing.
    const before = readFileSync(file, 'utf8');
    expect(loadOrCreateEncryptionKeys(file).map((k) => k.kid)).to.deep.equal(keys.map((k) => k.kid));
    expect(readFileSync(file, 'utf8')).to.equal(before);
  });

  it('a file from before X25519 (RSA and P-256) gets an X25519 key added at start; the other keys and kids stay', function () {
    const file = join(dir, 'keys.json');
    const before = [generateEncryptionKey('RSA'), generateEncryptionKey('P-256')];
    const old = before.map((k) => ({ ...k.privateKey.export({ format: 'jwk' }), kid: k.kid, use: 'enc', alg: k.alg }));
    writeFileSync(file, JSON.stringify({ keys: old }, null, 2) + '\n', { mode: 0o600 });
    const keys = loadOrCreateEncryptionKeys(file);
    expect(keys.map((k) => k.kind)).to.deep.equal(['RSA', 'P-256', 'X25519']);
    expect(keys.slice(0, 2).map((k) => k.kid)).to.deep.equal(before.map((k) => k.kid));
    expect(stored(file).slice(0, 2)).to.deep.equal(old);
    expect(stored(file)[2]).to.include({ kty: 'OKP', crv: 'X25519', alg: 'ECDH-ES+A256KW', use: 'enc', kid: keys[2]!.kid });
  });

  it('kids are RFC 7638 thumbprints (crv, kty, x, y for EC; crv, kty, x for OKP), as jose computes them', async function () {
    for (const key of loadOrCreateEncryptionKeys()) {
      const { kid, use, alg, ...members } = key.publicJwk;
      expect(kid).to.equal(await jose.calculateJwkThumbprint(members as jose.JWK, 'sha256'));
      expect(use).to.equal('enc');
      expect(alg).to.equal(key.alg);
    }
  });

  it('the JWKS holds the public halves only, each key with its alg', function () {
    const jwks = toJwks(loadOrCreateEncryptionKeys());
    expect(jwks.keys.map((k) => [k.kty, k.alg])).to.deep.equal([['RSA', 'RSA-OAEP-256'], ['EC', 'ECDH-ES+A256KW'], ['OKP', 'ECDH-ES+A256KW']]);
    for (const k of jwks.keys) for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.to.have.property(priv);
  });

  it('refuses keys of another kind or curve, and a stored alg that does not fit the key', function () {
    const file = join(dir, 'keys.json');
    const p384 = { ...generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' }) };
    writeFileSync(file, JSON.stringify({ keys: [p384] }));
    expect(() => loadOrCreateEncryptionKeys(file)).to.throw(/P-256/);
    const ec = { ...generateEncryptionKey('ECDH-ES+A256KW').privateKey.export({ format: 'jwk' }), alg: 'RSA-OAEP-256' };
    writeFileSync(file, JSON.stringify({ keys: [ec] }));
    expect(() => loadOrCreateEncryptionKeys(file)).to.throw(/cannot be used with RSA-OAEP-256/);
  });

  it('a file with encryption keys only gets an ES256 signing key added; every key and kid stays, and a restart changes nothing', async function () {
    const file = join(dir, 'keys.json');
    const enc = loadOrCreateEncryptionKeys(file);
    const before = stored(file);
    const { encryption, signing } = loadOrCreateAuthKeys(file);
    expect(encryption.map((k) => k.kid)).to.deep.equal(enc.map((k) => k.kid));
    expect(mode(file)).to.equal(0o600);
    const after = stored(file);
    expect(after.slice(0, 3)).to.deep.equal(before);
    expect(after[3]).to.include({ kty: 'EC', crv: 'P-256', use: 'sig', alg: 'ES256', kid: signing.kid });
    const { kid, use, alg, ...members } = signing.publicJwk;
    expect(kid).to.equal(await jose.calculateJwkThumbprint(members as jose.JWK, 'sha256'));
    expect([use, alg]).to.deep.equal(['sig', 'ES256']);
    const text = readFileSync(file, 'utf8');
    const again = loadOrCreateAuthKeys(file);
    expect(again.signing.kid).to.equal(signing.kid);
    expect(again.encryption.map((k) => k.kid)).to.deep.equal(enc.map((k) => k.kid));
    expect(readFileSync(file, 'utf8')).to.equal(text);
    expect(toJwks(again.encryption, [again.signing]).keys.map((k) => k.use)).to.deep.equal(['enc', 'enc', 'enc', 'sig']);
  });
});
