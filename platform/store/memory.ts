import { TOMBSTONE_PREFIX, checkTombstone, visitRecordFor, type RateLimitResult, type RedeemResult, type TokenStore } from './types.ts';

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

  async redeem(atKey: string, vtKey: string, tombstone: string, now: number, vtTtlSeconds: number): Promise<RedeemResult> {
    checkTombstone(tombstone);
    const e = this.live(atKey);
    if (!e) return { outcome: 'absent' };
    if (e.value.startsWith(TOMBSTONE_PREFIX)) return { outcome: 'used', tombstone: e.value };
    let at: { typ?: unknown; exp?: unknown; appId: string; userId: string; productId: string };
    try {
      at = JSON.parse(e.value);
    } catch {
      return { outcome: 'refused' };
    }
    if (at?.typ !== 'at' || typeof at.exp !== 'number' || at.exp <= now) return { outcome: 'refused' };
    if (this.live(vtKey)) return { outcome: 'collision' };
    const expiresAt = this.now() + vtTtlSeconds * 1000;
    this.entries.set(vtKey, { value: visitRecordFor(at, now, vtTtlSeconds), expiresAt });
    this.entries.set(atKey, { value: tombstone, expiresAt });
    return { outcome: 'redeemed', record: e.value };
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

  async rateLimit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    // The same GCRA as RedisStore's RATE_LIMIT script, in the same whole numbers: the entry holds
    // "base:k", the theoretical arrival time being base + k * windowMs / limit (ms).
    const n = limit;
    const w = windowMs;
    const now = Math.floor(this.now());
    let base = now;
    let k = 0;
    const m = /^(\d+):(\d+)$/.exec(this.live(key)?.value ?? '');
    if (m) {
      base = Math.min(Number(m[1]), now);
      k = Number(m[2]);
      const d = now - base;
      if (d > 3 * w || d * n >= k * w) {
        base = now;
        k = 0;
      }
    }
    let d = now - base;
    if ((k + 1) * w - d * n > w * n) {
      return { allowed: false, remaining: 0, resetMs: Math.ceil((k * w - d * n) / n), retryAfterMs: Math.ceil(((k + 1 - n) * w) / n) - d };
    }
    k += 1;
    const j = Math.floor(d / w);
    base += j * w;
    k -= j * n;
    d -= j * w;
    const resetMs = Math.ceil((k * w - d * n) / n);
    this.entries.set(key, { value: `${base}:${k}`, expiresAt: now + resetMs });
    return { allowed: true, remaining: Math.floor((w * n + d * n - k * w) / w), resetMs, retryAfterMs: 0 };
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
