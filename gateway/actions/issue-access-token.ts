import type { Context, Next } from 'koa';
import { noStore, parseJsonObject, readRawBody } from '../../common/http.ts';
import {
  checkSignatureTime, parseSignature, SignatureError, verifyContentDigest, verifySignature, type ParsedSignature,
} from '../../common/http-signature.ts';
import { audit } from '../../common/logger.ts';
import { Problem } from '../../common/problem.ts';
import { nonceKey, nowSeconds } from '../../common/tokens.ts';
import type { GatewayDeps } from '../context.ts';
import { relay } from '../upstream.ts';

const MAX_BODY = 4096;

/**
 * `POST /v1/access-tokens`: a third-party backend's signed request (RFC 9421). Checks, in order:
 * signature headers, `created` window, the app, Content-Digest, the HMAC, then the nonce (only
 * a verified request may use up a nonce), and routes to auth.
 */
export function issueAccessToken(deps: GatewayDeps) {
  const { registry, store, config, log } = deps;

  function refuse(ctx: Context, err: SignatureError | Problem, appId?: string): never {
    const reason = err instanceof SignatureError ? err.reason : err.code;
    audit(log, 'signature.rejected', { appId, reason, reqId: ctx.state.requestId });
    if (err instanceof Problem) throw err;
    throw new Problem(401, 'invalid_signature', err.message);
  }

  return [
    async function verifyRequestSignature(ctx: Context, next: Next): Promise<void> {
      const raw = await readRawBody(ctx, { limit: MAX_BODY });
      let parsed: ParsedSignature;
      try {
        parsed = parseSignature(ctx.get('signature-input') || undefined, ctx.get('signature') || undefined);
        checkSignatureTime(parsed.params, nowSeconds(), config.signatureWindowSeconds);
      } catch (err) {
        if (err instanceof SignatureError) refuse(ctx, err);
        throw err;
      }
      const appId = parsed.params.keyid;
      const app = registry.get(appId);
      if (!app) refuse(ctx, new Problem(401, 'unknown_app', 'No app is registered under this keyid.'), appId);
      try {
        verifyContentDigest(ctx.get('content-digest') || undefined, raw);
        const targetUri = (config.publicUrl ?? `${ctx.protocol}://${ctx.host}`) + ctx.originalUrl;
        verifySignature(parsed, { method: ctx.method, targetUri, headers: ctx.headers }, app.appSecret);
      } catch (err) {
        if (err instanceof SignatureError) refuse(ctx, err, appId);
        throw err;
      }
      // The nonce is remembered a little longer than the window on both sides of `created`.
      const fresh = await store.setIfAbsent(nonceKey(appId, parsed.params.nonce), '1', 2 * config.signatureWindowSeconds + 5);
      if (!fresh) refuse(ctx, new Problem(401, 'replayed_request', 'This request (its nonce) was already received.'), appId);
      ctx.state.app = app;
      ctx.state.body = parseJsonObject(ctx, raw);
      await next();
    },

    async function routeToAuth(ctx: Context): Promise<void> {
      const { userId, productId } = ctx.state.body as Record<string, unknown>;
      const answer = await deps.auth.request(ctx, 'POST', '/internal/access-tokens', {
        body: { appId: ctx.state.app.appId, userId, productId },
      });
      noStore(ctx);
      relay(ctx, answer, [201]);
    },
  ];
}
