import type { Logger } from 'pino';
import type { EncryptionKey } from './keys/keys.ts';
import type { RateLimits } from './rate-limit/limiter.ts';
import type { AppRegistry } from './apps/registry.ts';
import type { SigningKeyRing } from './keys/signing-keys.ts';
import type { TokenStore } from '../platform/store/index.ts';
import type { Upstream } from '../platform/http/upstream.ts';
import type { AccessTokenService } from './access-token/seam.ts';
import type { VisitTokenService } from './visit-token/seam.ts';
import type { KeysService } from './keys/seam.ts';
import type { BindingConfig } from './binding/settings.ts';
import type { ChallengeConfig } from './challenge/settings.ts';
import type { CountersignService } from './countersign/seam.ts';
import type { CountersignConfig } from './countersign/settings.ts';

/**
 * What each flow's two halves need, built once by the deployables: the public half (`public.ts`,
 * mounted by the gateway) takes GatewayDeps, the internal half (`service.ts`, run by auth) AuthDeps.
 */

/**
 * Auth's operations as the gateway calls them: one typed seam per flow (flows/<flow>/seam.ts).
 * In auth's process these are auth's own implementations (auth/service.ts); a gateway in another
 * process gets each flow's HTTP client over auth's internal routes (system/start.ts chooses).
 */
export interface AuthServices {
  accessTokens: AccessTokenService;
  visitTokens: VisitTokenService;
  keys: KeysService;
  countersign: CountersignService;
}

/** What the gateway's actions need; built once by createGatewayApp. */
export interface GatewayDeps {
  /** `rateLimits` absent: no rate limit at all (loadConfig always sets the defaults). */
  config: {
    signatureWindowSeconds: number;
    corsOrigins: readonly string[];
    /** Shared credential gateway -> auth and gateway -> product backend. */
    internalToken: string;
    /** Proxies whose `X-Forwarded-For` counts; absent or empty: the socket's peer is the client. */
    trustedProxies?: readonly string[];
    rateLimits?: RateLimits;
    /** The proof-of-work gate (flows/challenge); absent: no route is gated and no pass route is served. */
    challenge?: ChallengeConfig;
    publicUrl?: string;
    h5Origin: string;
    /** The gateway's public URL as VTs name it in `iss`. */
    issuer: string;
    /** The binding flow's settings (flows/binding/settings.ts); absent: its defaults, the KEK derived from internalToken. */
    binding?: BindingConfig;
  };
  store: TokenStore;
  /** The VT signing key set's public keys, read from the store (no KEK: no private key). */
  signingKeys: SigningKeyRing;
  registry: AppRegistry;
  auth: AuthServices;
  /** Whether auth is live, for the gateway's readiness: its `GET /healthz` over HTTP; in this process, always. */
  authLive: (requestId: string) => Promise<boolean>;
  products: Upstream;
  log: Logger;
}

/** What auth's actions need; built once by createApp. */
export interface AuthDeps {
  /** `issuer`: the gateway's public URL, the `iss` of every VT. */
  config: {
    atTtlSeconds: number; vtTtlSeconds: number; internalToken: string; nodeEnv: string; issuer: string;
    /** The countersign flow's settings; absent: their defaults. */
    countersign?: CountersignConfig;
  };
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
