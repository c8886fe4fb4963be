/** The gateway's calls to the services behind it (auth, product backends), with axios. */
import http from 'node:http';
import axios, { type AxiosInstance } from 'axios';
import type { Context } from 'koa';
import { INTERNAL_HEADER } from '../common/http.ts';
import { isProblemBody, Problem, problemFromBody } from '../common/problem.ts';

export interface UpstreamAnswer {
  status: number;
  data: unknown;
  headers: Record<string, string>;
}

export interface Upstream {
  readonly baseUrl: string;
  request(ctx: Context, method: 'GET' | 'POST', path: string, opts?: { body?: unknown; headers?: Record<string, string> }): Promise<UpstreamAnswer>;
  close(): void;
}

/** Creates a keep-alive client that presents the internal credential on every call. */
export function createUpstream(name: string, baseUrl: string, internalToken: string, timeoutMs: number): Upstream {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const client: AxiosInstance = axios.create({
    baseURL: baseUrl,
    timeout: timeoutMs,
    httpAgent: agent,
    maxRedirects: 0,
    validateStatus: () => true,
    headers: { [INTERNAL_HEADER]: internalToken },
    // Our services answer small JSON; a larger answer is a fault, not something to buffer.
    maxContentLength: 1024 * 1024,
    proxy: false,
  });
  return {
    baseUrl,
    async request(ctx, method, path, opts = {}) {
      let res;
      try {
        res = await client.request({
          method,
          url: path,
          data: opts.body,
          headers: { 'x-request-id': String(ctx.state.requestId ?? ''), ...opts.headers },
        });
      } catch (err) {
        // Only the code and message are kept: an axios error carries the request config, whose
        // headers hold the internal credential, and the cause is logged.
        const e = err as { code?: string; message?: string };
        const cause = new Error(`${name}: ${e.code ?? 'error'} ${e.message ?? ''}`.trim());
        throw new Problem(503, 'upstream_unavailable', `The ${name} service did not answer; try again shortly.`, { cause, headers: { 'Retry-After': '1' } });
      }
      const headers: Record<string, string> = {};
      const retryAfter = res.headers['retry-after'];
      if (typeof retryAfter === 'string') headers['Retry-After'] = retryAfter;
      return { status: res.status, data: res.data, headers };
    },
    close() {
      agent.destroy();
    },
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
  throw new Problem(502, 'upstream_unavailable', 'A service behind the gateway answered unexpectedly.', {
    cause: new Error(`upstream status ${answer.status}`),
  });
}
