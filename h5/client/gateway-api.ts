/**
 * The three gateway calls the page makes (protocol sections 2 and 3): the JWKS, the envelope
 * exchange for a VT, and the product. Every call omits cookies (the JWKS, to match its preload,
 * uses `same-origin`, which sends none to a cross-origin gateway) until the gateway asks for a
 * proof of work (then the pass cookie goes with the gated calls: gate-hook.ts, challenge.ts), and
 * the Referer; every failure becomes a PageError carrying the problem+json `code`.
 */
import type { EncryptionJwk, EnvelopeAlg } from './jwe-compact.ts';
import { PAGE_CODES, PageError, type PageErrorDetails } from './errors.ts';
import { gated, gatedAfter } from './gate-hook.ts';

/** Gives up on a call after this long and reports it as a network failure. */
const TIMEOUT_MS = 15_000;
const CODE = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * `preloadable`: the request the page's `<link rel="preload" as="fetch" crossorigin="anonymous">`
 * started (the JWKS), made the way a preload is matched: credentials `same-origin` (no cookie goes
 * to a cross-origin gateway either way) and the default cache mode. `credentials`: what a gated
 * call asks for (gate-hook.ts).
 */
async function call(url: string, init: RequestInit, preloadable = false, credentials?: RequestCredentials): Promise<Response> {
  const controller = typeof AbortController !== 'undefined' ? new AbortController() : undefined;
  const timer = controller ? setTimeout(() => controller.abort(), TIMEOUT_MS) : undefined;
  try {
    return await fetch(url, {
      ...init,
      credentials: credentials ?? (preloadable ? 'same-origin' : 'omit'),
      referrerPolicy: 'no-referrer',
      cache: preloadable ? 'default' : 'no-store',
      signal: controller?.signal,
    });
  } catch {
    throw new PageError(PAGE_CODES.network);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** The error for a non-2xx answer: its problem+json `code` when it has a sane one. */
async function problem(res: Response): Promise<PageError> {
  let code: string = PAGE_CODES.unexpected;
  try {
    const body = (await res.json()) as { code?: unknown };
    if (typeof body?.code === 'string' && CODE.test(body.code)) code = body.code;
  } catch {
    // Not problem+json (a proxy's error page, a cut connection): keep the generic code.
  }
  if (code === PAGE_CODES.unexpected && res.status === 429) code = 'rate_limited';
  return new PageError(code, res.status, answerDetails(res));
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id and Retry-After (delta-seconds, 1-3600) of an answer, when they are sane. */
function answerDetails(res: Response): PageErrorDetails {
  const details: PageErrorDetails = {};
  const id = res.headers.get('x-request-id');
  if (id && REQUEST_ID.test(id)) details.requestId = id;
  const after = res.headers.get('retry-after');
  if (after && /^\d{1,5}$/.test(after.trim())) details.retryAfter = Math.min(3600, Math.max(1, Number(after.trim())));
  return details;
}

async function json(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    throw new PageError(PAGE_CODES.badResponse, res.status);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

const isB64uString = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9_-]+$/.test(v);

/** One JWKS entry as the envelope key of `alg`, or undefined when it is not one. */
function asEncryptionJwk(k: unknown, alg: EnvelopeAlg): EncryptionJwk | undefined {
  if (!isObject(k) || k.use !== 'enc' || k.alg !== alg || typeof k.kid !== 'string' || !k.kid) return undefined;
  if (alg === 'RSA-OAEP-256' && k.kty === 'RSA' && isB64uString(k.n) && isB64uString(k.e)) return { kty: 'RSA', n: k.n, e: k.e, kid: k.kid };
  if (alg === 'ECDH-ES+A256KW' && k.kty === 'EC' && k.crv === 'P-256' && isB64uString(k.x) && isB64uString(k.y)) {
    return { kty: 'EC', crv: 'P-256', x: k.x, y: k.y, kid: k.kid };
  }
  if (alg === 'ECDH-ES+A256KW' && k.kty === 'OKP' && k.crv === 'X25519' && isB64uString(k.x)) return { kty: 'OKP', crv: 'X25519', x: k.x, kid: k.kid };
  return undefined;
}

/**
 * The JWKS keys (`use: "enc"`) an envelope implementation can wrap R to, ordered by its
 * `algorithms` (the preferred first), then as the JWKS lists them.
 */
export function usableEncryptionJwks(jwks: unknown, algorithms: readonly EnvelopeAlg[]): EncryptionJwk[] {
  const keys: unknown[] = isObject(jwks) && Array.isArray(jwks.keys) ? jwks.keys : [];
  return algorithms.flatMap((alg) => keys.map((k) => asEncryptionJwk(k, alg)).filter((k): k is EncryptionJwk => k !== undefined));
}

/**
 * `GET /.well-known/jwks.json`, raw. A simple request (a GET without custom headers): no CORS
 * preflight. The page's `<head>` preloads it; this fetch takes the preloaded answer up, in
 * parallel with picking (and maybe loading) the envelope code.
 */
export async function fetchJwks(gateway: string): Promise<unknown> {
  const res = await call(`${gateway}/.well-known/jwks.json`, { method: 'GET' }, true);
  if (!res.ok) throw await problem(res);
  return json(res);
}

/** The keys of a fetched JWKS the implementation can use, the preferred first (at least one). */
export function encryptionJwksFrom(jwks: unknown, algorithms: readonly EnvelopeAlg[]): EncryptionJwk[] {
  const keys = usableEncryptionJwks(jwks, algorithms);
  if (keys.length === 0) throw new PageError(PAGE_CODES.badResponse);
  return keys;
}

/** `GET /.well-known/jwks.json`: the keys the implementation can use, the preferred first (at least one). */
export async function fetchEncryptionJwks(gateway: string, algorithms: readonly EnvelopeAlg[]): Promise<EncryptionJwk[]> {
  return encryptionJwksFrom(await fetchJwks(gateway), algorithms);
}

/**
 * `POST /v1/visit-tokens` with the sealed envelope; resolves with the reply envelope (still sealed).
 * `onAccepted` runs the moment the gateway answers 2xx: from then on the AT is spent, whatever
 * happens to the body.
 */
export async function postEnvelope(gateway: string, envelope: string, onAccepted: () => void): Promise<string> {
  return (await postExchange(gateway, envelope, onAccepted)).envelope;
}

/**
 * One `POST /v1/visit-tokens` with `envelope` (and `include`), raw: no cookie unless `credentials`
 * says so (a gated retry), no Referer, 15 s timeout (a failure is PageError `network_error`). The
 * boot script sends its exchange with it too, so both send the very same request.
 */
export function sendExchange(gateway: string, envelope: string, include?: 'product', extra: Record<string, string> = {}, credentials?: RequestCredentials): Promise<Response> {
  return call(`${gateway}/v1/visit-tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...extra },
    body: JSON.stringify(include ? { envelope, include } : { envelope }),
  }, false, credentials);
}

/**
 * The same, asking for the product document in the same answer (`include: "product"`, protocol
 * section 2): one round trip to a rendered product. `product` is the raw document, as
 * `GET /v1/products/:id` answers it, or undefined when the gateway left it out (the page then
 * asks for it itself). `sent`: the answer of the boot script's request for this envelope.
 */
export async function postExchange(gateway: string, envelope: string, onAccepted: () => void, include?: 'product', sent?: Promise<Response | undefined>): Promise<{ envelope: string; product?: unknown }> {
  const send = (extra: Record<string, string>, credentials: RequestCredentials) => sendExchange(gateway, envelope, include, extra, credentials);
  // The answer to this very envelope the boot script already sent, when one came; else sent now
  // (the same envelope, so the same R: a retry, never a second spend).
  const first = sent && (await sent);
  const res = first ? await gatedAfter(first, send) : await gated(send);
  if (!res.ok) throw await problem(res);
  onAccepted();
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new PageError(PAGE_CODES.replyInvalid, res.status);
  }
  if (!isObject(body) || typeof body.envelope !== 'string') throw new PageError(PAGE_CODES.replyInvalid, res.status);
  return { envelope: body.envelope, ...(include && isObject(body.product) && { product: body.product }) };
}

/** The opened exchange reply. */
export interface VisitToken {
  vt: string;
  expiresIn: number;
  productId: string;
  userId: string;
}

/** Checks the opened reply is `{"vt", "expiresIn", "productId", "userId"}`. */
export function toVisitToken(plain: unknown): VisitToken {
  if (
    !isObject(plain) ||
    typeof plain.vt !== 'string' ||
    !plain.vt ||
    typeof plain.expiresIn !== 'number' ||
    typeof plain.productId !== 'string' ||
    typeof plain.userId !== 'string'
  ) {
    throw new PageError(PAGE_CODES.replyInvalid);
  }
  return { vt: plain.vt, expiresIn: plain.expiresIn, productId: plain.productId, userId: plain.userId };
}

/**
 * `GET /v1/products/<productId>` with the VT; resolves with the raw product JSON. With `proofFor`
 * (a VT bound to the page's key) it is sent as `Authorization: DPoP <VT>` with a fresh DPoP proof
 * for this very URL, a new one for each attempt; otherwise as a bearer token.
 */
export async function fetchProduct(gateway: string, productId: string, vt: string, proofFor?: (url: string) => Promise<string>): Promise<unknown> {
  const url = `${gateway}/v1/products/${encodeURIComponent(productId)}`;
  const res = await gated(async (extra, credentials) => call(url, {
    method: 'GET',
    headers: { ...(proofFor ? { Authorization: `DPoP ${vt}`, DPoP: await proofFor(url) } : { Authorization: `Bearer ${vt}` }), Accept: 'application/json', ...extra },
  }, false, credentials));
  if (!res.ok) throw await problem(res);
  return json(res);
}
