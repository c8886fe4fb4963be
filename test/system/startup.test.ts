/**
 * The start of the real process (`npm start`'s entry): every port is bound before the apps are
 * built, and a connection made in between must be answered at once (503 `starting`), not accepted
 * and left waiting until the app is attached (a `GET /readyz` during the start used to hang for
 * seconds). Readiness is polled from the moment the process is spawned until it answers 200.
 * And a component's own main loads that component's code only (`start:gateway` loads no esbuild).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { freePort } from '../../scripts/free-port.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long one poll may wait for its answer before it counts as a hang (ms). */
const ANSWER_WITHIN_MS = 1000;
/** Bounds of the whole polling: the process must be ready well within these. */
const MAX_POLLS = 4000;
const MAX_POLLING_MS = 30_000;

type Poll =
  | { kind: 'refused' }
  | { kind: 'answer'; status: number; code?: string; retryAfter?: string; contentType?: string }
  | { kind: 'hang' }
  | { kind: 'error'; message: string };

/** One `GET path` on a fresh connection, answered within ANSWER_WITHIN_MS or counted as a hang. */
function poll(port: number, path: string): Promise<Poll> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { code?: string }).code;
        } catch {
          code = undefined;
        }
        resolve({
          kind: 'answer', status: res.statusCode!, code, retryAfter: res.headers['retry-after'], contentType: res.headers['content-type'],
        });
      });
    });
    req.setTimeout(ANSWER_WITHIN_MS, () => {
      resolve({ kind: 'hang' });
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'error', message: `${err.code} ${err.message}` }));
  });
}

describe('start of the real process: no connection is left unanswered', function () {
  let proc: ChildProcess | undefined;
  let output = '';

  after(async function () {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc!.once('exit', resolve));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  });

  it('every readiness poll from the first moment is answered at once: refused, 503 starting, or 200', async function () {
    this.timeout(MAX_POLLING_MS + 20_000);
    const names = ['gateway', 'auth', 'h5', 'products', 'demo'] as const;
    const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()] as const))) as Record<(typeof names)[number], number>;
    proc = spawn(process.execPath, ['--import', 'tsx', 'system/main.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'development', LOG_LEVEL: 'warn',
        GATEWAY_PORT: String(ports.gateway), AUTH_PORT: String(ports.auth), H5_PORT: String(ports.h5),
        PRODUCTS_PORT: String(ports.products), DEMO_PORT: String(ports.demo), AUTH_KEYS_FILE: '',
      },
    });
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));

    const polls: Poll[] = [];
    const deadline = Date.now() + MAX_POLLING_MS;
    for (;;) {
      const p = await poll(ports.gateway, '/readyz');
      polls.push(p);
      if (p.kind === 'answer' && p.status === 200) break;
      if (p.kind === 'hang' || p.kind === 'error') break;
      if (polls.length >= MAX_POLLS || Date.now() > deadline || proc.exitCode !== null) break;
      await sleep(5);
    }

    const summary = () => `${JSON.stringify(polls.slice(-5))} (${polls.length} polls); output: ${output.slice(-800)}`;
    const unexpected = polls.filter((p) => !(
      p.kind === 'refused'
      || (p.kind === 'answer' && p.status === 200)
      || (p.kind === 'answer' && p.status === 503 && p.code === 'starting' && p.retryAfter === '1' && p.contentType === 'application/problem+json')
    ));
    expect(unexpected, summary()).to.deep.equal([]);
    expect(polls.at(-1), summary()).to.deep.include({ kind: 'answer', status: 200 });
    // The window between the bound ports and the attached apps (the store, the keys, the H5
    // bundle) was seen, and answered: the gateway listened before it could serve.
    expect(polls.filter((p) => p.kind === 'answer' && p.status === 503), summary()).to.not.be.empty;
    // Once ready, the other components answer too.
    for (const [name, path] of [['auth', '/readyz'], ['h5', '/healthz'], ['products', '/healthz']] as const) {
      expect(await poll(ports[name], path), name).to.deep.include({ kind: 'answer', status: 200 });
    }
  });
});

describe('start of one component: only its code is loaded', function () {
  /** The module URLs (relative to the repository) a child process loaded to start `components`. */
  async function loadedFor(components: string): Promise<string[]> {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/support/loaded-modules.ts', components], {
      cwd: ROOT, timeout: 60_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'silent' },
    });
    const urls = JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
    const root = new URL('../..', import.meta.url).href;
    return urls.map((u) => (u.startsWith(root) ? u.slice(root.length) : u));
  }
  const isComponentCode = (part: string) => (m: string) => m.startsWith(part) || m.includes(`/node_modules/${part}`);

  it('the gateway alone loads neither auth, the H5 server and its bundler (esbuild), nor the demo', async function () {
    this.timeout(60_000);
    const loaded = await loadedFor('gateway');
    expect(loaded).to.include.members(['gateway/app.ts', 'flows/access-token/public.ts', 'flows/access-token/seam.ts']);
    for (const part of ['auth/', 'h5/', 'third-party-demo/', 'esbuild', 'flows/access-token/service.ts', 'flows/visit-token/service.ts']) {
      expect(loaded.filter(isComponentCode(part)), part).to.deep.equal([]);
    }
  });

  it('auth alone loads its own code and not the gateway\'s, the H5 server or the demo', async function () {
    this.timeout(60_000);
    const loaded = await loadedFor('auth');
    expect(loaded).to.include.members(['auth/app.ts', 'flows/access-token/service.ts', 'flows/visit-token/service.ts']);
    for (const part of ['gateway/', 'h5/', 'third-party-demo/', 'esbuild', 'flows/access-token/public.ts']) {
      expect(loaded.filter(isComponentCode(part)), part).to.deep.equal([]);
    }
  });
});
