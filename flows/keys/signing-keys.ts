/**
 * The VT signing key set with stages, shared by every auth and gateway process through the store.
 *
 * - `next`: published in the JWKS, signs nothing yet, so every verifier has it before it signs;
 * - `current`: signs; exactly one;
 * - `retired`: signs nothing, stays published until `notAfter` (the last VT it signed has expired
 *   by then), then is left out of the JWKS and dropped from the set at the next rotation.
 *
 * Two store entries, written together in one atomic step (`setIfUnchanged`, guarded by the public
 * entry, so two rotations can never both win):
 * - `keys:{signing}:public`: the versioned set of public JWKs with their stage; the gateway reads
 *   only this one;
 * - `keys:{signing}:private`: the private JWKs of `current` and `next`, each a JWE (`dir`, A256GCM)
 *   under the key-encryption key that only auth and the rotation command hold, with the `kid` in
 *   the authenticated header. Only auth reads it.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { decryptCompact, encryptCompact } from '../../platform/crypto/jwe.ts';
import { fileStamp, publishFileKeySet, readSigningKeysFile, type FileKeySet } from './signing-keys-file.ts';
import { generateSigningKey, signingKeyFromPrivateJwk, type EcPublicSigJwk, type SigningKey } from './keys.ts';
import type { TokenStore } from '../../platform/store/index.ts';
import { nowSeconds } from '../../platform/time.ts';
import { parseKeySet, RETIRE_MARGIN_SECONDS, SIGNING_KEYS_PRIVATE, SIGNING_KEYS_PUBLIC, type KeyStage, type SealedPrivateKeys, type SigningKeySet, type StagedPublicKey } from './key-set.ts';
import { counter, gauge } from '../../platform/metrics/index.ts';
import { pollInBackground } from '../../platform/poll.ts';

/** Each new version of the signing key set a process installed (its stages changed: a rotation, a retirement). */
const keySetChanges = counter('broker_signing_key_set_changes_total', 'New versions of the signing key set this process installed (stage changes; the first read counts)');
/** The version of the signing key set a process holds (the highest over workers). */
const keySetVersion = gauge('broker_signing_key_set_version', 'Version of the signing key set this process holds', [], 'max');

export { parseKeySet, RETIRE_MARGIN_SECONDS, SIGNING_KEYS_PRIVATE, SIGNING_KEYS_PUBLIC, type KeyStage, type SealedPrivateKeys, type SigningKeySet, type StagedPublicKey } from './key-set.ts';

const STAGE_ORDER: Record<KeyStage, number> = { current: 0, next: 1, retired: 2 };

/** The keys a verifier should accept at `now`: current, next, and retired ones before `notAfter`. */
export function publishedKeys(set: SigningKeySet, now = nowSeconds()): StagedPublicKey[] {
  return set.keys
    .filter((k) => k.stage !== 'retired' || (k.notAfter ?? 0) > now)
    .sort((a, b) => STAGE_ORDER[a.stage] - STAGE_ORDER[b.stage]);
}

/** Seals a private signing key under the KEK; the `kid` is in the authenticated header. */
export function sealPrivateKey(key: SigningKey, kek: Buffer): { kid: string; jwe: string } {
  const jwk = { ...key.privateKey.export({ format: 'jwk' }), kid: key.kid, use: 'sig', alg: 'ES256' };
  return { kid: key.kid, jwe: encryptCompact({ header: { alg: 'dir', enc: 'A256GCM', kid: key.kid, cty: 'jwk+json' }, plaintext: JSON.stringify(jwk), key: kek }) };
}

/** Opens a sealed key and checks it is the private half of `published`; throws otherwise. */
export function openPrivateKey(sealed: { kid: string; jwe: string }, kek: Buffer, published: EcPublicSigJwk): SigningKey {
  let opened;
  try {
    opened = decryptCompact(sealed.jwe, { algorithms: ['dir'], key: () => kek });
  } catch {
    throw new Error(`the private key ${sealed.kid} cannot be opened with this KEK: KEYS_KEK (or the kek in AUTH_KEYS_FILE) must be the one auth uses`);
  }
  const { header, plaintext } = opened;
  if (header.kid !== published.kid) throw new Error(`sealed key ${sealed.kid} is not ${published.kid}`);
  const key = signingKeyFromPrivateJwk(JSON.parse(plaintext.toString('utf8')) as JsonWebKey);
  if (key.kid !== published.kid || key.publicJwk.x !== published.x || key.publicJwk.y !== published.y) {
    throw new Error(`sealed key ${sealed.kid} does not match its public key`);
  }
  return key;
}

/** Reads both documents with matching versions (a rotation between the two reads is read again). */
async function readBoth(store: TokenStore): Promise<{ raw: string; set: SigningKeySet; sealed: SealedPrivateKeys } | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const raw = await store.get(SIGNING_KEYS_PUBLIC);
    if (raw === null) return undefined;
    const set = parseKeySet(raw);
    const privRaw = await store.get(SIGNING_KEYS_PRIVATE);
    const sealed = privRaw ? (JSON.parse(privRaw) as SealedPrivateKeys) : undefined;
    if (sealed && sealed.version === set.version) return { raw, set, sealed };
  }
  throw new Error('the signing key set changed during every read, or its private part is missing');
}

function writeEntries(set: SigningKeySet, sealed: SealedPrivateKeys): Record<string, string> {
  return { [SIGNING_KEYS_PUBLIC]: JSON.stringify(set), [SIGNING_KEYS_PRIVATE]: JSON.stringify(sealed) };
}

/**
 * Writes the first key set when the store has none: `initial` (the key from AUTH_KEYS_FILE, so
 * its `kid` stays valid across the upgrade) as `current`, and a new `next`. Several auth
 * processes may start at once; one write wins and the others keep the stored set.
 */
export async function ensureSigningKeySet(store: TokenStore, opts: { kek: Buffer; initial?: SigningKey; now?: number }): Promise<boolean> {
  if ((await store.get(SIGNING_KEYS_PUBLIC)) !== null) return false;
  const now = opts.now ?? nowSeconds();
  const current = opts.initial ?? generateSigningKey();
  const next = generateSigningKey();
  const set: SigningKeySet = {
    version: 1, updatedAt: now,
    keys: [{ stage: 'current', createdAt: now, jwk: current.publicJwk }, { stage: 'next', createdAt: now, jwk: next.publicJwk }],
  };
  const sealed: SealedPrivateKeys = { version: 1, keys: [sealPrivateKey(current, opts.kek), sealPrivateKey(next, opts.kek)] };
  return store.setIfUnchanged(SIGNING_KEYS_PUBLIC, null, writeEntries(set, sealed));
}

/** The refusal of `keys:rotate` while the keys come from SIGNING_KEYS_FILE. */
export function managedByFileRefusal(file?: string): RotationRefused {
  return new RotationRefused('managed_by_file', `the signing keys come from SIGNING_KEYS_FILE${file ? ` (${file})` : ''}, so rotation is yours: in that file mark the next key "x-stage": "current", the old current "x-stage": "retired" with "x-not-after" (unix seconds, at least now + VT_TTL_SECONDS + 60), and add a new next; auth re-reads the file within KEYS_POLL_SECONDS`);
}

/** A rotation refused before anything was written; `code` says why. */
export class RotationRefused extends Error {
  constructor(readonly code: 'no_key_set' | 'next_too_young' | 'conflict' | 'managed_by_file', message: string) {
    super(message);
    this.name = 'RotationRefused';
  }
}

export interface RotateOptions {
  kek: Buffer;
  /** The VT lifetime: a retired key stays published this long plus RETIRE_MARGIN_SECONDS. */
  vtTtlSeconds: number;
  /**
   * Least time `next` must have been published before it may sign, so that every verifier's
   * cached JWKS has it (gateway and auth poll within seconds; outside caches take longer).
   */
  minNextAgeSeconds?: number;
  now?: number;
}

/**
 * Rotates in one atomic write: `next` becomes `current`, `current` becomes `retired` until
 * now + VT lifetime + margin, a new `next` is generated, retired keys past `notAfter` are dropped,
 * and the version goes up. There is never a moment without a `current` key.
 */
export async function rotateSigningKeys(store: TokenStore, opts: RotateOptions): Promise<SigningKeySet> {
  const now = opts.now ?? nowSeconds();
  const read = await readBoth(store);
  if (!read) throw new RotationRefused('no_key_set', 'the store holds no signing key set yet: start auth once first');
  const { raw, set, sealed } = read;
  if (set.source === 'file') throw managedByFileRefusal();
  const oldNext = set.keys.find((k) => k.stage === 'next');
  const oldCurrent = set.keys.find((k) => k.stage === 'current')!;
  if (!oldNext) throw new Error('the signing key set has no next key');
  const age = now - oldNext.createdAt;
  if (age < (opts.minNextAgeSeconds ?? 0)) {
    throw new RotationRefused('next_too_young', `the next key was published ${age} s ago; it must be published for ${opts.minNextAgeSeconds} s before it signs (or force the rotation)`);
  }
  // The promoted key must be one we can sign with; opening it here fails the rotation, not auth.
  const nextSealed = sealed.keys.find((k) => k.kid === oldNext.jwk.kid);
  if (!nextSealed) throw new Error(`the private half of the next key ${oldNext.jwk.kid} is missing`);
  const promoted = openPrivateKey(nextSealed, opts.kek, oldNext.jwk);
  const fresh = generateSigningKey();
  const notAfter = now + opts.vtTtlSeconds + RETIRE_MARGIN_SECONDS;
  const keys: StagedPublicKey[] = [
    { stage: 'current', createdAt: oldNext.createdAt, jwk: oldNext.jwk },
    { stage: 'next', createdAt: now, jwk: fresh.publicJwk },
    { stage: 'retired', createdAt: oldCurrent.createdAt, notAfter, jwk: oldCurrent.jwk },
    ...set.keys.filter((k) => k.stage === 'retired' && (k.notAfter ?? 0) > now),
  ];
  const next: SigningKeySet = { version: set.version + 1, updatedAt: now, keys };
  const nextSealedKeys: SealedPrivateKeys = { version: next.version, keys: [sealPrivateKey(promoted, opts.kek), sealPrivateKey(fresh, opts.kek)] };
  if (!(await store.setIfUnchanged(SIGNING_KEYS_PUBLIC, raw, writeEntries(next, nextSealedKeys)))) {
    throw new RotationRefused('conflict', 'the key set changed while rotating (another rotation?); nothing was written, list the keys and try again');
  }
  return next;
}

/** The public set as stored, or undefined when there is none yet. */
export async function readKeySet(store: TokenStore): Promise<SigningKeySet | undefined> {
  const raw = await store.get(SIGNING_KEYS_PUBLIC);
  return raw === null ? undefined : parseKeySet(raw);
}

export interface SigningKeyRingOptions {
  /** auth only: opens the private keys so that `current()` can sign. The gateway passes none. */
  kek?: Buffer;
  /**
   * auth only, instead of `kek`: SIGNING_KEYS_FILE. The ring signs with the file's current key,
   * publishes the file's public keys into the store, and re-reads the file at each poll when its
   * mtime, size or inode changed. An invalid file fails `start()`; a later invalid edit is logged
   * and the last good keys stay in use.
   */
  file?: string;
  /** How often the set is re-read (ms). */
  pollMs: number;
  /** Least time between two re-reads for an unknown `kid` (ms): a storm of forged kids costs one read per this. */
  unknownKidCooldownMs?: number;
  log?: Logger;
  /** Unix seconds; tests move the clock. */
  now?: () => number;
}

/**
 * One process's view of the signing key set, re-read every `pollMs` and on an unknown `kid`.
 * With a KEK (auth) it also holds the current private key; without one (gateway) it reads the
 * public entry only and never sees private material.
 */
export class SigningKeyRing {
  private set: SigningKeySet | undefined;
  private publicKeys = new Map<string, { key: KeyObject; staged: StagedPublicKey }>();
  private signing: SigningKey | undefined;
  private stopPolling: (() => void) | undefined;
  private lastRead = -Infinity;
  private inFlight: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly store: TokenStore, private readonly opts: SigningKeyRingOptions) {
    this.now = opts.now ?? nowSeconds;
  }

  /** Reads the set once (it may not exist yet on a gateway started before auth) and starts polling. */
  async start(): Promise<this> {
    await this.refresh();
    this.stopPolling = pollInBackground(() => this.refresh(), this.opts.pollMs, (err) => this.opts.log?.warn({ err: err.message }, 'reading the signing key set failed; keeping the last one'));
    return this;
  }

  stop(): void {
    this.stopPolling?.();
  }

  /** The version of the set this process holds (0: none yet). */
  get version(): number {
    return this.set?.version ?? 0;
  }

  /** Re-reads the set; concurrent callers share one read. */
  refresh(): Promise<void> {
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async load(): Promise<void> {
    this.lastRead = Date.now();
    if (this.opts.file) return this.loadFile(this.opts.file);
    if (!this.opts.kek) {
      const raw = await this.store.get(SIGNING_KEYS_PUBLIC);
      if (raw !== null) this.install(parseKeySet(raw));
      return;
    }
    const read = await readBoth(this.store);
    if (!read) return;
    if (read.set.version === this.set?.version && this.signing) return;
    if (read.set.source === 'file') {
      throw new Error('the signing key set in the store is published from SIGNING_KEYS_FILE: give this auth the same SIGNING_KEYS_FILE (leaving file mode: docs/decisions.md 24)');
    }
    const current = read.set.keys.find((k) => k.stage === 'current')!;
    const sealed = read.sealed.keys.find((k) => k.kid === current.jwk.kid);
    if (!sealed) throw new Error(`the private half of the current key ${current.jwk.kid} is missing`);
    const signing = openPrivateKey(sealed, this.opts.kek, current.jwk);
    this.install(read.set);
    if (this.signing?.kid !== signing.kid) this.opts.log?.info({ kid: signing.kid, version: read.set.version }, 'signing with a new current key');
    this.signing = signing;
  }

  private fileSet: FileKeySet | undefined;
  private fileStamp: string | undefined;

  private async loadFile(file: string): Promise<void> {
    let stamp = 'unreadable';
    try {
      stamp = fileStamp(file);
      if (stamp !== this.fileStamp || !this.fileSet) this.fileSet = readSigningKeysFile(file);
    } catch (err) {
      if (!this.fileSet) throw err;
      // Logged once per change of the file; the last good keys keep signing meanwhile.
      if (stamp !== this.fileStamp) this.opts.log?.error({ err: (err as Error).message }, 'SIGNING_KEYS_FILE changed and is invalid; still signing with the keys read before');
    }
    this.fileStamp = stamp;
    // Published on every poll, not only on a change: a store that lost the entry gets it back.
    const set = await publishFileKeySet(this.store, this.fileSet, this.now());
    this.install(set);
    const signing = this.fileSet.current;
    if (this.signing?.kid !== signing.kid) this.opts.log?.info({ kid: signing.kid, version: set.version, file }, 'signing with the current key of SIGNING_KEYS_FILE');
    this.signing = signing;
  }

  private install(set: SigningKeySet): void {
    if (set.version === this.set?.version) return;
    // A change this process saw (its first read counts as one): a rotation shows once per process.
    keySetChanges.inc();
    keySetVersion.set(set.version);
    const keys = new Map<string, { key: KeyObject; staged: StagedPublicKey }>();
    for (const staged of set.keys) {
      const { kty, crv, x, y } = staged.jwk;
      keys.set(staged.jwk.kid, { key: createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' }), staged });
    }
    this.set = set;
    this.publicKeys = keys;
  }

  /** The key that signs now (auth only); throws when this ring has none. */
  current(): SigningKey {
    if (!this.signing) throw new Error('no current signing key: the ring has no KEK or has not been started');
    return this.signing;
  }

  /** The public JWKs to publish now: current, next, then retired keys before their `notAfter`. */
  publicJwks(): EcPublicSigJwk[] {
    return this.set ? publishedKeys(this.set, this.now()).map((k) => k.jwk) : [];
  }

  private published(kid: string): KeyObject | undefined {
    const entry = this.publicKeys.get(kid);
    if (!entry) return undefined;
    const { staged } = entry;
    return staged.stage !== 'retired' || (staged.notAfter ?? 0) > this.now() ? entry.key : undefined;
  }

  /**
   * The public key for `kid` if it is published now. An unknown `kid` re-reads the set at most
   * once per cool-down; when no set could ever be read, the store's error is thrown (a 503 rather
   * than a refusal).
   */
  async keyFor(kid: string): Promise<KeyObject | undefined> {
    const known = this.published(kid);
    if (known || this.publicKeys.has(kid)) return known;
    if (this.inFlight || Date.now() - this.lastRead >= (this.opts.unknownKidCooldownMs ?? 1000)) {
      try {
        await this.refresh();
      } catch (err) {
        if (!this.set) throw err;
        this.opts.log?.warn({ err: (err as Error).message }, 're-reading the signing key set for an unknown kid failed');
      }
    }
    return this.published(kid);
  }
}
