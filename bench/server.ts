/**
 * The broker under load: gateway, auth and the product backend, in one process or in N cluster
 * workers sharing the ports (`BENCH_WORKERS`). Configured from the environment like `npm start`.
 */
import cluster from 'node:cluster';
import { loadConfig } from '../system/config.ts';
import { createBrokerLogger } from '../system/logger.ts';
import { startSystem } from '../system/start.ts';

const workers = Number(process.env.BENCH_WORKERS || '1');

/**
 * The load comes from one app, one address (127.0.0.1) and a thousand VTs, far above any real
 * client's rate: the limits are raised out of reach, but stay on, so every limited request still
 * pays its store round trip and the figures include the limiter's cost. The environment wins.
 */
const UNREACHABLE_LIMITS = {
  RATE_LIMIT_ISSUANCE: '1000000', RATE_LIMIT_ISSUANCE_WINDOW_SECONDS: '1',
  RATE_LIMIT_EXCHANGE: '1000000', RATE_LIMIT_EXCHANGE_WINDOW_SECONDS: '1',
  RATE_LIMIT_PRODUCT: '1000000', RATE_LIMIT_PRODUCT_WINDOW_SECONDS: '1',
};

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const config = loadConfig({ ...UNREACHABLE_LIMITS, ...process.env });
  const system = await startSystem(config, { components: ['products', 'auth', 'gateway'], log: createBrokerLogger('bench') });
  const stop = async () => {
    await system.close(1000);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
