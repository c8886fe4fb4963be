/**
 * The provider's encryption keys, that H5 pages wrap R to: an RSA-2048 key (`RSA-OAEP-256`), an
 * EC P-256 key and an X25519 key (RFC 8037, OKP; both `ECDH-ES+A256KW`). Parsed once into KeyObjects; published as a JWKS (RFC 7517)
 * with RFC 7638 thumbprints as `kid`.
 */
import { createHash, createPrivateKey, randomBytes, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The envelope's key-management algorithms, one key of each in the key set. */
export const ENVELOPE_ALGS = ['RSA-OAEP-256', 'ECDH-ES+A256KW'] as const;
export type EnvelopeAlg = (typeof ENVELOPE_ALGS)[number];

/**
 * The kinds of encryption key, one key of each in the key set, in JWKS order: RSA first, then
 * P-256, then X25519 (a page takes the first kind its WebCrypto can use, in its own order of
 * preference: X25519, P-256, RSA). P-256 and X25519 share the alg `ECDH-ES+A256KW`; the curve
 * tells them apart.
 */
export const ENVELOPE_KEY_KINDS = ['RSA', 'P-256', 'X25519'] as const;
export type EnvelopeKeyKind = (typeof ENVELOPE_KEY_KINDS)[number];

export interface RsaPublicEncJwk {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  use: 'enc';
  alg: 'RSA-OAEP-256';
}

export interface EcPublicEncJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  use: 'enc';
  alg: 'ECDH-ES+A256KW';
}

/** An X25519 public key (RFC 8037 section 2: `kty: "OKP"`, `crv: "X25519"`, `x` the 32 bytes). */
export interface OkpPublicEncJwk {
  kty: 'OKP';
  crv: 'X25519';
  x: string;
  kid: string;
  use: 'enc';
  alg: 'ECDH-ES+A256KW';
}

export type PublicEncJwk = RsaPublicEncJwk | EcPublicEncJwk | OkpPublicEncJwk;

export interface EncryptionKey {
  kid: string;
  kind: EnvelopeKeyKind;
  /** The one algorithm this key is used with; an envelope naming another alg fails. */
  alg: EnvelopeAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: PublicEncJwk;
}

/** The public half of auth's signing key (`use: "sig"`), as the JWKS lists it. */
export interface EcPublicSigJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  use: 'sig';
  alg: 'ES256';
}

/** The key VTs are signed with (ES256, P-256); never used for anything else. */
export interface SigningKey {
  kid: string;
  alg: 'ES256';
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: EcPublicSigJwk;
}

export type PublicJwk = PublicEncJwk | EcPublicSigJwk;

export interface Jwks {
  keys: PublicJwk[];
}

/** RFC 7638 JWK thumbprint (SHA-256) of an RSA key. */
export function rsaThumbprint(jwk: { n: string; e: string }): string {
  return createHash('sha256').update(JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n })).digest('base64url');
}

/** RFC 7638 JWK thumbprint (SHA-256) of an EC key: members crv, kty, x, y in that order. */
export function ecThumbprint(jwk: { crv: string; x: string; y: string }): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y })).digest('base64url');
}

/** RFC 7638 JWK thumbprint (SHA-256) of an OKP key: members crv, kty, x in that order (RFC 8037 section 2). */
export function okpThumbprint(jwk: { crv: string; x: string }): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: 'OKP', x: jwk.x })).digest('base64url');
}

function publicJwkOf(kind: EnvelopeKeyKind, publicKey: KeyObject, storedKid: unknown): PublicEncJwk {
  const kidOr = (thumbprint: () => string) => (typeof storedKid === 'string' && storedKid ? storedKid : thumbprint());
  if (kind === 'RSA') {
    const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
    return { kty: 'RSA', n, e, kid: kidOr(() => rsaThumbprint({ n, e })), use: 'enc', alg: 'RSA-OAEP-256' };
  }
  if (kind === 'X25519') {
    const { x } = publicKey.export({ format: 'jwk' }) as { x: string };
    return { kty: 'OKP', crv: 'X25519', x, kid: kidOr(() => okpThumbprint({ crv: 'X25519', x })), use: 'enc', alg: 'ECDH-ES+A256KW' };
  }
  const { x, y } = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  return { kty: 'EC', crv: 'P-256', x, y, kid: kidOr(() => ecThumbprint({ crv: 'P-256', x, y })), use: 'enc', alg: 'ECDH-ES+A256KW' };
}

/** The kind of a private key: RSA of at least 2048 bits, EC P-256 or X25519; anything else is refused. */
function kindOf(privateKey: KeyObject): EnvelopeKeyKind {
  const details = privateKey.asymmetricKeyDetails;
  if (privateKey.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return 'RSA';
  if (privateKey.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return 'P-256';
  if (privateKey.asymmetricKeyType === 'x25519') return 'X25519';
  throw new Error('encryption keys must be RSA of at least 2048 bits, EC P-256 or X25519');
}

/** The alg of each kind of key. */
export const ALG_OF_KIND: Readonly<Record<EnvelopeKeyKind, EnvelopeAlg>> = { RSA: 'RSA-OAEP-256', 'P-256': 'ECDH-ES+A256KW', X25519: 'ECDH-ES+A256KW' };

function fromPrivateJwk(jwk: JsonWebKey): EncryptionKey {
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const kind = kindOf(privateKey);
  const alg = ALG_OF_KIND[kind];
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new Error(`an ${privateKey.asymmetricKeyType} key cannot be used with ${String(jwk.alg)}`);
  const publicKey = createPublicKey(privateKey);
  const publicJwk = publicJwkOf(kind, publicKey, jwk.kid);
  return { kid: publicJwk.kid, kind, alg, privateKey, publicKey, publicJwk };
}

/** The private JWK kept in the keys file. */
function toPrivateJwk(key: EncryptionKey): JsonWebKey {
  return { ...key.privateKey.export({ format: 'jwk' }), kid: key.kid, use: 'enc', alg: key.alg };
}

/**
 * Generates a new encryption key of a kind: RSA-2048 (the default; also `RSA-OAEP-256`), P-256
 * (also `ECDH-ES+A256KW`) or X25519.
 */
export function generateEncryptionKey(kind: EnvelopeKeyKind | EnvelopeAlg = 'RSA'): EncryptionKey {
  const k: EnvelopeKeyKind = kind === 'RSA-OAEP-256' ? 'RSA' : kind === 'ECDH-ES+A256KW' ? 'P-256' : kind;
  const { privateKey } = k === 'RSA'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : k === 'X25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return fromPrivateJwk(privateKey.export({ format: 'jwk' }));
}

/** One new key per kind: RSA first (the key pages without ECDH use), then P-256, then X25519. */
export function generateEncryptionKeys(): EncryptionKey[] {
  return ENVELOPE_KEY_KINDS.map((kind) => generateEncryptionKey(kind));
}

/** Writes the file whole or not at all: a crash mid-write must not lose the keys already there. */
function writeKeysFile(file: string, contents: Record<string, unknown>): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(contents, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

type KeysFile = { keys: JsonWebKey[] } & Record<string, unknown>;

/** How long a lock may stand before it counts as left behind by a process that died (ms). */
const STALE_LOCK_MS = 10_000;

/**
 * Runs `fn` holding `<file>.lock` (created exclusively), so that processes starting at once on one
 * keys file (cluster workers) never each add their own key: the second waits, reads the first's
 * file, and finds nothing left to add. Waits at most 10 s; a lock older than that is removed.
 */
function withKeysFileLock<T>(file: string, fn: () => T): T {
  mkdirSync(dirname(file), { recursive: true });
  const lock = `${file}.lock`;
  const deadline = Date.now() + STALE_LOCK_MS;
  let fd: number;
  for (;;) {
    try {
      fd = openSync(lock, 'wx', 0o600);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        const seen = statSync(lock);
        if (Date.now() - seen.mtimeMs > STALE_LOCK_MS) {
          // Renamed away, then checked to be the file judged stale: a waiter that was slower than
          // another one, which has removed the old lock and taken a new one, gives that one back.
          const taken = `${lock}.${process.pid}.stale`;
          renameSync(lock, taken);
          if (statSync(taken).ino === seen.ino) unlinkSync(taken);
          else renameSync(taken, lock);
        }
      } catch {
        // Released or taken over meanwhile: try again at once.
      }
      if (Date.now() > deadline) throw new Error(`${lock} is held by another process; remove it if no broker is starting`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    return fn();
  } finally {
    closeSync(fd);
    unlinkSync(lock);
  }
}

/**
 * What `file` holds, through `read`; when `read` finds something missing (undefined), the same
 * again under the file's lock, and then `add` writes what is missing. So a key is created once,
 * whichever of several processes starting together gets there first.
 */
function loadOrAdd<T>(file: string, read: (contents: KeysFile | undefined) => T | undefined, add: (contents: KeysFile | undefined) => T): T {
  const load = () => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as KeysFile) : undefined);
  const found = read(load());
  if (found !== undefined) return found;
  return withKeysFileLock(file, () => {
    const contents = load();
    return read(contents) ?? add(contents);
  });
}

/**
 * Loads the keys kept in `file` (private JWKs) and makes sure there is one of each kind (RSA,
 * P-256, X25519): a missing one (a fresh start, or a file from before ECDH-ES+A256KW that holds
 * only the RSA key, or from before X25519 that holds RSA and P-256)
 * is generated and the file rewritten (mode 0600), so that a restart keeps the same `kid`s. The
 * keys already in the file are kept as they are. Without a file the keys live only as long as the
 * process (tests).
 */
export function loadOrCreateEncryptionKeys(file?: string): EncryptionKey[] {
  if (!file) return generateEncryptionKeys();
  const stored = (contents: KeysFile | undefined): EncryptionKey[] => {
    if (contents && (!Array.isArray(contents.keys) || contents.keys.length === 0)) throw new Error(`${file} holds no keys`);
    // Signing keys share the file; they are loaded by loadOrCreateSigningKey and kept as they are.
    return (contents?.keys ?? []).filter((k) => k.use !== 'sig').map(fromPrivateJwk);
  };
  const complete = (keys: EncryptionKey[]) => ENVELOPE_KEY_KINDS.every((kind) => keys.some((k) => k.kind === kind));
  return loadOrAdd(file, (contents) => {
    const keys = stored(contents);
    return complete(keys) ? keys : undefined;
  }, (contents) => {
    const keys = stored(contents);
    const added = ENVELOPE_KEY_KINDS.filter((kind) => !keys.some((k) => k.kind === kind)).map((kind) => generateEncryptionKey(kind));
    writeKeysFile(file, { ...contents, keys: [...(contents?.keys ?? []), ...added.map(toPrivateJwk)] });
    return [...keys, ...added];
  });
}

/** A signing key from its private JWK (P-256 only); `kid` kept when given, else its thumbprint. */
export function signingKeyFromPrivateJwk(jwk: JsonWebKey): SigningKey {
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('the signing key must be EC P-256 (ES256)');
  }
  if (jwk.alg !== undefined && jwk.alg !== 'ES256') throw new Error(`a signing key cannot be used with ${String(jwk.alg)}`);
  const publicKey = createPublicKey(privateKey);
  const { x, y } = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  const kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : ecThumbprint({ crv: 'P-256', x, y });
  return { kid, alg: 'ES256', privateKey, publicKey, publicJwk: { kty: 'EC', crv: 'P-256', x, y, kid, use: 'sig', alg: 'ES256' } };
}

/** Generates a new ES256 (P-256) signing key; its `kid` is the RFC 7638 thumbprint. */
export function generateSigningKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return signingKeyFromPrivateJwk(privateKey.export({ format: 'jwk' }));
}

/**
 * Loads the VT signing key kept in `file` beside the encryption keys (the entry with
 * `use: "sig"`); a file without one (a fresh start, or one written before VTs were signed) gets
 * one added and is rewritten whole (mode 0600), every other key kept as it is. The first signing
 * key in the file signs. Without a file the key lives as long as the process (tests).
 */
export function loadOrCreateSigningKey(file?: string): SigningKey {
  if (!file) return generateSigningKey();
  return loadOrAdd(file, (contents) => {
    if (contents && !Array.isArray(contents.keys)) throw new Error(`${file} holds no keys`);
    const stored = contents?.keys.find((k) => k.use === 'sig');
    return stored ? signingKeyFromPrivateJwk(stored) : undefined;
  }, (contents) => {
    const key = generateSigningKey();
    writeKeysFile(file, { ...contents, keys: [...(contents?.keys ?? []), { ...key.privateKey.export({ format: 'jwk' }), kid: key.kid, use: 'sig', alg: 'ES256' }] });
    return key;
  });
}

/**
 * The key-encryption key that seals the signing key set's private keys in the store (32 bytes):
 * `KEYS_KEK` when the environment sets it (passed in as `fromEnv`), otherwise the `kek` member of
 * `file`, generated on first use and kept there (0600) beside the other keys. Every auth process
 * and the rotation command must use the same one. Without a file and without `fromEnv` it lives
 * as long as the process (tests).
 */
export function loadOrCreateKeysKek(file?: string, fromEnv?: Buffer, opts: { create?: boolean } = {}): Buffer {
  if (fromEnv) return fromEnv;
  const create = opts.create ?? true;
  if (!file && create) return randomBytes(32);
  if (!file || (!create && !existsSync(file))) throw new Error('no key-encryption key: set KEYS_KEK, or AUTH_KEYS_FILE to the file auth uses');
  const read = (contents: KeysFile | undefined): Buffer | undefined => {
    if (typeof contents?.kek !== 'string') {
      if (!create) throw new Error(`${file} holds no kek and KEYS_KEK is not set: start auth once first, or set KEYS_KEK as auth has it`);
      return undefined;
    }
    const kek = Buffer.from(contents.kek, 'base64url');
    if (kek.length !== 32) throw new Error(`${file}: kek must be 32 bytes, base64url`);
    return kek;
  };
  return loadOrAdd(file, read, (contents) => {
    const kek = randomBytes(32);
    writeKeysFile(file, { keys: [], ...contents, kek: kek.toString('base64url') });
    return kek;
  });
}

/** auth's whole key set: the envelope's encryption keys and the VT signing key, from one file. */
export function loadOrCreateAuthKeys(file?: string): { encryption: EncryptionKey[]; signing: SigningKey } {
  const encryption = loadOrCreateEncryptionKeys(file);
  return { encryption, signing: loadOrCreateSigningKey(file) };
}

/** The public half of the key set, as served at /.well-known/jwks.json: encryption keys, then signing keys. */
export function toJwks(keys: readonly EncryptionKey[], signing: readonly SigningKey[] = []): Jwks {
  return { keys: [...keys.map((k) => k.publicJwk), ...signing.map((k) => k.publicJwk)] };
}
