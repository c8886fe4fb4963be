/**
 * Each service's request series (platform/metrics): the time of every request by component, method,
 * route (the router's pattern, never the path: ids stay out of the labels) and status, and every
 * problem answered, by its `code` (docs/metrics.md).
 */
import type { Next, ParameterizedContext } from 'koa';
import type { RequestState } from './state.ts';
import { counter, histogram } from '../metrics/index.ts';

const requestSeconds = histogram('broker_http_request_duration_seconds', 'Time of one HTTP request, by component, method, route and status', ['component', 'method', 'route', 'status']);
const problems = counter('broker_http_problems_total', 'Problems (RFC 9457) answered, by component, route and code', ['component', 'route', 'code']);

/** The router's pattern of the route that answered, or `unmatched`. */
function routeOf(ctx: ParameterizedContext<RequestState>): string {
  const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
  return typeof matched === 'string' ? matched : 'unmatched';
}

/** Counts and times each request of `component`; outside the problem handler, so it sees the answer sent. */
export function requestMetrics(component: string) {
  return async function measureRequest(ctx: ParameterizedContext<RequestState>, next: Next): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = routeOf(ctx);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      requestSeconds.observe({ component, method: ctx.method, route, status: String(ctx.status) }, seconds);
      const code = ctx.state.problemCode;
      if (code !== undefined) problems.inc({ component, route, code });
    }
  };
}
