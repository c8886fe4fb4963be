/**
 * The challenge flow's public half: the gate for the routes CHALLENGE_ROUTES names (`guarded`,
 * wrapped around those routes' CORS middleware by the gateway), and the pass's routes:
 * `POST /v1/challenge/pass` (issued for a live VT), `/nonce` and `/refresh` (a new pass against a
 * single-use server nonce signed with the page's key), `/revoke` (the holder ends it).
 */
import type { Middleware, Next } from 'koa';
import cors from '@koa/cors';
import { noStore, readJsonBody } from '../../platform/http/body.ts';
import { Problem } from '../../platform/http/problem.ts';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import { nowSeconds } from '../../platform/time.ts';
import { TOMBSTONE_PREFIX } from '../../platform/store/index.ts';
import type { AppRouter, RequestContext } from '../../platform/http/state.ts';
import type { GatewayDeps } from '../deps.ts';
import type { VisitTokenChecker } from '../visit-token/checker.ts';
import { createSecretRing, nonceKey, passKey, type SecretRing } from './records.ts';
import { newSid, openPass, p256Thumbprint, pairwiseId, passRecord, refreshMessage, signPass, verifyKeyProof, type PassClaims, type PassRecord } from './pass.ts';
import { createGate, PASS_COOKIE, PASS_COOKIE_SECURE, PASS_HEADER, passOf, SOLUTION_HEADER } from './gate.ts';
import { countEvent } from './metrics.ts';
import { issueUserNonce } from './user-pass.ts';
import { createStoreKeyRegistry, type KeyRegistry } from '../countersign/registry.ts';
import type { ChallengeConfig, GatedRoute } from './settings.ts';

/** How long a refresh nonce may be used (s). */
export const NONCE_TTL_SECONDS = 60;

/** What the gateway wraps around its browser routes. */
export interface ChallengeGateway {
  /** `cors` followed by the gate when `route` is gated; `cors` itself when it is not. */
  guarded(route: GatedRoute, cors: Middleware): Middleware;
}

/** Request headers the gated browser routes allow (a solution, a pass), and the header they expose (the challenge). */
export const CHALLENGE_ALLOW_HEADERS = [SOLUTION_HEADER, PASS_HEADER] as const;
export const CHALLENGE_EXPOSE_HEADERS = ['WWW-Authenticate'] as const;

const passInvalid = (detail: string) => new Problem('pass_invalid', detail);

/** Mounts the pass's routes and returns the gate. `config.challenge` absent or naming no route: nothing is gated and no pass route is served. */
export function mountChallengePublic(router: AppRouter, deps: GatewayDeps, shared: { visitTokens: VisitTokenChecker; browserOrigins: ReadonlySet<string>; deviceKeys?: KeyRegistry }): ChallengeGateway {
  const config: ChallengeConfig | undefined = deps.config.challenge;
  const secrets = createSecretRing(deps.store);
  const secure = (deps.config.publicUrl ?? deps.config.issuer).startsWith('https:');
  const passCors: Middleware = cors({
    origin: (ctx) => (shared.browserOrigins.has(ctx.get('origin')) ? ctx.get('origin') : ''),
    allowMethods: ['POST'],
    allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'DPoP', PASS_HEADER],
    exposeHeaders: ['X-Request-Id'],
    maxAge: 600,
    credentials: true,
  });

  if (config?.routes.length) {
    const routes = { pass: '/v1/challenge/pass', nonce: '/v1/challenge/nonce', refresh: '/v1/challenge/refresh', revoke: '/v1/challenge/revoke', userNonce: '/v1/challenge/user-nonce' };
    for (const path of Object.values(routes)) router.options(path, passCors);
    router.post(routes.pass, passCors, issuePass(deps, config, secrets, shared, secure));
    router.post(routes.nonce, passCors, issueNonce(deps, config, secrets));
    router.post(routes.refresh, passCors, refreshPass(deps, config, secrets, secure));
    router.post(routes.revoke, passCors, revokePass(deps, secrets, secure));
    router.post(routes.userNonce, passCors, userNonce(secrets, shared.browserOrigins));
  }
  // The user variant's keys: the countersign flow's device keys, in the same store.
  const deviceKeys = shared.deviceKeys ?? createStoreKeyRegistry(deps.store);

  const gates = new Map<GatedRoute, Middleware>();
  for (const route of config?.routes ?? []) {
    gates.set(route, createGate({ store: deps.store, secrets, config: config!, trustedProxies: deps.config.trustedProxies, deviceKeys }, route) as unknown as Middleware);
  }
  return {
    guarded(route, corsMw) {
      const gate = gates.get(route);
      if (!gate) return corsMw;
      return async function corsThenGate(ctx, next: Next) {
        await corsMw(ctx, () => gate(ctx, next));
      };
    },
  };
}

/** `Set-Cookie` of a pass: HttpOnly; over https `__Host-`, Secure, SameSite=None, Partitioned; over http (development) SameSite=Lax. */
export function passCookie(pass: string, maxAgeSeconds: number, secure: boolean): string {
  return secure
    ? `${PASS_COOKIE_SECURE}=${pass}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=None; Partitioned`
    : `${PASS_COOKIE}=${pass}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax`;
}

function sendPass(ctx: RequestContext, config: ChallengeConfig, pass: string, claims: PassClaims, secure: boolean, now: number): void {
  // The cookie lives as long as the pass may be refreshed: the refresh reads it too.
  ctx.append('Set-Cookie', passCookie(pass, Math.max(1, claims.auth + config.passMaxAgeSeconds - now), secure));
  ctx.body = { pass, expiresIn: claims.exp - now, refreshUntil: claims.auth + config.passMaxAgeSeconds, sub: claims.sub };
}

/** `POST /v1/challenge/pass`: `Authorization: Bearer <VT>` (a live one), `{"jwk": <the page's P-256 public key>}`, from an H5 origin. */
function issuePass(deps: GatewayDeps, config: ChallengeConfig, secrets: SecretRing, shared: { visitTokens: VisitTokenChecker; browserOrigins: ReadonlySet<string> }, secure: boolean) {
  return async function issue(ctx: RequestContext): Promise<void> {
    noStore(ctx);
    const origin = ctx.get('origin');
    if (!origin || !shared.browserOrigins.has(origin)) {
      throw new Problem('forbidden', 'A pass is issued to an H5 page only: its Origin must be one of the broker\'s H5 origins.');
    }
    const live = await shared.visitTokens.presented(ctx);
    if (!live) throw new Problem('vt_invalid', 'Send a live visit token as "Authorization: Bearer <VT>" (or "DPoP <VT>" with a DPoP proof when it is bound to a key).');
    const { body } = await readJsonBody(ctx, { limit: 2048 });
    const jkt = p256Thumbprint(body.jwk);
    if (!jkt) throw new Problem('invalid_request', '"jwk" must be the page\'s P-256 public key as a JWK (kty, crv, x, y; no private part).');
    const now = nowSeconds();
    const sub = pairwiseId(await secrets.pairwise(), deps.config.issuer, live.claims.app, live.claims.sub);
    const sid = newSid();
    const record: PassRecord = { typ: 'pass', app: live.claims.app, sub, jkt, org: origin, auth: now };
    await deps.store.setIfAbsent(passKey(sid), JSON.stringify(record), config.passMaxAgeSeconds);
    const { pass, claims } = await signPass(secrets, { sid, sub, app: record.app, org: origin, jkt, auth: now, iat: now, exp: now + config.passTtlSeconds }, now);
    countEvent('passesIssued');
    ctx.status = 201;
    sendPass(ctx, config, pass, claims, secure, now);
  };
}

/** A pass whose MAC holds, sent from its origin, within its max age, and not revoked; else pass_invalid. */
async function livePass(deps: GatewayDeps, config: ChallengeConfig, secrets: SecretRing, ctx: RequestContext, now: number): Promise<PassClaims> {
  const pass = passOf(ctx);
  if (!pass) throw passInvalid(`Send the pass (its cookie, or the "${PASS_HEADER}" header).`);
  const opened = await openPass(secrets, pass, now);
  if (!opened.ok) throw passInvalid('The pass is not one of ours, or too old to refresh: pass the proof of work again.');
  const c = opened.claims;
  if (ctx.get('origin') !== c.org) throw passInvalid('The pass was issued to another origin.');
  if (c.auth + config.passMaxAgeSeconds <= now) throw passInvalid('The pass is too old to refresh: pass the proof of work again.');
  if (!(await passRecord(deps.store, c))) throw passInvalid('The pass was revoked.');
  return c;
}

/** `POST /v1/challenge/nonce`: a single-use nonce for the pass's refresh (the pass may have expired). */
function issueNonce(deps: GatewayDeps, config: ChallengeConfig, secrets: SecretRing) {
  return async function nonce(ctx: RequestContext): Promise<void> {
    noStore(ctx);
    const now = nowSeconds();
    const c = await livePass(deps, config, secrets, ctx, now);
    const value = randomBytesPooled(16).toString('base64url');
    await deps.store.setIfAbsent(nonceKey(value), JSON.stringify({ sid: c.sid, exp: now + NONCE_TTL_SECONDS }), NONCE_TTL_SECONDS);
    ctx.body = { nonce: value, expiresIn: NONCE_TTL_SECONDS };
  };
}

/**
 * `POST /v1/challenge/refresh`, `{"nonce", "jwk", "proof"}`: `proof` is the page key's ECDSA P-256
 * SHA-256 signature (r||s, base64url) over `h5-broker pass refresh v1\n<nonce>\n<origin>`; the
 * key's thumbprint must be the pass's. The nonce is spent (one atomic consume) only once all of
 * that holds.
 */
function refreshPass(deps: GatewayDeps, config: ChallengeConfig, secrets: SecretRing, secure: boolean) {
  return async function refresh(ctx: RequestContext): Promise<void> {
    noStore(ctx);
    const now = nowSeconds();
    const c = await livePass(deps, config, secrets, ctx, now);
    const { body } = await readJsonBody(ctx, { limit: 2048 });
    const jwk = body.jwk as { x: string; y: string };
    if (typeof body.nonce !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(body.nonce)) throw new Problem('invalid_request', '"nonce" must be a nonce from POST /v1/challenge/nonce.');
    if (p256Thumbprint(jwk) !== c.jkt) throw passInvalid('The key is not the one the pass is bound to.');
    if (!verifyKeyProof(jwk, refreshMessage(body.nonce, c.org), body.proof)) throw passInvalid('The proof does not verify under the pass\'s key.');
    const spent = await deps.store.consume(nonceKey(body.nonce), { tombstone: `${TOMBSTONE_PREFIX}nonce`, ttlSeconds: NONCE_TTL_SECONDS, now, require: { sid: c.sid } });
    if (spent.outcome !== 'consumed') throw passInvalid('The nonce is unknown, expired, used, or for another pass.');
    const { pass, claims } = await signPass(secrets, { sid: c.sid, sub: c.sub, app: c.app, org: c.org, jkt: c.jkt, auth: c.auth, iat: now, exp: now + config.passTtlSeconds }, now);
    countEvent('passesRefreshed');
    sendPass(ctx, config, pass, claims, secure, now);
  };
}

/**
 * `POST /v1/challenge/user-nonce`, from an H5 origin: a nonce for a user pass (flows/challenge/user-pass.ts),
 * bound to that origin, valid USER_NONCE_TTL_SECONDS, reusable within it (each pass's `jti` is the
 * single-use part). Stateless: nothing is written, so asking costs the gateway one HMAC.
 */
function userNonce(secrets: SecretRing, browserOrigins: ReadonlySet<string>) {
  return async function nonce(ctx: RequestContext): Promise<void> {
    noStore(ctx);
    const origin = ctx.get('origin');
    if (!origin || !browserOrigins.has(origin)) throw new Problem('forbidden', 'A user-pass nonce is issued to an H5 origin only: its Origin must be one of the broker\'s H5 origins.');
    ctx.body = await issueUserNonce(secrets, origin, nowSeconds());
  };
}

/** `POST /v1/challenge/revoke`: the holder ends its pass (its revocation handle is deleted) and the cookie. */
function revokePass(deps: GatewayDeps, secrets: SecretRing, secure: boolean) {
  return async function revoke(ctx: RequestContext): Promise<void> {
    noStore(ctx);
    const pass = passOf(ctx);
    const opened = pass ? await openPass(secrets, pass, nowSeconds()) : undefined;
    if (!opened?.ok || ctx.get('origin') !== opened.claims.org) throw passInvalid('Send a pass of ours from its origin.');
    await deps.store.delete(passKey(opened.claims.sid));
    ctx.append('Set-Cookie', passCookie('', 0, secure));
    ctx.status = 204;
  };
}
