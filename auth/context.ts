import type { Logger } from 'pino';
import type { BrokerConfig } from '../common/config.ts';
import type { EncryptionKey } from '../common/keys.ts';
import type { AppRegistry } from '../common/registry.ts';
import type { TokenStore } from '../common/store/index.ts';

/** What auth's actions need; built once by createApp. */
export interface AuthDeps {
  config: Pick<BrokerConfig, 'atTtlSeconds' | 'vtTtlSeconds' | 'internalToken'>;
  store: TokenStore;
  registry: AppRegistry;
  /** Encryption keys by `kid`; the first is the one published first. */
  keys: readonly EncryptionKey[];
  log: Logger;
}
