/**
 * The deployment's settings: the environment, where each component binds and is found, the
 * internal credential, and the browser origins. The flows' and the plumbing's settings live beside
 * them; config.ts composes all of them.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, type Env } from '../platform/config/env.ts';
import { customSetting, intSetting, listSetting, stringSetting, urlSetting } from '../platform/config/settings.ts';

export const NODE_ENV = stringSetting('NODE_ENV', {
  def: 'development',
  range: '`production`, anything else',
  doc: '`production` refuses the in-memory store and requires `INTERNAL_TOKEN`',
});

export const HOST = stringSetting('HOST', { def: '127.0.0.1', range: 'an address', doc: 'bind address of gateway, h5 and demo' });
export const INTERNAL_HOST = stringSetting('INTERNAL_HOST', { def: '127.0.0.1', range: 'an address', doc: 'bind address of auth and the product backend' });

const port = (name: string, def: number, what: string) => intSetting(name, { def, min: 0, max: 65535, range: '0–65535, 0: any free port', doc: `port of ${what}` });
export const GATEWAY_PORT = port('GATEWAY_PORT', 8080, 'the gateway');
export const AUTH_PORT = port('AUTH_PORT', 8081, 'auth');
export const H5_PORT = port('H5_PORT', 8082, 'the H5 pages');
export const PRODUCTS_PORT = port('PRODUCTS_PORT', 8083, 'the sample product backend');
export const DEMO_PORT = port('DEMO_PORT', 8090, 'the third-party demo');

export const GATEWAY_PUBLIC_URL = urlSetting('GATEWAY_PUBLIC_URL', {
  defaultText: '`http://127.0.0.1:$GATEWAY_PORT`',
  doc: "the gateway as clients see it: pages call it, and `@target-uri` is `GATEWAY_PUBLIC_URL` followed by the request's path and query as sent; only when the gateway listens on a port chosen at start (`GATEWAY_PORT=0`, tests) is it `<scheme>://<Host>` followed by the path and query",
});
export const H5_PUBLIC_URL = urlSetting('H5_PUBLIC_URL', {
  defaultText: '`http://127.0.0.1:$H5_PORT`',
  doc: "where the H5 pages are; its origin may call the gateway's browser APIs (CORS)",
});
export const DEMO_PUBLIC_URL = urlSetting('DEMO_PUBLIC_URL', { defaultText: '`http://127.0.0.1:$DEMO_PORT`', doc: "the demo app's address" });
export const AUTH_URL = urlSetting('AUTH_URL', { defaultText: '`http://127.0.0.1:$AUTH_PORT`', doc: 'where the gateway finds auth' });
export const PRODUCTS_URL = urlSetting('PRODUCTS_URL', { defaultText: '`http://127.0.0.1:$PRODUCTS_PORT`', doc: 'where the gateway finds the product backend' });

export const CORS_ORIGINS = listSetting('CORS_ORIGINS', {
  range: 'origins, comma-separated',
  doc: "more origins allowed to call the gateway's browser APIs (the origin of `H5_PUBLIC_URL` always is)",
  // URL.canParse first: `new URL` of a bad entry would throw a TypeError, not a ConfigError.
  check: (o) => (URL.canParse(o) && new URL(o).origin === o ? undefined : `"${o}" is not an origin`),
});

export const INTERNAL_TOKEN = customSetting('INTERNAL_TOKEN', {
  defaultText: 'random per process (required in production)',
  range: '≥ 32 characters',
  doc: 'credential the gateway presents to auth and product backends',
  read: (env: Env): string => {
    const token = env.INTERNAL_TOKEN ?? '';
    if (token) {
      if (token.length < 32) throw new ConfigError('INTERNAL_TOKEN', 'must be at least 32 characters');
      return token;
    }
    if (NODE_ENV.read(env) === 'production') throw new ConfigError('INTERNAL_TOKEN', 'is required in production (the credential the gateway presents to auth)');
    // Development: one process runs every component, so a per-process random credential serves.
    return randomBytes(32).toString('base64url');
  },
});

export const DEPLOYMENT_SETTINGS = [
  NODE_ENV, HOST, INTERNAL_HOST, GATEWAY_PORT, AUTH_PORT, H5_PORT, PRODUCTS_PORT, DEMO_PORT,
  GATEWAY_PUBLIC_URL, H5_PUBLIC_URL, DEMO_PUBLIC_URL, AUTH_URL, PRODUCTS_URL, CORS_ORIGINS, INTERNAL_TOKEN,
] as const;

/** Which registry entry the in-process third-party demo signs as (the demo itself takes its client ready-made). */
export const DEMO_APP_ID = stringSetting('DEMO_APP_ID', { def: 'demo-app', range: 'an `appId` in `APPS_FILE`', doc: 'which registry entry the demo app uses' });

export const DEMO_SETTINGS = [DEMO_APP_ID] as const;

export const WORKERS = customSetting('WORKERS', {
  defaultText: '— (the number of cores; 1 on the in-memory store)',
  range: '1–256',
  doc: 'how many worker processes (node:cluster) each started set of components runs, sharing its ports; more than 1 needs a Redis store (see docs/deploy.md)',
  read: (env: Env): number | undefined => {
    const raw = env.WORKERS;
    if (raw === undefined || raw === '') return undefined;
    if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 256) throw new ConfigError('WORKERS', `must be a whole number 1–256, got "${raw}"`);
    return Number(raw);
  },
});

export const RUN_SETTINGS = [WORKERS] as const;
