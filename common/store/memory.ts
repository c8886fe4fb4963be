import { TOMBSTONE_PREFIX, checkTombstone, type TokenStore } from './types.ts';

interface Entry {
  value: string;
  expiresAt: number;
}

/**
 * The embedded store for development and tests: one process only. Every operation runs to its end
 * without awaiting, so each is atomic on Node's single thread.
 */
export class MemoryStore implements TokenStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    // Expired entries are also dropped on read; the sweep bounds memory for keys never read again.
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && e.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    if (this.live(key)) return false;
    this.entries.set(key, { value, expiresAt: this.now() + ttlSeconds * 1000 });
    return true;
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async consume(key: string, tombstone: string, ttlSeconds: number): Promise<string | null> {
    checkTombstone(tombstone);
    const e = this.live(key);
    if (!e) return null;
    if (!e.value.startsWith(TOMBSTONE_PREFIX)) {
      this.entries.set(key, { value: tombstone, expiresAt: this.now() + ttlSeconds * 1000 });
    }
    return e.value;
  }

  async setIfUnchanged(guardKey: string, expected: string | null, entries: Readonly<Record<string, string>>): Promise<boolean> {
    if ((this.live(guardKey)?.value ?? null) !== expected) return false;
    for (const [k, v] of Object.entries(entries)) this.entries.set(k, { value: v, expiresAt: Infinity });
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const existed = this.live(key) !== undefined;
    this.entries.delete(key);
    return existed;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  /** Number of live entries (for tests and metrics). */
  size(): number {
    this.sweep();
    return this.entries.size;
  }
}
