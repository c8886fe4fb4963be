/** The typed per-request state of every app of ours (Koa's `ctx.state`), and the route types over it. */
import type { Router, RouterContext, RouterMiddleware } from '@koa/router';

/**
 * What every request's `ctx.state` holds in every app of ours (set by requestLog, the outermost
 * layer). A route's own middleware add their keys with a state type of their own that extends
 * this one, declared where those keys are set (e.g. flows/access-token/public.ts IssuanceState).
 */
export interface RequestState {
  /** The request's id (a well-formed incoming `X-Request-Id`, or a new one), echoed and logged. */
  requestId: string;
  /** The `code` of the problem answered, once one is (platform/http/problem.ts sendProblem). */
  problemCode?: string;
}

/** A route's context, with the request state `S`. */
export type RequestContext<S extends RequestState = RequestState> = RouterContext<S>;
/** A route's middleware, with the request state `S`. */
export type RequestMiddleware<S extends RequestState = RequestState> = RouterMiddleware<S>;
/** A router of one of our apps. */
export type AppRouter = Router<RequestState>;
