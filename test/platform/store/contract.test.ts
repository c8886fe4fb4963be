import { expect } from 'chai';
import { createStore, MemoryStore, TOMBSTONE_PREFIX, type TokenStore } from '../../../platform/store/index.ts';
import { pino } from 'pino';
import { connectTestRedis } from '../../support/env.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One contract, every implementation: what the broker relies on a store for. */
function storeContract(name: string, open: (ctx: Mocha.Context) => Promise<TokenStore>) {
  describe(`store contract: ${name}`, function () {
    let store: TokenStore;
    before(async function () {
      store = await open(this);
    });
    after(async function () {
      await store?.close();
    });

    it('setIfAbsent stores once and refuses a second write', async function () {
      expect(await store.setIfAbsent('k1', 'first', 10)).to.equal(true);
      expect(await store.setIfAbsent('k1', 'second', 10)).to.equal(false);
      expect(await store.get('k1')).to.equal('first');
    });

    it('get answers null for an absent key', async function () {
      expect(await store.get('absent')).to.equal(null);
    });

    it('values expire after their TTL', async function () {
      this.timeout(5000);
      await store.setIfAbsent('short', 'v', 1);
      expect(await store.get('short')).to.equal('v');
      await sleep(1100);
      expect(await store.get('short')).to.equal(null);
      expect(await store.setIfAbsent('short', 'again', 1)).to.equal(true);
    });

    const now = Math.floor(Date.now() / 1000);
    const atRecord = (exp = now + 300, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ typ: 'at', appId: 'demo-app', userId: 'al"ice/\\', productId: 'city-pass', exp, ...extra });

    it('redeem: a live AT is consumed and its VT record written, in one step; then it is used', async function () {
      const rec = atRecord(now + 300, { profile: { tier: 'gold' } });
      await store.setIfAbsent('at:r1', rec, 300);
      expect(await store.redeem('at:r1', 'vt:j1', `${TOMBSTONE_PREFIX}j1`, now, 600)).to.deep.equal({ outcome: 'redeemed', record: rec });
      expect(await store.get('at:r1')).to.equal(`${TOMBSTONE_PREFIX}j1`);
      expect(JSON.parse((await store.get('vt:j1'))!)).to.deep.equal({ typ: 'vt', appId: 'demo-app', userId: 'al"ice/\\', productId: 'city-pass', iat: now, exp: now + 600 });
      expect(await store.redeem('at:r1', 'vt:j2', `${TOMBSTONE_PREFIX}j2`, now, 600)).to.deep.equal({ outcome: 'used', tombstone: `${TOMBSTONE_PREFIX}j1` });
      expect(await store.get('vt:j2')).to.equal(null);
    });

    it('redeem: absent, expired, not an AT, or a VT key already taken: nothing is written', async function () {
      expect(await store.redeem('at:none', 'vt:n1', `${TOMBSTONE_PREFIX}n1`, now, 600)).to.deep.equal({ outcome: 'absent' });
      await store.setIfAbsent('at:old', atRecord(now), 300);
      expect(await store.redeem('at:old', 'vt:n2', `${TOMBSTONE_PREFIX}n2`, now, 600)).to.deep.equal({ outcome: 'refused' });
      expect(await store.get('at:old')).to.equal(atRecord(now));
      await store.setIfAbsent('at:odd', JSON.stringify({ typ: 'vt', exp: now + 300 }), 300);
      expect(await store.redeem('at:odd', 'vt:n3', `${TOMBSTONE_PREFIX}n3`, now, 600)).to.deep.equal({ outcome: 'refused' });
      await store.setIfAbsent('at:junk', 'not json', 300);
      expect(await store.redeem('at:junk', 'vt:n4', `${TOMBSTONE_PREFIX}n4`, now, 600)).to.deep.equal({ outcome: 'refused' });
      await store.setIfAbsent('at:live', atRecord(), 300);
      await store.setIfAbsent('vt:taken', 'someone', 300);
      expect(await store.redeem('at:live', 'vt:taken', `${TOMBSTONE_PREFIX}taken`, now, 600)).to.deep.equal({ outcome: 'collision' });
      expect(await store.get('at:live')).to.equal(atRecord());
      expect(await store.get('vt:taken')).to.equal('someone');
      for (const k of ['vt:n1', 'vt:n2', 'vt:n3', 'vt:n4']) expect(await store.get(k), k).to.equal(null);
      expect(await store.redeem('at:live', 'vt:x', 'no-prefix', now, 600).then(() => 'written', (e: unknown) => e)).to.be.instanceOf(TypeError);
    });

    it('the tombstone and the VT record take the VT\'s TTL, not the AT\'s', async function () {
      this.timeout(5000);
      await store.setIfAbsent('at:ttl', atRecord(), 1);
      expect((await store.redeem('at:ttl', 'vt:ttl', `${TOMBSTONE_PREFIX}ttl`, now, 3)).outcome).to.equal('redeemed');
      await sleep(1200);
      expect(await store.get('at:ttl')).to.equal(`${TOMBSTONE_PREFIX}ttl`);
      expect(await store.get('vt:ttl')).to.not.equal(null);
    });

    it('of 100 concurrent redeems of one AT exactly one is redeemed, and exactly one VT record exists', async function () {
      for (let round = 0; round < 3; round++) {
        const key = `at:race${round}`;
        await store.setIfAbsent(key, atRecord(), 300);
        const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store.redeem(key, `vt:race${round}-${i}`, `${TOMBSTONE_PREFIX}race${round}-${i}`, now, 600)));
        const winners = results.flatMap((r, i) => (r.outcome === 'redeemed' ? [i] : []));
        expect(winners).to.have.length(1);
        expect(results.filter((r) => r.outcome === 'used')).to.have.length(99);
        expect(await store.get(key)).to.equal(`${TOMBSTONE_PREFIX}race${round}-${winners[0]}`);
        const records = await Promise.all(Array.from({ length: 100 }, (_, i) => store.get(`vt:race${round}-${i}`)));
        expect(records.filter((r) => r !== null)).to.have.length(1);
      }
    });

    it('of 100 concurrent setIfAbsent on one key exactly one wins', async function () {
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store.setIfAbsent('nonce-race', String(i), 10)));
      expect(results.filter(Boolean)).to.have.length(1);
    });

    it('delete reports whether the key existed', async function () {
      await store.setIfAbsent('d', 'v', 10);
      expect(await store.delete('d')).to.equal(true);
      expect(await store.delete('d')).to.equal(false);
      expect(await store.get('d')).to.equal(null);
    });

    it('setIfUnchanged writes every entry when the guard holds what was read, and nothing otherwise', async function () {
      expect(await store.setIfUnchanged('doc', null, { doc: 'v1', side: 's1' })).to.equal(true);
      expect(await store.setIfUnchanged('doc', null, { doc: 'again', side: 'x' })).to.equal(false);
      expect(await store.setIfUnchanged('doc', 'v0', { doc: 'v2', side: 's2' })).to.equal(false);
      expect([await store.get('doc'), await store.get('side')]).to.deep.equal(['v1', 's1']);
      expect(await store.setIfUnchanged('doc', 'v1', { doc: 'v2', side: 's2' })).to.equal(true);
      expect([await store.get('doc'), await store.get('side')]).to.deep.equal(['v2', 's2']);
    });

    it('of 50 concurrent setIfUnchanged from one read exactly one wins', async function () {
      await store.setIfUnchanged('doc-race', null, { 'doc-race': 'base' });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.setIfUnchanged('doc-race', 'base', { 'doc-race': String(i), 'doc-race:side': String(i) })));
      expect(results.filter(Boolean)).to.have.length(1);
      const winner = String(results.indexOf(true));
      expect([await store.get('doc-race'), await store.get('doc-race:side')]).to.deep.equal([winner, winner]);
    });

    it('ping answers', async function () {
      await store.ping();
    });
  });
}

storeContract('memory', async () => new MemoryStore());
storeContract('redis', (ctx) => connectTestRedis(ctx));

describe('store selection', function () {
  const log = pino({ level: 'silent' });

  it('refuses the in-memory store when NODE_ENV=production', async function () {
    let error: Error | undefined;
    try {
      await createStore({ nodeEnv: 'production' }, log);
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.match(/REDIS_URL is required/);
  });

  it('warns when the in-memory store is used outside development', async function () {
    const lines: string[] = [];
    const capture = pino({ level: 'warn' }, { write: (s: string) => lines.push(s) });
    const store = await createStore({ nodeEnv: 'staging' }, capture);
    expect(store.kind).to.equal('memory');
    expect(lines.join('')).to.match(/in-memory token store outside development/);
    await store.close();
  });

  it('uses Redis when a URL is configured', async function () {
    const probe = await connectTestRedis(this);
    await probe.close();
    const store = await createStore({ nodeEnv: 'production', redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379', redisPrefix: 'test:sel:' }, log);
    expect(store.kind).to.equal('redis');
    await store.close();
  });

  it('fails at once with store_unavailable when Redis cannot be reached', async function () {
    let error: { code?: string; status?: number } | undefined;
    try {
      await createStore({ nodeEnv: 'production', redisUrl: 'redis://127.0.0.1:1' }, log);
    } catch (err) {
      error = err as { code?: string; status?: number };
    }
    expect(error).to.include({ code: 'store_unavailable', status: 503 });
  });
});
