/**
 * Two workers (node:cluster, WORKERS=2) each running gateway, auth and the product backend behind
 * the same ports, started the way an operator starts them: an AT issued by one is exchanged by
 * the other, a nonce replayed to the other is refused, a rate limit holds across both, and the
 * primary's `/metrics` (METRICS_PORT) sums both workers' series to what this test did.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import axios from 'axios';
import { freePort } from '../../scripts/free-port.ts';
import { loadRegistry } from '../../flows/apps/registry.ts';
import { deleteTestKeys, TEST_REDIS_URL, connectTestRedis } from '../support/env.ts';
import { fetchEncJwk, openReply, sealEnvelope, signAtRequest } from '../support/clients.ts';
import { decryptCompact } from '../../platform/crypto/jwe.ts';

/** The AT inside a 201 answer, opened with the app's encKey. */
function openAccessTokenWith(data: { accessToken: string }, encKey: string): string {
  const { plaintext } = decryptCompact(data.accessToken, { algorithms: ['A256KW'], key: () => Buffer.from(encKey, 'base64url') });
  return JSON.parse(plaintext.toString('utf8')).at;
}

const ROOT = join(import.meta.dirname, '../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A new connection per request, so node:cluster hands each to the next worker in turn. */
const fresh = axios.create({ validateStatus: () => true, proxy: false, timeout: 10_000, httpAgent: new Agent({ keepAlive: false }) });

describe('two workers behind one port (WORKERS=2), with /metrics summed over both', function () {
  this.timeout(120_000);
  let proc: ChildProcess | undefined;
  let output = '';
  const prefix = `test:wk:${randomBytes(4).toString('hex')}:`;
  const dir = mkdtempSync(join(os.tmpdir(), 'h5b-workers-'));
  let gw = '';
  let metricsUrl = '';
  const app = loadRegistry(join(ROOT, 'config/apps.json')).get('demo-app')!;
  const encKey = app.encKey!.toString('base64url');

  /** The pid of the worker that answered the request with this id (its request log line). */
  function pidOf(reqId: string): number | undefined {
    for (const line of output.split('\n')) {
      if (!line.includes(reqId)) continue;
      try {
        const l = JSON.parse(line) as { reqId?: string; pid?: number; msg?: string };
        if (l.reqId === reqId && l.msg === 'request') return l.pid;
      } catch {
        // not a log line
      }
    }
    return undefined;
  }
  const rid = (what: string) => `${what}-${randomBytes(6).toString('hex')}`;
  async function pidFor(reqId: string): Promise<number> {
    for (let i = 0; i < 50; i++) {
      const pid = pidOf(reqId);
      if (pid !== undefined) return pid;
      await sleep(20);
    }
    throw new Error(`no log line for ${reqId}`);
  }

  before(async function () {
    this.timeout(120_000);
    // The test Redis must be there (a skip outside CI, a failure under CI=true).
    await (await connectTestRedis(this)).close();
    const ports = { gateway: await freePort(), auth: await freePort(), products: await freePort(), metrics: await freePort() };
    gw = `http://127.0.0.1:${ports.gateway}`;
    metricsUrl = `http://127.0.0.1:${ports.metrics}/metrics`;
    const started = Date.now();
    proc = spawn(process.execPath, ['--import', 'tsx', 'test/support/run-components.ts', 'products,auth,gateway'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'development', LOG_LEVEL: 'info',
        WORKERS: '2', METRICS_PORT: String(ports.metrics), REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix,
        AUTH_KEYS_FILE: join(dir, 'keys.json'),
        GATEWAY_PORT: String(ports.gateway), AUTH_PORT: String(ports.auth), PRODUCTS_PORT: String(ports.products),
        RATE_LIMIT_PRODUCT: '3', RATE_LIMIT_PRODUCT_WINDOW_SECONDS: '600',
      },
    });
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    // Bounded, with room for a loaded machine (three processes compile and start here).
    const deadline = Date.now() + 100_000;
    while (!output.includes('every worker is ready')) {
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
        // What it wrote last may still be in the pipe when its exit is seen.
        await sleep(300);
        throw new Error(`the workers did not start (exit ${proc.exitCode}, signal ${proc.signalCode}, ${Math.round((Date.now() - started) / 1000)} s): ${output.slice(-1500)}`);
      }
      await sleep(100);
    }
  });

  after(async function () {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
    await deleteTestKeys(prefix);
  });

  const counts = { issued: 0, exchanged: 0, replaysRefused: 0, rateLimited: 0, productOk: 0 };
  let vt = '';

  it('an AT issued by one worker is exchanged by the other', async function () {
    const jwk = await fetchEncJwk(gw);
    const pairs: [number, number][] = [];
    for (let i = 0; i < 6 && !pairs.some(([a, b]) => a !== b); i++) {
      const signed = signAtRequest(gw, { appId: app.appId, appSecret: app.appSecret }, { userId: `alice${i}`, productId: 'city-pass' });
      const issueId = rid('at');
      const issued = await fresh.post(`${gw}/v1/access-tokens`, signed.body, { headers: { ...signed.headers, 'x-request-id': issueId }, transformRequest: [(d) => d] });
      expect(issued.status, JSON.stringify(issued.data)).to.equal(201);
      counts.issued++;
      const at = openAccessTokenWith(issued.data, encKey);
      const sealed = sealEnvelope(jwk, at);
      const exId = rid('ex');
      const ex = await fresh.post(`${gw}/v1/visit-tokens`, { envelope: sealed.envelope }, { headers: { 'x-request-id': exId } });
      expect(ex.status, JSON.stringify(ex.data)).to.equal(200);
      counts.exchanged++;
      vt = openReply(ex.data.envelope, sealed.r).vt;
      pairs.push([await pidFor(issueId), await pidFor(exId)]);
    }
    expect(new Set(pairs.flat()).size, JSON.stringify(pairs)).to.equal(2);
    expect(pairs.some(([a, b]) => a !== b), JSON.stringify(pairs)).to.equal(true);
  });

  it('a nonce replayed to the other worker is refused', async function () {
    const signed = signAtRequest(gw, { appId: app.appId, appSecret: app.appSecret }, { userId: 'dave', productId: 'city-pass' });
    const firstId = rid('n');
    const first = await fresh.post(`${gw}/v1/access-tokens`, signed.body, { headers: { ...signed.headers, 'x-request-id': firstId }, transformRequest: [(d) => d] });
    expect(first.status).to.equal(201);
    counts.issued++;
    const firstPid = await pidFor(firstId);
    const replayPids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const id = rid('replay');
      const replay = await fresh.post(`${gw}/v1/access-tokens`, signed.body, { headers: { ...signed.headers, 'x-request-id': id }, transformRequest: [(d) => d] });
      expect(replay.status).to.equal(401);
      expect(replay.data.code).to.equal('replayed_request');
      counts.replaysRefused++;
      replayPids.push(await pidFor(id));
    }
    expect(replayPids.some((p) => p !== firstPid), `${firstPid} vs ${replayPids}`).to.equal(true);
  });

  it('a rate limit holds across the workers (3 product calls per VT, whichever worker answers)', async function () {
    const pids = new Set<number>();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const id = rid('p');
      const res = await fresh.get(`${gw}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}`, 'x-request-id': id } });
      statuses.push(res.status);
      pids.add(await pidFor(id));
    }
    expect(statuses).to.deep.equal([200, 200, 200, 429, 429, 429]);
    counts.productOk += 3;
    counts.rateLimited += 3;
    expect(pids.size).to.equal(2);
  });

  it('/metrics on METRICS_PORT (not the public port) lists every series of docs/metrics.md, summed over the workers to what this test did', async function () {
    expect((await fresh.get(`${gw}/metrics`)).status).to.equal(404);
    const res = await fresh.get(metricsUrl);
    expect(res.status).to.equal(200);
    const text = res.data as string;
    const documented = [...readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8').matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!);
    expect(documented.length).to.be.greaterThan(10);
    for (const name of documented) expect(text, name).to.match(new RegExp(`^# TYPE ${name} `, 'm'));
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(series + ' '));
      return line === undefined ? 0 : Number(line.slice(series.length + 1));
    };
    expect(value('broker_access_tokens_issued_total')).to.equal(counts.issued);
    expect(value('broker_visit_tokens_exchanged_total{how="issued"}')).to.equal(counts.exchanged);
    expect(value('broker_rate_limit_refusals_total{policy="product"}')).to.equal(counts.rateLimited);
    expect(value('broker_http_problems_total{component="gateway",route="/v1/access-tokens",code="replayed_request"}')).to.equal(counts.replaysRefused);
    expect(value('broker_http_request_duration_seconds_count{component="gateway",method="POST",route="/v1/access-tokens",status="201"}')).to.equal(counts.issued);
    expect(value('broker_http_request_duration_seconds_count{component="gateway",method="POST",route="/v1/visit-tokens",status="200"}')).to.equal(counts.exchanged);
    expect(value('broker_store_command_duration_seconds_count{command="consume",outcome="ok"}')).to.equal(counts.exchanged);
    expect(text).to.match(/^nodejs_eventloop_lag_seconds /m);
  });
});
