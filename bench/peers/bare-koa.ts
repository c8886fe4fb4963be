/** Reference: bare Koa + @koa/router serving the same product JSON, no checks at all. */
import Koa from 'koa';
import Router from '@koa/router';
import { findProduct } from '../../h5/products.ts';

const app = new Koa();
const router = new Router();
router.get('/v1/products/:productId', async (ctx) => {
  ctx.body = { ...findProduct(ctx.params.productId ?? ''), viewer: { userId: 'alice', appId: 'demo-app' } };
});
app.use(router.routes());
app.listen(Number(process.env.PORT), '127.0.0.1');
