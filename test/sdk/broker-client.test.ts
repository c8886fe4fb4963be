/**
 * The third-party SDK (sdk/) against the running broker: the happy path (sign, get and open an AT,
 * both key kinds; the H5 URL; introspect; revoke) and every documented code a third-party backend
 * can meet through it; its retries (only what is safe, each AT request signed anew); and the
 * publishable package (one ESM bundle that imports only node builtins and jose, and its types).
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import nodeHttp from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MemoryStore } from '../../platform/store/index.ts';
import { createRegistry } from '../../flows/apps/registry.ts';
import { encryptCompact } from '../../platform/crypto/jwe.ts';
import { parseSignature } from '../../platform/http/signature.ts';
import { BrokerClient, BrokerError, isBrokerError, type BrokerErrorCode } from '../../sdk/index.ts';
import { buildSdk } from '../../scripts/build-sdk.ts';
import type { RunningSystem } from '../../system/start.ts';
import { exchange, fetchEncJwk, http, openReply, sealEnvelope } from '../support/clients.ts';
import { DEMO_APP, OTHER_APP, startTestSystem } from '../support/system.ts';

const app = (appId: string, n: number, extra: Record<string, unknown> = {}) => ({
  appId, name: appId, appSecret: `${appId}-secret-0123456789abcdefghijklmnopqrstuvwxyz`,
  encKey: Buffer.alloc(32, n).toString('base64url'), products: ['city-pass'], allowedOrigins: [], ...extra,
});
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_APP = (() => {
  const { encKey: _unused, ...rest } = app('rsa-app', 31, { publicJwk: rsa.publicKey.export({ format: 'jwk' }) });
  void _unused;
  return rest;
})();
const OUTSIDE = app('outside-app', 32, { trustedNetworks: ['10.0.0.0/8'] });
const LIMITED = app('limited-app', 33, { rateLimit: { limit: 1, windowSeconds: 3600 } });
const PARTNER = app('partner-app', 34, { audiences: ['https://partner.example/api'] });

async function failure(p: Promise<unknown>): Promise<BrokerError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(BrokerError);
    return err as BrokerError;
  }
  throw new Error('expected a BrokerError');
}

describe('sdk: BrokerClient against the running broker', function () {
  let system: RunningSystem;
  const gw = () => system.urls.gateway;
  const client = (a: { appId: string; appSecret: string; encKey?: string }, extra: Partial<ConstructorParameters<typeof BrokerClient>[0]> = {}) =>
    new BrokerClient({ gatewayUrl: gw(), appId: a.appId, appSecret: a.appSecret, encKey: a.encKey, h5Url: system.urls.h5, retries: 0, ...extra });
  const expectCode = (err: BrokerError, code: BrokerErrorCode, status?: number) => {
    expect(err.code, err.message).to.equal(code);
    if (status !== undefined) expect(err.status).to.equal(status);
    expect(isBrokerError(err, code)).to.equal(true);
  };

  before(async function () {
    const registry = (urls: { demo: string }) => createRegistry({
      apps: [{ ...DEMO_APP, allowedOrigins: [new URL(urls.demo).origin] }, { ...OTHER_APP, allowedOrigins: [] }, RSA_APP, OUTSIDE, LIMITED, PARTNER],
    });
    system = await startTestSystem({ store: new MemoryStore(), system: { registry } });
  });
  after(async function () {
    await system?.close(0);
  });

  it('happy path: an AT for a user and product, the H5 URL, then the VT introspected and revoked', async function () {
    const c = client(DEMO_APP);
    const token = await c.requestAccessToken({ userId: 'alice', productId: 'city-pass', profile: { displayName: 'Alice' } });
    expect(token).to.include({ userId: 'alice', productId: 'city-pass' });
    expect(token.at).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(token.exp).to.be.greaterThan(Date.now() / 1000);
    const url = new URL(c.h5Url('city-pass', token.at));
    expect(url.origin + url.pathname).to.equal(`${system.urls.h5}/h5/products/city-pass`);
    expect(url.hash).to.equal(`#at=${token.at}`);
    // The page's part (the envelope), then the SDK's introspection and revocation of the VT.
    const { envelope, r } = sealEnvelope(await fetchEncJwk(gw(), 'ECDH-ES+A256KW'), token.at);
    const { vt } = openReply((await exchange(gw(), envelope)).data.envelope, r);
    const active = await c.introspect(vt);
    expect(active).to.include({ active: true, sub: 'alice', app: 'demo-app', aud: 'city-pass', token_type: 'vt+jwt' });
    expect(active.active && active.profile).to.deep.equal({ displayName: 'Alice' });
    // Another app sees nothing of it, and cannot revoke it.
    expect(await client(OTHER_APP).introspect(vt)).to.deep.equal({ active: false });
    await client(OTHER_APP).revoke(vt);
    expect((await c.introspect(vt)).active).to.equal(true);
    await c.revoke(vt);
    expect(await c.introspect(vt)).to.deep.equal({ active: false });
    const product = await http.get(`${gw()}/v1/products/city-pass`, { headers: { authorization: `Bearer ${vt}` } });
    expect(product.data.code).to.equal('vt_invalid');
  });

  it('opens an RSA-OAEP-256 AT with the app\'s RSA private key, and an audience-bound AT', async function () {
    const token = await client(RSA_APP, { rsaPrivateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string })
      .requestAccessToken({ userId: 'bob', productId: 'city-pass' });
    expect(token).to.include({ userId: 'bob', productId: 'city-pass' });
    const bound = await client(PARTNER).requestAccessToken({ userId: 'carol', productId: 'city-pass', audience: 'https://partner.example/api' });
    expect(bound.audience).to.equal('https://partner.example/api');
    // Without the right key the sealed AT does not open: bad_response, never a wrong token.
    const wrongKey = await failure(client({ ...DEMO_APP, encKey: Buffer.alloc(32, 1).toString('base64url') }).requestAccessToken({ userId: 'dan', productId: 'city-pass' }));
    expectCode(wrongKey, 'bad_response');
  });

  it('every code a third-party backend can meet is a typed BrokerError with its status', async function () {
    expectCode(await failure(client({ ...DEMO_APP, appSecret: 'not-the-secret-0123456789abcdefghijklmno' }).requestAccessToken({ userId: 'a', productId: 'city-pass' })), 'invalid_signature', 401);
    expectCode(await failure(client({ ...DEMO_APP, appId: 'no-such-app' }).requestAccessToken({ userId: 'a', productId: 'city-pass' })), 'invalid_signature', 401);
    expectCode(await failure(client(OTHER_APP).requestAccessToken({ userId: 'a', productId: 'city-pass' })), 'forbidden_product', 403);
    expectCode(await failure(client(OUTSIDE).requestAccessToken({ userId: 'a', productId: 'city-pass' })), 'untrusted_network', 403);
    expectCode(await failure(client(DEMO_APP).requestAccessToken({ userId: 'a', productId: 'city-pass', audience: 'https://partner.example/api' })), 'invalid_request', 400);
    expectCode(await failure(client(DEMO_APP).requestAccessToken({ userId: 'a b', productId: 'city-pass' })), 'invalid_request', 400);
    expectCode(await failure(client(DEMO_APP).requestAccessToken({ userId: 'a'.repeat(5000), productId: 'city-pass' })), 'payload_too_large', 413);
    await client(LIMITED).requestAccessToken({ userId: 'a', productId: 'city-pass' });
    const limited = await failure(client(LIMITED, { retries: 3 }).requestAccessToken({ userId: 'a', productId: 'city-pass' }));
    expectCode(limited, 'rate_limited', 429);
    expect(limited.retryAfter).to.be.greaterThan(5); // too long to wait for: thrown at once, not retried
    expect(limited.requestId).to.be.a('string');
    expect(limited.problem.detail).to.be.a('string');
    expectCode(await failure(client({ ...DEMO_APP, appSecret: 'wrong-secret-0123456789abcdefghijklmnopq' }).introspect('x.y.z')), 'invalid_client', 401);
    expectCode(await failure(client({ ...DEMO_APP, appSecret: 'wrong-secret-0123456789abcdefghijklmnopq' }).revoke('x.y.z')), 'invalid_client', 401);
    expectCode(await failure(client(DEMO_APP).introspect('x'.repeat(9000))), 'payload_too_large', 413);
    // No answer at all.
    const closed = nodeHttp.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expectCode(await failure(client(DEMO_APP, { gatewayUrl: `http://127.0.0.1:${port}` }).requestAccessToken({ userId: 'a', productId: 'city-pass' })), 'network_error');
  });

  describe('retries: only what is safe, every AT request signed anew', function () {
    let server: nodeHttp.Server;
    let url: string;
    const seen: { path: string; nonce?: string; created?: number }[] = [];
    let script: { status: number; headers?: Record<string, string>; body?: string }[] = [];

    before(async function () {
      // A stand-in for the gateway that answers what the test scripts (a transient 503 cannot be had
      // from the real one on demand), then a real sealed AT.
      server = nodeHttp.createServer((req, res) => {
        const sig = req.headers['signature-input'] ? parseSignature(String(req.headers['signature-input']), String(req.headers.signature)) : undefined;
        seen.push({ path: req.url ?? '', nonce: sig?.params.nonce, created: sig?.params.created });
        req.resume();
        const next = script.shift() ?? { status: 201 };
        const body = next.body ?? JSON.stringify({
          accessToken: encryptCompact({ header: { alg: 'A256KW', enc: 'A256GCM' }, plaintext: JSON.stringify({ at: 'A'.repeat(43), productId: 'city-pass', userId: 'alice', exp: 2e9 }), key: Buffer.from(DEMO_APP.encKey, 'base64url') }),
          expiresIn: 300,
        });
        res.writeHead(next.status, { 'content-type': next.status < 300 ? 'application/json' : 'application/problem+json', ...next.headers });
        res.end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async function () {
      await new Promise((resolve) => server.close(resolve));
    });
    beforeEach(function () {
      seen.length = 0;
    });
    const problem = (code: string, status: number) => JSON.stringify({ type: `https://h5-broker.dev/problems/${code}`, title: code, status, detail: code, code });
    const c = (retries = 2) => new BrokerClient({ gatewayUrl: url, appId: DEMO_APP.appId, appSecret: DEMO_APP.appSecret, encKey: DEMO_APP.encKey, retries });

    it('a 503 with Retry-After is retried, signed again with a new nonce; the AT of the last attempt is returned', async function () {
      script = [{ status: 503, headers: { 'retry-after': '1' }, body: problem('store_unavailable', 503) }];
      const token = await c().requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      expect(token.userId).to.equal('alice');
      expect(seen).to.have.length(2);
      expect(seen[0]!.nonce).to.be.a('string');
      expect(seen[1]!.nonce).to.not.equal(seen[0]!.nonce);
    });

    it('a 401, a 403 or a 400 is never retried; retries stop at the configured count', async function () {
      for (const [code, status] of [['invalid_signature', 401], ['forbidden_product', 403], ['invalid_request', 400]] as const) {
        seen.length = 0;
        script = [{ status, body: problem(code, status) }];
        expect((await failure(c(5).requestAccessToken({ userId: 'alice', productId: 'city-pass' }))).code).to.equal(code);
        expect(seen, code).to.have.length(1);
      }
      seen.length = 0;
      script = [0, 1].map(() => ({ status: 500, body: problem('internal_error', 500) }));
      expect((await failure(c(5).requestAccessToken({ userId: 'alice', productId: 'city-pass' }))).code).to.equal('internal_error');
      expect(seen, 'a 500 is retried once').to.have.length(2);
      seen.length = 0;
      script = [0, 1, 2].map(() => ({ status: 503, headers: { 'retry-after': '1' }, body: problem('upstream_unavailable', 503) }));
      expect((await failure(c(1).introspect('x.y.z'))).code).to.equal('upstream_unavailable');
      expect(seen, 'one try and one retry').to.have.length(2);
      script = [];
    });

    it('an answer that is not the route\'s is bad_response', async function () {
      script = [{ status: 201, body: '<html>' }];
      expect((await failure(c(0).requestAccessToken({ userId: 'alice', productId: 'city-pass' }))).code).to.equal('bad_response');
      script = [{ status: 418, body: 'teapot' }];
      expect((await failure(c(0).requestAccessToken({ userId: 'alice', productId: 'city-pass' }))).code).to.equal('bad_response');
      script = [];
      // A token for another user is refused, never handed on.
      expect((await failure(c(0).requestAccessToken({ userId: 'mallory', productId: 'city-pass' }))).code).to.equal('token_mismatch');
    });
  });

  it('builds as a publishable package: one ESM bundle importing only node builtins and jose, with types', async function () {
    this.timeout(120_000);
    // Inside sdk/, so that sdk/package.json makes it ESM and `jose` resolves as it would for a user.
    const dir = fileURLToPath(new URL(`../../sdk/dist-test-${process.pid}`, import.meta.url));
    try {
      await checkPackage(await buildSdk(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function checkPackage(out: { bundle: string; types: string }): Promise<void> {
  {
    const js = readFileSync(out.bundle, 'utf8');
    const imports = [...js.matchAll(/^import .* from "([^"]+)";?$/gm)].map((m) => m[1]!);
    expect(imports.filter((m) => !m.startsWith('node:') && m !== 'jose')).to.deep.equal([]);
    const types = readFileSync(out.types, 'utf8');
    for (const name of ['BrokerClient', 'BrokerError', 'isBrokerError', 'createVisitTokenVerifier']) expect(types).to.include(name);
    const pkg = JSON.parse(readFileSync(new URL('../../sdk/package.json', import.meta.url), 'utf8'));
    expect(pkg.type).to.equal('module');
    expect(pkg.exports['.']).to.deep.equal({ types: './dist/types/sdk/index.d.ts', import: './dist/index.js' });
    expect(Object.keys(pkg.dependencies)).to.deep.equal(['jose']);
    // The bundle runs on its own: it signs and its errors are typed.
    const mod = await import(out.bundle);
    const headers = new mod.BrokerClient({ gatewayUrl: 'https://gateway.example', appId: 'demo-app', appSecret: 's'.repeat(32), encKey: DEMO_APP.encKey }).sign('/v1/access-tokens', '{}');
    expect(headers['Signature-Input']).to.match(/^sig1=\("@method" "@target-uri" "content-digest" "content-type"\);created=\d+;keyid="demo-app";nonce="[^"]+";alg="hmac-sha256"$/);
    expect(mod.isBrokerError(new mod.BrokerError('rate_limited', 429), 'rate_limited')).to.equal(true);
  }
}
