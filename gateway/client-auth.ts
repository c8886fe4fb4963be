/**
 * Client authentication of the token endpoints (introspection, revocation): HTTP Basic with
 * `appId:appSecret` of a registered app, form-urlencoded first as RFC 6749 section 2.3.1 says.
 */
import type { Context, Next } from 'koa';
import { readRawBody, safeEqual } from '../common/http.ts';
import { Problem } from '../common/problem.ts';
import type { AppEntry, AppRegistry } from '../common/registry.ts';

const BASIC_RE = /^Basic ([A-Za-z0-9+/]+={0,2})$/i;
/** A secret nobody holds: an unknown app id costs the same comparison as a known one. */
const NO_SECRET = 'x'.repeat(48);

const invalidClient = () => new Problem(401, 'invalid_client', 'Authenticate with HTTP Basic: your app id and app secret.');

/** The app named by the Basic credential, when the secret matches (compared in constant time). */
export function authenticateApp(registry: AppRegistry, authorization: string): AppEntry | undefined {
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
  const app = registry.get(id);
  const ok = safeEqual(secret, app?.appSecret ?? NO_SECRET);
  return app && ok ? app : undefined;
}

/** Middleware: 401 invalid_client unless a registered app authenticates; the app goes to ctx.state.client. */
export function requireAppClient(registry: AppRegistry) {
  return async function authenticateClient(ctx: Context, next: Next): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    const app = authenticateApp(registry, ctx.get('authorization'));
    if (!app) throw invalidClient();
    ctx.state.client = app;
    await next();
  };
}

/**
 * Reads an `application/x-www-form-urlencoded` body with `token` (and an optional
 * `token_type_hint`); a parameter given twice, or a missing token, is invalid_request.
 */
export async function readTokenForm(ctx: Context): Promise<{ token: string; hint?: string }> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new Problem(415, 'unsupported_media_type', 'Send the body as application/x-www-form-urlencoded.');
  const raw = await readRawBody(ctx, { limit: 8192 });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new Problem(400, 'invalid_request', 'The body is not valid UTF-8.');
  }
  const form = new URLSearchParams(text);
  for (const name of ['token', 'token_type_hint']) {
    if (form.getAll(name).length > 1) throw new Problem(400, 'invalid_request', `"${name}" is given more than once.`);
  }
  const token = form.get('token');
  if (!token) throw new Problem(400, 'invalid_request', '"token" is missing.');
  return { token, hint: form.get('token_type_hint') ?? undefined };
}
