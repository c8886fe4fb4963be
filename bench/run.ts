/**
 * `npm run bench`: starts the broker (one process and BENCH_WORKERS processes) and the references
 * (node-oidc-provider, bare Koa, a bare Koa + undici proxy to the same product backend) on a real
 * Redis, then runs every scenario BENCH_ROUNDS times (3), interleaved: round 1 of every scenario,
 * then round 2 of every scenario, …, so that a change in the machine's load hits all of them alike.
 * Then one CPU profile per one-process scenario, the time to render in Chromium, and the report:
 * bench/results/latest.{json,md,png} and bench/results/profiles/. Bounded: every load run has a
 * fixed duration, and the whole command stops by itself (about 6 minutes with the defaults).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { signRequest } from '../platform/http/signature.ts';
import { loadOrCreateEncryptionKeys, loadOrCreateKeysKek, loadOrCreateSigningKey, type EncryptionKey } from '../flows/keys/keys.ts';
import { loadRegistry } from '../flows/apps/registry.ts';
import { RedisStore } from '../platform/store/index.ts';
import { measureBrowser, type BrowserResult } from './browser.ts';
import { measureCrypto, medianCrypto, type CryptoLimits } from './crypto.ts';
import { measureChallenge } from './challenge.ts';
import { makeAccessTokens, makeVisitTokens, rearmAccessTokens, sealEnvelopes } from './fixtures.ts';
import { load, type LoadOptions, type LoadResult } from './load.ts';
import { topFunctions } from './profile.ts';
import { writeReport, type ScenarioResult } from './report.ts';
import { freePort } from '../scripts/free-port.ts';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const SECONDS = Number(process.env.BENCH_SECONDS || '5');
const ROUNDS = Number(process.env.BENCH_ROUNDS || '3');
/** Seconds of load under the profiler, per scenario (not counted in the figures). */
const PROFILE_SECONDS = 3;
const PROFILE_DIR = 'bench/results/profiles';
const WARMUP = 1;
const WORKERS = Number(process.env.BENCH_WORKERS || os.cpus().length);
const BROWSER_RUNS = Number(process.env.BENCH_BROWSER_RUNS || '20');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const INTERNAL_TOKEN = 'bench-internal-token-0123456789abcdefghij';
const USER = { appId: 'demo-app', userId: 'alice', productId: 'city-pass' };
/**
 * `BENCH_ONLY=product-1,ref-koa-proxy`: only these scenarios (by id), for a quick A/B while working
 * on one path. Only the servers they need are started; no profiles, no Chromium, and no report
 * written (bench/results stays as it is): the medians are printed.
 */
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((x) => x.trim()).filter(Boolean)) : undefined;
const wanted = (id: string) => !ONLY || ONLY.has(id);

const say = (s: string) => process.stdout.write(`bench: ${s}\n`);


async function waitFor(url: string, ms = 60_000, child?: ChildProcess, up: (status: number) => boolean = (st) => st >= 200 && st < 300): Promise<void> {
  const end = Date.now() + ms;
  let last = 'no answer';
  while (Date.now() < end) {
    if (child && child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} before ${url} answered`);
    try {
      // Bounded: a connection that is accepted but never answered must not stall the bench.
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (up(res.status)) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      last = `${(err as Error).message}${cause?.code ? ` (${cause.code})` : ''}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up in ${ms / 1000} s (last: ${last})`);
}

/** Node flags of the broker's processes, as `npm start` passes them (package.json; decision 88). */
const BROKER_NODE_FLAGS = ['--max-semi-space-size=64'];

function start(script: string, env: Record<string, string>, cwd?: string, nodeFlags: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', script], {
    env: { ...process.env, ...env },
    cwd,
    // Logs at info as in production, written to /dev/null: their cost is part of the figure. The
    // IPC channel carries the profiler's start and stop (bench/server.ts).
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return child;
}

/** Sends a message to a server and waits for the answer that has `key`. */
function ask(child: ChildProcess, msg: object, key: string, ms = 30_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`no ${key} from the server in ${ms / 1000} s`));
    }, ms);
    const on = (m: Record<string, unknown>) => {
      if (m.profileError) {
        clearTimeout(t);
        child.off('message', on);
        reject(new Error(String(m.profileError)));
      } else if (key in m) {
        clearTimeout(t);
        child.off('message', on);
        resolve(m);
      }
    };
    child.on('message', on);
    child.send(msg);
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}


interface ExchangeFixtures {
  kind: EncryptionKey['kind'];
  ats: string[];
  envelopes: string[];
  /** Envelopes used since the last rearm. */
  used: number;
}

/**
 * Single-use fixtures for the exchange runs, one set per key kind: enough for the warm-up and one
 * run at the lesser of the crypto limit and 7,000/s per process (what the HTTP hops allow), with a
 * margin. Before each run the ATs used since the last one are made live again (rearm).
 */
async function exchangeFixtures(store: RedisStore, keys: EncryptionKey[], limits: CryptoLimits): Promise<ExchangeFixtures[]> {
  const out: ExchangeFixtures[] = [];
  for (const key of keys) {
    if (ONLY && ![1, WORKERS].some((n) => ONLY.has(`exchange-${key.kind}-${n}`))) continue;
    const limit = key.kind === 'RSA' ? limits.rsa2048OaepDecrypt : key.kind === 'X25519' ? limits.x25519Derive : limits.ecdhP256Derive;
    const count = Math.ceil(Math.min(limit, 7000) * Math.min(WORKERS, os.cpus().length) * (SECONDS + WARMUP) * 1.2);
    say(`sealing ${count} ${key.publicJwk.alg} (${key.kind}) envelopes`);
    const ats = await makeAccessTokens(store, count, USER);
    out.push({ kind: key.kind, ats, envelopes: sealEnvelopes(ats, key), used: 0 });
  }
  return out;
}

interface Scenario {
  id: string;
  label: string;
  processes: number;
  kind: 'broker' | 'reference';
  opts: () => LoadOptions;
  before?: () => Promise<void>;
  /** The broker process to profile (one process only). */
  profileWith?: ChildProcess;
  /** The processes that serve it (for the CPU time per request of a partial run, BENCH_ONLY). */
  serving?: ChildProcess[];
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; 0 elsewhere). */
function cpuMs(children: ChildProcess[]): number {
  let ticks = 0;
  for (const c of children) {
    try {
      const fields = readFileSync(`/proc/${c.pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return 0;
    }
  }
  return ticks * 10;
}

const EXCHANGE_LABEL: Record<EncryptionKey['kind'], string> = {
  RSA: 'VT exchange, RSA-OAEP-256 envelope',
  'P-256': 'VT exchange, ECDH-ES+A256KW P-256 envelope',
  X25519: 'VT exchange, ECDH-ES+A256KW X25519 envelope',
};

interface Broker {
  child: ChildProcess;
  /** The sample product backend, a process of its own (one process, whatever the broker's count). */
  backend: ChildProcess;
  gateway: string;
  products: string;
}

async function startBroker(children: ChildProcess[], workers: number, prefix: string, keysFile: string, cwd?: string, nodeFlags = BROKER_NODE_FLAGS): Promise<Broker> {
  const ports = { gateway: await freePort(), auth: await freePort(), products: await freePort() };
  const env = {
    NODE_ENV: 'production', LOG_LEVEL: 'info', REDIS_URL, REDIS_PREFIX: prefix, INTERNAL_TOKEN, AUTH_KEYS_FILE: keysFile,
    GATEWAY_PORT: String(ports.gateway), AUTH_PORT: String(ports.auth), PRODUCTS_PORT: String(ports.products),
  };
  // The product backend is a product team's service, not the broker: a process of its own, which
  // the proxy reference forwards to as well (the same backend on both sides of the comparison).
  const backend = start('bench/server.ts', { ...env, WORKERS: '1', BENCH_COMPONENTS: 'products' }, cwd, nodeFlags);
  children.push(backend);
  const child = start('bench/server.ts', { ...env, WORKERS: String(workers), BENCH_COMPONENTS: 'auth,gateway' }, cwd, nodeFlags);
  children.push(child);
  const gateway = `http://127.0.0.1:${ports.gateway}`;
  const products = `http://127.0.0.1:${ports.products}`;
  await waitFor(`${gateway}/readyz`, 60_000, child);
  await waitFor(`${products}/healthz`, 60_000, backend);
  return { child, backend, gateway, products };
}

async function brokerScenarios(broker: Broker, workers: number, fixtures: ExchangeFixtures[], store: RedisStore, keysFile: string): Promise<Scenario[]> {
  const { gateway } = broker;
  const app = loadRegistry('config/apps.json').get('demo-app')!;
  const body = JSON.stringify({ userId: USER.userId, productId: USER.productId });
  const signed = () => ({
    headers: {
      'content-type': 'application/json',
      ...signRequest({ method: 'POST', targetUri: `${gateway}/v1/access-tokens`, headers: { 'content-type': 'application/json' }, body, keyId: app.appId, secret: app.appSecret }),
    },
    body,
  });
  const profileWith = workers === 1 ? broker.child : undefined;
  const out: Scenario[] = [{
    id: `issuance-${workers}`, label: 'AT issuance (signed -> encrypted AT)', processes: workers, kind: 'broker', profileWith, serving: [broker.child],
    opts: () => ({ url: `${gateway}/v1/access-tokens`, method: 'POST', next: signed, seconds: SECONDS }),
  }];
  for (const f of fixtures) {
    out.push({
      id: `exchange-${f.kind}-${workers}`, label: EXCHANGE_LABEL[f.kind], processes: workers, kind: 'broker', profileWith, serving: [broker.child],
      before: async () => {
        await rearmAccessTokens(store, f.ats.slice(0, Math.min(f.used, f.ats.length)), USER);
        f.used = 0;
      },
      opts: () => ({
        url: `${gateway}/v1/visit-tokens`, method: 'POST', headers: { 'content-type': 'application/json' }, seconds: SECONDS,
        next: () => {
          if (f.used >= f.envelopes.length) say(`  ${f.kind} fixtures ran out: the errors column shows it`);
          return { body: JSON.stringify({ envelope: f.envelopes[f.used++ % f.envelopes.length] }) };
        },
      }),
    });
  }
  const vts = await makeVisitTokens(store, 1000, USER, { key: loadOrCreateSigningKey(keysFile), issuer: gateway });
  let j = 0;
  out.push({
    id: `product-${workers}`, label: 'Product API with a VT, via the gateway', processes: workers, kind: 'broker', profileWith, serving: [broker.child, broker.backend],
    opts: () => ({ url: `${gateway}/v1/products/${USER.productId}`, seconds: SECONDS, next: () => ({ headers: { authorization: `Bearer ${vts[j++ % vts.length]}` } }) }),
  });
  return out;
}

async function startPeer(
  children: ChildProcess[], script: string, env: Record<string, string>, ready: (port: number) => string, up?: (status: number) => boolean,
): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = start(script, { PORT: String(port), NODE_ENV: 'development', ...env });
  children.push(child);
  await waitFor(ready(port), 60_000, child, up);
  return { child, port };
}

/** One warm-up and one measured run of a scenario. */
async function runOnce(s: Scenario, measured?: () => void): Promise<LoadResult> {
  await s.before?.();
  const opts = s.opts();
  await load({ ...opts, seconds: WARMUP });
  measured?.();
  return load(opts);
}

async function main(): Promise<void> {
  const started = Date.now();
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version, platform: `${os.platform()} ${os.release()}`, hostname: os.hostname(), loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  say(`machine: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, load average ${machine.loadAverage.join(' ')}`);
  say('raw crypto limits of one core (first of the rounds)');
  const cryptoRounds: CryptoLimits[] = [measureCrypto(800)];
  say('the proof-of-work gate per request');
  const challenge = ONLY ? undefined : await measureChallenge();

  const prefix = `bench:${Date.now().toString(36)}:`;
  const dir = mkdtempSync(join(os.tmpdir(), 'broker-bench-'));
  const keysFile = join(dir, 'keys.json');
  const keys = loadOrCreateEncryptionKeys(keysFile);
  // The whole key file is written before any broker process starts on it (the file is locked
  // while keys are added, so cluster workers would agree anyway; this keeps their start quick).
  loadOrCreateSigningKey(keysFile);
  loadOrCreateKeysKek(keysFile);
  const store = await RedisStore.connect({ url: REDIS_URL, prefix });
  const children: ChildProcess[] = [];

  try {
    const fixtures = await exchangeFixtures(store, keys, cryptoRounds[0]!);
    say('starting the broker (1 process' + (WORKERS > 1 ? ` and ${WORKERS} processes` : '') + ') and the references');
    const one = await startBroker(children, 1, prefix, keysFile);
    const many = WORKERS > 1 && (!ONLY || [...ONLY].some((id) => id.endsWith(`-${WORKERS}`))) ? await startBroker(children, WORKERS, prefix, keysFile) : undefined;

    const basic = 'Basic ' + Buffer.from('bench-client:bench-secret-0123456789abcdefghijklmnopqrstuvwxyz').toString('base64');
    const none = { port: 0, child: undefined };
    const oidc = wanted('ref-oidc') ? await startPeer(children, 'bench/peers/oidc.ts', {}, (port) => `http://127.0.0.1:${port}/.well-known/openid-configuration`) : none;
    const koa = wanted('ref-koa') ? await startPeer(children, 'bench/peers/bare-koa.ts', {}, (port) => `http://127.0.0.1:${port}/v1/products/${USER.productId}`) : none;
    // Up when the backend's own answer comes back through it (a 401 for no VT).
    const proxy = wanted('ref-koa-proxy') ? await startPeer(children, 'bench/peers/koa-proxy.ts', { BENCH_BACKEND_URL: one.products, INTERNAL_TOKEN },
      (port) => `http://127.0.0.1:${port}/v1/products/${USER.productId}`, (status) => status === 401) : none;
    const proxyVts = await makeVisitTokens(store, 1000, USER, { key: loadOrCreateSigningKey(keysFile), issuer: one.gateway });
    let k = 0;

    // BENCH_AB_DIR=<another checkout>: its one-process broker too, its scenarios named `A:<id>`
    // and run next to this checkout's in every round, A first in odd rounds and B first in even
    // ones (an interleaved A/B of two versions).
    const other = process.env.BENCH_AB_DIR && ONLY
      ? await startBroker(children, 1, prefix, keysFile, process.env.BENCH_AB_DIR, process.env.BENCH_AB_NODE_FLAGS !== undefined ? process.env.BENCH_AB_NODE_FLAGS.split(' ').filter(Boolean) : BROKER_NODE_FLAGS)
      : undefined;
    const before = other ? (await brokerScenarios(other, 1, fixtures, store, keysFile)).map((s) => ({ ...s, id: `A:${s.id}`, label: `A: ${s.label}` })) : [];
    const scenarios: Scenario[] = ([
      ...before.filter((s) => ONLY!.has(s.id.slice(2))),
      ...(await brokerScenarios(one, 1, fixtures, store, keysFile)),
      ...(many ? await brokerScenarios(many, WORKERS, fixtures, store, keysFile) : []),
      {
        id: 'ref-oidc', label: 'ref: node-oidc-provider client_credentials', processes: 1, kind: 'reference', serving: [oidc.child!],
        opts: () => ({
          url: `http://127.0.0.1:${oidc.port}/token`, method: 'POST', seconds: SECONDS,
          headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
        }),
      },
      { id: 'ref-koa', label: 'ref: bare Koa + router, same JSON', processes: 1, kind: 'reference', serving: [koa.child!], opts: () => ({ url: `http://127.0.0.1:${koa.port}/v1/products/${USER.productId}`, seconds: SECONDS }) },
      {
        id: 'ref-koa-proxy', label: 'ref: bare Koa + undici proxy hop to the same product backend', processes: 1, kind: 'reference',
        // The proxy and the one-process broker, whose product backend answers it.
        serving: [proxy.child!, one.backend],
        opts: () => ({ url: `http://127.0.0.1:${proxy.port}/v1/products/${USER.productId}`, seconds: SECONDS, next: () => ({ headers: { authorization: `Bearer ${proxyVts[k++ % proxyVts.length]}` } }) }),
      },
    ] satisfies Scenario[]).filter((s) => s.id.startsWith('A:') || wanted(s.id));
    // A then B for each scenario, in every round.
    if (other) scenarios.sort((a, b) => a.id.replace(/^A:/, '').localeCompare(b.id.replace(/^A:/, '')));

    const runs = new Map<string, LoadResult[]>(scenarios.map((s) => [s.id, []]));
    // Partial runs only: CPU µs of the serving processes per request of the measured run (less
    // sensitive to a busy machine than req/s).
    const cpuPerRequest = new Map<string, number[]>(scenarios.map((s) => [s.id, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      if (round > 1) cryptoRounds.push(measureCrypto(800));
      // An A/B alternates which of the two runs first (ABBA), so neither gains from its place.
      for (const s of other && round % 2 === 0 ? [...scenarios].reverse() : scenarios) {
        say(`round ${round}/${ROUNDS}: ${s.label} (${s.processes} process${s.processes > 1 ? 'es' : ''})`);
        let cpuBefore = 0;
        const result = await runOnce(s, () => { if (ONLY && s.serving) cpuBefore = cpuMs(s.serving); });
        if (ONLY && s.serving) cpuPerRequest.get(s.id)!.push((cpuMs(s.serving) - cpuBefore) * 1000 / result.requests);
        runs.get(s.id)!.push(result);
      }
    }

    if (ONLY) {
      // A partial run: the medians only, nothing written; and the brokers' peak resident memory.
      for (const [name, b] of [['B', one], ['A', other]] as const) {
        if (!b) continue;
        let hwm: string | undefined;
        try {
          hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${b.child.pid}/status`, 'utf8'))?.[1];
        } catch {
          continue;
        }
        say(`broker ${other ? name + ' ' : ''}peak resident memory: ${Math.round(Number(hwm) / 1024)} MiB`);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      for (const s of scenarios) {
        const r = runs.get(s.id)!;
        say(`${s.id}: ${median(r.map((x) => x.rps))} req/s median (${r.map((x) => x.rps).join(', ')}), p99 ${median(r.map((x) => x.p99))} ms, errors+non2xx ${r.reduce((n, x) => n + x.errors + x.non2xx, 0)}, CPU ${cpuPerRequest.get(s.id)!.map((x) => Math.round(x)).join(', ')} µs/request`);
        const a = runs.get(`A:${s.id}`);
        if (a) {
          // Paired by round (A ran right before B): the median of the B/A ratios.
          const ratio = (xs: number[], ys: number[]) => median(xs.map((x, n) => x / ys[n]!)).toFixed(3);
          say(`  B/A by round: req/s ${ratio(r.map((x) => x.rps), a.map((x) => x.rps))}, CPU per request ${ratio(cpuPerRequest.get(s.id)!, cpuPerRequest.get(`A:${s.id}`)!)}`);
        }
      }
      // BENCH_PROFILE=1: a profile of each selected one-process scenario, its top functions printed.
      if (process.env.BENCH_PROFILE === '1') {
        for (const s of scenarios.filter((x) => x.profileWith)) {
          await s.before?.();
          const opts = s.opts();
          await load({ ...opts, seconds: WARMUP });
          await ask(s.profileWith!, { profile: 'start' }, 'profiling');
          await load({ ...opts, seconds: PROFILE_SECONDS });
          const path = join(os.tmpdir(), `bench-only-${s.id}.cpuprofile`);
          await ask(s.profileWith!, { profile: 'stop', path }, 'profiled');
          say(`${s.id} profile (busy ${Math.round(topFunctions(path, 1).busyShare * 100)}%):`);
          for (const f of topFunctions(path, 30).top) say(`  ${(f.selfShare * 100).toFixed(1)}% ${f.name} ${f.where}`);
        }
      }
      return;
    }
    say(`CPU profiles, ${PROFILE_SECONDS} s per one-process scenario (not counted in the figures)`);
    rmSync(PROFILE_DIR, { recursive: true, force: true });
    mkdirSync(PROFILE_DIR, { recursive: true });
    const profiles: Record<string, ReturnType<typeof topFunctions>> = {};
    for (const s of scenarios.filter((x) => x.profileWith)) {
      try {
        await s.before?.();
        const opts = s.opts();
        await load({ ...opts, seconds: WARMUP });
        await ask(s.profileWith!, { profile: 'start' }, 'profiling');
        await load({ ...opts, seconds: PROFILE_SECONDS });
        const path = join(PROFILE_DIR, `${s.id}.cpuprofile`);
        await ask(s.profileWith!, { profile: 'stop', path }, 'profiled');
        profiles[s.id] = topFunctions(path, 10);
      } catch (err) {
        say(`no profile for ${s.id}: ${(err as Error).message}`);
      }
    }

    for (const c of children.splice(0)) await stop(c);

    say(`Chromium: navigation to product rendered, median of ${BROWSER_RUNS}, the two paths interleaved; at the phone profile beside a static page, median of ${Math.max(3, Math.round(BROWSER_RUNS / 2))}`);
    const browserPorts = { gateway: await freePort(), auth: await freePort(), h5: await freePort(), products: await freePort() };
    let browser: BrowserResult | { skipped: string };
    try {
      // A store namespace of its own: the broker runs above left their signing key set (sealed
      // under their KEK) in the main one.
      const browserStore = await RedisStore.connect({ url: REDIS_URL, prefix: `${prefix}browser:` });
      try {
        // The phone profile's navigations take seconds each: half as many (at least 3).
        browser = await measureBrowser({ store: browserStore, ports: browserPorts, runs: BROWSER_RUNS, phoneRuns: Math.max(3, Math.round(BROWSER_RUNS / 2)), chromiumPath: CHROMIUM });
      } finally {
        await browserStore.close();
      }
    } catch (err) {
      browser = { skipped: (err as Error).message };
      say(`browser part failed: ${(err as Error).message}`);
    }

    const results: ScenarioResult[] = scenarios.map((s) => ({ id: s.id, label: s.label, processes: s.processes, kind: s.kind, runs: runs.get(s.id)! }));
    const report = {
      date: new Date().toISOString(), machine, seconds: SECONDS, warmupSeconds: WARMUP, rounds: ROUNDS, connections: 50,
      crypto: medianCrypto(cryptoRounds), cryptoRounds, challenge, scenarios: results, profiles, profileSeconds: PROFILE_SECONDS, browser,
      totalSeconds: Math.round((Date.now() - started) / 1000),
    };
    const files = await writeReport(report, CHROMIUM);
    say(`done in ${report.totalSeconds} s: ${files.join(', ')}`);
  } finally {
    for (const c of children) await stop(c);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    // The fixtures expire by themselves; remove them now all the same.
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (batch.length) await client.del(batch);
    await client.close();
  }
}

await main();
