/**
 * The H5 envelope on WebCrypto (protocol section 2): R wrapped to the provider's key, with
 * ECDH-ES+A256KW for an X25519 key (preferred where WebCrypto has X25519: cheapest for the server to
 * open) or a P-256 key, or RSA-OAEP-256 for an RSA key; the AT sealed with A256GCM under R, and the `dir` reply opened with R. R's raw bytes are
 * wiped as soon as they are wrapped and imported; after that R exists only as a non-extractable
 * CryptoKey, which is dropped once the reply is open.
 */
import { checkEcJwk, ECDH_ES_A256KW, wrapEcdhEsA256kw, type EphemeralPublicJwk } from './ecdh-es.ts';
import {
  CEK_BYTES,
  EnvelopeError,
  IV_BYTES,
  TAG_BYTES,
  asciiBytes,
  checkJwk,
  envelopeHeaderSegment,
  envelopePlaintext,
  joinCompact,
  parseReply,
  parseReplyPlaintext,
  type EncryptionJwk,
  type EnvelopeAlg,
  type EnvelopeImpl,
  type PageKeyJwk,
  type SealedEnvelope,
} from './jwe-compact.ts';

function webCrypto(): Crypto {
  const c = globalThis.crypto;
  if (!c || !c.subtle) throw new Error('WebCrypto is not available here');
  return c;
}

interface WrappedR {
  alg: EnvelopeAlg;
  encryptedKey: Uint8Array;
  epk?: EphemeralPublicJwk;
}

async function wrapRsaOaep256(subtle: SubtleCrypto, jwk: EncryptionJwk, r: Uint8Array<ArrayBuffer>): Promise<WrappedR> {
  checkJwk(jwk);
  const publicKey = await subtle.importKey(
    'jwk',
    { kty: 'RSA', n: jwk.n, e: jwk.e, alg: 'RSA-OAEP-256', ext: true },
    { name: 'RSA-OAEP', hash: 'SHA-256' },
    false,
    ['encrypt'],
  );
  return { alg: 'RSA-OAEP-256', encryptedKey: new Uint8Array(await subtle.encrypt({ name: 'RSA-OAEP' }, publicKey, r)) };
}

/** R wrapped by the alg of the key's kind: ECDH-ES+A256KW for X25519 and EC P-256, RSA-OAEP-256 for RSA. */
async function wrapR(subtle: SubtleCrypto, jwk: EncryptionJwk, r: Uint8Array<ArrayBuffer>): Promise<WrappedR> {
  // X25519: a WebCrypto without it refuses the key at importKey, and the page falls back to P-256.
  if (jwk && jwk.kty === 'OKP') {
    // The JWKS reader (gateway-api.ts) let only a string kid and a base64url x through.
    if (jwk.crv !== 'X25519') throw new TypeError();
    return { alg: ECDH_ES_A256KW, ...(await wrapEcdhEsA256kw(subtle, jwk, r)) };
  }
  if (jwk && jwk.kty === 'EC') {
    checkEcJwk(jwk);
    return { alg: ECDH_ES_A256KW, ...(await wrapEcdhEsA256kw(subtle, jwk, r)) };
  }
  return wrapRsaOaep256(subtle, jwk, r);
}

async function seal(jwk: EncryptionJwk, at: string, iat: number, pageKey?: PageKeyJwk): Promise<SealedEnvelope> {
  const { subtle } = webCrypto();
  const r = webCrypto().getRandomValues(new Uint8Array(CEK_BYTES));
  let cek: CryptoKey | null;
  let wrapped: WrappedR;
  try {
    wrapped = await wrapR(subtle, jwk, r);
    cek = await subtle.importKey('raw', r, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  } finally {
    r.fill(0);
  }

  const protectedHeader = envelopeHeaderSegment(jwk.kid, wrapped.alg, wrapped.epk);
  const iv = webCrypto().getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = new Uint8Array(
    await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: asciiBytes(protectedHeader), tagLength: TAG_BYTES * 8 }, cek, envelopePlaintext(at, iat, pageKey)),
  );
  // WebCrypto returns ciphertext || tag; JWE keeps them as separate parts.
  const jwe = joinCompact({
    protectedHeader,
    encryptedKey: wrapped.encryptedKey,
    iv,
    ciphertext: sealed.subarray(0, sealed.length - TAG_BYTES),
    tag: sealed.subarray(sealed.length - TAG_BYTES),
  });

  return {
    jwe,
    alg: wrapped.alg,
    async openReply(reply: string): Promise<unknown> {
      if (!cek) throw new EnvelopeError();
      const { aad, iv: replyIv, ciphertext, tag } = parseReply(reply);
      const data = new Uint8Array(ciphertext.length + tag.length);
      data.set(ciphertext);
      data.set(tag, ciphertext.length);
      let plaintext: ArrayBuffer;
      try {
        plaintext = await subtle.decrypt({ name: 'AES-GCM', iv: replyIv, additionalData: asciiBytes(aad), tagLength: TAG_BYTES * 8 }, cek, data);
      } catch {
        throw new EnvelopeError();
      }
      const value = parseReplyPlaintext(new Uint8Array(plaintext));
      cek = null; // R has done its one job.
      return value;
    },
  };
}

/** The envelope on the browser's (or Node's) WebCrypto. */
export const webCryptoEnvelope: EnvelopeImpl = { name: 'webcrypto', algorithms: [ECDH_ES_A256KW, 'RSA-OAEP-256'], seal };
