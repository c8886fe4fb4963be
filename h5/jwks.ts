/**
 * The gateway's JWKS as the page server last read it, for the product page to carry inline (the
 * boot script seals to it without a round trip of its own). Read from the gateway URL the pages
 * are given, on the first page after start and then every `everyMs`; a failed read keeps the last
 * good copy for up to `JWKS_STALE_MS`, and while there is none the page preloads the JWKS itself,
 * as before.
 */
import type { Logger } from 'pino';
import { pollInBackground } from '../platform/poll.ts';

/** How often the page server reads the JWKS again (a rotated key reaches pages within this). */
export const JWKS_REFRESH_MS = 60_000;
/** A copy not read again for this long is no longer given to pages (they fetch the JWKS themselves). */
export const JWKS_STALE_MS = 5 * JWKS_REFRESH_MS;
/** A read that takes longer is given up (the pages fetch the JWKS themselves meanwhile). */
const READ_TIMEOUT_MS = 3_000;

export interface JwksSource {
  /** The last JWKS read, or undefined (none yet: a read starts in the background). */
  current(): unknown;
  stop(): void;
}

function isJwks(v: unknown): boolean {
  return !!v && typeof v === 'object' && Array.isArray((v as { keys?: unknown }).keys);
}

export function createJwksSource(gatewayUrl: string, log: Logger, everyMs = JWKS_REFRESH_MS): JwksSource {
  const url = `${gatewayUrl.replace(/\/+$/, '')}/.well-known/jwks.json`;
  let last: unknown;
  let readAt = 0;
  let reading: Promise<void> | undefined;
  const read = (): Promise<void> => {
    reading ??= (async () => {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS), headers: { accept: 'application/json' } });
        const body: unknown = res.ok ? await res.json() : undefined;
        if (!isJwks(body)) throw new Error(`no JWKS at ${url} (status ${res.status})`);
        last = body;
        readAt = Date.now();
      } finally {
        reading = undefined;
      }
    })();
    return reading;
  };
  const stop = pollInBackground(read, everyMs, (err) => log.warn({ err: err.message }, 'could not read the gateway JWKS for the pages; they fetch it themselves'));
  return {
    current() {
      // Not read for a while (the gateway unreachable from here): better no copy than a stale
      // one, which might lack a new key or still offer a retired one.
      if (last !== undefined && Date.now() - readAt > JWKS_STALE_MS) last = undefined;
      if (last === undefined && !reading) read().catch((err: Error) => log.debug({ err: err.message }, 'gateway JWKS not read yet'));
      return last;
    },
    stop,
  };
}
