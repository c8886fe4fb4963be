/**
 * Client authentication of the token endpoints (introspection, revocation): HTTP Basic with
 * `appId:appSecret` of a registered app, or `clientId:clientSecret` of a registered product
 * backend, form-urlencoded first as RFC 6749 section 2.3.1 says.
 */
import type { Context, Next } from 'koa';
import type { RequestContext, RequestState } from '../../platform/http/state.ts';
import { decodeUtf8Body, noStore, readRawBody, safeEqual } from '../../platform/http/body.ts';
import { Problem } from '../../platform/http/problem.ts';
import { secretsOf, type AppEntry, type AppRegistry, type BackendEntry } from '../apps/registry.ts';
import { nowSeconds } from '../../platform/time.ts';
import { hasAudience, type VisitTokenClaims, type VisitTokenRecord } from '../visit-token/records.ts';
import type { VisitTokenChecker } from '../visit-token/checker.ts';

const BASIC_RE = /^Basic ([A-Za-z0-9+/]+={0,2})$/i;
/** A secret nobody holds: an unknown client id costs the same comparison as a known one. */
const NO_SECRET = 'x'.repeat(48);

const invalidClient = () => new Problem('invalid_client', 'Authenticate with HTTP Basic: your app id and app secret, or your backend client id and secret.');

/** Who called introspection or revocation: a registered app, or a registered product backend. */
export type TokenClient = { kind: 'app'; id: string; app: AppEntry } | { kind: 'backend'; id: string; backend: BackendEntry };

/**
 * Whether `client` may see and revoke the VT with these claims: an app its own VTs (`app`), a
 * product backend the VTs whose `aud` names one of its products.
 */
export function clientMaySee(client: TokenClient, claims: Pick<VisitTokenClaims, 'app' | 'aud'>): boolean {
  if (client.kind === 'app') return claims.app === client.app.appId;
  return client.backend.products.some((p) => hasAudience(claims, p));
}

/** The client named by the Basic credential, when the secret matches (compared in constant time). */
export function authenticateClient(registry: AppRegistry, authorization: string): TokenClient | undefined {
  const credential = parseBasic(authorization);
  if (!credential) return undefined;
  const { id, secret } = credential;
  // Ids are unique across apps and backends (the registry checks), so at most one matches; an
  // unknown id costs the same comparison as a known one.
  const app = registry.get(id);
  const backend = app ? undefined : registry.backend(id);
  // An app's previous secret still authenticates during a rotation's overlap window.
  const candidates = app ? secretsOf(app, nowSeconds()) : [backend?.clientSecret ?? NO_SECRET];
  let ok = false;
  for (const candidate of candidates) ok = safeEqual(secret, candidate) || ok;
  if (!ok) return undefined;
  if (app) return { kind: 'app', id, app };
  if (backend) return { kind: 'backend', id, backend };
  return undefined;
}

/** `Basic base64(urlencode(id) ":" urlencode(secret))`, decoded; undefined when malformed. */
function parseBasic(authorization: string): { id: string; secret: string } | undefined {
  const m = authorization.length <= 1024 ? BASIC_RE.exec(authorization) : null;
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  let id: string;
  let secret: string;
  try {
    id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
  return { id, secret };
}

/** The request state of introspection and revocation, each key set by the step named, read after it. */
export interface TokenAdminState extends RequestState {
  /** requireTokenClient: the authenticated client. */
  client: TokenClient;
  /** findVisibleToken: the form's token when it is a live VT the client may see. */
  visibleToken?: VisibleToken;
}
export type TokenAdminContext = RequestContext<TokenAdminState>;

/**
 * Middleware: 401 invalid_client unless a registered app or product backend authenticates; the
 * TokenClient goes to ctx.state.client.
 */
export function requireTokenClient(registry: AppRegistry) {
  return async function authenticateTokenClient(ctx: TokenAdminContext, next: Next): Promise<void> {
    noStore(ctx);
    const client = authenticateClient(registry, ctx.get('authorization'));
    if (!client) throw invalidClient();
    ctx.state.client = client;
    await next();
  };
}

/**
 * Reads an `application/x-www-form-urlencoded` body with `token` (and an optional
 * `token_type_hint`); a parameter given twice, or a missing token, is invalid_request.
 */
export async function readTokenForm(ctx: Context): Promise<{ token: string; hint?: string }> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new Problem('unsupported_media_type', 'Send the body as application/x-www-form-urlencoded.');
  const raw = await readRawBody(ctx, { limit: 8192 });
  const form = new URLSearchParams(decodeUtf8Body(raw));
  for (const name of ['token', 'token_type_hint']) {
    if (form.getAll(name).length > 1) throw new Problem('invalid_request', `"${name}" is given more than once.`);
  }
  const token = form.get('token');
  if (!token) throw new Problem('invalid_request', '"token" is missing.');
  return { token, hint: form.get('token_type_hint') ?? undefined };
}

/** The token of a form that is a live VT the calling client may see. */
export interface VisibleToken {
  client: TokenClient;
  claims: VisitTokenClaims;
  record: VisitTokenRecord;
}

/**
 * Middleware after requireTokenClient: reads the form's token and puts it in
 * ctx.state.visibleToken when it is a live VT the client may see, else undefined. Introspection
 * and revocation answer alike for every other token (RFC 7662 section 2.2, RFC 7009 section 2.2).
 */
export function findVisibleToken(visitTokens: VisitTokenChecker) {
  return async function findClientVisibleToken(ctx: TokenAdminContext, next: Next): Promise<void> {
    const { token } = await readTokenForm(ctx);
    const { client } = ctx.state;
    const live = await visitTokens.check(ctx, token);
    ctx.state.visibleToken = live && clientMaySee(client, live.claims) ? ({ client, ...live } satisfies VisibleToken) : undefined;
    await next();
  };
}
