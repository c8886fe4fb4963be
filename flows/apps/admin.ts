/**
 * What `npm run admin` does to the app registry in the store (store-registry.ts): register, list,
 * show, disable and enable apps, rotate an app's secret with an overlap window, and set its
 * products, origins, networks and audiences. Every change is checked as the services check the
 * registry (createRegistry) before it is written, and written over the version it read.
 */
import { randomBytes } from 'node:crypto';
import type { TokenStore } from '../../platform/store/types.ts';
import { RegistryError } from './registry.ts';
import { readRegistryDoc, seedRegistryDoc, updateRegistryDoc, type RegistryDoc } from './store-registry.ts';

/** A refusal of an admin command, with a message for the operator. */
export class AdminError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminError';
  }
}

/** What `list` and `show` tell about an app: never a secret or a key. */
export interface AppSummary {
  appId: string;
  name: string;
  disabled: boolean;
  products: string[];
  allowedOrigins: string[];
  trustedNetworks?: string[];
  audiences?: string[];
  keyKind: 'encKey' | 'publicJwk';
  /** Previous secrets still verifying, by the end of their overlap (unix seconds). */
  previousSecretsUntil: number[];
}

type RawApp = Record<string, unknown> & { appId: string };

const newSecret = () => randomBytes(32).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

function summary(a: RawApp, now: number): AppSummary {
  return {
    appId: a.appId,
    name: typeof a.name === 'string' ? a.name : a.appId,
    disabled: a.disabled === true,
    products: [...((a.products as string[]) ?? [])],
    allowedOrigins: [...((a.allowedOrigins as string[]) ?? [])],
    ...(Array.isArray(a.trustedNetworks) && { trustedNetworks: [...(a.trustedNetworks as string[])] }),
    ...(Array.isArray(a.audiences) && { audiences: [...(a.audiences as string[])] }),
    keyKind: a.publicJwk ? 'publicJwk' : 'encKey',
    previousSecretsUntil: ((a.previousSecrets as { notAfter: number }[]) ?? []).map((p) => p.notAfter).filter((t) => t > now),
  };
}

function findApp(doc: RegistryDoc, appId: string): RawApp {
  const app = doc.apps.find((a) => a.appId === appId) as RawApp | undefined;
  if (!app) throw new AdminError(`no app "${appId}" in the registry`);
  return app;
}

/** Runs `change` on the stored document; a RegistryError (the change does not check) becomes an AdminError. */
async function update<T>(store: TokenStore, change: (doc: RegistryDoc) => T): Promise<{ version: number; result: T }> {
  try {
    return await updateRegistryDoc(store, change);
  } catch (err) {
    if (err instanceof RegistryError) throw new AdminError(`refused: ${err.message}`);
    throw err;
  }
}

export interface AppsAdmin {
  /** Writes `doc` (an APPS_FILE document) as the store's registry when it has none. */
  importRegistry(doc: RegistryDoc): Promise<{ version: number; apps: number }>;
  list(): Promise<{ version: number; apps: AppSummary[] }>;
  show(appId: string): Promise<AppSummary>;
  /** A new app with a fresh secret and encKey, shown once in the answer. */
  register(input: { appId: string; name?: string; products: string[]; allowedOrigins?: string[]; trustedNetworks?: string[]; audiences?: string[] }): Promise<{ version: number; appId: string; appSecret: string; encKey: string }>;
  setDisabled(appId: string, disabled: boolean): Promise<{ version: number; app: AppSummary }>;
  /**
   * A new secret for the app, shown once; the old one keeps verifying for `overlapSeconds`
   * (previous secrets whose window has ended are dropped).
   */
  rotateSecret(appId: string, overlapSeconds: number): Promise<{ version: number; appId: string; appSecret: string; previousValidUntil: number }>;
  /** Replaces the named fields; an empty list removes an optional one (networks, audiences). */
  set(appId: string, fields: { products?: string[]; allowedOrigins?: string[]; trustedNetworks?: string[]; audiences?: string[]; name?: string }): Promise<{ version: number; app: AppSummary }>;
}

export function createAppsAdmin(store: TokenStore, now: () => number = nowSeconds): AppsAdmin {
  return {
    async importRegistry(doc) {
      try {
        if (!(await seedRegistryDoc(store, doc))) throw new AdminError('the store already holds an app registry; change it with the other commands');
      } catch (err) {
        if (err instanceof RegistryError) throw new AdminError(`refused: ${err.message}`);
        throw err;
      }
      return { version: 1, apps: doc.apps.length };
    },

    async list() {
      const stored = await readRegistryDoc(store);
      if (!stored) throw new AdminError('the store holds no app registry yet: import one first (npm run admin -- import)');
      return { version: stored.version, apps: stored.doc.apps.map((a) => summary(a as RawApp, now())) };
    },

    async show(appId) {
      const stored = await readRegistryDoc(store);
      if (!stored) throw new AdminError('the store holds no app registry yet: import one first (npm run admin -- import)');
      return summary(findApp(stored.doc, appId), now());
    },

    async register(input) {
      const appSecret = newSecret();
      const encKey = randomBytes(32).toString('base64url');
      const { version } = await update(store, (doc) => {
        if (doc.apps.some((a) => a.appId === input.appId)) throw new AdminError(`an app "${input.appId}" is already registered`);
        if ((doc.backends ?? []).some((b) => b.clientId === input.appId)) throw new AdminError(`"${input.appId}" is a product backend's client id`);
        doc.apps.push({
          appId: input.appId, name: input.name ?? input.appId, appSecret, encKey, products: input.products,
          allowedOrigins: input.allowedOrigins ?? [],
          ...(input.trustedNetworks?.length && { trustedNetworks: input.trustedNetworks }),
          ...(input.audiences?.length && { audiences: input.audiences }),
        });
      });
      return { version, appId: input.appId, appSecret, encKey };
    },

    async setDisabled(appId, disabled) {
      const { version, result } = await update(store, (doc) => {
        const app = findApp(doc, appId);
        if (disabled) app.disabled = true;
        else delete app.disabled;
        return summary(app, now());
      });
      return { version, app: result };
    },

    async rotateSecret(appId, overlapSeconds) {
      if (!Number.isSafeInteger(overlapSeconds) || overlapSeconds < 0) throw new AdminError('the overlap must be a whole number of seconds');
      const appSecret = newSecret();
      const previousValidUntil = now() + overlapSeconds;
      const { version } = await update(store, (doc) => {
        const app = findApp(doc, appId);
        const kept = ((app.previousSecrets as { secret: string; notAfter: number }[]) ?? []).filter((p) => p.notAfter > now());
        const previous = overlapSeconds > 0 ? [...kept, { secret: app.appSecret as string, notAfter: previousValidUntil }] : kept;
        app.appSecret = appSecret;
        if (previous.length) app.previousSecrets = previous;
        else delete app.previousSecrets;
      });
      return { version, appId, appSecret, previousValidUntil };
    },

    async set(appId, fields) {
      if (Object.values(fields).every((v) => v === undefined)) throw new AdminError('nothing to set: give --products, --origins, --networks, --audiences or --name');
      const { version, result } = await update(store, (doc) => {
        const app = findApp(doc, appId);
        if (fields.name !== undefined) app.name = fields.name;
        if (fields.products !== undefined) app.products = fields.products;
        if (fields.allowedOrigins !== undefined) app.allowedOrigins = fields.allowedOrigins;
        for (const key of ['trustedNetworks', 'audiences'] as const) {
          const value = fields[key];
          if (value === undefined) continue;
          if (value.length) app[key] = value;
          else delete app[key];
        }
        return summary(app, now());
      });
      return { version, app: result };
    },
  };
}
