/**
 * Runs components as a service: config from the environment, a graceful stop on SIGTERM/SIGINT,
 * `GET /metrics` on METRICS_PORT, and WORKERS worker processes (node:cluster) sharing the ports.
 */
import cluster from 'node:cluster';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../platform/config/env.ts';
import { collectProcessMetrics, startMetricsServer, type MetricsServer } from '../platform/metrics/index.ts';
import type { BrokerConfig } from './config.ts';
import { loadConfig } from './config.ts';
import type { Logger } from 'pino';
import { createBrokerLogger } from './logger.ts';
import { startSystem, type ComponentName, type RunningSystem } from './start.ts';

/** How long the requests in flight at SIGTERM may take to finish before their connections are cut (ms). */
const DRAIN_MS = 10_000;
/** After the stop, how long something left open may keep the process before it exits anyway (ms). */
const EXIT_GRACE_MS = 2000;

/** What a worker tells its primary once its components serve. */
interface ReadyMessage {
  type: 'h5b:ready';
  urls: RunningSystem['urls'];
  storeKind: RunningSystem['store']['kind'];
}
/** What a primary tells its workers at its stop. */
const STOP_MESSAGE = 'h5b:stop';

/** How many workers: WORKERS, else the number of cores; always 1 on the in-memory store (one process's). */
export function workerCount(config: Readonly<BrokerConfig>): number {
  if (!config.redisTarget) return 1;
  return config.workers ?? os.availableParallelism();
}

/**
 * The primary of WORKERS worker processes: prepares what they must share (the internal credential,
 * auth's keys file), forks them (each runs the components and shares their ports through
 * node:cluster), forks again one that dies, serves `/metrics` for all of them, and at SIGTERM or
 * SIGINT asks each to stop (they drain as a single process does) and exits when they have.
 */
async function runPrimary(components: readonly ComponentName[], config: Readonly<BrokerConfig>, n: number, log: Logger, banner?: (s: Pick<RunningSystem, 'urls' | 'store'>) => void): Promise<void> {
  // Every worker must present one credential to the others (auth and products run in each).
  process.env.INTERNAL_TOKEN ||= randomBytes(32).toString('base64url');
  if (components.includes('auth') && !config.signingKeysFile) {
    if (!config.keysFile) throw new ConfigError('AUTH_KEYS_FILE', 'must name a file when auth runs in more than one worker (WORKERS > 1): each would otherwise make keys of its own');
    // Created once here, before the workers read it, so that they share one set of keys.
    const keys = await import('../flows/keys/keys.ts');
    keys.loadOrCreateAuthKeys(config.keysFile);
    if (!config.keysKek) keys.loadOrCreateKeysKek(config.keysFile);
  }
  let metrics: MetricsServer | undefined;
  if (config.metricsPort !== undefined) {
    metrics = await startMetricsServer(config.metricsPort, config.internalHost, (err) => log.warn({ err: err.message }, 'metrics: a worker did not answer'));
    log.info({ port: metrics.port, workers: n }, 'metrics at /metrics (all workers)');
  }
  let stopping = false;
  let ready = 0;
  /** Workers that have served: one that dies later is replaced; one that dies before is a failed start. */
  const served = new Set<number>();
  const fork = () => {
    const worker = cluster.fork();
    worker.on('message', (m: ReadyMessage) => {
      if (m?.type !== 'h5b:ready') return;
      served.add(worker.id);
      ready++;
      if (ready === n) {
        log.info({ workers: n }, 'every worker is ready');
        banner?.({ urls: m.urls, store: { kind: m.storeKind } as RunningSystem['store'] });
      }
    });
  };
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        log.info('stopped');
        void metrics?.close().finally(() => process.exit(0));
      }
      return;
    }
    if (!served.has(worker.id)) {
      // It said why on stderr ("cannot start: ..."); starting it again would fail the same way.
      log.fatal({ pid: worker.process.pid, code, signal }, 'a worker could not start; stopping');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }
    log.error({ pid: worker.process.pid, code, signal }, 'a worker died; starting another');
    setTimeout(fork, 1000);
  });
  for (let i = 0; i < n; i++) fork();
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting for the workers');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, workers: n }, 'stopping the workers');
    setTimeout(() => {
      log.error('the workers did not stop in time; exiting');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }, DRAIN_MS + 10_000).unref();
    for (const w of Object.values(cluster.workers ?? {})) w?.send(STOP_MESSAGE);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export async function runComponents(components: readonly ComponentName[], opts: { banner?: (s: Pick<RunningSystem, 'urls' | 'store'>) => void } = {}): Promise<void> {
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
    if (split && !config.redisTarget) {
      throw new ConfigError('REDIS_URL', '(or REDIS_CLUSTER_NODES, or REDIS_SENTINELS) is required when gateway and auth run as separate processes (they must share one store); `npm start` runs everything in one process on the in-memory store');
    }
    // Gateway, auth and product backend in different processes must present one credential.
    const internalParts = components.filter((c) => c === 'gateway' || c === 'auth' || c === 'products');
    if (internalParts.length > 0 && internalParts.length < 3 && !process.env.INTERNAL_TOKEN) {
      throw new ConfigError('INTERNAL_TOKEN', 'is required when gateway, auth and the product backend do not all run in this process (they must share one credential)');
    }
    const n = workerCount(config);
    if (n > 1 && cluster.isPrimary) {
      await runPrimary(components, config, n, log, opts.banner);
      return;
    }
    collectProcessMetrics();
    system = await startSystem(config, { components, log });
    if (cluster.isWorker) {
      process.send!({ type: 'h5b:ready', urls: system.urls, storeKind: system.store.kind } satisfies ReadyMessage);
    } else if (config.metricsPort !== undefined) {
      const metrics = await startMetricsServer(config.metricsPort, config.internalHost);
      log.info({ port: metrics.port }, 'metrics at /metrics');
      const close = system.close.bind(system);
      system.close = async (graceMs) => {
        await close(graceMs);
        await metrics.close();
      };
    }
  } catch (err) {
    // A start-up failure names its cause in one line; no stack trace for a bad setting.
    const msg = err instanceof Error ? err.message : String(err);
    log.fatal({ err: msg }, 'cannot start');
    process.stderr.write(`cannot start: ${msg}\n`);
    process.exit(1);
  }
  if (!cluster.isWorker) opts.banner?.(system);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // A worker leaves escalation to its primary: the same signal often reaches both the worker
      // (a terminal's Ctrl-C, systemd, timeout(1) signal the whole group) and its primary.
      if (cluster.isWorker) return;
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
  if (cluster.isWorker) {
    // The primary's stop (or its end) stops the worker once: a Ctrl-C that reached the worker too
    // is not a second signal.
    const fromPrimary = (why: string) => {
      if (!stopping) void stop(why);
    };
    process.on('message', (m) => m === STOP_MESSAGE && fromPrimary('primary'));
    process.on('disconnect', () => fromPrimary('primary gone'));
    // The channel to the primary does not keep a stopped worker alive.
    process.channel?.unref();
  }
}
