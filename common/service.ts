import Koa from 'koa';
import type Router from '@koa/router';
import type { Logger } from 'pino';
import { apiSecurityHeaders } from './http.ts';
import { requestLog } from './logger.ts';
import { problemHandler } from './problem.ts';

/**
 * Every service's Koa app has the same outer layers, in this order: a request id and one log
 * line per request, problem+json for every error, API security headers (not for HTML pages,
 * which set their own CSP), then the routes and 405 answers that name the allowed methods.
 */
export function createService(router: Router, log: Logger, opts: { apiHeaders?: boolean } = {}): Koa {
  const app = new Koa();
  app.use(requestLog(log));
  app.use(problemHandler(log));
  if (opts.apiHeaders ?? true) app.use(apiSecurityHeaders);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
