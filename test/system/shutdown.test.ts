/**
 * SIGTERM to the real process (`npm start`'s entry, on a redis-server of this test's own): it
 * refuses new connections, answers every request it already had (one deterministically half-sent
 * at SIGTERM, and a burst whose bytes reached the kernel just before it), closes Redis and exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { freePort } from '../../scripts/free-port.ts';
import { BrokerClient } from '../../sdk/broker-client.ts';
import { fetchEncJwk, openReply, sealEnvelope, signAtRequest } from '../support/clients.ts';
import { RedisServer } from '../support/redis-server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The demo app of config/apps.json, which the process loads. */
const app = (JSON.parse(readFileSync(new URL('../../config/apps.json', import.meta.url), 'utf8')) as { apps: { appId: string; appSecret: string; encKey: string }[] }).apps[0]!;

interface RawAnswer { status: number; headers: Record<string, string>; body: string }

/** One HTTP/1.1 answer read from a raw socket until the server closes it. */
function readAnswer(socket: net.Socket): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let raw = '';
    socket.on('data', (d) => (raw += d));
    socket.on('error', (err) => reject(new Error(`a half-sent request: ${err.message}`)));
    socket.on('close', () => {
      const [head = '', body = ''] = raw.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1]);
      if (!status) return reject(new Error(`no answer: ${JSON.stringify(raw.slice(0, 200))}`));
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status, headers, body });
    });
  });
}

/** A POST whose headers and first half of the body are sent now; `finish()` sends the rest. */
async function halfSent(port: number, path: string, body: string, headers: Record<string, string>) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const answer = readAnswer(socket);
  const head = [`POST ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, `Content-Length: ${Buffer.byteLength(body)}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  const half = Math.floor(body.length / 2);
  socket.write(`${head.join('\r\n')}\r\n\r\n${body.slice(0, half)}`);
  return {
    finish() {
      socket.write(body.slice(half));
      return answer;
    },
  };
}

/** A request on a fresh connection; resolves once its bytes are written, with the answer to come. */
function sendFresh(url: string, opts: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string }) {
  return new Promise<{ answer: Promise<{ status: number; body: string }> }>((written, failed) => {
    let settle!: (v: { status: number; body: string }) => void;
    let fail!: (e: Error) => void;
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    answer.catch(() => undefined);
    const req = http.request(url, { method: opts.method, headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => settle({ status: res.statusCode!, body }));
    });
    req.on('error', (err) => {
      const labelled = new Error(`${opts.method} ${url}: ${err.message}`);
      fail(labelled);
      failed(labelled);
    });
    req.end(opts.body, () => written({ answer }));
  });
}

const signedAtRequest = (gatewayUrl: string, userId: string) => signAtRequest(gatewayUrl, app, { userId, productId: 'city-pass' });

describe('shutdown on SIGTERM (the real process)', function () {
  let redis: RedisServer;
  let proc: ChildProcess | undefined;
  let output = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  const ports: Record<'gateway' | 'auth' | 'h5' | 'products' | 'demo', number> = { gateway: 0, auth: 0, h5: 0, products: 0, demo: 0 };

  before(async function () {
    redis = await RedisServer.start(this);
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
    proc = spawn(process.execPath, ['--import', 'tsx', 'system/main.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'development', LOG_LEVEL: 'info',
        GATEWAY_PORT: String(ports.gateway), AUTH_PORT: String(ports.auth), H5_PORT: String(ports.h5),
        PRODUCTS_PORT: String(ports.products), DEMO_PORT: String(ports.demo),
        AUTH_KEYS_FILE: '', REDIS_URL: redis.url, WORKERS: '1',
      },
    });
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    exited = new Promise((resolve) => proc!.once('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 20_000;
    while (!output.includes('H5 access broker is running')) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`the broker did not start: ${output.slice(-1000)}`);
      await sleep(50);
    }
  });

  after(async function () {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
    }
    await redis?.stop();
  });

  it('refuses new connections, answers every request in flight or already sent, closes Redis, exits 0', async function () {
    const gw = `http://127.0.0.1:${ports.gateway}`;
    expect(redis.clientNames()).to.include('h5-broker');
    const client = new BrokerClient({ gatewayUrl: gw, appId: app.appId, appSecret: app.appSecret, encKey: app.encKey });
    const jwk = await fetchEncJwk(gw);
    const ats = await Promise.all(Array.from({ length: 11 }, (_, i) => client.requestAccessToken({ userId: `u${i}`, productId: 'city-pass' })));
    const first = sealEnvelope(jwk, ats[10]!.at);
    const firstEx = await fetch(`${gw}/v1/visit-tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ envelope: first.envelope }) });
    const vt = openReply(((await firstEx.json()) as { envelope: string }).envelope, first.r).vt;
    // A running system has served product calls: the product backend holds the JWKS it fetched
    // from the gateway's public URL (in this one process, that listener is gone during the drain).
    expect((await fetch(`${gw}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } })).status).to.equal(200);

    // In flight for certain: the headers and half the body of an AT request and of an exchange.
    const at = signedAtRequest(gw, 'half-sent');
    const halfAt = await halfSent(ports.gateway, '/v1/access-tokens', at.body, at.headers);
    const exSeal = sealEnvelope(jwk, ats[0]!.at);
    const halfEx = await halfSent(ports.gateway, '/v1/visit-tokens', JSON.stringify({ envelope: exSeal.envelope }), { 'content-type': 'application/json' });
    await sleep(200);

    // Sent just before SIGTERM: the process is stopped while 30 requests reach the kernel on new
    // connections, so it sees them and the signal at the same moment.
    proc!.kill('SIGSTOP');
    const seals = ats.slice(1, 10).map((t) => sealEnvelope(jwk, t.at));
    const burst = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => {
        const req = signedAtRequest(gw, `burst-${i}`);
        return sendFresh(`${gw}/v1/access-tokens`, { method: 'POST', headers: req.headers, body: req.body }).then((s) => ({ what: 'access token', expected: 201, ...s }));
      }),
      ...seals.map((s) => sendFresh(`${gw}/v1/visit-tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ envelope: s.envelope }) }).then((w) => ({ what: 'exchange', expected: 200, ...w }))),
      ...Array.from({ length: 11 }, () => sendFresh(`${gw}/v1/products/city-pass`, { method: 'GET', headers: { authorization: `Bearer ${vt}` } }).then((s) => ({ what: 'product', expected: 200, ...s }))),
    ]);
    const signalled = performance.now();
    proc!.kill('SIGTERM');
    proc!.kill('SIGCONT');

    while (!output.includes('no new connections; draining')) await sleep(10);
    // Draining (the half-sent requests hold it open): a new connection is refused ...
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(ports.gateway, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(refused).to.equal('ECONNREFUSED');
    // ... while Redis is still connected, since the requests in flight need it.
    expect(redis.clientNames()).to.include('h5-broker');

    const atAnswer = await halfAt.finish();
    const exAnswer = await halfEx.finish();
    expect(atAnswer.status, atAnswer.body).to.equal(201);
    expect(JSON.parse(atAnswer.body)).to.have.property('accessToken');
    expect(exAnswer.status, exAnswer.body).to.equal(200);
    expect(openReply(JSON.parse(exAnswer.body).envelope, exSeal.r).vt).to.be.a('string');
    // Keep-alive clients are told not to reuse the connection.
    expect(atAnswer.headers.connection).to.equal('close');
    for (const b of burst) {
      const answer = await b.answer;
      expect(answer.status, `${b.what}: ${answer.body}`).to.equal(b.expected);
    }

    const { code, signal } = await exited;
    const stoppedMs = Math.round(performance.now() - signalled);
    expect({ code, signal }).to.deep.equal({ code: 0, signal: null });
    expect(output).to.match(/"msg":"stopped"/);
    // The process ended by itself: nothing, the Redis connection included, was left open.
    expect(output).to.not.match(/still open after the stop/);
    expect(redis.clientNames()).to.not.include('h5-broker');
    this.test!.title += ` [exited ${stoppedMs} ms after SIGTERM]`;
  });
});
