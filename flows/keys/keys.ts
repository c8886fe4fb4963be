/**
 * The provider's encryption keys, that H5 pages wrap R to: an RSA-2048 key (`RSA-OAEP-256`) and
 * an EC P-256 key (`ECDH-ES+A256KW`). Parsed once into KeyObjects; published as a JWKS (RFC 7517)
 * with RFC 7638 thumbprints as `kid`.
 */
import { createHash, createPrivateKey, randomBytes, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The envelope's key-management algorithms, one key of each in the key set. */
export const ENVELOPE_ALGS = ['RSA-OAEP-256', 'ECDH-ES+A256KW'] as const;
export type EnvelopeAlg = (typeof ENVELOPE_ALGS)[number];

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

export type PublicEncJwk = RsaPublicEncJwk | EcPublicEncJwk;

export interface EncryptionKey {
  kid: string;
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

function publicJwkOf(alg: EnvelopeAlg, publicKey: KeyObject, storedKid: unknown): PublicEncJwk {
  const kidOr = (thumbprint: () => string) => (typeof storedKid === 'string' && storedKid ? storedKid : thumbprint());
  if (alg === 'RSA-OAEP-256') {
    const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
    return { kty: 'RSA', n, e, kid: kidOr(() => rsaThumbprint({ n, e })), use: 'enc', alg };
  }
  const { x, y } = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  return { kty: 'EC', crv: 'P-256', x, y, kid: kidOr(() => ecThumbprint({ crv: 'P-256', x, y })), use: 'enc', alg };
}

/** The alg a private key is for: RSA of at least 2048 bits, or EC P-256; anything else is refused. */
function algOf(privateKey: KeyObject): EnvelopeAlg {
  const details = privateKey.asymmetricKeyDetails;
  if (privateKey.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return 'RSA-OAEP-256';
  if (privateKey.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return 'ECDH-ES+A256KW';
  throw new Error('encryption keys must be RSA of at least 2048 bits or EC P-256');
}

function fromPrivateJwk(jwk: JsonWebKey): EncryptionKey {
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const alg = algOf(privateKey);
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new Error(`an ${privateKey.asymmetricKeyType} key cannot be used with ${String(jwk.alg)}`);
  const publicKey = createPublicKey(privateKey);
  const publicJwk = publicJwkOf(alg, publicKey, jwk.kid);
  return { kid: publicJwk.kid, alg, privateKey, publicKey, publicJwk };
}

/** The private JWK kept in the keys file. */
function toPrivateJwk(key: EncryptionKey): JsonWebKey {
  return { ...key.privateKey.export({ format: 'jwk' }), kid: key.kid, use: 'enc', alg: key.alg };
}

/** Generates a new encryption key: RSA-2048 for `RSA-OAEP-256` (the default), P-256 for `ECDH-ES+A256KW`. */
export function generateEncryptionKey(alg: EnvelopeAlg = 'RSA-OAEP-256'): EncryptionKey {
  const { privateKey } = alg === 'RSA-OAEP-256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return fromPrivateJwk(privateKey.export({ format: 'jwk' }));
}

/** One new key per envelope alg: RSA first (the key pages without ECDH use), then P-256. */
export function generateEncryptionKeys(): EncryptionKey[] {
  return ENVELOPE_ALGS.map((alg) => generateEncryptionKey(alg));
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
 * Loads the keys kept in `file` (private JWKs) and makes sure there is one for each envelope alg:
 * a missing one (a fresh start, or a file from before ECDH-ES+A256KW that holds only the RSA key)
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
  const complete = (keys: EncryptionKey[]) => ENVELOPE_ALGS.every((alg) => keys.some((k) => k.alg === alg));
  return loadOrAdd(file, (contents) => {
    const keys = stored(contents);
    return complete(keys) ? keys : undefined;
  }, (contents) => {
    const keys = stored(contents);
    const added = ENVELOPE_ALGS.filter((alg) => !keys.some((k) => k.alg === alg)).map((alg) => generateEncryptionKey(alg));
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
