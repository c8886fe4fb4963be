/**
 * Starts components in one process: all five for `npm start` and the tests, or any subset for a
 * component's own main. Binds every port first, so that ephemeral ports (0) work and each
 * component learns the others' real addresses; until its app is attached, a server answers every
 * request with 503 `starting` (never a connection left unanswered). Each component's code is
 * loaded only when that component is started (`npm run start:gateway` loads no H5 bundler).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { BrokerConfig } from './config.ts';
import type { EncryptionKey, SigningKey } from '../flows/keys/keys.ts';
import { createBrokerLogger } from './logger.ts';
import { loadRegistry, type AppRegistry } from '../flows/apps/registry.ts';
import type { SigningKeyRing } from '../flows/keys/signing-keys.ts';
import { createHttpServer, drainServers, serveStartingUntilAttached } from '../platform/http/server.ts';
import type { TokenStore } from '../platform/store/index.ts';
import type { VisitTokenVerifierOptions } from '../sdk/vt-verifier.ts';
import { createInternalClient, createUpstream, type InternalClient } from '../platform/http/upstream.ts';
import type { AuthServices } from '../flows/deps.ts';
import type { RequestState } from '../platform/http/state.ts';

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

/** Drains the servers wave by wave (platform/http/server.ts drainServers), until `deadline` at the latest. */
async function drainInOrder(servers: Partial<Record<ComponentName, http.Server>>, deadline: number, log?: Logger): Promise<void> {
  for (const names of STOP_ORDER) {
    const wave = names.filter((name) => servers[name]);
    if (wave.length === 0) continue;
    await drainServers(wave.map((name) => servers[name]!), deadline, () => log?.info({ components: wave }, 'no new connections; draining the requests in flight'));
  }
}

/**
 * Auth's operations over HTTP, for a gateway whose auth runs in another process (or when tests
 * ask for the HTTP path): each flow's client of its seam (flows/<flow>/seam.ts), on one pool.
 */
async function authOverHttp(client: InternalClient): Promise<AuthServices> {
  const [{ accessTokenClient }, { visitTokenClient }, { keysClient }, { countersignClient }] = await Promise.all([
    import('../flows/access-token/seam.ts'), import('../flows/visit-token/seam.ts'), import('../flows/keys/seam.ts'), import('../flows/countersign/seam.ts'),
  ]);
  return { accessTokens: accessTokenClient(client), visitTokens: visitTokenClient(client), keys: keysClient(client), countersign: countersignClient(client) };
}

/** Starts the chosen components; see SystemOptions for the defaults. */
export async function startSystem(config: Readonly<BrokerConfig>, opts: SystemOptions = {}): Promise<RunningSystem> {
  const components = new Set(opts.components ?? ALL_COMPONENTS);
  const log = opts.log ?? createBrokerLogger('broker');
  const servers: Partial<Record<ComponentName, http.Server>> = {};
  const hosts: Record<ComponentName, string> = {
    gateway: config.host, h5: config.host, demo: config.host, auth: config.internalHost, products: config.internalHost,
  };
  const upstreams: { close(): Promise<void> }[] = [];
  let store: TokenStore | undefined;
  const rings: SigningKeyRing[] = [];
  /** What polls the store besides the key rings (the app registry with APPS_SOURCE=store). */
  const pollers: { stop(): void }[] = [];

  try {
    const urls: SystemUrls = {
      gateway: config.urls.gatewayPublic, auth: config.urls.auth, h5: config.urls.h5Public,
      products: config.urls.products, demo: config.urls.demoPublic,
    };
    // Every port is bound first (ports 0 get their real numbers here), each answering 503
    // `starting` until its app is attached below.
    const attach: Partial<Record<ComponentName, (handler: http.RequestListener) => void>> = {};
    for (const name of ALL_COMPONENTS) {
      if (!components.has(name)) continue;
      const server = createHttpServer();
      servers[name] = server;
      attach[name] = serveStartingUntilAttached(server);
      const port = await listen(server, config.ports[name], hosts[name]);
      if (config.ports[name] === 0) urls[name] = `http://127.0.0.1:${port}`;
    }

    const fromStore = !opts.registry && config.appsSource === 'store';
    const needsStore = components.has('gateway') || components.has('auth') || fromStore;
    store = opts.store ?? (needsStore ? await (await import('../platform/store/index.ts')).createStore(config, log) : undefined);
    let registry: AppRegistry;
    if (fromStore) {
      // APPS_SOURCE=store: the registry lives in the store and `npm run admin` changes it; the
      // first component on an empty store imports APPS_FILE. Re-read every KEYS_POLL_SECONDS.
      const { StoreRegistry, seedRegistryDoc } = await import('../flows/apps/store-registry.ts');
      await seedRegistryDoc(store!, JSON.parse(readFileSync(config.appsFile, 'utf8')));
      const storeRegistry = await new StoreRegistry(store!, { pollMs: opts.keysPollMs ?? config.keysPollMs, log: log.child({ component: 'registry' }) }).start();
      pollers.push(storeRegistry);
      registry = storeRegistry;
    } else {
      registry = typeof opts.registry === 'function' ? opts.registry(urls) : opts.registry ?? loadRegistry(config.appsFile);
    }
    let keys: EncryptionKey[] = opts.keys ?? [];
    const signingKeys: RunningSystem['signingKeys'] = {};
    const keysPollMs = opts.keysPollMs ?? config.keysPollMs;
    if (components.has('auth')) {
      const [keyFiles, { SigningKeyRing, ensureSigningKeySet }] = await Promise.all([import('../flows/keys/keys.ts'), import('../flows/keys/signing-keys.ts')]);
      keys = opts.keys ?? keyFiles.loadOrCreateEncryptionKeys(config.keysFile);
      if (config.signingKeysFile) {
        // The operator's keys: the file's current signs, its public keys are published into the
        // store for the gateway; no KEK and no managed set (decision 24). start() checks the file.
        signingKeys.auth = new SigningKeyRing(store!, { file: config.signingKeysFile, pollMs: keysPollMs, log: log.child({ component: 'auth' }) });
      } else {
        const kek = opts.kek ?? keyFiles.loadOrCreateKeysKek(config.keysFile, config.keysKek);
        // The first auth to start on an empty store writes the set; its current key is the file's.
        await ensureSigningKeySet(store!, { kek, initial: opts.signingKey ?? keyFiles.loadOrCreateSigningKey(config.keysFile) });
        signingKeys.auth = new SigningKeyRing(store!, { kek, pollMs: keysPollMs, log: log.child({ component: 'auth' }) });
      }
      rings.push(signingKeys.auth);
      await signingKeys.auth.start();
    }
    if (components.has('gateway')) {
      const { SigningKeyRing } = await import('../flows/keys/signing-keys.ts');
      signingKeys.gateway = new SigningKeyRing(opts.gatewayStore ?? store!, { pollMs: keysPollMs, log: log.child({ component: 'gateway' }) });
      rings.push(signingKeys.gateway);
      await signingKeys.gateway.start();
    }
    const apps: Partial<Record<ComponentName, Koa<RequestState>>> = {};

    if (components.has('products')) {
      const [{ createVisitTokenVerifier }, { createProductBackendApp }, { createSecondFactorVerifier }, { redeemAtGateway }] = await Promise.all([
        import('../sdk/vt-verifier.ts'), import('../h5/app.ts'), import('../sdk/second-factor.ts'), import('../h5/payments.ts'),
      ]);
      // The backend trusts the VT itself too: verified offline against the gateway's public JWKS.
      // Reached only through the gateway (its internal credential), which checks and spends the
      // DPoP proof of a bound VT: the backend trusts that check (boundTokens: 'gateway', decision 70).
      const visitTokens = createVisitTokenVerifier({ jwksUrl: `${urls.gateway}/.well-known/jwks.json`, issuer: urls.gateway, audience: [], boundTokens: 'gateway', ...opts.productsVerifier });
      // The second factor's assertions are signed with the gateway's binding key (flows/binding).
      const secondFactor = createSecondFactorVerifier({ keysUrl: `${urls.gateway}/v1/binding-keys`, issuer: urls.gateway });
      apps.products = createProductBackendApp({
        internalToken: config.internalToken, log: log.child({ component: 'products' }), visitTokens, secondFactor,
        appName: (id) => registry.get(id)?.name, grants: redeemAtGateway(urls.gateway),
      });
    }
    let authServices: AuthServices | undefined;
    if (components.has('auth')) {
      const [{ createAuthApp }, { createAuthService }] = await Promise.all([import('../auth/app.ts'), import('../auth/service.ts')]);
      const deps = { config: { ...config, issuer: urls.gateway }, store: store!, registry, keys, signingKeys: signingKeys.auth!, log: log.child({ component: 'auth' }) };
      authServices = createAuthService(deps);
      apps.auth = createAuthApp(deps, authServices);
    }
    if (components.has('gateway')) {
      const { createGatewayApp } = await import('../gateway/app.ts');
      // Auth in this process: its own implementations, called directly (decision 33); auth still
      // listens for other gateways. Otherwise each flow's HTTP client, on one pool to AUTH_URL.
      let auth: AuthServices;
      let authLive: (requestId: string) => Promise<boolean>;
      if (authServices && opts.authTransport !== 'http') {
        auth = authServices;
        authLive = async () => true;
      } else {
        const client = createInternalClient('auth', urls.auth, config.internalToken, config.upstreamTimeoutMs);
        upstreams.push(client);
        auth = await authOverHttp(client);
        authLive = (requestId) => client.live(requestId);
      }
      const products = createUpstream('product', urls.products, config.internalToken, config.upstreamTimeoutMs);
      upstreams.push(products);
      apps.gateway = createGatewayApp({
        config: {
          signatureWindowSeconds: config.signatureWindowSeconds,
          corsOrigins: config.corsOrigins,
          internalToken: config.internalToken,
          trustedProxies: config.trustedProxies,
          rateLimits: config.rateLimits,
          challenge: config.challenge,
          h5Origin: new URL(urls.h5).origin,
          publicUrl: config.ports.gateway === 0 ? undefined : config.urls.gatewayPublic,
          issuer: urls.gateway,
          binding: config.binding,
        },
        store: opts.gatewayStore ?? store!, signingKeys: signingKeys.gateway!, registry, auth, authLive, products, log: log.child({ component: 'gateway' }),
      });
    }
    if (components.has('h5')) {
      const [{ createH5App }, { buildAssets }, { createJwksSource }] = await Promise.all([import('../h5/app.ts'), import('../h5/bundle.ts'), import('../h5/jwks.ts')]);
      // The demo app (when it runs here) may frame the H5 pages wherever it listens.
      // A loopback demo is reachable as both 127.0.0.1 and localhost: both may frame the pages.
      const extraAncestors = components.has('demo') ? loopbackAliases(new URL(urls.demo).origin) : [];
      // The gateway's JWKS, read from the URL the pages use, carried inline by the product page.
      const h5Log = log.child({ component: 'h5' });
      const jwks = createJwksSource(urls.gateway, h5Log);
      pollers.push(jwks);
      apps.h5 = createH5App({ gatewayUrl: urls.gateway, registry, extraFrameAncestors: extraAncestors, assets: await buildAssets(), log: h5Log, jwks: () => jwks.current() });
    }
    if (components.has('demo')) {
      const [{ createDemoApp }, { BrokerClient }, { findProduct }] = await Promise.all([
        import('../third-party-demo/app.ts'), import('../sdk/broker-client.ts'), import('../h5/products.ts'),
      ]);
      const entry = registry.get(config.demoAppId);
      if (!entry?.encKey) throw new Error(`the demo app "${config.demoAppId}" must be in the app registry with an encKey`);
      const client = new BrokerClient({ gatewayUrl: urls.gateway, appId: entry.appId, appSecret: entry.appSecret, encKey: entry.encKey.toString('base64url') });
      const products = entry.products.map((id) => ({ id, name: findProduct(id)?.name ?? id }));
      apps.demo = createDemoApp({ client, appName: entry.name, h5Url: urls.h5, products, log: log.child({ component: 'demo' }) });
    }
    for (const [name, app] of Object.entries(apps) as [ComponentName, Koa<RequestState>][]) attach[name]!(app.callback());

    const stopStore = opts.store ? undefined : store;
    return {
      urls, store: store!, registry, keys, signingKeys, servers,
      async close(graceMs = 10_000) {
        await drainInOrder(servers, Date.now() + graceMs, log);
        for (const ring of [...rings, ...pollers]) ring.stop();
        await Promise.all(upstreams.map((u) => u.close()));
        await stopStore?.close();
      },
    };
  } catch (err) {
    for (const ring of [...rings, ...pollers]) ring.stop();
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
