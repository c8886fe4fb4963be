/**
 * The H5 envelope on node-forge, for pages where WebCrypto's `crypto.subtle` is missing (insecure
 * origins, old webviews). Same wire format and interface as envelope-webcrypto.ts, RSA-OAEP-256
 * only: forge has no P-256 ECDH, and pulling one in would grow this bundle. Built as its own
 * bundle, loaded only when needed; as a script it registers itself as `window.__h5EnvelopeForge`.
 */
// Only the forge modules the envelope uses (RSA-OAEP with SHA-256, AES-GCM, the PRNG), not the
// package index, which pulls in all of forge: 112 kB minified instead of 295 kB. Each module
// registers itself on the shared `forge` object.
import forge from 'node-forge/lib/forge.js';
import 'node-forge/lib/rsa.js';
import 'node-forge/lib/sha256.js';
import 'node-forge/lib/aes.js';
import {
  CEK_BYTES,
  EnvelopeError,
  IV_BYTES,
  TAG_BYTES,
  b64uDecodeBinary,
  binaryToBytes,
  bytesToBinary,
  checkJwk,
  envelopeHeaderSegment,
  envelopePlaintext,
  joinCompact,
  parseReply,
  parseReplyPlaintext,
  type EncryptionJwk,
  type EnvelopeImpl,
  type SealedEnvelope,
} from './jwe-compact.ts';

/**
 * Random bytes as a binary string: crypto.getRandomValues where it exists (it does even on
 * insecure origins), else forge's own PRNG.
 */
function randomBinary(n: number): string {
  const c = typeof globalThis !== 'undefined' ? globalThis.crypto : undefined;
  if (c && typeof c.getRandomValues === 'function') return bytesToBinary(c.getRandomValues(new Uint8Array(n)));
  return forge.random.getBytesSync(n);
}

function bigInteger(b64u: string): forge.jsbn.BigInteger {
  return new forge.jsbn.BigInteger(forge.util.bytesToHex(b64uDecodeBinary(b64u)), 16);
}

async function seal(jwk: EncryptionJwk, at: string, iat: number): Promise<SealedEnvelope> {
  checkJwk(jwk);
  const publicKey = forge.pki.setRsaPublicKey(bigInteger(jwk.n), bigInteger(jwk.e));
  // Strings are immutable, so unlike the WebCrypto path R cannot be wiped, only dropped.
  let r: string | null = randomBinary(CEK_BYTES);
  const encryptedKey = publicKey.encrypt(r, 'RSA-OAEP', {
    md: forge.md.sha256.create(),
    mgf1: { md: forge.md.sha256.create() },
  });

  const protectedHeader = envelopeHeaderSegment(jwk.kid);
  const iv = randomBinary(IV_BYTES);
  const cipher = forge.cipher.createCipher('AES-GCM', forge.util.createBuffer(r));
  cipher.start({ iv, additionalData: protectedHeader, tagLength: TAG_BYTES * 8 });
  cipher.update(forge.util.createBuffer(bytesToBinary(envelopePlaintext(at, iat))));
  cipher.finish();
  const jwe = joinCompact({
    protectedHeader,
    encryptedKey: binaryToBytes(encryptedKey),
    iv: binaryToBytes(iv),
    ciphertext: binaryToBytes(cipher.output.getBytes()),
    tag: binaryToBytes(cipher.mode.tag.getBytes()),
  });

  return {
    jwe,
    alg: 'RSA-OAEP-256',
    async openReply(reply: string): Promise<unknown> {
      if (r === null) throw new EnvelopeError();
      const { aad, iv: replyIv, ciphertext, tag } = parseReply(reply);
      const decipher = forge.cipher.createDecipher('AES-GCM', forge.util.createBuffer(r));
      decipher.start({
        iv: bytesToBinary(replyIv),
        additionalData: aad,
        tagLength: TAG_BYTES * 8,
        tag: forge.util.createBuffer(bytesToBinary(tag)),
      });
      decipher.update(forge.util.createBuffer(bytesToBinary(ciphertext)));
      if (!decipher.finish()) throw new EnvelopeError();
      const value = parseReplyPlaintext(binaryToBytes(decipher.output.getBytes()));
      r = null; // R has done its one job.
      return value;
    },
  };
}

/** The envelope on node-forge. */
export const forgeEnvelope: EnvelopeImpl = { name: 'forge', algorithms: ['RSA-OAEP-256'], seal };

// Loaded as a classic script by the page (envelope-loader.ts waits for this global). Guarded so
// that Node (the tests) can import the module.
if (typeof window !== 'undefined') window.__h5EnvelopeForge = forgeEnvelope;
