/**
 * The gateway's calls to the services behind it (auth, product backends): undici connection pools
 * with keep-alive. This is the hot path of every exchange and product call; measured on one core,
 * an undici Pool makes about 29k requests/s where axios makes 6.6k (docs/decisions.md).
 */
import type { Context } from 'koa';
import type { Router, RouterContext, RouterMiddleware } from '@koa/router';
import { Pool } from 'undici';
import { INTERNAL_HEADER } from './body.ts';
import { isProblemBody, Problem, problemFromBody } from './problem.ts';
import { traceHeadersFor } from './trace.ts';

export interface UpstreamAnswer {
  status: number;
  data: unknown;
  /** The body as it came (JSON when not empty: `data` is its parse), for relaying it without re-serialising. */
  text?: string;
  headers: Record<string, string>;
}

export interface Upstream {
  readonly baseUrl: string;
  /**
   * `requestId` goes along as `X-Request-Id`, so one id follows a request through every service,
   * and so does the `traceparent` the request came with (platform/http/trace.ts).
   */
  request(requestId: string | undefined, method: 'GET' | 'POST', path: string, opts?: { body?: unknown; headers?: Record<string, string> }): Promise<UpstreamAnswer>;
  close(): Promise<void>;
}

/** Our services answer small JSON; a larger answer is a fault, not something to buffer. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** Creates a keep-alive client that presents the internal credential on every call. */
export function createUpstream(name: string, baseUrl: string, internalToken: string, timeoutMs: number): Upstream {
  const pool = new Pool(baseUrl, { connections: 128, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs });
  const unavailable = (err: unknown) => {
    // Only the code and message are kept: the cause is logged, and must hold no credential.
    const e = err as { code?: string; message?: string };
    const cause = new Error(`${name}: ${e?.code ?? 'error'} ${e?.message ?? ''}`.trim());
    return new Problem('upstream_unavailable', `The ${name} service did not answer; try again shortly.`, { cause, headers: { 'Retry-After': '1' } });
  };
  return {
    baseUrl,
    async request(requestId, method, path, opts = {}) {
      const headers: Record<string, string> = { [INTERNAL_HEADER]: internalToken, 'x-request-id': requestId ?? '', ...traceHeadersFor(requestId), ...opts.headers };
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
      let status: number;
      let text = '';
      let resHeaders: Record<string, string | string[] | undefined>;
      try {
        const res = await pool.request({ method, path, headers, body });
        status = res.statusCode;
        resHeaders = res.headers;
        let size = 0;
        for await (const chunk of res.body) {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            res.body.destroy();
            throw new Error('answer too large');
          }
          text += chunk.toString('utf8');
        }
      } catch (err) {
        throw unavailable(err);
      }
      let data: unknown;
      if (text) {
        try {
          data = JSON.parse(text);
        } catch {
          throw new Problem('upstream_unavailable', 'A service behind the gateway answered unexpectedly.', { status: 502, cause: new Error(`${name}: answer is not JSON`) });
        }
      }
      const out: Record<string, string> = {};
      const retryAfter = resHeaders['retry-after'];
      if (typeof retryAfter === 'string') out['Retry-After'] = retryAfter;
      return { status, data, text, headers: out };
    },
    async close() {
      await pool.close();
    },
  };
}

/**
 * Relays an upstream answer: a success as is; one of our problem bodies as that problem (its
 * code is the contract); anything else as 502, since a 5xx must never show internals.
 */
export function relay(ctx: Context, answer: UpstreamAnswer, okStatuses: readonly number[]): void {
  const data = answerData(answer, okStatuses);
  ctx.status = answer.status;
  if (answer.text && data !== undefined && data !== null) {
    // The JSON as the service wrote it (it parsed as `data`): not serialised a second time.
    ctx.type = 'application/json';
    ctx.body = answer.text;
  } else ctx.body = data;
}

/**
 * The data of a success; one of our problem bodies as that problem (its code is the contract);
 * anything else as 502, since a 5xx must never show internals.
 */
export function answerData(answer: UpstreamAnswer, okStatuses: readonly number[]): unknown {
  if (okStatuses.includes(answer.status)) return answer.data;
  // `forbidden` from a service behind us means our own credential was refused: a fault here.
  if (isProblemBody(answer.data) && answer.data.code !== 'forbidden') throw problemFromBody(answer.data, answer.headers);
  throw new Problem('upstream_unavailable', 'A service behind the gateway answered unexpectedly.', {
    status: 502,
    cause: new Error(`upstream status ${answer.status}`),
  });
}

/** A service's answer that is not what its route promises: 502, as any other unexpected answer. */
export function unexpectedAnswer(name: string, why: string): Problem {
  return new Problem('upstream_unavailable', 'A service behind the gateway answered unexpectedly.', { status: 502, cause: new Error(`${name}: ${why}`) });
}

/**
 * One internal operation of a service as an HTTP route: defined once, where the operation is, and
 * used both to mount the route on the service's router (mountInternalRoute) and to call it from
 * another process (InternalClient.call).
 */
export interface InternalRoute {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** The status of a success. */
  readonly status: number;
}

/** A service behind the gateway reached over HTTP with the internal credential (createInternalClient). */
export interface InternalClient {
  readonly name: string;
  /**
   * Calls `route` with `body` (JSON); the success's data, or throws Problem: the service's own
   * problem as it answered it (`Retry-After` kept), `upstream_unavailable` when it cannot be
   * reached or answers anything else (see relay).
   */
  call(route: InternalRoute, body: unknown, requestId: string | undefined): Promise<unknown>;
  /** Whether the service's `GET /healthz` answers 200 (for readiness); never throws. */
  live(requestId: string | undefined): Promise<boolean>;
  close(): Promise<void>;
}

/** An InternalClient over a keep-alive pool (createUpstream): same timeouts, same credential. */
export function createInternalClient(name: string, baseUrl: string, internalToken: string, timeoutMs: number): InternalClient {
  const upstream = createUpstream(name, baseUrl, internalToken, timeoutMs);
  return {
    name,
    async call(route, body, requestId) {
      const answer = await upstream.request(requestId, route.method, route.path, body === undefined ? {} : { body });
      return answerData(answer, [route.status]);
    },
    async live(requestId) {
      return upstream.request(requestId, 'GET', '/healthz').then((a) => a.status === 200, () => false);
    },
    close: () => upstream.close(),
  };
}

/**
 * Mounts `route` on a service's router behind `guard` (the internal credential): `action`'s
 * result is the answer's body, with the route's success status.
 */
export function mountInternalRoute<S>(router: Router<S>, route: InternalRoute, guard: RouterMiddleware<S>, action: (ctx: RouterContext<S>) => Promise<unknown>): void {
  const answer = async function answerInternalRoute(ctx: RouterContext<S>): Promise<void> {
    const body = await action(ctx);
    ctx.status = route.status;
    ctx.body = body;
  };
  if (route.method === 'GET') router.get(route.path, guard, answer);
  else router.post(route.path, guard, answer);
}
