/**
 * JWE compact serialization (RFC 7516) for the algorithms of the v1 contract, on node:crypto:
 * key management `A256KW`, `RSA-OAEP-256`, `ECDH-ES+A256KW` (P-256, and X25519 per RFC 8037) and
 * `dir`, content encryption
 * `A256GCM`.
 *
 * Every failure to open a JWE throws the same JweError with the same message, whatever the cause
 * (bad header, bad padding, a point off the curve, bad tag), so a failure tells a caller nothing it
 * could use as an oracle.
 */
import {
  constants, createCipheriv, createDecipheriv, createECDH, createHash, createPublicKey, diffieHellman, generateKeyPairSync,
  privateDecrypt, publicEncrypt, webcrypto, type ECDH, type KeyObject,
} from 'node:crypto';
import { availableParallelism } from 'node:os';
import { randomBytesPooled } from './random.ts';

export type KeyManagementAlg = 'A256KW' | 'RSA-OAEP-256' | 'ECDH-ES+A256KW' | 'dir';
export const CONTENT_ENC = 'A256GCM';

/**
 * An ephemeral public key (`epk`, RFC 7518 section 4.6.1.1): exactly these members, an EC P-256
 * point or an X25519 public key (RFC 8037 section 2).
 */
export type EphemeralPublicJwk = { kty: 'EC'; crv: 'P-256'; x: string; y: string } | { kty: 'OKP'; crv: 'X25519'; x: string };

export interface JweHeader {
  alg: KeyManagementAlg;
  enc: typeof CONTENT_ENC;
  kid?: string;
  typ?: string;
  cty?: string;
  /** `ECDH-ES+A256KW` only: set by encryptCompact, required when opening. */
  epk?: EphemeralPublicJwk;
  /** `ECDH-ES+A256KW` only: PartyUInfo and PartyVInfo of the Concat KDF, base64url. */
  apu?: string;
  apv?: string;
}

/** The single error every failed decryption raises. */
export class JweError extends Error {
  readonly code = 'ERR_JWE_INVALID';
  constructor(options?: { cause?: unknown }) {
    super('JWE cannot be opened', options);
    this.name = 'JweError';
  }
}

const B64U = /^[A-Za-z0-9_-]*$/;
const ALLOWED_HEADER_MEMBERS = new Set(['alg', 'enc', 'kid', 'typ', 'cty']);
const ECDH_HEADER_MEMBERS = new Set([...ALLOWED_HEADER_MEMBERS, 'epk', 'apu', 'apv']);
const EPK_MEMBERS = ['crv', 'kty', 'x', 'y'];
const OKP_EPK_MEMBERS = ['crv', 'kty', 'x'];
/** Bytes of a P-256 coordinate; the JWK form is exactly this long (RFC 7518 section 6.2.1.2). */
const P256_COORDINATE_BYTES = 32;
/** Bytes of an X25519 public key (RFC 7748 section 5). */
const X25519_KEY_BYTES = 32;
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
/** Ceiling on an H5 envelope's length (an RSA or ECDH envelope is under 1 KiB). */
export const MAX_ENVELOPE_LENGTH = 8192;
/** Default ceiling on a compact JWE's length, checked before any parsing or crypto. */
export const DEFAULT_MAX_JWE_LENGTH = 16 * 1024;

/**
 * Strict base64url: Buffer's own decoder silently skips characters outside the alphabet and
 * ignores the spare bits of the last character; here those must be zero (RFC 4648 section 3.5),
 * so that a JWE has exactly one spelling.
 */
export function b64uDecode(s: string): Buffer {
  if (!B64U.test(s) || s.length % 4 === 1) throw new JweError();
  const bytes = Buffer.from(s, 'base64url');
  if (bytes.toString('base64url') !== s) throw new JweError();
  return bytes;
}

export function b64u(data: Uint8Array | string): string {
  return Buffer.from(data).toString('base64url');
}

function gcmEncrypt(cek: Uint8Array, plaintext: Uint8Array, aad: string) {
  const iv = randomBytesPooled(12);
  const cipher = createCipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(aad, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

/**
 * Opens A256GCM content as every JWE here is opened: a 256-bit key, a 96-bit IV and a 128-bit tag
 * only (anything else is refused before any crypto), AAD the ASCII protected-header segment.
 * Throws JweError.
 */
export function gcmDecrypt(cek: Uint8Array, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: string): Buffer {
  if (cek.length !== 32 || iv.length !== 12 || tag.length !== 16) throw new JweError();
  try {
    const decipher = createDecipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(aad, 'ascii'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (cause) {
    throw new JweError({ cause });
  }
}

/** AES Key Wrap (RFC 3394) with a 256-bit key-encryption key. */
export function aesKeyWrap(kek: Uint8Array, cek: Uint8Array): Buffer {
  const c = createCipheriv('id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([c.update(cek), c.final()]);
}

export function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Buffer {
  try {
    const d = createDecipheriv('id-aes256-wrap', kek, KW_IV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch (cause) {
    throw new JweError({ cause });
  }
}

function uint32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function lengthPrefixed(data: Uint8Array): Buffer {
  return Buffer.concat([uint32be(data.length), data]);
}

/**
 * The Concat KDF of NIST SP 800-56A with SHA-256, as JWA uses it for ECDH-ES (RFC 7518 section
 * 4.6.2): OtherInfo is AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo (keydatalen in bits),
 * each of the first three a 32-bit big-endian length and the bytes.
 */
export function concatKdf(z: Uint8Array, keyDataLenBits: number, algorithmId: string, apu: Uint8Array = Buffer.alloc(0), apv: Uint8Array = Buffer.alloc(0)): Buffer {
  const otherInfo = Buffer.concat([lengthPrefixed(Buffer.from(algorithmId, 'ascii')), lengthPrefixed(apu), lengthPrefixed(apv), uint32be(keyDataLenBits)]);
  const rounds = Math.ceil(keyDataLenBits / 256);
  const out: Buffer[] = [];
  for (let i = 1; i <= rounds; i++) out.push(createHash('sha256').update(uint32be(i)).update(z).update(otherInfo).digest());
  return Buffer.concat(out).subarray(0, keyDataLenBits / 8);
}

/**
 * One ECDH context per private key of ours (never per attacker input), so that opening an
 * envelope costs one point decode and one scalar multiplication. Turning each `epk` into a
 * KeyObject (createPublicKey) would also run OpenSSL's full public-key check, a second scalar
 * multiplication, and halve the throughput; for P-256 (cofactor 1) the on-curve check that
 * computeSecret makes when it decodes the point is the check that matters (invalid-curve attacks).
 */
const ecdhContexts = new WeakMap<KeyObject, ECDH>();

function ecdhContext(privateKey: KeyObject): ECDH {
  let ecdh = ecdhContexts.get(privateKey);
  if (!ecdh) {
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new JweError();
    }
    ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from((privateKey.export({ format: 'jwk' }) as { d: string }).d, 'base64url'));
    ecdhContexts.set(privateKey, ecdh);
  }
  return ecdh;
}

type ParsedEpk = { crv: 'P-256'; point: Buffer } | { crv: 'X25519'; x: string };

/**
 * The `epk` header member, checked: exactly kty, crv, x, y for an EC P-256 point in full-length
 * coordinates; exactly kty, crv, x for an X25519 key (OKP) of 32 bytes.
 */
function parseEpk(epk: unknown): ParsedEpk {
  if (!epk || typeof epk !== 'object' || Array.isArray(epk)) throw new JweError();
  const e = epk as Record<string, unknown>;
  const members = Object.keys(e).sort();
  const expected = e.kty === 'OKP' ? OKP_EPK_MEMBERS : EPK_MEMBERS;
  if (members.length !== expected.length || members.some((m, i) => m !== expected[i])) throw new JweError();
  if (e.kty === 'OKP') {
    if (e.crv !== 'X25519' || typeof e.x !== 'string' || b64uDecode(e.x).length !== X25519_KEY_BYTES) throw new JweError();
    return { crv: 'X25519', x: e.x };
  }
  if (e.kty !== 'EC' || e.crv !== 'P-256' || typeof e.x !== 'string' || typeof e.y !== 'string') throw new JweError();
  const x = b64uDecode(e.x);
  const y = b64uDecode(e.y);
  if (x.length !== P256_COORDINATE_BYTES || y.length !== P256_COORDINATE_BYTES) throw new JweError();
  // Uncompressed SEC 1 point; whether it is on the curve is checked where it is decoded.
  return { crv: 'P-256', point: Buffer.concat([Buffer.from([4]), x, y]) };
}

/**
 * Z of ECDH-ES for a checked `epk` and our private key: the curves must agree (a P-256 `epk` for
 * the X25519 key, or the other way round, fails like any bad JWE). P-256: the point is decoded and
 * checked on the curve by computeSecret. X25519: every 32-byte string is a public key (RFC 7748
 * section 5); a low-order one gives the all-zero Z, which OpenSSL refuses and which is refused
 * here again (RFC 8037 section 3.2 / RFC 7748 section 6.1). Throws JweError.
 */
export function ecdhEsSharedSecret(privateKey: KeyObject, epk: unknown): Buffer {
  const parsed = parseEpk(epk);
  try {
    if (parsed.crv === 'P-256') return ecdhContext(privateKey).computeSecret(parsed.point);
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'x25519') throw new JweError();
    const z = diffieHellman({ privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: parsed.x }, format: 'jwk' }) });
    if (z.length !== X25519_KEY_BYTES || z.every((b) => b === 0)) throw new JweError();
    return z;
  } catch (cause) {
    if (cause instanceof JweError) throw cause;
    throw new JweError({ cause });
  }
}

/** The ECDH-ES+A256KW key-encryption key: Concat KDF over Z, keydatalen 256, AlgorithmID the alg. */
function ecdhEsKek(z: Uint8Array, header: JweHeader): Buffer {
  const apu = header.apu === undefined ? undefined : b64uDecode(header.apu);
  const apv = header.apv === undefined ? undefined : b64uDecode(header.apv);
  return concatKdf(z, 256, 'ECDH-ES+A256KW', apu, apv);
}

/**
 * Key for encryption: a 32-byte secret for `A256KW` and `dir`, the recipient's public KeyObject
 * for `RSA-OAEP-256` (RSA) and `ECDH-ES+A256KW` (EC P-256 or X25519).
 */
export type EncryptKey = Uint8Array | KeyObject;

export interface EncryptOptions {
  header: JweHeader;
  plaintext: Uint8Array | string;
  key: EncryptKey;
  /** For `RSA-OAEP-256`, `ECDH-ES+A256KW` and `A256KW`: use this CEK instead of a fresh one (the H5 envelope's R). */
  cek?: Uint8Array;
}

/** Encrypts to a JWE compact string. For `ECDH-ES+A256KW` a fresh ephemeral key is drawn and set as `epk`. */
export function encryptCompact({ header, plaintext, key, cek: givenCek }: EncryptOptions): string {
  if (header.enc !== CONTENT_ENC) throw new TypeError(`unsupported enc ${header.enc}`);
  let cek: Uint8Array;
  let encryptedKey: Buffer;
  switch (header.alg) {
    case 'dir':
      cek = key as Uint8Array;
      encryptedKey = Buffer.alloc(0);
      break;
    case 'A256KW':
      cek = givenCek ?? randomBytesPooled(32);
      encryptedKey = aesKeyWrap(key as Uint8Array, cek);
      break;
    case 'RSA-OAEP-256':
      cek = givenCek ?? randomBytesPooled(32);
      encryptedKey = publicEncrypt({ key: key as KeyObject, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
      break;
    case 'ECDH-ES+A256KW': {
      cek = givenCek ?? randomBytesPooled(32);
      if ((key as KeyObject).asymmetricKeyType === 'x25519') {
        const ephemeral = generateKeyPairSync('x25519');
        const { x } = ephemeral.publicKey.export({ format: 'jwk' }) as { x: string };
        header = { ...header, epk: { kty: 'OKP', crv: 'X25519', x } };
        const z = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: key as KeyObject });
        encryptedKey = aesKeyWrap(ecdhEsKek(z, header), cek);
        break;
      }
      const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const { x, y } = ephemeral.publicKey.export({ format: 'jwk' }) as { x: string; y: string };
      header = { ...header, epk: { kty: 'EC', crv: 'P-256', x, y } };
      const z = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: key as KeyObject });
      encryptedKey = aesKeyWrap(ecdhEsKek(z, header), cek);
      break;
    }
    default:
      throw new TypeError(`unsupported alg ${(header as { alg: string }).alg}`);
  }
  if (cek.length !== 32) throw new TypeError('A256GCM needs a 256-bit key');
  const protectedB64 = b64u(JSON.stringify(header));
  const pt = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const { iv, ciphertext, tag } = gcmEncrypt(cek, pt, protectedB64);
  return [protectedB64, b64u(encryptedKey), b64u(iv), b64u(ciphertext), b64u(tag)].join('.');
}

export interface DecryptOptions {
  /** Key-management algorithms accepted here; anything else fails before any crypto. */
  algorithms: readonly KeyManagementAlg[];
  /** Returns the key for a header (by `kid`), or undefined when there is none: that fails too. */
  key: (header: JweHeader) => EncryptKey | undefined;
  maxLength?: number;
}

export interface Decrypted {
  header: JweHeader;
  plaintext: Buffer;
  /** The content-encryption key: for the H5 envelope this is R, which seals the reply. */
  cek: Buffer;
}

/**
 * Parses and checks the protected header; throws JweError for anything outside the allow-list.
 * `epk` (required), `apu` and `apv` are allowed for `ECDH-ES+A256KW` only.
 */
export function parseProtectedHeader(segment: string, algorithms: readonly KeyManagementAlg[]): JweHeader {
  let header: unknown;
  try {
    header = JSON.parse(b64uDecode(segment).toString('utf8'));
  } catch (cause) {
    throw new JweError({ cause });
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new JweError();
  const h = header as Record<string, unknown>;
  if (typeof h.alg !== 'string' || !(algorithms as readonly string[]).includes(h.alg)) throw new JweError();
  const ecdh = h.alg === 'ECDH-ES+A256KW';
  const allowed = ecdh ? ECDH_HEADER_MEMBERS : ALLOWED_HEADER_MEMBERS;
  for (const k of Object.keys(h)) if (!allowed.has(k)) throw new JweError();
  if (h.enc !== CONTENT_ENC) throw new JweError();
  for (const k of ['kid', 'typ', 'cty', 'apu', 'apv'] as const) if (h[k] !== undefined && typeof h[k] !== 'string') throw new JweError();
  if (ecdh && h.epk === undefined) throw new JweError();
  return h as unknown as JweHeader;
}

interface ParsedCompact {
  header: JweHeader;
  key: EncryptKey;
  protectedSegment: string;
  encryptedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/**
 * Whether a key from the caller's lookup is of the kind the header's alg uses: bytes for `dir`
 * and `A256KW`, a key object for the others (which their own code checks further). A lookup that
 * hands back the other kind (one that goes by `kid` alone) then fails like any bad JWE, not with
 * a TypeError.
 */
function keyFitsAlg(alg: KeyManagementAlg, key: EncryptKey): boolean {
  return (alg === 'dir' || alg === 'A256KW') === key instanceof Uint8Array;
}

/** Splits, decodes and checks a compact JWE and finds its key; throws JweError. */
function parseCompact(jwe: unknown, opts: DecryptOptions): ParsedCompact {
  if (typeof jwe !== 'string' || jwe.length > (opts.maxLength ?? DEFAULT_MAX_JWE_LENGTH)) throw new JweError();
  const parts = jwe.split('.');
  if (parts.length !== 5) throw new JweError();
  const [p0, p1, p2, p3, p4] = parts as [string, string, string, string, string];
  const header = parseProtectedHeader(p0, opts.algorithms);
  const key = opts.key(header);
  if (!key || !keyFitsAlg(header.alg, key)) throw new JweError();
  return { header, key, protectedSegment: p0, encryptedKey: b64uDecode(p1), iv: b64uDecode(p2), ciphertext: b64uDecode(p3), tag: b64uDecode(p4) };
}

/**
 * A CEK that failed to unwrap is replaced by a random one, so the JWE fails at the tag check like
 * any other bad JWE and a bad padding costs the same: no padding oracle (RFC 7516 section 11.5).
 */
const orRandomCek = (cek: Buffer | undefined): Buffer => (cek && cek.length === 32 ? cek : randomBytesPooled(32));

/** Unwraps the CEK for every algorithm but the asynchronous RSA path. */
function unwrapCek({ header, key, encryptedKey }: ParsedCompact): Buffer {
  switch (header.alg) {
    case 'dir':
      if (encryptedKey.length !== 0) throw new JweError();
      return Buffer.from(key as Uint8Array);
    case 'A256KW':
      return aesKeyUnwrap(key as Uint8Array, encryptedKey);
    case 'RSA-OAEP-256': {
      let cek: Buffer | undefined;
      try {
        cek = privateDecrypt({ key: key as KeyObject, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encryptedKey);
      } catch {
        cek = undefined;
      }
      return orRandomCek(cek);
    }
    case 'ECDH-ES+A256KW': {
      // Throws for a point that is not on P-256 (an invalid-curve attack), the identity, an
      // X25519 key of low order, or an `epk` of the other curve than our key's.
      const z = ecdhEsSharedSecret(key as KeyObject, header.epk);
      let cek: Buffer | undefined;
      try {
        cek = aesKeyUnwrap(ecdhEsKek(z, header), encryptedKey);
      } catch {
        cek = undefined;
      }
      return orRandomCek(cek);
    }
  }
}

/** Opens a JWE compact string. Throws JweError, always the same, on any failure. */
export function decryptCompact(jwe: unknown, opts: DecryptOptions): Decrypted {
  const parsed = parseCompact(jwe, opts);
  const cek = unwrapCek(parsed);
  return { header: parsed.header, plaintext: gcmDecrypt(cek, parsed.iv, parsed.ciphertext, parsed.tag, parsed.protectedSegment), cek };
}

/**
 * Copies of each RSA private key as WebCrypto keys, one per core: WebCrypto runs RSA in libuv's
 * thread pool, off the event loop, and OpenSSL serialises concurrent operations on one key (its
 * blinding), so each thread gets its own copy. Keyed by our own KeyObject, never by client input.
 */
const rsaWorkerKeys = new WeakMap<KeyObject, Promise<CryptoKey[]>>();
let rsaRoundRobin = 0;

function rsaKeysFor(privateKey: KeyObject): Promise<CryptoKey[]> {
  let keys = rsaWorkerKeys.get(privateKey);
  if (!keys) {
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    const copies = Math.max(2, availableParallelism());
    keys = Promise.all(Array.from({ length: copies }, () => webcrypto.subtle.importKey('pkcs8', der, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt'])));
    rsaWorkerKeys.set(privateKey, keys);
  }
  return keys;
}

/**
 * The RSA-OAEP-256 key unwrap of decryptCompactAsync (RSAES-OAEP with SHA-256, MGF1-SHA-256 and
 * the empty label, RFC 7518 section 4.3), in the thread pool. Throws JweError when the ciphertext
 * does not decrypt to a well-padded message; the envelope path never lets that show (orRandomCek).
 */
export async function rsaOaepUnwrap(privateKey: KeyObject, encryptedKey: Uint8Array): Promise<Buffer> {
  try {
    // A key that is not an RSA private key fails here (export or import), like a bad padding.
    const keys = await rsaKeysFor(privateKey);
    return Buffer.from(await webcrypto.subtle.decrypt({ name: 'RSA-OAEP' }, keys[rsaRoundRobin++ % keys.length]!, encryptedKey));
  } catch (cause) {
    throw new JweError({ cause });
  }
}

/**
 * Opens a JWE compact string like decryptCompact, with the RSA-OAEP private-key operation off the
 * event loop (the envelope exchange's hot path). Same checks, same single JweError.
 */
export async function decryptCompactAsync(jwe: unknown, opts: DecryptOptions): Promise<Decrypted> {
  const parsed = parseCompact(jwe, opts);
  let cek: Buffer;
  if (parsed.header.alg === 'RSA-OAEP-256') {
    let unwrapped: Buffer | undefined;
    try {
      unwrapped = await rsaOaepUnwrap(parsed.key as KeyObject, parsed.encryptedKey);
    } catch {
      unwrapped = undefined;
    }
    cek = orRandomCek(unwrapped);
  } else {
    cek = unwrapCek(parsed);
  }
  return { header: parsed.header, plaintext: gcmDecrypt(cek, parsed.iv, parsed.ciphertext, parsed.tag, parsed.protectedSegment), cek };
}
