import { expect } from 'chai';
import { createStore, MemoryStore, TOMBSTONE_PREFIX, type TokenStore } from '../common/store/index.ts';
import { pino } from 'pino';
import { connectTestRedis } from './support/env.ts';

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

    it('consume returns the live value once and leaves the tombstone', async function () {
      await store.setIfAbsent('at1', '{"live":true}', 10);
      expect(await store.consume('at1', `${TOMBSTONE_PREFIX}vt-a`, 10)).to.equal('{"live":true}');
      expect(await store.get('at1')).to.equal(`${TOMBSTONE_PREFIX}vt-a`);
      // A second consume sees the first tombstone and does not replace it.
      expect(await store.consume('at1', `${TOMBSTONE_PREFIX}vt-b`, 10)).to.equal(`${TOMBSTONE_PREFIX}vt-a`);
      expect(await store.get('at1')).to.equal(`${TOMBSTONE_PREFIX}vt-a`);
    });

    it('consume of an absent key answers null and writes nothing', async function () {
      expect(await store.consume('never', `${TOMBSTONE_PREFIX}x`, 10)).to.equal(null);
      expect(await store.get('never')).to.equal(null);
    });

    it('consume refuses a tombstone without the prefix', async function () {
      let error: unknown;
      try {
        await store.consume('x', 'not-a-tombstone', 10);
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(TypeError);
    });

    it('the tombstone takes the new TTL', async function () {
      this.timeout(5000);
      await store.setIfAbsent('at2', 'live', 1);
      await store.consume('at2', `${TOMBSTONE_PREFIX}v`, 3);
      await sleep(1200);
      expect(await store.get('at2')).to.equal(`${TOMBSTONE_PREFIX}v`);
    });

    it('of 100 concurrent consumes of one key exactly one gets the live value', async function () {
      for (let round = 0; round < 5; round++) {
        const key = `race${round}`;
        await store.setIfAbsent(key, 'live', 10);
        const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store.consume(key, `${TOMBSTONE_PREFIX}${i}`, 10)));
        expect(results.filter((r) => r === 'live')).to.have.length(1);
        const winner = results.indexOf('live');
        expect(await store.get(key)).to.equal(`${TOMBSTONE_PREFIX}${winner}`);
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
