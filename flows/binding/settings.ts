/** The binding flow's settings: the link's life, the stream's heartbeat, the phone's clock window, the key-encryption key. */
import { ConfigError, type Env } from '../../platform/config/env.ts';
import { customSetting, intSetting } from '../../platform/config/settings.ts';

export const BINDING_TTL_SECONDS = intSetting('BINDING_TTL_SECONDS', {
  def: 120, min: 5, max: 600,
  doc: 'how long a binding waits for the phone (s): the certificate link, the held stream and the polling all end then',
});

export const BINDING_HEARTBEAT_SECONDS = intSetting('BINDING_HEARTBEAT_SECONDS', {
  def: 15, min: 1, max: 60,
  doc: "how often a held binding stream sends a comment line, so that proxies and WebViews keep it open (s)",
});

export const BINDING_CLOCK_WINDOW_SECONDS = intSetting('BINDING_CLOCK_WINDOW_SECONDS', {
  def: 60, min: 5, max: 300,
  doc: "how far the phone's timestamp may be from the gateway's clock, either way (s)",
});

export const BINDING_KEK = customSetting('BINDING_KEK', {
  defaultText: '— (derived from `INTERNAL_TOKEN` with HKDF-SHA-256)',
  range: '32 bytes, base64url',
  doc: 'encrypts bound token keys in the store (AES-256-GCM) and derives the binding receipts\' signing key; every gateway needs the same one',
  read: (env: Env): Buffer | undefined => {
    const raw = env.BINDING_KEK;
    if (!raw) return undefined;
    const kek = /^[A-Za-z0-9_-]+$/.test(raw) ? Buffer.from(raw, 'base64url') : undefined;
    if (kek?.length !== 32) throw new ConfigError('BINDING_KEK', 'must be 32 bytes, base64url (e.g. `openssl rand 32 | basenc --base64url`)');
    return kek;
  },
});

/** What the gateway's binding flow is given (loadConfig reads it from these settings). */
export interface BindingConfig {
  ttlSeconds: number;
  heartbeatSeconds: number;
  clockWindowSeconds: number;
  /** BINDING_KEK; absent: derived from the internal credential. */
  kek?: Buffer;
}

export const BINDING_SETTINGS = [BINDING_TTL_SECONDS, BINDING_HEARTBEAT_SECONDS, BINDING_CLOCK_WINDOW_SECONDS, BINDING_KEK] as const;
