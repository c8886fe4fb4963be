import Koa from 'koa';
import type { AppRouter, RequestState } from './state.ts';
import type { Logger } from 'pino';
import { apiSecurityHeaders } from './body.ts';
import { requestLog } from '../log/logger.ts';
import { Problem, problemHandler } from './problem.ts';
import { MAX_URL_LENGTH } from './server.ts';
import { requestMetrics } from './metrics.ts';

/**
 * Every service's Koa app has the same outer layers, in this order: a request id and one log
 * line per request, its metrics (platform/http/metrics.ts), problem+json for every error, a URL length limit, API security headers (not for HTML pages,
 * which set their own CSP), then the routes and 405 answers that name the allowed methods.
 */
export function createService(router: AppRouter, log: Logger, opts: { apiHeaders?: boolean } = {}): Koa<RequestState> {
  const app = new Koa<RequestState>();
  app.use(requestLog(log));
  // The component the logger is bound to (`log.child({ component })`) names the series.
  app.use(requestMetrics(String(log.bindings().component ?? 'service')));
  app.use(problemHandler(log));
  app.use(async function limitUrlLength(ctx, next) {
    if (ctx.originalUrl.length > MAX_URL_LENGTH) throw new Problem('uri_too_long', `The request URL may be at most ${MAX_URL_LENGTH} characters.`);
    await next();
  });
  if (opts.apiHeaders ?? true) app.use(apiSecurityHeaders);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
