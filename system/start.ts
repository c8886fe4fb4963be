/**
 * Starts components in one process: all five for `npm start` and the tests, or any subset for a
 * component's own main. Binds every port first, so that ephemeral ports (0) work and each
 * component learns the others' real addresses.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { createAuthApp } from '../auth/app.ts';
import { createAuthService, type AuthService } from '../auth/service.ts';
import type { BrokerConfig } from './config.ts';
import { loadOrCreateEncryptionKeys, loadOrCreateKeysKek, loadOrCreateSigningKey, type EncryptionKey, type SigningKey } from '../flows/keys/keys.ts';
import { createLogger } from '../platform/log/logger.ts';
import { loadRegistry, type AppRegistry } from '../flows/apps/registry.ts';
import { ensureSigningKeySet, SigningKeyRing } from '../flows/keys/signing-keys.ts';
import { createHttpServer, drainServers } from '../platform/http/server.ts';
import { createStore, type TokenStore } from '../platform/store/index.ts';
import { createVisitTokenVerifier, type VisitTokenVerifierOptions } from '../sdk/vt-verifier.ts';
import { createGatewayApp } from '../gateway/app.ts';
import { createLocalUpstream, createUpstream, type Upstream } from '../platform/http/upstream.ts';
import { buildAssets } from '../h5/bundle.ts';
import { createH5App, createProductBackendApp } from '../h5/app.ts';
import { findProduct } from '../h5/products.ts';
import { createDemoApp } from '../third-party-demo/app.ts';
import { BrokerClient } from '../sdk/broker-client.ts';

export type ComponentName = 'gateway' | 'auth' | 'h5' | 'products' | 'demo';
export const ALL_COMPONENTS: readonly ComponentName[] = ['products', 'auth', 'gateway', 'h5', 'demo'];

export interface SystemOptions {
  components?: readonly ComponentName[];
  /** Defaults: from config (REDIS_URL or memory), loadRegistry(config.appsFile), keys from config.keysFile. */
  store?: TokenStore;
  registry?: AppRegistry | ((urls: SystemUrls) => AppRegistry);
  keys?: EncryptionKey[];
  /**
   * The VT signing key that becomes `current` when the store holds no signing key set yet; by
   * default the one in config.keysFile. Once the set exists, the store's set is used.
   */
  signingKey?: SigningKey;
  /** The key-encryption key of the signing keys in the store; by default KEYS_KEK or config.keysFile. */
  kek?: Buffer;
  /** How often auth and gateway re-read the signing key set (ms); by default config.keysPollMs. */
  keysPollMs?: number;
  /** The store the gateway uses, when it must differ from auth's (tests observe the gateway's reads). */
  gatewayStore?: TokenStore;
  /**
   * How a gateway reaches an auth that runs in this same process: `local` (the default) calls it
   * directly; `http` goes over its port as a gateway in another process would (tests of that path).
   */
  authTransport?: 'local' | 'http';
  /** Options of the sample product backend's VT verifier (tests shorten its cool-down). */
  productsVerifier?: Partial<Pick<VisitTokenVerifierOptions, 'cooldownMs' | 'cacheMaxAgeMs'>>;
  log?: Logger;
}

export interface SystemUrls {
  gateway: string;
  auth: string;
  h5: string;
  products: string;
  demo: string;
}

export interface RunningSystem {
  urls: SystemUrls;
  store: TokenStore;
  registry: AppRegistry;
  keys: EncryptionKey[];
  /** Each component's view of the VT signing key set (auth's holds the current private key). */
  signingKeys: { auth?: SigningKeyRing; gateway?: SigningKeyRing };
  servers: Partial<Record<ComponentName, http.Server>>;
  /**
   * Stops accepting, lets the requests in flight finish (up to `graceMs`; public components
   * first), then stops key polls and upstream pools and last closes the store.
   */
  close(graceMs?: number): Promise<void>;
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * The order of a stop: the components that serve the outside first, then auth and the product
 * backend, which serve them (in one process, the gateway's requests in flight still call them).
 */
const STOP_ORDER: readonly (readonly ComponentName[])[] = [['gateway', 'h5', 'demo'], ['auth', 'products']];

/** Drains the servers wave by wave (common/server.ts drainServers), until `deadline` at the latest. */
async function drainInOrder(servers: Partial<Record<ComponentName, http.Server>>, deadline: number, log?: Logger): Promise<void> {
  for (const names of STOP_ORDER) {
    const wave = names.filter((name) => servers[name]);
    if (wave.length === 0) continue;
    await drainServers(wave.map((name) => servers[name]!), deadline, () => log?.info({ components: wave }, 'no new connections; draining the requests in flight'));
  }
}

/**
 * Auth's routes (auth/app.ts) for a gateway in this process, answered by the service's functions
 * with the statuses those routes answer with. Kept here, where both are wired, so that auth does
 * not depend on the gateway's code.
 */
function localAuth(service: AuthService): Upstream {
  return createLocalUpstream('auth', {
    'POST /internal/access-tokens': async (ctx, body) => ({ status: 201, data: await service.issueAccessToken(body as Record<string, unknown>, ctx.state.requestId), headers: {} }),
    'POST /internal/visit-tokens': async (ctx, body) => ({ status: 200, data: await service.exchangeVisitToken((body as { envelope?: unknown }).envelope, ctx.state.requestId), headers: {} }),
    'GET /internal/jwks': async () => ({ status: 200, data: service.jwks(), headers: {} }),
    'GET /healthz': async () => ({ status: 200, data: { status: 'ok' }, headers: {} }),
  });
}

/** Starts the chosen components; see SystemOptions for the defaults. */
export async function startSystem(config: Readonly<BrokerConfig>, opts: SystemOptions = {}): Promise<RunningSystem> {
  const components = new Set(opts.components ?? ALL_COMPONENTS);
  const log = opts.log ?? createLogger('broker');
  const servers: Partial<Record<ComponentName, http.Server>> = {};
  const hosts: Record<ComponentName, string> = {
    gateway: config.host, h5: config.host, demo: config.host, auth: config.internalHost, products: config.internalHost,
  };
  const upstreams: Upstream[] = [];
  let store: TokenStore | undefined;
  const rings: SigningKeyRing[] = [];

  try {
    const urls: SystemUrls = {
      gateway: config.urls.gatewayPublic, auth: config.urls.auth, h5: config.urls.h5Public,
      products: config.urls.products, demo: config.urls.demoPublic,
    };
    for (const name of ALL_COMPONENTS) {
      if (!components.has(name)) continue;
      const server = createHttpServer();
      servers[name] = server;
      const port = await listen(server, config.ports[name], hosts[name]);
      if (config.ports[name] === 0) urls[name] = `http://127.0.0.1:${port}`;
    }

    const registry = typeof opts.registry === 'function' ? opts.registry(urls) : opts.registry ?? loadRegistry(config.appsFile);
    const needsStore = components.has('gateway') || components.has('auth');
    store = opts.store ?? (needsStore ? await createStore(config, log) : undefined);
    const keys = opts.keys ?? (components.has('auth') ? loadOrCreateEncryptionKeys(config.keysFile) : []);
    const signingKeys: RunningSystem['signingKeys'] = {};
    const keysPollMs = opts.keysPollMs ?? config.keysPollMs;
    if (components.has('auth') && config.signingKeysFile) {
      // The operator's keys: the file's current signs, its public keys are published into the
      // store for the gateway; no KEK and no managed set (decision 24). start() checks the file.
      signingKeys.auth = new SigningKeyRing(store!, { file: config.signingKeysFile, pollMs: keysPollMs, log: log.child({ component: 'auth' }) });
      rings.push(signingKeys.auth);
      await signingKeys.auth.start();
    } else if (components.has('auth')) {
      const kek = opts.kek ?? loadOrCreateKeysKek(config.keysFile, config.keysKek);
      // The first auth to start on an empty store writes the set; its current key is the file's.
      await ensureSigningKeySet(store!, { kek, initial: opts.signingKey ?? loadOrCreateSigningKey(config.keysFile) });
      signingKeys.auth = new SigningKeyRing(store!, { kek, pollMs: keysPollMs, log: log.child({ component: 'auth' }) });
      rings.push(signingKeys.auth);
      await signingKeys.auth.start();
    }
    if (components.has('gateway')) {
      signingKeys.gateway = new SigningKeyRing(opts.gatewayStore ?? store!, { pollMs: keysPollMs, log: log.child({ component: 'gateway' }) });
      rings.push(signingKeys.gateway);
      await signingKeys.gateway.start();
    }
    const apps: Partial<Record<ComponentName, Koa>> = {};

    if (components.has('products')) {
      // The backend trusts the VT itself too: verified offline against the gateway's public JWKS.
      const visitTokens = createVisitTokenVerifier({ jwksUrl: `${urls.gateway}/.well-known/jwks.json`, issuer: urls.gateway, audience: [], ...opts.productsVerifier });
      apps.products = createProductBackendApp({ internalToken: config.internalToken, log: log.child({ component: 'products' }), visitTokens, appName: (id) => registry.get(id)?.name });
    }
    let authService: AuthService | undefined;
    if (components.has('auth')) {
      const deps = { config: { ...config, issuer: urls.gateway }, store: store!, registry, keys, signingKeys: signingKeys.auth!, log: log.child({ component: 'auth' }) };
      authService = createAuthService(deps);
      apps.auth = createAuthApp(deps, authService);
    }
    if (components.has('gateway')) {
      // Auth in this process: called directly (decision 33); auth still listens for other gateways.
      const auth = authService && opts.authTransport !== 'http'
        ? localAuth(authService)
        : createUpstream('auth', urls.auth, config.internalToken, config.upstreamTimeoutMs);
      const products = createUpstream('product', urls.products, config.internalToken, config.upstreamTimeoutMs);
      upstreams.push(auth, products);
      apps.gateway = createGatewayApp({
        config: {
          signatureWindowSeconds: config.signatureWindowSeconds,
          corsOrigins: config.corsOrigins,
          internalToken: config.internalToken,
          trustedProxies: config.trustedProxies,
          rateLimits: config.rateLimits,
          h5Origin: new URL(urls.h5).origin,
          publicUrl: config.ports.gateway === 0 ? undefined : config.urls.gatewayPublic,
          issuer: urls.gateway,
        },
        store: opts.gatewayStore ?? store!, signingKeys: signingKeys.gateway!, registry, auth, products, log: log.child({ component: 'gateway' }),
      });
    }
    if (components.has('h5')) {
      // The demo app (when it runs here) may frame the H5 pages wherever it listens.
      // A loopback demo is reachable as both 127.0.0.1 and localhost: both may frame the pages.
      const extraAncestors = components.has('demo') ? loopbackAliases(new URL(urls.demo).origin) : [];
      apps.h5 = createH5App({ gatewayUrl: urls.gateway, registry, extraFrameAncestors: extraAncestors, assets: await buildAssets(), log: log.child({ component: 'h5' }) });
    }
    if (components.has('demo')) {
      const entry = registry.get(config.demoAppId);
      if (!entry?.encKey) throw new Error(`the demo app "${config.demoAppId}" must be in the app registry with an encKey`);
      const client = new BrokerClient({ gatewayUrl: urls.gateway, appId: entry.appId, appSecret: entry.appSecret, encKey: entry.encKey.toString('base64url') });
      const products = entry.products.map((id) => ({ id, name: findProduct(id)?.name ?? id }));
      apps.demo = createDemoApp({ client, appName: entry.name, h5Url: urls.h5, products, log: log.child({ component: 'demo' }) });
    }
    for (const [name, app] of Object.entries(apps) as [ComponentName, Koa][]) servers[name]!.on('request', app.callback());

    const stopStore = opts.store ? undefined : store;
    return {
      urls, store: store!, registry, keys, signingKeys, servers,
      async close(graceMs = 10_000) {
        await drainInOrder(servers, Date.now() + graceMs, log);
        for (const ring of rings) ring.stop();
        await Promise.all(upstreams.map((u) => u.close()));
        await stopStore?.close();
      },
    };
  } catch (err) {
    for (const ring of rings) ring.stop();
    await drainInOrder(servers, Date.now());
    await Promise.all(upstreams.map((u) => u.close()));
    if (!opts.store) await store?.close().catch(() => undefined);
    throw err;
  }
}

/** An origin, plus its localhost/127.0.0.1 twin when it is a loopback one. */
export function loopbackAliases(origin: string): string[] {
  const u = new URL(origin);
  const twin = u.hostname === '127.0.0.1' ? 'localhost' : u.hostname === 'localhost' ? '127.0.0.1' : undefined;
  if (!twin) return [origin];
  u.hostname = twin;
  return [origin, u.origin];
}
