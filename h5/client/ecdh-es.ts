/**
 * ECDH-ES+A256KW (RFC 7518 section 4.6) on WebCrypto, for the envelope-webcrypto path only (the
 * forge bundle never imports it): R is wrapped with AES-KW under a key-encryption key that a fresh
 * ephemeral key agrees with the provider's key of the same curve (X25519, RFC 8037, or P-256),
 * through the Concat KDF.
 */
import { asciiBytes, type EcEncryptionJwk, type EncryptionJwk, type OkpEncryptionJwk } from './jwe-compact.ts';

export const ECDH_ES_A256KW = 'ECDH-ES+A256KW';
const B64U = /^[A-Za-z0-9_-]+$/;

/** The `epk` header member: the ephemeral public key, exactly these members. */
export type EphemeralPublicJwk = { kty: 'EC'; crv: 'P-256'; x: string; y: string } | { kty: 'OKP'; crv: 'X25519'; x: string };

/** Checks an EC key is P-256 with base64url coordinates (and the kid a plain string). */
export function checkEcJwk(jwk: EncryptionJwk): asserts jwk is EcEncryptionJwk {
  const k = jwk as Partial<EcEncryptionJwk>;
  if (k.kty !== 'EC' || k.crv !== 'P-256' || !B64U.test(k.x as string) || !B64U.test(k.y as string) || typeof k.kid !== 'string') {
    throw new TypeError('the encryption key needs kty EC, crv P-256, x, y and kid');
  }
}

/** Length-prefixed fields (32-bit big-endian lengths where asked), concatenated. */
function concat(parts: (Uint8Array | number)[]): Uint8Array<ArrayBuffer> {
  const bytes: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') bytes.push(p >>> 24, (p >>> 16) & 0xff, (p >>> 8) & 0xff, p & 0xff);
    else bytes.push(...p);
  }
  return new Uint8Array(bytes);
}

/**
 * The Concat KDF with SHA-256 as JWA uses it (RFC 7518 section 4.6.2), for keydatalen up to 256
 * bits (one round): SHA-256(1 || Z || AlgorithmID || PartyUInfo || PartyVInfo || keydatalen),
 * the first three fields prefixed with their 32-bit big-endian length. Buffers holding Z or the
 * full digest are wiped.
 */
export async function concatKdf(
  subtle: SubtleCrypto, z: Uint8Array, keyDataLenBits: number, algorithmId: string,
  apu: Uint8Array = new Uint8Array(0), apv: Uint8Array = new Uint8Array(0),
): Promise<Uint8Array<ArrayBuffer>> {
  if (keyDataLenBits > 256) throw new RangeError('one round of SHA-256 gives at most 256 bits');
  const id = asciiBytes(algorithmId);
  const input = concat([1, z, id.length, id, apu.length, apu, apv.length, apv, keyDataLenBits]);
  let digest: Uint8Array | undefined;
  try {
    digest = new Uint8Array(await subtle.digest('SHA-256', input));
    return digest.slice(0, keyDataLenBits / 8);
  } finally {
    input.fill(0);
    digest?.fill(0);
  }
}

/**
 * Wraps R to the provider's P-256 or X25519 key: a fresh ephemeral key pair on the same curve, Z
 * by ECDH (X25519: RFC 7748), the KEK by the Concat KDF (AlgorithmID "ECDH-ES+A256KW", no
 * apu/apv), R wrapped by AES-KW. Returns the encrypted key and the ephemeral public key for the
 * header. A WebCrypto without X25519 throws at importKey (the feature test), before anything is
 * sent, and the caller falls back to the P-256 key.
 */
export async function wrapEcdhEsA256kw(
  subtle: SubtleCrypto, jwk: EcEncryptionJwk | OkpEncryptionJwk, r: Uint8Array<ArrayBuffer>,
): Promise<{ encryptedKey: Uint8Array; epk: EphemeralPublicJwk }> {
  const okp = jwk.kty === 'OKP';
  const algorithm = okp ? { name: 'X25519' } : { name: 'ECDH', namedCurve: 'P-256' };
  const recipientJwk = okp ? { kty: 'OKP', crv: 'X25519', x: jwk.x, ext: true } : { kty: 'EC', crv: 'P-256', x: jwk.x, y: (jwk as EcEncryptionJwk).y, ext: true };
  const recipient = await subtle.importKey('jwk', recipientJwk, algorithm, false, []);
  // The private half stays non-extractable; a public key is always exportable.
  const ephemeral = (await subtle.generateKey(algorithm, false, ['deriveBits'])) as CryptoKeyPair;
  const z = new Uint8Array(await subtle.deriveBits({ name: algorithm.name, public: recipient }, ephemeral.privateKey, 256));
  let kekBytes: Uint8Array<ArrayBuffer> | undefined;
  let kek: CryptoKey;
  try {
    kekBytes = await concatKdf(subtle, z, 256, ECDH_ES_A256KW);
    kek = await subtle.importKey('raw', kekBytes, { name: 'AES-KW' }, false, ['wrapKey']);
  } finally {
    z.fill(0);
    kekBytes?.fill(0);
  }
  // AES-KW in WebCrypto only wraps keys: R goes in as an extractable key, dropped right after.
  const rKey = await subtle.importKey('raw', r, { name: 'AES-GCM' }, true, ['encrypt']);
  const encryptedKey = new Uint8Array(await subtle.wrapKey('raw', rKey, kek, { name: 'AES-KW' }));
  // WebCrypto exports full-length coordinates (RFC 7518 section 6.2.1.2), as the server requires.
  const { x, y } = await subtle.exportKey('jwk', ephemeral.publicKey);
  return { encryptedKey, epk: okp ? { kty: 'OKP', crv: 'X25519', x: x! } : { kty: 'EC', crv: 'P-256', x: x!, y: y! } };
}
