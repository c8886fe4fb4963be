/** One autocannon run against 127.0.0.1, bounded in time, summarised. */
import autocannon from 'autocannon';

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
  seconds: number;
}

export interface LoadOptions {
  url: string;
  seconds: number;
  connections?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Builds each request (a fresh signature, the next envelope, …). */
  next?: () => { headers?: Record<string, string>; body?: string };
}

export async function load(opts: LoadOptions): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:/.test(opts.url)) throw new Error('load tests send traffic to 127.0.0.1 only');
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections ?? 50,
    duration: opts.seconds,
    method: opts.method ?? 'GET',
    headers: opts.headers,
    body: opts.body,
    requests: opts.next
      ? [{
          setupRequest: (req: any) => {
            const n = opts.next!();
            return { ...req, headers: { ...req.headers, ...n.headers }, body: n.body ?? req.body };
          },
        }]
      : undefined,
  } as autocannon.Options);
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    requests: result.requests.total,
    seconds: opts.seconds,
  };
}
