/**
 * The HTTP server every component listens with: bounded header size (every header line read:
 * none is dropped), header and request times, and RFC 9457 answers for the requests Node refuses
 * before any Koa middleware sees them (oversized headers, a malformed request line or framing, a
 * request that is too slow, a missing or repeated Host).
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Problem, SECURITY_HEADERS } from './problem.ts';

/** Ceiling on the request line plus all header lines (bytes); Node's default, set explicitly. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Ceiling on the request target (path and query); every URL we serve is far shorter. */
export const MAX_URL_LENGTH = 2048;
/** How long a client may take to send its headers (ms). */
const HEADERS_TIMEOUT_MS = 10_000;
/** How long a client may take to send its whole request (ms). */
const REQUEST_TIMEOUT_MS = 30_000;

/** The problem for an error Node's HTTP parser raised, by its code. */
function problemForClientError(err: NodeJS.ErrnoException): Problem {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new Problem('headers_too_large', `The request line and headers may be at most ${MAX_HEADER_BYTES} bytes.`);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new Problem('request_timeout', 'The request was not received in time.');
    default:
      return new Problem('invalid_request', 'The request is not valid HTTP.');
  }
}

/** A complete HTTP/1.1 problem+json answer, closing the connection (the parser's state is lost). */
function rawProblemResponse(problem: Problem): string {
  const body = JSON.stringify(problem.toJSON());
  return [
    `HTTP/1.1 ${problem.status} ${http.STATUS_CODES[problem.status] ?? 'Error'}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    ...Object.entries(SECURITY_HEADERS).map(([k, v]) => `${k}: ${v}`),
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Answers what Node's parser refused with our problem body instead of Node's empty one. A socket
 * that is gone, or that already carries an answer, is only destroyed.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const s = socket as Duplex & { _httpMessage?: { headersSent?: boolean } };
  if (err.code === 'ECONNRESET' || !socket.writable || s._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  socket.end(rawProblemResponse(problemForClientError(err)));
}

/**
 * Why a request's Host is not usable, or undefined when it is: an HTTP/1.1 request must carry
 * exactly one Host line (RFC 9112 section 3.2); Node keeps only the first of several, silently.
 */
function hostRefusal(req: http.IncomingMessage): string | undefined {
  let lines = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === 'host') lines++;
  if (lines > 1) return 'The request has more than one Host header.';
  if (lines === 0 && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) return 'An HTTP/1.1 request needs a Host header.';
  return undefined;
}

/**
 * Answers a request whose Host is missing or repeated with 400 invalid_request as problem+json
 * (the security headers, no-store, Connection: close) before any other `request` listener (the
 * drain, the app) sees it. Node offers no hook between its parser and the listeners, so the
 * server's emit is wrapped for the one event.
 */
function refuseAmbiguousHost(server: http.Server): void {
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = function (event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request') {
      const [req, res] = args as [http.IncomingMessage, http.ServerResponse];
      const reason = hostRefusal(req);
      if (reason !== undefined) {
        const problem = new Problem('invalid_request', reason);
        const body = JSON.stringify(problem.toJSON());
        res.shouldKeepAlive = false;
        res.writeHead(problem.status, {
          'Content-Type': 'application/problem+json',
          'Content-Length': Buffer.byteLength(body),
          'Cache-Control': 'no-store',
          ...SECURITY_HEADERS,
          Connection: 'close',
        });
        res.end(body);
        // The body, if any, is not read: the connection closes after the answer.
        req.resume();
        return true;
      }
    }
    return emit(event, ...args);
  } as typeof server.emit;
}

export interface HttpServerOptions {
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** How often Node looks for requests past their timeouts (ms); its default is 30 s. */
  checkIntervalMs?: number;
}

/**
 * How long a connection accepted just before the stop may take to send its first request (ms):
 * its bytes are usually already in the socket buffer, only not read yet.
 */
const FIRST_REQUEST_GRACE_MS = 500;

interface Drain {
  stopAccepting(): Promise<void>;
  finish(deadline: number): Promise<void>;
}

/** The drain of each server createHttpServer made (it must see every connection from the start). */
const drains = new WeakMap<http.Server, Drain>();

/** Whether the server of each answer in flight is stopping, and what to call when it starts to. */
const answerStops = new WeakMap<http.ServerResponse, { stopping: () => boolean; hooks: Set<() => void> }>();

/**
 * Calls `fn` once when the server answering `res` starts its graceful stop (at once when it
 * already has): for answers that never end by themselves, such as a held event stream, which
 * would otherwise keep the drain waiting until its deadline. Answers the function that forgets it.
 */
export function onServerStopping(res: http.ServerResponse, fn: () => void): () => void {
  const entry = answerStops.get(res);
  if (!entry) return () => {};
  if (entry.stopping()) {
    queueMicrotask(fn);
    return () => {};
  }
  entry.hooks.add(fn);
  return () => entry.hooks.delete(fn);
}

/**
 * A graceful stop for one HTTP server, prepared at its creation. Node's `server.close()` resets
 * the connections still waiting in the listen backlog and destroys every connection without a
 * request in progress, among them ones accepted a moment before with a whole request in their
 * buffer, not read yet: clients would get a reset for requests they sent before the stop. So the
 * drain accepts the backlog, then closes the listener only (new connections are refused), lets
 * each connection finish its request in flight, gives one that has not sent a request yet
 * FIRST_REQUEST_GRACE_MS to do so, marks every answer `Connection: close` (a keep-alive client
 * neither sends another request on it nor holds the close open for the keep-alive timeout), and
 * cuts what is left at the deadline.
 */
function prepareDrain(server: http.Server): Drain {
  const connections = new Map<net.Socket, { accepted: number; requests: number; inFlight: number }>();
  const answers = new Set<http.ServerResponse>();
  let stopping = false;
  let acceptedTotal = 0;
  server.on('connection', (socket: net.Socket) => {
    acceptedTotal++;
    connections.set(socket, { accepted: Date.now(), requests: 0, inFlight: 0 });
    socket.once('close', () => connections.delete(socket));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const conn = connections.get(req.socket);
    if (conn) {
      conn.requests++;
      conn.inFlight++;
    }
    answers.add(res);
    answerStops.set(res, { stopping: () => stopping, hooks: new Set() });
    if (stopping) res.setHeader('Connection', 'close');
    res.once('close', () => {
      answers.delete(res);
      answerStops.delete(res);
      if (conn) conn.inFlight--;
    });
  });
  let closed: Promise<void> | undefined;
  return {
    async stopAccepting() {
      if (closed) return;
      // Connections the kernel completed before the stop wait in the listen backlog, and closing
      // the listener would reset them; libuv accepts about one per turn of the event loop, so turn
      // it until three turns in a row accept none (bounded).
      const until = Date.now() + 1000;
      for (let quiet = 0; quiet < 3 && Date.now() < until && server.listening; ) {
        const before = acceptedTotal;
        await new Promise((resolve) => setTimeout(resolve, 0));
        quiet = acceptedTotal === before ? quiet + 1 : 0;
      }
      stopping = true;
      for (const res of answers) if (!res.headersSent) res.setHeader('Connection', 'close');
      for (const res of answers) {
        const hooks = answerStops.get(res)?.hooks;
        if (!hooks) continue;
        for (const fn of [...hooks]) fn();
        hooks.clear();
      }
      // net.Server's close, not http.Server's: the latter would destroy the idle connections at once.
      closed = server.listening
        ? new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()))
        : Promise.resolve();
    },
    async finish(deadline) {
      const sweep = setInterval(() => {
        const now = Date.now();
        for (const [socket, conn] of connections) {
          const waitingForFirst = conn.requests === 0 && now - conn.accepted < FIRST_REQUEST_GRACE_MS;
          // end(), not destroy(): an answer still in the socket's buffer goes out first.
          if (now >= deadline) socket.destroy();
          else if (conn.inFlight === 0 && !waitingForFirst) socket.end();
        }
      }, 20);
      await closed;
      clearInterval(sweep);
    },
  };
}

/**
 * Stops `servers` accepting (new connections are refused from the moment `onClosed` is called) and
 * drains them until `deadline` at the latest: see prepareDrain.
 */
export async function drainServers(servers: readonly http.Server[], deadline: number, onClosed?: () => void): Promise<void> {
  const own = servers.map((server) => drains.get(server) ?? prepareDrain(server));
  await Promise.all(own.map((d) => d.stopAccepting()));
  onClosed?.();
  await Promise.all(own.map((d) => d.finish(deadline)));
}

/** An http.Server with these limits and a graceful stop (drainServers); the caller attaches the app and listens. */
export function createHttpServer(opts: HttpServerOptions = {}): http.Server {
  const server = http.createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    // Bounded header and request times: a slow client cannot hold a socket for ever.
    headersTimeout: opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
    requestTimeout: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: opts.checkIntervalMs ?? 1000,
    // Node answers an HTTP/1.1 request without Host with a bare 400 (no body, no security
    // headers) before any listener sees it; refuseAmbiguousHost answers it as problem+json.
    requireHostHeader: false,
  });
  // No count of header lines below the byte ceiling: Node drops every line past maxHeadersCount
  // without a word (its default is 2000, fewer than 16 KiB of short lines), and a trusted proxy
  // appends its X-Forwarded-For or the operator's header last. 0 = every line is read; the
  // MAX_HEADER_BYTES ceiling bounds how many there can be (431 headers_too_large beyond it).
  server.maxHeadersCount = 0;
  server.on('clientError', answerClientError);
  refuseAmbiguousHost(server);
  drains.set(server, prepareDrain(server));
  return server;
}

/**
 * What a server answers before its app is attached (createHttpServer's callers bind every port
 * first, so that ports 0 work, and build the apps after): 503 `starting` with `Retry-After: 1`,
 * so that a connection accepted in between gets an answer at once rather than waiting for an app.
 */
export function answerStarting(_req: http.IncomingMessage, res: http.ServerResponse): void {
  const problem = new Problem('starting', 'The service is starting; try again in a moment.', { headers: { 'Retry-After': '1' } });
  const body = JSON.stringify(problem.toJSON());
  res.writeHead(problem.status, {
    ...SECURITY_HEADERS,
    ...problem.headers,
    'Content-Type': 'application/problem+json',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/**
 * Answers every request on `server` with `starting` until the returned function attaches the
 * real handler in its place (one handler at a time: no request is answered twice).
 */
export function serveStartingUntilAttached(server: http.Server): (handler: http.RequestListener) => void {
  server.on('request', answerStarting);
  return (handler) => {
    server.off('request', answerStarting);
    server.on('request', handler);
  };
}
