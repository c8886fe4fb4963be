import { randomBytes } from 'node:crypto';
import type { Next } from 'koa';
import { createNetworkList, resolveClientAddress } from '../../platform/net/client-address.ts';
import { noStore, parseJsonObject, readRawBody } from '../../platform/http/body.ts';
import {
  checkSignatureTime, parseSignature, SignatureError, verifyContentDigest, verifySignature, type MessageView, type ParsedSignature,
} from '../../platform/http/signature.ts';
import { audit } from '../audit.ts';
import { ATTRIBUTE_VALUE_RE } from '../apps/profile.ts';
import { Problem } from '../../platform/http/problem.ts';
import { createRateLimiter } from '../rate-limit/limiter.ts';
import { secretsOf, type AppEntry } from '../apps/registry.ts';
import { nonceKey } from './records.ts';
import { nowSeconds } from '../../platform/time.ts';
import type { GatewayDeps } from '../deps.ts';
import type { AppRouter, RequestContext, RequestState } from '../../platform/http/state.ts';

/** True when `parsed` verifies over `msg` with `secret`. */
function verifies(parsed: ParsedSignature, msg: MessageView, secret: string | Uint8Array): boolean {
  try {
    verifySignature(parsed, msg, secret);
    return true;
  } catch {
    return false;
  }
}

const MAX_BODY = 4096;
/**
 * The key an unknown `keyid`'s request is checked with: it never matches, so an unknown app is
 * refused exactly as a known app with a wrong signature is, and app ids cannot be enumerated.
 */
const NO_APP_SECRET = randomBytes(32);
const UNTRUSTED_NETWORK = 'Access tokens for this app are issued only over its trusted network; no token was issued.';
const UNVOUCHED = 'Access tokens for this app are issued only through its operator\'s trusted network, which did not vouch for this request; no token was issued.';

/** The request state of `POST /v1/access-tokens`, each key set by the step named, read after it. */
interface IssuanceState extends RequestState {
  /** verifyRequestSignature: the app whose secret verified the signature. */
  app: AppEntry;
  /** verifyRequestSignature: the verified signature's parameters. */
  signature: ParsedSignature;
  /** verifyRequestSignature: the body as signed. */
  rawBody: Buffer;
  /** checkTrustedNetwork: the operator's attributes from the app's edge header, when it has one. */
  attributes?: Record<string, string>;
  /** useNonce: the body, a JSON object. */
  body: Record<string, unknown>;
}
type IssuanceContext = RequestContext<IssuanceState>;

/** Mounts the flow's public half on the gateway's router: server to server, no CORS. */
export function mountAccessTokenPublic(router: AppRouter, deps: GatewayDeps): void {
  router.post('/v1/access-tokens', ...issueAccessToken(deps));
}

/**
 * `POST /v1/access-tokens`: a third-party backend's signed request (RFC 9421). Checks, in order:
 * signature headers, `created` window, Content-Digest, the HMAC (an unknown app's fails like a wrong
 * one: the same `invalid_signature` answer, `unknown_app` only in the audit line); then the app's trusted
 * networks and edge header; then the nonce (only a verified request from an allowed network may
 * use up a nonce); then the app's rate limit, and asks auth to issue (AccessTokenService).
 */
function issueAccessToken(deps: GatewayDeps) {
  const { registry, store, config, log } = deps;
  const trustedProxies = createNetworkList(config.trustedProxies ?? []);
  const perApp = createRateLimiter(store, 'issuance', config.rateLimits?.issuance, log);
  // An app's own limit from the registry replaces RATE_LIMIT_ISSUANCE for it (null: none).
  const ownLimits = new Map(registry.all().filter((a) => a.rateLimit !== undefined)
    .map((a) => [a.appId, createRateLimiter(store, 'issuance', a.rateLimit ?? undefined, log)]));
  for (const app of registry.all()) {
    if (app.requiredHeader && trustedProxies.cidrs.length === 0) {
      log.warn({ appId: app.appId, header: app.requiredHeader.name }, 'this app requires a header set by a trusted proxy, but TRUSTED_PROXIES is empty: every AT request for it will be refused');
    }
  }

  function refuse(ctx: IssuanceContext, err: SignatureError | Problem, appId?: string, auditReason?: string): never {
    const reason = auditReason ?? (err instanceof SignatureError ? err.reason : err.code);
    audit(log, 'signature.rejected', { appId, reason, reqId: ctx.state.requestId });
    if (err instanceof Problem) throw err;
    throw new Problem('invalid_signature', err.message);
  }

  function refuseIssuance(ctx: IssuanceContext, app: AppEntry, reason: string, clientAddress: string, detail: string): never {
    audit(log, 'issuance.refused', { appId: app.appId, reason, clientAddress, reqId: ctx.state.requestId });
    throw new Problem('untrusted_network', detail);
  }

  return [
    async function verifyRequestSignature(ctx: IssuanceContext, next: Next): Promise<void> {
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
      try {
        verifyContentDigest(ctx.get('content-digest') || undefined, raw);
        const targetUri = (config.publicUrl ?? `${ctx.protocol}://${ctx.host}`) + ctx.originalUrl;
        const msg = { method: ctx.method, targetUri, headers: ctx.headers };
        // After a secret rotation the previous secret verifies too, until its overlap ends.
        const [first, ...others]: (string | Uint8Array)[] = app ? secretsOf(app, nowSeconds()) : [NO_APP_SECRET];
        try {
          verifySignature(parsed, msg, first!);
        } catch (err) {
          if (!(err instanceof SignatureError) || !others.some((secret) => verifies(parsed, msg, secret))) throw err;
        }
        if (!app) throw new SignatureError('mismatch', 'the signature does not match the request');
      } catch (err) {
        if (err instanceof SignatureError) refuse(ctx, err, appId, app ? undefined : 'unknown_app');
        throw err;
      }
      ctx.state.app = app;
      ctx.state.signature = parsed;
      ctx.state.rawBody = raw;
      await next();
    },

    // After the signature, so an unauthenticated caller learns nothing of an app's networks; before
    // the nonce, so a request from the wrong network does not use one up.
    async function checkTrustedNetwork(ctx: IssuanceContext, next: Next): Promise<void> {
      const app = ctx.state.app;
      const client = resolveClientAddress(ctx.req.socket.remoteAddress, ctx.get('x-forwarded-for') || undefined, trustedProxies);
      if (app.trustedNetworks && !app.trustedNetworks.has(client.address)) {
        refuseIssuance(ctx, app, 'outside_trusted_networks', client.address, UNTRUSTED_NETWORK);
      }
      if (app.requiredHeader) {
        // Only a trusted proxy's word counts: from anyone else the header is the client's own claim.
        if (!client.viaTrustedProxy) refuseIssuance(ctx, app, 'not_via_trusted_proxy', client.address, UNVOUCHED);
        const value = ctx.get(app.requiredHeader.name);
        if (!ATTRIBUTE_VALUE_RE.test(value)) refuseIssuance(ctx, app, value ? 'required_header_malformed' : 'required_header_missing', client.address, UNVOUCHED);
        ctx.state.attributes = { [app.requiredHeader.claim]: value };
      }
      await next();
    },

    async function useNonce(ctx: IssuanceContext, next: Next): Promise<void> {
      const app = ctx.state.app;
      const parsed = ctx.state.signature;
      // The nonce is remembered a little longer than the window on both sides of `created`.
      const fresh = await store.setIfAbsent(nonceKey(app.appId, parsed.params.nonce), '1', 2 * config.signatureWindowSeconds + 5);
      if (!fresh) refuse(ctx, new Problem('replayed_request', 'This request (its nonce) was already received.'), app.appId);
      ctx.state.body = parseJsonObject(ctx, ctx.state.rawBody);
      await next();
    },

    // After the signature, so only the app itself (its secret) can use up its quota, and after the
    // nonce, so a replay of a captured request is refused as replayed_request and spends nothing;
    // before the hop to auth, so a refused request issues nothing. A 429 has used its nonce: the
    // client signs again after Retry-After, as it does for every request.
    async function limitIssuancePerApp(ctx: IssuanceContext, next: Next): Promise<void> {
      const app = ctx.state.app;
      await (ownLimits.get(app.appId) ?? perApp).enforce(ctx, app.appId, {
        detail: 'This app has asked for too many access tokens; no token was issued. Sign the request again and send it after Retry-After.',
        audit: { appId: app.appId, route: 'POST /v1/access-tokens' },
      });
      await next();
    },

    async function routeToAuth(ctx: IssuanceContext): Promise<void> {
      // Named fields only: `attributes` come from the edge header alone, never from the body.
      const { userId, productId, audience, profile } = ctx.state.body;
      const { attributes } = ctx.state;
      noStore(ctx);
      const issued = await deps.auth.accessTokens.issue(
        { appId: ctx.state.app.appId, userId, productId, audience, profile, ...(attributes && { attributes }) },
        ctx.state.requestId,
      );
      ctx.status = 201;
      ctx.body = issued;
    },
  ];
}
