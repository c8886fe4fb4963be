import { MemoryStore } from '../../platform/store/index.ts';

/** A store that records what the system wrote, passing every call on to a real store. */
export class RecordingStore extends MemoryStore {
  readonly written: string[] = [];
  override async setIfAbsent(key: string, value: string, ttl: number): Promise<boolean> {
    const ok = await super.setIfAbsent(key, value, ttl);
    if (ok) this.written.push(key);
    return ok;
  }
  issuedAccessTokens(): number {
    return this.written.filter((k) => k.startsWith('at:')).length;
  }
}
