/** The keys' settings: auth's key file, the signing key set's sealing key, file and poll. */
import { ConfigError, type Env } from '../../platform/config/env.ts';
import { customSetting, intSetting, optionalSetting } from '../../platform/config/settings.ts';

/** Empty: keys that last only as long as the process; unset: the default file. */
export const AUTH_KEYS_FILE = customSetting('AUTH_KEYS_FILE', {
  defaultText: '`.data/auth-keys.json`',
  range: 'a path; empty: keys kept in memory only',
  doc: "auth's private keys: RSA-2048, P-256 and X25519 for the envelope (`use: enc`), and the P-256 ES256 key that signs VTs (`use: sig`); generated (0600) on first start, and a missing one is added to an existing file",
  read: (env: Env): string | undefined => (env.AUTH_KEYS_FILE === '' ? undefined : env.AUTH_KEYS_FILE || '.data/auth-keys.json'),
});

export const KEYS_KEK = customSetting('KEYS_KEK', {
  defaultText: '— (generated once into `AUTH_KEYS_FILE` as `kek`)',
  range: '32 bytes, base64url',
  doc: "encrypts the VT signing keys' private halves in the store; every auth and the `keys:*` commands need the same one",
  read: (env: Env): Buffer | undefined => {
    const raw = env.KEYS_KEK;
    if (!raw) return undefined;
    const kek = /^[A-Za-z0-9_-]+$/.test(raw) ? Buffer.from(raw, 'base64url') : undefined;
    if (kek?.length !== 32) throw new ConfigError('KEYS_KEK', 'must be 32 bytes, base64url (e.g. `openssl rand 32 | basenc --base64url`)');
    return kek;
  },
});

export const SIGNING_KEYS_FILE = optionalSetting('SIGNING_KEYS_FILE', {
  defaultText: '— (keys managed in the store)',
  range: 'a path',
  doc: 'a JWK Set of private P-256 JWKs that the operator manages, each with `kid`, `"x-stage"` (`current`/`next`/`retired`) and, for retired keys, `"x-not-after"` (unix s). Auth signs with its current key, publishes the set for the gateway, and re-reads the file at each `KEYS_POLL_SECONDS` poll when it changes; `keys:rotate` then refuses',
});

/** Read in seconds, kept in milliseconds. */
export const KEYS_POLL_SECONDS = intSetting('KEYS_POLL_SECONDS', {
  def: 5, min: 1, max: 30,
  doc: 'how often auth and gateway re-read the signing key set (s)',
});

export const KEYS_SETTINGS = [AUTH_KEYS_FILE, KEYS_KEK, SIGNING_KEYS_FILE, KEYS_POLL_SECONDS] as const;
