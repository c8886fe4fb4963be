/**
 * The broker on a real Redis Cluster (3 masters, 3 replicas, started here): the whole flow, each
 * exchange's keys in one slot, and a migration of the AT keys' slot while flows run (MOVED, ASK and
 * TRYAGAIN followed: no 500, no AT exchanged twice).
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { RedisStore, StoreUnavailable } from '../../../platform/store/index.ts';
import { tokenHash } from '../../../platform/crypto/opaque.ts';
import { atKey } from '../../../flows/access-token/records.ts';
import { redeemedKey, vtKey } from '../../../flows/visit-token/records.ts';
import type { RunningSystem } from '../../../system/start.ts';
import { startTestSystem, DEMO_APP } from '../../support/system.ts';
import { demoClient, exchange, fetchEncJwk, fullFlow, http, openReply, sealEnvelope } from '../../support/clients.ts';
import { RedisCluster, keySlot } from '../../support/redis-cluster.ts';

const jtiOf = (vt: string) => JSON.parse(Buffer.from(vt.split('.')[1]!, 'base64url').toString()).jti as string;

describe('Redis Cluster: 3 masters and 3 replicas', function () {
  this.timeout(120_000);
  let cluster: RedisCluster;
  let store: RedisStore;
  let system: RunningSystem;

  before(async function () {
    this.timeout(90_000);
    cluster = await RedisCluster.start(this);
    store = await RedisStore.connect({ target: { mode: 'cluster', nodes: cluster.urls.slice(0, 2) }, prefix: `t${randomBytes(3).toString('hex')}:` });
    system = await startTestSystem({ store });
  });

  after(async function () {
    await system?.close(0);
    await store?.close();
    await cluster?.stop();
  });

  it('the whole flow: AT, exchange, product call, the page\'s retry, a replay revoking the VT; the exchange\'s keys share one slot', async function () {
    const { token, reply, product } = await fullFlow(system.urls.gateway);
    expect(product.status).to.equal(200);
    const atHash = tokenHash(token.at);
    const jti = jtiOf(reply.vt);
    expect(keySlot(`h5b:${vtKey(jti)}`)).to.equal(keySlot(`h5b:${atKey(atHash)}`));
    expect(keySlot(`h5b:${redeemedKey(atHash)}`)).to.equal(keySlot(`h5b:${atKey(atHash)}`));
    expect(jti).to.match(/^[A-Za-z0-9_-]{22}$/).and.satisfy((j: string) => j.startsWith(atHash.slice(0, 3)));

    // The page's retry with the same R gets the same VT; another R is a replay and revokes it.
    const jwk = await fetchEncJwk(system.urls.gateway);
    const second = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'bob', productId: 'city-pass' });
    const sealed = sealEnvelope(jwk, second.at);
    const first = await exchange(system.urls.gateway, sealed.envelope);
    expect(first.status).to.equal(200);
    const again = await exchange(system.urls.gateway, sealed.envelope);
    expect(again.status).to.equal(200);
    expect(jtiOf(openReply(again.data.envelope, sealed.r).vt)).to.equal(jtiOf(openReply(first.data.envelope, sealed.r).vt));
    const replay = await exchange(system.urls.gateway, sealEnvelope(jwk, second.at).envelope);
    expect(replay.status).to.equal(401);
    const vt = openReply(first.data.envelope, sealed.r).vt;
    expect((await http.get(`${system.urls.gateway}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } })).status).to.equal(401);
  });

  it('publish/subscribe reaches another store connected through other nodes; the eviction check reads every master', async function () {
    const other = await RedisStore.connect({ target: { mode: 'cluster', nodes: cluster.urls.slice(3) }, prefix: 'pubsub:' });
    const listener = await RedisStore.connect({ target: { mode: 'cluster', nodes: cluster.urls.slice(0, 1) }, prefix: 'pubsub:' });
    try {
      const got: string[] = [];
      const stop = await listener.subscribe('news', (m) => got.push(m));
      // The count is the receiving node's subscribers only (the cluster bus carries the rest).
      expect(await other.publish('news', 'hello')).to.be.a('number');
      for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(got).to.deep.equal(['hello']);
      await stop();
      expect(await other.memoryPolicy()).to.deep.include({ policy: 'noeviction', source: 'config' });
      // One master with an evicting policy is enough for the check to see it.
      cluster.masterOf(0).cli('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
      expect((await other.memoryPolicy()).policy).to.equal('allkeys-lru');
      cluster.masterOf(0).cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    } finally {
      await other.close();
      await listener.close();
    }
  });

  it('REDIS_WAIT_REPLICAS=1: a write waits for the replica of its own slot\'s master (503 while that replica is stopped, other slots unaffected)', async function () {
    const waiting = await RedisStore.connect({ target: { mode: 'cluster', nodes: cluster.urls }, prefix: 'wait:', waitReplicas: 1, commandTimeoutMs: 1000 });
    try {
      const slotA = keySlot('{a}');
      const master = cluster.masterOf(slotA);
      const replica = cluster.nodes.find((n) => n.cli('ROLE').split('\n').slice(0, 3).join(' ') === `slave 127.0.0.1 ${master.port}`)!;
      expect(replica, 'the replica of the slot\'s master').to.not.equal(undefined);
      const elsewhere = ['b', 'c', 'd', 'e', 'f', 'g'].find((t) => cluster.masterOf(keySlot(`{${t}}`)) !== master)!;
      expect(await waiting.setIfAbsent('{a}1', 'v', 60)).to.equal(true);
      replica.pause();
      try {
        const err = await waiting.setIfAbsent('{a}2', 'v', 60).then(() => undefined, (e: unknown) => e);
        expect(err).to.be.instanceOf(StoreUnavailable);
        expect(await waiting.setIfAbsent(`{${elsewhere}}1`, 'v', 60)).to.equal(true);
      } finally {
        replica.resume();
      }
    } finally {
      await waiting.close();
    }
  });

  it('a migration of the AT keys\' slot during a loop of flows: no 500, every AT exchanged once, every VT live on the new node', async function () {
    // ATs whose keys all fall in one slot S (written as auth writes them), plus one issued by the API.
    const issued = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'carol', productId: 'city-pass' });
    const slot = keySlot(atKey(tokenHash(issued.at)));
    const ats = [issued.at];
    while (ats.length < 16) {
      const at = randomBytes(32).toString('base64url');
      if (keySlot(atKey(tokenHash(at))) !== slot) continue;
      const record = { typ: 'at', appId: DEMO_APP.appId, userId: `u${ats.length}`, productId: 'city-pass', exp: Math.floor(Date.now() / 1000) + 300 };
      expect(await store.setIfAbsent(atKey(tokenHash(at)), JSON.stringify(record), 300)).to.equal(true);
      ats.push(at);
    }
    const from = cluster.masterOf(slot);
    const to = cluster.otherMaster(from);
    const jwk = await fetchEncJwk(system.urls.gateway);

    const statuses: number[] = [];
    const received = new Map<string, string>();
    let migrating = true;
    const migration = cluster.migrateSlot(slot, to, { batch: 1, pauseMs: 60 }).finally(() => (migrating = false));
    // The loop: each AT of slot S exchanged (and the page's retry of a 503), each VT used at once;
    // then more flows on other slots until the migration ends.
    let duringMigration = 0;
    // The loop: each AT of slot S exchanged at once (and the page's retry of a 503), each VT used
    // at once; meanwhile more whole flows (on other slots) until the migration ends.
    const slotFlows = Promise.all(ats.map(async (at) => {
      const sealed = sealEnvelope(jwk, at);
      let ex = await exchange(system.urls.gateway, sealed.envelope);
      if (migrating) duringMigration++;
      statuses.push(ex.status);
      // A consume whose AT key has moved while its new keys cannot be written yet (TRYAGAIN until
      // the slot's move ends) is 503 with Retry-After: the page sends the same envelope again.
      for (const deadline = Date.now() + 20_000; ex.status === 503 && Date.now() < deadline;) {
        expect(ex.data.code).to.equal('store_unavailable');
        await new Promise((r) => setTimeout(r, 200));
        ex = await exchange(system.urls.gateway, sealed.envelope);
        statuses.push(ex.status);
      }
      expect(ex.status, JSON.stringify(ex.data)).to.equal(200);
      const vt = openReply(ex.data.envelope, sealed.r).vt;
      received.set(at, jtiOf(vt));
      const product = await http.get(`${system.urls.gateway}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } });
      statuses.push(product.status);
    }));
    let extra = 0;
    const otherFlows = (async () => {
      while (migrating) {
        const { product } = await fullFlow(system.urls.gateway, `loop${extra++}`);
        statuses.push(product.status);
      }
    })();
    await Promise.all([slotFlows, otherFlows]);
    const moved = await migration;
    expect(moved).to.be.at.least(ats.length);
    // The slot's exchanges began while it moved (its keys split between two nodes).
    expect(duringMigration).to.be.at.least(1);
    expect(statuses.filter((s) => s >= 500 && s !== 503), `statuses ${statuses}`).to.deep.equal([]);
    expect(cluster.masterOf(slot)).to.equal(to);

    // After the move: each AT's tombstone names the one VT its client got, and that VT is live.
    for (const at of ats) {
      const tombstone = await store.get(atKey(tokenHash(at)));
      expect(tombstone).to.match(new RegExp(`^used:${received.get(at)}\\.`));
      expect(await store.get(vtKey(received.get(at)!))).to.match(/^\{"typ":"vt"/);
      // Another R is a replay: refused, never a second VT.
      const replay = await exchange(system.urls.gateway, sealEnvelope(jwk, at).envelope);
      expect(replay.status).to.equal(401);
    }
    this.test!.title += ` [${moved} keys moved, ${duringMigration} exchanges during the move, ${statuses.filter((s) => s === 503).length} answers 503, ${extra} more flows]`;
  });
});
