/**
 * SIGNING_KEYS_FILE: the VT signing keys come from a JWK Set file the operator manages. Auth signs
 * with its current key and publishes it for the gateway; an edit of the file is picked up at the
 * next poll; keys:rotate refuses; a bad file fails the start with a message naming it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as jose from 'jose';
import { generateSigningKey, type SigningKey } from '../../../flows/keys/keys.ts';
import { readKeySet, rotateSigningKeys, RotationRefused, SIGNING_KEYS_PRIVATE } from '../../../flows/keys/signing-keys.ts';
import { MemoryStore } from '../../../platform/store/index.ts';
import type { RunningSystem } from '../../../system/start.ts';
import { runKeysCommand } from '../../../scripts/keys.ts';
import { fullFlow, http } from '../../support/clients.ts';
import { startTestSystem, testKek } from '../../support/system.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid;
const now = () => Math.floor(Date.now() / 1000);
const VT_TTL = 1800;
const FAST = { keysPollMs: 50, productsVerifier: { cooldownMs: 100, cacheMaxAgeMs: 200 } };

type Stage = 'current' | 'next' | 'retired';
/** A key as the file holds it: the private JWK, its kid, and the stage members. */
const entry = (key: SigningKey, kid: string, stage: Stage, notAfter?: number) => ({
  ...key.privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256', 'x-stage': stage, ...(notAfter !== undefined && { 'x-not-after': notAfter }),
});

describe('signing keys from SIGNING_KEYS_FILE', function () {
  this.timeout(30_000);
  const [keyA, keyB, keyC] = [generateSigningKey(), generateSigningKey(), generateSigningKey()];
  let dir: string;
  let file: string;
  let store: MemoryStore;
  let system: RunningSystem;

  /** Writes the file as an operator's tooling should: whole, then renamed into place. */
  const writeKeys = (doc: unknown) => {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, typeof doc === 'string' ? doc : JSON.stringify(doc), { mode: 0o600 });
    renameSync(tmp, file);
  };
  const jwks = async () => (await http.get(`${system.urls.gateway}/.well-known/jwks.json`)).data as jose.JSONWebKeySet;
  const sigKids = async () => (await jwks()).keys.filter((k) => k.use === 'sig').map((k) => k.kid);
  const product = (vt: string) => http.get(`${system.urls.gateway}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } });
  const verifyWithJose = async (vt: string) =>
    jose.jwtVerify(vt, jose.createLocalJWKSet(await jwks()), { typ: 'vt+jwt', algorithms: ['ES256'], issuer: system.urls.gateway, audience: 'city-pass' });
  async function caughtUp(version: number): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (system.signingKeys.auth!.version >= version && system.signingKeys.gateway!.version >= version) return;
      await sleep(10);
    }
    throw new Error(`the rings did not reach version ${version}`);
  }

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'h5b-keys-'));
    file = join(dir, 'signing-keys.json');
    writeKeys({ keys: [entry(keyA, 'op-2026-11', 'current'), entry(keyB, 'op-2026-12', 'next')] });
    store = new MemoryStore();
    system = await startTestSystem({ store, env: { SIGNING_KEYS_FILE: file }, system: FAST });
  });
  afterEach(async function () {
    await system?.close(0);
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("auth signs with the file's current key; the gateway publishes the file's keys and jose verifies the VT", async function () {
    const { reply, product: res } = await fullFlow(system.urls.gateway);
    expect(res.status).to.equal(200);
    expect(kidOf(reply.vt)).to.equal('op-2026-11');
    const { payload, protectedHeader } = await verifyWithJose(reply.vt);
    expect(protectedHeader.kid).to.equal('op-2026-11');
    expect(payload.sub).to.equal('alice');
    expect(await sigKids()).to.deep.equal(['op-2026-11', 'op-2026-12']);
    // The JWKS carries plain RFC 7517 members only: no stage, no private half.
    for (const k of (await jwks()).keys.filter((k) => k.use === 'sig')) expect(Object.keys(k).sort()).to.deep.equal(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    const set = (await readKeySet(store))!;
    expect(set.source).to.equal('file');
    expect(set.keys.map((k) => [k.stage, k.jwk.kid])).to.deep.equal([['current', 'op-2026-11'], ['next', 'op-2026-12']]);
    // Nothing private in the store: the private entry is an empty one.
    expect(JSON.parse((await store.get(SIGNING_KEYS_PRIVATE))!)).to.deep.equal({ version: set.version, keys: [] });
  });

  it('an edit of the file is re-read: new VTs carry the new kid, old VTs still verify until the retired key ends', async function () {
    const first = (await fullFlow(system.urls.gateway)).reply.vt;
    const version = system.signingKeys.auth!.version;
    writeKeys({ keys: [
      entry(keyB, 'op-2026-12', 'current'),
      entry(keyC, 'op-2027-01', 'next'),
      entry(keyA, 'op-2026-11', 'retired', now() + VT_TTL + 60),
    ] });
    await caughtUp(version + 1);

    const { reply, product: res } = await fullFlow(system.urls.gateway);
    expect(res.status).to.equal(200);
    expect(kidOf(reply.vt)).to.equal('op-2026-12');
    expect((await product(first)).status).to.equal(200);
    for (const vt of [first, reply.vt]) expect((await verifyWithJose(vt)).protectedHeader.kid).to.equal(kidOf(vt));
    expect(await sigKids()).to.deep.equal(['op-2026-12', 'op-2027-01', 'op-2026-11']);

    // The retired key's x-not-after passes: it leaves the JWKS and its VTs are refused.
    writeKeys({ keys: [entry(keyB, 'op-2026-12', 'current'), entry(keyA, 'op-2026-11', 'retired', now() - 1)] });
    await caughtUp(version + 2);
    expect((await product(first)).data.code).to.equal('vt_invalid');
    expect(await sigKids()).to.deep.equal(['op-2026-12']);
    expect((await product(reply.vt)).status).to.equal(200);
  });

  it('an invalid edit is logged and ignored: the keys read before keep signing', async function () {
    const version = system.signingKeys.auth!.version;
    writeKeys('{"keys": [');
    await sleep(300);
    expect(system.signingKeys.auth!.version).to.equal(version);
    const { reply, product: res } = await fullFlow(system.urls.gateway);
    expect(res.status).to.equal(200);
    expect(kidOf(reply.vt)).to.equal('op-2026-11');
    // Fixed again: picked up.
    writeKeys({ keys: [entry(keyB, 'op-2026-12', 'current'), entry(keyA, 'op-2026-11', 'retired', now() + 60)] });
    await caughtUp(version + 1);
    expect(kidOf((await fullFlow(system.urls.gateway)).reply.vt)).to.equal('op-2026-12');
  });

  it('keys:rotate refuses and says how to rotate; list shows where the set comes from', async function () {
    const deps = { store, kek: testKek, vtTtlSeconds: VT_TTL };
    for (const d of [{ ...deps, signingKeysFile: file }, deps]) {
      let refused: unknown;
      await runKeysCommand(['rotate', '--force'], d).catch((err) => (refused = err));
      expect(refused).to.be.instanceOf(RotationRefused);
      expect((refused as RotationRefused).code).to.equal('managed_by_file');
      expect((refused as Error).message).to.match(/SIGNING_KEYS_FILE.*rotation is yours.*x-stage/);
    }
    let refused: unknown;
    await rotateSigningKeys(store, { kek: testKek(), vtTtlSeconds: VT_TTL }).catch((err) => (refused = err));
    expect((refused as RotationRefused).code).to.equal('managed_by_file');
    expect(await runKeysCommand(['list'], deps)).to.match(/^version 1, written .*, published from SIGNING_KEYS_FILE\n/);
  });
});

describe('SIGNING_KEYS_FILE checked at start', function () {
  this.timeout(30_000);
  const [keyA, keyB] = [generateSigningKey(), generateSigningKey()];
  let dir: string;
  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'h5b-keys-bad-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  const p384 = { ...generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' }), kid: 'p384', 'x-stage': 'next' };
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{"keys": [', /is not JSON/],
    ['no keys', { keys: [] }, /must be a JWK Set \{"keys": \[\.\.\.\]\} with at least one key/],
    ['no current', { keys: [entry(keyA, 'a', 'next')] }, /has 0 keys with "x-stage": "current"; exactly one must be current/],
    ['two currents', { keys: [entry(keyA, 'a', 'current'), entry(keyB, 'b', 'current')] }, /has 2 keys with "x-stage": "current"/],
    ['duplicate kid', { keys: [entry(keyA, 'a', 'current'), entry(keyB, 'a', 'next')] }, /kid "a" is used by keys\[0\] and keys\[1\]; kids must be unique/],
    ['the same key twice', { keys: [entry(keyA, 'a', 'current'), entry(keyA, 'b', 'next')] }, /keys\[0\] and keys\[1\] are the same key under two kids/],
    ['a P-384 key', { keys: [entry(keyA, 'a', 'current'), p384] }, /keys\[1\] \(kid "p384"\) must be an EC P-256 key \(ES256\), not kty "EC" crv "P-384"/],
    ['a public key only', { keys: [{ ...keyA.publicJwk, 'x-stage': 'current' }] }, /holds no private key \("d"\)/],
    ['no stage', { keys: [{ ...entry(keyA, 'a', 'current'), 'x-stage': undefined }] }, /keys\[0\] \(kid "a"\) needs "x-stage": "current", "next" or "retired"/],
    ['a retired key without x-not-after', { keys: [entry(keyA, 'a', 'current'), entry(keyB, 'b', 'retired')] }, /keys\[1\] \(kid "b"\) is retired and needs "x-not-after"/],
    ['x-not-after on a current key', { keys: [entry(keyA, 'a', 'current', now())] }, /has "x-not-after" but is current/],
    ['a misspelt member', { keys: [{ ...entry(keyA, 'a', 'current'), 'x-stages': 'next' }] }, /members this file format does not know: x-stages/],
    ['no kid', { keys: [{ ...entry(keyA, 'a', 'current'), kid: undefined }] }, /keys\[0\] needs a "kid"/],
    ['x and y of another key', { keys: [{ ...entry(keyA, 'a', 'current'), x: keyB.publicJwk.x, y: keyB.publicJwk.y }] }, /"x"\/"y" that are not the public half of its "d"/],
    ['another use', { keys: [{ ...entry(keyA, 'a', 'current'), use: 'enc' }] }, /has "use": "enc"/],
  ];

  for (const [name, doc, message] of cases) {
    it(`refuses ${name}`, async function () {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.json`);
      writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
      const store = new MemoryStore();
      let error: unknown;
      await startTestSystem({ store, components: ['auth'], env: { SIGNING_KEYS_FILE: file } }).then((s) => s.close(0), (err) => (error = err));
      expect(error, name).to.be.instanceOf(Error);
      expect((error as Error).message).to.include(`SIGNING_KEYS_FILE ${file}: `);
      expect((error as Error).message).to.match(message);
      expect(await store.get('keys:{signing}:public')).to.equal(null);
      await store.close();
    });
  }

  it('refuses a missing file', async function () {
    const file = join(dir, 'missing.json');
    const store = new MemoryStore();
    let error: unknown;
    await startTestSystem({ store, components: ['auth'], env: { SIGNING_KEYS_FILE: file } }).then((s) => s.close(0), (err) => (error = err));
    await store.close();
    expect((error as Error).message).to.equal(`SIGNING_KEYS_FILE ${file}: cannot be read (ENOENT)`);
  });
});
