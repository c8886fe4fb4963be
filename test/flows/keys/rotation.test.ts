/**
 * The VT signing key set with stages (next, current, retired), rotated at run time through the
 * store: no request lost across rotations, retired keys published until `notAfter`, `next`
 * published before it signs, no private key for the gateway, jose agreeing across a rotation.
 */
import { expect } from 'chai';
import * as jose from 'jose';
import {
  ensureSigningKeySet, readKeySet, rotateSigningKeys, RotationRefused, SIGNING_KEYS_PRIVATE, SIGNING_KEYS_PUBLIC,
  type SealedPrivateKeys, type SigningKeySet,
} from '../../../flows/keys/signing-keys.ts';
import { MemoryStore, type TokenStore } from '../../../platform/store/index.ts';
import type { RunningSystem } from '../../../system/start.ts';
import { runKeysCommand } from '../../../scripts/keys.ts';
import { fullFlow, http } from '../../support/clients.ts';
import { connectTestRedis } from '../../support/env.ts';
import { startTestSystem, testKek, testSigningKey } from '../../support/system.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid;
const VT_TTL = 1800;
const POLL_MS = 50;
/** Fast enough that "published for longer than every cache's lifetime" takes under a second here. */
const FAST_KEYS = { keysPollMs: POLL_MS, productsVerifier: { cooldownMs: 100, cacheMaxAgeMs: 200 } };
/** Here the minimum age of `next` before it signs: every poll and every cache above has seen it. */
const PROPAGATION_MS = 600;

const rotate = (store: TokenStore) => runKeysCommand(['rotate', '--force'], { store, kek: testKek, vtTtlSeconds: VT_TTL });

/** Waits until auth and gateway of `system` hold version `version` of the set. */
async function caughtUp(system: RunningSystem, version: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (system.signingKeys.auth!.version >= version && system.signingKeys.gateway!.version >= version) return;
    await sleep(10);
  }
  throw new Error(`the rings did not reach version ${version}`);
}

const gatewayJwks = async (system: RunningSystem) => (await http.get(`${system.urls.gateway}/.well-known/jwks.json`)).data as jose.JSONWebKeySet;
const sigKids = (jwks: jose.JSONWebKeySet) => jwks.keys.filter((k) => k.use === 'sig').map((k) => k.kid!);

function rotationUnderLoad(name: string, open: (ctx: Mocha.Context) => Promise<TokenStore>) {
  describe(`rotation under load (${name} store)`, function () {
    this.timeout(60_000);
    let store: TokenStore;
    let system: RunningSystem;
    before(async function () {
      store = await open(this);
      system = await startTestSystem({ store, system: FAST_KEYS });
    });
    after(async function () {
      await system?.close(0);
      await store?.close();
    });

    it('a loop of full flows across two rotations loses no request, and each VT is signed by a key published before', async function () {
      const results: { status: number; kid: string; error?: string }[] = [];
      let running = true;
      const worker = async () => {
        while (running) {
          try {
            const { reply, product } = await fullFlow(system.urls.gateway, 'alice', 'city-pass', 'ECDH-ES+A256KW');
            results.push({ status: product.status, kid: kidOf(reply.vt), error: product.status === 200 ? undefined : JSON.stringify(product.data) });
          } catch (err) {
            results.push({ status: 0, kid: '', error: (err as Error).message });
          }
        }
      };
      const workers = Array.from({ length: 6 }, worker);
      const published: string[][] = [sigKids(await gatewayJwks(system))];
      await sleep(300);
      for (const version of [2, 3]) {
        await rotate(store);
        await caughtUp(system, version);
        published.push(sigKids(await gatewayJwks(system)));
        await sleep(PROPAGATION_MS);
      }
      running = false;
      await Promise.all(workers);

      const failed = results.filter((r) => r.status !== 200);
      expect(failed, JSON.stringify(failed.slice(0, 3))).to.deep.equal([]);
      expect(results.length).to.be.greaterThan(30);
      const kids = [...new Set(results.map((r) => r.kid))];
      // Three keys signed in turn: the first current, then each promoted next.
      expect(kids).to.have.length(3);
      expect(kids[0]).to.equal(testSigningKey().kid);
      // Each key that signed after a rotation was in the JWKS (as next) before that rotation.
      expect(published[0]).to.include(kids[1]);
      expect(published[1]).to.include(kids[2]);
      expect(published[0]).to.not.include(kids[2]);
      // Retired keys stay published: after two rotations all three signers, plus the new next.
      expect(published[2]).to.include.members(kids);
      expect(published[2]).to.have.length(4);
    });
  });
}

rotationUnderLoad('memory', async () => new MemoryStore());
rotationUnderLoad('redis', (ctx) => connectTestRedis(ctx));

describe('signing key stages', function () {
  this.timeout(30_000);
  let store: MemoryStore;
  let system: RunningSystem;
  /** What the gateway read from its store: key and value of every read. */
  let gatewayReads: { method: string; key: string; value: string | null }[];

  /** The shared store, as the gateway sees it: every read recorded. */
  function recordingStore(inner: TokenStore): TokenStore {
    return new Proxy(inner, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        return async (...args: unknown[]) => {
          const value = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (typeof args[0] === 'string') gatewayReads.push({ method: String(prop), key: args[0], value: typeof value === 'string' ? value : null });
          return value;
        };
      },
    });
  }

  beforeEach(async function () {
    store = new MemoryStore();
    gatewayReads = [];
    system = await startTestSystem({ store, system: { ...FAST_KEYS, gatewayStore: recordingStore(store) } });
  });
  afterEach(async function () {
    await system?.close(0);
    await store?.close();
  });

  const product = (vt: string) => http.get(`${system.urls.gateway}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } });

  it('next is in the JWKS before it signs anything; a rotation makes it current and publishes a new next', async function () {
    const before = await readKeySet(store);
    expect(before!.keys.map((k) => k.stage)).to.deep.equal(['current', 'next']);
    const next = before!.keys.find((k) => k.stage === 'next')!.jwk.kid;
    expect(sigKids(await gatewayJwks(system))).to.deep.equal([testSigningKey().kid, next]);
    for (let i = 0; i < 3; i++) expect(kidOf((await fullFlow(system.urls.gateway)).reply.vt)).to.equal(testSigningKey().kid);

    await rotate(store);
    await caughtUp(system, 2);
    const after = (await readKeySet(store))!;
    expect(after.keys.map((k) => [k.stage, k.jwk.kid]).slice(0, 1)).to.deep.equal([['current', next]]);
    const retired = after.keys.find((k) => k.stage === 'retired')!;
    expect(retired.jwk.kid).to.equal(testSigningKey().kid);
    expect(retired.notAfter! - after.updatedAt).to.equal(VT_TTL + 60);
    const newNext = after.keys.find((k) => k.stage === 'next')!.jwk.kid;
    expect(sigKids(await gatewayJwks(system))).to.deep.equal([next, newNext, testSigningKey().kid]);
    const { reply, product: res } = await fullFlow(system.urls.gateway);
    expect(res.status).to.equal(200);
    expect(kidOf(reply.vt)).to.equal(next);
  });

  it('a VT signed by the retired key works until the key passes notAfter, then it is vt_invalid', async function () {
    const { reply } = await fullFlow(system.urls.gateway);
    expect(kidOf(reply.vt)).to.equal(testSigningKey().kid);
    await rotate(store);
    await caughtUp(system, 2);
    expect((await product(reply.vt)).status).to.equal(200);

    // Time passes: the retired key's notAfter is now behind us (written as a rotation would write it).
    const raw = (await store.get(SIGNING_KEYS_PUBLIC))!;
    const set = JSON.parse(raw) as SigningKeySet;
    const sealed = JSON.parse((await store.get(SIGNING_KEYS_PRIVATE))!) as SealedPrivateKeys;
    for (const k of set.keys) if (k.stage === 'retired') k.notAfter = Math.floor(Date.now() / 1000) - 1;
    set.version += 1;
    sealed.version = set.version;
    expect(await store.setIfUnchanged(SIGNING_KEYS_PUBLIC, raw, { [SIGNING_KEYS_PUBLIC]: JSON.stringify(set), [SIGNING_KEYS_PRIVATE]: JSON.stringify(sealed) })).to.equal(true);
    await caughtUp(system, 3);

    const res = await product(reply.vt);
    expect(res.status).to.equal(401);
    expect(res.data.code).to.equal('vt_invalid');
    expect(sigKids(await gatewayJwks(system))).to.not.include(testSigningKey().kid);
    // The next rotation drops it from the set altogether.
    await rotate(store);
    expect((await readKeySet(store))!.keys.map((k) => k.jwk.kid)).to.not.include(testSigningKey().kid);
    // New VTs are unaffected.
    expect((await fullFlow(system.urls.gateway)).product.status).to.equal(200);
  });

  it('the gateway reads only the public set: no private key ever reaches it', async function () {
    await fullFlow(system.urls.gateway);
    await rotate(store);
    await caughtUp(system, 2);
    expect((await fullFlow(system.urls.gateway)).product.status).to.equal(200);

    const keyReads = gatewayReads.filter((r) => r.key.startsWith('keys:'));
    expect(keyReads.length).to.be.greaterThan(0);
    expect([...new Set(keyReads.map((r) => `${r.method} ${r.key}`))]).to.deep.equal([`get ${SIGNING_KEYS_PUBLIC}`]);
    for (const r of keyReads) {
      const set = JSON.parse(r.value!) as SigningKeySet;
      expect(Object.keys(set).sort()).to.deep.equal(['keys', 'updatedAt', 'version']);
      for (const k of set.keys) {
        expect(Object.keys(k.jwk).sort()).to.deep.equal(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      }
    }
    for (const r of gatewayReads) expect(r.value ?? '').to.not.match(/"d"\s*:/);
    expect(() => system.signingKeys.gateway!.current()).to.throw(/no current signing key/);

    // In the store the private halves are sealed under the KEK: the scalar is nowhere in clear.
    const d = (system.signingKeys.auth!.current().privateKey.export({ format: 'jwk' }) as { d: string }).d;
    const privateEntry = (await store.get(SIGNING_KEYS_PRIVATE))!;
    expect(privateEntry).to.not.include(d);
    const sealed = JSON.parse(privateEntry) as SealedPrivateKeys;
    expect(sealed.keys).to.have.length(2);
    for (const k of sealed.keys) expect(JSON.parse(Buffer.from(k.jwe.split('.')[0]!, 'base64url').toString())).to.deep.equal({ alg: 'dir', enc: 'A256GCM', kid: k.kid, cty: 'jwk+json' });
  });

  it('jose verifies VTs signed before and after a rotation against the JWKS, and refuses a tampered one', async function () {
    const first = (await fullFlow(system.urls.gateway)).reply.vt;
    await rotate(store);
    await caughtUp(system, 2);
    const second = (await fullFlow(system.urls.gateway)).reply.vt;
    expect(kidOf(first)).to.not.equal(kidOf(second));
    const keys = jose.createLocalJWKSet(await gatewayJwks(system));
    const opts = { typ: 'vt+jwt', algorithms: ['ES256'], issuer: system.urls.gateway, audience: 'city-pass' };
    for (const vt of [first, second]) expect((await jose.jwtVerify(vt, keys, opts)).protectedHeader.kid).to.equal(kidOf(vt));
    const [h, , s] = first.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'mallory' })).toString('base64url')}.${s}`;
    let refused = false;
    await jose.jwtVerify(forged, keys, opts).catch(() => (refused = true));
    expect(refused).to.equal(true);
  });

  it('the rotate command refuses a next younger than the minimum age unless forced, and lists the stages', async function () {
    const deps = { store, kek: testKek, vtTtlSeconds: VT_TTL };
    let refused: unknown;
    await runKeysCommand(['rotate'], deps).catch((err) => (refused = err));
    expect(refused).to.be.instanceOf(RotationRefused);
    expect((refused as RotationRefused).code).to.equal('next_too_young');
    expect((await readKeySet(store))!.version).to.equal(1);
    const aged = await runKeysCommand(['rotate', '--min-next-age=0'], deps);
    expect(aged).to.match(/^rotated\nversion 2/);
    const listed = await runKeysCommand(['list'], deps);
    expect(listed.split('\n').slice(2).map((l) => l.split(/\s+/)[0])).to.deep.equal(['current', 'next', 'retired']);
  });

  it('two rotations from the same read: one wins, the other writes nothing; a wrong KEK rotates nothing', async function () {
    const outcomes = await Promise.allSettled([
      rotateSigningKeys(store, { kek: testKek(), vtTtlSeconds: VT_TTL }),
      rotateSigningKeys(store, { kek: testKek(), vtTtlSeconds: VT_TTL }),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(1);
    const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect((lost.reason as RotationRefused).code).to.equal('conflict');
    expect((await readKeySet(store))!.version).to.equal(2);

    let error: unknown;
    await rotateSigningKeys(store, { kek: Buffer.alloc(32, 1), vtTtlSeconds: VT_TTL }).catch((err) => (error = err));
    expect(error).to.be.instanceOf(Error);
    expect((await readKeySet(store))!.version).to.equal(2);
  });

  it('an auth starting on a store that holds a set keeps that set', async function () {
    const before = await store.get(SIGNING_KEYS_PUBLIC);
    expect(await ensureSigningKeySet(store, { kek: testKek() })).to.equal(false);
    expect(await store.get(SIGNING_KEYS_PUBLIC)).to.equal(before);
  });
});
