/**
 * W3C trace context where it is cheap: a service (createService) that calls another through
 * createUpstream passes the request's well-formed `traceparent` and `tracestate` on unchanged, and
 * logs its trace id beside the request id; a malformed or absent one passes nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import Router from '@koa/router';
import { pino } from 'pino';
import { createService } from '../../../platform/http/service.ts';
import { createUpstream } from '../../../platform/http/upstream.ts';
import type { RequestState } from '../../../platform/http/state.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceparent: accepted, passed to the services behind, tied to the request id in logs', function () {
  const seen: http.IncomingHttpHeaders[] = [];
  const lines: Record<string, unknown>[] = [];
  let backend: http.Server;
  let front: http.Server;
  let frontUrl = '';
  let upstream: ReturnType<typeof createUpstream>;

  before(async function () {
    backend = http.createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    upstream = createUpstream('backend', `http://127.0.0.1:${(backend.address() as AddressInfo).port}`, 'x'.repeat(32), 2000);
    const router = new Router<RequestState>();
    router.get('/call', async (ctx) => {
      const answer = await upstream.request(ctx.state.requestId, 'GET', '/');
      ctx.body = answer.data;
    });
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
    const app = createService(router, pino({ level: 'info' }, sink).child({ component: 'front' }));
    front = http.createServer(app.callback());
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
    frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  });

  after(async function () {
    await upstream.close();
    front.close();
    backend.close();
  });

  it('a well-formed traceparent (and tracestate) reaches the backend unchanged; the log line names its trace id', async function () {
    const res = await fetch(`${frontUrl}/call`, { headers: { traceparent: TRACEPARENT, tracestate: 'vendor=abc', 'x-request-id': 'trace-test-0001' } });
    expect(res.status).to.equal(200);
    const got = seen.at(-1)!;
    expect(got.traceparent).to.equal(TRACEPARENT);
    expect(got.tracestate).to.equal('vendor=abc');
    expect(got['x-request-id']).to.equal('trace-test-0001');
    const line = lines.find((l) => l.reqId === 'trace-test-0001' && l.msg === 'request');
    expect(line).to.include({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
  });

  it('a malformed or absent traceparent passes nothing, and nothing stays held after the request', async function () {
    for (const traceparent of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'garbage', undefined]) {
      const headers: Record<string, string> = { 'x-request-id': 'trace-test-0002' };
      if (traceparent) headers.traceparent = traceparent;
      expect((await fetch(`${frontUrl}/call`, { headers })).status).to.equal(200);
      expect(seen.at(-1)!.traceparent, String(traceparent)).to.equal(undefined);
    }
    // The earlier request's context was released at its end: a later call under its id sends none.
    expect((await fetch(`${frontUrl}/call`, { headers: { 'x-request-id': 'trace-test-0001' } })).status).to.equal(200);
    expect(seen.at(-1)!.traceparent).to.equal(undefined);
  });
});
