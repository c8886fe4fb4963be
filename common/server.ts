/**
 * The HTTP server every component listens with: bounded header size, header and request times,
 * and RFC 9457 answers for the requests Node refuses before any Koa middleware sees them
 * (oversized headers, a malformed request line, a request that is too slow).
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { Problem, SECURITY_HEADERS } from './problem.ts';

/** Ceiling on the request line plus all header lines (bytes); Node's default, set explicitly. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Ceiling on the request target (path and query); every URL of the broker is far shorter. */
export const MAX_URL_LENGTH = 2048;
/** How long a client may take to send its headers (ms). */
const HEADERS_TIMEOUT_MS = 10_000;
/** How long a client may take to send its whole request (ms). */
const REQUEST_TIMEOUT_MS = 30_000;

/** The problem for an error Node's HTTP parser raised, by its code. */
function problemForClientError(err: NodeJS.ErrnoException): Problem {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new Problem(431, 'headers_too_large', `The request line and headers may be at most ${MAX_HEADER_BYTES} bytes.`);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new Problem(408, 'request_timeout', 'The request was not received in time.');
    default:
      return new Problem(400, 'invalid_request', 'The request is not valid HTTP.');
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

export interface HttpServerOptions {
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** How often Node looks for requests past their timeouts (ms); its default is 30 s. */
  checkIntervalMs?: number;
}

/** An http.Server with the broker's limits; the caller attaches the app and listens. */
export function createHttpServer(opts: HttpServerOptions = {}): http.Server {
  const server = http.createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    // Bounded header and request times: a slow client cannot hold a socket for ever.
    headersTimeout: opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
    requestTimeout: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: opts.checkIntervalMs ?? 1000,
  });
  server.maxHeadersCount = 100;
  server.on('clientError', answerClientError);
  return server;
}
