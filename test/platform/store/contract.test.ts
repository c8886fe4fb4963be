import { expect } from 'chai';
import { createStore, MemoryStore, TOMBSTONE_PREFIX, type ConsumeStep, type TokenStore } from '../../../platform/store/index.ts';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { connectTestRedis } from '../../support/env.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `done` (a message delivered), bounded: a message that never comes fails the test. */
async function until(done: () => boolean, ms = 3000): Promise<void> {
  const started = Date.now();
  while (!done()) {
    if (Date.now() - started > ms) throw new Error('not delivered in time');
    await sleep(5);
  }
}

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
      JSON.stringify({ typ: 'at', appId: 'demo-app', userId: 'al"ice/\\é', productId: 'city-pass', exp, ...extra });
    /** The step the VT exchange asks for (flows/visit-token/service.ts), on keys of the test's own. */
    const visitStep = (jti: string, ttlSeconds = 600, extra: Partial<ConsumeStep> = {}): ConsumeStep => ({
      tombstone: `${TOMBSTONE_PREFIX}${jti}`,
      ttlSeconds,
      now,
      require: { typ: 'at' },
      companions: [{ key: `vt:${jti}`, ttlSeconds, value: `{"typ":"vt","iat":${now},"exp":${now + ttlSeconds}}`, pick: ['appId', 'userId', 'productId', 'absent'] }],
      ...extra,
    });

    it('consume: a live value is consumed, its companions written, in one step; then it is used', async function () {
      const rec = atRecord(now + 300, { profile: { tier: 'gold' } });
      await store.setIfAbsent('at:r1', rec, 300);
      const step = visitStep('j1');
      expect(await store.consume('at:r1', { ...step, companions: [...step.companions!, { key: 'copy:r1', ttlSeconds: 300, copy: true }, { key: 'plain:r1', ttlSeconds: 300, value: 'as is' }] }))
        .to.deep.equal({ outcome: 'consumed', value: rec });
      expect(await store.get('at:r1')).to.equal(`${TOMBSTONE_PREFIX}j1`);
      // Picked members are added to the caller's value; a member the record lacks stays absent.
      expect(JSON.parse((await store.get('vt:j1'))!)).to.deep.equal({ typ: 'vt', appId: 'demo-app', userId: 'al"ice/\\é', productId: 'city-pass', iat: now, exp: now + 600 });
      expect(await store.get('copy:r1')).to.equal(rec);
      expect(await store.get('plain:r1')).to.equal('as is');
      expect(await store.consume('at:r1', visitStep('j2'))).to.deep.equal({ outcome: 'used', tombstone: `${TOMBSTONE_PREFIX}j1` });
      expect(await store.get('vt:j2')).to.equal(null);
    });

    it('consume: a value that is no JSON object, or has no exp, is live; a bare step writes only the tombstone', async function () {
      await store.setIfAbsent('plain', 'opaque value', 300);
      expect(await store.consume('plain', { tombstone: `${TOMBSTONE_PREFIX}p`, ttlSeconds: 60, now })).to.deep.equal({ outcome: 'consumed', value: 'opaque value' });
      await store.setIfAbsent('noexp', '{"a":1}', 300);
      expect(await store.consume('noexp', { tombstone: `${TOMBSTONE_PREFIX}n`, ttlSeconds: 60, now })).to.deep.equal({ outcome: 'consumed', value: '{"a":1}' });
      expect([await store.get('plain'), await store.get('noexp')]).to.deep.equal([`${TOMBSTONE_PREFIX}p`, `${TOMBSTONE_PREFIX}n`]);
      // A picking companion into "{}" gets the members alone.
      await store.setIfAbsent('pick-empty', '{"a":"x","b":2}', 300);
      expect((await store.consume('pick-empty', { tombstone: `${TOMBSTONE_PREFIX}e`, ttlSeconds: 60, now, companions: [{ key: 'pick-empty:c', ttlSeconds: 60, value: '{}', pick: ['a', 'b'] }] })).outcome).to.equal('consumed');
      expect(JSON.parse((await store.get('pick-empty:c'))!)).to.deep.equal({ a: 'x', b: 2 });
    });

    it('consume: absent, expired, not what `require` names, or a companion key already taken: nothing is written', async function () {
      expect(await store.consume('at:none', visitStep('n1'))).to.deep.equal({ outcome: 'absent' });
      await store.setIfAbsent('at:old', atRecord(now), 300);
      expect(await store.consume('at:old', visitStep('n2'))).to.deep.equal({ outcome: 'refused' });
      expect(await store.get('at:old')).to.equal(atRecord(now));
      await store.setIfAbsent('at:badexp', JSON.stringify({ typ: 'at', exp: 'never' }), 300);
      expect(await store.consume('at:badexp', visitStep('n5'))).to.deep.equal({ outcome: 'refused' });
      await store.setIfAbsent('at:odd', JSON.stringify({ typ: 'vt', exp: now + 300 }), 300);
      expect(await store.consume('at:odd', visitStep('n3'))).to.deep.equal({ outcome: 'refused' });
      await store.setIfAbsent('at:junk', 'not json', 300);
      expect(await store.consume('at:junk', visitStep('n4'))).to.deep.equal({ outcome: 'refused' });
      // Not JSON, and a companion picks from it: refused even without `require`.
      expect(await store.consume('at:junk', { ...visitStep('n6'), require: undefined })).to.deep.equal({ outcome: 'refused' });
      expect(await store.get('at:junk')).to.equal('not json');
      // A JSON array is no object: a companion cannot pick from it.
      await store.setIfAbsent('arr', '[{"appId":"x"}]', 300);
      expect(await store.consume('arr', { ...visitStep('n7'), require: undefined })).to.deep.equal({ outcome: 'refused' });
      expect(await store.consume('arr', { ...visitStep('n7'), require: undefined, companions: [] })).to.deep.equal({ outcome: 'consumed', value: '[{"appId":"x"}]' });
      await store.setIfAbsent('at:live', atRecord(), 300);
      await store.setIfAbsent('vt:taken', 'someone', 300);
      await store.setIfAbsent('taken-too', 'someone else', 300);
      expect(await store.consume('at:live', visitStep('taken'))).to.deep.equal({ outcome: 'collision' });
      // The first companion free, the second taken: the first is not written either.
      const second = { ...visitStep('free'), companions: [...visitStep('free').companions!, { key: 'taken-too', ttlSeconds: 60, copy: true as const }] };
      expect(await store.consume('at:live', second)).to.deep.equal({ outcome: 'collision' });
      expect(await store.get('at:live')).to.equal(atRecord());
      expect(await store.get('vt:taken')).to.equal('someone');
      expect(await store.get('taken-too')).to.equal('someone else');
      for (const k of ['vt:n1', 'vt:n2', 'vt:n3', 'vt:n4', 'vt:n5', 'vt:n6', 'vt:free']) expect(await store.get(k), k).to.equal(null);
      expect(await store.consume('at:live', { ...visitStep('x'), tombstone: 'no-prefix' }).then(() => 'written', (e: unknown) => e)).to.be.instanceOf(TypeError);
      expect(await store.consume('at:live', visitStep('x', 0)).then(() => 'written', (e: unknown) => e)).to.be.instanceOf(TypeError);
      expect(await store.get('at:live')).to.equal(atRecord());
    });

    it('the tombstone and each companion take their own TTL, not the consumed value\'s', async function () {
      this.timeout(5000);
      await store.setIfAbsent('at:ttl', atRecord(), 1);
      const step = visitStep('ttl', 3);
      expect((await store.consume('at:ttl', { ...step, companions: [...step.companions!, { key: 'ttl:short', ttlSeconds: 1, copy: true }] })).outcome).to.equal('consumed');
      await sleep(1200);
      expect(await store.get('at:ttl')).to.equal(`${TOMBSTONE_PREFIX}ttl`);
      expect(await store.get('vt:ttl')).to.not.equal(null);
      expect(await store.get('ttl:short')).to.equal(null);
    });

    it('of 100 concurrent consumes of one value exactly one is consumed, and exactly one companion exists', async function () {
      for (let round = 0; round < 3; round++) {
        const key = `at:race${round}`;
        await store.setIfAbsent(key, atRecord(), 300);
        const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store.consume(key, visitStep(`race${round}-${i}`))));
        const winners = results.flatMap((r, i) => (r.outcome === 'consumed' ? [i] : []));
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

    it('publish reaches every subscriber of the channel, and only while subscribed', async function () {
      const a: string[] = [];
      const b: string[] = [];
      const other: string[] = [];
      const stopA = await store.subscribe('ch:1', (m) => a.push(m));
      const stopB = await store.subscribe('ch:1', (m) => b.push(m));
      const stopOther = await store.subscribe('ch:2', (m) => other.push(m));
      expect(await store.publish('ch:1', 'hello "1"')).to.be.at.least(1);
      await until(() => a.length === 1 && b.length === 1);
      await stopA();
      await store.publish('ch:1', 'second');
      await until(() => b.length === 2);
      expect(a).to.deep.equal(['hello "1"']);
      expect(b).to.deep.equal(['hello "1"', 'second']);
      expect(other).to.deep.equal([]);
      await stopB();
      await stopOther();
      expect(await store.publish('ch:1', 'nobody')).to.equal(0);
    });

    it('ping answers', async function () {
      await store.ping();
    });
  });
}

storeContract('memory', async () => new MemoryStore());
storeContract('redis', (ctx) => connectTestRedis(ctx));

describe('store contract: redis across connections', function () {
  // Two stores on one Redis and one prefix, each with its own connections: what two processes see.
  let one: TokenStore;
  let two: TokenStore;
  before(async function () {
    const prefix = `test:${randomBytes(6).toString('hex')}:`;
    one = await connectTestRedis(this, prefix);
    two = await connectTestRedis(this, prefix);
  });
  after(async function () {
    await one?.close();
    await two?.close();
  });

  it('a message published on one connection reaches a subscriber on another, and a subscriber still answers commands', async function () {
    const got: string[] = [];
    const stop = await two.subscribe('binding:abc', (m) => got.push(m));
    // The subscribing store still answers ordinary commands (its subscriber has a connection of its own).
    expect(await two.setIfAbsent('k', 'v', 10)).to.equal(true);
    expect(await one.publish('binding:abc', '{"state":"bound"}')).to.equal(1);
    await until(() => got.length === 1);
    expect(got).to.deep.equal(['{"state":"bound"}']);
    await stop();
    expect(await one.publish('binding:abc', 'late')).to.equal(0);
  });

  it('of 100 concurrent consumes from two connections exactly one is consumed', async function () {
    const now = Math.floor(Date.now() / 1000);
    await one.setIfAbsent('x:race', JSON.stringify({ exp: now + 60 }), 60);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
      (i % 2 ? one : two).consume('x:race', { tombstone: `${TOMBSTONE_PREFIX}${i}`, ttlSeconds: 60, now, companions: [{ key: `x:c${i}`, ttlSeconds: 60, value: String(i) }] })));
    expect(results.filter((r) => r.outcome === 'consumed')).to.have.length(1);
    expect(results.filter((r) => r.outcome === 'used')).to.have.length(99);
    const companions = await Promise.all(Array.from({ length: 100 }, (_, i) => one.get(`x:c${i}`)));
    expect(companions.filter((c) => c !== null)).to.have.length(1);
  });
});

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
