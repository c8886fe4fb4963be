/**
 * The VT signing key set as the store holds it: its two documents, their shapes and the parser.
 * Both the managed set (signing-keys.ts) and the operator's file (signing-keys-file.ts) write it.
 */
import type { EcPublicSigJwk } from './keys.ts';

/** The public set (hash tag `{signing}`: both entries live in one Redis Cluster slot, as the atomic write needs). */
export const SIGNING_KEYS_PUBLIC = 'keys:{signing}:public';
/** The sealed private keys of `current` and `next`; read by auth only. */
export const SIGNING_KEYS_PRIVATE = 'keys:{signing}:private';

/** How long past a VT's lifetime a retired key stays published: covers clock skew and the poll delay. */
export const RETIRE_MARGIN_SECONDS = 60;

export type KeyStage = 'next' | 'current' | 'retired';

export interface StagedPublicKey {
  stage: KeyStage;
  /** Unix seconds when the key entered the set (as `next`). */
  createdAt: number;
  /** Unix seconds after which a retired key is no longer published. */
  notAfter?: number;
  jwk: EcPublicSigJwk;
}

/** The document under SIGNING_KEYS_PUBLIC. */
export interface SigningKeySet {
  version: number;
  /** Unix seconds of the last write. */
  updatedAt: number;
  /** `file`: published by auth from SIGNING_KEYS_FILE; rotation is then the operator's. Absent: managed here. */
  source?: 'file';
  keys: StagedPublicKey[];
}

/** The document under SIGNING_KEYS_PRIVATE: same version as the public set it was written with. */
export interface SealedPrivateKeys {
  version: number;
  keys: { kid: string; jwe: string }[];
}

/** Parses the public set; throws on anything but a well-formed set with exactly one `current`. */
export function parseKeySet(raw: string): SigningKeySet {
  const set = JSON.parse(raw) as SigningKeySet;
  const ok = set && Number.isSafeInteger(set.version) && Array.isArray(set.keys) && set.keys.every((k) =>
    k && (k.stage === 'next' || k.stage === 'current' || k.stage === 'retired') && typeof k.jwk?.kid === 'string'
    && k.jwk.kty === 'EC' && k.jwk.crv === 'P-256' && k.jwk.use === 'sig' && k.jwk.alg === 'ES256' && !('d' in k.jwk));
  if (!ok || set.keys.filter((k) => k.stage === 'current').length !== 1) throw new Error('the signing key set in the store is malformed');
  return set;
}
