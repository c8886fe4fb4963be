/**
 * The JWE compact strings of the H5 envelope exchange (protocol section 2), shared by both
 * envelope implementations (WebCrypto and the node-forge fallback): base64url, the exact protected
 * headers, the request plaintext and the checks on the gateway's reply. No crypto here, and nothing
 * browser-only beyond btoa/atob/TextEncoder, so the same code runs under Node in the tests.
 */

/** How R is wrapped to the provider's key: each JWKS key is for one of these. */
export type EnvelopeAlg = 'RSA-OAEP-256' | 'ECDH-ES+A256KW';

/** An RSA public encryption key (`alg: "RSA-OAEP-256"`), one JWKS entry with `use: "enc"`. */
export interface RsaEncryptionJwk {
  kty?: 'RSA';
  n: string;
  e: string;
  kid: string;
}

/** An EC P-256 public encryption key (`alg: "ECDH-ES+A256KW"`), one JWKS entry with `use: "enc"`. */
export interface EcEncryptionJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
}

/** An X25519 public encryption key (RFC 8037 `kty: "OKP"`, `alg: "ECDH-ES+A256KW"`), one JWKS entry with `use: "enc"`. */
export interface OkpEncryptionJwk {
  kty: 'OKP';
  crv: 'X25519';
  x: string;
  kid: string;
}

/** The public encryption key the envelope wraps R to. */
export type EncryptionJwk = RsaEncryptionJwk | EcEncryptionJwk | OkpEncryptionJwk;

/** One sealed request envelope; it holds R, which only `openReply` uses, once. */
export interface SealedEnvelope {
  /** The JWE to send as `{"envelope": jwe}` to `POST /v1/visit-tokens`. */
  jwe: string;
  /** How R was wrapped (the JWE's `alg`). */
  alg: EnvelopeAlg;
  /** Opens the gateway's `dir` reply with R and returns its parsed JSON; R is dropped on success. */
  openReply(jwe: string): Promise<unknown>;
}

/** What both envelope implementations provide. */
export interface EnvelopeImpl {
  name: 'webcrypto' | 'forge';
  /** The algs this implementation can wrap R with, the preferred first. */
  algorithms: readonly EnvelopeAlg[];
  /**
   * Draws a fresh R and seals `{"at", "iat"}` (and `"jwk"`, the page's public key, when given: the
   * VT is then bound to it) under it, with R wrapped to `jwk` by the alg of its kind.
   */
  seal(jwk: EncryptionJwk, at: string, iat: number, pageKey?: PageKeyJwk): Promise<SealedEnvelope>;
}

/** The page's P-256 public key as the envelope carries it (protocol section 2): exactly these members. */
export interface PageKeyJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** The page's key pair: the private half a non-extractable CryptoKey, kept in IndexedDB. */
export interface PageKey {
  privateKey: CryptoKey;
  jwk: PageKeyJwk;
}

/**
 * The Authorization headers of one call with the page's VT: `Bearer <VT>` for a VT bound to
 * nothing, `DPoP <VT>` and a fresh DPoP proof for this method and URL for a VT bound to the page's
 * key (protocol section 3). Made by app.js, handed to the chunks that call the gateway with the VT.
 */
export type Authorize = (method: string, url: string) => Promise<Record<string, string>>;

/** What the boot script started: the page's key, the sealed envelope and the gateway's answer (undefined: none came). */
export interface BootExchange {
  key: PageKey;
  sealed: SealedEnvelope;
  answer: Promise<Response | undefined>;
}

/** A session picked up again after a reload: the bound VT and its key. */
export interface StoredSession {
  vt: string;
  key: PageKey;
}

/** The session chunk (session.js, client/session.ts): the page's key, its DPoP proofs, IndexedDB. */
export interface SessionApi {
  /** Keeps the VT and its key for this product until the VT's `exp`; a failure to store is ignored (memory only). */
  save(productId: string, s: StoredSession, expiresIn: number): Promise<void>;
  /** The stored, unexpired session for this product, or null. */
  restore(productId: string): Promise<StoredSession | null>;
  /** Forgets this product's session. */
  clear(productId: string): Promise<void>;
}

declare global {
  interface Window {
    /** Set by the envelope-forge bundle when it has loaded. */
    __h5EnvelopeForge?: EnvelopeImpl;
    /** Set by the boot script, or by the envelope-webcrypto bundle when it has loaded. */
    __h5WebCrypto?: EnvelopeImpl;
    /** Set by the session bundle when it has loaded. */
    __h5Session?: SessionApi;
    /** Set by the boot script (boot.ts) when it took the AT: app.js takes it up once. */
    __h5Boot?: { at: string | null; exchange: Promise<BootExchange> };
  }
}

/**
 * The single error of a reply that cannot be opened, whatever the cause (format, header, tag), in
 * the manner of the server's JweError: the failure says nothing about why.
 */
export class EnvelopeError extends Error {
  readonly code = 'envelope_invalid';
  constructor() {
    super('the reply envelope cannot be opened');
    this.name = 'EnvelopeError';
  }
}

/** Key and IV sizes of A256GCM as the contract uses it. */
export const CEK_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;

const B64U = /^[A-Za-z0-9_-]*$/;

/** Bytes to a "binary string" (one char per byte), the form btoa and node-forge take. */
export function bytesToBinary(bytes: Uint8Array): string {
  let s = '';
  // Chunked: String.fromCharCode.apply on a large array overflows the stack on some engines.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 0x8000)));
  }
  return s;
}

/** A "binary string" back to bytes. */
export function binaryToBytes(s: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** base64url without padding (RFC 7515 section 2). */
export function b64uEncode(data: Uint8Array | string): string {
  const binary = typeof data === 'string' ? data : bytesToBinary(data);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Strict base64url to a binary string: anything outside the alphabet or with padding fails. */
export function b64uDecodeBinary(s: string): string {
  if (!B64U.test(s) || s.length % 4 === 1) throw new EnvelopeError();
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  try {
    return atob(b64);
  } catch {
    throw new EnvelopeError();
  }
}

/** Strict base64url to bytes. */
export function b64uDecode(s: string): Uint8Array<ArrayBuffer> {
  return binaryToBytes(b64uDecodeBinary(s));
}

/** UTF-8 encoding, with a fallback for the old engines that the forge path exists for. */
export function utf8Encode(s: string): Uint8Array<ArrayBuffer> {
  if (typeof TextEncoder !== 'undefined') return new TextEncoder().encode(s) as Uint8Array<ArrayBuffer>;
  return binaryToBytes(unescape(encodeURIComponent(s)));
}

/** UTF-8 decoding that fails (rather than substituting U+FFFD) on malformed input. */
export function utf8Decode(bytes: Uint8Array): string {
  if (typeof TextDecoder !== 'undefined') return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  return decodeURIComponent(escape(bytesToBinary(bytes)));
}

/** ASCII bytes of a string that is already ASCII (a base64url segment, used as the GCM AAD). */
export function asciiBytes(s: string): Uint8Array<ArrayBuffer> {
  return binaryToBytes(s);
}

/**
 * The base64url protected header of the request envelope. The member order is the contract's:
 * `{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"<kid>"}`, or for ECDH-ES+A256KW the same with
 * `"epk":{"kty":"EC","crv":"P-256","x":…,"y":…}` (or `{"kty":"OKP","crv":"X25519","x":…}`) last;
 * the segment is also the GCM AAD.
 */
export function envelopeHeaderSegment(
  kid: string, alg: EnvelopeAlg = 'RSA-OAEP-256', epk?: { kty: 'EC'; crv: 'P-256'; x: string; y: string } | { kty: 'OKP'; crv: 'X25519'; x: string },
): string {
  const epkMembers = epk && (epk.kty === 'OKP' ? { kty: epk.kty, crv: epk.crv, x: epk.x } : { kty: epk.kty, crv: epk.crv, x: epk.x, y: epk.y });
  const header = epkMembers ? { alg, enc: 'A256GCM', kid, epk: epkMembers } : { alg, enc: 'A256GCM', kid };
  return b64uEncode(utf8Encode(JSON.stringify(header)));
}

/** The request plaintext, UTF-8 JSON `{"at": "<AT>", "iat": <unix seconds>}`. */
export function envelopePlaintext(at: string, iat: number, jwk?: PageKeyJwk): Uint8Array<ArrayBuffer> {
  return utf8Encode(JSON.stringify(jwk ? { at, iat, jwk } : { at, iat }));
}

/** The five parts of a JWE compact string, in order, each already base64url-encoded by the caller. */
export interface CompactParts {
  protectedHeader: string;
  encryptedKey: Uint8Array;
  iv: Uint8Array;
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

/** Joins header segment and raw parts into a JWE compact string. */
export function joinCompact(p: CompactParts): string {
  return [p.protectedHeader, b64uEncode(p.encryptedKey), b64uEncode(p.iv), b64uEncode(p.ciphertext), b64uEncode(p.tag)].join('.');
}

/** A parsed, checked `dir` reply; `aad` is the protected header segment, as the GCM AAD. */
export interface ReplyParts {
  aad: string;
  iv: Uint8Array<ArrayBuffer>;
  ciphertext: Uint8Array<ArrayBuffer>;
  tag: Uint8Array<ArrayBuffer>;
}

/** Most a reply may be; a VT reply is a few hundred bytes. */
const MAX_REPLY_LENGTH = 16 * 1024;

/**
 * Splits the gateway's reply and checks it is what the contract says: protected header
 * `{"alg":"dir","enc":"A256GCM"}` (no other members but typ/cty), an empty encrypted key, a 12-byte
 * IV and a 16-byte tag. Throws EnvelopeError otherwise.
 */
export function parseReply(jwe: unknown): ReplyParts {
  if (typeof jwe !== 'string' || jwe.length > MAX_REPLY_LENGTH) throw new EnvelopeError();
  const parts = jwe.split('.');
  if (parts.length !== 5) throw new EnvelopeError();
  const [h, ek, iv, ct, tag] = parts as [string, string, string, string, string];
  let header: unknown;
  try {
    header = JSON.parse(utf8Decode(b64uDecode(h)));
  } catch {
    throw new EnvelopeError();
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new EnvelopeError();
  const hdr = header as Record<string, unknown>;
  if (hdr.alg !== 'dir' || hdr.enc !== 'A256GCM') throw new EnvelopeError();
  for (const k of Object.keys(hdr)) {
    if (k !== 'alg' && k !== 'enc' && k !== 'typ' && k !== 'cty') throw new EnvelopeError();
  }
  if (ek !== '') throw new EnvelopeError();
  const parsed = { aad: h, iv: b64uDecode(iv), ciphertext: b64uDecode(ct), tag: b64uDecode(tag) };
  if (parsed.iv.length !== IV_BYTES || parsed.tag.length !== TAG_BYTES) throw new EnvelopeError();
  return parsed;
}

/** Parses the decrypted reply plaintext as JSON; malformed UTF-8 or JSON is an EnvelopeError. */
export function parseReplyPlaintext(plaintext: Uint8Array): unknown {
  try {
    return JSON.parse(utf8Decode(plaintext));
  } catch {
    throw new EnvelopeError();
  }
}

/** Checks an RSA key's fields are base64url strings (and the kid a plain string). */
export function checkJwk(jwk: EncryptionJwk): asserts jwk is RsaEncryptionJwk {
  const k = jwk as Partial<RsaEncryptionJwk> | undefined;
  if (!k || (k.kty !== undefined && k.kty !== 'RSA') || typeof k.n !== 'string' || typeof k.e !== 'string' || typeof k.kid !== 'string') {
    throw new TypeError('the encryption key needs kty RSA, n, e and kid');
  }
  if (!k.n || !k.e || !B64U.test(k.n) || !B64U.test(k.e)) throw new TypeError('n and e must be base64url');
}

