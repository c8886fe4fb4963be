import Koa from 'koa';
import type { Router, RouterContext, RouterMiddleware } from '@koa/router';
import type { Logger } from 'pino';
import { apiSecurityHeaders } from './body.ts';
import { requestLog } from '../log/logger.ts';
import { Problem, problemHandler } from './problem.ts';
import { MAX_URL_LENGTH } from './server.ts';

/**
 * What every request's `ctx.state` holds in every app of ours (set by requestLog, the outermost
 * layer). A route's own middleware add their keys with a state type of their own that extends
 * this one, declared where those keys are set (e.g. flows/access-token/public.ts IssuanceState).
 */
export interface RequestState {
  /** The request's id (a well-formed incoming `X-Request-Id`, or a new one), echoed and logged. */
  requestId: string;
}

/** A route's context, with the request state `S`. */
export type RequestContext<S extends RequestState = RequestState> = RouterContext<S>;
/** A route's middleware, with the request state `S`. */
export type RequestMiddleware<S extends RequestState = RequestState> = RouterMiddleware<S>;
/** A router of one of our apps. */
export type AppRouter = Router<RequestState>;

/**
 * Every service's Koa app has the same outer layers, in this order: a request id and one log
 * line per request, problem+json for every error, a URL length limit, API security headers (not for HTML pages,
 * which set their own CSP), then the routes and 405 answers that name the allowed methods.
 */
export function createService(router: AppRouter, log: Logger, opts: { apiHeaders?: boolean } = {}): Koa<RequestState> {
  const app = new Koa<RequestState>();
  app.use(requestLog(log));
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
