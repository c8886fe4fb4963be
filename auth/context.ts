import type { Logger } from 'pino';
import type { BrokerConfig } from '../common/config.ts';
import type { EncryptionKey, SigningKey } from '../common/keys.ts';
import type { AppRegistry } from '../common/registry.ts';
import type { TokenStore } from '../common/store/index.ts';

/** What auth's actions need; built once by createApp. */
export interface AuthDeps {
  /** `issuer`: the gateway's public URL, the `iss` of every VT. */
  config: Pick<BrokerConfig, 'atTtlSeconds' | 'vtTtlSeconds' | 'internalToken'> & { issuer: string };
  store: TokenStore;
  registry: AppRegistry;
  /** Encryption keys by `kid`; the first is the one published first. */
  keys: readonly EncryptionKey[];
  /** The ES256 key VTs are signed with; published in the same JWKS. */
  signingKey: SigningKey;
  log: Logger;
}
