import type { Logger } from 'pino';
import type { BrokerConfig } from '../common/config.ts';
import type { EncryptionKey } from '../common/keys.ts';
import type { SigningKeyRing } from '../common/signing-keys.ts';
import type { AppRegistry } from '../common/registry.ts';
import type { TokenStore } from '../common/store/index.ts';

/** What auth's actions need; built once by createApp. */
export interface AuthDeps {
  /** `issuer`: the gateway's public URL, the `iss` of every VT. */
  config: Pick<BrokerConfig, 'atTtlSeconds' | 'vtTtlSeconds' | 'internalToken' | 'nodeEnv'> & { issuer: string };
  store: TokenStore;
  registry: AppRegistry;
  /** Encryption keys by `kid`; the first is the one published first. */
  keys: readonly EncryptionKey[];
  /**
   * The VT signing key set (ES256), shared through the store and re-read as it rotates: its
   * `current()` key signs; next, current and retired keys are published in the same JWKS.
   */
  signingKeys: SigningKeyRing;
  log: Logger;
}
