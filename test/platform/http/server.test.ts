/**
 * The HTTP server's framing over raw sockets: no header line is ever dropped, and every framing
 * refusal (a missing or repeated Host, bad chunked encoding, control characters in a header,
 * Content-Length with Transfer-Encoding) is problem+json with the security headers, never Node's
 * bare answer.
 */
import { expect } from 'chai';
import net from 'node:net';
import { pino } from 'pino';
import { createHttpServer, MAX_HEADER_BYTES } from '../../../platform/http/server.ts';
import { createRegistry } from '../../../flows/apps/registry.ts';
import { MemoryStore } from '../../../platform/store/index.ts';
import { startSystem, type RunningSystem } from '../../../system/start.ts';
import { testConfig, testKeys } from '../../support/system.ts';

interface RawAnswer { status: number; head: string; headers: Record<string, string>; body: string }

/** Sends `request` as raw bytes and returns the first answer; the server closes the socket. */
function rawRequest(port: number, request: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const cut = text.indexOf('\r\n\r\n');
      const head = cut === -1 ? text : text.slice(0, cut);
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(head.split(' ')[1]), head, headers, body: cut === -1 ? '' : text.slice(cut + 4) });
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
}

/** A refusal of ours: the status and code, problem+json, the security headers, no-store, closed. */
function expectProblem(res: RawAnswer, status: number, code: string) {
  expect(res.status, res.head).to.equal(status);
  expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
  expect(res.headers['x-content-type-options']).to.equal('nosniff');
  expect(res.headers['referrer-policy']).to.equal('no-referrer');
  expect(res.headers['content-security-policy']).to.equal("default-src 'none'; frame-ancestors 'none'");
  expect(res.headers['cache-control']).to.equal('no-store');
  expect(res.headers.connection).to.equal('close');
  const body = JSON.parse(res.body);
  expect(body).to.include({ status, code });
  expect(body.type).to.match(new RegExp(`${code}$`));
}

describe('HTTP server: every header line is read', function () {
  let server: ReturnType<typeof createHttpServer>;
  let port: number;
  before(async function () {
    server = createHttpServer();
    // Answers the number of header lines it saw and the value of X-Last.
    server.on('request', (req, res) => res.end(JSON.stringify({ lines: req.rawHeaders.length / 2, last: req.headers['x-last'] ?? null })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(function () {
    server?.close();
  });

  /** A GET with Host, `pad` padding lines, then `X-Last: seen`, closing the connection. */
  const padded = (pad: number, width = 1) =>
    `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${Array.from({ length: pad }, (_, i) => `p${i}:${'a'.repeat(width)}\r\n`).join('')}X-Last: seen\r\n\r\n`;

  // Failed before the fix: maxHeadersCount = 100 dropped the 101st line, so `last` was null.
  it('the 101st line is read, not dropped', async function () {
    const res = await rawRequest(port, padded(98));
    expect(res.status).to.equal(200);
    expect(JSON.parse(res.body)).to.deep.equal({ lines: 101, last: 'seen' });
  });

  it('so is the last of as many short lines as fit in the byte ceiling (more than Node\'s default count of 2000)', async function () {
    // `xx:a\r\n` is 6 bytes: about 2700 lines fit under MAX_HEADER_BYTES.
    const lines = Math.floor((MAX_HEADER_BYTES - 200) / 8);
    const request = `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${Array.from({ length: lines }, (_, i) => `${(i % 1296).toString(36).padStart(2, '0')}:a\r\n`).join('')}X-Last: seen\r\n\r\n`;
    expect(Buffer.byteLength(request)).to.be.below(MAX_HEADER_BYTES);
    expect(lines).to.be.above(2000);
    const res = await rawRequest(port, request);
    expect(res.status, res.head).to.equal(200);
    expect(JSON.parse(res.body)).to.deep.equal({ lines: lines + 3, last: 'seen' });
  });

  it('past the byte ceiling the request is refused (431 headers_too_large), never cut short', async function () {
    expectProblem(await rawRequest(port, padded(MAX_HEADER_BYTES / 8, 4)), 431, 'headers_too_large');
  });
});

describe('HTTP server: framing refusals are problem+json with the security headers', function () {
  let system: RunningSystem;
  let store: MemoryStore;
  let port: number;
  before(async function () {
    store = new MemoryStore();
    system = await startSystem(testConfig(), {
      components: ['auth', 'gateway'], store, registry: createRegistry({ apps: [] }), keys: testKeys(), log: pino({ level: 'silent' }),
    });
    port = Number(new URL(system.urls.gateway).port);
  });
  after(async function () {
    await system?.close(0);
    await store?.close();
  });

  // Failed before the fix: Node answered `HTTP/1.1 400 Bad Request` with no body and no headers of ours.
  it('an HTTP/1.1 request without Host: 400 invalid_request', async function () {
    const res = await rawRequest(port, 'GET /healthz HTTP/1.1\r\n\r\n');
    expectProblem(res, 400, 'invalid_request');
    expect(JSON.parse(res.body).detail).to.match(/Host/);
  });

  it('two Host lines: 400 invalid_request (Node would keep the first)', async function () {
    const res = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
    expectProblem(res, 400, 'invalid_request');
    expect(JSON.parse(res.body).detail).to.match(/more than one Host/);
  });

  it('a request with Host, and an HTTP/1.0 one without, are served', async function () {
    expect((await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status).to.equal(200);
    expect((await rawRequest(port, 'GET /healthz HTTP/1.0\r\n\r\n')).status).to.equal(200);
  });

  const post = (headers: string, body: string) => `POST /v1/access-tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;
  const refusals: Record<string, string | Buffer> = {
    'bad chunked encoding (a chunk size that is not hex)': post('Transfer-Encoding: chunked\r\n', 'zz\r\n{}\r\n0\r\n\r\n'),
    'bad chunked encoding (a chunk longer than its size)': post('Transfer-Encoding: chunked\r\n', '2\r\n{"a":1}\r\n0\r\n\r\n'),
    'Content-Length and Transfer-Encoding together': post('Content-Length: 2\r\nTransfer-Encoding: chunked\r\n', '2\r\n{}\r\n0\r\n\r\n'),
    'two different Content-Length values': post('Content-Length: 2\r\nContent-Length: 3\r\n', '{} '),
    'a header value with a NUL': Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n', 'latin1'),
    'a header with a bare CR': 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n',
    'a header line without a colon': 'GET /healthz HTTP/1.1\r\nHost: x\r\nNo-Colon-Here\r\n\r\n',
    'a space before the colon': 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n',
    'an unknown Transfer-Encoding': post('Transfer-Encoding: gzip\r\n', '{}'),
  };
  for (const [name, request] of Object.entries(refusals)) {
    it(`${name}: 400 invalid_request`, async function () {
      expectProblem(await rawRequest(port, request), 400, 'invalid_request');
    });
  }
});
