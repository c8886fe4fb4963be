/** Starts the whole broker in-process on ephemeral ports, with a quiet (or captured) logger. */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { loadConfig, type BrokerConfig } from '../../system/config.ts';
import { generateEncryptionKeys, generateSigningKey, type EncryptionKey, type EnvelopeAlg, type EnvelopeKeyKind, type SigningKey } from '../../flows/keys/keys.ts';
import { REDACT_PATHS } from '../../system/logger.ts';
import { createRegistry, type AppRegistry } from '../../flows/apps/registry.ts';
import type { TokenStore } from '../../platform/store/index.ts';
import { startSystem, type ComponentName, type RunningSystem, type SystemOptions, type SystemUrls } from '../../system/start.ts';

export const DEMO_APP = {
  appId: 'demo-app',
  name: 'Demo',
  appSecret: 'test-secret-0123456789abcdefghijklmnopqrstuvwxyz',
  encKey: Buffer.alloc(32, 7).toString('base64url'),
  products: ['travel-insurance', 'city-pass', 'savings-plus', 'travel-insurance-cn', 'dubai-pass', 'hausrat'],
};
export const OTHER_APP = {
  appId: 'other-app',
  name: 'Other',
  appSecret: 'other-secret-0123456789abcdefghijklmnopqrstuvwxyz',
  encKey: Buffer.alloc(32, 9).toString('base64url'),
  products: ['savings-plus'],
};

/** A product backend registered for introspection and revocation of city-pass VTs. */
export const CITY_PASS_BACKEND = {
  clientId: 'city-pass-backend',
  clientSecret: 'backend-secret-0123456789abcdefghijklmnopqrstuvwxyz',
  products: ['city-pass'],
};

export function testRegistry(urls?: SystemUrls): AppRegistry {
  const origins = urls ? [new URL(urls.demo).origin] : [];
  return createRegistry({ apps: [{ ...DEMO_APP, allowedOrigins: origins }, { ...OTHER_APP, allowedOrigins: [] }], backends: [CITY_PASS_BACKEND] });
}

export function testConfig(env: Record<string, string> = {}): Readonly<BrokerConfig> {
  return loadConfig({
    NODE_ENV: 'test', GATEWAY_PORT: '0', AUTH_PORT: '0', H5_PORT: '0', PRODUCTS_PORT: '0', DEMO_PORT: '0',
    AUTH_KEYS_FILE: '', ...env,
  });
}

/** Log lines written by a system under test, parsed. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  readonly logger: Logger;
  constructor(level = 'info') {
    const sink = new Writable({
      write: (chunk, _enc, cb) => {
        for (const line of String(chunk).split('\n').filter(Boolean)) {
          this.raw.push(line);
          this.lines.push(JSON.parse(line));
        }
        cb();
      },
    });
    this.logger = pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
  }
}

let sharedKeys: EncryptionKey[] | undefined;
/**
 * One key set for the whole test run, as auth holds it (an RSA-OAEP-256 key, then an
 * ECDH-ES+A256KW P-256 key): generating keys per test would only cost time.
 */
export function testKeys(): EncryptionKey[] {
  return (sharedKeys ??= generateEncryptionKeys());
}

const sharedKek = randomBytes(32);
/** One key-encryption key for the signing keys in the store, for the whole test run. */
export function testKek(): Buffer {
  return sharedKek;
}

let sharedSigningKey: SigningKey | undefined;
/** One VT signing key (ES256) for the whole test run, as auth holds it. */
export function testSigningKey(): SigningKey {
  return (sharedSigningKey ??= generateSigningKey());
}

/** The test key set's key for `alg` (the RSA one by default; `ECDH-ES+A256KW` is the P-256 one) or of a kind (`X25519`). */
export function testKey(alg: EnvelopeAlg | EnvelopeKeyKind = 'RSA-OAEP-256'): EncryptionKey {
  return testKeys().find((k) => k.alg === alg || k.kind === alg)!;
}

export interface StartOptions {
  store: TokenStore;
  components?: ComponentName[];
  env?: Record<string, string>;
  log?: Logger;
  /** auth's encryption keys; testKeys() by default. */
  keys?: EncryptionKey[];
  /** The rest of startSystem's options (registry, key poll, gateway store, product verifier, auth transport). */
  system?: Pick<SystemOptions, 'registry' | 'keysPollMs' | 'gatewayStore' | 'productsVerifier' | 'authTransport'>;
}

export async function startTestSystem(opts: StartOptions): Promise<RunningSystem> {
  return startSystem(testConfig(opts.env), {
    components: opts.components,
    store: opts.store,
    registry: (urls) => testRegistry(urls),
    keys: opts.keys ?? testKeys(),
    signingKey: testSigningKey(),
    kek: testKek(),
    log: opts.log ?? pino({ level: 'silent' }),
    ...opts.system,
  });
}

/** The system a suite shares, started by its `before` hook and stopped by its `after` hook. */
export interface SuiteSystem {
  readonly system: RunningSystem;
  readonly store: TokenStore;
}

/**
 * Registers the hooks that start the whole system for a suite (on the store `openStore` gives)
 * and stop it and close the store afterwards. Call it inside `describe`.
 */
export function useTestSystem(openStore: (ctx: Mocha.Context) => TokenStore | Promise<TokenStore>, opts: Omit<StartOptions, 'store'> = {}): SuiteSystem {
  let system: RunningSystem | undefined;
  let store: TokenStore | undefined;
  before(async function () {
    store = await openStore(this);
    system = await startTestSystem({ ...opts, store });
  });
  after(async function () {
    await system?.close(0);
    await store?.close();
  });
  return {
    get system() {
      return system!;
    },
    get store() {
      return store!;
    },
  };
}
