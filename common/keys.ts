/**
 * The provider's encryption keys: RSA-2048 pairs that H5 pages wrap R to (RSA-OAEP-256). Parsed
 * once into KeyObjects; published as a JWKS (RFC 7517) with RFC 7638 thumbprints as `kid`.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface PublicEncJwk {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  use: 'enc';
  alg: 'RSA-OAEP-256';
}

export interface EncryptionKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: PublicEncJwk;
}

export interface Jwks {
  keys: PublicEncJwk[];
}

/** RFC 7638 JWK thumbprint (SHA-256) of an RSA key. */
export function rsaThumbprint(jwk: { n: string; e: string }): string {
  return createHash('sha256').update(JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n })).digest('base64url');
}

function fromPrivateJwk(jwk: JsonWebKey): EncryptionKey {
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  if (privateKey.asymmetricKeyType !== 'rsa' || (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new Error('encryption keys must be RSA of at least 2048 bits');
  }
  const publicKey = createPublicKey(privateKey);
  const pub = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : rsaThumbprint(pub);
  return { kid, privateKey, publicKey, publicJwk: { kty: 'RSA', n: pub.n, e: pub.e, kid, use: 'enc', alg: 'RSA-OAEP-256' } };
}

/** Generates a new RSA-2048 encryption key. */
export function generateEncryptionKey(): EncryptionKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return fromPrivateJwk(privateKey.export({ format: 'jwk' }));
}

/**
 * Loads the keys kept in `file` (private JWKs), or, where the file does not exist yet, generates
 * one key and keeps it there (mode 0600) so that a restart keeps the same `kid`. Without a file
 * the key lives only as long as the process (tests).
 */
export function loadOrCreateEncryptionKeys(file?: string): EncryptionKey[] {
  if (!file) return [generateEncryptionKey()];
  if (existsSync(file)) {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { keys?: JsonWebKey[] };
    if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error(`${file} holds no keys`);
    return parsed.keys.map(fromPrivateJwk);
  }
  const key = generateEncryptionKey();
  mkdirSync(dirname(file), { recursive: true });
  const jwk = { ...key.privateKey.export({ format: 'jwk' }), kid: key.kid, use: 'enc', alg: 'RSA-OAEP-256' };
  writeFileSync(file, JSON.stringify({ keys: [jwk] }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return [key];
}

/** The public half of the key set, as served at /.well-known/jwks.json. */
export function toJwks(keys: readonly EncryptionKey[]): Jwks {
  return { keys: keys.map((k) => k.publicJwk) };
}
