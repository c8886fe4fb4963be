/**
 * `npm run bench`: starts the broker on a real Redis, drives it with autocannon on 127.0.0.1, runs
 * the references in the same run, and writes bench/results/latest.{json,md,png}. Bounded: every
 * load run has a fixed duration, and the whole command stops by itself (about 3 minutes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { signRequest } from '../platform/http/signature.ts';
import { loadOrCreateEncryptionKeys, loadOrCreateKeysKek, loadOrCreateSigningKey, type EncryptionKey } from '../flows/keys/keys.ts';
import { loadRegistry } from '../flows/apps/registry.ts';
import { RedisStore } from '../platform/store/index.ts';
import { measureBrowser, type BrowserResult } from './browser.ts';
import { measureCrypto, type CryptoLimits } from './crypto.ts';
import { makeAccessTokens, makeVisitTokens, rearmAccessTokens, sealEnvelopes } from './fixtures.ts';
import { load, type LoadResult } from './load.ts';
import { writeReport, type BrokerRun } from './report.ts';
import { freePort } from '../scripts/free-port.ts';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const SECONDS = Number(process.env.BENCH_SECONDS || '6');
const WARMUP = 1;
const WORKERS = Number(process.env.BENCH_WORKERS || os.cpus().length);
const BROWSER_RUNS = Number(process.env.BENCH_BROWSER_RUNS || '20');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const INTERNAL_TOKEN = 'bench-internal-token-0123456789abcdefghij';
const USER = { appId: 'demo-app', userId: 'alice', productId: 'city-pass' };

const say = (s: string) => process.stdout.write(`bench: ${s}\n`);


async function waitFor(url: string, ms = 60_000, child?: ChildProcess): Promise<void> {
  const end = Date.now() + ms;
  let last = 'no answer';
  while (Date.now() < end) {
    if (child && child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} before ${url} answered`);
    try {
      // Bounded: a connection that is accepted but never answered must not stall the bench.
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      last = `${(err as Error).message}${cause?.code ? ` (${cause.code})` : ''}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up in ${ms / 1000} s (last: ${last})`);
}

function start(script: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    // Logs at info as in production, written to /dev/null: their cost is part of the figure.
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
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
  alg: string;
  ats: string[];
  envelopes: string[];
}

/**
 * Single-use fixtures for the exchange runs: enough for the warm-up and the run at the lesser of
 * the crypto limit and 7,000/s per process (what the HTTP hops allow), with a margin.
 */
async function exchangeFixtures(store: RedisStore, keys: EncryptionKey[], limits: CryptoLimits): Promise<ExchangeFixtures[]> {
  const out: ExchangeFixtures[] = [];
  for (const key of keys) {
    const alg = key.publicJwk.alg;
    const limit = alg === 'RSA-OAEP-256' ? limits.rsa2048OaepDecrypt : limits.ecdhP256Derive;
    const count = Math.ceil(Math.min(limit, 7000) * Math.min(WORKERS, os.cpus().length) * (SECONDS + WARMUP) * 1.2);
    say(`sealing ${count} ${alg} envelopes`);
    const ats = await makeAccessTokens(store, count, USER);
    out.push({ alg, ats, envelopes: sealEnvelopes(ats, key) });
  }
  return out;
}

async function benchBroker(workers: number, prefix: string, keysFile: string, fixtures: ExchangeFixtures[], store: RedisStore): Promise<BrokerRun> {
  const ports = { gateway: await freePort(), auth: await freePort(), products: await freePort() };
  const gateway = `http://127.0.0.1:${ports.gateway}`;
  const child = start('bench/server.ts', {
    NODE_ENV: 'production', LOG_LEVEL: 'info', REDIS_URL, REDIS_PREFIX: prefix, INTERNAL_TOKEN, AUTH_KEYS_FILE: keysFile,
    GATEWAY_PORT: String(ports.gateway), AUTH_PORT: String(ports.auth), PRODUCTS_PORT: String(ports.products), WORKERS: String(workers),
  });
  try {
    await waitFor(`${gateway}/readyz`, 60_000, child);
    const app = loadRegistry('config/apps.json').get('demo-app')!;

    say(`${workers} process(es): AT issuance`);
    const body = JSON.stringify({ userId: USER.userId, productId: USER.productId });
    const signed = () => ({
      headers: {
        'content-type': 'application/json',
        ...signRequest({ method: 'POST', targetUri: `${gateway}/v1/access-tokens`, headers: { 'content-type': 'application/json' }, body, keyId: app.appId, secret: app.appSecret }),
      },
      body,
    });
    const issuanceOpts = { url: `${gateway}/v1/access-tokens`, method: 'POST' as const, next: signed };
    await load({ ...issuanceOpts, seconds: WARMUP });
    const issuance = await load({ ...issuanceOpts, seconds: SECONDS });

    const exchange: Record<string, LoadResult> = {};
    for (const { alg, ats, envelopes } of fixtures) {
      say(`${workers} process(es): VT exchange ${alg}`);
      await rearmAccessTokens(store, ats, USER);
      let i = 0;
      const next = () => ({ body: JSON.stringify({ envelope: envelopes[i++ % envelopes.length] }) });
      const opts = { url: `${gateway}/v1/visit-tokens`, method: 'POST' as const, headers: { 'content-type': 'application/json' }, next };
      await load({ ...opts, seconds: WARMUP });
      exchange[alg] = await load({ ...opts, seconds: SECONDS });
      if (i > envelopes.length) say(`  fixtures ran out (${i} requests for ${envelopes.length}): the errors column shows it`);
    }

    say(`${workers} process(es): product API`);
    const vts = await makeVisitTokens(store, 1000, USER, { key: loadOrCreateSigningKey(keysFile), issuer: gateway });
    let j = 0;
    const productOpts = { url: `${gateway}/v1/products/${USER.productId}`, next: () => ({ headers: { authorization: `Bearer ${vts[j++ % vts.length]}` } }) };
    await load({ ...productOpts, seconds: WARMUP });
    const product = await load({ ...productOpts, seconds: SECONDS });
    return { workers, issuance, exchange, product };
  } finally {
    await stop(child);
  }
}

async function benchPeer(script: string, scenario: () => Promise<LoadResult>, port: number, ready: string): Promise<LoadResult> {
  const child = start(script, { PORT: String(port), NODE_ENV: 'development' });
  try {
    await waitFor(ready);
    return await scenario();
  } finally {
    await stop(child);
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version, platform: `${os.platform()} ${os.release()}`, hostname: os.hostname(),
  };
  say(`machine: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}`);

  say('raw crypto limits of one core');
  const crypto = measureCrypto();

  const prefix = `bench:${Date.now().toString(36)}:`;
  const dir = mkdtempSync(join(os.tmpdir(), 'broker-bench-'));
  const keysFile = join(dir, 'keys.json');
  const keys = loadOrCreateEncryptionKeys(keysFile);
  // The whole key file is written before any broker process starts on it (the file is locked
  // while keys are added, so cluster workers would agree anyway; this keeps their start quick).
  loadOrCreateSigningKey(keysFile);
  loadOrCreateKeysKek(keysFile);
  const store = await RedisStore.connect({ url: REDIS_URL, prefix });

  try {
    const fixtures = await exchangeFixtures(store, keys, crypto);
    const one = await benchBroker(1, prefix, keysFile, fixtures, store);
    const many = WORKERS > 1 ? await benchBroker(WORKERS, prefix, keysFile, fixtures, store) : undefined;

    say('reference: node-oidc-provider client_credentials');
    const oidcPort = await freePort();
    const basic = 'Basic ' + Buffer.from('bench-client:bench-secret-0123456789abcdefghijklmnopqrstuvwxyz').toString('base64');
    const oidcOpts = {
      url: `http://127.0.0.1:${oidcPort}/token`, method: 'POST' as const,
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
    };
    const oidc = await benchPeer('bench/peers/oidc.ts', async () => {
      await load({ ...oidcOpts, seconds: WARMUP });
      return load({ ...oidcOpts, seconds: SECONDS });
    }, oidcPort, `http://127.0.0.1:${oidcPort}/.well-known/openid-configuration`);

    say('reference: bare Koa + router, same JSON');
    const koaPort = await freePort();
    const koaUrl = `http://127.0.0.1:${koaPort}/v1/products/${USER.productId}`;
    const bareKoa = await benchPeer('bench/peers/bare-koa.ts', async () => {
      await load({ url: koaUrl, seconds: WARMUP });
      return load({ url: koaUrl, seconds: SECONDS });
    }, koaPort, koaUrl);

    say(`Chromium: navigation to product rendered, median of ${BROWSER_RUNS}`);
    const browserPorts = { gateway: await freePort(), auth: await freePort(), h5: await freePort(), products: await freePort() };
    let browser: BrowserResult | { skipped: string };
    try {
      // A store namespace of its own: the broker runs above left their signing key set (sealed
      // under their KEK) in the main one.
      const browserStore = await RedisStore.connect({ url: REDIS_URL, prefix: `${prefix}browser:` });
      try {
        browser = await measureBrowser({ store: browserStore, ports: browserPorts, runs: BROWSER_RUNS, chromiumPath: CHROMIUM });
      } finally {
        await browserStore.close();
      }
    } catch (err) {
      browser = { skipped: (err as Error).message };
      say(`browser part failed: ${(err as Error).message}`);
    }

    const report = { date: new Date().toISOString(), machine, seconds: SECONDS, connections: 50, crypto, one, many, references: { oidc, bareKoa }, browser, totalSeconds: Math.round((Date.now() - started) / 1000) };
    const files = await writeReport(report, CHROMIUM);
    say(`done in ${report.totalSeconds} s: ${files.join(', ')}`);
  } finally {
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
