import { EventEmitter } from 'node:events';
import { TOMBSTONE_PREFIX, checkConsumeStep, pickedValue, type ConsumeResult, type ConsumeStep, type MessageHandler, type RateLimitResult, type TokenStore } from './types.ts';

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
  /** Publish/subscribe within this process. */
  private readonly channels = new EventEmitter().setMaxListeners(0);

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

  async consume(key: string, step: ConsumeStep): Promise<ConsumeResult> {
    checkConsumeStep(step);
    const e = this.live(key);
    if (!e) return { outcome: 'absent' };
    if (e.value.startsWith(TOMBSTONE_PREFIX)) return { outcome: 'used', tombstone: e.value };
    let doc: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(e.value);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) doc = parsed as Record<string, unknown>;
    } catch {
      // Not JSON: a plain value, consumed as it is.
    }
    if (doc && 'exp' in doc && (typeof doc.exp !== 'number' || doc.exp <= step.now)) return { outcome: 'refused' };
    for (const [member, expected] of Object.entries(step.require ?? {})) {
      if (!doc || doc[member] !== expected) return { outcome: 'refused' };
    }
    const writes: [string, string, number][] = [];
    for (const c of step.companions ?? []) {
      let value: string;
      if ('copy' in c) value = e.value;
      else if (c.pick?.length) {
        if (!doc) return { outcome: 'refused' };
        value = pickedValue(c.value, c.pick, doc);
      } else value = c.value;
      if (this.live(c.key)) return { outcome: 'collision' };
      writes.push([c.key, value, c.ttlSeconds]);
    }
    const now = this.now();
    for (const [k, v, ttl] of writes) this.entries.set(k, { value: v, expiresAt: now + ttl * 1000 });
    this.entries.set(key, { value: step.tombstone, expiresAt: now + step.ttlSeconds * 1000 });
    return { outcome: 'consumed', value: e.value };
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

  async publish(channel: string, message: string): Promise<number> {
    const n = this.channels.listenerCount(channel);
    this.channels.emit(channel, message);
    return n;
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    // Each subscription gets its own listener, so one handler subscribed twice is called twice
    // and each unsubscribe ends its own subscription only (as two Redis subscribers would).
    const listener = (message: string) => handler(message);
    this.channels.on(channel, listener);
    return async () => {
      this.channels.off(channel, listener);
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
    this.channels.removeAllListeners();
  }

  /** Number of live entries (for tests and metrics). */
  size(): number {
    this.sweep();
    return this.entries.size;
  }
}
