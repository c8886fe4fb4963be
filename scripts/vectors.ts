/**
 * Writes the test vectors of docs/vectors/ (docs/vectors/README.md): fresh keys and random values,
 * every intermediate an integrator may want to compare against. `npx tsx scripts/vectors.ts`
 * rewrites them; test/protocol/vectors.test.ts checks the committed files through our code and jose.
 */
import { createCipheriv, createHmac, diffieHellman, generateKeyPairSync, publicEncrypt, constants, randomBytes, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { aesKeyWrap, b64u, concatKdf } from '../platform/crypto/jwe.ts';
import { contentDigest, signRequest, signatureBase } from '../platform/http/signature.ts';
import { generateEncryptionKey, generateSigningKey, toJwks } from '../flows/keys/keys.ts';
import { signVisitToken } from '../flows/visit-token/records.ts';

const OUT = new URL('../docs/vectors/', import.meta.url);
const jwk = (k: KeyObject) => k.export({ format: 'jwk' }) as Record<string, string>;

function gcm(key: Uint8Array, iv: Uint8Array, plaintext: string, aad: string) {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  c.setAAD(Buffer.from(aad, 'ascii'));
  const ciphertext = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return { ciphertext, tag: c.getAuthTag() };
}

/** A compact JWE with every part chosen here, so each intermediate can be written down. */
function compact(header: Record<string, unknown>, encryptedKey: Uint8Array, cek: Uint8Array, plaintext: string) {
  const protectedHeader = b64u(JSON.stringify(header));
  const iv = randomBytes(12);
  const { ciphertext, tag } = gcm(cek, iv, plaintext, protectedHeader);
  return {
    protectedHeader, aad: protectedHeader, iv: b64u(iv), ciphertext: b64u(ciphertext), tag: b64u(tag),
    jwe: [protectedHeader, b64u(encryptedKey), b64u(iv), b64u(ciphertext), b64u(tag)].join('.'),
  };
}

const write = (name: string, value: unknown) => writeFileSync(new URL(name, OUT), JSON.stringify(value, null, 2) + '\n');

export function writeVectors(): void {
  mkdirSync(OUT, { recursive: true });

  // 1. A signed AT request (RFC 9421 hmac-sha256, RFC 9530 Content-Digest).
  const secret = 'vector-secret-0123456789abcdefghijklmnopqrstuv';
  const body = '{"userId":"alice","productId":"city-pass"}';
  const req = {
    method: 'POST', targetUri: 'https://gateway.example/v1/access-tokens', headers: { 'content-type': 'application/json' },
    body, keyId: 'demo-app', secret, created: 1700000000, nonce: 'Xk3n0Q9bT5sZr2Lw',
  };
  const signed = signRequest(req);
  const paramsLine = signed['signature-input'].slice('sig1='.length);
  const base = signatureBase(['@method', '@target-uri', 'content-digest', 'content-type'], { method: req.method, targetUri: req.targetUri, headers: { ...req.headers, 'content-digest': signed['content-digest'] } }, paramsLine);
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8')).update(base, 'utf8').digest();
  write('signature.json', {
    description: 'A signed POST /v1/access-tokens: the HMAC key is the UTF-8 bytes of `secret`; `base` joins its lines with LF and has no trailing newline; `hmacHex` is HMAC-SHA256(secret, base); the header values use standard base64 with padding.',
    secret, method: req.method, targetUri: req.targetUri, contentType: 'application/json', body,
    created: req.created, keyid: req.keyId, nonce: req.nonce,
    contentDigest: contentDigest(body), base, hmacHex: mac.toString('hex'),
    headers: { 'Content-Digest': signed['content-digest'], 'Signature-Input': signed['signature-input'], Signature: signed.signature },
  });

  // 2. The sealed AT of a 201 (A256KW under the app's encKey, and RSA-OAEP-256 to an app's RSA key).
  const encKey = randomBytes(32);
  const atPlaintext = JSON.stringify({ at: randomBytes(32).toString('base64url'), productId: 'city-pass', userId: 'alice', exp: 1700000300 });
  const atCek = randomBytes(32);
  const kw = compact({ alg: 'A256KW', enc: 'A256GCM' }, aesKeyWrap(encKey, atCek), atCek, atPlaintext);
  const appRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const atCek2 = randomBytes(32);
  const rsaAt = compact({ alg: 'RSA-OAEP-256', enc: 'A256GCM' }, publicEncrypt({ key: appRsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, atCek2), atCek2, atPlaintext);
  write('access-token.json', {
    description: "The 201's accessToken (the sealed AT): a JWE whose plaintext carries the AT (`at`). `a256kw` is wrapped under the app's encKey; `rsaOaep256` is encrypted to an app's registered RSA public key.",
    plaintext: atPlaintext,
    a256kw: { encKey: b64u(encKey), cek: b64u(atCek), ...kw },
    rsaOaep256: { privateJwk: jwk(appRsa.privateKey), cek: b64u(atCek2), ...rsaAt },
  });

  // 3. Envelopes (the H5 page's request), RSA-OAEP-256 and ECDH-ES+A256KW, with R.
  const rsaKey = generateEncryptionKey('RSA-OAEP-256');
  const ecKey = generateEncryptionKey('ECDH-ES+A256KW');
  const envPlaintext = JSON.stringify({ at: JSON.parse(atPlaintext).at, iat: 1700000010 });
  const rRsa = randomBytes(32);
  const rsaEnv = compact({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: rsaKey.kid }, publicEncrypt({ key: rsaKey.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, rRsa), rRsa, envPlaintext);
  write('envelope-rsa.json', {
    description: 'An RSA-OAEP-256 envelope: R is the CEK, wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256) to the server key; plaintext exactly {"at","iat"}. The encrypted key differs each time (OAEP is randomised); the ciphertext and tag follow from R, iv and the protected header.',
    serverPrivateJwk: { ...jwk(rsaKey.privateKey), kid: rsaKey.kid, alg: 'RSA-OAEP-256', use: 'enc' }, serverPublicJwk: rsaKey.publicJwk,
    r: b64u(rRsa), plaintext: envPlaintext, ...rsaEnv,
  });
  const rEc = randomBytes(32);
  const eph = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ephJwk = jwk(eph.privateKey);
  const header = { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: ecKey.kid, epk: { kty: 'EC', crv: 'P-256', x: ephJwk.x, y: ephJwk.y } };
  const z = diffieHellman({ privateKey: eph.privateKey, publicKey: ecKey.publicKey });
  const kek = concatKdf(z, 256, 'ECDH-ES+A256KW');
  const wrapped = aesKeyWrap(kek, rEc);
  const ecEnv = compact(header, wrapped, rEc, envPlaintext);
  write('envelope-ecdh.json', {
    description: 'An ECDH-ES+A256KW (P-256) envelope: Z = ECDH(ephemeral private, server public); KEK = Concat KDF(SHA-256, Z, "ECDH-ES+A256KW", no apu/apv, 256 bits); encryptedKey = AES-KW(KEK, R), 40 bytes.',
    serverPrivateJwk: { ...jwk(ecKey.privateKey), kid: ecKey.kid, alg: 'ECDH-ES+A256KW', use: 'enc' }, serverPublicJwk: ecKey.publicJwk,
    ephemeralPrivateJwk: ephJwk, z: b64u(z), kek: b64u(kek), encryptedKey: b64u(wrapped),
    r: b64u(rEc), plaintext: envPlaintext, ...ecEnv,
  });

  // 4. The VT and the reply under R.
  const signing = generateSigningKey();
  const { vt, claims } = signVisitToken(signing, { issuer: 'https://gateway.example', userId: 'alice', appId: 'demo-app', productId: 'city-pass', ttlSeconds: 1800, now: 1700000010 });
  const replyPlaintext = JSON.stringify({ vt, expiresIn: 1800, productId: 'city-pass', userId: 'alice' });
  const reply = compact({ alg: 'dir', enc: 'A256GCM' }, Buffer.alloc(0), rEc, replyPlaintext);
  write('reply.json', {
    description: 'The 200 of POST /v1/visit-tokens: {"alg":"dir","enc":"A256GCM"} under R (the R of envelope-ecdh.json), a fresh IV; the second segment (encrypted key) is empty.',
    r: b64u(rEc), plaintext: replyPlaintext, ...reply,
  });
  write('visit-token.json', {
    description: 'A VT (ES256 JWS, typ vt+jwt) and the JWKS that verifies it. Verify it as of `verifyAt` (unix seconds): it expired at claims.exp.',
    vt, header: { alg: 'ES256', typ: 'vt+jwt', kid: signing.kid }, claims,
    jwks: toJwks([rsaKey, ecKey], [signing]), issuer: 'https://gateway.example', audience: 'city-pass', verifyAt: claims.iat + 60,
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeVectors();
  console.log(`wrote ${OUT.pathname}`);
}
