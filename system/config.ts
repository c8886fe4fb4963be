/**
 * Configuration: read from the environment once, checked, frozen. A bad value stops the process
 * at start with a message naming the variable. docs and README list every variable.
 */
import { randomBytes } from 'node:crypto';
import { bool, ConfigError, int, url, type Env } from '../platform/config/env.ts';
import { parseCidr } from '../platform/net/client-address.ts';
import { MAX_RATE_LIMIT, MAX_RATE_WINDOW_SECONDS, type RateLimitRule, type RateLimits } from '../flows/rate-limit/limiter.ts';

export interface BrokerConfig {
  nodeEnv: string;
  /** Address the public services (gateway, h5, demo) bind to. */
  host: string;
  /** Address auth and the product backend bind to: internal only. */
  internalHost: string;
  ports: { gateway: number; auth: number; h5: number; products: number; demo: number };
  urls: { gatewayPublic: string; h5Public: string; demoPublic: string; auth: string; products: string };
  /** Extra origins allowed to call the gateway's browser APIs (the H5 public origin always is). */
  corsOrigins: string[];
  /** Shared credential gateway -> auth and gateway -> product backend. */
  internalToken: string;
  redisUrl?: string;
  redisPrefix: string;
  /** How long one Redis command may wait for its reply before the request fails with 503 (ms). */
  redisCommandTimeoutMs: number;
  /** Start in production although Redis's maxmemory-policy may evict the broker's keys. */
  redisAllowEviction: boolean;
  appsFile: string;
  keysFile?: string;
  /** `KEYS_KEK`: seals the signing keys' private halves in the store; else kept in keysFile. */
  keysKek?: Buffer;
  /**
   * `SIGNING_KEYS_FILE`: a JWK Set of private P-256 keys with stages that the operator manages;
   * auth signs with its current key and publishes it instead of the managed set (decision 24).
   */
  signingKeysFile?: string;
  /** How often auth and gateway re-read the signing key set (ms): well under the 60 s retire margin. */
  keysPollMs: number;
  atTtlSeconds: number;
  vtTtlSeconds: number;
  signatureWindowSeconds: number;
  /** Timeout of the gateway's calls to auth and the product backend (ms). */
  upstreamTimeoutMs: number;
  demoAppId: string;
  /**
   * Proxies (IPs or CIDR ranges) whose `X-Forwarded-For` and edge headers the gateway believes;
   * empty: the socket's peer is the client and no forwarded header counts.
   */
  trustedProxies: string[];
  /**
   * The gateway's rate limits (common/rate-limit.ts): per app on AT issuance, per client address
   * on the VT exchange, per VT on product calls; an absent one is off.
   */
  rateLimits: RateLimits;
}

/**
 * The defaults are meant never to bind on real traffic, only on a runaway client: issuance is a
 * whole app's traffic (100/s on average, a campaign's spike of 6000 at once); one public IPv4 may be
 * a carrier's CGNAT with thousands of subscribers behind it (50 page openings/s, 3000 at once);
 * a VT is one page session (5 calls/s on average, 300 at once).
 */
export const RATE_LIMIT_DEFAULTS: Readonly<Required<RateLimits>> = Object.freeze({
  issuance: { limit: 6000, windowSeconds: 60 },
  exchange: { limit: 3000, windowSeconds: 60 },
  product: { limit: 300, windowSeconds: 60 },
});

/** `<name>` (requests, or `0`/`off`) and `<name>_WINDOW_SECONDS`; undefined when off. */
function rateLimit(env: Env, name: string, def: RateLimitRule): RateLimitRule | undefined {
  const windowSeconds = int(env, `${name}_WINDOW_SECONDS`, def.windowSeconds, 1, MAX_RATE_WINDOW_SECONDS);
  const raw = env[name];
  if (raw === undefined || raw === '') return { limit: def.limit, windowSeconds };
  if (raw.toLowerCase() === 'off') return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_RATE_LIMIT) {
    throw new ConfigError(name, `must be a whole number of requests per window between 1 and ${MAX_RATE_LIMIT}, or 0 or "off" to turn the limit off, got "${raw}"`);
  }
  return Number(raw) === 0 ? undefined : { limit: Number(raw), windowSeconds };
}

/** Builds the configuration from `env` (process.env by default). */
export function loadConfig(env: Env = process.env): Readonly<BrokerConfig> {
  const nodeEnv = env.NODE_ENV || 'development';
  const host = env.HOST || '127.0.0.1';
  const internalHost = env.INTERNAL_HOST || '127.0.0.1';
  const ports = {
    gateway: int(env, 'GATEWAY_PORT', 8080, 0, 65535),
    auth: int(env, 'AUTH_PORT', 8081, 0, 65535),
    h5: int(env, 'H5_PORT', 8082, 0, 65535),
    products: int(env, 'PRODUCTS_PORT', 8083, 0, 65535),
    demo: int(env, 'DEMO_PORT', 8090, 0, 65535),
  };
  const local = (p: number) => `http://127.0.0.1:${p}`;
  const urls = {
    gatewayPublic: url(env, 'GATEWAY_PUBLIC_URL', local(ports.gateway)),
    h5Public: url(env, 'H5_PUBLIC_URL', local(ports.h5)),
    demoPublic: url(env, 'DEMO_PUBLIC_URL', local(ports.demo)),
    auth: url(env, 'AUTH_URL', local(ports.auth)),
    products: url(env, 'PRODUCTS_URL', local(ports.products)),
  };
  const corsOrigins = (env.CORS_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  // URL.canParse first: `new URL` of a bad entry would throw a TypeError, not a ConfigError.
  for (const o of corsOrigins) if (!URL.canParse(o) || new URL(o).origin !== o) throw new ConfigError('CORS_ORIGINS', `"${o}" is not an origin`);

  let internalToken = env.INTERNAL_TOKEN ?? '';
  if (!internalToken) {
    if (nodeEnv === 'production') throw new ConfigError('INTERNAL_TOKEN', 'is required in production (the credential the gateway presents to auth)');
    // Development: one process runs every component, so a per-process random credential serves.
    internalToken = randomBytes(32).toString('base64url');
  } else if (internalToken.length < 32) {
    throw new ConfigError('INTERNAL_TOKEN', 'must be at least 32 characters');
  }

  const trustedProxies = (env.TRUSTED_PROXIES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of trustedProxies) {
    try {
      parseCidr(p);
    } catch (err) {
      throw new ConfigError('TRUSTED_PROXIES', `${(err as Error).message} (expected IPs or CIDR ranges, comma-separated)`);
    }
  }

  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError('REDIS_URL', 'must start with redis:// or rediss://');

  let keysKek: Buffer | undefined;
  if (env.KEYS_KEK) {
    keysKek = /^[A-Za-z0-9_-]+$/.test(env.KEYS_KEK) ? Buffer.from(env.KEYS_KEK, 'base64url') : undefined;
    if (keysKek?.length !== 32) throw new ConfigError('KEYS_KEK', 'must be 32 bytes, base64url (e.g. `openssl rand 32 | basenc --base64url`)');
  }

  return Object.freeze({
    nodeEnv,
    host,
    internalHost,
    ports: Object.freeze(ports),
    urls: Object.freeze(urls),
    corsOrigins: Object.freeze(corsOrigins) as string[],
    internalToken,
    redisUrl,
    redisPrefix: env.REDIS_PREFIX || 'h5b:',
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 1000, 50, 10_000),
    redisAllowEviction: bool(env, 'REDIS_ALLOW_EVICTION', false),
    appsFile: env.APPS_FILE || 'config/apps.json',
    keysFile: env.AUTH_KEYS_FILE === '' ? undefined : env.AUTH_KEYS_FILE || '.data/auth-keys.json',
    keysKek,
    signingKeysFile: env.SIGNING_KEYS_FILE || undefined,
    keysPollMs: int(env, 'KEYS_POLL_SECONDS', 5, 1, 30) * 1000,
    atTtlSeconds: int(env, 'AT_TTL_SECONDS', 300, 10, 3600),
    vtTtlSeconds: int(env, 'VT_TTL_SECONDS', 1800, 60, 86400),
    signatureWindowSeconds: int(env, 'SIGNATURE_WINDOW_SECONDS', 300, 5, 3600),
    upstreamTimeoutMs: int(env, 'UPSTREAM_TIMEOUT_MS', 5000, 100, 60000),
    demoAppId: env.DEMO_APP_ID || 'demo-app',
    trustedProxies: Object.freeze(trustedProxies) as string[],
    rateLimits: Object.freeze({
      issuance: rateLimit(env, 'RATE_LIMIT_ISSUANCE', RATE_LIMIT_DEFAULTS.issuance),
      exchange: rateLimit(env, 'RATE_LIMIT_EXCHANGE', RATE_LIMIT_DEFAULTS.exchange),
      product: rateLimit(env, 'RATE_LIMIT_PRODUCT', RATE_LIMIT_DEFAULTS.product),
    }),
  });
}
