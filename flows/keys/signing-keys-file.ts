/**
 * The VT signing key set loaded from a file (`SIGNING_KEYS_FILE`), for operators who manage keys
 * elsewhere (an HSM export, a secret manager, a configuration system). The file is a JWK Set of
 * private P-256 JWKs; each carries its stage in the private member `"x-stage"` (`current`, `next`
 * or `retired`) and a retired key the unix second after which it is no longer published in
 * `"x-not-after"`:
 *
 *   {"keys": [
 *     {"kty": "EC", "crv": "P-256", "x": "…", "y": "…", "d": "…", "kid": "2026-11", "x-stage": "current"},
 *     {"kty": "EC", "crv": "P-256", "x": "…", "y": "…", "d": "…", "kid": "2026-12", "x-stage": "next"},
 *     {"kty": "EC", "crv": "P-256", "x": "…", "y": "…", "d": "…", "kid": "2026-10", "x-stage": "retired", "x-not-after": 1795000000}
 *   ]}
 *
 * Auth signs with the file's `current` key and publishes the public halves into the store entry
 * the gateway reads (`keys:{signing}:public`, the same document as the managed set, marked
 * `"source": "file"`), so the gateway is the same in both modes. Rotation is the operator's: edit
 * the file, and auth re-reads it at its next poll when the file's mtime, size or inode changed.
 */
import { createECDH, type JsonWebKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { signingKeyFromPrivateJwk, type SigningKey } from './keys.ts';
import {
  parseKeySet, SIGNING_KEYS_PRIVATE, SIGNING_KEYS_PUBLIC, type KeyStage, type SealedPrivateKeys, type SigningKeySet, type StagedPublicKey,
} from './key-set.ts';
import type { TokenStore } from '../../platform/store/index.ts';

/** The private JWK member that holds a key's stage. */
export const STAGE_MEMBER = 'x-stage';
/** The private JWK member that holds a retired key's end of publication (unix seconds). */
export const NOT_AFTER_MEMBER = 'x-not-after';

const STAGES: readonly KeyStage[] = ['current', 'next', 'retired'];
/** Members of an EC private JWK that a key in the file may carry besides ours (RFC 7517 section 4). */
const JWK_MEMBERS = new Set(['kty', 'crv', 'x', 'y', 'd', 'kid', 'use', 'alg', 'key_ops', STAGE_MEMBER, NOT_AFTER_MEMBER]);
const KID_RE = /^[\x21-\x7e]{1,128}$/;

/** A problem with the file; the message names the file and what is wrong. */
export class SigningKeysFileError extends Error {
  constructor(file: string, problem: string) {
    super(`SIGNING_KEYS_FILE ${file}: ${problem}`);
    this.name = 'SigningKeysFileError';
  }
}

export interface FileSigningKey {
  stage: KeyStage;
  notAfter?: number;
  key: SigningKey;
}

/** The file's keys, checked: exactly one `current`, all P-256, kids unique. */
export interface FileKeySet {
  keys: readonly FileSigningKey[];
  current: SigningKey;
}

/** The uncompressed P-256 point of the private scalar `d` (base64url). */
function pointOf(d: string): Buffer {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(d, 'base64url'));
  return ecdh.getPublicKey();
}

function parseKey(file: string, raw: unknown, i: number): FileSigningKey {
  const fail = (problem: string) => new SigningKeysFileError(file, `keys[${i}]${typeof (raw as { kid?: unknown })?.kid === 'string' ? ` (kid "${String((raw as { kid: string }).kid).slice(0, 40)}")` : ''} ${problem}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw fail('must be a JWK object');
  const jwk = raw as Record<string, unknown>;
  const unknown = Object.keys(jwk).filter((k) => !JWK_MEMBERS.has(k));
  if (unknown.length) throw fail(`has members this file format does not know: ${unknown.join(', ')} (stage and end of publication go in "${STAGE_MEMBER}" and "${NOT_AFTER_MEMBER}")`);
  if (typeof jwk.kid !== 'string' || !KID_RE.test(jwk.kid)) throw fail('needs a "kid" of 1-128 visible ASCII characters');
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw fail(`must be an EC P-256 key (ES256), not kty ${JSON.stringify(jwk.kty)} crv ${JSON.stringify(jwk.crv)}`);
  if (typeof jwk.d !== 'string') throw fail('holds no private key ("d"): the file must hold private JWKs, auth signs with them');
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw fail('needs "x" and "y"');
  if (jwk.use !== undefined && jwk.use !== 'sig') throw fail(`has "use": ${JSON.stringify(jwk.use)}; a signing key is "sig" (or leave it out)`);
  if (jwk.alg !== undefined && jwk.alg !== 'ES256') throw fail(`has "alg": ${JSON.stringify(jwk.alg)}; a signing key is "ES256" (or leave it out)`);
  const stage = jwk[STAGE_MEMBER];
  if (typeof stage !== 'string' || !(STAGES as readonly string[]).includes(stage)) throw fail(`needs "${STAGE_MEMBER}": "current", "next" or "retired"`);
  const notAfter = jwk[NOT_AFTER_MEMBER];
  if (stage === 'retired') {
    if (!Number.isSafeInteger(notAfter) || (notAfter as number) <= 0) {
      throw fail(`is retired and needs "${NOT_AFTER_MEMBER}": the unix time (seconds) after which it is no longer published, at least the expiry of the last VT it signed`);
    }
  } else if (notAfter !== undefined) {
    throw fail(`has "${NOT_AFTER_MEMBER}" but is ${stage}: only retired keys have one`);
  }
  const { kty, crv, x, y, d } = jwk as { kty: string; crv: string; x: string; y: string; d: string };
  let key: SigningKey;
  try {
    key = signingKeyFromPrivateJwk({ kty, crv, x, y, d, kid: jwk.kid } as JsonWebKey);
  } catch (err) {
    throw fail(`is not a valid P-256 private key (${(err as Error).message})`);
  }
  // Node takes x/y from the JWK as they are; a JWK whose x/y belong to another key would publish a
  // key that verifies nothing this one signs, so the point is derived from d and compared.
  if (!pointOf(d).equals(Buffer.concat([Buffer.from([4]), Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]))) {
    throw fail('has "x"/"y" that are not the public half of its "d"');
  }
  return { stage: stage as KeyStage, notAfter: stage === 'retired' ? (notAfter as number) : undefined, key };
}

/** Checks the text of a signing keys file; throws SigningKeysFileError naming `file` and the problem. */
export function parseSigningKeysFile(file: string, text: string): FileKeySet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new SigningKeysFileError(file, `is not JSON (${(err as Error).message})`);
  }
  const list = (doc as { keys?: unknown })?.keys;
  if (!doc || typeof doc !== 'object' || !Array.isArray(list) || list.length === 0) {
    throw new SigningKeysFileError(file, 'must be a JWK Set {"keys": [...]} with at least one key');
  }
  const keys = list.map((raw, i) => parseKey(file, raw, i));
  const byKid = new Map<string, number>();
  const byPoint = new Map<string, number>();
  keys.forEach((k, i) => {
    const seen = byKid.get(k.key.kid);
    if (seen !== undefined) throw new SigningKeysFileError(file, `kid "${k.key.kid}" is used by keys[${seen}] and keys[${i}]; kids must be unique`);
    byKid.set(k.key.kid, i);
    const point = `${k.key.publicJwk.x}.${k.key.publicJwk.y}`;
    const same = byPoint.get(point);
    if (same !== undefined) throw new SigningKeysFileError(file, `keys[${same}] and keys[${i}] are the same key under two kids`);
    byPoint.set(point, i);
  });
  const current = keys.filter((k) => k.stage === 'current');
  if (current.length !== 1) {
    throw new SigningKeysFileError(file, `has ${current.length} keys with "${STAGE_MEMBER}": "current"; exactly one must be current (it signs)`);
  }
  return { keys, current: current[0]!.key };
}

/** Reads and checks the file; throws SigningKeysFileError naming it. */
export function readSigningKeysFile(file: string): FileKeySet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SigningKeysFileError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseSigningKeysFile(file, text);
}

/** What identifies one version of the file on disk: a change of any of these re-reads it. */
export function fileStamp(file: string): string {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (err) {
    throw new SigningKeysFileError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

const sameKeys = (a: readonly StagedPublicKey[], b: readonly StagedPublicKey[]) => {
  const shape = (keys: readonly StagedPublicKey[]) => JSON.stringify(keys.map((k) => [k.stage, k.notAfter ?? null, k.jwk.kid, k.jwk.x, k.jwk.y]));
  return shape(a) === shape(b);
};

/**
 * Publishes the file's public keys into the store as the signing key set (`source: "file"`),
 * unless the store holds exactly these keys already (several auths with the same file write once).
 * The version goes up by one on every change, so every gateway installs the new set at its next
 * poll. The private entry is overwritten with an empty one: no sealed key of the managed mode
 * stays behind, and a managed rotation finds nothing to promote.
 */
export async function publishFileKeySet(store: TokenStore, fileSet: FileKeySet, now: number): Promise<SigningKeySet> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const raw = await store.get(SIGNING_KEYS_PUBLIC);
    let stored: SigningKeySet | undefined;
    try {
      stored = raw === null ? undefined : parseKeySet(raw);
    } catch {
      stored = undefined; // a malformed entry is replaced, guarded by what was read
    }
    const keys: StagedPublicKey[] = fileSet.keys.map(({ stage, notAfter, key }) => ({
      stage,
      createdAt: stored?.keys.find((k) => k.jwk.kid === key.kid && k.jwk.x === key.publicJwk.x)?.createdAt ?? now,
      ...(notAfter !== undefined && { notAfter }),
      jwk: key.publicJwk,
    }));
    if (stored?.source === 'file' && sameKeys(stored.keys, keys)) return stored;
    const set: SigningKeySet = { version: (stored?.version ?? 0) + 1, updatedAt: now, source: 'file', keys };
    const sealed: SealedPrivateKeys = { version: set.version, keys: [] };
    if (await store.setIfUnchanged(SIGNING_KEYS_PUBLIC, raw, { [SIGNING_KEYS_PUBLIC]: JSON.stringify(set), [SIGNING_KEYS_PRIVATE]: JSON.stringify(sealed) })) {
      return set;
    }
  }
  throw new Error('the signing key set in the store changed during every attempt to publish SIGNING_KEYS_FILE (do two auths have different files?)');
}

