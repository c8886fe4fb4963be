/**
 * Configuration: read from the environment once, checked, frozen. A bad value stops the process
 * at start with a message naming the variable. Each setting is declared beside the code it is
 * about (flows/<flow>/settings.ts, platform/<module>/settings.ts, system/settings.ts); this file
 * composes them, and SETTINGS is the list the README's configuration table is rendered from.
 */
import type { Env } from '../platform/config/env.ts';
import { checkUnique, type Setting } from '../platform/config/settings.ts';
import type { RateLimits } from '../flows/rate-limit/limiter.ts';
import { ACCESS_TOKEN_SETTINGS, AT_TTL_SECONDS, SIGNATURE_WINDOW_SECONDS } from '../flows/access-token/settings.ts';
import { VISIT_TOKEN_SETTINGS, VT_TTL_SECONDS } from '../flows/visit-token/settings.ts';
import { RATE_LIMIT_SETTINGS, readRateLimits } from '../flows/rate-limit/settings.ts';
import { AUTH_KEYS_FILE, KEYS_KEK, KEYS_POLL_SECONDS, KEYS_SETTINGS, SIGNING_KEYS_FILE } from '../flows/keys/settings.ts';
import { APPS_FILE, APPS_SETTINGS, APPS_SOURCE } from '../flows/apps/settings.ts';
import { REDIS_ALLOW_EVICTION, REDIS_COMMAND_TIMEOUT_MS, REDIS_PREFIX, REDIS_WAIT_REPLICAS, STORE_SETTINGS, readRedisTarget, type RedisTarget } from '../platform/store/settings.ts';
import { NET_SETTINGS, TRUSTED_PROXIES } from '../platform/net/settings.ts';
import { HTTP_SETTINGS, UPSTREAM_TIMEOUT_MS } from '../platform/http/settings.ts';
import { LOG_SETTINGS } from '../platform/log/settings.ts';
import { BINDING_CLOCK_WINDOW_SECONDS, BINDING_HEARTBEAT_SECONDS, BINDING_KEK, BINDING_SETTINGS, BINDING_TTL_SECONDS } from '../flows/binding/settings.ts';
import { CHALLENGE_SETTINGS, readChallengeConfig, type ChallengeConfig } from '../flows/challenge/settings.ts';
import * as CS from '../flows/countersign/settings.ts';
import { METRICS_PORT, METRICS_SETTINGS } from '../platform/metrics/settings.ts';
import * as S from './settings.ts';

export { RATE_LIMIT_DEFAULTS } from '../flows/rate-limit/settings.ts';

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
  /** Set when the store is one node at REDIS_URL. */
  redisUrl?: string;
  /** Which Redis: one node (REDIS_URL), a cluster (REDIS_CLUSTER_NODES) or Sentinel (REDIS_SENTINELS); none: memory. */
  redisTarget?: RedisTarget;
  /** `REDIS_WAIT_REPLICAS`: how many replicas each answered write waits for (0: none). */
  redisWaitReplicas: number;
  redisPrefix: string;
  /** How long one Redis command may wait for its reply before the request fails with 503 (ms). */
  redisCommandTimeoutMs: number;
  /** Start in production although Redis's maxmemory-policy may evict the broker's keys. */
  redisAllowEviction: boolean;
  appsFile: string;
  /** Where the app registry lives: APPS_FILE, or the store (edited with `npm run admin`). */
  appsSource: 'file' | 'store';
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
   * The gateway's rate limits (flows/rate-limit/limiter.ts): per app on AT issuance, per client address
   * on the VT exchange, per VT on product calls; an absent one is off.
   */
  rateLimits: RateLimits;
  /** The binding flow's settings (flows/binding/settings.ts); `kek` absent: derived from internalToken. */
  binding: { ttlSeconds: number; heartbeatSeconds: number; clockWindowSeconds: number; kek?: Buffer };
  /** The proof-of-work gate and its pass (flows/challenge); no route is gated unless CHALLENGE_ROUTES names it. */
  challenge: ChallengeConfig;
  /** The countersign flow's lifetimes and per-user limit (flows/countersign/settings.ts). */
  countersign: CS.CountersignConfig;
  /** `WORKERS`: worker processes per started set of components; undefined: the number of cores (1 on the in-memory store). */
  workers?: number;
  /** `METRICS_PORT`: where `GET /metrics` is served (on INTERNAL_HOST); undefined: nowhere. */
  metricsPort?: number;
}

/**
 * Every setting, in the README table's order. LOG_LEVEL is among them although createLogger reads
 * it itself (a logger exists before the configuration does).
 */
export const SETTINGS: readonly Setting[] = Object.freeze([
  ...S.DEPLOYMENT_SETTINGS,
  ...S.RUN_SETTINGS,
  ...METRICS_SETTINGS,
  ...STORE_SETTINGS,
  ...APPS_SETTINGS,
  ...KEYS_SETTINGS,
  ...NET_SETTINGS,
  ...ACCESS_TOKEN_SETTINGS,
  ...VISIT_TOKEN_SETTINGS,
  ...HTTP_SETTINGS,
  ...RATE_LIMIT_SETTINGS,
  ...BINDING_SETTINGS,
  ...CHALLENGE_SETTINGS,
  ...CS.COUNTERSIGN_SETTINGS,
  ...S.DEMO_SETTINGS,
  ...LOG_SETTINGS,
]);
checkUnique(SETTINGS);

/** Builds the configuration from `env` (process.env by default). */
export function loadConfig(env: Env = process.env): Readonly<BrokerConfig> {
  // The order of the reads is the order of the checks: the first bad variable is the one named.
  const nodeEnv = S.NODE_ENV.read(env);
  const host = S.HOST.read(env);
  const internalHost = S.INTERNAL_HOST.read(env);
  const ports = {
    gateway: S.GATEWAY_PORT.read(env),
    auth: S.AUTH_PORT.read(env),
    h5: S.H5_PORT.read(env),
    products: S.PRODUCTS_PORT.read(env),
    demo: S.DEMO_PORT.read(env),
  };
  const local = (p: number) => `http://127.0.0.1:${p}`;
  const urls = {
    gatewayPublic: S.GATEWAY_PUBLIC_URL.read(env) ?? local(ports.gateway),
    h5Public: S.H5_PUBLIC_URL.read(env) ?? local(ports.h5),
    demoPublic: S.DEMO_PUBLIC_URL.read(env) ?? local(ports.demo),
    auth: S.AUTH_URL.read(env) ?? local(ports.auth),
    products: S.PRODUCTS_URL.read(env) ?? local(ports.products),
  };
  const corsOrigins = S.CORS_ORIGINS.read(env);
  const internalToken = S.INTERNAL_TOKEN.read(env);
  const trustedProxies = TRUSTED_PROXIES.read(env);
  const redisTarget = readRedisTarget(env);
  const redisUrl = redisTarget?.mode === 'single' ? redisTarget.url : undefined;
  const keysKek = KEYS_KEK.read(env);

  return Object.freeze({
    nodeEnv,
    host,
    internalHost,
    ports: Object.freeze(ports),
    urls: Object.freeze(urls),
    corsOrigins: Object.freeze(corsOrigins) as string[],
    internalToken,
    redisUrl,
    redisTarget,
    redisWaitReplicas: REDIS_WAIT_REPLICAS.read(env),
    redisPrefix: REDIS_PREFIX.read(env),
    redisCommandTimeoutMs: REDIS_COMMAND_TIMEOUT_MS.read(env),
    redisAllowEviction: REDIS_ALLOW_EVICTION.read(env),
    appsFile: APPS_FILE.read(env),
    appsSource: APPS_SOURCE.read(env),
    keysFile: AUTH_KEYS_FILE.read(env),
    keysKek,
    signingKeysFile: SIGNING_KEYS_FILE.read(env),
    keysPollMs: KEYS_POLL_SECONDS.read(env) * 1000,
    atTtlSeconds: AT_TTL_SECONDS.read(env),
    vtTtlSeconds: VT_TTL_SECONDS.read(env),
    signatureWindowSeconds: SIGNATURE_WINDOW_SECONDS.read(env),
    upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS.read(env),
    demoAppId: S.DEMO_APP_ID.read(env),
    trustedProxies: Object.freeze(trustedProxies) as string[],
    rateLimits: readRateLimits(env),
    binding: Object.freeze({
      ttlSeconds: BINDING_TTL_SECONDS.read(env),
      heartbeatSeconds: BINDING_HEARTBEAT_SECONDS.read(env),
      clockWindowSeconds: BINDING_CLOCK_WINDOW_SECONDS.read(env),
      kek: BINDING_KEK.read(env),
    }),
    challenge: readChallengeConfig(env),
    countersign: Object.freeze({
      ttlSeconds: CS.COUNTERSIGN_TTL_SECONDS.read(env),
      pollIntervalSeconds: CS.COUNTERSIGN_POLL_INTERVAL_SECONDS.read(env),
      applicationsPerWindow: CS.COUNTERSIGN_APPLICATIONS_PER_WINDOW.read(env),
      windowSeconds: CS.COUNTERSIGN_WINDOW_SECONDS.read(env),
    }),
    workers: S.WORKERS.read(env),
    metricsPort: METRICS_PORT.read(env),
  });
}
