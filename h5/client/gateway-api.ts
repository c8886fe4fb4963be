/**
 * The three gateway calls the page makes (protocol sections 2 and 3): the JWKS, the envelope
 * exchange for a VT, and the product. Every call omits cookies and the Referer; every failure
 * becomes a PageError carrying the problem+json `code`.
 */
import type { EncryptionJwk } from './jwe-compact.ts';
import { PAGE_CODES, PageError } from './errors.ts';

/** Gives up on a call after this long and reports it as a network failure. */
const TIMEOUT_MS = 15_000;
const CODE = /^[a-z][a-z0-9_]{0,63}$/;

async function call(url: string, init: RequestInit): Promise<Response> {
  const controller = typeof AbortController !== 'undefined' ? new AbortController() : undefined;
  const timer = controller ? setTimeout(() => controller.abort(), TIMEOUT_MS) : undefined;
  try {
    return await fetch(url, {
      ...init,
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      cache: 'no-store',
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
  return new PageError(code, res.status);
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

/** `GET /.well-known/jwks.json`: the first RSA key with `use: "enc"` and `alg: "RSA-OAEP-256"`. */
export async function fetchEncryptionJwk(gateway: string): Promise<EncryptionJwk> {
  const res = await call(`${gateway}/.well-known/jwks.json`, { method: 'GET', headers: { Accept: 'application/json' } });
  if (!res.ok) throw await problem(res);
  const body = await json(res);
  const keys = isObject(body) && Array.isArray(body.keys) ? body.keys : [];
  for (const k of keys) {
    if (
      isObject(k) &&
      k.kty === 'RSA' &&
      k.use === 'enc' &&
      k.alg === 'RSA-OAEP-256' &&
      typeof k.n === 'string' &&
      typeof k.e === 'string' &&
      typeof k.kid === 'string' &&
      k.n &&
      k.e &&
      k.kid
    ) {
      return { n: k.n, e: k.e, kid: k.kid };
    }
  }
  throw new PageError(PAGE_CODES.badResponse, res.status);
}

/**
 * `POST /v1/visit-tokens` with the sealed envelope; resolves with the reply envelope (still sealed).
 * `onAccepted` runs the moment the gateway answers 2xx: from then on the AT is spent, whatever
 * happens to the body.
 */
export async function postEnvelope(gateway: string, envelope: string, onAccepted: () => void): Promise<string> {
  const res = await call(`${gateway}/v1/visit-tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ envelope }),
  });
  if (!res.ok) throw await problem(res);
  onAccepted();
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new PageError(PAGE_CODES.replyInvalid, res.status);
  }
  if (!isObject(body) || typeof body.envelope !== 'string') throw new PageError(PAGE_CODES.replyInvalid, res.status);
  return body.envelope;
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

/** `GET /v1/products/<productId>` with the VT; resolves with the raw product JSON. */
export async function fetchProduct(gateway: string, productId: string, vt: string): Promise<unknown> {
  const res = await call(`${gateway}/v1/products/${encodeURIComponent(productId)}`, {
    method: 'GET',
    headers: { Authorization: `Bearer ${vt}`, Accept: 'application/json' },
  });
  if (!res.ok) throw await problem(res);
  return json(res);
}
