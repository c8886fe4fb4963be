/**
 * The HTTP side of the typed seams (flows/<flow>/seam.ts over createInternalClient), against a
 * real HTTP server that answers as told: what is sent (route, credential, request id, body), and
 * what each kind of answer becomes (the success's data, the service's own problem, 502, 503).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createInternalClient, type InternalClient } from '../../../platform/http/upstream.ts';
import { Problem } from '../../../platform/http/problem.ts';
import { ACCESS_TOKEN_ROUTES, accessTokenClient } from '../../../flows/access-token/seam.ts';
import { VISIT_TOKEN_ROUTES, visitTokenClient } from '../../../flows/visit-token/seam.ts';
import { KEYS_ROUTES, keysClient } from '../../../flows/keys/seam.ts';
import { freePort } from '../../../scripts/free-port.ts';

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }
interface Reply { status: number; body?: string; headers?: Record<string, string> }

const TOKEN = 'internal-credential-for-this-test';

async function caught(p: Promise<unknown>): Promise<Problem> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(Problem);
    return err as Problem;
  }
  throw new Error('expected a Problem');
}

describe('typed seams over HTTP (the flows\' clients on createInternalClient)', function () {
  let server: http.Server;
  let client: InternalClient;
  const seen: Seen[] = [];
  let reply: Reply = { status: 200, body: '{}' };

  before(async function () {
    server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(reply.body ?? '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = createInternalClient('auth', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, TOKEN, 2000);
  });
  after(async function () {
    await client?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('calls each operation on its route, with the credential, the request id and the body', async function () {
    seen.length = 0;
    reply = { status: 201, body: JSON.stringify({ accessToken: 'a.b.c.d.e', expiresIn: 300 }) };
    const issued = await accessTokenClient(client).issue({ appId: 'demo-app', userId: 'alice', productId: 'city-pass' }, 'req-id-0001');
    expect(issued).to.deep.equal({ accessToken: 'a.b.c.d.e', expiresIn: 300 });
    reply = { status: 200, body: JSON.stringify({ envelope: 'x.y.z.w.v' }) };
    expect(await visitTokenClient(client).exchange('an-envelope', 'req-id-0002')).to.deep.equal({ envelope: 'x.y.z.w.v' });
    reply = { status: 200, body: JSON.stringify({ keys: [{ kty: 'EC', use: 'sig' }] }) };
    expect(await keysClient(client).jwks('req-id-0003')).to.deep.equal({ keys: [{ kty: 'EC', use: 'sig' }] });

    const routes = [ACCESS_TOKEN_ROUTES.issue, VISIT_TOKEN_ROUTES.exchange, KEYS_ROUTES.jwks];
    expect(seen.map((s) => `${s.method} ${s.url}`)).to.deep.equal(routes.map((r) => `${r.method} ${r.path}`));
    expect(seen.map((s) => s.headers['x-broker-internal'])).to.deep.equal([TOKEN, TOKEN, TOKEN]);
    expect(seen.map((s) => s.headers['x-request-id'])).to.deep.equal(['req-id-0001', 'req-id-0002', 'req-id-0003']);
    expect(JSON.parse(seen[0]!.body)).to.deep.equal({ appId: 'demo-app', userId: 'alice', productId: 'city-pass' });
    expect(JSON.parse(seen[1]!.body)).to.deep.equal({ envelope: 'an-envelope' });
    expect(seen[2]!.body).to.equal('');
  });

  it('the service\'s own problem answer comes back as that Problem, with its status, detail and Retry-After', async function () {
    reply = {
      status: 503, headers: { 'retry-after': '1' },
      body: JSON.stringify({ type: 'x', title: 't', status: 503, code: 'store_unavailable', detail: 'The token store does not answer.' }),
    };
    const p = await caught(visitTokenClient(client).exchange('e', undefined));
    expect(p).to.include({ code: 'store_unavailable', status: 503, detail: 'The token store does not answer.' });
    expect(p.headers).to.deep.equal({ 'Retry-After': '1' });
    reply = { status: 401, body: JSON.stringify({ type: 'x', title: 't', status: 401, code: 'at_invalid', detail: 'gone' }) };
    expect(await caught(visitTokenClient(client).exchange('e', undefined))).to.include({ code: 'at_invalid', status: 401 });
  });

  it('our own credential refused (forbidden), another status, or a success of the wrong shape: 502 upstream_unavailable', async function () {
    const replies: Reply[] = [
      { status: 403, body: JSON.stringify({ type: 'x', title: 't', status: 403, code: 'forbidden', detail: 'no' }) },
      { status: 500, body: 'oops' },
      { status: 200, body: JSON.stringify({ accessToken: 'a.b.c.d.e', expiresIn: 300 }) },
      { status: 201, body: JSON.stringify({ accessToken: 42, expiresIn: 300 }) },
      { status: 201, body: '' },
    ];
    for (const r of replies) {
      reply = r;
      expect(await caught(accessTokenClient(client).issue({ appId: 'demo-app' }, undefined)), JSON.stringify(r)).to.include({ code: 'upstream_unavailable', status: 502 });
    }
    reply = { status: 200, body: JSON.stringify({ keys: 'none' }) };
    expect(await caught(keysClient(client).jwks(undefined))).to.include({ code: 'upstream_unavailable', status: 502 });
    reply = { status: 200, body: JSON.stringify({ nothing: true }) };
    expect(await caught(visitTokenClient(client).exchange('e', undefined))).to.include({ code: 'upstream_unavailable', status: 502 });
  });

  it('a service that cannot be reached: 503 upstream_unavailable with Retry-After: 1; liveness says false', async function () {
    const gone = createInternalClient('auth', `http://127.0.0.1:${await freePort()}`, TOKEN, 2000);
    try {
      const p = await caught(accessTokenClient(gone).issue({ appId: 'demo-app' }, undefined));
      expect(p).to.include({ code: 'upstream_unavailable', status: 503 });
      expect(p.headers).to.deep.equal({ 'Retry-After': '1' });
      expect(await gone.live(undefined)).to.equal(false);
    } finally {
      await gone.close();
    }
    reply = { status: 200, body: JSON.stringify({ status: 'ok' }) };
    expect(await client.live('req-id-0004')).to.equal(true);
    expect(seen.at(-1)).to.deep.include({ method: 'GET', url: '/healthz' });
  });
});
