/**
 * ES256 compact JWS for the countersign flow, on node:crypto. Unlike platform/crypto/jws.ts the
 * payload may be any bytes (a countersignature's payload is the TBS object's compact string,
 * byte for byte, never re-serialised), and objects may be longer than a VT. The header is
 * checked member by member before any crypto, as there: exactly ES256, the expected `typ`, a `kid`.
 */
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { JwsError } from '../../platform/crypto/jws.ts';

export { JwsError };

/** Longest compact JWS this flow accepts (a relay's request with a countersignature and a JWE is under 4 KiB). */
export const MAX_COUNTERSIGN_JWS_LENGTH = 16 * 1024;
const B64U = /^[A-Za-z0-9_-]+$/;

export const b64u = (data: Uint8Array | string) => Buffer.from(data).toString('base64url');
export const sha256b64u = (data: Uint8Array | string) => createHash('sha256').update(data).digest('base64url');

export function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/** A public P-256 JWK (only kty, crv, x, y), or undefined when `jwk` is not one. */
export function publicP256Jwk(jwk: unknown): { kty: 'EC'; crv: 'P-256'; x: string; y: string } | undefined {
  const j = jwk as { kty?: unknown; crv?: unknown; x?: unknown; y?: unknown; d?: unknown } | null;
  if (!j || typeof j !== 'object' || j.kty !== 'EC' || j.crv !== 'P-256' || 'd' in j) return undefined;
  if (typeof j.x !== 'string' || typeof j.y !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(j.x) || !/^[A-Za-z0-9_-]{43}$/.test(j.y)) return undefined;
  try {
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: j.x, y: j.y }, format: 'jwk' });
    return isP256(key) ? { kty: 'EC', crv: 'P-256', x: j.x, y: j.y } : undefined;
  } catch {
    return undefined; // not a point on the curve
  }
}

/**
 * The raw ES256 check: `signature` must be exactly 64 bytes (r || s, the form JWS uses), then
 * ECDSA P-256 with SHA-256 over `input`. Every countersign signature goes through here (and the
 * Wycheproof vectors do, test/flows/countersign/wycheproof.test.ts).
 */
export function es256Verify(key: KeyObject, input: Uint8Array, signature: Uint8Array): boolean {
  if (key.type !== 'public' || !isP256(key) || signature.length !== 64) return false;
  try {
    return cryptoVerify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** Signs `payload` (bytes as given, or a JSON object) as a compact JWS `{"alg":"ES256","typ","kid"}`. */
export function es256Sign(header: { typ: string; kid: string }, payload: Uint8Array | string | Record<string, unknown>, privateKey: KeyObject): string {
  if (privateKey.type !== 'private' || !isP256(privateKey)) throw new TypeError('ES256 needs a P-256 private key');
  const bytes = typeof payload === 'string' || payload instanceof Uint8Array ? payload : JSON.stringify(payload);
  const input = `${b64u(JSON.stringify({ alg: 'ES256', typ: header.typ, kid: header.kid }))}.${b64u(bytes)}`;
  return `${input}.${b64u(cryptoSign('sha256', Buffer.from(input, 'ascii'), { key: privateKey, dsaEncoding: 'ieee-p1363' }))}`;
}

/** The parts of a compact JWS whose header passed the checks, before its signature is verified. */
export interface ParsedJws {
  header: { alg: 'ES256'; typ: string; kid: string };
  payload: Buffer;
  signingInput: Buffer;
  signature: Buffer;
}

/** Parses a compact JWS and checks its header; throws JwsError. No crypto. */
export function parseJws(token: unknown, typ: string): ParsedJws {
  if (typeof token !== 'string' || token.length > MAX_COUNTERSIGN_JWS_LENGTH) throw new JwsError('not a compact JWS');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64U.test(p))) throw new JwsError('not a compact JWS');
  const [h, p, s] = parts as [string, string, string];
  const strict = (seg: string) => {
    const bytes = Buffer.from(seg, 'base64url');
    if (bytes.toString('base64url') !== seg) throw new JwsError('base64url with spare bits');
    return bytes;
  };
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(strict(h))) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof JwsError) throw err;
    throw new JwsError('header is not JSON');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new JwsError('header is not an object');
  if (header.alg !== 'ES256') throw new JwsError('alg must be ES256');
  if (header.typ !== typ) throw new JwsError(`typ must be ${typ}`);
  if (Object.keys(header).some((k) => !['alg', 'typ', 'kid'].includes(k))) throw new JwsError('header members we do not honour');
  if (typeof header.kid !== 'string' || !header.kid || header.kid.length > 128) throw new JwsError('kid missing');
  return {
    header: header as ParsedJws['header'],
    payload: strict(p),
    signingInput: Buffer.from(`${h}.${p}`, 'ascii'),
    signature: strict(s),
  };
}

/** Verifies a parsed JWS with `key`; throws JwsError. */
export function verifyParsed(jws: ParsedJws, key: KeyObject | undefined): void {
  if (!key || !es256Verify(key, jws.signingInput, jws.signature)) throw new JwsError('bad signature');
}

/** The payload of a verified JWS as a JSON object; throws JwsError. */
export function jsonPayload(jws: ParsedJws): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(jws.payload));
  } catch {
    throw new JwsError('payload is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new JwsError('payload is not an object');
  return v as Record<string, unknown>;
}

/** The public key of a P-256 JWK. */
export const keyOfJwk = (jwk: { x: string; y: string }) => createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, format: 'jwk' });
