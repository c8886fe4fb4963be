/**
 * The broker on a Sentinel-watched master with two replicas (REDIS_WAIT_REPLICAS=1): the master is
 * killed mid-run; what was in flight got 503 or its answer, flows after the failover succeed, no
 * AT answered 201 is lost, and no AT gives two VTs.
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { RedisStore } from '../../../platform/store/index.ts';
import { freePort } from '../../../scripts/free-port.ts';
import type { RunningSystem } from '../../../system/start.ts';
import { startTestSystem } from '../../support/system.ts';
import { demoClient, exchange, fetchEncJwk, http, openReply, sealEnvelope } from '../../support/clients.ts';
import { RedisServer } from '../../support/redis-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jtiOf = (vt: string) => JSON.parse(Buffer.from(vt.split('.')[1]!, 'base64url').toString()).jti as string;

describe('Redis Sentinel: the master killed mid-run', function () {
  this.timeout(120_000);
  let master: RedisServer;
  let replica: RedisServer;
  /** A second replica: after the failover it follows the new master, so WAIT 1 can succeed again. */
  let replica2: RedisServer;
  let sentinel: ChildProcess | undefined;
  let sentinelPort = 0;
  const dir = mkdtempSync(join(os.tmpdir(), 'h5b-sentinel-'));
  let store: RedisStore;
  let system: RunningSystem;

  before(async function () {
    this.timeout(60_000);
    master = await RedisServer.start(this);
    replica = await RedisServer.start(this, { args: ['--replicaof', '127.0.0.1', String(master.port)] });
    replica2 = await RedisServer.start(this, { args: ['--replicaof', '127.0.0.1', String(master.port)] });
    sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, [
      `port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds mymaster 400', 'sentinel failover-timeout mymaster 3000',
    ].join('\n') + '\n');
    sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    for (const deadline = Date.now() + 20_000; ;) {
      const replicas = spawnSync('redis-cli', ['-p', String(sentinelPort), 'SENTINEL', 'REPLICAS', 'mymaster'], { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
      const linked = [replica, replica2].every((r) => replicas.includes(String(r.port)) && /master_link_status:up/.test(r.cli('INFO', 'replication')));
      if (linked) break;
      if (Date.now() > deadline) throw new Error('the Sentinel did not find the replica');
      await sleep(200);
    }
    store = await RedisStore.connect({ target: { mode: 'sentinel', masterName: 'mymaster', sentinels: [{ host: '127.0.0.1', port: sentinelPort }] }, waitReplicas: 1 });
    system = await startTestSystem({ store });
  });

  after(async function () {
    await system?.close(0);
    await store?.close();
    sentinel?.kill('SIGKILL');
    await master?.stop();
    await replica?.stop();
    await replica2?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('in flight: 503 or the answer; after the failover: flows succeed; every AT answered 201 exchanges, never to two VTs', async function () {
    const gw = system.urls.gateway;
    const jwk = await fetchEncJwk(gw);
    const issued: { at: string; sealed: ReturnType<typeof sealEnvelope>; jtis: Set<string> }[] = [];
    const statuses: number[] = [];
    let killed = false;
    let after = 0;
    const flow = async (i: number) => {
      const t = await demoClient(gw).requestAccessToken({ userId: `s${i}`, productId: 'city-pass' }).catch((err: { status?: number }) => err);
      if (!('at' in t)) {
        statuses.push(t.status ?? 0);
        return false;
      }
      statuses.push(201);
      const entry = { at: t.at, sealed: sealEnvelope(jwk, t.at), jtis: new Set<string>() };
      issued.push(entry);
      const ex = await exchange(gw, entry.sealed.envelope);
      statuses.push(ex.status);
      if (ex.status !== 200) return false;
      const vt = openReply(ex.data.envelope, entry.sealed.r).vt;
      entry.jtis.add(jtiOf(vt));
      const product = await http.get(`${gw}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } });
      statuses.push(product.status);
      return product.status === 200;
    };
    const deadline = Date.now() + 60_000;
    let killing: Promise<void> | undefined;
    for (let i = 0; after < 5 && Date.now() < deadline; i++) {
      // The master dies while the sixth flow's requests are in flight.
      if (i === 5) killing = sleep(10).then(() => master.kill()).then(() => void (killed = true));
      const startedAfterKill = killed;
      const ok = await flow(i);
      if (startedAfterKill && ok) after++;
      if (!ok) await sleep(200);
    }
    await killing;
    expect(after, `statuses ${statuses}`).to.equal(5);
    expect(statuses.filter((s) => ![200, 201, 503].includes(s)), `statuses ${statuses}`).to.deep.equal([]);
    // Every AT answered 201 survived the failover: its envelope (sent again) now gives a VT, the
    // same one it gave before when it gave one.
    for (const entry of issued) {
      const ex = await exchange(gw, entry.sealed.envelope);
      expect(ex.status, JSON.stringify(ex.data)).to.equal(200);
      entry.jtis.add(jtiOf(openReply(ex.data.envelope, entry.sealed.r).vt));
      expect(entry.jtis.size).to.equal(1);
    }
    // One of the replicas is the master now; the other follows it.
    expect([replica, replica2].map((r) => r.cli('ROLE').split('\n')[0]).sort()).to.deep.equal(['master', 'slave']);
    this.test!.title += ` [${statuses.filter((s) => s === 503).length} answers 503 during the failover, ${issued.length} ATs]`;
  });
});

