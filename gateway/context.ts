import type { Logger } from 'pino';
import type { BrokerConfig } from '../common/config.ts';
import type { AppRegistry } from '../common/registry.ts';
import type { SigningKeyRing } from '../common/signing-keys.ts';
import type { TokenStore } from '../common/store/index.ts';
import type { Upstream } from './upstream.ts';

/** What the gateway's actions need; built once by createGatewayApp. */
export interface GatewayDeps {
  /** `rateLimits` absent: no rate limit at all (loadConfig always sets the defaults). */
  config: Pick<BrokerConfig, 'signatureWindowSeconds' | 'corsOrigins' | 'internalToken'> & Partial<Pick<BrokerConfig, 'trustedProxies' | 'rateLimits'>> & {
    publicUrl?: string;
    h5Origin: string;
    /** The gateway's public URL as VTs name it in `iss`. */
    issuer: string;
  };
  store: TokenStore;
  /** The VT signing key set's public keys, read from the store (no KEK: no private key). */
  signingKeys: SigningKeyRing;
  registry: AppRegistry;
  auth: Upstream;
  products: Upstream;
  log: Logger;
}
