import type { Context } from 'koa';
import { encryptCompact } from '../../common/jwe.ts';
import { audit } from '../../common/logger.ts';
import { field, noStore, readJsonBody } from '../../common/http.ts';
import { Problem } from '../../common/problem.ts';
import { atKey, newOpaqueToken, nowSeconds, tokenHash, type AccessTokenRecord } from '../../common/tokens.ts';
import type { AuthDeps } from '../context.ts';

export const USER_ID_RE = /^[\x21-\x7e]{1,128}$/;
export const PRODUCT_ID_RE = /^[a-z0-9-]{1,64}$/;
const APP_ID_RE = /^[A-Za-z0-9._-]{3,64}$/;

/**
 * `POST /internal/access-tokens` (from the gateway, after it verified the app's signature):
 * issues a single-use AT and returns it as a JWE only the app can open.
 */
export function issueAccessToken(deps: AuthDeps) {
  const { store, registry, config, log } = deps;
  return [
    async function issueAccessTokenAction(ctx: Context): Promise<void> {
      const { body } = await readJsonBody(ctx, { limit: 4096 });
      const appId = field(body, 'appId', APP_ID_RE);
      const userId = field(body, 'userId', USER_ID_RE, '"userId" must be 1-128 visible ASCII characters.');
      const productId = field(body, 'productId', PRODUCT_ID_RE, '"productId" must be a product id.');
      const app = registry.get(appId);
      if (!app) throw new Problem(401, 'unknown_app', 'No app is registered under this id.');
      if (!app.products.includes(productId)) throw new Problem(403, 'forbidden_product', `The app may not open product "${productId}".`);

      const at = newOpaqueToken();
      const exp = nowSeconds() + config.atTtlSeconds;
      const record: AccessTokenRecord = { typ: 'at', appId, userId, productId, exp };
      // NX: an AT is written once; a collision of 256 random bits would be a broken RNG, not luck.
      if (!(await store.setIfAbsent(atKey(tokenHash(at)), JSON.stringify(record), config.atTtlSeconds))) {
        throw new Problem(500, 'internal_error', undefined, { cause: new Error('AT collision') });
      }
      const plaintext = JSON.stringify({ at, productId, userId, exp });
      const accessToken = app.encKey
        ? encryptCompact({ header: { alg: 'A256KW', enc: 'A256GCM' }, plaintext, key: app.encKey })
        : encryptCompact({ header: { alg: 'RSA-OAEP-256', enc: 'A256GCM' }, plaintext, key: app.publicKey! });
      audit(log, 'at.issued', { appId, productId, userId, reqId: ctx.state.requestId });
      noStore(ctx);
      ctx.status = 201;
      ctx.body = { accessToken, expiresIn: config.atTtlSeconds };
    },
  ];
}
