/**
 * JWS compact serialization (RFC 7515) with ES256 only, on node:crypto. Small on purpose: the
 * header is checked member by member before any crypto runs, so `alg: "none"`, `"noNE"`, HS256
 * and every other algorithm fail as strings, and a key can only ever be used with ES256.
 * Tests check it both ways against `jose` (test/flows/visit-token/signed-vt.test.ts).
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';

/** Every verification failure is this one error: the reason is for logs, never for the caller. */
export class JwsError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'JwsError';
  }
}

export interface JwsHeader {
  alg: 'ES256';
  typ: string;
  kid: string;
}

/** Longest compact JWS accepted; a VT is about 450 characters, at most about 2.7 KB with a full profile. */
export const MAX_JWS_LENGTH = 4096;

const B64U = /^[A-Za-z0-9_-]*$/;
const ES256_SIGNATURE_BYTES = 64;

const b64uJson = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/** Signs `payload` as a compact JWS with header `{"alg":"ES256","typ","kid"}`. */
export function signCompact(header: { typ: string; kid: string }, payload: Record<string, unknown>, privateKey: KeyObject): string {
  if (privateKey.type !== 'private' || !isP256(privateKey)) throw new TypeError('ES256 needs a P-256 private key');
  const input = `${b64uJson({ alg: 'ES256', typ: header.typ, kid: header.kid })}.${b64uJson(payload)}`;
  const signature = cryptoSign('sha256', Buffer.from(input, 'ascii'), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(segment, 'base64url')));
  } catch {
    throw new JwsError(`${what} is not base64url JSON`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new JwsError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * Verifies a compact JWS: exactly `alg: "ES256"` and the expected `typ` (compared as strings,
 * before any crypto), a `kid` that `keyFor` knows (a P-256 public key), no `crit`, and the
 * signature. Returns the header and the payload object; claims are the caller's to check.
 */
export async function verifyCompact(
  token: unknown,
  opts: { typ: string; keyFor: (kid: string) => KeyObject | undefined | Promise<KeyObject | undefined> },
): Promise<{ header: JwsHeader; payload: Record<string, unknown> }> {
  if (typeof token !== 'string' || token.length > MAX_JWS_LENGTH) throw new JwsError('not a compact JWS');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => p.length > 0 && B64U.test(p))) throw new JwsError('not a compact JWS');
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJsonObject(h, 'header');
  if (header.alg !== 'ES256') throw new JwsError('alg must be ES256');
  if (header.typ !== opts.typ) throw new JwsError(`typ must be ${opts.typ}`);
  if ('crit' in header || 'jku' in header || 'jwk' in header || 'x5u' in header || 'x5c' in header) {
    throw new JwsError('header members we do not honour');
  }
  if (typeof header.kid !== 'string' || !header.kid) throw new JwsError('kid missing');
  const signature = Buffer.from(s, 'base64url');
  // One spelling per signature: spare bits in the last character must be zero (RFC 4648 3.5).
  if (signature.length !== ES256_SIGNATURE_BYTES || signature.toString('base64url') !== s) throw new JwsError('signature length');
  const key = await opts.keyFor(header.kid);
  if (!key || key.type !== 'public' || !isP256(key)) throw new JwsError('unknown kid');
  const ok = cryptoVerify('sha256', Buffer.from(`${h}.${p}`, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, signature);
  if (!ok) throw new JwsError('bad signature');
  return { header: header as unknown as JwsHeader, payload: decodeJsonObject(p, 'payload') };
}
