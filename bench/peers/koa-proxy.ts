/**
 * Reference: bare Koa + @koa/router + an undici Pool, forwarding `GET /v1/products/:productId` to
 * the same product backend the gateway calls, with no checks at all: the bearer token goes on as
 * the VT header, the identity headers are the fixed bench user's. This is the limit of a proxied
 * product call: one Koa hop and one keep-alive HTTP call, with nothing verified on the way.
 */
import Koa from 'koa';
import Router from '@koa/router';
import { Pool } from 'undici';

const backend = process.env.BENCH_BACKEND_URL!;
const internalToken = process.env.INTERNAL_TOKEN!;
// The bench's one user (bench/run.ts USER), as bare-koa.ts answers for.
const [appId, userId] = ['demo-app', 'alice'];
// The same pool settings as the gateway's upstream (platform/http/upstream.ts).
const pool = new Pool(backend, { connections: 128 });

const app = new Koa();
const router = new Router();
router.get('/v1/products/:productId', async (ctx) => {
  const productId = ctx.params.productId ?? '';
  const res = await pool.request({
    method: 'GET',
    path: `/products/${encodeURIComponent(productId)}`,
    headers: {
      'x-broker-internal': internalToken, 'x-request-id': '',
      'x-broker-app': appId, 'x-broker-user': userId, 'x-broker-product': productId,
      'x-broker-vt': (ctx.get('authorization') || '').replace(/^Bearer /, ''),
    },
  });
  ctx.status = res.statusCode;
  ctx.type = 'application/json';
  ctx.body = await res.body.text();
});
app.use(router.routes());
app.listen(Number(process.env.PORT), '127.0.0.1');
