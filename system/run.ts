/** Runs components as a service: config from the environment, a graceful stop on SIGTERM/SIGINT. */
import { ConfigError } from '../platform/config/env.ts';
import { loadConfig } from './config.ts';
import type { Logger } from 'pino';
import { createBrokerLogger } from './logger.ts';
import { startSystem, type ComponentName, type RunningSystem } from './start.ts';

/** How long the requests in flight at SIGTERM may take to finish before their connections are cut (ms). */
const DRAIN_MS = 10_000;
/** After the stop, how long something left open may keep the process before it exits anyway (ms). */
const EXIT_GRACE_MS = 2000;

export async function runComponents(components: readonly ComponentName[], opts: { banner?: (s: RunningSystem) => void } = {}): Promise<void> {
  let log: Logger;
  try {
    log = createBrokerLogger('broker');
  } catch (err) {
    // A bad LOG_LEVEL: there is no logger to say it with.
    process.stderr.write(`cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  let system: RunningSystem;
  try {
    const config = loadConfig();
    // The in-memory store is one process's: gateway and auth can use it only side by side.
    const split = components.includes('gateway') !== components.includes('auth');
    if (split && !config.redisUrl) {
      throw new ConfigError('REDIS_URL', 'is required when gateway and auth run as separate processes (they must share one store); `npm start` runs everything in one process on the in-memory store');
    }
    // Gateway, auth and product backend in different processes must present one credential.
    const internalParts = components.filter((c) => c === 'gateway' || c === 'auth' || c === 'products');
    if (internalParts.length > 0 && internalParts.length < 3 && !process.env.INTERNAL_TOKEN) {
      throw new ConfigError('INTERNAL_TOKEN', 'is required when gateway, auth and the product backend do not all run in this process (they must share one credential)');
    }
    system = await startSystem(config, { components, log });
  } catch (err) {
    // A start-up failure names its cause in one line; no stack trace for a bad setting.
    const msg = err instanceof Error ? err.message : String(err);
    log.fatal({ err: msg }, 'cannot start');
    process.stderr.write(`cannot start: ${msg}\n`);
    process.exit(1);
  }
  opts.banner?.(system);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // A second signal (Ctrl-C twice) means now.
      log.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(1);
    }
    stopping = true;
    // Bounded whatever happens below: a stop never hangs.
    setTimeout(() => {
      log.error({ drainMs: DRAIN_MS }, 'the stop did not finish in time; exiting');
      process.exit(1);
    }, DRAIN_MS + 5000).unref();
    log.info({ signal }, 'stopping');
    try {
      // Drains the servers (public components first), then stops the rest (key polls, upstream
      // pools) and last closes the store's connection, which the requests in flight needed.
      await system.close(DRAIN_MS);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'stopping failed');
      process.exit(1);
    }
    log.info('stopped');
    // Everything is closed now, the store's connection included, so the process ends by itself
    // with code 0. Something still open would be a bug: name it, and exit anyway.
    process.exitCode = 0;
    setTimeout(() => {
      log.warn({ open: process.getActiveResourcesInfo() }, 'still open after the stop; exiting anyway');
      process.exit(0);
    }, EXIT_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
