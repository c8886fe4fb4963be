/**
 * The broker under load: gateway, auth and the product backend, started the way an operator
 * starts them (system/run.ts runComponents): in one process, or in `WORKERS` node:cluster workers
 * sharing the ports. Configured from the environment like `npm start`.
 */
import { runComponents } from '../system/run.ts';

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
for (const [name, value] of Object.entries(UNREACHABLE_LIMITS)) process.env[name] ??= value;
// BENCH_WORKERS is the older name of the worker count here.
process.env.WORKERS ||= process.env.BENCH_WORKERS || '1';

await runComponents(['products', 'auth', 'gateway']);
