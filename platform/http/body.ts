/** Small HTTP pieces every service uses: strict JSON bodies, the internal credential, headers. */
import { hash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { MAX_JWS_LENGTH } from '../crypto/jws.ts';
import { Problem, SECURITY_HEADERS } from './problem.ts';

/** Header carrying the internal credential a front service presents to the services behind it (the broker's name for it). */
export const INTERNAL_HEADER = 'x-broker-internal';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface ReadBodyOptions {
  limit: number;
}

/** Reads the raw body up to `limit` bytes (413 beyond it, before reading it all). */
export async function readRawBody(ctx: Context, { limit }: ReadBodyOptions): Promise<Buffer> {
  const declared = ctx.get('content-length');
  if (declared && Number(declared) > limit) throw new Problem('payload_too_large', `The body may be at most ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Problem('payload_too_large', `The body may be at most ${limit} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Parses a JSON object body strictly: `application/json` only, valid UTF-8, an object at the top,
 * and no `__proto__`/`constructor`/`prototype` keys anywhere (they could pollute a merge later).
 */
export function parseJsonObject(ctx: Context, raw: Buffer): Record<string, unknown> {
  if (!ctx.is('application/json')) throw new Problem('unsupported_media_type', 'Send the body as application/json.');
  const text = decodeUtf8Body(raw);
  let value: unknown;
  try {
    value = JSON.parse(text, (key, v) => {
      if (FORBIDDEN_KEYS.has(key)) throw new SyntaxError('forbidden key');
      return v;
    });
  } catch {
    throw new Problem('invalid_request', 'The body is not valid JSON.');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Problem('invalid_request', 'The body must be a JSON object.');
  return value as Record<string, unknown>;
}

/** Reads and parses a strict JSON object body. */
export async function readJsonBody(ctx: Context, opts: ReadBodyOptions): Promise<{ raw: Buffer; body: Record<string, unknown> }> {
  const raw = await readRawBody(ctx, opts);
  return { raw, body: parseJsonObject(ctx, raw) };
}

/** SHA-256 in one call (crypto.hash: no Hash object, about 1.4 times cheaper than createHash). */
function digest(s: string): Buffer {
  return hash('sha256', s, 'buffer');
}

/** Constant-time string equality (hashes first, so lengths leak nothing either). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Refuses every caller that does not present the internal credential. */
export function requireInternalCaller(token: string) {
  // The credential's digest is made once: each call hashes only what was presented.
  const expected = digest(token);
  return async function checkInternalCaller(ctx: Context, next: Next): Promise<void> {
    const presented = ctx.get(INTERNAL_HEADER);
    if (!presented || !timingSafeEqual(digest(presented), expected)) throw new Problem('forbidden', 'This service only answers the gateway.');
    await next();
  };
}

/** Headers every API answer carries. */
export async function apiSecurityHeaders(ctx: Context, next: Next): Promise<void> {
  ctx.set(SECURITY_HEADERS);
  ctx.set('Cross-Origin-Resource-Policy', 'cross-origin');
  await next();
}

/** Marks an answer as never to be cached (every answer carrying a token). */
export function noStore(ctx: Context): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
}

/** A string field of a JSON body, checked against a pattern; 400 when absent or malformed. */
export function field(body: Record<string, unknown>, name: string, re: RegExp, detail?: string): string {
  const v = body[name];
  if (typeof v !== 'string' || !re.test(v)) throw new Problem('invalid_request', detail ?? `"${name}" is missing or malformed.`);
  return v;
}

/** A body's bytes as text: strict UTF-8, anything else is invalid_request. */
export function decodeUtf8Body(raw: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new Problem('invalid_request', 'The body is not valid UTF-8.');
  }
}

/** A compact JWS, bounded: three base64url segments, at most MAX_JWS_LENGTH characters in all. */
const BEARER_JWS_RE = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;

/**
 * The compact JWS of an `Authorization: Bearer <JWS>` header, or undefined when there is none or
 * it is malformed or too long. The scheme is case-insensitive (RFC 9110 section 11.1), as `Basic` is.
 */
export function bearerJws(ctx: Context): string | undefined {
  const header = ctx.get('authorization');
  return header.length <= MAX_JWS_LENGTH + 7 ? BEARER_JWS_RE.exec(header)?.[1] : undefined;
}
