/** Runs components as a service: config from the environment, clean stop on SIGTERM/SIGINT. */
import { ConfigError, loadConfig } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { startSystem, type ComponentName, type RunningSystem } from './system.ts';

export async function runComponents(components: readonly ComponentName[], opts: { banner?: (s: RunningSystem) => void } = {}): Promise<void> {
  const log = createLogger('broker');
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
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: draining in-flight requests');
    await system.close(10_000);
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
