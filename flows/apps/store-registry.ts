/**
 * The app registry kept in the store (`APPS_SOURCE=store`), so that `npm run admin` can change it
 * while the services run: the document is the APPS_FILE document (`{"apps", "backends"}`, with
 * the admin's `disabled` and `previousSecrets` members), under `apps:registry`, and its version
 * under `apps:registry:version`. Writers replace both at once, only over the version they read
 * (`setIfUnchanged`); every service polls the version (one GET) and re-reads the document when it
 * changed, as the signing key set is polled. A document that does not check is never installed:
 * the last good registry stays.
 */
import type { Logger } from 'pino';
import type { TokenStore } from '../../platform/store/types.ts';
import { createRegistry, type AppEntry, type AppRegistry, type BackendEntry } from './registry.ts';
import { pollInBackground } from '../../platform/poll.ts';

export const REGISTRY_KEY = 'apps:registry';
export const REGISTRY_VERSION_KEY = 'apps:registry:version';

/** The registry document as the store keeps it. */
export interface RegistryDoc {
  apps: Record<string, unknown>[];
  backends?: Record<string, unknown>[];
}

export interface StoredRegistry {
  version: number;
  doc: RegistryDoc;
}

/** The document and its version, or undefined when the store has none. */
export async function readRegistryDoc(store: TokenStore): Promise<StoredRegistry | undefined> {
  for (let i = 0; i < 3; i++) {
    const version = await store.get(REGISTRY_VERSION_KEY);
    if (version === null) return undefined;
    const raw = await store.get(REGISTRY_KEY);
    if (raw === null) continue;
    const stored = JSON.parse(raw) as StoredRegistry;
    // Written together: a version read between two writes is read again.
    if (String(stored.version) === version) return stored;
  }
  throw new Error('the app registry in the store keeps changing while it is read');
}

/**
 * Writes `doc` as the next version over `expectedVersion` (0: the store has none); checks it
 * first (createRegistry throws RegistryError). False when another writer came first.
 */
export async function writeRegistryDoc(store: TokenStore, doc: RegistryDoc, expectedVersion: number): Promise<boolean> {
  createRegistry(doc);
  const version = expectedVersion + 1;
  return store.setIfUnchanged(REGISTRY_VERSION_KEY, expectedVersion === 0 ? null : String(expectedVersion), {
    [REGISTRY_KEY]: JSON.stringify({ version, doc } satisfies StoredRegistry),
    [REGISTRY_VERSION_KEY]: String(version),
  });
}

/**
 * Applies `change` to the current document and writes it, again over a fresh read when another
 * writer came first. Returns the version written and what `change` returned.
 */
export async function updateRegistryDoc<T>(store: TokenStore, change: (doc: RegistryDoc) => T): Promise<{ version: number; result: T }> {
  for (let i = 0; i < 10; i++) {
    const current = await readRegistryDoc(store);
    if (!current) throw new Error('the store holds no app registry yet: import one first (npm run admin -- import)');
    const doc = structuredClone(current.doc);
    const result = change(doc);
    if (await writeRegistryDoc(store, doc, current.version)) return { version: current.version + 1, result };
  }
  throw new Error('the app registry kept changing under this edit; try again');
}

/** Writes `doc` as the store's registry when it has none; true when written. */
export async function seedRegistryDoc(store: TokenStore, doc: RegistryDoc): Promise<boolean> {
  return writeRegistryDoc(store, doc, 0);
}

/**
 * One process's view of the registry in the store: an AppRegistry whose entries are swapped at
 * once when a poll sees a new version.
 */
export class StoreRegistry implements AppRegistry {
  private current: AppRegistry = createRegistry({ apps: [] });
  private installed = 0;
  private stopPolling: (() => void) | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly store: TokenStore, private readonly opts: { pollMs: number; log?: Logger }) {}

  /** Reads the registry once (it must be there) and starts polling. */
  async start(): Promise<this> {
    await this.refresh();
    if (this.installed === 0) throw new Error('the store holds no app registry (APPS_SOURCE=store): import one with npm run admin -- import');
    this.stopPolling = pollInBackground(() => this.refresh(), this.opts.pollMs, (err) => this.opts.log?.warn({ err: err.message }, 'reading the app registry failed; keeping the last one'));
    return this;
  }

  stop(): void {
    this.stopPolling?.();
  }

  /** The version this process holds (0: none yet). */
  get version(): number {
    return this.installed;
  }

  /** Re-reads the version, and the document when it changed; concurrent callers share one read. */
  refresh(): Promise<void> {
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async load(): Promise<void> {
    const version = await this.store.get(REGISTRY_VERSION_KEY);
    if (version === null || Number(version) === this.installed) return;
    const stored = await readRegistryDoc(this.store);
    if (!stored || stored.version === this.installed) return;
    try {
      this.current = createRegistry(stored.doc);
    } catch (err) {
      this.opts.log?.error({ err: (err as Error).message, version: stored.version }, 'the app registry in the store does not check; keeping the last one');
      return;
    }
    this.installed = stored.version;
    this.opts.log?.info({ version: stored.version, apps: this.current.all().length }, 'app registry loaded from the store');
  }

  get(appId: string): AppEntry | undefined {
    return this.current.get(appId);
  }
  all(): readonly AppEntry[] {
    return this.current.all();
  }
  backend(clientId: string): BackendEntry | undefined {
    return this.current.backend(clientId);
  }
  backends(): readonly BackendEntry[] {
    return this.current.backends();
  }
}
