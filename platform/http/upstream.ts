/**
 * The gateway's calls to the services behind it (auth, product backends): undici connection pools
 * with keep-alive. This is the hot path of every exchange and product call; measured on one core,
 * an undici Pool makes about 29k requests/s where axios makes 6.6k (docs/decisions.md).
 */
import type { Context } from 'koa';
import { Pool } from 'undici';
import { INTERNAL_HEADER } from './body.ts';
import { isProblemBody, Problem, problemFromBody } from './problem.ts';

export interface UpstreamAnswer {
  status: number;
  data: unknown;
  headers: Record<string, string>;
}

export interface Upstream {
  readonly baseUrl: string;
  request(ctx: Context, method: 'GET' | 'POST', path: string, opts?: { body?: unknown; headers?: Record<string, string> }): Promise<UpstreamAnswer>;
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
    async request(ctx, method, path, opts = {}) {
      const headers: Record<string, string> = { [INTERNAL_HEADER]: internalToken, 'x-request-id': String(ctx.state.requestId ?? ''), ...opts.headers };
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
      return { status, data, headers: out };
    },
    async close() {
      await pool.close();
    },
  };
}

/** One operation of a service in this process, answering as its HTTP route would. */
export type LocalRoute = (ctx: Context, body: unknown) => Promise<UpstreamAnswer>;

/**
 * An Upstream for a service that runs in this same process: `METHOD path` calls a function
 * instead of making an HTTP request, so nothing is serialised, sent or parsed twice. A Problem
 * the function throws reaches the caller as it is, as a relayed problem answer would.
 */
export function createLocalUpstream(name: string, routes: Readonly<Record<string, LocalRoute>>): Upstream {
  return {
    baseUrl: `local:${name}`,
    async request(ctx, method, path, opts = {}) {
      const route = routes[`${method} ${path}`];
      if (!route) throw new Problem('upstream_unavailable', 'A service behind the gateway answered unexpectedly.', { status: 502, cause: new Error(`${name}: no local route ${method} ${path}`) });
      return route(ctx, opts.body);
    },
    async close() {},
  };
}

/**
 * Relays an upstream answer: a success as is; one of our problem bodies as that problem (its
 * code is the contract); anything else as 502, since a 5xx must never show internals.
 */
export function relay(ctx: Context, answer: UpstreamAnswer, okStatuses: readonly number[]): void {
  if (okStatuses.includes(answer.status)) {
    ctx.status = answer.status;
    ctx.body = answer.data;
    return;
  }
  // `forbidden` from a service behind us means our own credential was refused: a fault here.
  if (isProblemBody(answer.data) && answer.data.code !== 'forbidden') throw problemFromBody(answer.data, answer.headers);
  throw new Problem('upstream_unavailable', 'A service behind the gateway answered unexpectedly.', {
    status: 502,
    cause: new Error(`upstream status ${answer.status}`),
  });
}
