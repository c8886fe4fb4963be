import type { Context } from 'koa';

/**
 * True when the client of `ctx` is gone: its connection was closed or reset, so no answer can
 * reach it any more. (`req.aborted` is not enough: it stays false once the body was read; `req.destroyed` is true
 * once the body was read whole, with the connection still open.)
 */
export function clientGone(ctx: Pick<Context, 'req' | 'res'>): boolean {
  return ctx.req.socket.destroyed || ctx.res.destroyed;
}
