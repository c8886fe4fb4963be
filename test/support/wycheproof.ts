/**
 * Project Wycheproof test vectors (../shared/vectors/wycheproof/, C2SP/wycheproof testvectors_v1),
 * read as data: typed file shapes, hex decoding, and the group's private key as our EncryptionKey.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rsaThumbprint, type EncryptionKey } from '../../flows/keys/keys.ts';

export const WYCHEPROOF_DIR = fileURLToPath(new URL('../../../shared/vectors/wycheproof/', import.meta.url));

export type WycheproofResult = 'valid' | 'invalid' | 'acceptable';

interface WycheproofFile<G> {
  algorithm?: string;
  numberOfTests: number;
  testGroups: G[];
}

export interface RsaOaepTest {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  ct: string;
  label: string;
  result: WycheproofResult;
}

export interface RsaOaepGroup {
  keySize: number;
  sha: string;
  mgf: string;
  mgfSha: string;
  privateKeyPkcs8: string;
  tests: RsaOaepTest[];
}

export interface AeadTest {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: WycheproofResult;
}

export interface AeadGroup {
  keySize: number;
  ivSize: number;
  tagSize: number;
  tests: AeadTest[];
}

export interface JweTest {
  tcId: number;
  comment: string;
  /** Compact serialization, or an object for the JSON-serialization cases. */
  jwe: string | Record<string, unknown>;
  /** Hex plaintext of a valid case. */
  pt?: string;
  result: WycheproofResult;
  flags: string[];
}

export interface JweGroup {
  comment?: string;
  /** The recipient's private JWK (RSA, EC or oct). */
  private: JsonWebKey & { kid?: string };
  tests: JweTest[];
}

/** Reads one vector file; fails loudly when it is missing or holds no tests. */
export function loadVectors<G extends { tests: unknown[] }>(name: string): WycheproofFile<G> {
  const file = JSON.parse(readFileSync(WYCHEPROOF_DIR + name, 'utf8')) as WycheproofFile<G>;
  const count = file.testGroups.reduce((n, g) => n + g.tests.length, 0);
  if (count === 0 || count !== file.numberOfTests) throw new Error(`${name}: ${count} tests, header says ${file.numberOfTests}`);
  return file;
}

export const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** The group's RSA private key (PKCS #8 DER in hex). */
export function rsaPrivateKey(group: Pick<RsaOaepGroup, 'privateKeyPkcs8'>): KeyObject {
  return createPrivateKey({ key: hex(group.privateKeyPkcs8), format: 'der', type: 'pkcs8' });
}

/** A Wycheproof RSA key as auth holds an RSA-OAEP-256 encryption key (kid: its RFC 7638 thumbprint). */
export function rsaEncryptionKey(group: Pick<RsaOaepGroup, 'privateKeyPkcs8'>): EncryptionKey {
  const privateKey = rsaPrivateKey(group);
  const publicKey = createPublicKey(privateKey);
  const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const kid = rsaThumbprint({ n, e });
  return { kid, kind: 'RSA', alg: 'RSA-OAEP-256', privateKey, publicKey, publicJwk: { kty: 'RSA', n, e, kid, use: 'enc', alg: 'RSA-OAEP-256' } };
}
